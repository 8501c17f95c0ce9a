"""What bench/filter_cost computes without loading a filter: how many BPF instructions a call
executes (``run_counted``) and which calls the kernel's action cache lets through
without running the filter (``kernel_caches_allow``, a copy of ``seccomp_is_const_allow``).

The cache itself cannot be observed here (``/proc/PID/seccomp_cache`` needs
CONFIG_SECCOMP_CACHE_DEBUG); bench/filter_cost measures its effect for real."""

from __future__ import annotations

from seccomp_gen.libseccomp import audit_arch, export_bpf, syscall_number
from seccomp_gen.linux.cbpf import (
    JEQ_K,
    LD_W_ABS,
    NR,
    RET_ALLOW,
    RET_ERRNO,
    RET_K,
    assemble,
    decode,
    insn,
    kernel_caches_allow,
    run_bpf,
    run_counted,
    seccomp_data,
)
from seccomp_gen.profile import ArgCondition, Profile, Rule

X86_64 = audit_arch("x86_64")


def _profile() -> Profile:
    return Profile(default_action="errno", default_errno=1, architectures=("x86_64",),
                   rules=(Rule("getppid", ("x86_64",)), Rule("read", ("x86_64",)),
                          Rule("socket", ("x86_64",),
                               conditions=(ArgCondition(0, "EQ", 1),))))


def test_steps_count_the_instructions_run() -> None:
    prog = decode(assemble([(LD_W_ABS, 0, 0, NR), (JEQ_K, 0, "deny", 39),
                            (RET_K, 0, 0, RET_ALLOW), (RET_K, 0, 0, RET_ERRNO | 1)],
                           {"deny": 3}))
    assert run_counted(prog, seccomp_data(X86_64, 39)) == (RET_ALLOW, 3)
    assert run_counted(prog, seccomp_data(X86_64, 40)) == (RET_ERRNO | 1, 3)
    assert run_bpf(prog, seccomp_data(X86_64, 39)) == RET_ALLOW


def test_cache_allows_only_unconditional_allows() -> None:
    prog = decode(export_bpf(_profile()))

    def nr(name: str) -> int:
        return syscall_number("x86_64", name)

    assert kernel_caches_allow(prog, X86_64, nr("getppid"))
    assert kernel_caches_allow(prog, X86_64, nr("read"))
    # An argument-checked allow loads args[0]: the filter runs for every socket call.
    assert not kernel_caches_allow(prog, X86_64, nr("socket"))
    # Denied calls are never cached (only ALLOW is).
    assert not kernel_caches_allow(prog, X86_64, nr("write"))
    # Another arch is not listed: killed (badarch), so not cached either.
    assert not kernel_caches_allow(prog, audit_arch("x86"), 20)
    # x32 numbers are outside the kernel's bitmap.
    assert not kernel_caches_allow(prog, X86_64, nr("read") | 0x40000000)


def test_cache_refuses_what_it_cannot_evaluate() -> None:
    # An ALU op other than AND K, or a load of the instruction pointer: not constant.
    neg = decode(insn(LD_W_ABS, 0, 0, NR) + insn(0x84, 0, 0, 0) + insn(RET_K, 0, 0, RET_ALLOW))
    assert not kernel_caches_allow(neg, X86_64, 39)
    ip = decode(insn(LD_W_ABS, 0, 0, 8) + insn(RET_K, 0, 0, RET_ALLOW))
    assert not kernel_caches_allow(ip, X86_64, 39)
    allow = decode(insn(LD_W_ABS, 0, 0, NR) + insn(0x54, 0, 0, 0xFF) + insn(RET_K, 0, 0,
                                                                          RET_ALLOW))
    assert kernel_caches_allow(allow, X86_64, 39)


def test_generated_profiles_keep_every_plain_allow_cached() -> None:
    """The compiled profile of a sample trace lets the kernel's cache answer every syscall it
    allows without an argument check, and only those: a prefix or ordering that loads anything
    but the number and arch would make every call run the filter (bench/filter_cost measures
    what that costs)."""
    from helpers.paths import SAMPLES

    from seccomp_gen.files.traces import load
    from seccomp_gen.synthesize import Policy, synthesize

    for sample in ("ls", "qemu-boot"):
        trace = load(SAMPLES / f"{sample}.trace.json")
        for args in ("safe", "strict"):
            profile = synthesize(trace, Policy(args=args))
            prog = decode(export_bpf(profile))
            plain = {r.name for r in profile.rules_for("x86_64")
                     if r.action == "allow" and not r.conditions}
            checked = {r.name for r in profile.rules_for("x86_64")} - plain
            assert plain
            for name in plain - checked:
                assert kernel_caches_allow(prog, X86_64, syscall_number("x86_64", name)), \
                    (sample, args, name)
            for name in checked:
                assert not kernel_caches_allow(prog, X86_64, syscall_number("x86_64", name)), \
                    (sample, args, name)
