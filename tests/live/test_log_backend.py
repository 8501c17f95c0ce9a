"""The log backend (RET_LOG + audit records read as audit daemon).

Real filters only in children: the log backend runs in a helper process (record_api) or the CLI,
each with a timeout and SIGKILL of its group on overrun. No filter is ever loaded into the pytest
process. The audit subsystem is machine-wide: only one of these tests may run at a time on a
machine (``-k log`` selects them all; ``-k 'not log'`` leaves them out).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pytest
from helpers.audit import audit_settings, restore_audit_settings
from helpers.backends import needs
from helpers.cli import CLI, PYTHON, assert_one_error_line, cli, run
from helpers.procs import MARKER_ENV, kill_marked, marked_processes, wait_for_sleeping_child
from helpers.record import counts_of, record_api
from helpers.sites import assert_probe_sites, sites_of

import seccomp_gen
from seccomp_gen.linux.codemaps import UNKNOWN
from seccomp_gen.recorders.log import NOTE_NO_ARGS, AuditSocket

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="Linux only")



def _audit_status() -> tuple[int, int, int, int]:
    conn = AuditSocket()
    try:
        s = conn.status()
    finally:
        conn.close()
    return s.pid, s.enabled, s.rate_limit, s.backlog_limit


# --- the log backend ------------------------------------------------------------------------------


@needs("log")
@pytest.mark.live
def test_log_backend_loses_nothing(cbuild, tmp_path: Path) -> None:
    before = _audit_status()
    trace = record_api([cbuild["getppid_loop"]], tmp_path, backend="log")
    getppid = trace.find("getppid", "x86_64")
    assert getppid is not None and getppid.count == 100000
    assert trace.header.backend == "log"
    assert not trace.header.records_args and not trace.header.records_results
    assert NOTE_NO_ARGS in trace.header.notes
    assert not any("lost" in n for n in trace.header.notes), trace.header.notes
    assert trace.header.exit == seccomp_gen.ExitStatus(code=0)
    assert all(r.args is None and r.results == {} for r in trace.syscalls)
    # Everything we changed is back: nobody is the audit daemon, same settings.
    assert _audit_status() == before


@needs("log", "ptrace")
@pytest.mark.live
@pytest.mark.parametrize("workload", ["ls", "getppid_loop", "shell"])
def test_log_and_ptrace_see_the_same_syscalls(workload: str, cbuild, tmp_path: Path) -> None:
    cmd = {
        "ls": ["ls", "-la", "/"],
        "getppid_loop": [cbuild["getppid_loop"], "3000"],
        # fork + exec, and an orphan that outlives its parent (re-parented to the recorder).
        "shell": ["sh", "-c", "ls / >/dev/null; cat /etc/hostname >/dev/null; (sleep 0.2 &)"],
    }[workload]
    log = record_api(cmd, tmp_path, backend="log", name="log")
    pt = record_api(cmd, tmp_path, backend="ptrace", name="ptrace")
    assert log.syscall_set() == pt.syscall_set()
    assert counts_of(log) == counts_of(pt)
    assert len(log.processes) == len(pt.processes)


@needs("log", "ptrace")
@pytest.mark.live
def test_log_call_sites_are_right_or_unknown(cbuild, tmp_path: Path) -> None:
    """Sites are resolved when a record is read: exact for a process still alive then (the
    probe sleeps after its calls), ``[unknown]`` once it is gone (the probe that exits at once;
    exit_group always; execve, whose image is replaced), and never another place than ptrace
    sees."""
    probe = os.path.realpath(cbuild["site_probe"])
    late = frozenset({"execve", "exit_group"})
    log = sites_of(record_api([probe, "7", "+2"], tmp_path, backend="log", name="alive"))
    assert_probe_sites(log, probe, 7, unknown=late)
    assert log["execve"] == Counter({(UNKNOWN, 0): 1})
    pt = sites_of(record_api([probe, "7", "+2"], tmp_path, backend="ptrace", name="pt"))
    assert {k: v for k, v in log.items() if k not in late} == {
        k: v for k, v in pt.items() if k not in late}
    gone = record_api([probe, "7"], tmp_path, backend="log", name="gone")
    assert gone.header.records_sites
    pt = sites_of(record_api([probe, "7"], tmp_path, backend="ptrace", name="pt-gone"))
    for r in gone.syscalls:
        assert sum(s.count for s in r.sites) == r.count, r.name
        for s in r.sites:
            assert (s.where.path, s.where.offset) in {*pt[r.name], (UNKNOWN, 0)}, (r.name, s)


#: argv: OUT COMMAND...: a log recording in this helper, the trace written to OUT; prints how
#: its drain ended and how many end markers it made (read off the session, kept as it runs).
_DRAIN_SCRIPT = textwrap.dedent("""
    import json, sys
    import seccomp_gen
    from seccomp_gen.recorders import log
    kept = []
    run = log._LogSession.run
    def keep(self):
        kept.append(self)
        return run(self)
    log._LogSession.run = keep
    seccomp_gen.dump_trace(seccomp_gen.record(sys.argv[2:], backend="log"), sys.argv[1])
    print(json.dumps([kept[0].drain_end, len(kept[0].markers)]))
