"""Call sites recorded from real programs: libc's wrapper, the program's own function in a static
exe, ld.so, ``explain`` naming most of the calls of ``ls``, and Go programs named from their
pclntab (this machine's runc, a probe built from tests/go/gosym_probe.go). The callers of the
C probe's sites, from the ptrace-based backends' and the notify backend's stack samples.

The recorder runs as the CLI in a child (helpers.cli); the programs are built here from
tests/c/sites_probe.c, dynamically and statically linked.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from helpers.backends import needs
from helpers.cli import assert_one_error_line, cli
from helpers.compiler import needs_cc
from helpers.gobuild import build_probe
from helpers.paths import LS_V1_TRACE, TESTS

import seccomp_gen
from seccomp_gen.files.gosym import is_runtime

SOURCE = TESTS / "c" / "sites_probe.c"
#: The names libc's write wrapper goes by (the one explain prints is the preferred alias).
WRITE_NAMES = {"write", "__write", "__libc_write"}
#: notify samples its waiting caller's stack without registers (sp from /proc/TID/syscall).
BACKENDS = ("seccomp", "ptrace", pytest.param("notify", marks=needs("notify")))


def _build(tmp: Path, static: bool) -> Path:
    exe = tmp / ("sites_static" if static else "sites_dyn")
    cc = shutil.which("gcc") or "cc"
    built = subprocess.run([cc, "-O1", "-Wall", *(["-static"] if static else []), "-o",
                            str(exe), str(SOURCE)], capture_output=True, text=True, timeout=120,
                           check=False)
    if static and built.returncode != 0 and "cannot find -lc" in built.stderr:
        pytest.skip("no static libc (libc.a) to link with")
    assert built.returncode == 0, built.stderr
    return exe


@pytest.fixture(scope="module")
def programs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("sites")
    return {"dyn": _build(tmp, False), "static": _build(tmp, True)}


def _record(exe: Path | str, out: Path, backend: str, *args: str) -> None:
    res = cli("record", "-q", "--backend", backend, "-o", str(out), "--", str(exe), *args)
    assert res.returncode == 0, res.stderr


def _explain(trace: Path, *names: str) -> dict[str, Any]:
    res = cli("explain", "--json", str(trace), *names)
    assert res.returncode == 0, res.stderr
    doc: dict[str, Any] = json.loads(res.stdout)
    return doc


def _functions(doc: dict[str, Any], name: str) -> dict[tuple[str, str, str], int]:
    """(kind, file name, function) -> calls, for syscall ``name`` of the explanation."""
    out: dict[tuple[str, str, str], int] = {}
    for rec in doc["syscalls"]:
        if rec["name"] == name:
            for lib in rec["libraries"]:
                for f in lib["functions"]:
                    key = (lib["kind"], lib["path"].rsplit("/", 1)[-1], f["symbol"])
                    out[key] = out.get(key, 0) + f["count"]
    return out


def _callers(doc: dict[str, Any], name: str) -> set[tuple[str, str]]:
    """(file name, function) of the callers explain names for syscall ``name``."""
    return {(site["caller"]["path"].rsplit("/", 1)[-1], site["caller"]["symbol"])
            for rec in doc["syscalls"] if rec["name"] == name
            for lib in rec["libraries"] for f in lib["functions"] for site in f["sites"]
            if site["caller"] is not None}


@needs_cc
@pytest.mark.live
@pytest.mark.parametrize("backend", BACKENDS)
def test_libc_wrapper_and_the_programs_own_function(programs: dict[str, Path], tmp_path: Path,
                                                    backend: str) -> None:
    out = tmp_path / "dyn.json"
    _record(programs["dyn"], out, backend)
    trace = seccomp_gen.load_trace(out)
    assert trace.header.records_sites
    write = trace.find("write", "x86_64")
    assert write is not None and write.sites
    # Named in the trace at the end of record, not only by explain.
    assert write.sites[0].where.symbol in WRITE_NAMES
    assert write.sites[0].where.kind == "libc"
    doc = _explain(out, "write", "getppid")
    writes = _functions(doc, "write")
    assert [(k, lib) for k, lib, sym in writes if sym in WRITE_NAMES] == [("libc", "libc.so.6")]
    assert sum(writes.values()) == 1
    assert _functions(doc, "getppid") == {("program", "sites_dyn", "probe_raw_getppid"): 3}
    assert doc["named_calls"] == doc["calls"] == 4
    # The caller, walked with the unwind tables: main called libc's write and the probe.
    assert _callers(doc, "write") == {("sites_dyn", "main")}
    assert _callers(doc, "getppid") == {("sites_dyn", "main")}
    # The walk leaves libc: exit_group's _exit was reached from the program's _start.
    assert _callers(_explain(out, "exit_group"), "exit_group") == {("sites_dyn", "_start")}
    # show --json carries the same sites as the trace file.
    shown = cli("show", "--json", str(out))
    assert shown.returncode == 0, shown.stderr
    row = next(r for r in json.loads(shown.stdout)["rows"] if r["syscall"] == "write")
    assert row["sites"][0]["symbol"] in WRITE_NAMES and row["sites"][0]["kind"] == "libc"
    assert row["sites"][0]["caller"]["symbol"] == "main"


@needs_cc
@pytest.mark.live
@pytest.mark.parametrize("backend", BACKENDS)
def test_static_exe_sites_are_the_programs_functions(programs: dict[str, Path],
                                                     tmp_path: Path, backend: str) -> None:
    out = tmp_path / "static.json"
    _record(programs["static"], out, backend)
    doc = _explain(out)
    assert _functions(doc, "getppid") == {("program", "sites_static", "probe_raw_getppid"): 3}
    # The walk never leaves the static exe: the direct caller.
    assert _callers(doc, "getppid") == {("sites_static", "main")}
    writes = _functions(doc, "write")
    # libc's write linked into the program: the program's own code, named by its .symtab.
    assert [(k, lib) for k, lib, sym in writes if sym in WRITE_NAMES] == [
        ("program", "sites_static")]
    # No ld.so and no libc.so.6 in a static program, apart from seccomp-gen's own execve.
    kinds = {lib["kind"] for rec in doc["syscalls"] if rec["name"] != "execve"
             for lib in rec["libraries"]}
    assert kinds == {"program"}


@pytest.mark.live
def test_explain_names_most_calls_of_ls(tmp_path: Path) -> None:
    out = tmp_path / "ls.json"
    _record("ls", out, "seccomp", "-la", "/")
    doc = _explain(out)
    assert doc["named_calls"] >= 0.9 * doc["calls"]
    opens = _functions(doc, "openat")
    # ld.so opens the libraries, libc the rest; both named.
    assert any(kind == "ld.so" and lib.startswith("ld-linux") for kind, lib, _ in opens)
    assert any(kind == "libc" and lib == "libc.so.6" for kind, lib, _ in opens)
    assert all(sym != "?" for _, _, sym in opens)
    text = cli("explain", str(out), "openat")
    assert text.returncode == 0, text.stderr
    assert b"openat (x86_64):" in text.stdout and b"libc.so.6" in text.stdout


@pytest.mark.live
def test_explain_bad_input(tmp_path: Path) -> None:
    out = tmp_path / "true.json"
    _record("true", out, "seccomp")
    line = assert_one_error_line(cli("explain", str(out), "opnat"), 2)
    assert "unknown syscall 'opnat'" in line
    line = assert_one_error_line(cli("explain", str(LS_V1_TRACE)), 1)
    assert "no call sites" in line and "version 1" in line
    res = cli("explain", str(out), "openat", "bpf")
    assert res.returncode == 0 and b"bpf: not made in this trace" in res.stdout


def _sites(doc: dict[str, Any], path: str) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(syscall, library group, site) of every site in the file ``path``."""
    return [(rec["name"], lib, site) for rec in doc["syscalls"] for lib in rec["libraries"]
            if lib["path"] == path for f in lib["functions"] for site in f["sites"]]


