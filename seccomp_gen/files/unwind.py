"""The caller of a call site, walked from a stack sample with the ELF's unwind tables.

For each frame: the FDE covering the pc is found through ``.eh_frame_hdr``'s sorted table (or an
index of ``.eh_frame`` made here, for a static glibc program that has no header), its CIE and
FDE call-frame instructions are run up to the pc (the DWARF CFA rules: CFA = rsp or rbp +
offset, the return address and rbp saved at CFA + offset), the return address is read from the
sampled stack, and the walk goes on in the caller's file. The caller reported is the first frame
in another file than the site's (the program function that called libc's wrapper, the Python
function that called ``read``); for a site in the program's own exe it is the direct caller
(the program's function is then the interesting one), and so it is when the walk never leaves
the site's file (ld.so's own frames). The walk stops, with no caller, where a rule needs a
DWARF expression, where a frame has no FDE (hand-written code without CFI, a JIT), or where the
stack window (:data:`seccomp_gen.linux.stacks.WINDOW`) ends.

x86_64 and i386 objects (the ELF class says which registers and word size). Pure but for
reading the files. See docs/explain.md.
"""

from __future__ import annotations

import bisect
import io
import struct
from collections.abc import Callable
from typing import NamedTuple

from .elf import PT_LOAD, BadElf, Elf
from .elf import uleb128 as _uleb
from .gosym import GoTable, go_table, is_runtime

#: Frames walked at most before the walk gives up.
MAX_FRAMES = 32


class Abi(NamedTuple):
    """The DWARF register numbers of the stack pointer, frame pointer and return address
    column of an ELF class, and its word size: the walk reads an i386 object (the vDSO's
    ``__kernel_vsyscall``, a static i386 program) as it reads an x86_64 one."""

    sp: int
    bp: int
    ra: int
    word: int


#: x86_64 (rsp 7, rbp 6, return address 16) and i386 (esp 4, ebp 5, eip 8), by ELF class.
ABIS = {64: Abi(7, 6, 16, 8), 32: Abi(4, 5, 8, 4)}
_ENC_ABS, _ENC_ULEB, _ENC_U2, _ENC_U4, _ENC_U8 = 0x0, 0x1, 0x2, 0x3, 0x4
_ENC_SLEB, _ENC_S2, _ENC_S4, _ENC_S8 = 0x9, 0xA, 0xB, 0xC
_REL_PC, _REL_DATA = 0x10, 0x30
_OMIT = 0xFF


class _Unsupported(Exception):
    """A rule this walker does not evaluate (a DWARF expression, a register rule)."""


def _sleb(data: bytes, pos: int) -> tuple[int, int]:
    value, end = _uleb(data, pos)
    bits = 7 * (end - pos)
    if value & (1 << (bits - 1)):
        value -= 1 << bits
    return value, end


def _encoded(data: bytes, pos: int, enc: int, base_addr: int, data_addr: int = 0
             ) -> tuple[int, int]:
    """A pointer encoded with ``enc`` at ``pos`` (whose address is ``base_addr + pos``)."""
    fmt = enc & 0x0F
    sizes = {_ENC_U2: "<H", _ENC_U4: "<I", _ENC_U8: "<Q", _ENC_S2: "<h", _ENC_S4: "<i",
             _ENC_S8: "<q", _ENC_ABS: "<Q"}
    if fmt == _ENC_ULEB:
        value, end = _uleb(data, pos)
    elif fmt == _ENC_SLEB:
        value, end = _sleb(data, pos)
    elif fmt in sizes:
        size = struct.calcsize(sizes[fmt])
        if pos + size > len(data):
            raise BadElf("truncated pointer")
        value, end = struct.unpack_from(sizes[fmt], data, pos)[0], pos + size
    else:
        raise BadElf(f"pointer encoding {enc:#x}")
    rel = enc & 0x70
    if rel == _REL_PC:
        value += base_addr + pos
    elif rel == _REL_DATA:
        value += data_addr
    elif rel:
        raise BadElf(f"pointer encoding {enc:#x}")
    return value & 0xFFFFFFFFFFFFFFFF, end


class _Cie(NamedTuple):
    """What an FDE takes from its CIE. (Named tuples, not dataclasses: they cost ``record``
    less to define.)"""

    code_align: int
    data_align: int
    ra_reg: int
    fde_enc: int
    has_z: bool
    instructions: bytes


class Rules(NamedTuple):
    """The unwind rules at one pc: CFA = ``cfa_reg`` + ``cfa_offset``; a saved register
    ``r`` is at CFA + ``saved[r]``."""

    cfa_reg: int
    cfa_offset: int
    saved: dict[int, int]