""")


def _drained(cmd: list[str], out: Path, *, marker: bool) -> tuple[seccomp_gen.Trace, str, int]:
    """A log recording of ``cmd`` (``marker=False``: its end marker cannot be made, through the
    test hook): the trace, how its drain ended, and how many markers it made."""
    from seccomp_gen.recorders.log import NO_MARKER_ENV

    env = {k: v for k, v in os.environ.items() if k != NO_MARKER_ENV}
    if not marker:
        env[NO_MARKER_ENV] = "1"
    res = run([PYTHON, "-c", _DRAIN_SCRIPT, str(out), *cmd], env=env)
    assert res.returncode == 0, res.stderr.decode(errors="replace")[-3000:]
    end, made = json.loads(res.stdout.decode().splitlines()[-1])
    return seccomp_gen.load_trace(out), end, made


@needs("log")
@pytest.mark.live
def test_log_ends_at_its_end_marker_and_without_one_still_reads_everything(
    cbuild, tmp_path: Path
) -> None:
    """After the tree has ended, one record of the recorder's own (a child's keyed getppid)
    marks the end: the drain stops at it, with one marker (a second one is made only after a
    0.25 s quiet), and it is not in the trace (100,000 getppid calls, not one more). Where no
    marker can be made the drain ends as before, by counting or a quiet queue, and still reads
    every record: the same counts."""
    loop = cbuild["getppid_loop"]
    for cmd in (["true"], [loop]):
        name = os.path.basename(cmd[0])
        exe = os.path.realpath(shutil.which(cmd[0]) or cmd[0])
        fast, end, made = _drained(cmd, tmp_path / f"{name}.marker.json", marker=True)
        assert (end, made) == ("marker", 1), cmd
        slow, end, made = _drained(cmd, tmp_path / f"{name}.fallback.json", marker=False)
        assert end in ("counted", "quiet") and made == 0, (cmd, end)
        for trace in (fast, slow):
            assert trace.header.exit == seccomp_gen.ExitStatus(code=0)
            assert [list(p.exes) for p in trace.processes] == [[exe]], cmd  # not the marker's
            assert not any("missing" in n or "lost" in n for n in trace.header.notes), (
                trace.header.notes)
        assert counts_of(fast) == counts_of(slow), cmd
        getppid = counts_of(fast).get(("x86_64", "getppid"), 0)
        assert getppid == (100000 if cmd == [loop] else 0), cmd


@needs("log")
@pytest.mark.live
def test_log_exit_status_and_cli(tmp_path: Path) -> None:
    out = tmp_path / "t.json"
    res = cli("record", "-q", "--backend", "log", "-o", str(out), "--", "sh", "-c", "exit 7")
    assert res.returncode == 7, res.stderr
    doc = json.loads(out.read_text())
    assert doc["header"]["backend"] == "log"


@needs("log")
@pytest.mark.live
def test_log_refuses_when_another_daemon_owns_the_audit_log(tmp_path: Path) -> None:
    holder = textwrap.dedent("""
        import sys, time
        from seccomp_gen.linux.audit import AuditSocket, STATUS_PID
        import os
        c = AuditSocket()
        c.set(STATUS_PID, pid=os.getpid())
        print("ready", flush=True)
        sys.stdin.read()
        c.set(STATUS_PID, pid=0)
    """)
    proc = subprocess.Popen([PYTHON, "-c", holder], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, start_new_session=True)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == b"ready"
        marker = tmp_path / "ran"
        res = cli("record", "-q", "--backend", "log", "-o", str(tmp_path / "t.json"), "--",
                  "touch", str(marker))
        line = assert_one_error_line(res)
        assert "audit daemon" in line and str(proc.pid) in line
        assert not marker.exists()
    finally:
        proc.communicate(b"", timeout=30)
    assert _audit_status()[0] == 0


@needs("log")
@pytest.mark.live
def test_log_restores_audit_settings_after_ctrl_c(tmp_path: Path) -> None:
    """Ctrl-C (SIGINT to the recorder) ends the workload, and the audit settings the recorder
    changed (daemon pid, rate limit, backlog limit) are back to what they were before."""
    from seccomp_gen.recorders.log import STATUS_BACKLOG_LIMIT, STATUS_RATE_LIMIT

    saved = _audit_status()
    conn = AuditSocket()
    try:
        # Distinctive values the recorder must change (rate 0, backlog raised) and then restore.
        conn.set(STATUS_RATE_LIMIT | STATUS_BACKLOG_LIMIT, rate_limit=7, backlog_limit=77)
        before = _audit_status()
        assert before[2:] == (7, 77)
        out = tmp_path / "t.json"
        proc = subprocess.Popen([*CLI, "record", "-q", "--backend", "log", "-o", str(out), "--",
                                 "sleep", "30"], stdin=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, start_new_session=True)
        try:
            # The workload runs once the recorder is registered with its limits set (reading the
            # status as soon as the pid is registered raced with setting the limits).
            wait_for_sleeping_child(proc, "sleep")
            during = _audit_status()
            assert during[0] == proc.pid
            assert during[2] == 0 and during[3] > 77  # the recorder's own settings
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        assert proc.returncode == 128 + signal.SIGINT, err
        assert _audit_status() == (0, *before[1:])
        assert seccomp_gen.load_trace(out).header.exit == seccomp_gen.ExitStatus(signal=2)
    finally:
        conn.set(STATUS_RATE_LIMIT | STATUS_BACKLOG_LIMIT, rate_limit=saved[2],
                 backlog_limit=saved[3])
        conn.close()


# --- the log backend against signals, other audit traffic and SIGKILL (issue 11, item 2) --------


@pytest.fixture
def distinct_audit_settings() -> Iterator[tuple[int, int, int, int]]:
    """rate_limit 7 and backlog_limit 77, values a log recording must change and then set back;
    yields the audit status with them (pid, enabled, rate_limit, backlog_limit) and puts the
    machine's own settings back afterwards."""
    from seccomp_gen.recorders.log import STATUS_BACKLOG_LIMIT, STATUS_RATE_LIMIT

    saved = audit_settings()
    conn = AuditSocket()
    try:
        conn.set(STATUS_RATE_LIMIT | STATUS_BACKLOG_LIMIT, rate_limit=7, backlog_limit=77)
    finally:
        conn.close()
    try:
        status = _audit_status()
        assert status[2:] == (7, 77)
        yield status
    finally:
        restore_audit_settings(saved)


