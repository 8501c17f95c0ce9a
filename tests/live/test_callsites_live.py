"""Call sites recorded from real programs: libc's wrapper, the program's own function in a static
exe, ld.so, and ``explain`` naming most of the calls of ``ls``.

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
from helpers.cli import assert_one_error_line, cli
from helpers.compiler import needs_cc
from helpers.paths import LS_TRACE, TESTS

import seccomp_gen

SOURCE = TESTS / "c" / "sites_probe.c"
#: The names libc's write wrapper goes by (the one explain prints is the preferred alias).
WRITE_NAMES = {"write", "__write", "__libc_write"}
BACKENDS = ("seccomp", "ptrace")


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
    line = assert_one_error_line(cli("explain", str(LS_TRACE)), 1)
    assert "no call sites" in line and "version 1" in line
    res = cli("explain", str(out), "openat", "bpf")
    assert res.returncode == 0 and b"bpf: not made in this trace" in res.stdout