@pytest.mark.live
def test_stripped_go_binary_named_from_its_pclntab(tmp_path: Path) -> None:
    """Debian's runc is stripped: its sites are named from Go's own pc table, classed go, and
    each is right after a syscall instruction of the file; callers walk Go frames."""
    runc = shutil.which("runc")
    if runc is None:
        pytest.skip("runc is not installed (.ci/run installs it)")
    out = tmp_path / "runc.json"
    _record(runc, out, "seccomp", "--version")
    doc = _explain(out)
    sites = _sites(doc, runc)
    total = sum(site["count"] for _, _, site in sites)
    assert total > 50
    go = [(name, lib, site) for name, lib, site in sites
          if lib["kind"] == "go" and is_runtime(_symbol(lib, site))]
    assert sum(site["count"] for _, _, site in go) >= 0.9 * total
    with open(runc, "rb") as f:
        for _, _, site in go:
            f.seek(site["offset"] - 2)
            assert f.read(2) == b"\x0f\x05"  # the syscall instruction the site returns to
    assert doc["named_calls"] >= 0.9 * doc["calls"]
    # The walk steps over Go's syscall layers to the code that called them.
    callers = {site["caller"]["symbol"] for _, _, site in go if site["caller"] is not None}
    assert any(c.startswith("os.") for c in callers), callers


def _symbol(lib: dict[str, Any], site: dict[str, Any]) -> str:
    return next(f["symbol"] for f in lib["functions"] if site in f["sites"])


@pytest.mark.live
def test_go_probe_sites_and_callers(tmp_path: Path) -> None:
    """A Go program built here and stripped: the raw syscall's caller is main's function, the
    write's the os package's (the walk goes past runtime, syscall and internal/poll)."""
    _, exe = build_probe(tmp_path)
    out = tmp_path / "probe.json"
    _record(exe, out, "seccomp")
    doc = _explain(out, "getpid", "write")
    getpid = _functions(doc, "getpid")
    assert list(getpid) and all(k == "go" and is_runtime(sym) for k, _, sym in getpid), getpid
    # The runtime calls getpid itself when it preempts a goroutine by signal (signalM: under
    # load, now and then): a caller in runtime, never one outside main and runtime.
    callers = _callers(doc, "getpid")
    assert (exe.name, "main.probeGetpid") in callers, callers
    assert all(name == exe.name and sym.startswith(("main.", "runtime."))
               for name, sym in callers), callers
    writes = _functions(doc, "write")
    assert all(k == "go" for k, _, _ in writes), writes
    assert {sym.split(".")[0] for _, sym in _callers(doc, "write")} == {"os"}