def _state_file() -> Path:
    from seccomp_gen.recorders.audit_state import STATE_DIR, STATE_NAME

    return STATE_DIR / STATE_NAME


def _read_until(stream: IO[bytes], needle: bytes, timeout: float) -> bytes:
    """Read ``stream`` (a pipe) until ``needle`` has come; fail after ``timeout``."""
    import select

    seen = b""
    deadline = time.monotonic() + timeout
    while needle not in seen:
        left = deadline - time.monotonic()
        assert left > 0, f"{needle!r} never came; got {seen!r}"
        ready, _, _ = select.select([stream], [], [], left)
        if ready:
            chunk = os.read(stream.fileno(), 4096)
            assert chunk, f"the recorder ended before {needle!r}; got {seen!r}"
            seen += chunk
    return seen


def _interrupted_recording(tmp_path: Path, cmd: list[str], *, pause: str | None = None,
                           delay: float = 0.0) -> tuple[int, list[str], Path]:
    """A log recording of ``cmd`` that gets a Ctrl-C (SIGINT) at the test pause ``pause``, or
    ``delay`` seconds after it took the log backend's lock (its first step); returns its exit
    status, its stderr lines (the pause's own line left out) and the trace path. Fails if any
    process of the workload is left running."""
    from seccomp_gen.recorders.audit_state import lock_held
    from seccomp_gen.recorders.log import PAUSE_ENV

    marker = f"{os.getpid()}-{time.monotonic_ns()}"
    env = {**os.environ, MARKER_ENV: marker}
    if pause is not None:
        env[PAUSE_ENV] = pause
    out = tmp_path / f"int-{pause or delay}.trace.json"
    rec = subprocess.Popen([*CLI, "record", "-q", "--backend", "log", "-o", str(out), "--",
                            *cmd], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, start_new_session=True, env=env)
    try:
        assert rec.stderr is not None
        seen = b""
        if pause is not None:
            seen = _read_until(rec.stderr, f"test pause at {pause}\n".encode(), 30)
        else:
            deadline = time.monotonic() + 30
            while not lock_held():
                assert rec.poll() is None and time.monotonic() < deadline, "never started"
                time.sleep(0.002)
            time.sleep(delay)
        rec.send_signal(signal.SIGINT)
        try:
            _, rest = rec.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the recorder did not end after a Ctrl-C ({pause or delay})")
        lines = [line for line in (seen + rest).decode(errors="replace").splitlines()
                 if "test pause at" not in line]
        deadline = time.monotonic() + 5
        while marked_processes(marker) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert marked_processes(marker) == [], f"workload left running ({pause or delay})"
        return rec.returncode, lines, out
    finally:
        if rec.poll() is None:
            os.killpg(rec.pid, signal.SIGKILL)
            rec.wait()
        kill_marked(marker)


