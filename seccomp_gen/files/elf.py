"""A small ELF reader for the end of every ``record``: load segments, function symbols, the build
id, section bytes. Little-endian ELF32 and ELF64 only.

Why not pyelftools (which ``analyze`` uses): naming a run's call sites must not make every
``record`` import it (40 ms and the modules the start-up bars keep out, README "Start-up"), and
reading libc's symbols with ``struct`` takes milliseconds where pyelftools takes a quarter of a
second. Every read is bounds-checked; a malformed file raises :class:`BadElf`.
"""

from __future__ import annotations

import bisect
import struct
from collections.abc import Iterator
from typing import BinaryIO

PT_LOAD, PT_INTERP, PT_GNU_EH_FRAME = 1, 3, 0x6474E550
SHT_SYMTAB, SHT_NOTE, SHT_NOBITS, SHT_DYNSYM = 2, 7, 8, 11
ET_EXEC = 2
STT_FUNC, STT_GNU_IFUNC = 2, 10
BIND_NAMES = {0: "LOCAL", 1: "GLOBAL", 2: "WEAK"}
NT_GNU_BUILD_ID, NT_GO_BUILD_ID = 3, 4
#: Most symbols read from one table (a huge table is a hostile file, not a program).
MAX_SYMBOLS = 4_000_000


class BadElf(ValueError):
    """Not an ELF object this reader handles, or a malformed one."""


_LAYOUT = {
    # header (after e_ident), program header, section header, symbol, and the field order of
    # a symbol as (name, value, size, info, shndx) indexes into its unpacked tuple.
    64: (struct.Struct("<HHIQQQIHHHHHH"), struct.Struct("<IIQQQQQQ"),
         struct.Struct("<IIQQQQIIQQ"), struct.Struct("<IBBHQQ"), (0, 4, 5, 1, 3)),
    32: (struct.Struct("<HHIIIIIHHHHHH"), struct.Struct("<IIIIIIII"),
         struct.Struct("<IIIIIIIIII"), struct.Struct("<IIIBBH"), (0, 1, 2, 3, 5)),
}


