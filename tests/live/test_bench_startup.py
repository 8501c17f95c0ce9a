"""bench/startup runs end to end with tiny counts: it records ``true``, generates its profile and
times record, run and check against strace and native. No timing is asserted (the machine is
shared): only that every command ran and was measured."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.paths import ROOT

SCRIPT = ROOT / "bench" / "startup"


@pytest.mark.live
def test_startup_bench_smoke(tmp_path: Path) -> None:
    out = tmp_path / "startup.json"
    proc = subprocess.run([sys.executable, str(SCRIPT), "--runs", "2", "--json", str(out)],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    names = ["native", "record", "known", "run", "check", "run-docker", "check-docker"]
    if shutil.which("strace"):
        names.insert(1, "strace")
    for name in names:
        assert f"| {name} |" in proc.stdout, proc.stdout
    doc = json.loads(out.read_text())
    assert list(doc["medians"]) == names
    assert {k: len(v) for k, v in doc["samples_s"].items()} == dict.fromkeys(names, 2)
    for name in names:
        assert doc["medians"][name]["wall_ms"] > 0
        assert doc["medians"][name]["x_native"] > 0
    assert doc["commands"]["record"][-2:] == ["--", shutil.which("true")]
    assert "--known" in doc["commands"]["known"]
    assert doc["commands"]["run-docker"][-3].endswith("docker-default-seccomp.json")


@pytest.mark.live
def test_startup_bench_check_record_fails_above_the_bar(tmp_path: Path) -> None:
    """``--check-record`` is an exit status: no run of record takes under 0.001 ms."""
    proc = subprocess.run([sys.executable, str(SCRIPT), "--runs", "1", "--check-record", "0.001"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert "record: median" in proc.stderr


@pytest.mark.live
def test_startup_bench_times_another_install_in_the_same_rounds(tmp_path: Path) -> None:
    """``--vs OTHER``: every seccomp-gen command is timed with OTHER as well (here a script that
    runs this tree), as ``NAME@vs``, in the same rounds; an OTHER that is no executable is
    refused in one line."""
    other = tmp_path / "other-seccomp-gen"
    other.write_text(f"#!/bin/sh\nexec {sys.executable} -m seccomp_gen \"$@\"\n")
    other.chmod(0o755)
    out = tmp_path / "startup.json"
    proc = subprocess.run([sys.executable, str(SCRIPT), "--runs", "1", "--vs", str(other),
                           "--json", str(out)], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    doc = json.loads(out.read_text())
    for name in ("record", "known", "run", "check", "run-docker", "check-docker"):
        assert doc["commands"][f"{name}@vs"][0] == str(other)
        assert len(doc["samples_s"][f"{name}@vs"]) == 1
        assert f"| {name}@vs |" in proc.stdout
    bad = subprocess.run([sys.executable, str(SCRIPT), "--vs", str(tmp_path / "none")],
                         capture_output=True, text=True, timeout=60, check=False)
    assert bad.returncode == 2 and "--vs:" in bad.stderr.splitlines()[-1]
