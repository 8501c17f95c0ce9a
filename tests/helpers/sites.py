"""Call sites as the recorders see them, for the call-site tests: where a symbol lies in an ELF
file (as a file offset, which is what a site records), whether an offset is right after a
``syscall`` instruction, and the sites of a trace by syscall."""

from __future__ import annotations

import os
from collections import Counter

from elftools.elf.elffile import ELFFile

from seccomp_gen import Trace
from seccomp_gen.linux.codemaps import UNKNOWN

Sites = dict[str, Counter[tuple[str, int]]]

#: The label right after the one syscall instruction of tests/c/site_probe.c.
PROBE_LABEL = "site_probe_after_syscall"
#: x86_64 ``syscall``: every backend's site is the address right after these two bytes.
SYSCALL_INSN = b"\x0f\x05"


def symbol_offset(path: str | os.PathLike[str], name: str) -> tuple[int, int]:
    """(file offset, size) of the symbol ``name`` of an ELF file (.symtab, else .dynsym)."""
    with open(path, "rb") as fh:
        elf = ELFFile(fh)
        for table in (".symtab", ".dynsym"):
            section = elf.get_section_by_name(table)
            if section is None:
                continue
            for sym in section.get_symbol_by_name(name) or ():
                addr = sym["st_value"]
                for seg in elf.iter_segments("PT_LOAD"):
                    if seg["p_vaddr"] <= addr < seg["p_vaddr"] + seg["p_filesz"]:
                        return addr - seg["p_vaddr"] + seg["p_offset"], sym["st_size"]
    raise AssertionError(f"{path} has no symbol {name}")


def after_syscall(path: str, offset: int) -> bool:
    """Whether ``offset`` of ``path`` is right after a ``syscall`` instruction."""
    with open(path, "rb") as fh:
        fh.seek(offset - len(SYSCALL_INSN))
        return fh.read(len(SYSCALL_INSN)) == SYSCALL_INSN


def sites_of(trace: Trace) -> dict[str, Counter[tuple[str, int]]]:
    """Per syscall name (every arch), the calls per (path, offset) site of a trace."""
    got: dict[str, Counter[tuple[str, int]]] = {}
    for r in trace.syscalls:
        per = got.setdefault(r.name, Counter())
        for s in r.sites:
            per[(s.where.path, s.where.offset)] += s.count
    return got


def assert_probe_sites(sites: Sites, probe: str, calls: int,
                       unknown: frozenset[str] = frozenset()) -> None:
    """The sites of tests/c/site_probe.c making ``calls`` rounds: getppid at the probe's own
    syscall, write in libc's write(), each ``calls`` times, and every site in a file right after
    a syscall instruction; ``unknown``: the syscalls whose sites may be ``[unknown]``."""
    label, _ = symbol_offset(probe, PROBE_LABEL)
    assert sites["getppid"] == Counter({(probe, label): calls})
    libcs = {p for c in sites.values() for p, _ in c if os.path.basename(p) == "libc.so.6"}
    assert len(libcs) == 1, libcs
    libc = libcs.pop()
    (path, offset), = sites["write"]
    start, size = symbol_offset(libc, "write")
    assert path == libc and start < offset < start + size
    assert sites["write"][(path, offset)] == calls
    for name, per_site in sites.items():
        for path, offset in per_site:
            assert path != UNKNOWN or name in unknown, name
            if path.startswith("/"):
                assert after_syscall(path, offset), (name, path, offset)
