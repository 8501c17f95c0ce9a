"""The compiled loops against the Python loops they stand in for: the seccomp backend's stop loop
(``_native/trace_loop.c``) and the notify backend's supervisor (``_native/notify_supervisor.c``).

For each: the same trace on real workloads, the header says which loop ran, no compiler (or a
failing one) falls back to the Python loop with the same trace, the environment variable is
checked, and a signal reaches the workload. The recorder runs in a child (the CLI); no filter or
tracer touches the pytest process.
"""

from __future__ import annotations

import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from helpers.backends import needs
from helpers.cli import assert_one_error_line
from helpers.compiler import needs_cc
from helpers.record import comparable, counts_of, record_cli
from helpers.signals import assert_sigterm_reaches_busy_workload, sigterm_recorder

import seccomp_gen
from seccomp_gen.recorders import notify, seccomp, trace_loop
from seccomp_gen.syscalls.argspec import ARG_VALUE_CAP

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="Linux only")


@dataclass(frozen=True)
class Loop:
    """A backend's compiled loop, as the tests see it."""

    backend: str
    env: str
    #: How its header notes begin, and the notes themselves.
    prefix: str
    compiled: str
    forced_python: str
    fallback: str
    no_results: str
    #: What a forced build failure names.
    what: str


LOOPS = {
    "seccomp": Loop("seccomp", trace_loop.LOOP_ENV, "stop loop:", trace_loop.NOTE_LOOP_C,
                    trace_loop.NOTE_LOOP_FORCED_PYTHON, trace_loop.NOTE_LOOP_FALLBACK,
                    seccomp.NOTE_NO_RESULTS, "C stop loop"),
    "notify": Loop("notify", notify.SUPERVISOR_ENV, "supervisor:", notify.NOTE_SUPERVISOR_C,
                   notify.NOTE_SUPERVISOR_FORCED_PYTHON, notify.NOTE_SUPERVISOR_FALLBACK,
                   notify.NOTE_NO_RESULTS, "C supervisor"),
}


@pytest.fixture(params=sorted(LOOPS))
def loop(request: pytest.FixtureRequest) -> Loop:
    """Each backend with a compiled loop, skipped where the backend cannot run."""
    chosen = LOOPS[request.param]
    why = seccomp_gen.recorders.get_backend(chosen.backend).unavailable()
    if why is not None:
        pytest.skip(f"backend {chosen.backend} is unavailable: {why}")
    return chosen


def _record(loop: Loop, cmd: list[str], out: Path, mode: str,
            monkeypatch: pytest.MonkeyPatch) -> seccomp_gen.Trace:
    """``seccomp-gen record --backend BACKEND`` in a child, its loop chosen by ``mode``."""
    monkeypatch.setenv(loop.env, mode)
    res = record_cli(cmd, out, backend=loop.backend)
    assert res.returncode == 0, res.stderr
    assert res.stderr == b""
    return seccomp_gen.load_trace(out)


def _notes(loop: Loop, trace: seccomp_gen.Trace) -> list[str]:
    return [n for n in trace.header.notes if n.startswith(loop.prefix)]


@needs_cc
@pytest.mark.live
@pytest.mark.parametrize(("workload", "args"), [("getppid_loop", ["20000"]), ("forker", []),
                                                ("threads", []), ("int80", []),
                                                ("site_reuse", [])])
def test_compiled_loop_records_what_the_python_loop_records(
    loop: Loop, workload: str, args: list[str], cbuild, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch
) -> None:
    cmd = [cbuild[workload], *args]
    py = _record(loop, cmd, tmp_path / "python.json", "python", monkeypatch)
    c = _record(loop, cmd, tmp_path / "c.json", "c", monkeypatch)
    assert _notes(loop, py) == [loop.forced_python]
    assert _notes(loop, c) == [loop.compiled]
    assert loop.no_results in c.header.notes
    # How often threads contend on a futex is up to the scheduler, not the recorder.
    skip = frozenset({"futex"}) if workload == "threads" else frozenset()
    assert comparable(c, skip) == comparable(py, skip)
    if workload == "getppid_loop":
        assert counts_of(c)[("x86_64", "getppid")] == 20000
    if workload == "forker":
        assert len(c.processes) == 5
    if workload == "threads":
        clone3 = c.find("clone3", "x86_64")
        assert clone3 is not None and clone3.count == 4 and clone3.args is not None
        assert 0xFFFFFFFFFFFFFFFF not in {v[0] for v in clone3.args.values}  # read from memory
    if workload == "int80":
        assert {a for a, _ in counts_of(c)} >= {"x86_64", "x86"}
    if workload == "site_reuse":
        # Both getppid sites (libc's wrapper, syscall()) sampled, the second though C knew its
        # syscall and its site: the caller is main for each.
        getppid = c.find("getppid", "x86_64")
        assert getppid is not None and len(getppid.sites) == 2
        assert {(s.caller.symbol if s.caller else None) for s in getppid.sites} == {"main"}


