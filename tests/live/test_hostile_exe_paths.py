"""Programs at hostile paths, for real: a path that is not UTF-8 is recorded and written, and
``run`` prints an exe path holding an escape sequence and a newline escaped, on one line (the
same text in files and emitters: tests/unit/test_injection.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from helpers.cli import CLI, assert_no_raw_controls, cli

from seccomp_gen.files import traces
from seccomp_gen.safetext import printable


@pytest.mark.live
def test_recording_a_program_at_a_non_utf8_path(tmp_path: Path) -> None:
    """The same, for real: a program whose path is not UTF-8 is recorded and its trace written."""
    d = os.path.join(os.fsencode(tmp_path), b"dir\xff")
    os.mkdir(d)
    prog = os.path.join(d, b"true")
    shutil.copy(b"/bin/true", prog)
    out = tmp_path / "t.trace.json"
    res = subprocess.run([*map(os.fsencode, CLI), b"record", b"-q", b"-o", os.fsencode(out),
                          b"--", prog], capture_output=True, timeout=120, check=False)
    assert res.returncode == 0, res.stderr.decode(errors="replace")
    exes = {e for p in traces.load(out).processes for e in p.exes}
    assert any(e.endswith("dir\\xff/true") for e in exes), exes


@pytest.mark.live
def test_run_violation_lines_escape_the_exe_path(tmp_path: Path) -> None:
    """``run`` prints the exe path from /proc with every denied call: a path with an escape
    sequence and a newline is shown escaped, on one line."""
    d = tmp_path / "\x1b[2Jx\ny"
    d.mkdir()
    prog = d / "ls"
    shutil.copy("/bin/ls", prog)
    profile = tmp_path / "true.json"
    rec = cli("record", "-q", "-o", tmp_path / "true.trace.json", "--profile", f"oci:{profile}",
              "--", "/bin/true")
    assert rec.returncode == 0, rec.stderr
    res = cli("run", "--profile", profile, "--", str(prog), "/")
    err = res.stderr.decode()
    denied = [line for line in err.splitlines() if line.startswith("denied pid")]
    assert denied, err
    assert_no_raw_controls(err)
    assert all(printable(str(prog)) in line for line in denied), denied
