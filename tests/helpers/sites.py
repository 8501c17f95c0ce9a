"""Call sites as the recorders see them, for the call-site tests: where a symbol lies in an ELF
file (as a file offset, which is what a site records), whether an offset is right after a
``syscall`` instruction, and the raw sites of one real recording."""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

from elftools.elf.elffile import ELFFile

from helpers.cli import PYTHON, run

#: x86_64 ``syscall``: every backend's site is the address right after these two bytes.
SYSCALL_INSN = b"\x0f\x05"

#: argv: OUT BACKEND COMMAND...: record COMMAND and write its RawRecording's call sites to OUT as
#: [[syscall, path, offset, calls], ...]. The trace is built as always; the sites are read from
#: the RawRecording the recorder hands to build_trace.
_RAW_SITES_SCRIPT = (
    "import json, sys, seccomp_gen\n"
    "import seccomp_gen.aggregate as agg\n"
    "import seccomp_gen.recorders.notify as notify\n"
    "from seccomp_gen.libseccomp import arch_name, syscall_name\n"
    "seen = []\n"
    "def build(raw, *rest):\n"
    "    seen.append(raw)\n"
    "    return agg.build_trace(raw, *rest)\n"
    "notify.build_trace = build\n"
    "seccomp_gen.record(sys.argv[3:], backend=sys.argv[2])\n"
    "raw = seen[0]\n"
    "rows = [[syscall_name(arch_name(a, nr), nr), *raw.sites[sid], n]\n"
    "        for (a, nr, sid), n in raw.site_calls.items()]\n"
    "json.dump(rows, open(sys.argv[1], 'w'))\n"
)


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


def raw_sites(cmd: list[str], tmp_path: Path, backend: str,
              env: dict[str, str] | None = None) -> dict[str, Counter[tuple[str, int]]]:
    """Per syscall name, the calls per (path, offset) site of recording ``cmd`` with
    ``backend`` in a child."""
    out = tmp_path / f"sites-{backend}-{len(list(tmp_path.iterdir()))}.json"
    if env is not None:
        env = {**os.environ, **env}
    res = run([PYTHON, "-c", _RAW_SITES_SCRIPT, str(out), backend, *cmd], env=env)
    assert res.returncode == 0, res.stderr.decode(errors="replace")[-3000:]
    got: dict[str, Counter[tuple[str, int]]] = {}
    for name, path, offset, n in json.loads(out.read_text()):
        got.setdefault(name, Counter())[(path, offset)] += n
    return got
