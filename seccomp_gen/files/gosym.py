"""Go's own pc -> function table (pclntab): names for the code of a stripped Go binary.

Debian strips its Go programs (runc, containerd, podman), so no ELF symbol covers their code;
but every Go binary keeps the table its runtime prints tracebacks from, in ``.gopclntab`` (or,
in a PIE, ``.data.rel.ro.gopclntab``, or inside ``.data.rel.ro`` with no section of its own,
found here by its header). Read here: the header of Go 1.2 (magic 0xfffffffb), 1.16
(0xfffffffa), 1.18 (0xfffffff0) and 1.20+ (0xfffffff1), 64- and 32-bit little endian; the
function table (sorted (entry, func offset) pairs, binary searched); of one function's record
only its entry, its name offset (into the name table) and its SP-delta table (``pcsp``, what
:mod:`seccomp_gen.files.unwind` walks Go frames with). Only the bytes a lookup needs are read.

Why not a library: ``debug/gosym`` is Go's; on PyPI ``pygosym`` (one 2022 release, before the
1.20 format) and ``pygore`` (bindings to a Go library, 2021) are neither kept nor pure.

Hostile input: every offset is bounds-checked against the table; a bad header, an offset out of
range, an entry that disagrees with the function table give no name (``None``), never an
exception to the caller of :meth:`GoTable.lookup` / :meth:`GoTable.sp_delta`.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

from .elf import SHT_NOBITS, BadElf, Elf, uleb128

#: Header magic -> the Go version that introduced that layout.
MAGICS = {0xFFFFFFFB: (1, 2), 0xFFFFFFFA: (1, 16), 0xFFFFFFF0: (1, 18), 0xFFFFFFF1: (1, 20)}
#: Packages whose functions are the runtime's syscall layers (a site there is class ``go``, and
#: the caller walk goes on past them to the first frame of the program's own code).
RUNTIME_PREFIXES = ("runtime.", "runtime/", "syscall.", "internal/", "golang.org/x/sys/")
#: Longest function name read (a longer one is cut there).
MAX_NAME = 4096
#: Most bytes of one pcsp table decoded.
MAX_PCVALUE = 1 << 16
_R_X86_64_RELATIVE = 8
_EM_X86_64 = 62

Read = Callable[[int, int], bytes]


class BadGoTable(ValueError):
    """Not a pclntab this reader handles, or a malformed one."""


def is_runtime(name: str) -> bool:
    """Whether ``name`` is a function of Go's runtime or syscall layers."""
    return name.startswith(RUNTIME_PREFIXES)


class GoTable:
    """One pclntab, read through ``read(offset, size)`` (offsets into the table, ``size``
    bytes long). ``text_start``: the address of the Go text when the header's is 0 (a PIE,
    where a relocation fills it in)."""

    def __init__(self, read: Read, size: int, text_start: int = 0) -> None:
        self._raw_read, self.size = read, size
        magic, pad1, pad2, self.quantum, self.ptr = struct.unpack("<IBBBB", self._read(0, 8))
        if magic not in MAGICS or pad1 or pad2 or self.quantum not in (1, 2, 4) \
                or self.ptr not in (4, 8):
            raise BadGoTable("not a Go pclntab header")
        self.version = MAGICS[magic]
        word = "<Q" if self.ptr == 8 else "<I"
        self._word = struct.Struct(word)
        if self.version == (1, 2):
            self.nfunc = self._w(8)
            self.functab = 8 + self.ptr
            self.funcbase = self.names = self.pctab = 0
            self.field, self.text = self.ptr, 0
        else:
            fields = [self._w(8 + i * self.ptr) for i in range(7 if self.version == (1, 16) else 8)]
            if self.version == (1, 16):
                self.nfunc, _, self.names, _, _, self.pctab, self.functab = fields
                self.field, self.text = self.ptr, 0
            else:
                self.nfunc, _, self.text, self.names, _, _, self.pctab, self.functab = fields
                self.field = 4
                if not self.text:
                    self.text = text_start
            self.funcbase = self.functab
        if self.nfunc <= 0 or self.functab + (2 * self.nfunc + 1) * self.field > size \
                or max(self.names, self.pctab) >= size:
            raise BadGoTable("pclntab offsets out of range")
        self._ftab = struct.Struct("<I" if self.field == 4 else word)

    def _read(self, offset: int, size: int) -> bytes:
        if offset < 0 or size < 0 or offset + size > self.size:
            raise BadGoTable("pclntab offset out of range")
        data = self._raw_read(offset, size)
        if len(data) != size:
            raise BadGoTable("pclntab truncated")
        return data

    def _w(self, offset: int) -> int:
        value: int = self._word.unpack(self._read(offset, self.ptr))[0]
        return value

    def _entry(self, i: int) -> int:
        """The entry pc of function-table row ``i`` (row ``nfunc``: the end of the text)."""
        raw: int = self._ftab.unpack(self._read(self.functab + 2 * i * self.field,
                                                self.field))[0]
        return raw + self.text

    def _func(self, pc: int) -> tuple[int, bytes] | None:
        """(entry, the function record's first bytes) of the function holding ``pc``."""
        if not self._entry(0) <= pc < self._entry(self.nfunc):
            return None
        lo, hi = 0, self.nfunc - 1  # the last row whose entry <= pc
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if self._entry(mid) <= pc:
                lo = mid
            else:
                hi = mid - 1
        entry = self._entry(lo)
        off: int = self._ftab.unpack(self._read(self.functab + (2 * lo + 1) * self.field,
                                                self.field))[0]
        head = 4 if self.version >= (1, 18) else self.ptr
        record = self._read(self.funcbase + off, head + 16)
        own = (struct.unpack_from("<I", record)[0] + self.text if head == 4
               else self._word.unpack_from(record)[0])
        return (entry, record[head:]) if own == entry else None

    def lookup(self, pc: int) -> tuple[str, int] | None:
        """(name, entry) of the function holding ``pc``; None if none or the table is bad."""
        try:
            found = self._func(pc)
            if found is None:
                return None
            name_off = struct.unpack_from("<i", found[1])[0] + self.names
            data = self._read(name_off, min(MAX_NAME, self.size - name_off))
        except (ValueError, OSError, struct.error):  # BadGoTable, a broken read
            return None
        name = data.partition(b"\0")[0].decode("utf-8", "replace")  # Go writes UTF-8
        return (name, found[0]) if name else None

    def sp_delta(self, pc: int) -> int | None:
        """How far the stack pointer at ``pc`` is below the function's entry (its return
        address is at sp + that, on x86); None when unknown."""
        try:
            found = self._func(pc)
            if found is None:
                return None
            at = struct.unpack_from("<I", found[1], 12)[0] + self.pctab
            if not at or at >= self.size:
                return None
            return _pcvalue(self._read(at, min(MAX_PCVALUE, self.size - at)), found[0], pc,
                            self.quantum)
        except (ValueError, OSError, struct.error):
            return None


