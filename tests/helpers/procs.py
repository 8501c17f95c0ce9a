"""Finding a test's processes in ``/proc``: the recorder's descendants, a session's members, and
every process of a workload tree marked by an inherited environment variable (so that leftovers
can be found, and killed, whatever happened)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

#: The environment variable that marks every process of a test's workload tree (inherited
#: across fork and exec), so that leftovers can be found, and killed, by it.
MARKER_ENV = "SECCOMP_GEN_TEST_TREE"


def proc_stats() -> list[tuple[int, str, list[str]]]:
    """(pid, comm, the fields after comm) of every process in /proc/PID/stat."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                stat = fh.read()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        found.append((int(entry), comm, stat[stat.rindex(")") + 2 :].split()))
    return found


def proc_descendants(ppid: int) -> list[tuple[int, str, str]]:
    """(pid, comm, state) of the live descendants of ``ppid``: the workload is the recorder's
    child under ptrace, its grandchild under the backends that start it through a reaper."""
    stats = proc_stats()
    parent = {pid: int(f[1]) for pid, _, f in stats}
    found = []
    for pid, comm, f in stats:
        cur, seen = parent.get(pid), 0
        while cur and cur != ppid and seen < 64:
            cur, seen = parent.get(cur), seen + 1
        if cur == ppid:
            found.append((pid, comm, f[0]))
    return found


def session_members(sid: int) -> list[tuple[int, str, str]]:
    """(pid, comm, state) of every process in session ``sid``."""
    return [(pid, comm, f[0]) for pid, comm, f in proc_stats() if int(f[3]) == sid]


def wait_for_sleeping_child(rec: subprocess.Popen[bytes], name: str) -> int:
    """Wait until ``rec`` has a descendant ``name`` blocked in (clock_)nanosleep; return its
    pid."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        assert rec.poll() is None, f"recorder ended early: {rec.communicate()}"
        for pid, comm, state in proc_descendants(rec.pid):
            if comm != name or state != "S":
                continue
            with contextlib.suppress(OSError):
                nr = Path(f"/proc/{pid}/syscall").read_text().split()[0]
                if nr in ("35", "230"):  # nanosleep, clock_nanosleep
                    return pid
        time.sleep(0.02)
    pytest.fail(f"no sleeping {name!r} child of the recorder appeared")


def marked_processes(marker: str) -> list[tuple[int, str]]:
    """(pid, comm) of every live (not zombie) process whose environment holds ``marker``."""
    found = []
    needle = f"{MARKER_ENV}={marker}".encode()
    for pid, comm, fields in proc_stats():
        if fields[0] in ("Z", "X"):
            continue
        with contextlib.suppress(OSError):
            if needle in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0"):
                found.append((pid, comm))
    return found


def kill_marked(marker: str) -> None:
    """SIGKILL every process marked with ``marker`` (a test's cleanup, whatever happened)."""
    for _ in range(50):
        left = marked_processes(marker)
        if not left:
            return
        for pid, _ in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.05)


def wait_or_kill(pid: int, seconds: float = 60) -> int:
    """The wait status of child ``pid``; SIGKILL and a test failure if it runs longer than
    ``seconds`` (a wrong filter can make a workload spin: a missing rt_sigreturn loops on
    SIGSEGV for ever)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status
        time.sleep(0.01)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    pytest.fail(f"child {pid} ran for more than {seconds} s and was killed")
