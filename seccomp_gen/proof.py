"""Proof that a compiled filter does what its profile means: the verdict of the BPF for a set of
calls equals :meth:`Profile.verdict` for each.

A profile is a security claim and the emitter, the consumer's parser and libseccomp's compiler
all stand between it and the kernel (libseccomp has shipped comparison bugs that weakened
filters). :func:`calls` picks the calls where a filter can go wrong: every number of every ABI
of the host's family (listed or not, x32 included), numbers past each table, and for every
argument condition its boundary values and values that differ only in the upper 32 bits. Numbers
past a table are checked against the consumer's ENOSYS stub when it has one (``ends``), against
the default when it has none (LXC). Pure: the filter's verdict, the name table and the ends are
passed in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass

from .profile import ArgCondition, Profile
from .syscalls.arches import X32_SYSCALL_BIT, family_of

#: (arch, number as the kernel reports it, the six argument registers)
Call = tuple[str, int, tuple[int, ...]]
#: What a filter or the model says for a call: (action, errno).
Answer = tuple[str, "int | None"]

_MASK64 = (1 << 64) - 1
#: Numbers past the tables that every check also tries (glibc probes new syscalls by number).
_PAST = (1, 2, 50, 1000)


@dataclass(frozen=True)
class Mismatch:
    """A call for which the compiled filter and the profile disagree."""

    call: Call
    name: str | None
    meant: Answer
    compiled: Answer

    def text(self) -> str:
        arch, nr, args = self.call
        shown = ", ".join(f"{a:#x}" for a in args)
        return (f"{arch} {self.name or f'#{nr}'}({shown}): the profile says "
                f"{_answer(self.meant)}, the compiled filter {_answer(self.compiled)}")


def _answer(a: Answer) -> str:
    return f"{a[0]} {a[1]}" if a[1] is not None else a[0]


def _boundaries(c: ArgCondition) -> set[int]:
    """Argument values at and around where ``c`` changes its answer, and the same values with
    the other half of the register changed."""
    base = {0, _MASK64, c.value, c.value_two}
    base |= {(v + d) & _MASK64 for v in (c.value, c.value_two) for d in (-1, 1)}
    if c.op == "MASKED_EQ":
        base |= {c.value_two | (~c.value & _MASK64), c.value_two ^ (c.value & -c.value)}
    upper = {v ^ (1 << 32) for v in base} | {v ^ (1 << 63) for v in base} | {
        v | 0xFFFFFFFF00000000 for v in base}
    return base | upper


def top_number(arch: str) -> int:
    """The highest number a call of ``arch`` can carry: x86_64's just below the x32 bit, x32's
    below bit 31 (libseccomp kills x86_64-family numbers with bit 31 as a bad arch, except -1,
    which it lets through for tracers: neither is a number of either table), the others' at the
    end of the 32 bits."""
    if arch == "x86_64":
        return X32_SYSCALL_BIT - 1
    if arch == "x32":
        return X32_SYSCALL_BIT | (X32_SYSCALL_BIT - 1)
    return 0xFFFFFFFF


def check(profile: Profile, compiled: Callable[[str, int, tuple[int, ...]], Answer],
          name_of: Callable[[str, int], str | None], host: str,
          extra: Iterable[Call] = (), ends: Mapping[str, int] | None = None) -> list[Mismatch]:
    """Every call of :func:`calls` (and ``extra``) where ``compiled`` and the profile disagree.
    ``name_of(arch, nr)``: the table's name, or None for a number it does not name. ``ends``:
    per arch, the number above which the consumer answers ENOSYS (its stub), none if empty."""
    ends = ends or {}
    table: dict[str, dict[int, str]] = {}
    for arch in dict.fromkeys([*family_of(host), *profile.architectures]):
        names = table.setdefault(arch, {})
        bit = X32_SYSCALL_BIT if arch == "x32" else 0
        for nr in range(1024):
            name = name_of(arch, nr | bit)
            if name is not None:
                names[nr | bit] = name
    by_name = {arch: {v: k for k, v in names.items()} for arch, names in table.items()}
    wrong: list[Mismatch] = []
    seen: set[Call] = set()
    for call in (*calls(profile, table, by_name, host), *extra):
        if call in seen:
            continue
        seen.add(call)
        arch, nr, args = call
        name = table.get(arch, {}).get(nr)
        meant = profile.verdict(arch, name, args, nr=nr, enosys_above=ends.get(arch))
        got = compiled(arch, nr, args)
        if got != meant:
            wrong.append(Mismatch(call, name, meant, got))
    return wrong


def calls(profile: Profile, table: dict[str, dict[int, str]],
          by_name: dict[str, dict[str, int]], host: str) -> Iterator[Call]:
    """The calls to check (see the module docstring); ``table[arch]``: number -> name, as the
    kernel reports numbers (x32 with its bit)."""
    arches = dict.fromkeys([*family_of(host), *profile.architectures])
    zero = (0,) * 6
    for arch in arches:
        known = sorted(table.get(arch, {}))
        yield from ((arch, nr, zero) for nr in known)
        if known:
            yield from ((arch, max(known) + d, zero) for d in _PAST)
        yield (arch, top_number(arch), zero)
    for rule in profile.rules:
        if not rule.conditions:
            continue
        for arch in rule.arches:
            nr = by_name.get(arch, {}).get(rule.name)
            if nr is None:
                continue
            inside = list(zero)
            for c in rule.conditions:
                inside[c.index] = c.value_two if c.op == "MASKED_EQ" else c.value
            yield (arch, nr, tuple(inside))
            for c in rule.conditions:
                for v in sorted(_boundaries(c)):
                    args = list(inside)
                    args[c.index] = v
                    yield (arch, nr, tuple(args))
