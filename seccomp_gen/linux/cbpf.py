"""Classic BPF as seccomp runs it: assemble, decode and run a filter on a ``seccomp_data``.

Pure (struct only). The assembler resolves symbolic jumps, for the short hand-written programs
seccomp-gen puts in front of libseccomp's (the notify handover key, the enforce poison numbers,
the in-process recorder's filter, the log backend's probe). The interpreter covers what
libseccomp emits (loads of ``seccomp_data`` words, scratch memory, ALU with constants, conditional
jumps, returns), so a compiled profile's verdict can be computed for any call without loading it;
and it walks a program with the arguments unknown (:func:`outcomes`, :func:`paths`), to read a raw
BPF file back as the rules it means.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

from ..errors import SeccompGenError

# The seccomp return values: one table, in syscalls.constants (audit records name them too);
# re-exported here for the assembler's users (``cbpf.RET_LOG``).
from ..syscalls.constants import RET_ACTION_FULL as RET_ACTION_FULL
from ..syscalls.constants import RET_ALLOW as RET_ALLOW
from ..syscalls.constants import RET_DATA as RET_DATA
from ..syscalls.constants import RET_ERRNO as RET_ERRNO
from ..syscalls.constants import RET_KILL_PROCESS as RET_KILL_PROCESS
from ..syscalls.constants import RET_KILL_THREAD as RET_KILL_THREAD
from ..syscalls.constants import RET_LOG as RET_LOG
from ..syscalls.constants import RET_TRACE as RET_TRACE
from ..syscalls.constants import RET_TRAP as RET_TRAP
from ..syscalls.constants import RET_USER_NOTIF as RET_USER_NOTIF
from ..syscalls.constants import action_name

# Opcodes (linux/filter.h) of the instructions the hand-written programs use.
LD_W_ABS = 0x20
JEQ_K = 0x15
JGT_K = 0x25
JSET_K = 0x45
JA = 0x05
RET_K = 0x06

#: ``struct seccomp_data`` offsets: nr u32 @0, arch u32 @4, ip u64 @8, args u64[6] @16.
NR, ARCH, IP, ARGS = 0, 4, 8, 16
_INSN = struct.Struct("=HBBI")


def insn(code: int, jt: int, jf: int, k: int) -> bytes:
    """One ``struct sock_filter``."""
    return _INSN.pack(code, jt, jf, k & 0xFFFFFFFF)


#: An instruction whose jump targets may be labels: (code, jt, jf, k).
Line = tuple[int, "int | str", "int | str", int]


def assemble(lines: Sequence[Line], labels: dict[str, int]) -> bytes:
    """The program, with each label in a jump replaced by the relative jump to the instruction
    at that index (labels may point one past the end, to what follows this program)."""
    out = []
    for i, (code, jt, jf, k) in enumerate(lines):
        def rel(j: int | str, i: int = i) -> int:
            if isinstance(j, str):
                offset = labels[j] - i - 1
                if not 0 <= offset <= 255:
                    raise ValueError(f"jump to {j} is out of reach")
                return offset
            return j
        out.append(insn(code, rel(jt), rel(jf), k))
    return b"".join(out)


def ret(value: int) -> bytes:
    """A one-instruction program that returns ``value`` (e.g. :data:`RET_LOG`)."""
    return insn(RET_K, 0, 0, value)


@dataclass(frozen=True)
class Verdict:
    """What a filter returns for one call: our action name and, for errno, the errno."""

    action: str
    errno: int | None = None
    raw: int = 0

    @property
    def allowed(self) -> bool:
        return self.action == "allow"


@dataclass(frozen=True)
class Insn:
    """One ``struct sock_filter``: opcode, jump offsets if true and false, constant."""

    code: int
    jt: int
    jf: int
    k: int


def decode(program: bytes) -> tuple[Insn, ...]:
    """Split raw ``sock_filter`` bytes into instructions."""
    if len(program) % 8:
        raise SeccompGenError("BPF program length is not a multiple of 8")
    return tuple(Insn(*_INSN.unpack_from(program, off))
                 for off in range(0, len(program), 8))


def seccomp_data(audit_arch: int, nr: int, args: Sequence[int] = (), ip: int = 0) -> bytes:
    """``struct seccomp_data``: nr u32 @0, arch u32 @4, ip u64 @8, args u64[6] @16."""
    full = [a & (2**64 - 1) for a in args] + [0] * (6 - len(args))
    return struct.pack("=IIQ6Q", nr & 0xFFFFFFFF, audit_arch, ip & (2**64 - 1), *full[:6])


def _alu(code: int, a: int, src: int) -> int:
    """One BPF_ALU instruction on 32-bit values."""
    m32 = 0xFFFFFFFF
    op = code & 0xF0
    if op == 0x00:
        return (a + src) & m32
    if op == 0x10:
        return (a - src) & m32
    if op == 0x20:
        return (a * src) & m32
    if op == 0x30:
        return a // src if src else 0
    if op == 0x40:
        return a | src
    if op == 0x50:
        return a & src
    if op == 0x60:
        return (a << (src & 31)) & m32
    if op == 0x70:
        return a >> (src & 31)
    if op == 0x80:
        return (-a) & m32
    if op == 0x90:
        return a % src if src else 0
    if op == 0xA0:
        return a ^ src
    raise SeccompGenError(f"unsupported BPF alu {code:#x}")


def _taken(code: int, a: int, src: int) -> bool:
    """Whether a conditional BPF_JMP jumps to ``jt``."""
    taken = {0x10: a == src, 0x20: a > src, 0x30: a >= src, 0x40: bool(a & src)}.get(code & 0xF0)
    if taken is None:
        raise SeccompGenError(f"unsupported BPF jump {code:#x}")
    return taken


_V = TypeVar("_V")


def _misc(code: int, a: _V, x: _V) -> tuple[_V, _V]:
    """BPF_MISC: TAX or TXA; returns the new (A, X)."""
    if code & 0xF8 == 0x00:
        return a, a
    if code & 0xF8 == 0x80:
        return x, x
    raise SeccompGenError(f"unsupported BPF misc {code:#x}")


def run_bpf(program: Sequence[Insn], data: bytes) -> int:
    """Run a seccomp classic-BPF program on ``data``; returns the 32-bit return value."""
    return run_counted(program, data)[0]


def run_counted(program: Sequence[Insn], data: bytes) -> tuple[int, int]:
    """:func:`run_bpf`, and how many instructions it executed (the return included): the cost
    of one call, as the kernel's interpreter pays it."""
    a = x = 0
    mem = [0] * 16
    pc = 0
    m32 = 0xFFFFFFFF
    for step in range(4096 * 4):
        if not 0 <= pc < len(program):
            raise SeccompGenError(f"BPF program ran off its end at {pc}")
        ins = program[pc]
        pc += 1
        cls = ins.code & 0x07
        if cls == 0x00:  # BPF_LD
            mode = ins.code & 0xE0
            if mode == 0x20 and ins.code & 0x18 == 0x00:  # LD|W|ABS
                a = struct.unpack_from("=I", data, ins.k)[0]
            elif mode == 0x00:  # LD|IMM
                a = ins.k
            elif mode == 0x60:  # LD|MEM
                a = mem[ins.k]
            elif mode == 0x80:  # LD|LEN
                a = len(data)
            else:
                raise SeccompGenError(f"unsupported BPF load {ins.code:#x}")
        elif cls == 0x01:  # BPF_LDX
            mode = ins.code & 0xE0
            if mode == 0x00:
                x = ins.k
            elif mode == 0x60:
                x = mem[ins.k]
            elif mode == 0x80:
                x = len(data)
            else:
                raise SeccompGenError(f"unsupported BPF ldx {ins.code:#x}")
        elif cls == 0x02:  # BPF_ST
            mem[ins.k] = a
        elif cls == 0x03:  # BPF_STX
            mem[ins.k] = x
        elif cls == 0x04:  # BPF_ALU
            a = _alu(ins.code, a, x if ins.code & 0x08 else ins.k)
        elif cls == 0x05:  # BPF_JMP
            op = ins.code & 0xF0
            src = x if ins.code & 0x08 else ins.k
            if op == 0x00:
                pc += ins.k
                continue
            pc += ins.jt if _taken(ins.code, a, src) else ins.jf
        elif cls == 0x06:  # BPF_RET
            return (a if ins.code & 0x18 == 0x10 else ins.k) & m32, step + 1
        else:  # BPF_MISC
            a, x = _misc(ins.code, a, x)
    raise SeccompGenError("BPF program did not return")


