"""The raw classic-BPF program: ``struct sock_filter[]`` in native byte order, the bytes
``bwrap --seccomp FD`` and systemd-nspawn-style loaders take. See docs/formats/bpf.md.

A compiled format (:attr:`~seccomp_gen.formats.Format.compiled`): its bytes are libseccomp's
export of the profile, made by the files layer (``files/profiles.py``), since formats never
import libseccomp. This module holds what is pure: recognising such a file (:func:`sniff_bytes`)
and turning the verdicts a simulation of it gives (the caller runs the program on every number
of libseccomp's tables, and follows its argument tests) back into a profile (:func:`to_profile`).
Argument rules are read back as EQ and MASKED_EQ conditions, the way libseccomp compiles them; a
syscall whose program tests its arguments otherwise is listed as skipped, with
:data:`ARGS_NOT_RECOVERABLE` in its reason.
"""

from __future__ import annotations

import struct
from collections import Counter
from collections.abc import Callable, Iterable, Mapping

from ..errors import SeccompGenError
from ..profile import ACTIONS, BADARCH_VERDICT, ArgCondition, Profile, Rule, Skipped, normalize
from ..syscalls.arches import WIDE

#: ``ld [4]`` (BPF_LD|BPF_W|BPF_ABS of seccomp_data.arch): how every filter that checks its
#: ABI first begins, libseccomp's among them.
ARCH_LOAD = struct.pack("=HBBI", 0x20, 0, 0, 4)
INSN_SIZE = 8
#: The kernel's limit on one filter (BPF_MAXINSNS).
MAX_INSNS = 4096
#: The end of a skipped entry's reason for a call whose verdict depends on its arguments.
ARGS_NOT_RECOVERABLE = "argument rules are not recoverable from raw BPF"

#: (action, errno), as :meth:`Profile.verdict` answers.
Answer = tuple[str, "int | None"]
#: One argument test a path through the program passed: ``(args[index] & mask) == value`` is
#: ``holds`` (64-bit mask and value).
Test = tuple[int, int, int, bool]
#: The ways through the program for one call: each path's verdict and its tests; None when
#: they cannot be followed (a range compare, arithmetic on an argument).
Paths = Callable[[str, int], "list[tuple[Answer, tuple[Test, ...]]] | None"]


def emit(profile: Profile) -> str:
    """Never called: the files layer compiles this format (``Format.compiled``)."""
    raise SeccompGenError("the bpf format is compiled by libseccomp, not emitted as text")


def sniff(text: str) -> bool:
    """A BPF program is binary (its first instruction has NUL bytes): never text."""
    return False


def parse(text: str, source: str) -> Profile:
    """A BPF program is not text: see :func:`sniff_bytes` and the files layer's reader."""
    raise SeccompGenError("a raw BPF program is binary, not text", path=source)


def sniff_bytes(data: bytes) -> bool:
    """Whether ``data`` is a seccomp program: whole instructions, beginning with the arch load,
    ending with a return. Raises a one-line error for one that is plainly cut short."""
    if not data.startswith(ARCH_LOAD):
        return False
    if len(data) % INSN_SIZE:
        raise SeccompGenError(f"a seccomp BPF program cut short: {len(data)} bytes is not a "
                              f"whole number of {INSN_SIZE}-byte instructions")
    last = struct.unpack_from("=HBBI", data, len(data) - INSN_SIZE)[0]
    if last & 0x07 != 0x06:  # BPF_RET
        raise SeccompGenError("a seccomp BPF program cut short: its last instruction is not "
                              "a return")
    return True


def check_size(data: bytes, source: str) -> None:
    """Refuse a program the kernel would refuse for its length."""
    if len(data) // INSN_SIZE > MAX_INSNS:
        raise SeccompGenError(f"{len(data) // INSN_SIZE} BPF instructions, more than the "
                              f"kernel's limit of {MAX_INSNS}", path=source)


def _single(found: frozenset[Answer | None]) -> Answer | None:
    """The one verdict of a call, or None when it has several (or computes one)."""
    for answer in found:
        if answer is not None and answer[0] not in ACTIONS:
            raise SeccompGenError(f"the BPF program returns {answer[0]}, which a profile "
                                  "cannot say")
    if len(found) != 1:
        return None
    return next(iter(found))


def _text(answers: Iterable[Answer | None]) -> str:
    return " or ".join(sorted("unknown" if a is None else a[0] if a[1] is None
                              else f"{a[0]} {a[1]}" for a in answers))


