"""``seccomp-gen diff``: counts per arch, exit status like diff(1), any two kinds of input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LS_TRACE = ROOT / "sample_traces" / "ls.trace.json"
DOCKER = ROOT.parent / "shared" / "reference" / "docker-default-seccomp.json"
CLI = [sys.executable, "-m", "seccomp_gen"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True, timeout=60,
                          check=False)


@pytest.fixture(scope="module")
def ls_profiles(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("diff")
    out = {}
    for fmt, name in (("oci", "ls.json"), ("lxc", "ls.lxc"), ("python", "ls_policy.py")):
        res = run("generate", LS_TRACE, "--format", fmt, "-o", d / name)
        assert res.returncode == 0, res.stderr
        out[fmt] = d / name
    return out


def test_same_profile_in_two_formats_is_equal(ls_profiles: dict[str, Path]) -> None:
    res = run("diff", ls_profiles["oci"], ls_profiles["python"], "--arch", "x86_64")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "same syscalls allowed" in res.stdout


def test_trace_against_its_profile_on_the_recorded_arch(ls_profiles: dict[str, Path]) -> None:
    res = run("diff", LS_TRACE, ls_profiles["lxc"], "--json")
    doc = json.loads(res.stdout)
    assert doc["a"]["kind"] == "trace" and doc["b"]["kind"] == "lxc"
    row = next(r for r in doc["arches"] if r["arch"] == "x86_64")
    assert row["only_a"] == [] and row["only_b"] == []
    assert row["a_allowed"] == row["b_allowed"] == 30
    assert res.returncode == (0 if doc["same"] else 1)


def test_against_docker_default(ls_profiles: dict[str, Path]) -> None:
    res = run("diff", ls_profiles["oci"], DOCKER, "--json")
    assert res.returncode == 1, res.stderr
    doc = json.loads(res.stdout)
    row = next(r for r in doc["arches"] if r["arch"] == "x86_64")
    # Docker allows every syscall ls needs, and about ten times more; chown32 and other names
    # x86_64 does not have are not counted.
    assert row["only_a"] == []
    assert row["both"] == row["a_allowed"] == 30
    assert 250 < row["b_allowed"] < 400
    assert "chown32" not in row["only_b"] and "chown" in row["only_b"]
    table = run("diff", ls_profiles["oci"], DOCKER)
    assert table.returncode == 1
    assert "only B allows on x86_64" in table.stdout and "--json lists all" in table.stdout


def test_errors_exit_2_with_one_line(tmp_path: Path, ls_profiles: dict[str, Path]) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"defaultAction": ')
    for args in ((tmp_path / "missing.json", ls_profiles["oci"]), (bad, ls_profiles["oci"])):
        res = run("diff", *args)
        assert res.returncode == 2
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("seccomp-gen: error:"), res.stderr
        assert "Traceback" not in res.stderr
