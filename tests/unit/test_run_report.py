"""What ``seccomp-gen run`` says about a denied call, as words: the decoded arguments, the
outcome in each mode, and its ``--help`` (runs under real filters: tests/live/test_run_cli.py)."""

from __future__ import annotations

from helpers.cli import cli

from seccomp_gen.enforce.run import VIOLATION_EXIT, outcome
from seccomp_gen.model import Violation
from seccomp_gen.syscalls.argdecode import format_args, format_call


def test_format_args_decodes_constants() -> None:
    assert format_call("x86_64", "socket", [2, 0x80002, 0]) == (
        "socket(domain=AF_INET, type=SOCK_DGRAM|SOCK_CLOEXEC, 0)")
    assert format_args("x86_64", "clone", [0x01200011, 0, 0, 0x7F00, 0]) == (
        "flags=CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD, NULL, NULL, 0x7f00, NULL")
    assert format_args("x86_64", "unshare", [0x10000000 | 0x20000]) == (
        "flags=CLONE_NEWNS|CLONE_NEWUSER")
    assert format_args("x86_64", "ioctl", [1, 0x5413, 0x7FFC]) == (
        "1, request=TIOCGWINSZ (0x5413), 0x7ffc")
    assert format_args("x86_64", "ioctl", [3, 0xC0106401, 0]) == "3, request=0xc0106401, NULL"
    assert format_args("x86_64", "openat", [2**64 - 100, 0x5555, 0o2000000 | 0o100 | 1, 0o644]) \
        == "AT_FDCWD, 0x5555, flags=O_WRONLY|O_CREAT|O_CLOEXEC, 0644"
    assert format_args("x86_64", "prctl", [38, 1, 0, 0, 0]) == (
        "option=PR_SET_NO_NEW_PRIVS, 0x1, 0x0, 0x0, 0x0")
    # 32-bit callers: registers are 32-bit values, even if the upper half is garbage.
    assert format_args("x86", "kill", [0xDEAD00000001, 9]) == "1, SIGKILL"
    # Unknown syscalls: six hex registers.
    assert format_args("x86_64", "syscall_0x1ff", [1, 2]) == "0x1, 0x2, 0x0, 0x0, 0x0, 0x0"


def test_outcome_words() -> None:
    v = Violation(arch="x86_64", name="getppid", nr=110, args=(), pid=1, tid=1, exe="/x",
                  action="errno", errno=1)
    assert outcome(v, "enforce") == "failed with EPERM"
    assert outcome(v, "complain") == "allowed (complain; would fail with EPERM)"
    rule = Violation(arch="x86_64", name="clone3", nr=435, args=(), pid=1, tid=1, exe="/x",
                     action="errno", errno=38, by_rule=True)
    assert outcome(rule, "complain") == "failed with ENOSYS"  # explicit rules still apply
    kill = Violation(arch="x86", name="write", nr=4, args=(), pid=1, tid=1, exe="/x",
                     action="kill-process")
    assert outcome(kill, "enforce") == "killed by SIGSYS"
    assert outcome(kill, "complain") == "allowed (complain; would kill-process)"


def test_run_has_help() -> None:
    res = cli("run", "--help")
    text = res.stdout.decode()
    assert res.returncode == 0
    for word in ("--profile", "--mode", "complain", "--fail-on-violation", str(VIOLATION_EXIT)):
        assert word in text
