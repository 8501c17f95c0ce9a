"""Prove a profile with libseccomp: compile it, and evaluate the compiled BPF without loading it.

:func:`compile_profile` builds the filter exactly as the generated Python module does (one
sub-filter per arch, arch added before its rules, then merged) and turns any libseccomp refusal
into a one-line :class:`SeccompGenError`. :func:`simulator` exports the filter as classic BPF and
returns a :class:`Simulator` that runs it on a ``seccomp_data`` of our making, so tests can check
that every observed (arch, syscall, args) tuple is allowed and unobserved ones are not, in this
process, without installing a filter. The interpreter covers what libseccomp emits (loads of
``seccomp_data`` words, scratch memory, ALU with constants, conditional jumps, returns).
"""

from __future__ import annotations

import struct
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass

import pyseccomp

from .arch import arch_token, syscall_number
from .errors import SeccompGenError
from .profile import ArgCondition, Profile

_OPS = {
    "NE": pyseccomp.NE, "LT": pyseccomp.LT, "LE": pyseccomp.LE, "EQ": pyseccomp.EQ,
    "GE": pyseccomp.GE, "GT": pyseccomp.GT, "MASKED_EQ": pyseccomp.MASKED_EQ,
}


def _verdict(action: str, errno: int | None) -> int:
    if action == "errno":
        return int(pyseccomp.ERRNO(errno or 0))
    return int({
        "allow": pyseccomp.ALLOW,
        "kill": pyseccomp.KILL_THREAD,
        "kill-process": pyseccomp.KILL_PROCESS,
        "trap": pyseccomp.TRAP,
        "log": pyseccomp.LOG,
    }[action])


def _arg(c: ArgCondition) -> pyseccomp.Arg:
    return pyseccomp.Arg(c.index, _OPS[c.op], c.value, c.value_two)


def compile_profile(profile: Profile) -> pyseccomp.SyscallFilter:
    """The profile as a libseccomp filter; raises a one-line SeccompGenError if it is refused."""
    if not profile.architectures:
        raise SeccompGenError("the profile lists no architectures")
    default = _verdict(profile.default_action, profile.default_errno)
    native = int(pyseccomp.system_arch())
    merged: pyseccomp.SyscallFilter | None = None
    for arch in profile.architectures:
        try:
            token = arch_token(arch)
        except SeccompGenError as exc:
            raise SeccompGenError(f"libseccomp rejects the profile: {exc.message}") from None
        try:
            sub = pyseccomp.SyscallFilter(default)
        except OSError as exc:
            raise SeccompGenError(f"libseccomp rejects the default action "
                                  f"{profile.default_action}: {exc.strerror or exc}") from None
        try:
            if token != native:
                sub.add_arch(token)
                sub.remove_arch(pyseccomp.Arch.NATIVE)
        except OSError as exc:
            raise SeccompGenError(f"libseccomp cannot add arch {arch}: "
                                  f"{exc.strerror or exc}") from None
        for rule in profile.rules_for(arch):
            what = f"{arch}/{rule.name}"
            if syscall_number(arch, rule.name) == -1:
                raise SeccompGenError(f"libseccomp does not know the syscall {what}")
            try:
                sub.add_rule(_verdict(rule.action, rule.errno), rule.name,
                             *[_arg(c) for c in rule.conditions])
            except (OSError, ValueError) as exc:
                detail = getattr(exc, "strerror", None) or str(exc)
                raise SeccompGenError(f"libseccomp rejects the rule for {what}: {detail}",
                                      hint=_cond_text(rule.conditions)) from None
        if merged is None:
            merged = sub
        else:
            try:
                merged.merge(sub)
            except OSError as exc:
                raise SeccompGenError(f"libseccomp cannot merge arch {arch}: "
                                      f"{exc.strerror or exc}") from None
    assert merged is not None
    return merged


def _cond_text(conds: Sequence[ArgCondition]) -> str | None:
    if not conds:
        return None
    return " && ".join(f"arg{c.index} {c.op} {c.value:#x}/{c.value_two:#x}" for c in conds)


def export_bpf(profile: Profile) -> bytes:
    """The compiled filter as raw classic BPF (``struct sock_filter[]``, native byte order)."""
    filt = compile_profile(profile)
    with tempfile.TemporaryFile() as fh:
        try:
            filt.export_bpf(fh)
        except OSError as exc:
            raise SeccompGenError(f"libseccomp cannot export the filter: "
                                  f"{exc.strerror or exc}") from None
        fh.seek(0)
        return fh.read()


# --- a classic BPF interpreter for seccomp ------------------------------------------------------

SECCOMP_RET_ACTION_FULL = 0xFFFF0000
SECCOMP_RET_DATA = 0x0000FFFF
_RET_NAMES = {
    0x80000000: "kill-process",
    0x00000000: "kill",
    0x00030000: "trap",
    0x00050000: "errno",
    0x7FC00000: "notify",
    0x7FF00000: "trace",
    0x7FFC0000: "log",
    0x7FFF0000: "allow",
}
_X32_BIT = 0x40000000
_AUDIT_ARCH_X86_64 = int(pyseccomp.Arch.X86_64)


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
    code: int
    jt: int
    jf: int
    k: int