def _assert_trace_or_one_line(status: int, lines: list[str], out: Path, workload_exit: Any,
                              when: str) -> str:
    """What a Ctrl-C may leave: the trace (and the workload's status), or one error line and no
    trace. Returns which."""
    assert not any("Traceback" in line for line in lines), (when, lines)
    if out.exists():
        assert lines == [], (when, lines)
        trace = seccomp_gen.load_trace(out)
        assert trace.header.exit == workload_exit, when
        assert status == trace.header.exit.shell_status, when
        return "trace"
    assert len(lines) == 1 and lines[0].startswith("seccomp-gen: error: interrupted by SIGINT"), (
        when, lines)
    assert status == 128 + signal.SIGINT, when
    return "error"


@needs("log")
@pytest.mark.live
def test_log_ctrl_c_at_every_moment_restores_everything(
    distinct_audit_settings: tuple[int, int, int, int], tmp_path: Path
) -> None:
    """A Ctrl-C at each step of a log recording (held there by the test-only pause), and at
    moments from right after its start: every time the trace is written (the workload got the
    signal) or there is one line and the workload never ran; the audit status -- daemon pid,
    enabled, rate_limit, backlog_limit -- is what it was; no state file and nothing of the
    workload is left."""
    from seccomp_gen.recorders.log import PAUSE_POINTS

    before = distinct_audit_settings
    killed = seccomp_gen.ExitStatus(signal=signal.SIGINT)
    outcomes: dict[str, str] = {}
    for point in PAUSE_POINTS:
        ends_by_itself = point in ("ended", "restoring")  # the workload ends before these
        cmd = ["true"] if ends_by_itself else ["sleep", "30"]
        status, lines, out = _interrupted_recording(tmp_path, cmd, pause=point)
        expected = seccomp_gen.ExitStatus(code=0) if ends_by_itself else killed
        outcomes[point] = _assert_trace_or_one_line(status, lines, out, expected, point)
        assert _audit_status() == before, point
        assert not _state_file().exists(), point
    # Before the workload exists: no workload; once it does, it gets the signal.
    assert outcomes == {"start": "error", "locked": "error", "saved": "error",
                        "registering": "error", "registered": "error", "spawned": "trace",
                        "ended": "trace", "restoring": "trace"}
    for delay in (0.0, 0.005, 0.01, 0.02, 0.04, 0.07, 0.1, 0.15, 0.25, 0.4):
        status, lines, out = _interrupted_recording(tmp_path, ["sleep", "30"], delay=delay)
        _assert_trace_or_one_line(status, lines, out, killed, f"after {delay} s")
        assert _audit_status() == before, delay
        assert not _state_file().exists(), delay


_NOISE = textwrap.dedent("""
    import os, time, pyseccomp
    f = pyseccomp.SyscallFilter(pyseccomp.LOG)  # every call of this process is logged
    f.load()
    print("noisy", flush=True)
    while True:
        os.getppid()
        time.sleep(0.0005)
""")


@contextlib.contextmanager
def audit_noise() -> Iterator[subprocess.Popen[bytes]]:
    """Another program making seccomp audit records all the time (its own RET_LOG filter, a
    few thousand records a second), SIGKILLed at the end."""
    proc = subprocess.Popen([PYTHON, "-c", _NOISE], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, start_new_session=True)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == b"noisy\n"
        yield proc
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


