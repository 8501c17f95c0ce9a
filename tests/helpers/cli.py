"""Running ``seccomp-gen`` (and other children) from a test, and reading its one-line errors.

Every child runs in its own session with a timeout; on overrun its whole process group is
SIGKILLed (a wrong allowlist can make a workload spin for ever) and the test fails.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from typing import Any

import pytest

#: Seconds any single child may run before it (and its process group) is SIGKILLed.
TIMEOUT = 120
PYTHON = sys.executable
#: The CLI of the seccomp_gen this interpreter imports (not whatever `seccomp-gen` is on PATH).
CLI = [PYTHON, "-m", "seccomp_gen"]


def kill_group(proc: subprocess.Popen[Any]) -> None:
    """SIGKILL ``proc``'s process group (it leads one: ``start_new_session``) and reap it."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        proc.kill()
    proc.communicate()


def run(cmd: list[str], *, timeout: float = TIMEOUT, input: bytes | None = None,
        stdin: int | None = None, cwd: str | os.PathLike[str] | None = None,
        env: dict[str, str] | None = None, text: bool = False) -> subprocess.CompletedProcess[Any]:
    """Run ``cmd`` in a new session and collect its output; SIGKILL its group on overrun.

    stdin is ``input`` (a pipe), else ``stdin``, else /dev/null; ``env`` is the child's whole
    environment, as for :class:`subprocess.Popen`; ``text`` decodes stdout and stderr as
    ``text=True`` does.
    """
    if input is not None:
        stdin = subprocess.PIPE
    elif stdin is None:
        stdin = subprocess.DEVNULL
    proc = subprocess.Popen(cmd, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            cwd=cwd, env=env, start_new_session=True)
    try:
        out, err = proc.communicate(input, timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_group(proc)
        pytest.fail(f"timed out after {timeout}s and was killed: {cmd}")
    if text:
        return subprocess.CompletedProcess(cmd, proc.returncode, _text(out), _text(err))
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def _text(data: bytes) -> str:
    """What ``text=True`` makes of a stream here: UTF-8 (the locale's), universal newlines."""
    return data.decode().replace("\r\n", "\n").replace("\r", "\n")


def cli(*args: str | os.PathLike[str], **kw: Any) -> subprocess.CompletedProcess[bytes]:
    """``seccomp-gen ARGS`` through :func:`run` (same keywords), output as bytes."""
    return run([*CLI, *map(os.fspath, args)], **kw)


def cli_text(*args: str | os.PathLike[str], **kw: Any) -> subprocess.CompletedProcess[str]:
    """``seccomp-gen ARGS`` through :func:`run` (same keywords), output as text."""
    return run([*CLI, *map(os.fspath, args)], text=True, **kw)


def _stderr(res: subprocess.CompletedProcess[Any]) -> str:
    err = res.stderr
    return err.decode(errors="replace") if isinstance(err, bytes) else str(err)


def assert_one_error_line(res: subprocess.CompletedProcess[Any],
                          status: int | None = None) -> str:
    """One ``seccomp-gen: error:`` line on stderr, nothing on stdout, no traceback, a non-zero
    exit (``status`` when given); returns the line."""
    err = _stderr(res)
    assert "Traceback" not in err, err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("seccomp-gen: error:"), err
    assert res.returncode != 0
    if status is not None:
        assert res.returncode == status, err
    assert not res.stdout
    return lines[0]


def one_error_line(res: subprocess.CompletedProcess[Any], status: int = 125) -> str:
    """Exit ``status`` (125 unless told) and one ``seccomp-gen: error:`` line on stderr
    (surrounding white space aside), no traceback; returns the line. Stdout is not looked at
    (:func:`assert_one_error_line` also wants it empty)."""
    err = _stderr(res)
    lines = err.strip().splitlines()
    assert res.returncode == status, err
    assert len(lines) == 1 and lines[0].startswith("seccomp-gen: error:"), err
    assert "Traceback" not in err
    return lines[0]


def assert_no_raw_controls(text: str) -> None:
    """Nothing a terminal would act on, and nothing that would split a line."""
    bad = sorted({c for c in text if not c.isprintable() and c not in "\n"})
    assert not bad, f"raw control characters in output: {bad!r}"
