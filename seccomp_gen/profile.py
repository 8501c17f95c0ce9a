"""The profile model: what a seccomp filter allows, independent of any file format.

Frozen dataclasses and pure helpers, nothing else: no I/O, no libseccomp, no formatting. The
synthesizer builds a :class:`Profile`; the formats (:mod:`seccomp_gen.formats`) turn it into OCI
JSON, an LXC policy or a Python table, and parse those back into the same model, so that round
trips can be compared with ``==``.

A profile is *per arch*: each :class:`Rule` names the ABIs (libseccomp arch tokens such as
``x86_64``, ``x86``, ``x32``) it applies to. Formats that cannot say that (OCI applies every rule
to every listed arch) see the profile through :func:`widen`, and say so.

Equality depends on a normal form: :func:`normalize` merges rules that differ only in their
arches, sorts conditions, rules and arches, and drops duplicates. Every constructor in this
package returns normalized profiles.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from .syscalls.arches import WIDE, arch_sort_key, sort_arches

#: Actions a rule or a default can take, in our spelling (the CLI's). ``kill`` is libseccomp's
#: SCMP_ACT_KILL, which kills the thread; ``kill-process`` kills the whole process.
ACTIONS: tuple[str, ...] = ("allow", "errno", "kill", "kill-process", "trap", "log")

#: Comparison operators, libseccomp's names without the ``SCMP_CMP_`` prefix.
OPS: tuple[str, ...] = ("NE", "LT", "LE", "EQ", "GE", "GT", "MASKED_EQ")

#: The verdict for a call of an ABI a profile does not list.
BADARCH_VERDICT: tuple[str, int | None] = ("kill", None)

ERRNO_EPERM = 1
ERRNO_ENOSYS = 38
#: The largest errno a filter can return: libseccomp 2.5 refuses SCMP_ACT_ERRNO(4095) and above.
MAX_ERRNO = 4094


def _check_errno(value: object, what: str) -> None:
    """An errno is an integer a filter can return (0 to :data:`MAX_ERRNO`): anything else
    would only fail later, inside libseccomp."""
    if value is not None and (not isinstance(value, int) or isinstance(value, bool)
                              or not 0 <= value <= MAX_ERRNO):
        raise ValueError(f"{what} must be an integer 0-{MAX_ERRNO}, not {value!r:.40}")


@dataclass(frozen=True, order=True)
class ArgCondition:
    """One comparison of a syscall argument register, as libseccomp's ``SCMP_CMP``.

    For ``MASKED_EQ``, ``value`` is the mask and ``value_two`` the expected value, the order of
    libseccomp's datum_a/datum_b and of OCI's value/valueTwo (LXC writes them the other way).
    """

    index: int
    op: str
    value: int
    value_two: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.index < 6:
            raise ValueError(f"argument index {self.index} is not 0-5")
        if self.op not in OPS:
            raise ValueError(f"unknown comparison {self.op!r}")
        if not (0 <= self.value < 2**64 and 0 <= self.value_two < 2**64):
            raise ValueError("argument values must be unsigned 64-bit integers")

    def matches(self, arg: int) -> bool:
        """Whether a 64-bit argument value satisfies this condition."""
        a = arg & (2**64 - 1)
        if self.op == "MASKED_EQ":
            return (a & self.value) == self.value_two
        return {
            "NE": a != self.value,
            "LT": a < self.value,
            "LE": a <= self.value,
            "EQ": a == self.value,
            "GE": a >= self.value,
            "GT": a > self.value,
        }[self.op]


def _matches32(c: ArgCondition, arg: int) -> bool:
    """A condition on a 32-bit ABI: libseccomp compares the low 32 bits of value and argument
    (its ``datum`` is truncated for 32-bit arches)."""
    low = ArgCondition(c.index, c.op, c.value & 0xFFFFFFFF, c.value_two & 0xFFFFFFFF)
    return low.matches(arg & 0xFFFFFFFF)


@dataclass(frozen=True)
class Rule:
    """One syscall rule: ``action`` for ``name`` on ``arches`` when all ``conditions`` hold.

    Conditions are ANDed and never compare the same argument twice (runc would OR those); rules
    for the same name are ORed. ``baseline`` marks rules added for the container runtime rather
    than observed in a trace; ``comment`` says why a rule exists when that is not obvious.
    """

    name: str
    arches: tuple[str, ...]
    action: str = "allow"
    errno: int | None = None
    conditions: tuple[ArgCondition, ...] = ()
    comment: str = ""
    baseline: bool = False

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise ValueError(f"unknown action {self.action!r}")
        if (self.action == "errno") != (self.errno is not None):
            raise ValueError("errno is required for, and only for, the errno action")
        _check_errno(self.errno, "errno")
        indexes = [c.index for c in self.conditions]
        if len(indexes) != len(set(indexes)):
            raise ValueError(f"{self.name}: two conditions on the same argument")

    @property
    def verdict(self) -> tuple[str, int | None]:
        """The (action, errno) pair, comparable with a profile's default."""
        return (self.action, self.errno)

    def body_key(self) -> tuple[object, ...]:
        """Everything but the arches: rules equal here can share one arch list."""
        return (self.name, self.action, self.errno if self.errno is not None else -1,
                self.conditions, self.baseline, self.comment)

    def sort_key(self) -> tuple[object, ...]:
        return (*self.body_key(), tuple(arch_sort_key(a) for a in self.arches))


