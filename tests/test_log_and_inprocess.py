"""The log backend (RET_LOG + audit records read as audit daemon) and in-process recording().

Real filters only in children: the log backend runs in a helper process (record_api), and every
recording() block runs in a ``python -c`` subprocess with a timeout and SIGKILL of its group on
overrun. No filter is ever loaded into the pytest process.
"""

from __future__ import annotations

import json
import os
import sys
import textwrap
from pathlib import Path

import pytest
from test_record_live import CLI, PYTHON, assert_one_error_line, cli, counts_of, record_api, run

import seccomp_gen
from seccomp_gen.recorders import AUTO_ORDER, BACKENDS, get_backend, unavailable_reasons
from seccomp_gen.recorders.log_backend import NOTE_NO_ARGS, AuditSocket
from seccomp_gen.recording import ALWAYS_ALLOWED, build_program

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="Linux only")

_REASONS = unavailable_reasons()
needs_log = pytest.mark.skipif(_REASONS["log"] is not None, reason=f"log: {_REASONS['log']}")
needs_log_and_ptrace = pytest.mark.skipif(
    _REASONS["log"] is not None or _REASONS["ptrace"] is not None,
    reason=f"needs log and ptrace: {_REASONS}",
)


def _audit_status() -> tuple[int, int, int, int]:
    conn = AuditSocket()
    try:
        s = conn.status()
    finally:
        conn.close()
    return s.pid, s.enabled, s.rate_limit, s.backlog_limit


# --- the log backend ------------------------------------------------------------------------------


def test_log_is_a_backend_but_not_auto() -> None:
    assert "log" in BACKENDS and "log" not in AUTO_ORDER
    assert AUTO_ORDER == ("seccomp", "ptrace")
    why = _REASONS["log"]
    assert why is None or (why and "\n" not in why)
    if _REASONS["seccomp"] is None:
        assert get_backend("auto").name == "seccomp"


def test_backend_help_lists_log() -> None:
    res = cli("record", "--help")
    assert res.returncode == 0
    assert "log" in res.stdout.decode()


@needs_log
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


@needs_log_and_ptrace
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


@needs_log
@pytest.mark.live
def test_log_exit_status_and_cli(tmp_path: Path) -> None:
    out = tmp_path / "t.json"
    res = cli("record", "-q", "--backend", "log", "-o", str(out), "--", "sh", "-c", "exit 7")
    assert res.returncode == 7, res.stderr
    doc = json.loads(out.read_text())
    assert doc["header"]["backend"] == "log"


@needs_log
@pytest.mark.live
def test_log_refuses_when_another_daemon_owns_the_audit_log(tmp_path: Path) -> None:
    holder = textwrap.dedent("""
        import sys, time
        from seccomp_gen.recorders.log_backend import AuditSocket, STATUS_PID
        import os
        c = AuditSocket()
        c.set(STATUS_PID, pid=os.getpid())
        print("ready", flush=True)
        sys.stdin.read()
        c.set(STATUS_PID, pid=0)
    """)
    import subprocess

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


@needs_log
@pytest.mark.live
def test_log_restores_audit_settings_after_ctrl_c(tmp_path: Path) -> None:
    """Ctrl-C (SIGINT to the recorder) ends the workload, and the audit settings the recorder
    changed (daemon pid, rate limit, backlog limit) are back to what they were before."""
    import signal
    import subprocess
    import time

    from seccomp_gen.recorders.log_backend import STATUS_BACKLOG_LIMIT, STATUS_RATE_LIMIT

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
            deadline = time.monotonic() + 30
            while _audit_status()[0] != proc.pid:
                assert proc.poll() is None and time.monotonic() < deadline, "never registered"
                time.sleep(0.05)
            during = _audit_status()
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


# --- in-process recording ------------------------------------------------------------------------