def to_verdict(value: int) -> Verdict:
    """Name a seccomp return value."""
    action = action_name(value)
    return Verdict(action, value & RET_DATA if action == "errno" else None, value)


def keyed_prefix(audit_arch: int, key: tuple[int, int, int], exclude: Sequence[int] = (),
                 only: int | None = None, action: int = RET_ALLOW) -> bytes:
    """BPF that returns ``action`` (default ALLOW) for a call of ``audit_arch`` whose args 3-5
    are ``key``, whose number is ``only`` (when given) and not in ``exclude``; every other call
    falls through to the instructions that follow. A recorder's own child makes such calls (the
    key is random, 192 bits, per run: a workload never does)."""
    lines: list[Line] = [(LD_W_ABS, 0, 0, ARCH), (JEQ_K, 0, "skip", audit_arch)]
    if exclude or only is not None:
        lines.append((LD_W_ABS, 0, 0, NR))
        if only is not None:
            lines.append((JEQ_K, 0, "skip", only))
        lines += [(JEQ_K, "skip", 0, nr) for nr in exclude]
    for i, value in enumerate(key):
        base = ARGS + 8 * (3 + i)  # args[3 + i], low then high half (little-endian)
        lines += [(LD_W_ABS, 0, 0, base), (JEQ_K, 0, "skip", value & 0xFFFFFFFF),
                  (LD_W_ABS, 0, 0, base + 4), (JEQ_K, 0, "skip", value >> 32)]
    lines.append((RET_K, 0, 0, action))
    return assemble(lines, {"skip": len(lines)})


