"""Regression tests for the bugs a code review found (one section per bug)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-m", "seccomp_gen"]
#: A deterministic command with a fork and an exec.
CHECKED = ["sh", "-c", "cat /etc/hostname >/dev/null; exit 0"]


def run(*args: str | Path, cwd: Path | None = None, stdin: bytes | None = None,
        timeout: float = 120) -> subprocess.CompletedProcess[str]:
    # subprocess.run kills the child with SIGKILL when the timeout expires. PWD follows cwd:
    # a shell whose PWD is not its directory calls getcwd, which the profile would lack.
    env = {**os.environ, "PWD": str(cwd or Path.cwd())}
    return subprocess.run([*CLI, *map(str, args)], capture_output=True, timeout=timeout,
                          check=False, cwd=cwd, input=stdin.decode() if stdin else None,
                          text=True, env=env)


def one_error_line(res: subprocess.CompletedProcess[str]) -> str:
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("seccomp-gen: error:"), res.stderr
    assert "Traceback" not in res.stderr
    return lines[0]


@pytest.fixture
def oci_profile(tmp_path: Path) -> Path:
    """An OCI profile recorded from CHECKED (so ``check`` of CHECKED passes on it)."""
    oci = tmp_path / "app.json"
    res = run("record", "-q", "-o", tmp_path / "app.trace.json", "--profile", f"oci:{oci}",
              "--", *CHECKED)
    assert res.returncode == 0, res.stderr
    return oci


# --- check reads the profile once, through files/inputs.py ----------------------------------------


def _serve_once(fifo: Path, data: bytes) -> threading.Thread:
    """Write ``data`` to whoever opens ``fifo`` first, then close it: a second open of the
    FIFO blocks (no writer), as a second read of a pipe the user gave would."""
    def serve() -> None:
        with open(fifo, "wb") as fh:
            fh.write(data)
    t = threading.Thread(target=serve, daemon=True)
    t.start()
    return t


@pytest.mark.live
def test_check_reads_a_profile_given_as_a_pipe_once(oci_profile: Path, tmp_path: Path) -> None:
    fifo = tmp_path / "profile.fifo"
    os.mkfifo(fifo)
    writer = _serve_once(fifo, oci_profile.read_bytes())
    try:
        res = run("check", "--profile", fifo, "--", *CHECKED, timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail("check opened the profile a second time (it blocked on the FIFO)")
    finally:
        if writer.is_alive():  # unblock the writer if check never opened the FIFO
            with open(fifo, "rb") as fh:
                fh.read()
        writer.join(10)
    assert res.returncode == 0, res.stderr
    assert "covers every syscall" in res.stderr


@pytest.mark.live
def test_check_profile_on_stdin_never_opens_a_file_named_dash(oci_profile: Path,
                                                              tmp_path: Path) -> None:
    # A FIFO named "-" in the working directory: opening it would block forever.
    os.mkfifo(tmp_path / "-")
    try:
        res = run("check", "--profile", "-", "--", *CHECKED, cwd=tmp_path,
                  stdin=oci_profile.read_bytes(), timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail("check --profile - opened a file named '-'")
    assert res.returncode == 0, res.stderr
    assert "covers every syscall" in res.stderr


@pytest.mark.live
def test_check_update_merges_the_run_into_a_trace_profile(tmp_path: Path) -> None:
    # The trace --update rewrites is the text check read (once), merged with the new run.
    trace = tmp_path / "true.trace.json"
    assert run("record", "-q", "-o", trace, "--", "true").returncode == 0
    upd = run("check", "--profile", trace, "--update", "--", *CHECKED)
    assert upd.returncode == 1 and "updated (trace)" in upd.stderr, upd.stderr
    again = run("check", "--profile", trace, "--", *CHECKED)
    assert again.returncode == 0, again.stderr