def test_filter_allows_own_instruction_and_always_allowed() -> None:
    prog = build_program(0x7F0011223344)
    assert len(prog) % 8 == 0
    ks = [int.from_bytes(prog[i + 4:i + 8], "little") for i in range(0, len(prog), 8)]
    assert 0x11223344 in ks and 0x7F00 in ks
    for nr in ALWAYS_ALLOWED.values():
        assert nr in ks
    assert ks[-2:] == [0x00030000, 0x7FFF0000]  # TRAP, ALLOW


_INPROCESS = textwrap.dedent("""
    import json, os, sys, tempfile, threading
    import seccomp_gen
    fd, path = tempfile.mkstemp(); os.close(fd)
    outside = (os.getppid(), os.getpid(), os.getuid())
    def missing():
        try:
            os.open("/nonexistent-dir/x", os.O_RDONLY)
        except OSError as e:
            return (type(e).__name__, e.errno)
    missing_outside = missing()
    seen = {}
    def in_thread():
        seen["uid"] = os.getuid()
        seen["tid"] = threading.get_native_id()
    with seccomp_gen.recording() as rec:
        inside = (os.getppid(), os.getpid(), os.getuid())
        fd = os.open(path, os.O_RDONLY)
        os.close(fd)
        missing_inside = missing()
        t = threading.Thread(target=in_thread)
        t.start(); t.join()
    after = (os.getppid(), missing())
    seccomp_gen.dump_trace(rec.trace, sys.argv[1])
    print(json.dumps({"outside": outside, "inside": inside, "after": after,
                      "missing_outside": missing_outside, "missing_inside": missing_inside,
                      "thread": seen}))
""")


@pytest.mark.live
def test_inprocess_recording(tmp_path: Path) -> None:
    out = tmp_path / "block.trace.json"
    res = run([PYTHON, "-c", _INPROCESS, str(out)], timeout=120)
    assert res.returncode == 0, res.stderr.decode(errors="replace")
    got = json.loads(res.stdout)
    # Behaviour unchanged: the same values, and errno preserved.
    assert got["inside"] == got["outside"]
    assert got["missing_inside"] == got["missing_outside"] == ["FileNotFoundError", 2]
    assert got["after"] == [got["outside"][0], ["FileNotFoundError", 2]]
    trace = seccomp_gen.load_trace(out)  # the format generate reads
    assert trace.header.backend == "inprocess"
    for name in ("getppid", "getpid", "openat", "close", "getuid"):
        rec = trace.find(name)
        assert rec is not None and rec.arch == "x86_64", name
    openat = trace.find("openat")
    assert openat is not None and openat.results == {"ENOENT": 1, "ok": 1}
    # The thread's getuid (twice: main and thread) and the thread itself.
    uid = trace.find("getuid")
    assert uid is not None and uid.count == 2
    assert trace.processes[0].threads >= 2
    assert any("always allowed" in n and "clone3" in n for n in trace.header.notes)
    # generate reads it.
    prof = tmp_path / "p.json"
    res = cli("generate", "-o", str(prof), str(out))
    assert res.returncode == 0, res.stderr.decode(errors="replace")
    assert "getppid" in prof.read_text()


@pytest.mark.live
def test_inprocess_without_compiler_is_one_line(tmp_path: Path) -> None:
    code = textwrap.dedent("""
        import os, seccomp_gen
        try:
            with seccomp_gen.recording():
                os.getppid()
        except seccomp_gen.SeccompGenError as e:
            print(e)
            raise SystemExit(3)
    """)
    env = {k: v for k, v in os.environ.items() if k != "CC"}
    env["SECCOMP_GEN_CACHE_DIR"] = str(tmp_path / "cache")
    env["PATH"] = str(tmp_path)  # no gcc, no cc
    import subprocess

    res = subprocess.run([PYTHON, "-c", code], env=env, capture_output=True, timeout=60,
                         check=False)
    assert res.returncode == 3, res.stderr
    lines = res.stdout.decode().splitlines()
    assert len(lines) == 1 and "no C compiler" in lines[0]
    assert b"Traceback" not in res.stderr
