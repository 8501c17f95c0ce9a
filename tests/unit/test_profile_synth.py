"""Pure tests of the profile model, synthesis policies, baselines and trace merging."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest
from helpers.synth_helpers import THREAD_FLAGS, mixed_trace, rec, trace

from seccomp_gen.errors import SeccompGenError
from seccomp_gen.merge import merge_traces
from seccomp_gen.profile import (
    ArgCondition,
    Profile,
    Rule,
    compare_counts,
    normalize,
    widen,
)
from seccomp_gen.synthesize import Policy, synthesize
from seccomp_gen.syscalls.baselines import BASELINES
from seccomp_gen.syscalls.constants import CLONE_NS_MASK


def _conds(p: Profile, name: str, arch: str = "x86_64") -> set[tuple[ArgCondition, ...]]:
    return {r.conditions for r in p.rules_for(arch) if r.name == name and r.action == "allow"}


def test_minimal_per_arch_and_family_listed() -> None:
    p = synthesize(mixed_trace(), Policy(args="none"))
    # Only the ABIs the trace used are listed; x32's calls are then killed, and a note says so.
    assert p.architectures == ("x86_64", "x86")
    assert any(n.startswith("x32 not used by the traces") for n in p.notes), p.notes
    assert p.names("x86") == {"read", "write", "exit_group", "socketcall", "mmap2",
                              "personality"}
    x64 = {r.name for r in mixed_trace().syscalls
           if r.arch == "x86_64" and not r.name.startswith("syscall_")}
    assert p.names("x86_64") == x64
    assert p.names("x32") == frozenset()
    assert all(not r.conditions for r in p.rules)
    # --arches family lists the whole family, and says what that means for OCI.
    wide = synthesize(mixed_trace(), Policy(args="none", arches="family"))
    assert wide.architectures == ("x86_64", "x86", "x32")
    assert any(n.startswith("--arches family: x32 listed") for n in wide.notes), wide.notes
    assert wide.rules == p.rules
    with pytest.raises(SeccompGenError, match="arch policy"):
        Policy(arches="all")


def test_an_x86_64_trace_lists_x86_64_alone() -> None:
    """A workload that made no i386 call gets no i386 ABI: under runc (every name on every
    listed ABI) an ``int $0x80`` write would otherwise pass."""
    t = trace([rec("x86_64", "write"), rec("x86_64", "exit_group")])
    assert synthesize(t).architectures == ("x86_64",)
    # A baseline runs on the host's ABI even if the trace has only i386 calls.
    t32 = trace([rec("x86", "write")])
    assert synthesize(t32, Policy(baseline="runc")).architectures == ("x86_64", "x86")
    assert synthesize(t32, Policy(baseline="none")).architectures == ("x86",)


def test_unnameable_syscall_is_reported_not_dropped() -> None:
    p = synthesize(mixed_trace())
    assert [(s.arch, s.name) for s in p.skipped] == [("x86_64", "syscall_0x1f4")]
    assert "0x1f4" in p.skipped[0].reason and "libseccomp 2.5.4" in p.skipped[0].reason


def test_safe_pins_escapes_only() -> None:
    p = synthesize(mixed_trace(), Policy(args="safe"))
    ns = ArgCondition(0, "MASKED_EQ", CLONE_NS_MASK, 0)
    assert _conds(p, "clone") == {(ns,)}
    assert _conds(p, "socket") == {(ArgCondition(0, "EQ", 1),), (ArgCondition(0, "EQ", 2),)}
    assert _conds(p, "personality") == {(ArgCondition(0, "EQ", 0xFFFFFFFF),)}
    assert _conds(p, "personality", "x86") == {(ArgCondition(0, "EQ", 8),)}
    assert _conds(p, "prctl") == {(ArgCondition(0, "EQ", 15),)}
    assert _conds(p, "socketcall", "x86") == {(ArgCondition(0, "EQ", 1),),
                                              (ArgCondition(0, "EQ", 3),)}
    for name in ("ioctl", "fcntl", "mmap", "mprotect"):
        assert _conds(p, name) == {()}, name
    assert any("socketcall" in n and "do not cover" in n for n in p.notes)


def test_strict_pins_ioctl_fcntl_and_prot_exec() -> None:
    p = synthesize(mixed_trace(), Policy(args="strict"))
    assert _conds(p, "ioctl") == {(ArgCondition(1, "EQ", 0x5401),)}
    assert _conds(p, "fcntl") == {(ArgCondition(1, "EQ", 1),), (ArgCondition(1, "EQ", 2),)}
    # W^X: mmap was seen writable and executable, never both at once; mprotect never executable.
    assert _conds(p, "mmap") == {(ArgCondition(2, "MASKED_EQ", 6, 2),),
                                 (ArgCondition(2, "MASKED_EQ", 6, 4),)}
    assert _conds(p, "mprotect") == {(ArgCondition(2, "MASKED_EQ", 6, 0),)}
    assert _conds(p, "socket") == {(ArgCondition(0, "EQ", 1), ArgCondition(1, "EQ", 0x80001)),
                                   (ArgCondition(0, "EQ", 2), ArgCondition(1, "EQ", 1))}
    assert _conds(p, "clone") == {(ArgCondition(0, "MASKED_EQ", CLONE_NS_MASK, 0),)}


def test_capped_arguments_are_not_pinned() -> None:
    t = trace([rec("x86_64", "ioctl", {(1,)}, capped=True)])
    p = synthesize(t, Policy(args="strict"))
    assert _conds(p, "ioctl") == {()}
    assert any("cap" in n for n in p.notes)


def test_clone3_answered_enosys_and_clone_pinned() -> None:
    p = synthesize(mixed_trace(), Policy(args="safe"))
    c3 = [r for r in p.rules_for("x86_64") if r.name == "clone3"]
    assert [(r.action, r.errno) for r in c3] == [("errno", 38)]
    assert "clone3" not in p.names("x86_64")
    # clone3's thread flags have no namespace bits: the clone fallback allows them.
    (ns,) = next(iter(_conds(p, "clone")))
    assert ns.matches(THREAD_FLAGS) and not ns.matches(THREAD_FLAGS | 0x10000000)
    # With no argument policy, clone3 is simply allowed.
    assert "clone3" in synthesize(mixed_trace(), Policy(args="none")).names("x86_64")


def test_clone3_enosys_even_unobserved_unless_default_already_is() -> None:
    t = trace([rec("x86_64", "read")])
    p = synthesize(t)
    assert [(r.name, r.errno) for r in p.rules if r.action == "errno"] == [("clone3", 38)]
    p38 = synthesize(t, Policy(errno=38))
    assert all(r.name != "clone3" for r in p38.rules)
    assert p38.default_verdict == ("errno", 38)


@pytest.mark.parametrize("action", ["kill", "kill-process", "trap", "log"])
def test_default_actions(action: str) -> None:
    p = synthesize(mixed_trace(), Policy(default_action=action))
    assert p.default_verdict == (action, None)


def test_bad_policy_values() -> None:
    with pytest.raises(SeccompGenError, match="argument policy"):
        Policy(args="paranoid")
    with pytest.raises(SeccompGenError, match="default action"):
        Policy(default_action="allow")
    with pytest.raises(SeccompGenError, match="baseline"):
        Policy(baseline="gvisor")
    with pytest.raises(SeccompGenError, match="errno"):
        Policy(errno=5000)


def test_baseline_rules_marked_with_reason_on_host_arch() -> None:
    p = synthesize(mixed_trace(), Policy(baseline="runc"))
    base = {r.name: r for r in p.rules if r.baseline}
    # close, execve, fcntl, openat, read and write were observed (their arguments pinned by
    # no rule under --args safe), so they are not baseline-only.
    assert set(base) == set(BASELINES["runc"]) - {"close", "execve", "fcntl", "openat", "read",
                                                   "write"}
    assert all(r.arches == ("x86_64",) and r.comment.startswith("runc: ") for r in base.values())
    assert all(reason for b in BASELINES.values() for reason in b.values())


def test_baseline_widens_observed_pinned_rule() -> None:
    t = trace([rec("x86_64", "futex", {(128,)})])
    p = synthesize(t, Policy(args="strict", baseline="runc"))
    futex = [r for r in p.rules if r.name == "futex"]
    assert len(futex) == 1 and futex[0].baseline and not futex[0].conditions


def test_pinned_baseline_keeps_its_conditions() -> None:
    t = trace([rec("x86_64", "read")])
    p = synthesize(t, Policy(baseline="lxc"))
    clone = [r for r in p.rules if r.name == "clone"]
    assert [r.conditions for r in clone] == [(ArgCondition(0, "MASKED_EQ", CLONE_NS_MASK, 0),)]
    assert clone[0].baseline
    # --args none pins nothing, the baseline included.
    p = synthesize(t, Policy(args="none", baseline="lxc"))
    assert [r.conditions for r in p.rules if r.name == "clone"] == [()]


def test_synthesis_is_deterministic() -> None:
    t = mixed_trace()
    shuffled = list(t.syscalls)
    random.Random(7).shuffle(shuffled)
    assert synthesize(replace(t, syscalls=tuple(shuffled))) == synthesize(t)


def test_normalize_merges_arches_and_drops_default_and_shadowed() -> None:
    rules = (
        Rule("read", ("x86",)), Rule("read", ("x86_64",)),
        Rule("mmap", ("x86_64",), conditions=(ArgCondition(2, "EQ", 3),)),
        Rule("mmap", ("x86_64",)),
        Rule("uname", ("x86_64",), action="errno", errno=1),
    )
    p = normalize(Profile("errno", 1, ("x86", "x86_64"), rules))
    assert p.architectures == ("x86_64", "x86")
    assert p.rules == (Rule("mmap", ("x86_64",)), Rule("read", ("x86_64", "x86")))
    assert widen(p).rules[0].arches == ("x86_64", "x86")


def test_model_invariants() -> None:
    with pytest.raises(ValueError, match="same argument"):
        Rule("x", ("x86_64",), conditions=(ArgCondition(0, "EQ", 1), ArgCondition(0, "EQ", 2)))
    with pytest.raises(ValueError):
        ArgCondition(6, "EQ", 1)
    with pytest.raises(ValueError):
        Profile("allow", None, ("x86_64",), ())
    assert ArgCondition(0, "MASKED_EQ", 4, 0).matches(3)
    assert not ArgCondition(0, "MASKED_EQ", 4, 0).matches(7)


def test_merge_is_union() -> None:
    a = trace([rec("x86_64", "read"), rec("x86_64", "socket", {(1, 1)})], command=("a",))
    b = trace([rec("x86_64", "write"), rec("x86_64", "socket", {(2, 1)})], command=("b",))
    m = merge_traces([a, b])
    assert m.syscall_set() == {("x86_64", "read"), ("x86_64", "write"), ("x86_64", "socket")}
    sock = m.find("socket")
    assert sock is not None and sock.args is not None
    assert sock.args.values == {(1, 1), (2, 1)} and sock.count == 2
    prov = synthesize(m).provenance
    assert "recorded: a" in prov and "recorded: b" in prov
    assert merge_traces([a]) is a


def test_merge_refusals() -> None:
    with pytest.raises(SeccompGenError, match="no traces"):
        merge_traces([])
    a = trace([rec("x86_64", "read")])
    b = trace([rec("aarch64", "read")], host="aarch64")
    with pytest.raises(SeccompGenError, match="different host arches"):
        merge_traces([a, b])
    c = trace([rec("x86_64", "read", nr=99)])
    with pytest.raises(SeccompGenError, match="disagree"):
        merge_traces([a, c])
    d = trace([rec("x86_64", "write", nr=0)])
    with pytest.raises(SeccompGenError, match="disagree on x86_64 nr 0"):
        merge_traces([a, d])


def test_merge_placeholder_yields_to_real_name() -> None:
    a = trace([rec("x86_64", "syscall_0x1b3", nr=0x1B3)])
    b = trace([rec("x86_64", "clone3")])
    m = merge_traces([a, b])
    assert m.syscall_set() == {("x86_64", "clone3")}


def test_compare_counts() -> None:
    a = synthesize(trace([rec("x86_64", "read"), rec("x86_64", "write")]))
    b = synthesize(trace([rec("x86_64", "read"), rec("x86_64", "uname")]))
    c = compare_counts(a, b, "x86_64")
    assert (c.a_allowed, c.b_allowed, c.both, c.only_a, c.only_b) == (
        2, 2, 1, ("write",), ("uname",))


def test_provenance_is_one_line_per_entry() -> None:
    t = trace([rec("x86_64", "read")], command=("sh", "-c", "echo a\necho b"))
    p = synthesize(t)
    assert all("\n" not in line for line in p.provenance)
    assert any("echo a\\necho b" in line for line in p.provenance)


def test_runtime_defaults_pin_the_capability_prctl_options() -> None:
    """runc and crun at their defaults drop capabilities with prctl after the filter: only
    PR_SET_KEEPCAPS, PR_CAPBSET_DROP and PR_CAP_AMBIENT are allowed, not every prctl."""
    t = trace([rec("x86_64", "read")])
    for runtime in ("runc", "docker", "podman", "crun"):
        p = synthesize(t, Policy(baseline=runtime))
        prctl = sorted(r.conditions for r in p.rules if r.name == "prctl")
        assert prctl == [(ArgCondition(0, "EQ", option, 0),) for option in (8, 24, 47)], runtime
    # With no_new_privs the runtimes make no prctl call after the filter.
    for runtime in ("runc-nnp", "crun-nnp"):
        assert "prctl" not in synthesize(t, Policy(baseline=runtime)).names()


def test_strict_keeps_write_xor_execute() -> None:
    """Under --args strict, mmap/mprotect may map writable or executable as recorded, never
    both unless a recorded call asked for both (the mask is PROT_WRITE|PROT_EXEC)."""
    rw, rx, rwx, ro = 0x3, 0x5, 0x7, 0x1
    t = trace([rec("x86_64", "mprotect", {(rw,), (rx,), (ro,)}),
               rec("x86_64", "mmap", {(rw,)})])
    p = synthesize(t, Policy(args="strict"))
    for name, allowed in (("mprotect", (rw, rx, ro, 0x2, 0x4, 0)), ("mmap", (rw, 0x2))):
        for prot in allowed:
            assert p.verdict("x86_64", name, (0, 0, prot)) == ("allow", None), (name, prot)
        assert p.verdict("x86_64", name, (0, 0, rwx)) != ("allow", None), name
        assert p.verdict("x86_64", name, (0, 0, 0x6)) != ("allow", None), name
    assert p.verdict("x86_64", "mmap", (0, 0, rx)) != ("allow", None)
    assert p.verdict("x86_64", "mmap", (0, 0, ro)) != ("allow", None)
    # A recorded RWX mapping (a JIT) is allowed, and only then.
    jit = synthesize(trace([rec("x86_64", "mprotect", {(rwx,)})]), Policy(args="strict"))
    assert jit.verdict("x86_64", "mprotect", (0, 0, rwx)) == ("allow", None)
    # The safe policy does not pin protections at all.
    assert synthesize(t).verdict("x86_64", "mprotect", (0, 0, rwx)) == ("allow", None)


def test_merge_with_a_trace_that_records_no_arguments() -> None:
    """A log-backend run (no arguments seen) merged with a ptrace run: the socket calls of the
    log run had unknown arguments, so the merged socket record is incomplete and left unpinned
    (before, the ptrace run's pins were kept, denying what the log run did); fcntl, made only in
    the run that saw arguments, keeps its pins."""
    seen = trace([rec("x86_64", "socket", {(2, 1)}), rec("x86_64", "fcntl", {(1,)})],
                 command=("a",))
    blind = trace([rec("x86_64", "socket"), rec("x86_64", "read")], command=("b",))
    blind = replace(blind, header=replace(blind.header, records_args=False))
    for m in (merge_traces([seen, blind]), merge_traces([blind, seen])):
        sock, fcntl = m.find("socket"), m.find("fcntl")
        assert sock is not None and (sock.args is None or sock.args.capped)
        assert fcntl is not None and fcntl.args is not None and not fcntl.args.capped
        p = synthesize(m, Policy(args="safe"))
        assert _conds(p, "socket") == {()}
        assert m.header.records_args


def test_recorded_io_uring_allowed_or_answered_enosys() -> None:
    """Recorded io_uring calls are allowed (the profile runs what was recorded); with
    ``--io-uring enosys`` they get ENOSYS (programs fall back to plain calls) and a note."""
    t = trace([rec("x86_64", "read"), rec("x86_64", "io_uring_setup"),
               rec("x86_64", "io_uring_enter")])
    p = synthesize(t, Policy(io_uring="enosys"))
    got = {r.name: (r.action, r.errno) for r in p.rules_for("x86_64")}
    assert got["io_uring_setup"] == got["io_uring_enter"] == ("errno", 38)
    assert got["read"] == ("allow", None)
    assert any("io_uring_enter, io_uring_setup answered with ENOSYS" in n for n in p.notes)
    kept = synthesize(t)
    assert {"io_uring_setup", "io_uring_enter"} <= kept.names("x86_64")
    assert not any("io_uring" in n for n in kept.notes)
    with pytest.raises(SeccompGenError, match="io_uring policy"):
        Policy(io_uring="maybe")
