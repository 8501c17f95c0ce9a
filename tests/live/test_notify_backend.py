"""The notify backend (RET_USER_NOTIF answered with FLAG_CONTINUE): same traces as ptrace, and it
works where ptrace cannot.

Real filters only in children: the recorder runs in a helper process (record_api) or the CLI, and
the "ptrace is forbidden" environment is a seccomp filter loaded in a ``python -c`` child that
then execs the recorder. No filter is ever loaded into the pytest process.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections import Counter
from pathlib import Path

import pytest
from helpers.backends import needs
from helpers.cli import CLI, PYTHON, assert_one_error_line, cli, run
from helpers.record import (
    PIN_CPU,
    counts_of,
    drop_syscall,
    record_api,
)
from helpers.signals import assert_sigterm_reaches_busy_workload

import seccomp_gen
from seccomp_gen.recorders.notify import (
    NOTE_NO_RESULTS,
    SUPERVISOR_ENV,
)

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="Linux only")


WORKLOADS: dict[str, list[str] | None] = {
    "ls": ["ls", "-la", "/"],
    "forker": None,
    "getppid_loop": None,
}
_ARGS = {"getppid_loop": ["3000"]}

#: Runs the rest of its argv with ptrace denied (EPERM) by a seccomp filter: a container profile
#: that forbids ptrace, in miniature.
NO_PTRACE = (
    "import errno, os, sys, pyseccomp\n"
    "f = pyseccomp.SyscallFilter(pyseccomp.ALLOW)\n"
    "f.add_rule(pyseccomp.ERRNO(errno.EPERM), 'ptrace')\n"
    "f.load()\n"
    "os.execv(sys.argv[1], sys.argv[1:])\n"
)


def _command(name: str, cbuild) -> list[str]:
    return WORKLOADS[name] or [cbuild[name], *_ARGS.get(name, [])]


# --- same trace as the ptrace backend -------------------------------------------------------------


@needs("notify", "ptrace")
@pytest.mark.live
@pytest.mark.parametrize("workload", sorted(WORKLOADS))
def test_notify_agrees_with_ptrace(workload: str, cbuild, tmp_path: Path) -> None:
    cmd = _command(workload, cbuild)
    pt = record_api(cmd, tmp_path, backend="ptrace", name="ptrace")
    nt = record_api(cmd, tmp_path, backend="notify", name="notify")
    assert nt.header.backend == "notify"
    assert nt.header.exit == pt.header.exit == seccomp_gen.ExitStatus(code=0)
    assert nt.header.pinned_cpu == PIN_CPU
    assert counts_of(nt) == counts_of(pt)
    assert [(p.exes, p.threads, p.syscalls) for p in nt.processes] == [
        (p.exes, p.threads, p.syscalls) for p in pt.processes
    ]
    assert {e.exe: dict(e.syscalls) for e in nt.exes} == {e.exe: dict(e.syscalls) for e in pt.exes}
    assert {(r.arch, r.name): r.args for r in nt.syscalls} == {
        (r.arch, r.name): r.args for r in pt.syscalls
    }
    assert all(r.results == {} for r in nt.syscalls)
    assert NOTE_NO_RESULTS in nt.header.notes
    assert not nt.header.records_results


@needs("notify", "ptrace")
@pytest.mark.live
def test_notify_threads_agree_up_to_futex(cbuild, tmp_path: Path) -> None:
    cmd = [cbuild["threads"]]
    pt = counts_of(record_api(cmd, tmp_path, backend="ptrace", name="pt"))
    nt_trace = record_api(cmd, tmp_path, backend="notify", name="nt")
    nt = counts_of(nt_trace)
    assert set(pt) ^ set(nt) <= {("x86_64", "futex")}
    for name, n in (("getpid", 12), ("write", 12), ("clone3", 4)):
        assert nt[("x86_64", name)] == pt[("x86_64", name)] == n
    assert [p.threads for p in nt_trace.processes] == [5]
    clone3 = nt_trace.find("clone3", "x86_64")
    assert clone3 is not None and clone3.args is not None
    assert 0xFFFFFFFFFFFFFFFF not in {v[0] for v in clone3.args.values}  # read from memory


# --- where ptrace is impossible -------------------------------------------------------------------


@needs("notify")
@pytest.mark.live
def test_notify_works_where_ptrace_is_forbidden(cbuild, tmp_path: Path) -> None:
    cmd = [cbuild["forker"]]
    out = tmp_path / "pt.json"
    res = run([PYTHON, "-c", NO_PTRACE, *CLI, "record", "-q", "--backend", "ptrace", "-o",
               str(out), "--", *cmd])
    line = assert_one_error_line(res)
    assert "ptrace is not permitted here" in line and "--backend notify" in line
    assert not out.exists()
    out = tmp_path / "nt.json"
    res = run([PYTHON, "-c", NO_PTRACE, *CLI, "record", "-q", "--backend", "notify", "-o",
               str(out), "--", *cmd])
    assert res.returncode == 0, res.stderr
    assert res.stderr == b""
    trace = seccomp_gen.load_trace(out)
    assert trace.header.backend == "notify"
    reference = record_api(cmd, tmp_path, backend="notify", name="free")
    assert counts_of(trace) == counts_of(reference)
    assert len(trace.processes) == 5


@needs("notify")
@pytest.mark.live
@pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed")
def test_notify_works_under_a_debugger(cbuild, tmp_path: Path) -> None:
    """strace ptraces the recorder and everything it starts: the ptrace backend's child cannot
    be traced a second time, the notify backend does not need to."""
    cmd = [cbuild["forker"]]
    strace = ["strace", "-f", "-qq", "-o", "/dev/null"]
    res = run([*strace, *CLI, "record", "-q", "--backend", "ptrace", "-o",
               str(tmp_path / "pt.json"), "--", *cmd])
    assert "ptrace is not permitted here" in assert_one_error_line(res)
    out = tmp_path / "nt.json"
    res = run([*strace, *CLI, "record", "-q", "--backend", "notify", "-o", str(out), "--", *cmd])
    assert res.returncode == 0, res.stderr
    reference = record_api(cmd, tmp_path, backend="notify", name="free")
    assert counts_of(seccomp_gen.load_trace(out)) == counts_of(reference)


# --- exit status, signals, stdio ------------------------------------------------------------------


# Exit statuses and signal forwarding with the default (C) supervisor, --known included, are
# tested for every backend in test_record_live.py; the Python loop's busy case is here.


@needs("notify")
@pytest.mark.live
def test_notify_exec_failure_is_one_line(tmp_path: Path) -> None:
    junk = tmp_path / "junk"
    junk.write_bytes(b"\x7fELF garbage")
    junk.chmod(0o755)
    res = cli("record", "-q", "--backend", "notify", "-o", str(tmp_path / "t.json"), "--",
              str(junk))
    assert "cannot execute" in assert_one_error_line(res, 126)


@needs("notify")
@pytest.mark.live
def test_notify_python_loop_passes_a_signal_to_a_busy_workload(
        cbuild, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SUPERVISOR_ENV, "python")
    assert_sigterm_reaches_busy_workload("notify", cbuild["getppid_loop"],
                                         tmp_path / "busy.json", timeout=10)


@needs("notify")
@pytest.mark.live
def test_notify_stdin_stdout_pass_through(tmp_path: Path) -> None:
    data = os.urandom(100_000)
    res = run([*CLI, "record", "-q", "--backend", "notify", "-o", str(tmp_path / "cat.json"),
               "--", "cat"], input=data)
    assert res.returncode == 0, res.stderr
    assert res.stdout == data


# --- record --known -------------------------------------------------------------------------------


@needs("notify")
@pytest.mark.live
@pytest.mark.parametrize("workload", sorted(WORKLOADS))
def test_notify_known_same_workload_records_nothing(workload: str, cbuild,
                                                    tmp_path: Path) -> None:
    cmd = _command(workload, cbuild)
    first = record_api(cmd, tmp_path, backend="notify", name="first")
    again = record_api(cmd, tmp_path, backend="notify", name="again",
                       known=tmp_path / "first.trace.json")
    assert again.header.exit == seccomp_gen.ExitStatus(code=0)
    assert counts_of(again) == Counter()
    assert any("known syscalls were not recorded" in n for n in again.header.notes)
    assert counts_of(first)


@needs("notify")
@pytest.mark.live
@pytest.mark.parametrize(("workload", "name", "count"),
                         [("getppid_loop", "getppid", 3000), ("forker", "getpid", 2)])
def test_notify_known_lacking_one_syscall_records_exactly_it(
    workload: str, name: str, count: int, cbuild, tmp_path: Path
) -> None:
    cmd = _command(workload, cbuild)
    record_api(cmd, tmp_path, backend="notify", name="first")
    lacking = drop_syscall(tmp_path / "first.trace.json", tmp_path / "lacking.trace.json", "x86_64",
                    name)
    again = record_api(cmd, tmp_path, backend="notify", name="again", known=lacking)
    assert counts_of(again) == Counter({("x86_64", name): count})


# The compiled supervisor against the Python loop: tests/live/test_compiled_loops.py.
