"""Call sites recorded by the notify and in-process backends, for real: the site of a libc
wrapper's call is in libc.so.6 inside the wrapper, the site of the program's own ``syscall``
instruction is in its file at the address right after it, both supervisors of notify record the
same sites, and those are the ptrace backend's.

Recorders and filters run in children only; nothing is loaded into the pytest process.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path

import pytest
from helpers.backends import needs
from helpers.cli import PYTHON, run
from helpers.compiler import needs_cc
from helpers.record import record_in_child
from helpers.sites import PROBE_LABEL, assert_probe_sites, sites_of, symbol_offset

import seccomp_gen
from seccomp_gen.linux.codemaps import UNKNOWN
from seccomp_gen.recorders.notify import SUPERVISOR_ENV

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="Linux only")

CALLS = 7


def _record(cmd: list[str], tmp_path: Path, backend: str,
            supervisor: str | None = None) -> seccomp_gen.Trace:
    name = f"{backend}-{supervisor}-{len(list(tmp_path.iterdir()))}"
    env = {**os.environ, SUPERVISOR_ENV: supervisor} if supervisor else None
    return record_in_child(cmd, tmp_path / f"{name}.trace.json", backend=backend,
                           env=env, cwd=tmp_path).trace


@needs("notify", "ptrace")
@needs_cc
@pytest.mark.live
def test_notify_sites_are_exact_and_those_of_ptrace(cbuild, tmp_path: Path) -> None:
    probe = os.path.realpath(cbuild["site_probe"])
    cmd = [probe, str(CALLS)]
    got = {sup: _record(cmd, tmp_path, "notify", sup) for sup in ("python", "c")}
    py, c = sites_of(got["python"]), sites_of(got["c"])
    assert got["c"].header.records_sites and got["python"].header.records_sites
    assert_probe_sites(py, probe, CALLS)
    assert c == py
    # The same places as ptrace reports, except the workload's execve: each backend's child
    # starts it from its own code (notify: libc's syscall(), from a prebuilt ctypes call).
    ptraced = sites_of(_record(cmd, tmp_path, "ptrace"))
    del ptraced["execve"], py["execve"]
    assert py == ptraced


@needs("notify")
@needs_cc
@pytest.mark.live
@pytest.mark.parametrize(("workload", "args"), [("forker", []), ("threads", []), ("int80", []),
                                                ("getppid_loop", ["20000"])])
def test_c_supervisor_records_the_python_loops_sites(workload: str, args: list[str], cbuild,
                                                     tmp_path: Path) -> None:
    """Every site and count the same, named alike, in processes, threads, execs, both ABIs."""
    cmd = [cbuild[workload], *args]
    # How often threads contend on a futex is up to the scheduler, not the recorder.
    skip = {"futex"} if workload == "threads" else set()
    got = {}
    for sup in ("python", "c"):
        trace = _record(cmd, tmp_path, "notify", sup)
        got[sup] = {(r.arch, r.name): (r.sites, r.sites_other) for r in trace.syscalls
                    if r.name not in skip}
        assert all(sites for sites, _ in got[sup].values())
    assert got["c"] == got["python"]


@needs("notify")
@needs_cc
@pytest.mark.live
def test_notify_sites_after_exec_are_in_the_new_program(cbuild, tmp_path: Path) -> None:
    """The probe execs a copy of itself; without address randomisation both map their code at
    the same addresses, so a site resolved in the mappings read before the exec would name the
    first file."""
    setarch = shutil.which("setarch")
    assert setarch, "setarch (util-linux) is needed"
    first = os.path.realpath(cbuild["site_probe"])
    second = str(tmp_path / "site_probe_copy")
    shutil.copy(first, second)
    label, _ = symbol_offset(first, PROBE_LABEL)
    cmd = [setarch, os.uname().machine, "-R", first, str(CALLS), second]
    for sup in ("python", "c"):
        sites = sites_of(_record(cmd, tmp_path, "notify", sup))
        assert sites["getppid"] == Counter({(first, label): CALLS, (second, label): CALLS})


_INPROCESS_SITES = textwrap.dedent("""
    import ctypes, os, sys
    import seccomp_gen
    lib = ctypes.CDLL(sys.argv[2])
    fd = os.open(os.devnull, os.O_WRONLY)
    with seccomp_gen.recording() as rec:
        rc = lib.site_probe(int(sys.argv[3]), fd)
    seccomp_gen.dump_trace(rec.trace, sys.argv[1])
    raise SystemExit(rc)
