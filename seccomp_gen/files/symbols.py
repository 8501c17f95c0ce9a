"""Name call sites after the run: (mapped file, file offset) -> function + offset, library class.

A site's file offset becomes a virtual address through the file's PT_LOAD headers; the function
is the FUNC (or IFUNC) symbol whose [value, value + size) holds it, from ``.symtab``, else
``.dynsym`` (Debian's libc is stripped to ``.dynsym``), and from the detached debug file
``/usr/lib/debug/.build-id/xx/yyyy.debug`` when one is installed (libc6-dbg names libc's and
ld.so's internal functions). Of several names for one function (``write``, ``__write``,
``__libc_write``) the one with the fewest leading underscores wins, then GLOBAL over WEAK over
LOCAL, then the shorter, then the first in byte order: the same name every time. No symbol
covers the offset: ``"?"``. The offset looked up is one byte before the recorded one: the
kernel reports the address *after* the syscall instruction, which may be the first byte of the
next function when the syscall ends one (a ``noreturn`` ``_exit``).

Files are read once per run, and per build id: the same library mapped under two paths is read
once (:mod:`seccomp_gen.files.elf` reads libc's tables in milliseconds, so nothing is cached
across runs). A file changed or deleted since the run is named from what is on disk now (a
deleted one, ``(deleted)`` in the maps, is not read: ``"?"``). See docs/explain.md.
"""

from __future__ import annotations

import bisect
import os
import re
import struct
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import BinaryIO

from ..callsites import resolve_sites
from ..model import CodeLocation, Trace
from .elf import ET_EXEC, PT_INTERP, PT_LOAD, BadElf, Elf

#: Where detached debug files are found by build id (the layout gdb reads).
DEBUG_ROOT = "/usr/lib/debug/.build-id"

_BIND_RANK = {"STB_GLOBAL": 0, "STB_WEAK": 1, "STB_LOCAL": 2}
_PYTHON = re.compile(r"^(?:libpython[0-9.]*\w*\.so.*|python[0-9.]*\w*)$")
_GO_RUNTIME = ("runtime.", "syscall.", "internal/runtime/", "internal/syscall/",
               "golang.org/x/sys/")
_MAX_NESTED = 8


def _name_rank(name: str, bind: str) -> tuple[int, int, int, str]:
    return (len(name) - len(name.lstrip("_")), _BIND_RANK.get(bind, 3), len(name), name)


@dataclass
class ObjectSymbols:
    """The functions of one ELF object and where its file offsets load."""

    loads: list[tuple[int, int, int]]  # (p_offset, p_filesz, p_vaddr) of each PT_LOAD
    starts: list[int]
    functions: list[tuple[int, int, str]]  # (start, end, name), sorted by start
    is_go: bool = False
    is_exe: bool = False

    def vaddr(self, offset: int) -> int | None:
        """The virtual address a file offset loads at, None if no PT_LOAD maps it."""
        for p_offset, p_filesz, p_vaddr in self.loads:
            if p_offset <= offset < p_offset + p_filesz:
                return offset - p_offset + p_vaddr
        return None

    def offset(self, vaddr: int) -> int | None:
        """The file offset of a virtual address, None if no PT_LOAD holds it."""
        for p_offset, p_filesz, p_vaddr in self.loads:
            if p_vaddr <= vaddr < p_vaddr + p_filesz:
                return vaddr - p_vaddr + p_offset
        return None

    def function(self, vaddr: int) -> tuple[str, int] | None:
        """(name, offset from its start) of the function holding ``vaddr``."""
        i = bisect.bisect_right(self.starts, vaddr) - 1
        for j in range(i, max(i - _MAX_NESTED, -1), -1):
            start, end, name = self.functions[j]
            if start <= vaddr < end:
                return name, vaddr - start
        return None


