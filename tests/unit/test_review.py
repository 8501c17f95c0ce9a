"""The review behind ``seccomp-gen audit`` (seccomp_gen/review.py): each finding triggered by a
small hand-written profile and absent from the fixed one.

The compiled verdicts come from the real libseccomp (the profile compiled and run in the
simulator), except in the one test that needs a filter libseccomp will not build (an ABI let
through that the profile does not list): that test's fake filter says so.
"""

from __future__ import annotations

from collections.abc import Sequence

from seccomp_gen import libseccomp as lib
from seccomp_gen.cli.audit import review_compiled
from seccomp_gen.profile import ArgCondition, Profile, Rule
from seccomp_gen.review import Finding, Needs, review
from seccomp_gen.syscalls.constants import CLONE_NAMES, CLONE_NS_MASK

X86 = ("x86_64", "x86", "x32")
EPERM = ("errno", 1)
NS_MASK = ArgCondition(0, "MASKED_EQ", CLONE_NS_MASK, 0)


def _profile(*rules: Rule, arches: Sequence[str] = ("x86_64",), default: str = "errno",
             errno: int | None = 1) -> Profile:
    return Profile(default, errno if default == "errno" else None, tuple(arches), tuple(rules))


def allow(name: str, *conds: ArgCondition, arches: Sequence[str] = ("x86_64",),
          baseline: bool = False) -> Rule:
    return Rule(name, tuple(arches), conditions=tuple(conds), baseline=baseline)


def deny(name: str, errno: int = 13, arches: Sequence[str] = ("x86_64",)) -> Rule:
    return Rule(name, tuple(arches), "errno", errno)


ENOSYS_CLONE3 = deny("clone3", 38)
#: What every profile below needs so that clone3 draws no finding of its own.
BASE = (allow("read"), ENOSYS_CLONE3)


def audited(profile: Profile, needs: Needs | None = None) -> tuple[Finding, ...]:
    """The findings with the real compiled filter and libseccomp's name table."""
    return review_compiled(profile, needs)


def kinds(findings: Sequence[Finding]) -> set[tuple[str, str, str]]:
    return {(f.level, f.id, f.syscall) for f in findings}


def test_a_minimal_profile_has_no_findings() -> None:
    assert audited(_profile(*BASE, allow("write"), allow("exit_group"))) == ()


def test_permissive_default() -> None:
    bad = audited(_profile(*BASE, default="log", errno=None))
    assert ("high", "default-permissive", "") in kinds(bad)
    assert not audited(_profile(*BASE, default="kill-process"))


def test_abis_not_needed_guessed_without_traces_and_definite_with() -> None:
    both = _profile(allow("read", arches=("x86_64", "x86")), deny("clone3", 38, ("x86_64", "x86")),
                    arches=("x86_64", "x86"))
    guessed = [f for f in audited(both) if f.id == "abi-unneeded"]
    assert [(f.level, f.arches) for f in guessed] == [("low", ("x86",))]
    used = Needs(frozenset({("x86_64", "read")}))
    definite = [f for f in audited(both, used) if f.id == "abi-unneeded"]
    assert [(f.level, f.arches) for f in definite] == [("medium", ("x86",))]
    needed = Needs(frozenset({("x86_64", "read"), ("x86", "read")}))
    assert not [f for f in audited(both, needed) if f.id == "abi-unneeded"]
    assert not audited(_profile(*BASE))


def test_x32_let_through_is_found_on_the_compiled_filter() -> None:
    listed = _profile(allow("read", arches=X86), deny("clone3", 38, X86), arches=X86)
    x32 = [f for f in audited(listed) if f.id == "x32-unguarded"]
    assert len(x32) == 1 and x32[0].level == "medium" and x32[0].arches == ("x32",)
    assert "1 x32 calls through (read)" in x32[0].reason
    # x32 wanted: a trace recorded it.
    wanted = Needs(frozenset({(a, "read") for a in X86}))
    assert not [f for f in audited(listed, wanted) if f.id == "x32-unguarded"]
    # Not listed: libseccomp's x86_64 filter sends x32 numbers to the bad-arch action.
    assert not [f for f in audited(_profile(*BASE)) if f.id == "x32-unguarded"]


