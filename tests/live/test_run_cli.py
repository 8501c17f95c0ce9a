"""``seccomp-gen run --profile``: real filters in real children, no mocks.

The loop every test follows: record a workload (seccomp backend), take one syscall out of its
trace (a profile lacking it), then run the workload under that profile and check what is reported
and what the workload saw. Every child runs in its own session with a timeout, its process group
SIGKILLed on overrun (helpers.cli.run); the library API runs in a helper process.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import pytest
from helpers.backends import needs
from helpers.cli import PYTHON, assert_one_error_line, cli, run
from helpers.record import drop_syscall, record_cli

import seccomp_gen
from seccomp_gen.enforce.run import VIOLATION_EXIT

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="Linux only")

#: ``seccomp_gen.run`` in a helper process: writes {"exit", "violations": [...], "trace"}.
_RUN_HELPER = (
    "import sys, json, dataclasses, seccomp_gen\n"
    "from seccomp_gen.enforce.run import write_trace\n"
    "seen = []\n"
    "r = seccomp_gen.run(sys.argv[4:], sys.argv[2], mode=sys.argv[3],\n"
    "                    on_violation=lambda v: seen.append(dataclasses.asdict(v)))\n"
    "assert [dataclasses.asdict(v) for v in r.violations] == seen\n"
    "if r.trace is not None:\n"
    "    write_trace(r, sys.argv[1] + '.trace.json')\n"
    "json.dump({'exit': dataclasses.asdict(r.exit), 'status': r.status, 'violated': r.violated,\n"
    "           'violations': seen, 'notes': list(r.notes)}, open(sys.argv[1], 'w'))\n"
)

SOCKET_SCRIPT = ("import socket\n"
                 "try:\n"
                 "    socket.socket(socket.AF_INET, socket.SOCK_DGRAM).close()\n"
                 "except OSError as exc:\n"
                 "    print('socket failed:', exc.errno)\n"
                 "    raise SystemExit(4)\n"
                 "print('socket ok')\n")


def run_api(cmd: list[str], profile: Path, mode: str, tmp_path: Path, name: str = "res"
            ) -> tuple[dict[str, Any], Any]:
    out = tmp_path / f"{name}.json"
    res = run([PYTHON, "-c", _RUN_HELPER, str(out), str(profile), mode, *cmd], cwd=tmp_path)
    assert out.exists(), f"run helper failed: {res.stderr.decode(errors='replace')}"
    return json.loads(out.read_text()), res


def record(cmd: list[str], tmp_path: Path, name: str) -> Path:
    out = tmp_path / f"{name}.trace.json"
    res = record_cli(cmd, out, backend="seccomp", cwd=tmp_path)
    assert out.exists(), res.stderr.decode(errors="replace")
    return out


def lacking(cmd: list[str], tmp_path: Path, arch: str, name: str) -> tuple[Path, Path]:
    """(trace of cmd, that trace without (arch, name))."""
    full = record(cmd, tmp_path, "full")
    return full, drop_syscall(full, tmp_path / "lacking.trace.json", arch, name)


def _ls_dir(tmp_path: Path) -> Path:
    d = tmp_path / "dir"
    d.mkdir()
    for n in ("alpha", "beta"):
        (d / n).write_text(n)
    return d


# --- one syscall missing: enforce, complain, kill ------------------------------------------------


@needs("seccomp")
@pytest.mark.live
def test_missing_syscall_reported_with_args_enforce_and_complain(tmp_path: Path) -> None:
    cmd = [PYTHON, "-c", SOCKET_SCRIPT]
    _, prof = lacking(cmd, tmp_path, "x86_64", "socket")

    doc, res = run_api(cmd, prof, "enforce", tmp_path, "enforce")
    assert res.stdout.decode() == f"socket failed: {1}\n"  # EPERM, as the profile says
    assert doc["status"] == 4 and doc["violated"]
    [v] = doc["violations"]
    assert (v["arch"], v["name"], v["action"], v["errno"], v["by_rule"]) == (
        "x86_64", "socket", "errno", 1, False)
    assert v["args"][:2] == [2, 0x80002]  # AF_INET, SOCK_DGRAM|SOCK_CLOEXEC
    assert v["exe"] == os.path.realpath(PYTHON) and v["pid"] == v["tid"]

    doc, res = run_api(cmd, prof, "complain", tmp_path, "complain")
    assert res.stdout.decode() == "socket ok\n" and doc["status"] == 0
    assert [(v["name"], v["args"][:2]) for v in doc["violations"]] == [("socket", [2, 0x80002])]
    trace = seccomp_gen.load_trace(tmp_path / "complain.json.trace.json")
    assert [(r.arch, r.name, r.count) for r in trace.syscalls] == [("x86_64", "socket", 1)]
    sock = trace.syscalls[0]
    assert sock.args is not None and sock.args.values == frozenset({(2, 0x80002)})
    assert any("complain" in n for n in trace.header.notes)


@needs("seccomp")
@pytest.mark.live
def test_cli_enforce_complain_then_merge_gives_zero_violations(tmp_path: Path) -> None:
    d = _ls_dir(tmp_path)
    cmd = ["ls", "-la", str(d)]
    full, prof = lacking(cmd, tmp_path, "x86_64", "getdents64")

    res = cli("run", "--profile", str(prof), "--", *cmd, cwd=tmp_path)
    err = res.stderr.decode()
    assert res.returncode == 2, err  # ls: cannot read the directory
    assert "Operation not permitted" in err
    assert "alpha" not in res.stdout.decode()
    line = next(x for x in err.splitlines() if x.startswith("denied "))
    assert "/usr/bin/ls x86_64 getdents64(" in line and line.endswith("-> failed with EPERM")
    assert "1 violation of" in err

    miss = tmp_path / "miss.trace.json"
    res = cli("run", "--profile", str(prof), "--mode", "complain", "-o", str(miss), "--",
              *cmd, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "alpha" in res.stdout.decode() and "beta" in res.stdout.decode()
    assert {r.name for r in seccomp_gen.load_trace(miss).syscalls} == {"getdents64"}

    fixed = tmp_path / "fixed.json"
    res = cli("generate", str(full), str(miss), "-o", str(fixed), cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    res = cli("run", "--profile", str(fixed), "--fail-on-violation", "--json", "-", "--",
              *cmd, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    out = res.stdout.decode()
    assert "alpha" in out
    doc = json.loads(out[out.index("{\n"):])
    assert doc["violations"] == 0 and doc["rows"] == [] and doc["status"] == 0


@needs("seccomp")
@pytest.mark.live
def test_fail_on_violation_status(tmp_path: Path) -> None:
    cmd = ["sh", "-c", "ls / >/dev/null; exit 7"]
    full, prof = lacking(cmd, tmp_path, "x86_64", "getdents64")
    res = cli("run", "-q", "--profile", str(full), "--fail-on-violation", "--", *cmd)
    assert res.returncode == 7 and res.stderr == b""  # no violation: the workload's status
    res = cli("run", "-q", "--profile", str(prof), "--", *cmd)
    assert res.returncode == 7  # violations, but no --fail-on-violation: the workload's status
    assert res.stderr.decode() == "ls: reading directory '/': Operation not permitted\n"
    res = cli("run", "-q", "--profile", str(prof), "--fail-on-violation", "--", *cmd)
    assert res.returncode == VIOLATION_EXIT
    res = cli("run", "-q", "--profile", str(prof), "--mode", "complain", "--fail-on-violation",
              "--", *cmd)
    assert res.returncode == VIOLATION_EXIT


@needs("seccomp")
@pytest.mark.live
def test_kill_default_enforce_and_kill_modes(tmp_path: Path) -> None:
    d = _ls_dir(tmp_path)
    cmd = ["ls", str(d)]
    _, lack = lacking(cmd, tmp_path, "x86_64", "getdents64")
    prof = tmp_path / "kp.json"
    res = cli("generate", str(lack), "--default-action", "kill-process", "-o", str(prof))
    assert res.returncode == 0, res.stderr

    doc, res = run_api(cmd, prof, "enforce", tmp_path, "enforce")
    assert doc["exit"]["signal"] == signal.SIGSYS and doc["status"] == 128 + signal.SIGSYS
    assert [(v["name"], v["action"]) for v in doc["violations"]] == [
        ("getdents64", "kill-process")]
    assert res.stdout == b""

    doc, res = run_api(cmd, prof, "kill", tmp_path, "kill")
    assert doc["exit"]["signal"] == signal.SIGSYS and doc["violated"]
    assert not (tmp_path / "kill.json.trace.json").exists()  # kill mode traces nothing
    if doc["violations"]:  # from the kernel's audit record, when /dev/kmsg is readable
        assert [(v["arch"], v["name"]) for v in doc["violations"]] == [("x86_64", "getdents64")]
    else:
        assert doc["notes"]

    res = cli("run", "--profile", str(prof), "--mode", "kill", "--", *cmd)
    assert res.returncode == 128 + signal.SIGSYS
    assert "SIGSYS" in res.stderr.decode()


@needs("seccomp")
@pytest.mark.live
def test_trap_is_delivered_as_the_kernel_does(cbuild, tmp_path: Path) -> None:
    """A TRAP verdict: the handler sees the same si_syscall, si_arch and registers under
    enforce (the tracer emulates it) as under the real filter (kill mode)."""
    cmd = [cbuild["sigsys_trap"]]
    _, lack = lacking(cmd, tmp_path, "x86_64", "getppid")
    prof = tmp_path / "trap.json"
    res = cli("generate", str(lack), "--default-action", "trap", "-o", str(prof))
    assert res.returncode == 0, res.stderr
    doc = json.loads(prof.read_text())
    # Returning from the handler needs rt_sigreturn, which the recording never saw.
    doc["syscalls"].append({"names": ["rt_sigreturn"], "action": "SCMP_ACT_ALLOW"})
    prof.write_text(json.dumps(doc))
    enforced, res_e = run_api(cmd, prof, "enforce", tmp_path, "enforce")
    real, res_k = run_api(cmd, prof, "kill", tmp_path, "kill")
    assert res_e.stdout == res_k.stdout
    assert res_e.stdout.decode().startswith("ret=-1 trapped_nr=110 arch=0xc000003e rax=110")
    assert enforced["status"] == real["status"] == 0
    assert [(v["name"], v["action"]) for v in enforced["violations"]] == [("getppid", "trap")]


@needs("seccomp")
@pytest.mark.live
@pytest.mark.parametrize(("workload", "name", "nr", "stdout"), [
    ("int80", "getuid32", 199, "getuid32=-1 "),
    ("hello32", "write", 4, ""),
])
def test_32bit_caller_reported_as_x86(workload: str, name: str, nr: int, stdout: str, cbuild,
                                      tmp_path: Path) -> None:
    cmd = [cbuild[workload]]
    _, prof = lacking(cmd, tmp_path, "x86", name)
    doc, res = run_api(cmd, prof, "enforce", tmp_path)
    assert [(v["arch"], v["name"], v["nr"], v["errno"]) for v in doc["violations"]] == [
        ("x86", name, nr, 1)]
    assert stdout in res.stdout.decode()
    if workload == "hello32":
        assert doc["status"] == 1 and res.stdout == b""  # write failed with EPERM
    res = cli("run", "--profile", str(prof), "--", *cmd)
    assert f" x86 {name}(" in res.stderr.decode()


@needs("seccomp")
@pytest.mark.live
def test_explicit_rule_denials_are_not_violations(cbuild, tmp_path: Path) -> None:
    """Generated profiles answer clone3 with ENOSYS so glibc falls back to clone: threads run,
    the clone3 calls are listed as denied by rule, and --fail-on-violation does not fire."""
    cmd = [cbuild["threads"]]
    full = record(cmd, tmp_path, "full")
    prof = tmp_path / "threads.json"
    assert cli("generate", str(full), "-o", str(prof)).returncode == 0
    for mode in ("enforce", "complain"):
        doc, _ = run_api(cmd, prof, mode, tmp_path, mode)
        assert doc["status"] == 0 and not doc["violated"]
        assert {(v["name"], v["by_rule"], v["errno"]) for v in doc["violations"]} <= {
            ("clone3", True, 38)}
    res = cli("run", "--profile", str(prof), "--fail-on-violation", "--", *cmd)
    assert res.returncode == 0, res.stderr


# --- bad input: one line, 125, nothing runs ----------------------------------------------------


def _arm_profile(tmp_path: Path) -> Path:
    p = tmp_path / "arm.json"
    p.write_text(json.dumps({"defaultAction": "SCMP_ACT_ERRNO", "architectures":
                             ["SCMP_ARCH_AARCH64"], "syscalls": [
                                 {"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"}]}))
    return p


def _rejected_profile(tmp_path: Path) -> Path:
    """A profile no filter can hold: more BPF instructions than the kernel loads. (A name
    libseccomp does not know used to be the example here; every reader now leaves such a rule
    out, as runc does, and says so: see test_inputs.py, issue 11 item 9.)"""
    p = tmp_path / "bad.json"
    rules = [{"names": ["read", "write", "execve"], "action": "SCMP_ACT_ALLOW"}] + [
        {"names": ["socket"], "action": "SCMP_ACT_ALLOW",
         "args": [{"index": 0, "value": v, "op": "SCMP_CMP_EQ"}]} for v in range(5000)]
    p.write_text(json.dumps({"defaultAction": "SCMP_ACT_ERRNO", "architectures":
                             ["SCMP_ARCH_X86_64"], "syscalls": rules}))
    return p


@needs("seccomp")
@pytest.mark.live
@pytest.mark.parametrize("default", ["SCMP_ACT_ERRNO", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_TRAP"])
def test_profile_that_denies_execve_never_starts_the_command(default: str,
                                                             tmp_path: Path) -> None:
    """The filter is loaded right before the execve that starts the command: a profile that
    denies it is said so in one line, exit 126, in enforce and kill modes (under an errno default
    the child could not even exit and died of SIGSEGV in glibc's _exit, reported as the
    command's crash). complain mode lets it through and lists what the profile lacks."""
    prof = tmp_path / "noexec.json"
    prof.write_text(json.dumps({"defaultAction": default, "architectures": ["SCMP_ARCH_X86_64"],
                                "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"}]}))
    marker = tmp_path / "ran"
    what = {"SCMP_ACT_ERRNO": "errno EPERM", "SCMP_ACT_KILL_PROCESS": "kill-process",
            "SCMP_ACT_TRAP": "trap"}[default]
    for mode in ("enforce", "kill"):
        line = assert_one_error_line(
            cli("run", "--profile", str(prof), "--mode", mode, "--", "touch", str(marker)), 126)
        assert line.startswith(f"seccomp-gen: error: {prof}: the profile denies execve on x86_64 "
                               f"({what}): the command never started"), line
        assert not marker.exists()
    res = cli("run", "-q", "--profile", str(prof), "--mode", "complain", "--", "touch",
              str(marker))
    assert res.returncode == 0 and marker.exists()


