"""bench/record_vs_strace ``--vs``: another seccomp-gen's rows beside this one's, from the same
rounds (a tiny getppid run; no timing is asserted: the machine is shared)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.backends import needs
from helpers.paths import ROOT

SCRIPT = ROOT / "bench" / "record_vs_strace"


@pytest.mark.live
@needs("seccomp")
@pytest.mark.skipif(not shutil.which("strace"), reason="needs strace")
def test_vs_rows_come_from_the_other_executable(tmp_path: Path) -> None:
    other = tmp_path / "other-seccomp-gen"
    log = tmp_path / "other.log"
    other.write_text(f"#!/bin/sh\necho \"$@\" >> {log}\n"
                     f"exec {sys.executable} -m seccomp_gen \"$@\"\n")
    other.chmod(0o755)
    proc = subprocess.run([sys.executable, str(SCRIPT), "--workloads", "getppid", "--calls", "2000",
                           "--backends", "seccomp", "--runs", "1", "--no-unpinned", "--vs",
                           str(other), "--json"], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    (row,) = json.loads(proc.stdout)["rows"]
    assert set(row["times"]) == {"native", "strace", "seccomp", "known", "seccomp@vs", "known@vs"}
    assert row["syscalls"]["seccomp@vs"] >= 2000 and row["syscalls"]["known@vs"] == 0
    runs = log.read_text().splitlines()
    assert len(runs) == 2 and all(r.startswith("record -q -f --backend seccomp") for r in runs)
    assert any("--known" in r for r in runs)
