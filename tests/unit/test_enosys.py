"""Numbers past libseccomp's tables get ENOSYS (glibc then falls back), where the consumer does
not add that itself: seccomp-gen's compiler puts a stub in front of libseccomp's program, the
model says what each format's consumer does (runc: above the highest number the profile names;
LXC: nothing), and a stub that is missing or off by one is caught before a file is written."""

from __future__ import annotations

from dataclasses import replace

import pytest
from helpers.synth_helpers import mixed_trace

from seccomp_gen import libseccomp
from seccomp_gen.errors import SeccompGenError
from seccomp_gen.files.profiles import profile_text
from seccomp_gen.libseccomp import Simulator, enosys_ends, export_bpf, table_end
from seccomp_gen.profile import ERRNO_ENOSYS, ERRNO_EPERM, normalize, widen
from seccomp_gen.synthesize import Policy, synthesize
from seccomp_gen.syscalls.arches import X32_SYSCALL_BIT

ENOSYS = ("errno", ERRNO_ENOSYS)
EPERM = ("errno", ERRNO_EPERM)


def _answer(sim: Simulator, arch: str, nr: int) -> tuple[str, int | None]:
    v = sim.evaluate_raw(libseccomp.audit_arch(arch), nr)
    return (v.action, v.errno)


def test_the_table_ends_are_libseccomps() -> None:
    """The ends are the highest numbers libseccomp names (x32's with its bit, at its own
    512-547 block), and nothing above them is named."""
    for arch in ("x86_64", "x86", "x32"):
        end = table_end(arch)
        assert not libseccomp.syscall_name(arch, end).startswith("syscall_")
        bit = X32_SYSCALL_BIT if arch == "x32" else 0
        assert all(libseccomp.syscall_name(arch, nr | bit).startswith("syscall_")
                   for nr in range((end & ~bit) + 1, 1024))
    assert table_end("x32") & ~X32_SYSCALL_BIT >= 512


@pytest.mark.parametrize("arches", ["observed", "family"])
def test_numbers_past_the_table_get_enosys(arches: str) -> None:
    profile = synthesize(mixed_trace(), Policy(arches=arches))
    sim = Simulator(export_bpf(profile))
    listed = profile.architectures
    for arch in listed:
        end = table_end(arch)
        assert _answer(sim, arch, end + 1) == ENOSYS, arch
        assert _answer(sim, arch, end + 1000) == ENOSYS, arch
    # x86_64 up to the x32 bit; a number with the bit is x32's, killed unless x32 is listed.
    assert _answer(sim, "x86_64", X32_SYSCALL_BIT - 1) == ENOSYS
    x32 = _answer(sim, "x32", X32_SYSCALL_BIT | 0x3FFFFFFF)
    assert x32 == (ENOSYS if "x32" in listed else ("kill", None))
    assert _answer(sim, "x32", table_end("x32") + 1) == (ENOSYS if "x32" in listed
                                                         else ("kill", None))
    i386 = _answer(sim, "x86", 0xFFFFFFFF)
    assert i386 == (ENOSYS if "x86" in listed else ("kill", None))
    # In the table but not allowed: the default, as before (a gap: x86_64 has none at 400).
    assert libseccomp.syscall_name("x86_64", 400).startswith("syscall_")
    assert _answer(sim, "x86_64", 400) == EPERM
    assert _answer(sim, "x86_64", libseccomp.syscall_number("x86_64", "mount")) == EPERM
    # What the trace used still runs, and the model says the same as the filter.
    write = libseccomp.syscall_number("x86_64", "write")
    assert sim.evaluate("x86_64", write).allowed
    end = table_end("x86_64")
    assert profile.verdict("x86_64", None, nr=end + 1, enosys_above=end) == ENOSYS
    assert profile.verdict("x86_64", None, nr=end, enosys_above=end) == EPERM
    assert profile.verdict("x86_64", None, nr=end + 1) == EPERM  # a consumer without a stub