class FrameTable:
    """The ``.eh_frame`` of one ELF object, looked up through ``.eh_frame_hdr``."""

    def __init__(self, elf: Elf) -> None:
        frame = elf.section(".eh_frame")
        #: Go's pc table, for the Go code that no FDE covers (:func:`go_rules`).
        self.go = go_table(elf, keep=True)
        if frame is None and self.go is None:
            raise BadElf("no .eh_frame")
        self.frame_addr, self.frame = frame if frame is not None else (0, b"")
        self._cies: dict[int, _Cie] = {}
        self.pcs: list[int] = []
        self.fdes: list[int] = []
        self._table: tuple[int, bytes, int] | None = None
        hdr = elf.section(".eh_frame_hdr")
        if hdr is not None:
            self._read_hdr(*hdr)
        elif frame is not None:  # a static glibc program has no .eh_frame_hdr: index here
            self._scan()
        self.loads = [(off, filesz, vaddr) for ptype, off, vaddr, filesz in elf.segments
                      if ptype == PT_LOAD]
        self.abi = ABIS[elf.bits]

    def _read_hdr(self, hdr_addr: int, h: bytes) -> None:
        """The sorted (pc, FDE address) table of ``.eh_frame_hdr``; the usual encoding (4-byte
        offsets from the header) is searched in place, without decoding the table."""
        if len(h) < 4 or h[0] != 1 or h[3] == _OMIT:
            raise BadElf("unsupported .eh_frame_hdr")
        pos = 4
        _, pos = _encoded(h, pos, h[1], hdr_addr, hdr_addr)
        count, pos = _encoded(h, pos, h[2], hdr_addr, hdr_addr)
        if count > len(h):
            raise BadElf("bad .eh_frame_hdr count")
        if h[3] == _REL_DATA | _ENC_S4 and pos + 8 * count <= len(h):
            self._table = (hdr_addr, h[pos:pos + 8 * count], count)
            return
        for _ in range(count):
            pc, pos = _encoded(h, pos, h[3], hdr_addr, hdr_addr)
            fde, pos = _encoded(h, pos, h[3], hdr_addr, hdr_addr)
            self.pcs.append(pc)
            self.fdes.append(fde)

    def _scan(self) -> None:
        """Index every FDE of ``.eh_frame`` by its first pc, as ``.eh_frame_hdr`` would."""
        d, pos, found = self.frame, 0, []
        while pos + 8 <= len(d):
            length, cie_ptr = struct.unpack_from("<II", d, pos)
            if length == 0 or length == 0xFFFFFFFF:
                break
            if cie_ptr:
                cie = self._cie(pos + 4 - cie_ptr)
                pc, _ = _encoded(d, pos + 8, cie.fde_enc, self.frame_addr)
                found.append((pc, self.frame_addr + pos))
            pos += 4 + length
        found.sort()
        self.pcs = [pc for pc, _ in found]
        self.fdes = [fde for _, fde in found]

    def vaddr(self, offset: int) -> int | None:
        """The virtual address a file offset loads at."""
        for p_offset, p_filesz, p_vaddr in self.loads:
            if p_offset <= offset < p_offset + p_filesz:
                return offset - p_offset + p_vaddr
        return None

    def _cie(self, pos: int) -> _Cie:
        cached = self._cies.get(pos)
        if cached is not None:
            return cached
        d = self.frame
        length, cie_id = struct.unpack_from("<II", d, pos)
        if length == 0xFFFFFFFF or cie_id != 0:
            raise BadElf("not a CIE")
        end = pos + 4 + length
        p = pos + 8
        version = d[p]
        p += 1
        aug_end = d.index(b"\0", p)
        aug = d[p:aug_end].decode("ascii", "replace")
        p = aug_end + 1
        if "eh" in aug:
            p += 8
        code_align, p = _uleb(d, p)
        data_align, p = _sleb(d, p)
        if version == 1:
            ra_reg, p = d[p], p + 1
        else:
            ra_reg, p = _uleb(d, p)
        fde_enc = _ENC_ABS
        if aug.startswith("z"):
            aug_len, p = _uleb(d, p)
            after = p + aug_len
            for ch in aug[1:]:
                if ch == "R":
                    fde_enc, p = d[p], p + 1
                elif ch == "L":
                    p += 1
                elif ch == "P":
                    enc = d[p]
                    _, p = _encoded(d, p + 1, enc & 0x7F, self.frame_addr)
            p = after
        cie = _Cie(code_align, data_align, ra_reg, fde_enc, aug.startswith("z"), d[p:end])
        self._cies[pos] = cie
        return cie

    def _fde_before(self, pc: int) -> int | None:
        """The address of the FDE with the greatest first pc <= ``pc``."""
        if self._table is None:
            i = bisect.bisect_right(self.pcs, pc) - 1
            return self.fdes[i] if i >= 0 else None
        base, table, count = self._table
        lo, hi = 0, count  # the first entry whose pc > pc
        while lo < hi:
            mid = (lo + hi) // 2
            if struct.unpack_from("<i", table, 8 * mid)[0] + base <= pc:
                lo = mid + 1
            else:
                hi = mid
        if lo == 0:
            return None
        return int(struct.unpack_from("<i", table, 8 * (lo - 1) + 4)[0]) + base

    def rules(self, pc: int) -> Rules | None:
        """The rules in force at ``pc`` (a virtual address of this object), None when no FDE
        covers it or its entries are malformed."""
        try:
            found = self._rules(pc)
        except (BadElf, struct.error, IndexError, ValueError):
            found = None
        return found if found is not None or self.go is None else go_rules(self.go, pc)

    def go_runtime(self, offset: int) -> bool:
        """Whether the code at file ``offset`` is a function of Go's runtime or syscall
        layers (which the caller walk steps over)."""
        vaddr = self.vaddr(offset)
        hit = self.go.lookup(vaddr) if self.go is not None and vaddr is not None else None
        return hit is not None and is_runtime(hit[0])

    def _rules(self, pc: int) -> Rules | None:
        fde = self._fde_before(pc)
        if fde is None:
            return None
        d, pos = self.frame, fde - self.frame_addr
        if not 0 <= pos < len(d) - 8:
            return None
        length, cie_ptr = struct.unpack_from("<II", d, pos)
        if length == 0xFFFFFFFF:
            return None
        end = pos + 4 + length
        cie = self._cie(pos + 4 - cie_ptr)
        start, p = _encoded(d, pos + 8, cie.fde_enc, self.frame_addr)
        span, p = _encoded(d, p, cie.fde_enc & 0x0F, self.frame_addr)
        if not start <= pc < start + span:
            return None
        if cie.has_z:
            aug_len, p = _uleb(d, p)
            p += aug_len
        try:
            return _run(cie, cie.instructions + d[p:end], pc - start, self.abi)
        except _Unsupported:
            return None


