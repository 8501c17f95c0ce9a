"""``seccomp-gen diff``: counts per arch, exit status like diff(1), any two kinds of input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.paths import DOCKER_DEFAULT as DOCKER
from helpers.paths import LS_TRACE

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
    for args in ((tmp_path / "missing.json", ls_profiles["oci"]), (bad, ls_profiles["oci"]),
                 (ls_profiles["oci"], ls_profiles["oci"], "--arch", "x86-64")):
        res = run("diff", *args)
        assert res.returncode == 2
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("seccomp-gen: error:"), res.stderr
        assert "Traceback" not in res.stderr


def _socket_profile(tmp_path: Path, name: str, domains: list[int]) -> Path:
    rules = [{"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"}]
    for d in domains:
        rules.append({"names": ["socket"], "action": "SCMP_ACT_ALLOW",
                      "args": [{"index": 0, "value": d, "op": "SCMP_CMP_EQ"}]})
    path = tmp_path / name
    path.write_text(json.dumps({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1,
                                "architectures": ["SCMP_ARCH_X86_64"], "syscalls": rules}))
    return path


def test_argument_conditions_are_compared(tmp_path: Path) -> None:
    a = _socket_profile(tmp_path, "a.json", [1, 2])
    b = _socket_profile(tmp_path, "b.json", [1, 10])
    res = run("diff", a, b, "--json")
    assert res.returncode == 1
    doc = json.loads(res.stdout)
    (row,) = doc["arches"]
    assert row["only_a"] == row["only_b"] == []
    assert row["args"] == [{"syscall": "socket", "only_a": ["domain == AF_INET (2)"],
                            "only_b": ["domain == AF_INET6 (10)"]}]
    text = run("diff", a, b)
    assert text.returncode == 1
    assert ("arguments differ on x86_64 socket: only A: domain == AF_INET (2); only B: "
            "domain == AF_INET6 (10)") in text.stdout
    # --names-only ignores arguments, like the old diff.
    assert run("diff", a, b, "--names-only").returncode == 0
    assert run("diff", a, a, "--format", "json").returncode == 0


def test_github_format(tmp_path: Path) -> None:
    a = _socket_profile(tmp_path, "a.json", [1])
    b = _socket_profile(tmp_path, "b.json", [1, 2])
    res = run("diff", a, b, "--format", "github")
    assert res.returncode == 1
    assert res.stdout.splitlines() == [
        f"::error file={a},title=seccomp%3A new arguments for socket::x86_64 socket with "
        f"domain == AF_INET (2) is allowed by {b} but not by {a}"]
    pointed = run("diff", a, b, "--format", "github", "--github-file", "profiles/app.json")
    assert pointed.stdout.startswith("::error file=profiles/app.json,title=")
    back = run("diff", b, a, "--format", "github")
    assert back.returncode == 1 and back.stdout.startswith("::notice ")
    same = run("diff", a, a, "--format", "github")
    assert same.returncode == 0
    assert same.stdout.startswith("::notice title=seccomp profile unchanged::")


def test_default_action_and_other_verdicts_differ(tmp_path: Path) -> None:
    a = _socket_profile(tmp_path, "a.json", [1])
    doc = json.loads(a.read_text())
    doc["defaultErrnoRet"] = 38
    doc["syscalls"].append({"names": ["clone3"], "action": "SCMP_ACT_ERRNO",
                            "errnoRet": 1})
    b = tmp_path / "b.json"
    b.write_text(json.dumps(doc))
    res = run("diff", a, b, "--json")
    assert res.returncode == 1
    out = json.loads(res.stdout)
    assert out["default"] == {"a": "errno 1", "b": "errno 38", "same": False}
    assert out["arches"][0]["other_rules_only_b"] == ["clone3 -> errno 1"]


def test_truncated_and_edited_inputs(tmp_path: Path, ls_profiles: dict[str, Path]) -> None:
    trunc = tmp_path / "t.trace.json"
    trunc.write_text(LS_TRACE.read_text()[:-40])
    edited = tmp_path / "e.lxc"
    edited.write_text(ls_profiles["lxc"].read_text().replace("allowlist", "sometimes"))
    for bad in (trunc, edited):
        res = run("diff", bad, ls_profiles["oci"], "--format", "github")
        assert res.returncode == 2 and res.stdout == ""
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("seccomp-gen: error:"), res.stderr
