"""Call sites recorded by the notify and in-process backends, for real: the site of a libc
wrapper's call is in libc.so.6 inside the wrapper, the site of the program's own ``syscall``
instruction is in its file at the address right after it, and the C supervisor records the same
sites as the Python loop.

Recorders and filters run in children only (see helpers.sites); nothing is loaded into pytest.
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
from helpers.sites import after_syscall, raw_sites, symbol_offset

from seccomp_gen.linux.codemaps import UNKNOWN
from seccomp_gen.recorders.notify import SUPERVISOR_ENV

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="Linux only")

CALLS = 7
PROBE_LABEL = "site_probe_after_syscall"


def _libc(sites: dict[str, Counter[tuple[str, int]]]) -> str:
    paths = {p for c in sites.values() for p, _ in c if os.path.basename(p) == "libc.so.6"}
    assert len(paths) == 1, paths
    return paths.pop()


def _assert_probe_sites(sites: dict[str, Counter[tuple[str, int]]], probe: str,
                        calls: int) -> None:
    """getppid at the probe's own syscall, write in libc's write(), each ``calls`` times, and
    every site in a file right after a syscall instruction."""
    label, _ = symbol_offset(probe, PROBE_LABEL)
    assert sites["getppid"] == Counter({(probe, label): calls})
    libc = _libc(sites)
    (path, offset), = sites["write"]
    start, size = symbol_offset(libc, "write")
    assert path == libc and start < offset < start + size
    assert sites["write"][(path, offset)] == calls
    for name, per_site in sites.items():
        for path, offset in per_site:
            assert path != UNKNOWN, name
            if path.startswith("/"):
                assert after_syscall(path, offset), (name, path, offset)


@needs("notify")
@needs_cc
@pytest.mark.live
def test_notify_sites_are_exact_and_the_same_in_both_supervisors(cbuild, tmp_path: Path) -> None:
    probe = os.path.realpath(cbuild["site_probe"])
    got = {sup: raw_sites([probe, str(CALLS)], tmp_path, "notify", env={SUPERVISOR_ENV: sup})
           for sup in ("python", "c")}
    _assert_probe_sites(got["python"], probe, CALLS)
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
        sites = raw_sites(cmd, tmp_path, "notify", env={SUPERVISOR_ENV: sup})
        assert sites["getppid"] == Counter({(first, label): CALLS, (second, label): CALLS})


_INPROCESS_SITES = textwrap.dedent("""
    import ctypes, json, os, sys
    import seccomp_gen, seccomp_gen.aggregate as agg
    from seccomp_gen.libseccomp import arch_name, syscall_name
    seen = []
    build = agg.build_trace
    agg.build_trace = lambda raw, *rest: (seen.append(raw), build(raw, *rest))[1]
    lib = ctypes.CDLL(sys.argv[2])
    fd = os.open(os.devnull, os.O_WRONLY)
    with seccomp_gen.recording() as rec:
        rc = lib.site_probe(int(sys.argv[3]), fd)
    raw = seen[0]
    rows = [[syscall_name(arch_name(a, nr), nr), *raw.sites[sid], n]
            for (a, nr, sid), n in raw.site_calls.items()]
    json.dump({"rc": rc, "rows": rows, "total": raw.total}, open(sys.argv[1], "w"))
""")


@needs_cc
@pytest.mark.live
def test_inprocess_sites_are_exact(tmp_path: Path) -> None:
    import json

    src = Path(__file__).resolve().parent.parent / "c" / "site_probe.c"
    lib = tmp_path / "libsiteprobe.so"
    built = subprocess.run([shutil.which("gcc") or "cc", "-O1", "-Wall", "-shared", "-fPIC",
                            "-o", str(lib), str(src)], capture_output=True, text=True,
                           timeout=120, check=False)
    assert built.returncode == 0, built.stderr
    out = tmp_path / "sites.json"
    res = run([PYTHON, "-c", _INPROCESS_SITES, str(out), str(lib), str(CALLS)], timeout=120)
    assert res.returncode == 0, res.stderr.decode(errors="replace")
    got = json.loads(out.read_text())
    assert got["rc"] == 0
    sites: dict[str, Counter[tuple[str, int]]] = {}
    for name, path, offset, n in got["rows"]:
        sites.setdefault(name, Counter())[(path, offset)] += n
    _assert_probe_sites(sites, str(lib), CALLS)
    # Every counted call has its site.
    assert sum(n for *_, n in got["rows"]) == got["total"]
