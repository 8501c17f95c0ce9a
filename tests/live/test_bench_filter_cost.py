"""bench/filter_cost runs end to end with tiny counts: it records the getppid loop, generates
its profiles, loads Docker's default and ours for real in the workload, and reports the static
numbers of each filter. No timing is asserted (the machine is shared); the numbers that do not
depend on timing are: the instruction counts and which recorded calls run the filter."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from helpers.paths import ROOT

SCRIPT = ROOT / "bench" / "filter_cost"


def test_filter_cost_smoke(tmp_path: Path) -> None:
    out = tmp_path / "fc.json"
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--workloads", "getppid", "--runs", "2", "--calls", "2000",
         "--json", str(out)],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    for config in ("docker", "ours", "strict"):
        assert f"| {config} |" in proc.stdout
    doc = json.loads(out.read_text())
    (row,) = doc["rows"]
    assert row["workload"] == "getppid"
    assert row["calls"] >= 2000  # the recording counted the loop's calls
    assert {k: len(v) for k, v in row["samples_s"].items()} == {
        "native": 2, "docker": 2, "ours": 2, "strict": 2}
    static = row["static"]
    # Docker's default is one long list over three ABIs; ours names a few dozen calls.
    assert static["ours"]["insns"] < static["docker"]["insns"]
    # Neither checks an argument of what the loop makes, so the kernel's action cache answers
    # every recorded call: the filter never runs. Both allow every recorded call.
    for config in ("docker", "ours"):
        assert static[config]["filtered_share"] == 0.0, static[config]
        assert static[config]["denied"] == []
        assert static[config]["insns_uncached"] > 0


def test_filter_cost_bad_option_is_one_line(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, str(SCRIPT), "--runs", "0"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "--runs" in proc.stderr


def test_filter_cost_check_refuses_too_few_rounds(tmp_path: Path) -> None:
    # One round gives no interval: --check says so (exit 2) rather than pass or fail on a guess.
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--workloads", "getppid", "--runs", "1", "--calls", "1000",
         "--no-strict", "--check"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "at least 5 rounds" in proc.stderr
    assert "too few rounds to tell" in proc.stdout