@dataclass(frozen=True, order=True)
class Skipped:
    """Something observed that the profile cannot express, and why (never dropped silently)."""

    arch: str
    name: str
    reason: str


@dataclass(frozen=True)
class Profile:
    """A seccomp allowlist: default verdict, arches in the filter, rules, and where it came from.

    ``provenance`` lines say what it was built from (no timestamps, so equal inputs give equal
    bytes); ``notes`` say what a reader must know (e.g. multiplexers a rule does not cover);
    ``skipped`` lists observed syscalls the profile could not name.
    """

    default_action: str
    default_errno: int | None
    architectures: tuple[str, ...]
    rules: tuple[Rule, ...]
    provenance: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    skipped: tuple[Skipped, ...] = ()
    #: How often the trace saw each (arch, name): the compiler checks the calls that run the
    #: filter most often first (:func:`priorities`). A hint, not part of the meaning: left out
    #: of equality, and dropped by the formats that cannot carry it (OCI, LXC).
    weights: tuple[tuple[str, str, int], ...] = field(default=(), compare=False)
    #: libseccomp's CTL_OPTIMIZE for the compiled filter: 1, rules in :func:`priorities` order;
    #: 2, a binary tree over the numbers; None, the compiler measures both and takes the faster
    #: (``libseccomp.tuned``). Not part of the meaning either.
    optimize: int | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.optimize not in (None, 1, 2):
            raise ValueError(f"optimize must be 1 or 2, not {self.optimize!r:.40}")
        if self.default_action not in ACTIONS or self.default_action == "allow":
            raise ValueError(f"default action must deny, not {self.default_action!r}")
        if (self.default_action == "errno") != (self.default_errno is not None):
            raise ValueError("default_errno is required for, and only for, the errno action")
        _check_errno(self.default_errno, "default_errno")

    @property
    def default_verdict(self) -> tuple[str, int | None]:
        return (self.default_action, self.default_errno)

    @property
    def denies_by_default(self) -> bool:
        """Whether the default refuses a call (``log`` lets it run): only then do consumers put
        an ENOSYS answer for unknown numbers in front (runc skips its stub otherwise)."""
        return self.default_action != "log"

    def names(self, arch: str | None = None) -> frozenset[str]:
        """Names with a rule that is not the default verdict, for one arch or any."""
        return frozenset(
            r.name for r in self.rules
            if (arch is None or arch in r.arches) and r.action == "allow"
        )

    def rules_for(self, arch: str) -> tuple[Rule, ...]:
        """The rules that apply to one arch, in canonical order."""
        return tuple(r for r in self.rules if arch in r.arches)

    def verdict(self, arch: str, name: str | None, args: Sequence[int] = (), *,
                nr: int | None = None,
                enosys_above: int | None = None) -> tuple[str, int | None]:
        """What the profile means for one call: ``name`` (None: a number no table names) made
        with ``arch``'s ABI and these argument registers. An ABI the profile does not list is
        killed (libseccomp's bad-arch action, which runc and crun keep); 32-bit ABIs compare
        the low 32 bits of each argument, as libseccomp does. ``enosys_above``: the consumer
        answers numbers above it on this arch with ENOSYS when the default denies (a syscall
        newer than its tables: glibc falls back), None when it does not; ``nr`` is the call's
        number, as the kernel reports it. The compiled filter must give the same answer
        (:mod:`seccomp_gen.proof`)."""
        if arch not in self.architectures:
            return BADARCH_VERDICT
        if (enosys_above is not None and nr is not None and nr > enosys_above
                and self.denies_by_default):
            return ("errno", ERRNO_ENOSYS)
        if name is None:
            return self.default_verdict
        mask = (1 << 64) - 1 if arch in WIDE else 0xFFFFFFFF
        regs = [(a & mask) for a in args] + [0] * (6 - len(args))
        for rule in self.rules:
            if rule.name == name and arch in rule.arches and all(
                    c.matches(regs[c.index]) if arch in WIDE else _matches32(c, regs[c.index])
                    for c in rule.conditions):
                return rule.verdict
        return self.default_verdict