def test_an_abi_the_profile_does_not_list_let_through_is_high() -> None:
    # A fake filter: libseccomp always guards x32 on an x86_64-only profile, so a filter that
    # lets x32 calls through cannot be built with it; this one stands for a broken compiler.
    p = _profile(*BASE)

    def broken(arch: str, nr: int, args: tuple[int, ...]) -> tuple[str, int | None]:
        name = lib.syscall_name(arch, nr)
        return ("allow", None) if arch == "x32" and name == "read" else p.verdict(arch, name)

    name_of = lib.known_name
    found = review(p, compiled=broken, name_of=name_of)
    assert [(f.level, f.id, f.arches) for f in found] == [("high", "x32-unguarded", ("x32",))]
    assert not review(p, compiled=lambda a, nr, args: p.verdict(a, name_of(a, nr), args),
                      name_of=name_of)


def test_a_denied_syscall_whose_alternative_is_allowed() -> None:
    bypass = audited(_profile(*BASE, deny("execve"), allow("execveat")))
    assert ("medium", "alternative-bypass", "execve") in kinds(bypass)
    assert not audited(_profile(*BASE, deny("execve")))
    # The canonical name left out while its alternative is allowed.
    left_out = audited(_profile(*BASE, allow("execveat")))
    assert kinds(left_out) == {("low", "alternative-allowed", "execve")}
    assert not audited(_profile(*BASE, allow("execveat"), allow("execve")))
    # A variant left out while the canonical one is allowed is no finding (ls's profile).
    assert not audited(_profile(*BASE, allow("execve"), allow("openat")))
    assert not audited(_profile(*BASE, allow("execve"), allow("open")))


def test_an_argument_rule_bypassed_through_socketcall_on_i386() -> None:
    arches = ("x86_64", "x86")
    pinned = allow("socket", ArgCondition(0, "EQ", 1), arches=arches)
    clone3 = deny("clone3", 38, arches)
    bad = audited(_profile(pinned, clone3, allow("socketcall", arches=("x86",)), arches=arches))
    found = [f for f in bad if f.id == "alternative-bypass"]
    assert [(f.level, f.syscall, f.arches) for f in found] == [("medium", "socket", ("x86",))]
    assert "socketcall" in found[0].reason
    fixed = audited(_profile(pinned, clone3, arches=arches))
    assert not [f for f in fixed if f.id == "alternative-bypass"]


def test_pinned_clone_with_fork_allowed_is_no_bypass() -> None:
    assert not audited(_profile(*BASE, allow("clone", NS_MASK), allow("vfork"), allow("fork")))


def test_dangerous_allows_without_argument_rules() -> None:
    found = audited(_profile(*BASE, allow("bpf"), allow("ptrace"), allow("keyctl")))
    assert {("high", "dangerous-allow", n) for n in ("bpf", "ptrace", "keyctl")} == kinds(found)
    # An argument rule is the reviewer's answer...
    assert not audited(_profile(*BASE, allow("keyctl", ArgCondition(0, "EQ", 0))))
    # ... except where the dangerous part is in memory.
    uring = audited(_profile(*BASE, allow("io_uring_setup", ArgCondition(0, "LE", 64))))
    assert kinds(uring) == {("high", "dangerous-allow", "io_uring_setup")}


def test_clone3_allowed_is_dangerous() -> None:
    assert kinds(audited(_profile(allow("read"), allow("clone3")))) == {
        ("high", "dangerous-allow", "clone3"), ("low", "alternative-allowed", "clone")}


def test_clone_namespace_flags_not_pinned() -> None:
    loose = audited(_profile(*BASE, allow("clone")))
    assert [(f.level, f.id, f.syscall) for f in loose] == [("high", "arg-unpinned", "clone")]
    assert loose[0].reason.startswith("allows CLONE_NEWNS|CLONE_NEWCGROUP|CLONE_NEWUTS|"
                                      "CLONE_NEWIPC|CLONE_NEWUSER|CLONE_NEWPID|CLONE_NEWNET: ")
    assert not audited(_profile(*BASE, allow("clone", NS_MASK)))
    # Pinned, but CLONE_NEWUSER left out of the mask.
    user = CLONE_NAMES["CLONE_NEWUSER"]
    partial = audited(_profile(*BASE, allow("clone", ArgCondition(
        0, "MASKED_EQ", CLONE_NS_MASK & ~user, 0))))
    assert [f.reason.split(":")[0] for f in partial] == ["allows CLONE_NEWUSER"]


