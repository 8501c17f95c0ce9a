"""``record --profile FORMAT:FILE``: record and emit in one go, with every check made before the
workload runs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

CLI = [sys.executable, "-m", "seccomp_gen"]


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True, timeout=120,
                          check=False)


@pytest.mark.live
def test_record_writes_trace_and_profiles(tmp_path: Path) -> None:
    trace, oci, table = tmp_path / "ls.trace.json", tmp_path / "ls.json", tmp_path / "ls_pol.py"
    res = run("record", "-o", trace, "--profile", f"oci:{oci}", "--profile", f"python:{table}",
              "--", "ls", "-la", "/")
    assert res.returncode == 0, res.stderr
    assert f"oci profile written to {oci}" in res.stderr
    doc = json.loads(oci.read_text())
    assert doc["defaultAction"] == "SCMP_ACT_ERRNO"
    diff = run("diff", trace, table, "--arch", "x86_64")
    assert diff.returncode == 0, diff.stdout


@pytest.mark.live
@pytest.mark.parametrize(
    ("spec", "expect"),
    [("bogus:x.json", "unknown format 'bogus'"), ("x.json", "expected FORMAT:FILE")],
)
def test_bad_profile_spec_is_refused_before_the_workload_runs(
    tmp_path: Path, spec: str, expect: str
) -> None:
    marker = tmp_path / "ran"
    res = run("record", "-o", tmp_path / "t.json", "--profile", spec, "--",
              "touch", marker)
    assert res.returncode == 125
    assert res.stderr.count("\n") == 1 and expect in res.stderr
    assert not marker.exists() and not (tmp_path / "t.json").exists()


@pytest.mark.live
def test_existing_profile_is_not_overwritten(tmp_path: Path) -> None:
    marker, oci = tmp_path / "ran", tmp_path / "keep.json"
    oci.write_text("precious")
    res = run("record", "-o", tmp_path / "t.json", "--profile", f"oci:{oci}", "--",
              "touch", marker)
    assert res.returncode == 125 and "already exists" in res.stderr
    assert oci.read_text() == "precious" and not marker.exists()