def read_object(f: BinaryIO, debug_root: str = DEBUG_ROOT) -> tuple[str, ObjectSymbols]:
    """(build id, symbols) of an ELF object (and of its detached debug file, if installed)."""
    elf = Elf(f)
    build_id = elf.build_id()
    found = list(elf.functions())
    if build_id and debug_root:
        debug = os.path.join(debug_root, build_id[:2], build_id[2:] + ".debug")
        try:
            with open(debug, "rb") as dbg:
                found += Elf(dbg).functions()
        except (OSError, BadElf, struct.error):
            pass  # no debug file, or a broken one: the object's own tables stand
    ends: dict[int, int] = {}
    ranks: dict[int, tuple[int, int, int, str]] = {}
    for start, end, name, bind in found:
        ends[start] = max(ends.get(start, 0), end)
        # glibc's internal aliases (__GI_write) name the function its public name names.
        rank = _name_rank(name.partition("@")[0].removeprefix("__GI_"), bind)
        if start not in ranks or rank < ranks[start]:
            ranks[start] = rank
    functions = sorted((start, end, ranks[start][3]) for start, end in ends.items())
    obj = ObjectSymbols(
        loads=[(offset, filesz, vaddr) for ptype, offset, vaddr, filesz in elf.segments
               if ptype == PT_LOAD],
        starts=[start for start, _, _ in functions], functions=functions,
        is_go=elf.has_section(".go.buildinfo") or elf.has_section(".gopclntab"),
        is_exe=elf.type == ET_EXEC or any(seg[0] == PT_INTERP for seg in elf.segments))
    return build_id, obj


def library_kind(path: str, exes: frozenset[str], obj: ObjectSymbols | None,
                 symbol: str) -> str:
    """The library class of a site (:data:`seccomp_gen.model.SITE_KINDS`) for ``explain``."""
    if path == "[anon]":
        return "jit"
    if path in ("[vdso]", "[vsyscall]"):
        return "vdso"
    if path.startswith("["):
        return "unknown"
    base = os.path.basename(path.removesuffix(" (deleted)"))
    if base.startswith(("ld-musl", "libc.musl", "libc.so", "libc-")):
        return "libc"
    if base.startswith("ld-linux") or base == "ld.so":
        return "ld.so"
    if _PYTHON.match(base):
        return "python"
    if obj is not None and obj.is_go and symbol.startswith(_GO_RUNTIME):
        return "go"
    if path in exes or (obj is not None and obj.is_exe):
        return "program"
    return "library"


class SymbolResolver:
    """Names call sites; reads each file once (and each build id once)."""

    def __init__(self, exes: Iterable[str] = (), debug_root: str = DEBUG_ROOT) -> None:
        self.exes = frozenset(exes)
        self.debug_root = debug_root
        self._by_path: dict[str, ObjectSymbols | None] = {}
        self._by_id: dict[str, ObjectSymbols] = {}

    def object(self, path: str) -> ObjectSymbols | None:
        """The symbols of the file at ``path``, None when it cannot be read as ELF."""
        if path in self._by_path:
            return self._by_path[path]
        obj = None
        if not path.startswith("[") and not path.endswith(" (deleted)"):
            try:
                with open(path, "rb") as f:
                    build_id, obj = read_object(f, self.debug_root)
                if build_id:
                    obj = self._by_id.setdefault(build_id, obj)
            except (OSError, BadElf, struct.error):
                obj = None
        self._by_path[path] = obj
        return obj

    def resolve(self, loc: CodeLocation) -> CodeLocation:
        """``loc`` with its function and library class; a location already named is kept."""
        if loc.symbol and loc.kind:
            return loc
        obj = self.object(loc.path)
        symbol, offset = "?", 0
        if obj is not None and loc.offset:
            vaddr = obj.vaddr(loc.offset - 1)
            found = obj.function(vaddr) if vaddr is not None else None
            if found is not None:
                symbol, offset = found[0], found[1] + 1
        return replace(loc, symbol=symbol, symbol_offset=offset,
                       kind=library_kind(loc.path, self.exes, obj, symbol))


def name_sites(trace: Trace, resolver: SymbolResolver | None = None) -> Trace:
    """``trace`` with every call site not yet named resolved from the files on this machine
    (at the end of ``record``, where the files are those that ran)."""
    if not any(r.sites for r in trace.syscalls):
        return trace
    if resolver is None:
        resolver = SymbolResolver(e.exe for e in trace.exes)
    return resolve_sites(trace, resolver.resolve)