def test_clone_flags_above_32_bits_reach_the_kernel_truncated() -> None:
    # clone(2) reads the low 32 bits of its flags: a 64-bit rule "flags > 0xffffffff" lets
    # 0x1_1000_0000 through, which the kernel reads as CLONE_NEWUSER.
    above = audited(_profile(*BASE, allow("clone", ArgCondition(0, "GT", 0xFFFFFFFF))))
    assert kinds(above) == {("high", "arg-unpinned", "clone")}
    assert "CLONE_NEWUSER" in above[0].reason


def test_unshare_and_setns() -> None:
    assert kinds(audited(_profile(*BASE, allow("unshare")))) == {
        ("high", "arg-unpinned", "unshare")}
    newtime_only = audited(_profile(*BASE, allow("unshare", ArgCondition(0, "EQ", 0x80))))
    assert [f.reason.split(":")[0] for f in newtime_only] == ["allows CLONE_NEWTIME"]
    assert not audited(_profile(*BASE, allow("unshare", ArgCondition(0, "EQ", 0x400))))
    assert kinds(audited(_profile(*BASE, allow("setns")))) == {("high", "arg-unpinned", "setns")}
    net = CLONE_NAMES["CLONE_NEWNET"]
    assert not audited(_profile(*BASE, allow("setns", ArgCondition(1, "EQ", net))))


def test_personality_flags() -> None:
    # Docker's rules: the personas a program may switch to, and 0xffffffff (a query).
    docker = [allow("personality", ArgCondition(0, "EQ", v))
              for v in (0, 8, 0x20000, 0x20008, 0xFFFFFFFF)]
    assert not audited(_profile(*BASE, *docker))
    assert kinds(audited(_profile(*BASE, allow("personality")))) == {
        ("medium", "arg-unpinned", "personality")}
    below = audited(_profile(*BASE, allow("personality", ArgCondition(0, "LE", 0xFFFFFFFF))))
    assert kinds(below) == {("medium", "arg-unpinned", "personality")}
    # The kernel reads an unsigned int: 0x1_0004_0000 is ADDR_NO_RANDOMIZE to it.
    above = audited(_profile(*BASE, allow("personality", ArgCondition(0, "GT", 0xFFFFFFFF))))
    assert "ADDR_NO_RANDOMIZE" in above[0].reason


def test_clone3_not_enosys() -> None:
    eperm = audited(_profile(allow("read"), allow("clone", NS_MASK)))
    assert kinds(eperm) == {("medium", "clone3-not-enosys", "clone3")}
    killed = audited(_profile(allow("read"), Rule("clone3", ("x86_64",), "kill-process")))
    assert kinds(killed) == {("low", "clone3-not-enosys", "clone3")}  # no clone to fall back to
    assert not audited(_profile(*BASE, allow("clone", NS_MASK)))


def test_no_fallback_from_a_newer_call() -> None:
    found = audited(_profile(*BASE, allow("faccessat")))
    assert kinds(found) == {("low", "no-fallback", "faccessat2")}
    assert not audited(_profile(*BASE, allow("faccessat"), deny("faccessat2", 38)))


def test_calls_no_trace_made() -> None:
    p = _profile(*BASE, allow("write"), allow("capget", baseline=True),
                 allow("clone", NS_MASK), allow("bpf"))
    needs = Needs(frozenset({("x86_64", "read"), ("x86_64", "clone3")}))
    found = audited(p, needs)
    # clone is clone3's fallback, capget the runtime's: both needed; bpf says it in its finding.
    assert kinds(found) == {("low", "unneeded-syscall", "write"),
                            ("high", "dangerous-allow", "bpf")}
    assert next(f for f in found if f.syscall == "bpf").reason.endswith("; no trace made it")


def test_findings_are_merged_over_arches_and_sorted() -> None:
    p = _profile(allow("read", arches=X86), allow("ptrace", arches=X86),
                 allow("chroot", arches=X86), deny("clone3", 38, X86), arches=X86)
    found = audited(p)
    assert [f.syscall for f in found if f.id == "dangerous-allow"] == ["ptrace", "chroot"]
    assert next(f for f in found if f.syscall == "ptrace").arches == X86
    assert found == audited(p)
    levels = [f.level for f in found]
    assert levels == sorted(levels, key=("high", "medium", "low", "info").index)