def kernel_caches_allow(program: Sequence[Insn], audit_arch: int, nr: int) -> bool:
    """Whether the kernel's action cache (Linux 5.11+, ``seccomp_is_const_allow``) lets every
    call of (``audit_arch``, ``nr``) through without running this filter: the program reaches
    RET ALLOW using only loads of the number and the arch, constant jumps and ``AND K``. Any
    other instruction on the path (an argument load, say) means the filter runs for that
    syscall. The kernel fills the cache only for its native and compat arches' numbers below
    their table size, so an x32 number (bit 30) always runs the filter (False here too)."""
    if not 0 <= nr < 0x40000000:
        return False
    a = pc = 0
    while 0 <= pc < len(program):
        ins = program[pc]
        pc += 1
        if ins.code == LD_W_ABS:
            if ins.k not in (NR, ARCH):
                return False
            a = nr & 0xFFFFFFFF if ins.k == NR else audit_arch
        elif ins.code == RET_K:
            return ins.k == RET_ALLOW
        elif ins.code == 0x05:  # JMP|JA
            pc += ins.k
        elif ins.code in (JEQ_K, 0x25, 0x35, JSET_K):  # JEQ, JGT, JGE, JSET with K
            pc += ins.jt if _taken(ins.code, a, ins.k) else ins.jf
        elif ins.code == 0x54:  # ALU|AND|K
            a &= ins.k
        else:
            return False
    return False