def conditions_of(tests: Iterable[Test], wide: bool) -> tuple[ArgCondition, ...]:
    """The conditions a path's tests that held say, one per argument (the tests that failed
    are the other rules' business: rules are ORed). A whole-register test is EQ (the low half
    on a 32-bit ABI), any other mask MASKED_EQ."""
    full = (1 << 64) - 1 if wide else 0xFFFFFFFF
    masks: dict[int, tuple[int, int]] = {}
    for index, mask, value, holds in tests:
        if holds:
            m, v = masks.get(index, (0, 0))
            masks[index] = (m | mask, v | value)
    out = []
    for index, (mask, value) in sorted(masks.items()):
        if not wide:
            mask, value = mask & full, value & full
        if mask == 0:
            continue
        out.append(ArgCondition(index, "EQ", value) if mask == full
                   else ArgCondition(index, "MASKED_EQ", mask, value))
    return tuple(out)


def _recovered(arch: str, name: str, found: list[tuple[Answer, tuple[Test, ...]]],
               default: Answer) -> list[Rule]:
    """One rule per path to a verdict other than the default."""
    return [Rule(name, (arch,), answer[0], answer[1], conditions_of(tests, arch in WIDE))
            for answer, tests in found if answer != default]


def to_profile(answers: Callable[[str, int], frozenset[Answer | None]],
               tables: Mapping[str, Mapping[int, str]], gaps: Mapping[str, Iterable[int]],
               source: str, insns: int, paths: Paths | None = None,
               refuse: frozenset[tuple[str, str]] = frozenset()) -> Profile:
    """The profile a program means, from its verdicts: ``answers(arch, nr)`` every verdict it
    can give for that call over all arguments; ``tables[arch]`` number -> name for every ABI
    the caller knows; ``gaps[arch]`` numbers inside the table that name no syscall.

    An ABI whose every call is killed is not listed (that is the verdict of an ABI a profile
    does not list). The default is the verdict of the gaps (no rule can name them), else the
    commonest denial. Every named call with one verdict other than the default is a rule. A
    call with several has argument rules: they are read from its ``paths`` (EQ and MASKED_EQ,
    as libseccomp compiles them), unless they cannot be followed or (arch, name) is in
    ``refuse`` (the caller's proof found them wrong); then it is skipped,
    :data:`ARGS_NOT_RECOVERABLE`."""
    arches: list[str] = []
    seen: dict[str, dict[int, frozenset[Answer | None]]] = {}
    for arch, table in tables.items():
        got = {nr: answers(arch, nr) for nr in table}
        for found in got.values():
            _single(found)  # refuses what no profile can say
        if got and any(a != frozenset({BADARCH_VERDICT}) for a in got.values()):
            arches.append(arch)
            seen[arch] = got
    if not arches:
        raise SeccompGenError("the BPF program kills every call of every ABI it was tried on; "
                              "no profile to read", path=source)
    gap_votes: Counter[Answer] = Counter()
    deny_votes: Counter[Answer] = Counter()
    for arch in arches:
        for nr in gaps.get(arch, ()):
            one = _single(answers(arch, nr))
            if one is not None:
                gap_votes[one] += 1
        for found in seen[arch].values():
            one = _single(found)
            if one is not None and one[0] != "allow":
                deny_votes[one] += 1
    votes = gap_votes or deny_votes
    if not votes:
        raise SeccompGenError("the BPF program allows every call; a profile denies by default",
                              path=source)
    default = min(votes, key=lambda a: (-votes[a], a[0], -1 if a[1] is None else a[1]))
    rules: list[Rule] = []
    skipped: list[Skipped] = []
    for arch in arches:
        for nr, found in sorted(seen[arch].items()):
            name = tables[arch][nr]
            one = _single(found)
            ways = paths(arch, nr) if paths is not None and one is None \
                and (arch, name) not in refuse else None
            if ways is not None:
                rules += _recovered(arch, name, ways, default)
            elif one is None:
                skipped.append(Skipped(arch, name, f"the verdict depends on the arguments "
                                       f"({_text(found)}): {ARGS_NOT_RECOVERABLE}"))
            elif one != default:
                rules.append(Rule(name, (arch,), one[0], one[1]))
    notes = []
    if skipped:
        names = sorted({s.name for s in skipped})
        notes.append(f"{ARGS_NOT_RECOVERABLE}: the verdict of {', '.join(names)} depends on "
                     "the arguments; these calls are listed as skipped")
    return normalize(Profile(default[0], default[1], tuple(arches), tuple(rules),
                             provenance=(f"read from the raw BPF program {source} ({insns} "
                                         "instructions)",),
                             notes=tuple(notes), skipped=tuple(skipped)))
