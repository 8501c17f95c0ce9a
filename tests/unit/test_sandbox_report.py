"""The line ``seccomp_gen.sandbox()`` prints for a denied call (the sandbox itself, under real
filters in child processes: tests/live/test_sandbox.py)."""

from __future__ import annotations

from seccomp_gen.enforce.sandbox import format_violation
from seccomp_gen.model import Violation


def test_format_violation_is_one_line() -> None:
    v = Violation(arch="x86_64", name="mkdir", nr=83, args=(0x10, 0x1ED, 0, 0, 0, 0), pid=7,
                  tid=8, exe="/usr/bin/python3", action="errno", errno=1)
    assert format_violation(v) == (
        "seccomp-gen sandbox: denied mkdir [x86_64 #83] (0x10, 0x1ed, 0x0, 0x0, 0x0, 0x0) "
        "pid 7 tid 8 exe /usr/bin/python3: failed with EPERM"
    )
