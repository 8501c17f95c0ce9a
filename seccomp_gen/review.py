"""What a reviewer wants to know about a profile before deploying it (``seccomp-gen audit``).

Each :class:`Finding` has a level (:data:`LEVELS`), a stable id, the ABIs and syscall it is
about and a one-line reason; :func:`review` returns them sorted, most severe first. Pure: what
the compiled filter does (``compiled``, as :mod:`seccomp_gen.proof` takes it), the name table
(``name_of``) and which names an arch has (``exists``) are passed in. The tables (dangerous
syscalls, flag bits, equivalent syscalls, fallbacks) are in :mod:`seccomp_gen.syscalls.risks`;
docs/audit.md describes every finding.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

from .model import Trace
from .profile import ERRNO_ENOSYS, ArgCondition, Profile, Rule
from .syscalls.arches import WIDE, X32_SYSCALL_BIT, arch_sort_key, family_of, sort_arches
from .syscalls.risks import (
    ALTERNATIVES,
    ARG_RISKS,
    DANGEROUS,
    FALLBACKS,
    LEVELS,
    ArgRisk,
    clone_flags_index,
)

#: (action, errno) of a call, as :class:`Profile.verdict` and a compiled filter give it.
Answer = tuple[str, "int | None"]
Compiled = Callable[[str, int, tuple[int, ...]], Answer]
NameOf = Callable[[str, int], "str | None"]
Exists = Callable[[str, str], bool]

#: Actions that let a call run (``log`` records it, then allows it).
ALLOWING = ("allow", "log")

# The finding ids: stable, documented in docs/audit.md.
DEFAULT_PERMISSIVE = "default-permissive"
ABI_UNNEEDED = "abi-unneeded"
ABI_UNGUARDED = "abi-unguarded"
X32_UNGUARDED = "x32-unguarded"
DANGEROUS_ALLOW = "dangerous-allow"
ARG_UNPINNED = "arg-unpinned"
ALTERNATIVE_BYPASS = "alternative-bypass"
ALTERNATIVE_ALLOWED = "alternative-allowed"
NO_FALLBACK = "no-fallback"
CLONE3_NOT_ENOSYS = "clone3-not-enosys"
UNNEEDED_SYSCALL = "unneeded-syscall"

#: Syscalls whose dangerous arguments are in memory, where no filter can read them: an
#: argument rule does not make them safe.
UNPINNABLE = frozenset({"clone3", "io_uring_setup", "io_uring_enter", "io_uring_register"})

_M64 = (1 << 64) - 1
_M32 = 0xFFFFFFFF
_ZERO = (0,) * 6


@dataclass(frozen=True)
class Finding:
    """One thing a reviewer should look at; ``syscall`` is empty for what concerns no single
    syscall (the default action, a whole ABI)."""

    level: str
    id: str
    arches: tuple[str, ...]
    syscall: str
    reason: str

    def sort_key(self) -> tuple[Any, ...]:
        return (-LEVELS.index(self.level), self.id, self.syscall,
                tuple(arch_sort_key(a) for a in self.arches), self.reason)

    def as_dict(self) -> dict[str, Any]:
        """The finding as ``--format json`` writes it."""
        return {"level": self.level, "id": self.id, "arches": list(self.arches),
                "syscall": self.syscall, "reason": self.reason}

    def text(self) -> str:
        """One line: level, id, arches, syscall and reason."""
        return f"{self.level:<6} {self.id} {self.text_body()}"

    def text_body(self) -> str:
        """Arches, syscall and reason."""
        what = f"{self.syscall}: " if self.syscall else ""
        return f"[{','.join(self.arches) or '-'}] {what}{self.reason}"


def at_least(level: str, threshold: str) -> bool:
    """Whether ``level`` is ``threshold`` or more severe."""
    return LEVELS.index(level) >= LEVELS.index(threshold)


@dataclass(frozen=True)
class Needs:
    """What the traces show the workload needs: the (arch, name) pairs they recorded."""

    calls: frozenset[tuple[str, str]]

    @classmethod
    def of(cls, traces: Iterable[Trace]) -> Needs:
        return cls(frozenset(c for t in traces for c in t.syscall_set()))

    @property
    def arches(self) -> frozenset[str]:
        return frozenset(a for a, _ in self.calls)

    def needs(self, arch: str, name: str) -> bool:
        """Recorded, or the fallback of a recorded call (clone for clone3)."""
        return (arch, name) in self.calls or any(
            (arch, newer) in self.calls for newer, older in FALLBACKS.items() if name in older)


def default_allow(where: str = "") -> Finding:
    """The finding for a profile whose default action is allow (a denylist), which the
    profile model cannot hold; ``where``: the place in the file that says so."""
    detail = f" ({where})" if where else ""
    return Finding("high", DEFAULT_PERMISSIVE, (), "",
                   f"the default action is allow{detail}: every syscall no rule denies runs")


def review(profile: Profile, *, needs: Needs | None = None, compiled: Compiled | None = None,
           name_of: NameOf | None = None, exists: Exists | None = None) -> tuple[Finding, ...]:
    """Every finding for ``profile``, most severe first, one per (level, id, syscall, reason)
    with the arches it holds on. ``needs``: what traces recorded (None: no trace given, so
    which ABIs and calls are needed is guessed). ``compiled``: the verdict of the filter the
    consumer loads (default: the model's); ``name_of(arch, nr)``: the name table, numbers as
    the kernel reports them (without it, the ABI guards are checked on the model only);
    ``exists(arch, name)``: whether an arch has a syscall (default: every name)."""
    has = exists or (lambda _arch, _name: True)
    # A rule for a name an arch lacks (Docker lists waitpid for x86_64) is never compiled.
    profile = replace(profile, rules=tuple(
        replace(r, arches=kept) for r in profile.rules
        if (kept := tuple(a for a in r.arches if has(a, r.name)))))
    found: list[tuple[str, str, str, str, str]] = []  # level, id, arch, syscall, reason
    if profile.default_action in ALLOWING:
        found.append(("high", DEFAULT_PERMISSIVE, "", "", "the default action is log: every "
                      "syscall no rule names runs (it is only logged)"))
    found += _abis(profile, needs, compiled, name_of)
    for arch in profile.architectures:
        found += _dangerous(profile, arch, needs)
        found += _alternatives(profile, arch, has)
        found += _fallbacks(profile, arch, has)
        if needs is not None and arch in needs.arches:
            found += _unneeded(profile, arch, needs)
    merged: dict[tuple[str, str, str, str], set[str]] = {}
    for level, fid, arch, name, reason in found:
        merged.setdefault((level, fid, name, reason), set()).update([arch] if arch else [])
    return tuple(sorted((Finding(level, fid, sort_arches(arches), name, reason)
                         for (level, fid, name, reason), arches in merged.items()),
                        key=Finding.sort_key))


# --- ABIs -------------------------------------------------------------------------------------

_ABI_USE = {"x86": "32-bit (i386) programs", "x32": "x32 programs", "arm": "32-bit ARM programs",
            "s390": "31-bit programs", "ppc": "32-bit PowerPC programs"}


def _allowing(profile: Profile, arch: str) -> list[Rule]:
    return [r for r in profile.rules_for(arch) if r.action in ALLOWING]


def _abis(profile: Profile, needs: Needs | None, compiled: Compiled | None,
          name_of: NameOf | None) -> Iterator[tuple[str, str, str, str, str]]:
    listed = profile.architectures
    for arch in listed:
        if arch == "x32" or not _allowing(profile, arch):
            continue  # x32: checked on the compiled filter below
        main = family_of(arch)[0]
        if needs is not None:
            if arch not in needs.arches:
                yield ("medium", ABI_UNNEEDED, arch, "", "no trace used this ABI, yet its calls "
                       "of every name the profile allows run")
        elif arch != main and main in listed:
            use = _ABI_USE.get(arch, "programs of this ABI")
            yield ("low", ABI_UNNEEDED, arch, "", f"a second syscall table, needed only by {use} "
                   "(give --trace to know)")
    x32_wanted = needs is not None and "x32" in needs.arches
    mains = {family_of(a)[0] for a in listed}
    for abi in sort_arches(a for m in mains for a in family_of(m)):
        if abi in listed and (abi != "x32" or x32_wanted):
            continue  # listed on purpose: abi-unneeded above says whether it is needed
        names = _allowed_calls(profile, abi, compiled, name_of)
        if not names:
            continue
        shown = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
        fid = X32_UNGUARDED if abi == "x32" else ABI_UNGUARDED
        if abi in listed:
            why = "no trace used x32" if needs is not None else "x32 is hardly ever wanted"
            yield ("medium", fid, abi, "", f"the compiled filter lets {len(names)} x32 calls "
                   f"through ({shown}); {why}: leave SCMP_ARCH_X32 out")
        else:
            yield ("high", fid, abi, "", f"the ABI is not listed, yet the compiled filter lets "
                   f"{len(names)} of its calls through ({shown})")


def _allowed_calls(profile: Profile, abi: str, compiled: Compiled | None,
                   name_of: NameOf | None) -> list[str]:
    """The names of ``abi`` that the compiled filter (the model without a name table) lets
    through with all-zero arguments."""
    if name_of is None:
        return sorted({r.name for r in _allowing(profile, abi)})
    bit = X32_SYSCALL_BIT if abi == "x32" else 0
    out = set()
    for nr in range(1024):
        name = name_of(abi, nr | bit)
        if name is None:
            continue
        verdict = (compiled(abi, nr | bit, _ZERO) if compiled is not None
                   else profile.verdict(abi, name, _ZERO))
        if verdict[0] in ALLOWING:
            out.add(name)
    return sorted(out)


# --- dangerous allows and unpinned arguments ---------------------------------------------------

_RISKS = {r.name: r for r in ARG_RISKS}


def _dangerous(profile: Profile, arch: str,
               needs: Needs | None) -> Iterator[tuple[str, str, str, str, str]]:
    by_name: dict[str, list[Rule]] = {}
    for r in _allowing(profile, arch):
        by_name.setdefault(r.name, []).append(r)
    for name, rules in sorted(by_name.items()):
        unused = ("; no trace made it" if needs is not None and not needs.needs(arch, name)
                  else "")
        risk = _RISKS.get(name)
        if risk is not None:
            through = _let_through(profile, arch, risk)
            if through:
                yield (risk.level, ARG_UNPINNED, arch, name,
                       f"allows {'|'.join(through)}: {risk.why}{unused}")
        elif name in DANGEROUS:
            level, why = DANGEROUS[name]
            if name in UNPINNABLE:
                yield (level, DANGEROUS_ALLOW, arch, name, f"allowed: {why}{unused}")
            elif any(not r.conditions for r in rules):
                yield (level, DANGEROUS_ALLOW, arch, name,
                       f"allowed without argument rules: {why}{unused}")


def _satisfying(c: ArgCondition, mask: int) -> int | None:
    """A register value ``c`` accepts (compared within ``mask``), None if it accepts none."""
    v, v2 = c.value & mask, c.value_two & mask
    return {
        "EQ": v, "NE": v ^ 1, "LE": 0, "GE": mask,
        "LT": 0 if v > 0 else None, "GT": mask if v < mask else None,
        "MASKED_EQ": v2 if v2 & ~v == 0 else None,
    }[c.op]


def _let_through(profile: Profile, arch: str, risk: ArgRisk) -> list[str]:
    """The flag bits (or values) of ``risk`` some call the profile allows carries, as the
    kernel will read the argument: each found by trying values around every condition of
    every rule and kept only if :meth:`Profile.verdict` allows the call."""
    index = clone_flags_index(arch) if risk.name == "clone" else risk.index
    wide = arch in WIDE
    mask = _M64 if wide else _M32
    kernel_mask = _M32 if risk.int32 or not wide else _M64
    rules = [r for r in _allowing(profile, arch) if r.name == risk.name]
    found = []
    for target, label, exact in ([(b, n, False) for b, n in risk.bits]
                                 + [(v, n, True) for v, n in risk.values]):
        if any(_witness(profile, arch, r, index, target, exact, mask, kernel_mask, risk)
               for r in rules):
            found.append(label)
    return found


def _witness(profile: Profile, arch: str, rule: Rule, index: int, target: int, exact: bool,
             mask: int, kernel_mask: int, risk: ArgRisk) -> bool:
    """Whether a call that ``rule`` matches carries ``target`` (a bit, or with ``exact`` the
    whole value) in argument ``index`` as the kernel reads it (``kernel_mask``), the filter
    comparing within ``mask``: the values tried are the target with each upper half and the
    target combined with the rule's own values around its condition on that argument."""
    args = [0] * 6
    for c in rule.conditions:
        v = _satisfying(c, mask)
        if v is None:
            return False  # the rule matches nothing
        args[c.index] = v
    upper = (0, 1 << 32, 0xFFFFFFFF00000000)
    tries = {target | u for u in upper}
    if not exact:
        for c in rule.conditions:
            if c.index == index:
                tries |= {c.value | target, c.value_two | target, (c.value + 1) | target,
                          (((c.value >> 32) + 1) << 32) | target,
                          c.value_two | target | (~c.value & _M64)}
    for w in sorted(t & _M64 for t in tries):
        seen = w & kernel_mask
        ok = seen == target if exact else bool(seen & target) and seen not in risk.ignore
        if not ok:
            continue
        call = list(args)
        call[index] = w
        if profile.verdict(arch, rule.name, call)[0] in ALLOWING:
            return True
    return False


# --- alternatives and fallbacks ----------------------------------------------------------------


def _alternatives(profile: Profile, arch: str,
                  exists: Exists) -> Iterator[tuple[str, str, str, str, str]]:
    rules = profile.rules_for(arch)
    free = {r.name for r in rules if r.action in ALLOWING and not r.conditions}
    allowed = {r.name for r in rules if r.action in ALLOWING}
    named = {r.name for r in rules}
    denied = {r.name: r for r in rules if r.action not in ALLOWING and not r.conditions
              and r.verdict != ("errno", ERRNO_ENOSYS)}
    out: dict[tuple[str, str, str, str], list[str]] = {}
    for alt in ALTERNATIVES:
        if alt.other not in free:
            continue
        x = alt.name
        level = "medium" if alt.security else "low"
        if x in denied and x not in allowed:
            key = (level, ALTERNATIVE_BYPASS, x, f"denied by a rule ({_verdict(denied[x])})")
        elif x in allowed and x not in free and alt.args:
            key = (level, ALTERNATIVE_BYPASS, x, _ONLY_ARGS)
        elif x not in named and alt.canonical and alt.security and exists(arch, x):
            key = ("low", ALTERNATIVE_ALLOWED, x, "not allowed")
        else:
            continue
        out.setdefault(key, []).append(alt.other)
    for (level, fid, x, state), others in sorted(out.items()):
        names = sorted(set(others))
        verb, be = ("does", "is") if len(names) == 1 else ("do", "are")
        how = " with any arguments" if state == _ONLY_ARGS else ""
        free_text = " without argument rules" if fid == ALTERNATIVE_BYPASS else ""
        yield (level, fid, arch, x, f"{state}, but {', '.join(names)}, which {verb} the "
               f"same{how}, {be} allowed{free_text}")


_ONLY_ARGS = "allowed only with argument rules"


def _verdict(rule: Rule) -> str:
    return f"errno {rule.errno}" if rule.errno is not None else rule.action


def _fallbacks(profile: Profile, arch: str,
               exists: Exists) -> Iterator[tuple[str, str, str, str, str]]:
    allowed = {r.name for r in _allowing(profile, arch)}
    for newer, older in sorted(FALLBACKS.items()):
        if newer in allowed or not exists(arch, newer):
            continue
        verdict = profile.verdict(arch, newer, _ZERO)
        if verdict == ("errno", ERRNO_ENOSYS):
            continue
        said = f"errno {verdict[1]}" if verdict[1] is not None else verdict[0]
        targets = [o for o in older if o in allowed]
        if newer == "clone3":
            level = "medium" if targets else "low"
            yield (level, CLONE3_NOT_ENOSYS, arch, newer, f"answered with {said}, not ENOSYS: "
                   "glibc 2.34+ creates threads with clone3 and falls back to clone only on "
                   "ENOSYS")
        elif targets:
            yield ("low", NO_FALLBACK, arch, newer, f"answered with {said}, not ENOSYS, while "
                   f"{', '.join(targets)} is allowed: libc tries {newer} first and falls back "
                   "only on ENOSYS")


# --- calls no trace made ----------------------------------------------------------------------


def _unneeded(profile: Profile, arch: str,
              needs: Needs) -> Iterator[tuple[str, str, str, str, str]]:
    by_name: dict[str, list[Rule]] = {}
    for r in _allowing(profile, arch):
        by_name.setdefault(r.name, []).append(r)
    for name, rules in sorted(by_name.items()):
        if name in DANGEROUS or name in _RISKS or needs.needs(arch, name):
            continue  # dangerous ones say so in their own finding
        if all(r.baseline for r in rules):
            continue
        yield ("low", UNNEEDED_SYSCALL, arch, name, "allowed, but no trace made it")


def summary(findings: Sequence[Finding]) -> dict[str, int]:
    """How many findings of each level, most severe first."""
    return {level: sum(1 for f in findings if f.level == level) for level in reversed(LEVELS)}