@needs_cc
@pytest.mark.live
@pytest.mark.parametrize("backend", ["seccomp", "notify"])
def test_compiled_loop_counts_odd_syscall_numbers(
    backend: str, cbuild, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """-1, a number no ABI has, and x32's getpid twice (the second counted by C): Python keys
    numbers above 2^31 its own way, so those come back to it every time."""
    loop = LOOPS[backend]
    cmd = [cbuild["syscall_probe"], "-1", "4096", "0x40000027", "0x40000027"]
    py = _record(loop, cmd, tmp_path / "python.json", "python", monkeypatch)
    c = _record(loop, cmd, tmp_path / "c.json", "c", monkeypatch)
    assert comparable(c) == comparable(py)
    assert counts_of(c)[("x32", "getpid")] == 2


@needs_cc
@pytest.mark.live
def test_compiled_loop_keeps_the_same_capped_argument_values(
    loop: Loop, cbuild, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """tests/c/argcap.c: which values past the cap are kept depends on the order they reached
    the recorder; C's queued rows are folded in before Python counts a call itself."""
    kept = {}
    for mode in ("python", "c"):
        trace = _record(loop, [cbuild["argcap"]], tmp_path / f"{mode}.json", mode, monkeypatch)
        ioctl = trace.find("ioctl", "x86_64")
        assert ioctl is not None and ioctl.count == 311 and ioctl.args is not None
        assert ioctl.args.capped
        kept[mode] = ioctl.args.values
    expected = {0x1000, *range(0x2000, 0x2000 + ARG_VALUE_CAP - 1)}
    assert {v[0] for v in kept["python"]} == expected
    assert kept["c"] == kept["python"]


@pytest.mark.live
@pytest.mark.parametrize("cc", ["missing", "failing"])
def test_no_compiler_falls_back_to_the_python_loop(loop: Loop, cc: str, cbuild, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """No compiler, or one that fails, and an empty cache: the Python loop records the trace
    the compiled loop records, and the header says so; with the C loop forced, a one-line
    error instead."""
    cache = tmp_path / "cache"
    cache.mkdir()
    monkeypatch.setenv("SECCOMP_GEN_CACHE_DIR", str(cache))  # no earlier build is reused
    monkeypatch.setenv("CC", str(tmp_path / "no-such-cc") if cc == "missing"
                       else str(shutil.which("false")))
    cmd = [cbuild["forker"]]
    trace = _record(loop, cmd, tmp_path / "fallback.json", "auto", monkeypatch)
    notes = _notes(loop, trace)
    assert len(notes) == 1 and notes[0].startswith(loop.fallback), notes
    assert ("not found" if cc == "missing" else "exit status 1") in notes[0]
    assert loop.no_results in trace.header.notes
    assert len(trace.processes) == 5
    assert not list(cache.glob("*.so"))
    if shutil.which("gcc") or shutil.which("cc"):
        monkeypatch.delenv("CC")
        compiled = _record(loop, cmd, tmp_path / "compiled.json", "auto", monkeypatch)
        assert _notes(loop, compiled) == [loop.compiled]
        assert comparable(trace) == comparable(compiled)

    monkeypatch.setenv("CC", str(tmp_path / "no-such-cc"))
    monkeypatch.setenv("SECCOMP_GEN_CACHE_DIR", str(tmp_path / "empty"))
    monkeypatch.setenv(loop.env, "c")
    res = record_cli(cmd, tmp_path / "forced.json", backend=loop.backend)
    line = assert_one_error_line(res, 125)
    assert loop.what in line and loop.env in line
    assert not (tmp_path / "forced.json").exists()


@pytest.mark.live
def test_loop_env_is_checked(loop: Loop, tmp_path: Path,
                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(loop.env, "fortran")
    res = record_cli(["true"], tmp_path / "t.json", backend=loop.backend)
    assert loop.env in assert_one_error_line(res, 125)


@needs("seccomp")
@needs_cc
@pytest.mark.live
def test_c_stop_loop_passes_a_signal_to_a_busy_workload(
        cbuild, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A SIGTERM that arrives while C handles a stop (most of the time, for a workload making
    calls back to back) still reaches the workload: C's loop never sees it as EINTR."""
    monkeypatch.setenv(trace_loop.LOOP_ENV, "c")
    assert_sigterm_reaches_busy_workload("seccomp", cbuild["getppid_loop"],
                                         tmp_path / "busy.json", timeout=10)


@needs_cc
@pytest.mark.live
def test_compiled_loop_passes_a_signal_to_an_idle_workload(
        loop: Loop, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The C loop sleeps (in poll() or waitpid) while the workload sleeps: the signal must still
    reach Python's handler and be forwarded at once (``sleep 60`` ends within 5 s)."""
    monkeypatch.setenv(loop.env, "c")
    trace = sigterm_recorder(loop.backend, ["sleep", "60"], "sleep", tmp_path / "idle.json",
                             timeout=5)
    assert loop.compiled in trace.header.notes
