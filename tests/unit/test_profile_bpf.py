"""libseccomp compiles every profile; the exported BPF proves Minimal and Complete.

Simulated: the compiled BPF is evaluated in Python for (arch, nr, args) tuples of hand-built
traces. The same checks on real recordings: tests/live/test_recorded_profiles_bpf.py; a generated
filter loaded for real: tests/e2e/test_python_table_loaded.py.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pyseccomp
import pytest
from helpers.minimal_complete import assert_complete, assert_minimal
from helpers.synth_helpers import mixed_trace

from seccomp_gen.errors import SeccompGenError
from seccomp_gen.formats import emit, oci, python_table
from seccomp_gen.libseccomp import compile_profile, export_bpf, simulator, tuned
from seccomp_gen.linux.cbpf import decode, run_bpf, seccomp_data
from seccomp_gen.profile import ArgCondition, Profile, Rule, widen
from seccomp_gen.synthesize import Policy, synthesize

DATA = Path(__file__).resolve().parents[1] / "data"

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


def _docker_default() -> Profile:
    from seccomp_gen.files.profiles import load_profile, one_family

    return one_family(load_profile(DATA / "docker-default-seccomp.json")[0], "x86_64")


@pytest.mark.parametrize("which", ["mixed", "docker"])
def test_python_table_builds_the_same_filter(tmp_path: Path, which: str) -> None:
    """The table's build() makes the program seccomp-gen compiles from the table read back:
    the same priorities and the same CTL_OPTIMIZE (Docker's default takes the binary tree)."""
    p = tuned(synthesize(mixed_trace(), Policy(args="strict", baseline="crun"))
              if which == "mixed" else _docker_default())
    assert p.optimize == (1 if which == "mixed" else 2)
    path = tmp_path / "pol.py"
    path.write_text(python_table.emit(p))
    back = python_table.parse(path.read_text())
    assert back.optimize == p.optimize and export_bpf(back) == export_bpf(p)
    ns: dict[str, Any] = {"__name__": "pol"}
    exec(compile(path.read_text(), str(path), "exec"), ns)
    with tempfile.TemporaryFile() as fh:
        ns["build"]().export_bpf(fh)
        fh.seek(0)
        # apply() loads libseccomp's program behind the same ENOSYS stub as seccomp-gen's own.
        assert ns["_enosys_stub"](pyseccomp) + fh.read() == export_bpf(back)
        assert fh.tell() and export_bpf(back, enosys="none") != export_bpf(back)


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