#: One test a path through a filter passed: ``(args[index] & mask) == value`` is ``holds``.
Test = tuple[int, int, int, bool]
#: A word of ``seccomp_data`` the walk does not know: (its offset, the mask ANDed into it);
#: offset -1 for a value computed from one some other way.
_Sym = tuple[int, int]
#: A test on the path: ``(word at offset & mask) == value`` is ``holds``.
_WordTest = tuple[int, int, int, bool]


class _Unfollowable(Exception):
    """The program does something with an unknown word a strict walk cannot record."""


def _decided(tests: tuple[_WordTest, ...], offset: int, mask: int, value: int) -> bool | None:
    """Whether the tests a path passed decide ``(word & mask) == value``."""
    km = kv = 0
    for o, m, v, holds in tests:
        if o != offset:
            continue
        if holds:
            km, kv = km | m, kv | v
        elif (m, v) == (mask, value):
            return False
    if km & mask == mask:
        return kv & mask == value
    if (kv ^ value) & km & mask:
        return False  # contradicts what the path knows
    return None


def _walk(program: Sequence[Insn], known: dict[int, int], strict: bool,
          limit: int = 1 << 16) -> list[tuple[int | None, tuple[_WordTest, ...]]]:
    """Every way through the program with the words of ``seccomp_data`` in ``known`` known
    and the others not: each path's return value (None: computed from an unknown word) and the
    equality tests (``jeq``, ``jset``, under an ``and`` mask) it passed on unknown words; paths
    whose tests contradict each other are left out. Any other use of an unknown word takes both
    ways unrecorded, or with ``strict`` raises :class:`_Unfollowable`, as does a walk longer
    than ``limit`` steps."""
    Value = int | _Sym
    found: list[tuple[int | None, tuple[_WordTest, ...]]] = []
    State = tuple[int, Value, Value, tuple[Value, ...], tuple[_WordTest, ...]]
    todo: list[State] = [(0, 0, 0, (0,) * 16, ())]
    seen: set[State] = set()

    def unfollowable() -> _Sym:
        if strict:
            raise _Unfollowable
        return (-1, 0)

    while todo:
        state = todo.pop()
        if state in seen:
            continue
        seen.add(state)
        if len(seen) > limit:
            raise _Unfollowable if strict else SeccompGenError(
                "BPF program has too many paths to follow")
        pc, a, x, mem, tests = state
        if not 0 <= pc < len(program):
            raise SeccompGenError(f"BPF program runs off its end at {pc}")
        ins = program[pc]
        cls = ins.code & 0x07
        nxt = pc + 1
        if cls == 0x00:  # BPF_LD
            mode = ins.code & 0xE0
            if mode == 0x20 and ins.code & 0x18 == 0x00:
                a = known.get(ins.k, (ins.k, 0xFFFFFFFF))
            elif mode == 0x00:
                a = ins.k
            elif mode == 0x60:
                a = mem[ins.k & 15]
            elif mode == 0x80:
                a = 64
            else:
                raise SeccompGenError(f"unsupported BPF load {ins.code:#x}")
        elif cls == 0x01:  # BPF_LDX
            mode = ins.code & 0xE0
            x = ins.k if mode == 0x00 else mem[ins.k & 15] if mode == 0x60 else 64
        elif cls in (0x02, 0x03):  # BPF_ST, BPF_STX
            mem = (*mem[:ins.k & 15], a if cls == 0x02 else x, *mem[(ins.k & 15) + 1:])
        elif cls == 0x04:  # BPF_ALU
            src = x if ins.code & 0x08 else ins.k
            if isinstance(a, int) and isinstance(src, int):
                a = _alu(ins.code, a, src)
            elif isinstance(a, tuple) and a[0] >= 0 and isinstance(src, int) \
                    and ins.code & 0xF0 == 0x50:
                a = (a[0], a[1] & src)  # and: a mask on the word
            else:
                a = unfollowable()
        elif cls == 0x05:  # BPF_JMP
            op = ins.code & 0xF0
            src = x if ins.code & 0x08 else ins.k
            if op == 0x00:
                todo.append((nxt + ins.k, a, x, mem, tests))
                continue
            if isinstance(a, int) and isinstance(src, int):
                todo.append((nxt + (ins.jt if _taken(ins.code, a, src) else ins.jf), a, x, mem,
                             tests))
                continue
            test: tuple[int, int, int] | None = None
            sense = True
            if isinstance(a, tuple) and a[0] >= 0 and isinstance(src, int):
                if op == 0x10:  # jeq: (w & mask) == src
                    test = (a[0], a[1], src) if not src & ~a[1] else None
                    if test is None:  # bits the mask cleared: never equal
                        todo.append((nxt + ins.jf, a, x, mem, tests))
                        continue
                elif op == 0x40:  # jset: (w & mask & src) != 0
                    test, sense = (a[0], a[1] & src, 0), False
            if test is None:
                unfollowable()
                todo += [(nxt + ins.jt, a, x, mem, tests), (nxt + ins.jf, a, x, mem, tests)]
                continue
            now = _decided(tests, *test)
            for holds, jump in ((sense, ins.jt), (not sense, ins.jf)):
                if now is None:
                    todo.append((nxt + jump, a, x, mem, (*tests, (*test, holds))))
                elif now == holds:
                    todo.append((nxt + jump, a, x, mem, tests))
            continue
        elif cls == 0x06:  # BPF_RET
            if ins.code & 0x18 != 0x10:
                found.append((ins.k, tests))
            elif isinstance(a, int):
                found.append((a, tests))
            else:
                unfollowable()
                found.append((None, tests))
            continue
        else:  # BPF_MISC
            a, x = _misc(ins.code, a, x)
        todo.append((nxt, a, x, mem, tests))
    return found