def normalize(profile: Profile) -> Profile:
    """The canonical form: rules differing only in arches merged, everything sorted, no dupes.

    Rules whose verdict equals the default are dropped (libseccomp refuses them, runc skips
    them), as are conditional rules shadowed by an unconditional one with the same verdict.
    """
    arches = sort_arches(profile.architectures)
    by_body: dict[tuple[object, ...], tuple[Rule, set[str]]] = {}
    for r in profile.rules:
        if r.verdict == profile.default_verdict:
            continue
        conditions = tuple(sorted(set(r.conditions)))
        # replace() is the cost of a profile's load (~3 us a rule): only when something changes
        rr = r if conditions == r.conditions else replace(r, conditions=conditions)
        key = rr.body_key()
        if key in by_body:
            by_body[key][1].update(rr.arches)
        else:
            by_body[key] = (rr, set(rr.arches))
    merged = [r if r.arches == arches_ else replace(r, arches=arches_)
              for r, a in by_body.values() for arches_ in [sort_arches(a)]]
    # An unconditional rule makes conditional rules of the same name/verdict/arch redundant.
    unconditional: set[tuple[str, str, int | None, str]] = set()
    for r in merged:
        if not r.conditions:
            unconditional.update((r.name, r.action, r.errno, a) for a in r.arches)
    kept: list[Rule] = []
    for r in merged:
        if r.conditions:
            left = tuple(a for a in r.arches
                         if (r.name, r.action, r.errno, a) not in unconditional)
            if not left:
                continue
            r = replace(r, arches=left)
        kept.append(r)
    # The same rule for two reasons (a clone seen, and clone as clone3's fallback) is one rule.
    by_rule: dict[tuple[object, ...], Rule] = {}
    for r in kept:
        key = (r.name, r.action, r.errno, r.conditions, r.baseline, r.arches)
        if key in by_rule and by_rule[key].comment != r.comment:
            parts = {*by_rule[key].comment.split("; "), *r.comment.split("; ")} - {""}
            by_rule[key] = replace(r, comment="; ".join(sorted(parts)))
        else:
            by_rule.setdefault(key, r)
    weights: dict[tuple[str, str], int] = {}
    for arch, name, count in profile.weights:
        weights[(arch, name)] = weights.get((arch, name), 0) + count
    return replace(
        profile,
        weights=tuple(sorted(((a, n, c) for (a, n), c in weights.items()),
                             key=lambda w: (arch_sort_key(w[0]), w[1]))),
        architectures=arches,
        rules=tuple(sorted(by_rule.values(), key=Rule.sort_key)),
        notes=tuple(dict.fromkeys(profile.notes)),
        provenance=tuple(dict.fromkeys(profile.provenance)),
        skipped=tuple(sorted(set(profile.skipped), key=lambda s: (arch_sort_key(s.arch),
                                                                  s.name, s.reason))),
    )


def widen(profile: Profile) -> Profile:
    """The profile as name-based formats (OCI) apply it: every rule on every listed arch."""
    return normalize(replace(profile, rules=tuple(
        replace(r, arches=profile.architectures) for r in profile.rules)))


# --- header lines shared by the text formats ------------------------------------------------

NOTE_PREFIX = "note: "
SKIPPED_PREFIX = "skipped: "


def header_lines(profile: Profile) -> list[str]:
    """Provenance, notes and skipped entries as comment lines, in a stable order."""
    lines = list(profile.provenance)
    lines += [NOTE_PREFIX + n for n in profile.notes]
    lines += [f"{SKIPPED_PREFIX}{s.arch} {s.name}: {s.reason}" for s in profile.skipped]
    return lines


