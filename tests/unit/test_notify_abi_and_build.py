"""The notify backend's pieces that need no workload: the kernel's ioctl numbers, the BPF prefix
that lets the supervisor's own calls through, and the C supervisor building cleanly (the backend
itself: tests/live/test_notify_backend.py)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from helpers.compiler import needs_cc

from seccomp_gen._native import build as _native
from seccomp_gen._native.notify_supervisor import HEADERS as SUPERVISOR_HEADERS
from seccomp_gen._native.trace_loop import HEADERS as LOOP_HEADERS
from seccomp_gen._native.trace_loop import SOURCE_NAME as LOOP_SOURCE
from seccomp_gen.linux.cbpf import keyed_prefix
from seccomp_gen.linux.seccomp import SECCOMP_IOCTL_NOTIF_RECV, SECCOMP_IOCTL_NOTIF_SEND
from seccomp_gen.recorders.notify import SUPERVISOR_SOURCE


def test_ioctl_numbers() -> None:
    # _IOWR('!', 0, struct seccomp_notif) and _IOWR('!', 1, struct seccomp_notif_resp).
    assert SECCOMP_IOCTL_NOTIF_RECV == 0xC0502100
    assert SECCOMP_IOCTL_NOTIF_SEND == 0xC0182101


def test_key_prefix_is_a_chain_of_checks_then_allow() -> None:
    prog = keyed_prefix(0xC000003E, (1, 2, 3))
    assert len(prog) == 8 * (2 * 7 + 1)
    # Every mismatch jumps just past the ALLOW: instruction 2i+1 has jf = 2*(7-i-1)+1.
    for i in range(7):
        code, jt, jf, _ = __import__("struct").unpack_from("=HBBI", prog, 8 * (2 * i + 1))
        assert (code, jt, jf) == (0x15, 0, 2 * (7 - i - 1) + 1)


LOOP_BUILDS = [(SUPERVISOR_SOURCE, SUPERVISOR_HEADERS), (LOOP_SOURCE, LOOP_HEADERS)]


@pytest.mark.parametrize(("source", "headers"), LOOP_BUILDS)
def test_each_loop_lists_the_headers_it_includes(source: str, headers: tuple[str, ...]) -> None:
    """The cache key covers the listed headers only: one included but not listed would leave a
    stale build in use after that header changed."""
    included: set[str] = set()
    todo = [source]
    while todo:
        for name in re.findall(r'^#include "([^"]+)"', _native.source_text(todo.pop()), re.M):
            if name not in included:
                included.add(name)
                todo.append(name)
    assert included == set(headers)


@needs_cc
@pytest.mark.parametrize(("source", "headers"), LOOP_BUILDS)
def test_c_loops_compile_without_warnings(source: str, headers: tuple[str, ...],
                                          tmp_path: Path) -> None:
    """The notify supervisor and the seccomp stop loop, with the headers they include."""
    for name in (source, *headers):
        (tmp_path / name).write_text(_native.source_text(name))
    cc = _native.find_compiler()
    res = subprocess.run([*cc, *_native.CFLAGS, "-Werror", "-o", str(tmp_path / "s.so"),
                          str(tmp_path / source)], capture_output=True, text=True, timeout=120,
                         check=False)
    assert res.returncode == 0, res.stderr
    assert res.stderr == ""
