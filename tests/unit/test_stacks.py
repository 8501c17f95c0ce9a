"""``/proc/TID/syscall``, what the notify backend samples a waiting caller's stack from: the
kernel's three forms parsed, and this thread's own line (it is in ``read`` while it reads it).
"""

from __future__ import annotations

import platform

import pytest

from seccomp_gen.linux.stacks import parse_syscall


@pytest.mark.parametrize(("text", "want"), [
    ("1 0x1 0x7ffd0000 0x6 0x0 0x0 0x0 0x7ffc1234 0x401a2b\n", (1, 0x7FFC1234, 0x401A2B)),
    ("-1 0x7ffc1230 0x401a2b\n", (-1, 0x7FFC1230, 0x401A2B)),
    ("running\n", None),
    ("", None),
    ("1 0x1 0x2\n0x3", None),
    ("x 0x1 0x2\n", None),
])
def test_parse_syscall(text: str, want: tuple[int, int, int] | None) -> None:
    assert parse_syscall(text) == want


@pytest.mark.skipif(platform.machine() != "x86_64", reason="x86_64 syscall numbers")
def test_own_thread_is_in_read_with_its_stack_pointer() -> None:
    with open("/proc/thread-self/syscall", "rb", buffering=0) as fh:
        found = parse_syscall(fh.read().decode())
    assert found is not None
    nr, sp, pc = found
    assert nr == 0  # read(2): the call that is reading the file
    with open("/proc/thread-self/maps", encoding="ascii") as fh:
        spans = [(line.split()[0], line.split()[-1]) for line in fh]
    stack = [s for s, name in spans if name == "[stack]"]
    lo, hi = (int(x, 16) for x in stack[0].split("-"))
    assert lo <= sp < hi
    assert pc > 0
