"""A signal sent to a recorder reaches the workload it records, even one busy making syscalls."""

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


def assert_sigterm_reaches_busy_workload(backend: str, loop_exe: str, out: Path,
                                         timeout: float = 5) -> None:
    """Record ``getppid_loop`` making calls back to back, SIGTERM the recorder, and check the
    workload got it (within ``timeout``), and the calls made so far were recorded."""
    rec = subprocess.Popen([*CLI, "record", "-q", "--backend", backend, "-o", str(out), "--",
                            loop_exe, "1000000000"],
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.monotonic() + 20
        while not any(c == "getppid_loop" for _, c, _ in proc_descendants(rec.pid)):
            assert time.monotonic() < deadline, "workload did not start"
            time.sleep(0.02)
        time.sleep(0.3)
        os.kill(rec.pid, signal.SIGTERM)
        try:
            rec.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            pytest.fail("SIGTERM was not passed on to a workload busy making syscalls")
        assert rec.returncode == 143
        trace = seccomp_gen.load_trace(out)
        assert trace.header.exit == seccomp_gen.ExitStatus(signal=15)
        got = trace.find("getppid", "x86_64")
        assert got is not None and got.count > 0
    finally:
        if rec.poll() is None:
            kill_group(rec)
