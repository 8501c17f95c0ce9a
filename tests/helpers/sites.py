"""Call sites as the recorders see them, for the call-site tests: where a symbol lies in an ELF
file (as a file offset, which is what a site records), whether an offset is right after a
``syscall`` instruction, and the sites of a trace by syscall."""

from __future__ import annotations

import os
from collections import Counter

from elftools.elf.elffile import ELFFile

from seccomp_gen import Trace

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