def go_rules(table: GoTable, pc: int) -> Rules | None:
    """The rules at ``pc`` in Go code, from its SP-delta table: the return address is just
    above the frame (CFA = rsp + delta + 8), and a function with a frame saved the caller's
    rbp below it (Go on amd64 keeps frame pointers)."""
    delta = table.sp_delta(pc)
    if delta is None or delta < 0 or table.ptr != 8:
        return None
    x64 = ABIS[64]
    return Rules(x64.sp, delta + 8, {x64.ra: -8, x64.bp: -16} if delta else {x64.ra: -8})


def _run(cie: _Cie, code: bytes, target: int, abi: Abi) -> Rules:
    """Run call-frame instructions up to ``target`` (bytes past the FDE's start)."""
    cfa_reg, cfa_off = abi.sp, abi.word
    saved: dict[int, int] = {}
    initial: dict[int, int] | None = None
    stack: list[tuple[int, int, dict[int, int]]] = []
    loc, p, n_initial = 0, 0, len(cie.instructions)
    while p < len(code):
        if p >= n_initial and initial is None:
            initial = dict(saved)
        op = code[p]
        p += 1
        hi, low = op & 0xC0, op & 0x3F
        delta = -1
        if hi == 0x40:
            delta = low * cie.code_align
        elif hi == 0x80:
            off, p = _uleb(code, p)
            saved[low] = off * cie.data_align
        elif hi == 0xC0:
            _restore(saved, initial, low)
        elif op == 0x00:
            pass
        elif op in (0x02, 0x03, 0x04):
            size = {0x02: 1, 0x03: 2, 0x04: 4}[op]
            delta = int.from_bytes(code[p:p + size], "little") * cie.code_align
            p += size
        elif op in (0x05, 0x11):
            reg, p = _uleb(code, p)
            off, p = (_uleb if op == 0x05 else _sleb)(code, p)
            saved[reg] = off * cie.data_align
        elif op == 0x06:
            reg, p = _uleb(code, p)
            _restore(saved, initial, reg)
        elif op in (0x07, 0x08):
            reg, p = _uleb(code, p)
            saved.pop(reg, None)
        elif op == 0x0A:
            stack.append((cfa_reg, cfa_off, dict(saved)))
        elif op == 0x0B:
            if stack:
                cfa_reg, cfa_off, saved = stack.pop()
        elif op in (0x0C, 0x12):
            cfa_reg, p = _uleb(code, p)
            cfa_off, p = (_uleb if op == 0x0C else _sleb)(code, p)
            if op == 0x12:
                cfa_off *= cie.data_align
        elif op == 0x0D:
            cfa_reg, p = _uleb(code, p)
        elif op in (0x0E, 0x13):
            cfa_off, p = (_uleb if op == 0x0E else _sleb)(code, p)
            if op == 0x13:
                cfa_off *= cie.data_align
        elif op == 0x2E:
            _, p = _uleb(code, p)
        elif op == 0x01:
            raise _Unsupported  # DW_CFA_set_loc: not made by the toolchains in use
        else:
            # expressions (0x0f, 0x10, 0x16), register copies (0x09), val_offset (0x14/15)
            if op in (0x09, 0x10, 0x14, 0x15, 0x16):
                reg, p = _uleb(code, p)
                if reg in (abi.ra, abi.bp) or op == 0x0F:
                    raise _Unsupported
                if op in (0x10, 0x16):
                    size, p = _uleb(code, p)
                    p += size
                else:
                    _, p = _uleb(code, p)
                saved.pop(reg, None)
                continue
            raise _Unsupported
        if delta >= 0 and p > n_initial:
            if loc + delta > target:
                break
            loc += delta
    if cfa_reg not in (abi.sp, abi.bp):
        raise _Unsupported
    return Rules(cfa_reg, cfa_off, saved)