def outcomes(program: Sequence[Insn], audit_arch: int,
             nr: int | None) -> frozenset[int | None]:
    """Every value the program can return for syscall ``nr`` of ``audit_arch`` over all
    instruction pointers and arguments (``nr`` None: over all numbers too): one value means
    the verdict does not depend on them.

    The program is walked with the arch (and number) known and every other word of
    ``seccomp_data`` unknown; a jump on an unknown value takes both ways unless the path's own
    equality tests decide it (so the answer may include returns no real arguments reach,
    never miss one). ``None`` in the result: a return of a value computed from them."""
    known = {ARCH: audit_arch & 0xFFFFFFFF}
    if nr is not None:
        known[NR] = nr & 0xFFFFFFFF
    return frozenset(value for value, _ in _walk(program, known, strict=False))


def paths(program: Sequence[Insn], audit_arch: int,
          nr: int) -> list[tuple[int, tuple[Test, ...]]] | None:
    """Every way through the program for syscall ``nr`` of ``audit_arch``: each path's return
    value and the argument tests it passed (:data:`Test`, 64-bit masks), for a program that
    tests arguments only by equality under a mask (``jeq``, ``jset``, ``and``: what libseccomp
    emits for EQ and MASKED_EQ); paths whose tests contradict each other are left out. None
    when the program does anything else with an argument (a range compare, arithmetic) or
    reads the instruction pointer."""
    import sys

    known = {ARCH: audit_arch & 0xFFFFFFFF, NR: nr & 0xFFFFFFFF}
    try:
        walked = _walk(program, known, strict=True)
    except _Unfollowable:
        return None
    out: list[tuple[int, tuple[Test, ...]]] = []
    for value, tests in walked:
        converted = []
        for offset, mask, v, holds in tests:
            if not ARGS <= offset < ARGS + 48 or value is None:
                return None  # the instruction pointer
            index, half = divmod(offset - ARGS, 8)
            shift = 32 if (half == 4) == (sys.byteorder == "little") else 0
            converted.append((index, mask << shift, v << shift, holds))
        assert value is not None
        out.append((value, tuple(converted)))
    return out