def decode(program: bytes) -> tuple[Insn, ...]:
    """Split raw ``sock_filter`` bytes into instructions."""
    if len(program) % 8:
        raise SeccompGenError("BPF program length is not a multiple of 8")
    return tuple(Insn(*struct.unpack_from("=HBBI", program, off))
                 for off in range(0, len(program), 8))


def seccomp_data(audit_arch: int, nr: int, args: Sequence[int] = (), ip: int = 0) -> bytes:
    """``struct seccomp_data``: nr u32 @0, arch u32 @4, ip u64 @8, args u64[6] @16."""
    full = [a & (2**64 - 1) for a in args] + [0] * (6 - len(args))
    return struct.pack("=IIQ6Q", nr & 0xFFFFFFFF, audit_arch, ip & (2**64 - 1), *full[:6])


def run_bpf(program: Sequence[Insn], data: bytes) -> int:
    """Run a seccomp classic-BPF program on ``data``; returns the 32-bit return value."""
    a = x = 0
    mem = [0] * 16
    pc = 0
    m32 = 0xFFFFFFFF
    for _ in range(4096 * 4):
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
            op = ins.code & 0xF0
            src = x if ins.code & 0x08 else ins.k
            if op == 0x00:
                a = (a + src) & m32
            elif op == 0x10:
                a = (a - src) & m32
            elif op == 0x20:
                a = (a * src) & m32
            elif op == 0x30:
                a = a // src if src else 0
            elif op == 0x40:
                a |= src
            elif op == 0x50:
                a &= src
            elif op == 0x60:
                a = (a << (src & 31)) & m32
            elif op == 0x70:
                a >>= src & 31
            elif op == 0x80:
                a = (-a) & m32
            elif op == 0x90:
                a = a % src if src else 0
            elif op == 0xA0:
                a ^= src
            else:
                raise SeccompGenError(f"unsupported BPF alu {ins.code:#x}")
        elif cls == 0x05:  # BPF_JMP
            op = ins.code & 0xF0
            src = x if ins.code & 0x08 else ins.k
            if op == 0x00:
                pc += ins.k
                continue
            taken = {0x10: a == src, 0x20: a > src, 0x30: a >= src,
                     0x40: bool(a & src)}.get(op)
            if taken is None:
                raise SeccompGenError(f"unsupported BPF jump {ins.code:#x}")
            pc += ins.jt if taken else ins.jf
        elif cls == 0x06:  # BPF_RET
            return (a if ins.code & 0x18 == 0x10 else ins.k) & m32
        else:  # BPF_MISC
            if ins.code & 0xF8 == 0x00:
                x = a
            elif ins.code & 0xF8 == 0x80:
                a = x
            else:
                raise SeccompGenError(f"unsupported BPF misc {ins.code:#x}")
    raise SeccompGenError("BPF program did not return")


def to_verdict(ret: int) -> Verdict:
    """Name a seccomp return value."""
    action = _RET_NAMES.get(ret & SECCOMP_RET_ACTION_FULL, f"unknown {ret:#x}")
    return Verdict(action, ret & SECCOMP_RET_DATA if action == "errno" else None, ret)


class Simulator:
    """A compiled profile, evaluated in Python for any (arch, syscall, args)."""

    def __init__(self, program: bytes) -> None:
        self.program = decode(program)

    def evaluate(self, arch: str, nr: int, args: Sequence[int] = ()) -> Verdict:
        """The filter's verdict for syscall number ``nr`` made with ``arch``'s ABI."""
        audit = _AUDIT_ARCH_X86_64 if arch == "x32" else arch_token(arch)
        if arch == "x32":
            nr |= _X32_BIT
        return to_verdict(run_bpf(self.program, seccomp_data(audit, nr, args)))

    def check(self, arch: str, name: str, args: Sequence[int] = ()) -> Verdict:
        """The verdict for a syscall by name; ``args`` are register values by index."""
        nr = syscall_number(arch, name)
        if nr < 0:
            raise SeccompGenError(f"{name} does not exist on {arch}")
        return self.evaluate(arch, nr, args)


def simulator(profile: Profile) -> Simulator:
    """Compile ``profile`` with libseccomp and return a simulator for its BPF."""
    return Simulator(export_bpf(profile))


def validate(profile: Profile) -> None:
    """Raise a one-line SeccompGenError unless libseccomp compiles and exports the profile."""
    export_bpf(profile)


__all__ = [
    "Simulator",
    "Verdict",
    "compile_profile",
    "decode",
    "export_bpf",
    "run_bpf",
    "seccomp_data",
    "simulator",
    "to_verdict",
    "validate",
]