def parse_header_lines(lines: Sequence[str]) -> tuple[tuple[str, ...], tuple[str, ...],
                                                      tuple[Skipped, ...]]:
    """Inverse of :func:`header_lines`: (provenance, notes, skipped)."""
    provenance: list[str] = []
    notes: list[str] = []
    skipped: list[Skipped] = []
    for line in lines:
        if line.startswith(NOTE_PREFIX):
            notes.append(line[len(NOTE_PREFIX):])
        elif line.startswith(SKIPPED_PREFIX):
            rest = line[len(SKIPPED_PREFIX):]
            head, _, reason = rest.partition(": ")
            arch, _, name = head.partition(" ")
            skipped.append(Skipped(arch=arch, name=name, reason=reason))
        else:
            provenance.append(line)
    return tuple(provenance), tuple(notes), tuple(skipped)


# --- comparisons --------------------------------------------------------------------------------


@dataclass(frozen=True)
class CountComparison:
    """How many syscall names two profiles allow, and how the sets overlap."""

    a_allowed: int
    b_allowed: int
    both: int
    only_a: tuple[str, ...]
    only_b: tuple[str, ...]


def compare_counts(a: Profile, b: Profile, arch: str | None = None) -> CountComparison:
    """Compare the names each profile allows (conditionally or not), on one arch or any."""
    na, nb = a.names(arch), b.names(arch)
    return CountComparison(
        a_allowed=len(na),
        b_allowed=len(nb),
        both=len(na & nb),
        only_a=tuple(sorted(na - nb)),
        only_b=tuple(sorted(nb - na)),
    )


def union(a: Profile, b: Profile) -> Profile:
    """A profile that allows what either allows: ``a``'s default verdict, the arches of both,
    both rule sets (ORed), and ``a``'s provenance, notes and skipped entries first.

    Rules of ``b`` whose verdict is ``a``'s default are dropped by :func:`normalize`, as are
    conditional rules that an unconditional rule of the other profile makes redundant.
    """
    return normalize(replace(
        a,
        architectures=sort_arches({*a.architectures, *b.architectures}),
        rules=a.rules + b.rules,
        provenance=a.provenance + b.provenance,
        notes=a.notes + b.notes,
        skipped=a.skipped + b.skipped,
        weights=a.weights + b.weights,
    ))


#: libseccomp's highest priority (``seccomp_syscall_priority`` takes 0-255).
MAX_PRIORITY = 255


def runs_filter(profile: Profile, arch: str, name: str) -> bool:
    """Whether a call of ``name`` runs the filter at all: since Linux 5.11 the kernel caches
    ALLOW for a number whose verdict depends on no argument, so only calls with argument
    conditions, and calls the profile refuses, pay for the filter."""
    return (arch, name) not in allowed_outright(profile)


def allowed_outright(profile: Profile) -> frozenset[tuple[str, str]]:
    """The (arch, name) pairs an unconditional allow rule covers: the calls that do not run
    the filter (:func:`runs_filter`). One pass over the rules, for callers that ask about many
    names (a profile of 400 rules asked name by name was 0.5 M comparisons, ~40 ms of
    ``run --profile``)."""
    return frozenset((a, r.name) for r in profile.rules
                     if r.action == "allow" and not r.conditions for a in r.arches)


def priorities(profile: Profile, arch: str) -> dict[str, int]:
    """libseccomp priorities for ``arch`` (higher is checked earlier): the names that have a
    rule and run the filter (:func:`runs_filter`), ranked by :attr:`Profile.weights`, the most
    frequent :data:`MAX_PRIORITY`, each smaller count one lower (down to 1). Ranks, not
    counts, so the priorities of priorities are the same (the Python table carries them)."""
    ruled = {r.name for r in profile.rules if arch in r.arches}
    outright = allowed_outright(profile)
    counts = {n: c for a, n, c in profile.weights
              if a == arch and c > 0 and n in ruled and (arch, n) not in outright}
    ranks = {c: max(1, MAX_PRIORITY - i)
             for i, c in enumerate(sorted(set(counts.values()), reverse=True))}
    return {n: ranks[c] for n, c in sorted(counts.items())}
