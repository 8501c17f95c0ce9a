"""A tiny eBPF assembler: just the instructions the ebpf recorder's programs use.

Why hand-assembled: compiling BPF needs clang or bpftrace's LLVM, and bpftrace takes ~2 s to
start here (it compiles its script and parses the kernel's BTF every run), which made the ebpf
backend slower than strace on any workload under half a million calls. Our programs are a few dozen
instructions; emitting them directly costs microseconds, and field offsets come from
:mod:`.btf` at run time.

An instruction is 8 bytes (``struct bpf_insn``): opcode, dst and src registers in one byte,
a signed 16-bit offset and a signed 32-bit immediate. Jumps take a label; :meth:`Program.code`
resolves labels to relative offsets.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

# Registers: r0 return value, r1-r5 helper arguments (clobbered by calls), r6-r9 callee-saved,
# r10 the read-only frame pointer.
R0, R1, R2, R3, R4, R5, R6, R7, R8, R9, FP = range(11)

# Instruction classes and fields (include/uapi/linux/bpf.h, bpf_common.h).
_LD, _LDX, _ST, _STX, _ALU, _JMP, _ALU64 = 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x07
_W, _H, _B, _DW = 0x00, 0x08, 0x10, 0x18
_IMM, _MEM, _ATOMIC = 0x00, 0x60, 0xC0
_K, _X = 0x00, 0x08
_ADD, _SUB, _OR, _AND, _LSH, _RSH, _MOV = 0x00, 0x10, 0x40, 0x50, 0x60, 0x70, 0xB0
_JA, _JEQ, _JGT, _JNE, _CALL, _EXIT = 0x00, 0x10, 0x20, 0x50, 0x80, 0x90
_NEG = 0x80
_SIZES = {1: _B, 2: _H, 4: _W, 8: _DW}
PSEUDO_MAP_FD = 1

_INSN = struct.Struct("<BBhi")


@dataclass
class Program:
    """A list of instructions under construction, with labels for forward jumps."""

    insns: list[tuple[int, int, int, int, int | str]] = field(default_factory=list)
    labels: dict[str, int] = field(default_factory=dict)

    def _emit(self, op: int, dst: int = 0, src: int = 0, off: int | str = 0, imm: int = 0) -> None:
        self.insns.append((op, dst, src, imm, off))

    def label(self, name: str) -> None:
        """Name the next instruction."""
        self.labels[name] = len(self.insns)

    # -- moves and arithmetic (64-bit) ------------------------------------------------------------
    def mov(self, dst: int, src: int) -> None:
        """dst = src."""
        self._emit(_ALU64 | _MOV | _X, dst, src)

    def stack_addr(self, dst: int, off: int) -> None:
        """dst = FP + off: the address of a stack slot, to hand to a helper."""
        self.mov(dst, FP)
        self.add_imm(dst, off)

    def mov_imm(self, dst: int, imm: int) -> None:
        """dst = imm (sign-extended 32-bit)."""
        self._emit(_ALU64 | _MOV | _K, dst, imm=imm)

    def add(self, dst: int, src: int) -> None:
        """dst += src."""
        self._emit(_ALU64 | _ADD | _X, dst, src)

    def add_imm(self, dst: int, imm: int) -> None:
        """dst += imm."""
        self._emit(_ALU64 | _ADD | _K, dst, imm=imm)

    def and_imm(self, dst: int, imm: int) -> None:
        """dst &= imm."""
        self._emit(_ALU64 | _AND | _K, dst, imm=imm)

    def or_(self, dst: int, src: int) -> None:
        """dst |= src."""
        self._emit(_ALU64 | _OR | _X, dst, src)

    def lsh_imm(self, dst: int, imm: int) -> None:
        """dst <<= imm."""
        self._emit(_ALU64 | _LSH | _K, dst, imm=imm)

    def rsh_imm(self, dst: int, imm: int) -> None:
        """dst >>= imm (logical)."""
        self._emit(_ALU64 | _RSH | _K, dst, imm=imm)

    def mov32(self, dst: int, src: int) -> None:
        """dst = (u32)src: the low half, zero-extended."""
        self._emit(_ALU | _MOV | _X, dst, src)

    def ld_imm64(self, dst: int, imm: int) -> None:
        """dst = a full 64-bit constant (two instruction slots)."""
        imm &= (1 << 64) - 1
        low, high = imm & 0xFFFFFFFF, imm >> 32
        self._emit(_LD | _DW | _IMM, dst, imm=low - (1 << 32) if low >= 1 << 31 else low)
        self._emit(0, 0, 0, imm=high - (1 << 32) if high >= 1 << 31 else high)

    def ld_map(self, dst: int, map_fd: int) -> None:
        """dst = the map behind ``map_fd`` (a two-slot 64-bit load the kernel rewrites)."""
        self._emit(_LD | _DW | _IMM, dst, PSEUDO_MAP_FD, imm=map_fd)
        self._emit(0, 0, 0, imm=0)

    # -- memory -----------------------------------------------------------------------------------
    def load(self, dst: int, src: int, off: int, size: int) -> None:
        """dst = *(uSIZE *)(src + off)."""
        self._emit(_LDX | _MEM | _SIZES[size], dst, src, off)

    def store(self, dst: int, off: int, src: int, size: int) -> None:
        """*(uSIZE *)(dst + off) = src."""
        self._emit(_STX | _MEM | _SIZES[size], dst, src, off)

    def store_imm(self, dst: int, off: int, imm: int, size: int) -> None:
        """*(uSIZE *)(dst + off) = imm."""
        self._emit(_ST | _MEM | _SIZES[size], dst, off=off, imm=imm)

    def atomic_add64(self, dst: int, off: int, src: int) -> None:
        """*(u64 *)(dst + off) += src, atomically (counters shared by all CPUs)."""
        self._emit(_STX | _ATOMIC | _DW, dst, src, off, imm=_ADD)

    # -- control ----------------------------------------------------------------------------------
    def jeq_imm(self, dst: int, imm: int, target: str) -> None:
        """if dst == imm goto target."""
        self._emit(_JMP | _JEQ | _K, dst, off=target, imm=imm)

    def jne_imm(self, dst: int, imm: int, target: str) -> None:
        """if dst != imm goto target."""
        self._emit(_JMP | _JNE | _K, dst, off=target, imm=imm)

    def jgt_imm(self, dst: int, imm: int, target: str) -> None:
        """if dst > imm (unsigned) goto target."""
        self._emit(_JMP | _JGT | _K, dst, off=target, imm=imm)

    def neg(self, dst: int) -> None:
        """dst = -dst."""
        self._emit(_ALU64 | _NEG, dst)

    def jne(self, dst: int, src: int, target: str) -> None:
        """if dst != src goto target."""
        self._emit(_JMP | _JNE | _X, dst, src, off=target)

    def ja(self, target: str) -> None:
        """goto target."""
        self._emit(_JMP | _JA, off=target)

    def call(self, helper: int) -> None:
        """r0 = helper(r1, ..., r5); r1-r5 are clobbered."""
        self._emit(_JMP | _CALL, imm=helper)

    def exit(self) -> None:
        """return r0."""
        self._emit(_JMP | _EXIT)

    def code(self) -> bytes:
        """The program as the kernel takes it, with labels resolved."""
        out = bytearray()
        for pc, (op, dst, src, imm, off) in enumerate(self.insns):
            if isinstance(off, str):
                if off not in self.labels:
                    raise ValueError(f"undefined label {off}")
                off = self.labels[off] - pc - 1
            out += _INSN.pack(op, (src << 4) | dst, off, imm)
        return bytes(out)