def _restore(saved: dict[int, int], initial: dict[int, int] | None, reg: int) -> None:
    if initial is not None and reg in initial:
        saved[reg] = initial[reg]
    else:
        saved.pop(reg, None)


Locate = Callable[[int], "tuple[str, int] | None"]
Tables = Callable[[str], "FrameTable | None"]


def caller_of(ip: int, sp: int, bp: int | None, stack: bytes, locate: Locate, tables: Tables,
              leave: bool = True) -> tuple[str, int] | None:
    """(file, file offset) of the return address of the caller (see the module docstring) of
    the code at ``ip``, walking the stack bytes ``stack`` sampled at ``sp``. ``leave``: walk
    on to the first frame in another file (False: the direct caller, for a site in the
    program itself). ``bp`` None (a sample without the frame pointer): the walk ends at a frame
    whose CFA is rbp-based until an rbp saved by a frame below has been read."""
    here = locate(ip)
    if here is None:
        return None
    site_path = here[0]
    first: tuple[str, int] | None = None
    pc, rsp, rbp = ip, sp, bp
    for _ in range(MAX_FRAMES):
        where = locate(pc)
        if where is None:
            return first
        table = tables(where[0])
        if table is None:
            return first
        vaddr = table.vaddr(where[1])
        rules = table.rules(vaddr - 1) if vaddr is not None else None
        if rules is None:
            return first
        abi = table.abi
        base = rsp if rules.cfa_reg == abi.sp else rbp
        if base is None:
            return first
        cfa = base + rules.cfa_offset
        ra_at = rules.saved.get(abi.ra)
        if ra_at is None:
            return first
        ra = _word(stack, cfa + ra_at - sp, abi.word)
        if ra is None or ra == 0:
            return first
        if abi.bp in rules.saved:
            saved_bp = _word(stack, cfa + rules.saved[abi.bp] - sp, abi.word)
            if saved_bp is None:
                return first
            rbp = saved_bp
        rsp, pc = cfa, ra
        found = locate(pc - 1)
        if found is None:
            return first
        found = (found[0], found[1] + 1)
        if first is None:
            first = found
        caller_table = tables(found[0])
        if caller_table is not None and caller_table.go_runtime(found[1] - 1):
            continue  # Go's syscall layers: on to the program's code that called them
        if not leave or found[0] != site_path:
            return found
    return first


def _word(stack: bytes, at: int, size: int) -> int | None:
    if not 0 <= at <= len(stack) - size:
        return None
    return int.from_bytes(stack[at:at + size], "little")


def frame_table(path: str) -> FrameTable | None:
    """The unwind table of the file at ``path``, None when it has none or cannot be read."""
    if path.startswith("[") or path.endswith(" (deleted)"):
        return None
    try:
        with open(path, "rb") as f:
            return FrameTable(Elf(f))
    except (OSError, BadElf, struct.error, ValueError, IndexError):
        return None


def image_table(image: bytes) -> FrameTable | None:
    """The unwind table of an ELF image held in memory (the vDSO's), None when it has none."""
    try:
        return FrameTable(Elf(io.BytesIO(image)))
    except (BadElf, struct.error, ValueError, IndexError):
        return None