def _pcvalue(data: bytes, entry: int, target: int, quantum: int) -> int | None:
    """The value of a pc-value table at ``target`` (Go's runtime.pcvalue): a run of
    (zig-zag value delta, pc delta) varint pairs from (entry, -1), ended by a 0."""
    value, pc, pos = -1, entry, 0
    try:
        while True:
            if data[pos] == 0 and pos:
                return None
            delta, pos = uleb128(data, pos)
            value += -(delta & 1) ^ (delta >> 1)
            step, pos = uleb128(data, pos)
            pc += step * quantum
            if target < pc:
                return value
    except (IndexError, BadElf):  # the table ends inside a pair
        return None


def find_header(data: bytes, ptr: int) -> list[int]:
    """Offsets in ``data`` where a pclntab header of pointer size ``ptr`` may start (each is
    to be tried: the magic can also occur by chance)."""
    found = []
    for magic in sorted(MAGICS):
        needle = struct.pack("<I", magic) + b"\0\0"
        at = data.find(needle)
        while at >= 0:
            if at + 8 <= len(data) and data[at + 6] in (1, 2, 4) and data[at + 7] == ptr:
                found.append(at)
            at = data.find(needle, at + 1)
    return sorted(found)


def relocated_word(rela: bytes, where: int) -> int:
    """The addend of the R_X86_64_RELATIVE relocation of the word at ``where`` in an x86_64
    ``.rela.dyn`` (what a PIE's header text address becomes at load); 0 if none."""
    needle = struct.pack("<QQ", where, _R_X86_64_RELATIVE)
    at = rela.find(needle)
    while at >= 0 and at % 24:
        at = rela.find(needle, at + 1)
    if at < 0 or at + 24 > len(rela):
        return 0
    value: int = struct.unpack_from("<q", rela, at + 16)[0]
    return value


def _section(elf: Elf, *names: str) -> tuple[int, int, int] | None:
    """(address, file offset, size) of the first section with bytes called one of ``names``."""
    for name in names:
        for sname, stype, addr, offset, size, _, _ in elf.sections:
            if sname == name and stype != SHT_NOBITS:
                return addr, offset, size
    return None


def _text_start(elf: Elf, header_addr: int, ptr: int) -> int:
    """Where the Go text starts, for a header whose text address is 0 in the file (a PIE):
    the relocation that fills the field in, else the start of ``.text``."""
    rela = _section(elf, ".rela.dyn", ".rela")
    if rela is not None and elf.machine == _EM_X86_64 and ptr == 8:
        value = relocated_word(elf.read(rela[1], rela[2]), header_addr + 8 + 2 * ptr)
        if value:
            return value
    text = _section(elf, ".text")
    return text[0] if text is not None else 0


def _table(elf: Elf, addr: int, offset: int, size: int, keep: bool) -> GoTable:
    """The table at file ``offset``, read from the file as looked up (``keep``: read whole
    now, for a table used after the file is closed)."""
    data = elf.read(offset, size) if keep else b""

    def read(at: int, n: int) -> bytes:
        return data[at:at + n] if keep else elf.read(offset + at, n)

    table = GoTable(read, size)
    if table.version >= (1, 18) and not table.text:
        table = GoTable(read, size, _text_start(elf, addr, table.ptr))
    return table


def go_table(elf: Elf, keep: bool = False) -> GoTable | None:
    """The pclntab of the ELF object ``elf``, None if it has none this reader can use: its
    own section, else (a PIE linked by the system linker, whose ``.data.rel.ro`` swallowed it)
    the first header found in ``.data.rel.ro`` that reads as one. ``keep``: the table's bytes
    are read now and kept (it is used after ``elf``'s file is closed); else they are read from
    the file as looked up, only those needed."""
    ptr = 8 if elf.bits == 64 else 4
    try:
        own = _section(elf, ".gopclntab", ".data.rel.ro.gopclntab")
        if own is not None:
            return _table(elf, *own, keep)
        if not any(s[0] in (".note.go.buildid", ".go.buildinfo") for s in elf.sections):
            return None
        relro = _section(elf, ".data.rel.ro")
        if relro is None:
            return None
        addr, offset, size = relro
        data = elf.read(offset, size)
        for at in find_header(data, ptr):
            try:
                table = _table(elf, addr + at, offset + at, size - at, keep)
            except (BadGoTable, struct.error):
                continue
            first = table.lookup(table._entry(0))
            if first is not None and first[1] == table._entry(0):
                return table
    except (ValueError, struct.error):  # BadElf, BadGoTable
        return None
    return None