class Elf:
    """One ELF file: its segments, sections and symbols, read on demand from ``f``."""

    def __init__(self, f: BinaryIO) -> None:
        self.f = f
        self.size = f.seek(0, 2)
        ident = self.read(0, 16)
        if ident[:4] != b"\x7fELF" or ident[4] not in (1, 2) or ident[5] != 1:
            raise BadElf("not a little-endian ELF object")
        self.bits = 64 if ident[4] == 2 else 32
        hdr, phdr, shdr, self._sym, self._symf = _LAYOUT[self.bits]
        (self.type, self.machine, _, _, phoff, shoff, _, _, phentsize, phnum, shentsize, shnum,
         shstrndx) = hdr.unpack(self.read(16, hdr.size))
        #: (p_type, p_offset, p_vaddr, p_filesz) of each program header.
        self.segments: list[tuple[int, int, int, int]] = []
        if (phnum and phentsize < phdr.size) or (shnum and shentsize < shdr.size):
            raise BadElf("header entries too small")
        for i in range(phnum):
            p = phdr.unpack(self.read(phoff + i * phentsize, phdr.size))
            if self.bits == 64:
                self.segments.append((p[0], p[2], p[3], p[5]))
            else:
                self.segments.append((p[0], p[1], p[2], p[4]))
        #: (name, type, addr, offset, size, link, entsize) of each section.
        self.sections: list[tuple[str, int, int, int, int, int, int]] = []
        raw = [shdr.unpack(self.read(shoff + i * shentsize, shdr.size)) for i in range(shnum)]
        names = b""
        if raw and shstrndx < len(raw):
            s = raw[shstrndx]
            names = self.read(s[4], s[5]) if s[1] != SHT_NOBITS else b""
        for s in raw:
            self.sections.append((_cstr(names, s[0]), s[1], s[3], s[4], s[5], s[6], s[9]))

    def read(self, offset: int, size: int) -> bytes:
        """``size`` bytes at ``offset``, or :class:`BadElf` if the file is shorter."""
        if offset < 0 or size < 0 or offset + size > self.size:
            raise BadElf("truncated or out of range")
        self.f.seek(offset)
        data = self.f.read(size)
        if len(data) != size:
            raise BadElf("truncated")
        return data

    def section(self, name: str) -> tuple[int, bytes] | None:
        """(address, bytes) of the first section called ``name`` that has bytes in the file."""
        for sname, stype, addr, offset, size, _, _ in self.sections:
            if sname == name and stype != SHT_NOBITS:
                return addr, self.read(offset, size)
        return None

    def has_section(self, name: str) -> bool:
        """Whether a section called ``name`` exists."""
        return any(s[0] == name for s in self.sections)

    def build_id(self) -> str:
        """The GNU build id as hex, "" if the object has none."""
        return self._note(NT_GNU_BUILD_ID, b"GNU\0").hex()

    def go_build_id(self) -> str:
        """The Go toolchain's build id (a program linked by Go alone has no GNU one), as the
        hex of its SHA-256 (the id itself has slashes); "" if none."""
        desc = self._note(NT_GO_BUILD_ID, b"Go\0\0")
        if not desc:
            return ""
        import hashlib  # here: importing it is ~2 ms of every record, for Go programs only

        return "go" + hashlib.sha256(desc).hexdigest()[:40]

    def _note(self, want: int, owner: bytes) -> bytes:
        """The descriptor of the first note of type ``want`` by ``owner``, b"" if none."""
        for _, stype, _, offset, size, _, _ in self.sections:
            if stype != SHT_NOTE:
                continue
            data, pos = self.read(offset, size), 0
            while pos + 12 <= len(data):
                namesz, descsz, ntype = struct.unpack_from("<III", data, pos)
                name_end = pos + 12 + ((namesz + 3) & ~3)
                desc = data[name_end:name_end + descsz]
                if ntype == want and data[pos + 12:pos + 12 + namesz] == owner:
                    return desc
                pos = name_end + ((descsz + 3) & ~3)
        return b""

    def functions_at(self, addrs: list[int]) -> dict[int, list[tuple[int, int, str, str]]]:
        """For each address of the sorted list ``addrs``, the function symbols (start, end,
        name, bind) that hold it; only those names are decoded, so naming a few call sites of
        libc reads its tables in about a millisecond."""
        out: dict[int, list[tuple[int, int, str, str]]] = {}
        if not addrs:
            return out
        for start, end, name_at, bind, strtab in self._function_rows():
            i = bisect.bisect_left(addrs, start)
            while i < len(addrs) and addrs[i] < end:
                name = _cstr(strtab, name_at)
                if name:
                    out.setdefault(addrs[i], []).append((start, end, name, bind))
                i += 1
        return out

    def _function_rows(self) -> Iterator[tuple[int, int, int, str, bytes]]:
        """(start, end, name offset, bind, string table) of each function symbol."""
        for _, stype, _, offset, size, link, entsize in self.sections:
            if stype not in (SHT_SYMTAB, SHT_DYNSYM) or not entsize:
                continue
            if entsize < self._sym.size or size // entsize > MAX_SYMBOLS:
                raise BadElf("malformed symbol table")
            if not 0 <= link < len(self.sections):
                raise BadElf("symbol table without its string table")
            strs = self.sections[link]
            strtab = self.read(strs[3], strs[4]) if strs[1] != SHT_NOBITS else b""
            table = self.read(offset, size)
            i_name, i_value, i_size, i_info, i_shndx = self._symf
            if entsize == self._sym.size:
                rows = self._sym.iter_unpack(table[:size - size % entsize])
            else:
                rows = (self._sym.unpack_from(table, pos)
                        for pos in range(0, size - self._sym.size + 1, entsize))
            for sym in rows:
                info = sym[i_info]
                if (info & 0xF) not in (STT_FUNC, STT_GNU_IFUNC) or not sym[i_size] \
                        or not sym[i_shndx]:
                    continue
                yield (sym[i_value], sym[i_value] + sym[i_size], sym[i_name],
                       BIND_NAMES.get(info >> 4, "OTHER"), strtab)


def uleb128(data: bytes, pos: int) -> tuple[int, int]:
    """The unsigned LEB128 number at ``pos`` and the offset after it (DWARF's call-frame
    operands, Go's pc-value tables); :class:`BadElf` if ``data`` ends inside it."""
    value = shift = 0
    while True:
        if pos >= len(data):
            raise BadElf("truncated LEB128")
        b = data[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            return value, pos


def _cstr(table: bytes, offset: int) -> str:
    """The NUL-terminated string at ``offset`` of a string table ("" out of range)."""
    if not 0 <= offset < len(table):
        return ""
    end = table.find(b"\0", offset)
    return table[offset:end if end >= 0 else len(table)].decode("utf-8", "surrogateescape")
