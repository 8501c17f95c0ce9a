"""libseccomp compiles every profile; the exported BPF proves Minimal and Complete.

Simulated tests evaluate the compiled BPF in Python for (arch, nr, args) tuples; live tests record
real programs (ptrace) and load a generated filter in a forked child.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
from helpers.synth_helpers import mixed_trace, observed_tuples, rec, trace

import seccomp_gen
from seccomp_gen.cli import generate as generate_cli
from seccomp_gen.errors import SeccompGenError
from seccomp_gen.files import traces
from seccomp_gen.formats import emit, oci, parse, python_table
from seccomp_gen.libseccomp import Simulator, compile_profile, export_bpf, simulator, syscall_number
from seccomp_gen.linux.cbpf import decode, run_bpf, seccomp_data
from seccomp_gen.model import Trace
from seccomp_gen.profile import ArgCondition, Profile, Rule, widen
from seccomp_gen.synthesize import Policy, synthesize

#: Names no test workload makes; each must be denied on every arch that has it.
UNOBSERVED = ("mount", "ptrace", "kexec_load", "init_module", "bpf", "unshare", "setns",
              "reboot", "swapon", "pivot_root", "uname", "chroot")


def _expected(p: Profile, arch: str, name: str) -> tuple[str, int | None]:
    """The verdict the profile means for an observed call (clone3 may be answered ENOSYS)."""
    for r in p.rules_for(arch):
        if r.name == name and r.action != "allow":
            return r.verdict
    return ("allow", None)


def assert_complete(p: Profile, t: Trace, sim: Simulator) -> None:
    for arch, name, regs in observed_tuples(t):
        v = sim.check(arch, name, regs)
        assert (v.action, v.errno) == _expected(p, arch, name), (arch, name, regs, v)


def assert_minimal(p: Profile, t: Trace, sim: Simulator, *, by_name: bool = False) -> None:
    """Unobserved syscalls get the default verdict; with ``by_name`` False, per arch too."""
    observed = {(r.arch, r.name) for r in t.syscalls}
    for arch in p.architectures:
        for name in UNOBSERVED:
            nr = syscall_number(arch, name)
            if nr < 0 or (arch, name) in observed or name in p.names(arch):
                continue
            v = sim.evaluate(arch, nr)
            assert (v.action, v.errno) == p.default_verdict, (arch, name, v)
        if by_name:
            continue
        # Nothing observed only on another arch is allowed on this one.
        for r in t.syscalls:
            if (arch, r.name) in observed or r.name.startswith("syscall_"):
                continue
            nr = syscall_number(arch, r.name)
            if nr >= 0 and r.name not in p.names(arch):
                assert not sim.evaluate(arch, nr).allowed, (arch, r.name)


# --- simulated ----------------------------------------------------------------------------------


@pytest.mark.parametrize("args", ["none", "safe", "strict"])
def test_hand_built_trace_minimal_and_complete(args: str) -> None:
    t = mixed_trace()
    p = synthesize(t, Policy(args=args))
    sim = simulator(p)
    assert_complete(p, t, sim)
    assert_minimal(p, t, sim)
    # i386 and x32 really are separate: x86_64's openat is not allowed to 32-bit callers.
    assert not sim.check("x86", "openat").allowed
    assert not sim.check("x32", "read").allowed


def test_argument_rules_in_bpf() -> None:
    p = synthesize(mixed_trace(), Policy(args="strict"))
    sim = simulator(p)
    assert sim.check("x86_64", "socket", [2, 1]).allowed
    assert not sim.check("x86_64", "socket", [10, 1]).allowed  # AF_INET6 never seen
    assert not sim.check("x86_64", "socket", [2, 2]).allowed  # type pinned under strict
    assert sim.check("x86_64", "clone", [0x01200011]).allowed
    assert not sim.check("x86_64", "clone", [0x01200011 | 0x10000000]).allowed  # CLONE_NEWUSER
    assert not sim.check("x86_64", "mprotect", [0, 0, 5]).allowed  # PROT_EXEC never seen
    assert not sim.check("x86_64", "ioctl", [0, 0x5402]).allowed
    assert sim.check("x86", "socketcall", [3]).allowed
    assert not sim.check("x86", "socketcall", [2]).allowed  # SYS_BIND never seen
    v = sim.check("x86_64", "clone3")
    assert (v.action, v.errno) == ("errno", 38)


def test_oci_form_is_name_based_and_still_minimal() -> None:
    t = mixed_trace()
    p = synthesize(t, Policy(args="safe"))
    text = emit(p, "oci")
    wide = oci.parse(text)
    assert wide == widen(p)
    sim = simulator(wide)
    assert_complete(wide, t, sim)
    assert_minimal(wide, t, sim, by_name=True)
    assert sim.check("x86", "openat").allowed  # as runc applies it: every rule on every arch


@pytest.mark.parametrize("action", ["errno", "kill", "kill-process", "trap", "log"])
def test_every_default_action_compiles(action: str) -> None:
    p = synthesize(mixed_trace(), Policy(default_action=action, baseline="runc"))
    v = simulator(p).check("x86_64", "mount")
    assert (v.action, v.errno) == p.default_verdict


def test_python_table_builds_the_same_filter(tmp_path: Path) -> None:
    p = synthesize(mixed_trace(), Policy(args="strict", baseline="crun"))
    path = tmp_path / "pol.py"
    path.write_text(python_table.emit(p))
    ns: dict[str, Any] = {"__name__": "pol"}
    exec(compile(path.read_text(), str(path), "exec"), ns)
    with tempfile.TemporaryFile() as fh:
        ns["build"]().export_bpf(fh)
        fh.seek(0)
        assert fh.read() == export_bpf(p)


def test_libseccomp_refusals_are_one_line() -> None:
    bad = Profile("errno", 1, ("x86_64",), (Rule("no_such_call", ("x86_64",)),))
    with pytest.raises(SeccompGenError, match="does not know the syscall x86_64/no_such_call"):
        compile_profile(bad)
    with pytest.raises(SeccompGenError, match="unknown architecture"):
        compile_profile(Profile("errno", 1, ("pdp11",), ()))


def test_bpf_interpreter_basics() -> None:
    # ld [0]; jeq #5, 0, 1; ret ALLOW; ret ERRNO(7)
    prog = b"".join(
        ins.to_bytes(2, "little") + bytes([jt, jf]) + k.to_bytes(4, "little")
        for ins, jt, jf, k in ((0x20, 0, 0, 0), (0x15, 0, 1, 5), (0x06, 0, 0, 0x7FFF0000),
                               (0x06, 0, 0, 0x00050007)))
    code = decode(prog)
    assert run_bpf(code, seccomp_data(0xC000003E, 5)) == 0x7FFF0000
    assert run_bpf(code, seccomp_data(0xC000003E, 6)) == 0x00050007
    p = Profile("errno", 1, ("x86_64",), (
        Rule("read", ("x86_64",), conditions=(ArgCondition(0, "GT", 2**40),)),))
    sim = simulator(p)
    assert sim.check("x86_64", "read", [2**40 + 1]).allowed  # high word compared
    assert not sim.check("x86_64", "read", [2**40]).allowed
    assert not sim.evaluate("aarch64", 63).allowed  # foreign arch: KILL
    assert sim.evaluate("aarch64", 63).action == "kill"


# --- the generate command -----------------------------------------------------------------------


def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    generate_cli.add_arguments(parser)
    args = parser.parse_args(argv)
    return generate_cli.run(args, None, None)


def test_generate_writes_checked_profiles(tmp_path: Path) -> None:
    tpath = tmp_path / "t.trace.json"
    traces.dump(mixed_trace(), tpath)
    for fmt in ("oci", "lxc", "python"):
        out = tmp_path / f"p.{fmt}"
        assert _run([str(tpath), "--format", fmt, "-o", str(out), "--baseline", "runc"]) == 0
        assert parse(out.read_text(), fmt).names("x86") >= {"socketcall", "read"}
    out = tmp_path / "d.json"
    assert _run([str(tpath), str(tpath), "--docker", "-o", str(out), "--args", "strict",
                 "--default-action", "kill-process"]) == 0
    assert json.loads(out.read_text())["defaultAction"] == "SCMP_ACT_KILL_PROCESS"


def test_generate_errors(tmp_path: Path) -> None:
    tpath = tmp_path / "t.trace.json"
    traces.dump(mixed_trace(), tpath)
    corrupt = tmp_path / "bad.trace.json"
    corrupt.write_text('{"format": "seccomp-gen-trace", "version": 1, "header": {')
    out = tmp_path / "p.json"
    out.write_text("old")
    cases = [
        ([str(tpath), "--format", "yaml", "-o", str(tmp_path / "x")], "unknown format"),
        ([str(tpath), "-o", str(out)], "already exists"),
        (["-o", str(tmp_path / "y")], "at least one trace"),
        ([str(corrupt), "-o", str(tmp_path / "z")], "truncated"),
        ([str(tmp_path / "missing.json"), "-o", str(tmp_path / "z")], "no such file"),
        ([str(tpath), "--format", "lxc", "--default-action", "log", "-o", str(tmp_path / "l")],
         "LXC policies have no"),
        ([str(tpath), "--format", "lxc", "--docker", "-o", str(tmp_path / "l")], "--docker"),
    ]
    for argv, match in cases:
        with pytest.raises(SeccompGenError, match=match) as info:
            _run(argv)
        assert "\n" not in info.value.one_line()
    assert out.read_text() == "old"
    assert _run([str(tpath), "-o", str(out), "--force"]) == 0
    assert out.read_text().startswith("{")
    conflict = tmp_path / "arm.trace.json"
    traces.dump(trace([rec("aarch64", "read")], host="aarch64"), conflict)
    with pytest.raises(SeccompGenError, match="different host arches"):
        _run([str(tpath), str(conflict), "-o", str(tmp_path / "c.json")])


# --- live: real recordings, real filters ----------------------------------------------------------


def _record(argv: list[str]) -> Trace:
    try:
        return seccomp_gen.record(argv)
    except SeccompGenError as exc:  # pragma: no cover - depends on the host
        pytest.skip(f"cannot record here: {exc.one_line()}")


@pytest.mark.live
@pytest.mark.parametrize("args", ["none", "safe", "strict"])
def test_recorded_ls_minimal_and_complete(args: str) -> None:
    t = _record(["ls", "-la", "/"])
    p = synthesize(t, Policy(args=args))
    sim = simulator(p)
    assert_complete(p, t, sim)
    assert_minimal(p, t, sim)


@pytest.mark.live
def test_recorded_threads_and_i386(cbuild: Any) -> None:
    threads = _record([cbuild["threads"]])
    p = synthesize(threads, Policy(args="safe"))
    sim = simulator(p)
    assert_complete(p, threads, sim)
    assert_minimal(p, threads, sim)
    t32 = _record([cbuild["hello32"]])
    assert any(r.arch == "x86" for r in t32.syscalls)
    p32 = synthesize(t32, Policy(args="strict"))
    sim32 = simulator(p32)
    assert_complete(p32, t32, sim32)
    assert_minimal(p32, t32, sim32)


def _load_and_exec(policy_py: Path, argv: list[str]) -> int:
    """Fork; in the child apply the generated module's filter and exec argv; wait status."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            ns: dict[str, Any] = {"__name__": "policy"}
            exec(compile(policy_py.read_text(), str(policy_py), "exec"), ns)
            ns["apply"]()
            os.execv(argv[0], argv)
        finally:
            os._exit(127)
    _, status = os.waitpid(pid, 0)
    return status


@pytest.mark.live
def test_generated_python_filter_runs_the_recorded_work(tmp_path: Path) -> None:
    argv = ["/bin/ls", "-la", "/"]
    t = _record(argv)
    p = synthesize(t, Policy(default_action="kill-process"))
    path = tmp_path / "policy.py"
    path.write_text(python_table.emit(p))
    status = _load_and_exec(path, argv)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status
    # Drop one recorded syscall and the same work dies of SIGSYS.
    dropped = Profile(p.default_action, p.default_errno, p.architectures,
                      tuple(r for r in p.rules if r.name != "getdents64"))
    path.write_text(python_table.emit(dropped))
    status = _load_and_exec(path, argv)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == 31, status


if sys.platform != "linux":  # pragma: no cover
    pytest.skip("Linux only", allow_module_level=True)