@pytest.mark.parametrize(("case", "expect"), [
    ("missing", "no such file"),
    ("arm", "the profile is for aarch64, not for this machine"),
    ("rejected", "more than the kernel's limit of 4096"),
    ("mode", "unknown mode 'lax'"),
    ("nocommand", "run needs a command"),
    ("killoutput", "-o needs --mode enforce or complain"),
])
def test_bad_input_is_one_line_before_anything_runs(case: str, expect: str,
                                                    tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    good = tmp_path / "good.trace.json"
    good.write_text("{}")
    profile = {"missing": str(tmp_path / "nope.json"), "arm": str(_arm_profile(tmp_path)),
               "rejected": str(_rejected_profile(tmp_path))}.get(case, str(good))
    args = ["run", "--profile", profile]
    if case == "mode":
        args += ["--mode", "lax"]
    if case == "killoutput":
        args += ["--mode", "kill", "-o", str(tmp_path / "x.trace.json")]
    if case != "nocommand":
        args += ["--", "touch", str(marker)]
    line = assert_one_error_line(cli(*args), 125)
    assert expect in line
    assert not marker.exists()


@needs("seccomp")
@pytest.mark.live
def test_overhead_on_allowed_only_workload(cbuild, tmp_path: Path) -> None:
    """A workload the profile covers never stops: ``run`` costs a fixed start-up, not per call."""
    import time

    cmd = [cbuild["getppid_loop"], "200000"]
    full = record(cmd, tmp_path, "full")
    t0 = time.monotonic()
    assert run(cmd).returncode == 0
    native = time.monotonic() - t0
    t0 = time.monotonic()
    res = cli("run", "-q", "--profile", str(full), "--fail-on-violation", "--", *cmd)
    under = time.monotonic() - t0
    assert res.returncode == 0, res.stderr
    # 200,000 traced calls would take seconds; allowed ones cost nothing extra.
    assert under < native * 1.5 + 1.5, (native, under)