@needs("log")
@pytest.mark.live
def test_log_ends_and_is_right_while_another_program_logs(tmp_path: Path) -> None:
    """Records of another program arriving all the time neither keep the recorder waiting for
    a quiet moment (it used to run as long as they came) nor get into the trace. The fail
    condition is the subprocess timeout, not a speed measurement."""
    quiet = record_api(["true"], tmp_path, backend="log", name="quiet")
    with audit_noise() as noise:
        out = tmp_path / "noisy.trace.json"
        res = run([*CLI, "record", "-q", "--backend", "log", "-o", str(out), "--", "true"],
                  timeout=60)
        assert res.returncode == 0, res.stderr
        # Its records are getppid calls logged, as the end marker's is: only the pid tells them
        # apart. With a marker and without one (counting), the same trace.
        marked, end, made = _drained(["true"], tmp_path / "noisy-marked.json", marker=True)
        assert (end, made) == ("marker", 1)
        counted, end, made = _drained(["true"], tmp_path / "noisy-counted.json", marker=False)
        assert end in ("counted", "quiet") and made == 0, end
        assert noise.poll() is None  # it was logging all along
    noisy = seccomp_gen.load_trace(out)
    assert counts_of(noisy) == counts_of(quiet) == counts_of(marked) == counts_of(counted)
    assert [p.exes for p in noisy.processes] == [p.exes for p in quiet.processes]
    assert ("x86_64", "getppid") not in counts_of(noisy)  # the noise's own call
    assert not any("stopped reading" in n for n in noisy.header.notes), noisy.header.notes


@needs("log")
@pytest.mark.live
@pytest.mark.parametrize("reaped", [True, False], ids=["reaped", "zombie"])
def test_log_recovers_from_a_sigkilled_recorder(
    reaped: bool, distinct_audit_settings: tuple[int, int, int, int], tmp_path: Path
) -> None:
    """SIGKILL leaves the audit settings changed and the dead recorder registered; the next log
    recording puts back the settings the killed one had saved, and says so. A zombie (its
    parent has not reaped it) is as dead as a reaped process: no 'stop auditd' refusal."""
    before = distinct_audit_settings
    marker = f"{os.getpid()}-{time.monotonic_ns()}"
    rec = subprocess.Popen([*CLI, "record", "-q", "--backend", "log", "-o",
                            str(tmp_path / "killed.json"), "--", "sleep", "30"],
                           stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, start_new_session=True,
                           env={**os.environ, MARKER_ENV: marker})
    try:
        wait_for_sleeping_child(rec, "sleep")
        os.kill(rec.pid, signal.SIGKILL)
        if reaped:
            rec.wait(timeout=30)
        else:
            deadline = time.monotonic() + 10
            while Path(f"/proc/{rec.pid}/stat").read_text().split(") ")[1][0] != "Z":
                assert time.monotonic() < deadline
                time.sleep(0.01)
        stale = _audit_status()
        # What it left: its limits, and its registration -- unless another program's audit
        # record came since, for which the kernel found the daemon's socket gone and dropped it.
        assert stale[0] in (rec.pid, 0) and stale[2:] == (0, 1 << 20)
        assert _state_file().exists()
        res = run([PYTHON, "-c", "from seccomp_gen.recorders import unavailable_reasons; "
                   "print(unavailable_reasons()['log'])"])
        assert res.stdout.decode().strip() == "None", res.stdout
        out = tmp_path / "next.trace.json"
        res = cli("record", "-q", "--backend", "log", "-o", str(out), "--", "true")
        assert res.returncode == 0, res.stderr
        notes = seccomp_gen.load_trace(out).header.notes
        assert any(f"(pid {rec.pid}) had been killed" in n and "rate_limit 0 -> 7" in n
                   and "backlog_limit 1048576 -> 77" in n for n in notes), notes
        assert _audit_status() == before
        assert not _state_file().exists()
        assert marked_processes(marker) == []  # and its workload died with it (item 4)
    finally:
        if rec.poll() is None:
            rec.kill()
        rec.wait()
        kill_marked(marker)


@needs("log")
@pytest.mark.live
def test_log_refuses_while_another_log_recording_runs(tmp_path: Path) -> None:
    """Two log recordings at once: the second says in one line that the first (by pid) uses
    the audit log, and runs nothing; the first is not disturbed."""
    first = subprocess.Popen([*CLI, "record", "-q", "--backend", "log", "-o",
                              str(tmp_path / "first.json"), "--", "sleep", "30"],
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, start_new_session=True)
    try:
        wait_for_sleeping_child(first, "sleep")
        marker = tmp_path / "ran"
        res = cli("record", "-q", "--backend", "log", "-o", str(tmp_path / "second.json"), "--",
                  "touch", str(marker))
        line = assert_one_error_line(res, 125)
        assert f"another seccomp-gen recording (pid {first.pid}) is using the audit log" in line
        assert not marker.exists()
        first.send_signal(signal.SIGTERM)
        _, err = first.communicate(timeout=30)
        assert first.returncode == 128 + signal.SIGTERM, err
        assert seccomp_gen.load_trace(tmp_path / "first.json").header.exit == \
            seccomp_gen.ExitStatus(signal=signal.SIGTERM)
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
            first.wait()
    assert _audit_status()[0] == 0