""")


@needs_cc
@pytest.mark.live
def test_inprocess_sites_are_exact(tmp_path: Path) -> None:
    src = Path(__file__).resolve().parent.parent / "c" / "site_probe.c"
    lib = tmp_path / "libsiteprobe.so"
    built = subprocess.run([shutil.which("gcc") or "cc", "-O1", "-Wall", "-shared", "-fPIC",
                            "-o", str(lib), str(src)], capture_output=True, text=True,
                           timeout=120, check=False)
    assert built.returncode == 0, built.stderr
    out = tmp_path / "block.trace.json"
    res = run([PYTHON, "-c", _INPROCESS_SITES, str(out), str(lib), str(CALLS)], timeout=120)
    assert res.returncode == 0, res.stderr.decode(errors="replace")
    trace = seccomp_gen.load_trace(out)
    assert trace.header.records_sites
    assert_probe_sites(sites_of(trace), str(lib), CALLS)
    # Named from the files, as record() names them.
    write = trace.find("write", "x86_64")
    assert write is not None
    assert [(s.where.kind, s.where.symbol) for s in write.sites] in (
        [("libc", name)] for name in ("write", "__write", "__libc_write"))
    # Every counted call has its site (none beyond the per-syscall cap here).
    for r in trace.syscalls:
        assert sum(s.count for s in r.sites) + r.sites_other == r.count, r.name


#: More distinct call sites than the handler's table holds (4096): getppid (110) from 5000
#: syscall instructions.
_MANY_SITES_SRC = r"""
void many_sites(void)
{
    __asm__ volatile(".rept 5000\n mov $110, %%eax\n syscall\n .endr" ::: "rax", "rcx", "r11",
                     "memory");
}
"""


@needs_cc
@pytest.mark.live
def test_inprocess_full_site_table_counts_the_rest_unknown(tmp_path: Path) -> None:
    src = tmp_path / "many.c"
    src.write_text(_MANY_SITES_SRC)
    lib = tmp_path / "libmany.so"
    built = subprocess.run([shutil.which("gcc") or "cc", "-O1", "-shared", "-fPIC", "-o",
                            str(lib), str(src)], capture_output=True, text=True, timeout=120,
                           check=False)
    assert built.returncode == 0, built.stderr
    code = textwrap.dedent("""
        import ctypes, sys
        import seccomp_gen
        lib = ctypes.CDLL(sys.argv[2])
        with seccomp_gen.recording() as rec:
            lib.many_sites()
        seccomp_gen.dump_trace(rec.trace, sys.argv[1])
    """)
    out = tmp_path / "many.trace.json"
    res = run([PYTHON, "-c", code, str(out), str(lib)], timeout=120)
    assert res.returncode == 0, res.stderr.decode(errors="replace")
    trace = seccomp_gen.load_trace(out)
    getppid = trace.find("getppid", "x86_64")
    assert getppid is not None and getppid.count == 5000
    unknown = [s for s in getppid.sites if s.where.path == UNKNOWN]
    assert len(unknown) == 1 and 5000 - 4096 <= unknown[0].count < 5000
    (note,) = [n for n in trace.header.notes if "call-site table" in n]
    assert note.startswith(f"{unknown[0].count} call(s)")
    for r in trace.syscalls:
        assert sum(s.count for s in r.sites) + r.sites_other == r.count, r.name
