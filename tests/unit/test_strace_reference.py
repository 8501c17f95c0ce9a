"""The live tests' reference, strace's output as counted by :mod:`helpers.strace_reference`: a
parser that must fail on a line it does not understand rather than skip it."""

from __future__ import annotations

from collections import Counter

import pytest
from helpers.strace_reference import parse_strace


def test_parse_strace_handles_interleaved_output() -> None:
    text = (
        "100   execve(\"/bin/x\", [\"x\"], 0x7ffe /* 3 vars */) = 0\n"
        "100   clone(child_stack=NULL, flags=SIGCHLD <unfinished ...>\n"
        "101   getpid( <unfinished ...>\n"
        "100   <... clone resumed>)         = 101\n"
        "101   <... getpid resumed>)        = 101\n"
        "100   --- SIGCHLD {si_signo=SIGCHLD, si_code=CLD_EXITED} ---\n"
        "101   +++ exited with 0 +++\n"
        "[ Process PID=100 runs in 32 bit mode. ]\n"
        "100   getuid32()                   = 0\n"
        "101   syscall_0x1c4(0, 0)          = -1 ENOSYS (Function not implemented)\n"
        "100   exit_group(0)                = ?\n"
    )
    assert parse_strace(text) == Counter({
        ("x86_64", "execve"): 1, ("x86_64", "clone"): 1, ("x86_64", "getpid"): 1,
        ("x86", "getuid32"): 1, ("x86_64", "syscall_0x1c4"): 1, ("x86", "exit_group"): 1,
    })
    with pytest.raises(AssertionError, match="unparsable"):
        parse_strace("this is not strace output\n")
