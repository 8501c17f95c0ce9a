"""Name call sites after the run: (mapped file, file offset) -> function + offset, library class.

A site's file offset becomes a virtual address through the file's PT_LOAD headers; the function
is the FUNC (or IFUNC) symbol whose [value, value + size) holds it, from ``.symtab`` and
``.dynsym`` (Debian's libc is stripped to ``.dynsym``), else from the detached debug file
``/usr/lib/debug/.build-id/xx/yyyy.debug`` when one is installed (libc6-dbg names libc's and
ld.so's internal functions). Of several names for one function (``write``, ``__write``,
``__libc_write``) the one with the fewest leading underscores wins, then GLOBAL over WEAK over
LOCAL, then the shorter, then the first in byte order: the same name every time. No symbol
covers the offset: ``"?"``. The offset looked up is one byte before the recorded one: the
kernel reports the address *after* the syscall instruction, which may be the first byte of the
next function when the syscall ends one (a ``noreturn`` ``_exit``).

Each file is read once for all of its sites, and only the names of the symbols that hold a site
are decoded (:mod:`seccomp_gen.files.elf`); the names found are kept per build id
(:mod:`seccomp_gen.files.symcache`), so the next run of the same program reads no symbol table.
A file changed or deleted since the run is named from what is on disk now (a deleted one,
``(deleted)`` in the maps, is not read: ``"?"``). See docs/explain.md.
"""

from __future__ import annotations

import io
import os
import re
import struct
from collections.abc import Iterable
from dataclasses import replace
from typing import BinaryIO, NamedTuple

from ..callsites import resolve_sites
from ..linux import vdso
from ..model import CallSite, CodeLocation, Trace
from . import symcache
from .elf import ET_EXEC, PT_INTERP, PT_LOAD, BadElf, Elf
from .gosym import go_table, is_runtime

#: Where detached debug files are found by build id (the layout gdb reads).
DEBUG_ROOT = "/usr/lib/debug/.build-id"

_BIND_RANK = {"GLOBAL": 0, "WEAK": 1, "LOCAL": 2}
_PYTHON = re.compile(r"^(?:libpython[0-9.]*\w*\.so.*|python[0-9.]*\w*)$")
#: Sections only a Go toolchain makes.
_GO_SECTIONS = (".go.buildinfo", ".note.go.buildid", ".gopclntab", ".data.rel.ro.gopclntab")


def _name_rank(name: str, bind: str) -> tuple[int, int, int, str]:
    return (len(name) - len(name.lstrip("_")), _BIND_RANK.get(bind, 3), len(name), name)


def _best(symbols: list[tuple[int, int, str, str]]) -> tuple[int, str]:
    """(start, name) of the innermost of the function symbols holding one address, by the
    preferred name among those starting there."""
    start = max(sym[0] for sym in symbols)
    name = min(_name_rank(sym[2].partition("@")[0].removeprefix("__GI_"), sym[3])
               for sym in symbols if sym[0] == start)[3]
    return start, name


class ObjectInfo(NamedTuple):
    """What classifying a file's sites needs of it: a Go binary, an executable."""

    is_go: bool
    is_exe: bool


def name_offsets(f: BinaryIO, offsets: Iterable[int], debug_root: str = DEBUG_ROOT, *,
                 use_cache: bool = True) -> tuple[ObjectInfo, dict[int, tuple[str, int]]]:
    """What the ELF object ``f`` is, and (function, offset in it) for each of its file
    ``offsets`` (call sites: each looked up one byte back, see the module docstring) that
    a function symbol holds; the detached debug file, if installed, is read only for
    offsets the object's own tables do not name. ``use_cache``: names found for the object's
    build id by an earlier run are taken from, and new ones added to, :mod:`.symcache`."""
    elf = Elf(f)
    loads = [(off, filesz, vaddr) for ptype, off, vaddr, filesz in elf.segments
             if ptype == PT_LOAD]
    vaddrs: dict[int, int] = {}
    for offset in offsets:
        for p_offset, p_filesz, p_vaddr in loads:
            if offset and p_offset <= offset - 1 < p_offset + p_filesz:
                vaddrs[offset] = offset - 1 - p_offset + p_vaddr
                break
    is_go = any(s[0] in _GO_SECTIONS for s in elf.sections)
    build_id = elf.build_id() or elf.go_build_id()
    debug = os.path.join(debug_root, build_id[:2], build_id[2:] + ".debug") \
        if build_id and debug_root else ""
    has_debug = bool(debug) and os.path.isfile(debug)
    key = f"{build_id}-{int(has_debug)}" if build_id and use_cache else ""
    known = symcache.load(key) if key else {}
    wanted = sorted(set(vaddrs.values()) - set(known))
    if wanted:
        found = {v: _best(syms) for v, syms in elf.functions_at(wanted).items()}
        missing = [v for v in wanted if v not in found]
        if missing and has_debug:
            try:
                with open(debug, "rb") as dbg:
                    found.update((v, _best(syms))
                                 for v, syms in Elf(dbg).functions_at(missing).items())
            except (OSError, BadElf, struct.error):
                pass  # a broken debug file: the object's own tables stand
            missing = [v for v in wanted if v not in found]
        table = go_table(elf) if missing and is_go else None
        if table is not None:
            for v in missing:
                hit = table.lookup(v)
                if hit is not None:
                    found[v] = (hit[1], hit[0])
        known.update({v: (found[v][1], found[v][0]) if v in found else None for v in wanted})
        if key:
            symcache.save(key, known)
    names = {}
    for offset, vaddr in vaddrs.items():
        hit = known.get(vaddr)
        if hit is not None:
            names[offset] = (hit[0], vaddr - hit[1] + 1)
    info = ObjectInfo(is_go=is_go,
                      is_exe=elf.type == ET_EXEC or any(seg[0] == PT_INTERP
                                                        for seg in elf.segments))
    return info, names


