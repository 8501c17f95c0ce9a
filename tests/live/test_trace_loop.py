"""The seccomp backend's compiled stop loop (``_native/trace_loop.c``) against its Python loop:
the same trace on real workloads, the header says which loop ran, no compiler falls back.

The recorder runs in a child (the CLI); no filter or tracer touches the pytest process.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
from helpers.backends import needs
from helpers.cli import assert_one_error_line, cli
from helpers.compiler import needs_cc
from helpers.record import comparable, counts_of, record_cli
from helpers.signals import assert_sigterm_reaches_busy_workload

import seccomp_gen
from seccomp_gen.recorders.seccomp import NOTE_NO_RESULTS
from seccomp_gen.recorders.trace_loop import (
    LOOP_ENV,
    NOTE_LOOP_C,
    NOTE_LOOP_FALLBACK,
    NOTE_LOOP_FORCED_PYTHON,
)
from seccomp_gen.syscalls.argspec import ARG_VALUE_CAP

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="Linux only")


def _record(cmd: list[str], out: Path, loop: str,
            monkeypatch: pytest.MonkeyPatch) -> seccomp_gen.Trace:
    """``seccomp-gen record --backend seccomp`` in a child with ``$SECCOMP_GEN_TRACE_LOOP``."""
    monkeypatch.setenv(LOOP_ENV, loop)
    res = record_cli(cmd, out, backend="seccomp")
    assert res.returncode == 0, res.stderr
    assert res.stderr == b""
    return seccomp_gen.load_trace(out)


def _loop_notes(trace: seccomp_gen.Trace) -> list[str]:
    return [n for n in trace.header.notes if n.startswith("stop loop:")]


@needs("seccomp")
@needs_cc
@pytest.mark.live
@pytest.mark.parametrize(("workload", "args"), [("getppid_loop", ["20000"]), ("forker", []),
                                                ("threads", []), ("int80", []),
                                                ("syscall_probe", ["-1", "4096", "0x40000027"])])
def test_c_loop_records_what_the_python_loop_records(
    workload: str, args: list[str], cbuild, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cmd = [cbuild[workload], *args]
    py = _record(cmd, tmp_path / "python.json", "python", monkeypatch)
    c = _record(cmd, tmp_path / "c.json", "c", monkeypatch)
    assert _loop_notes(py) == [NOTE_LOOP_FORCED_PYTHON]
    assert _loop_notes(c) == [NOTE_LOOP_C]
    assert NOTE_NO_RESULTS in c.header.notes
    # How often threads contend on a futex is up to the scheduler, not the recorder.
    skip = frozenset({"futex"}) if workload == "threads" else frozenset()
    assert comparable(c, skip) == comparable(py, skip)
    if workload == "getppid_loop":
        assert counts_of(c)[("x86_64", "getppid")] == 20000
    if workload == "forker":
        assert len(c.processes) == 5 and all(p.exit is not None for p in c.processes)
    if workload == "threads":
        clone3 = c.find("clone3", "x86_64")
        assert clone3 is not None and clone3.count == 4 and clone3.args is not None
        assert 0xFFFFFFFFFFFFFFFF not in {v[0] for v in clone3.args.values}  # read from memory
    if workload == "int80":
        assert {a for a, _ in counts_of(c)} >= {"x86_64", "x86"}


@needs("seccomp")
@needs_cc
@pytest.mark.live
def test_c_loop_keeps_the_same_capped_argument_values(
    cbuild, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """tests/c/argcap.c: which values past the cap are kept depends on the order they reached
    the recorder; C's queued rows are folded in before Python counts a call itself."""
    kept = {}
    for loop in ("python", "c"):
        trace = _record([cbuild["argcap"]], tmp_path / f"{loop}.json", loop, monkeypatch)
        ioctl = trace.find("ioctl", "x86_64")
        assert ioctl is not None and ioctl.count == 311 and ioctl.args is not None
        assert ioctl.args.capped
        kept[loop] = ioctl.args.values
    expected = {0x1000, *range(0x2000, 0x2000 + ARG_VALUE_CAP - 1)}
    assert {v[0] for v in kept["python"]} == expected
    assert kept["c"] == kept["python"]


@needs("seccomp")
@pytest.mark.live
@pytest.mark.parametrize("cc", ["missing", "failing"])
def test_c_loop_falls_back_to_the_python_loop(cc: str, cbuild, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """No compiler, or one that fails: the Python loop records the same trace, and the header
    says so; with the C loop forced, a one-line error instead."""
    cache = tmp_path / "cache"
    cache.mkdir()
    monkeypatch.setenv("SECCOMP_GEN_CACHE_DIR", str(cache))  # no earlier build is reused
    monkeypatch.setenv("CC", str(tmp_path / "no-such-cc") if cc == "missing"
                       else str(shutil.which("false")))
    cmd = [cbuild["forker"]]
    trace = _record(cmd, tmp_path / "fallback.json", "auto", monkeypatch)
    notes = _loop_notes(trace)
    assert len(notes) == 1 and notes[0].startswith(NOTE_LOOP_FALLBACK), notes
    assert ("not found" if cc == "missing" else "exit status 1") in notes[0]
    assert not list(cache.glob("*.so"))
    monkeypatch.delenv("CC")
    compiled = _record(cmd, tmp_path / "compiled.json", "auto", monkeypatch)
    assert _loop_notes(compiled) == [NOTE_LOOP_C]
    assert comparable(trace) == comparable(compiled)

    monkeypatch.setenv("CC", str(tmp_path / "no-such-cc"))
    monkeypatch.setenv("SECCOMP_GEN_CACHE_DIR", str(tmp_path / "empty"))
    monkeypatch.setenv(LOOP_ENV, "c")
    res = record_cli(cmd, tmp_path / "forced.json", backend="seccomp")
    line = assert_one_error_line(res, 125)
    assert "C stop loop" in line and LOOP_ENV in line
    assert not (tmp_path / "forced.json").exists()


@needs("seccomp")
@pytest.mark.live
def test_trace_loop_env_is_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(LOOP_ENV, "fast")
    res = cli("record", "-q", "--backend", "seccomp", "-o", str(tmp_path / "t.json"), "--", "true")
    assert LOOP_ENV in assert_one_error_line(res, 125)


@needs("seccomp")
@needs_cc
@pytest.mark.live
def test_c_loop_passes_a_signal_to_a_busy_workload(
        cbuild, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A SIGTERM that arrives while C handles a stop (most of the time, for a workload making
    calls back to back) still reaches the workload: C's loop never sees it as EINTR."""
    monkeypatch.setenv(LOOP_ENV, "c")
    assert_sigterm_reaches_busy_workload("seccomp", cbuild["getppid_loop"],
                                         tmp_path / "busy.json", timeout=10)
