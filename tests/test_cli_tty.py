"""On a terminal, ``record`` shows a live status line; piped, it shows none.

``script`` (util-linux) gives the command a real pseudo-terminal.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

CLI = [sys.executable, "-m", "seccomp_gen"]


@pytest.mark.live
def test_status_line_on_a_terminal_only(tmp_path: Path) -> None:
    if shutil.which("script") is None:
        pytest.fail("util-linux `script` is missing; .ci/run installs bsdutils")
    trace = tmp_path / "t.json"
    cmd = shlex.join([*CLI, "record", "-o", str(trace), "--", "sh", "-c", "sleep 0.6; ls /"])
    log = tmp_path / "typescript"
    res = subprocess.run(["script", "-qec", cmd, str(log)], capture_output=True, timeout=60,
                         check=False, stdin=subprocess.DEVNULL)
    screen = log.read_text(errors="replace")
    assert res.returncode == 0, screen
    assert "recording" in screen and "distinct" in screen and "processes" in screen
    assert "trace written to" in screen

    piped = subprocess.run([*CLI, "record", "-f", "-o", str(trace), "--", "sh", "-c",
                            "sleep 0.6; ls / >/dev/null"],
                           capture_output=True, text=True, timeout=60, check=False)
    assert piped.returncode == 0
    assert "recording" not in piped.stderr and "\x1b[" not in piped.stderr
    assert "trace written to" in piped.stderr
