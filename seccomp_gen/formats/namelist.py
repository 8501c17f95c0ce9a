"""What a profile becomes in a format that lists syscall names only (systemd, firejail).

``SystemCallFilter=`` and firejail's ``seccomp.keep`` name syscalls; they cannot compare an
argument. Such a format holds the profile with every conditional allow rule made unconditional
(the syscall is allowed with any arguments: widened, never narrowed, so the workload still
runs), and says which names were widened, in the file and in ``generate``'s summary. Rules other
than allow and an unconditional errno cannot be written at all: a one-line error. Pure.
"""

from __future__ import annotations

from dataclasses import replace

from ..errors import SeccompGenError
from ..profile import Profile, Rule, normalize, widen

#: The comment lines a name-only emitter writes for widened rules start with this; the parsers
#: skip them (they are derived from the rules, not provenance).
WIDENED_PREFIX = "widened: "


def names_only(profile: Profile, fmt: str, *, per_arch: bool) -> Profile:
    """The profile as a name-only format holds it: conditions dropped from allow rules (and
    conditional errno rules dropped: the call then gets the default); ``per_arch`` False: also
    every rule on every listed arch (:func:`~seccomp_gen.profile.widen`). A one-line error for a
    rule action the format cannot write."""
    p = normalize(profile) if per_arch else widen(profile)
    for r in p.rules:
        if r.action not in ("allow", "errno"):
            raise SeccompGenError(f"{fmt} cannot write a {r.action!r} rule ({r.name})",
                                  hint="only allowed syscalls and errno rules can be written")
    allowed = {(r.name, a) for r in p.rules if r.action == "allow" for a in r.arches}
    rules: list[Rule] = []
    for r in p.rules:
        if r.action == "allow":
            rules.append(replace(r, conditions=()))
        elif not r.conditions:
            left = tuple(a for a in r.arches if (r.name, a) not in allowed)
            if left:
                rules.append(replace(r, arches=left))
    return normalize(replace(p, rules=tuple(rules)))


def widened(profile: Profile) -> list[str]:
    """The syscalls whose allow rules check arguments (a name-only format allows them with any
    arguments), sorted, each once."""
    return sorted({r.name for r in profile.rules if r.action == "allow" and r.conditions})


def dropped(profile: Profile) -> list[str]:
    """The syscalls with a conditional errno rule, which a name-only format cannot write."""
    return sorted({r.name for r in profile.rules if r.action != "allow" and r.conditions})


def notes(profile: Profile, fmt: str) -> tuple[str, ...]:
    """What the name-only form loses, one line each (for the file's comments and the summary
    of ``generate``)."""
    out = []
    wide = widened(profile)
    if wide:
        out.append(f"{WIDENED_PREFIX}{fmt} cannot check arguments: allowed with any arguments: "
                   + " ".join(wide))
    gone = dropped(profile)
    if gone:
        out.append(f"{WIDENED_PREFIX}{fmt} cannot check arguments: errno rules left out (the "
                   "default action applies): " + " ".join(gone))
    return tuple(out)