def library_kind(path: str, exes: frozenset[str], obj: ObjectInfo | None,
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
    if obj is not None and obj.is_go and is_runtime(symbol):
        return "go"
    if path in exes or (obj is not None and obj.is_exe):
        return "program"
    return "library"


class SymbolResolver:
    """Names call sites, each file read once for all of its sites (:meth:`prepare`)."""

    def __init__(self, exes: Iterable[str] = (), debug_root: str = DEBUG_ROOT,
                 use_cache: bool = True) -> None:
        self.exes = frozenset(exes)
        self.debug_root = debug_root
        self.use_cache = use_cache
        self._named: dict[tuple[str, int], CodeLocation] = {}

    def prepare(self, locations: Iterable[CodeLocation]) -> None:
        """Name every location not named yet, reading each of their files once."""
        by_path: dict[str, set[int]] = {}
        for loc in locations:
            if (loc.path, loc.offset) not in self._named:
                by_path.setdefault(loc.path, set()).add(loc.offset)
        for path, offsets in sorted(by_path.items()):
            info: ObjectInfo | None = None
            names: dict[int, tuple[str, int]] = {}
            if not path.startswith("[") and not path.endswith(" (deleted)"):
                try:
                    with open(path, "rb") as f:
                        info, names = name_offsets(f, sorted(offsets), self.debug_root,
                                                   use_cache=self.use_cache)
                except (OSError, BadElf, struct.error):
                    info, names = None, {}
            for offset in offsets:
                symbol, within = names.get(offset, ("?", 0))
                self._named[(path, offset)] = CodeLocation(
                    path, offset, symbol, within, library_kind(path, self.exes, info, symbol))

    def resolve(self, loc: CodeLocation) -> CodeLocation:
        """``loc`` with its function and library class; a location already named is kept."""
        if loc.symbol and loc.kind:
            return loc
        key = (loc.path, loc.offset)
        if key not in self._named:
            self.prepare([loc])
        return self._named[key]


def name_sites(trace: Trace, resolver: SymbolResolver | None = None) -> Trace:
    """``trace`` with every call site not yet named resolved from the files on this machine
    (at the end of ``record``, where the files are those that ran)."""
    if not any(r.sites for r in trace.syscalls):
        return trace
    if resolver is None:
        resolver = SymbolResolver(e.exe for e in trace.exes)
    trace = name_vdso_sites(trace)
    resolver.prepare(loc for r in trace.syscalls for s in r.sites
                     for loc in (s.where, s.caller) if loc is not None)
    return resolve_sites(trace, resolver.resolve)


def name_vdso_sites(trace: Trace) -> Trace:
    """``trace`` with its unnamed ``[vdso]`` sites and callers named from the vDSO image of
    each record's arch (:mod:`seccomp_gen.linux.vdso`: read from the traced processes, or this
    process's own when the trace was made on this kernel); those without an image are kept."""
    same_kernel = trace.header.kernel == os.uname().release
    records = []
    for r in trace.syscalls:
        locs = [loc for s in r.sites for loc in (s.where, s.caller)
                if loc is not None and loc.path == "[vdso]" and loc.symbol in ("", "?")]
        image = vdso.image_for(r.arch, same_kernel) if locs else None
        if image is None:
            records.append(r)
            continue
        try:
            _, names = name_offsets(io.BytesIO(image), sorted({loc.offset for loc in locs}),
                                    "", use_cache=False)
        except (BadElf, struct.error):
            names = {}

        def named(loc: CodeLocation, names: dict[int, tuple[str, int]] = names
                  ) -> CodeLocation:
            if loc.path != "[vdso]" or loc.offset not in names:
                return loc
            return replace(loc, symbol=names[loc.offset][0], symbol_offset=names[loc.offset][1],
                           kind="vdso")

        records.append(replace(r, sites=tuple(
            CallSite(named(s.where), s.count, None if s.caller is None else named(s.caller))
            for s in r.sites)))
    return replace(trace, syscalls=tuple(records))
