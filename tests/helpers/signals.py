"""A signal sent to a recorder reaches the workload it records, whether the workload is busy
making syscalls or sleeping in one."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

import seccomp_gen
from helpers.cli import CLI, kill_group
from helpers.procs import proc_descendants


def sigterm_recorder(backend: str, workload: list[str], comm: str, out: Path,
                     timeout: float) -> seccomp_gen.Trace:
    """Record ``workload`` (whose process is named ``comm``), SIGTERM the recorder once it runs,
    and check the workload got it within ``timeout`` s: the recorder exits 143, its trace (read
    back) says the workload was killed by SIGTERM."""
    rec = subprocess.Popen([*CLI, "record", "-q", "--backend", backend, "-o", str(out), "--",
                            *workload],
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.monotonic() + 20
        while not any(c == comm for _, c, _ in proc_descendants(rec.pid)):
            assert time.monotonic() < deadline, "workload did not start"
            time.sleep(0.02)
        time.sleep(0.3)
        os.kill(rec.pid, signal.SIGTERM)
        try:
            rec.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"SIGTERM was not passed on to the workload ({' '.join(workload)})")
        assert rec.returncode == 143
        trace = seccomp_gen.load_trace(out)
        assert trace.header.exit == seccomp_gen.ExitStatus(signal=15)
        return trace
    finally:
        if rec.poll() is None:
            kill_group(rec)


def assert_sigterm_reaches_busy_workload(backend: str, loop_exe: str, out: Path,
                                         timeout: float = 5) -> None:
    """Record ``getppid_loop`` making calls back to back, SIGTERM the recorder, and check the
    workload got it (within ``timeout``), and the calls made so far were recorded."""
    trace = sigterm_recorder(backend, [loop_exe, "1000000000"], "getppid_loop", out, timeout)
    got = trace.find("getppid", "x86_64")
    assert got is not None and got.count > 0