@pytest.mark.parametrize("default", ["log", ("errno", ERRNO_ENOSYS)])
def test_a_default_that_lets_calls_run_gets_no_stub(default: object) -> None:
    """A ``log`` default is left as it is (runc skips its stub too); a default that already
    says ENOSYS needs no stub to say it."""
    profile = synthesize(mixed_trace())
    if default == "log":
        profile = normalize(replace(profile, default_action="log", default_errno=None))
        assert enosys_ends(profile) == {}
        assert export_bpf(profile) == export_bpf(profile, enosys="none")
        sim = Simulator(export_bpf(profile))
        assert _answer(sim, "x86_64", table_end("x86_64") + 1) == ("log", None)
    else:
        profile = normalize(replace(profile, default_errno=ERRNO_ENOSYS))
        sim = Simulator(export_bpf(profile))
        assert _answer(sim, "x86_64", table_end("x86_64") + 1) == ENOSYS


def test_each_consumer_rule() -> None:
    """runc's rule (the highest number the profile names per arch: OCI lists every name on
    every arch), LXC's (none) and ours."""
    profile = widen(synthesize(mixed_trace(), Policy(arches="family")))
    named = {a: max(libseccomp.syscall_number(a, r.name) for r in profile.rules
                    if a in r.arches and libseccomp.knows(a, r.name))
             for a in profile.architectures}
    assert enosys_ends(profile, "profile") == named
    assert enosys_ends(profile, "none") == {}
    assert enosys_ends(profile) == {a: table_end(a) for a in profile.architectures}
    runc = Simulator(export_bpf(profile, enosys="profile"))
    lxc = Simulator(export_bpf(profile, enosys="none"))
    first_unnamed = named["x86_64"] + 1
    assert _answer(runc, "x86_64", first_unnamed) == ENOSYS
    assert _answer(lxc, "x86_64", table_end("x86_64") + 1) == EPERM
    with pytest.raises(SeccompGenError, match="unknown ENOSYS rule"):
        enosys_ends(profile, "crun")


def test_the_stub_is_short() -> None:
    profile = synthesize(mixed_trace(), Policy(arches="family"))
    stub = libseccomp.enosys_stub(enosys_ends(profile))
    assert 0 < len(stub) // 8 <= 12


@pytest.mark.parametrize("fmt", ["python", "oci", "lxc"])
def test_a_missing_or_late_stub_is_caught(monkeypatch: pytest.MonkeyPatch, fmt: str) -> None:
    """A compiler whose stub starts one number late (or is missing) writes nothing: the proof
    asks the number just past each end. LXC's consumer has no stub, so a stub is the error."""
    real = libseccomp.enosys_stub

    def late(ends: dict[str, int]) -> bytes:
        return real({a: e + 1 for a, e in ends.items()})

    def added(ends: dict[str, int]) -> bytes:
        return real({a: table_end(a) for a in ("x86_64",)})

    profile = synthesize(mixed_trace(), Policy(args="strict", baseline="runc"))
    profile_text(profile, fmt, "p")  # the real compiler passes
    monkeypatch.setattr(libseccomp, "enosys_stub", added if fmt == "lxc" else late)
    with pytest.raises(SeccompGenError, match="does not do what the profile says"):
        profile_text(profile, fmt, "p")


def test_a_stub_that_would_pass_the_kernels_limit_is_refused() -> None:
    """1017 ioctl values (distinct upper halves) compile to 4094 instructions: loadable alone,
    over the kernel's 4096 with the stub in front. One line, not a kernel EINVAL later."""
    from seccomp_gen.linux.seccomp import MAX_INSNS
    from seccomp_gen.profile import ArgCondition, Profile, Rule

    rules = tuple(Rule("ioctl", ("x86_64",), conditions=(ArgCondition(1, "EQ", v << 32 | v),))
                  for v in range(1017))
    profile = replace(normalize(Profile("errno", 1, ("x86_64",), rules)), optimize=1)
    alone = len(export_bpf(profile, enosys="none")) // 8
    stub = len(libseccomp.enosys_stub(enosys_ends(profile))) // 8
    assert alone <= MAX_INSNS < alone + stub
    with pytest.raises(SeccompGenError, match="with its ENOSYS stub, more than the kernel's"):
        export_bpf(profile)
