"""strace as the reference recorder: run a workload under it, and count what its output shows.

``strace -f`` starts showing calls at the workload's execve, exactly like the recorder, and both
are pinned to the same CPU (the recorder with ``pin=True`` picks ``max(sched_getaffinity)``;
strace gets ``taskset -c`` with that CPU).
"""

from __future__ import annotations

import re
import shutil
from collections import Counter
from pathlib import Path

import pytest

from helpers.cli import run
from helpers.record import PIN_CPU

#: Names that strace spells differently from libseccomp (strace name -> libseccomp name).
#: Empty on purpose: for every workload of the live tests (x86_64, i386 and x32) strace 6.1 and
#: libseccomp 2.5 were found to use the same names, e.g. both say ``newfstatat``, ``pread64``,
#: ``ugetrlimit``, ``getuid32``. Add an entry here, with the reason, only when a workload makes
#: a call that the two tools name differently; never to hide a real difference.
STRACE_TO_LIBSECCOMP: dict[str, str] = {}

#: strace's "[ Process PID=N runs in X mode. ]" personality names -> libseccomp arch names.
STRACE_PERSONALITY = {"64 bit": "x86_64", "32 bit": "x86", "x32": "x32"}

_STRACE_CALL = re.compile(r"^(?:(\d+) +)?(?:<\.\.\. (\w+) resumed>|(\w+)\()")
_STRACE_PERSONALITY = re.compile(r"^(?:\d+ +)?\[ Process PID=(\d+) runs in (.+) mode\. \]$")
_STRACE_NOISE = re.compile(r"^(?:\d+ +)?(?:\+\+\+ |--- )")


def parse_strace(text: str) -> Counter[tuple[str, str]]:
    """Count (arch, name) of every call in ``strace -f -o`` output.

    A call split by another process's output appears as ``name(... <unfinished ...>`` and later
    ``<... name resumed>``: it is counted once, at its start. ``+++ exited``/``--- SIGCHLD``
    lines are events, not calls. strace announces a change of syscall ABI with
    ``[ Process PID=N runs in 32 bit mode. ]`` before the first call in the new mode. Anything
    else is an unparsable line and fails the test rather than being skipped silently.
    """
    counts: Counter[tuple[str, str]] = Counter()
    mode: dict[str | None, str] = {}
    for line in text.splitlines():
        if not line.strip() or _STRACE_NOISE.match(line):
            continue
        m = _STRACE_PERSONALITY.match(line)
        if m:
            arch = STRACE_PERSONALITY.get(m.group(2))
            assert arch is not None, f"unknown strace personality: {line!r}"
            mode[m.group(1)] = arch
            mode[None] = arch
            continue
        m = _STRACE_CALL.match(line)
        assert m, f"unparsable strace line: {line!r}"
        if m.group(2):  # "<... name resumed>": already counted when it started
            continue
        pid = m.group(1)
        arch = mode.get(pid, mode.get(None, "x86_64") if pid is None else "x86_64")
        name = STRACE_TO_LIBSECCOMP.get(m.group(3), m.group(3))
        counts[(arch, name)] += 1
    return counts


def strace_counts(cmd: list[str], tmp_path: Path, name: str = "strace") -> Counter[tuple[str, str]]:
    """Run ``cmd`` under ``taskset -c PIN_CPU strace -f -e trace=all``; count its calls."""
    if shutil.which("strace") is None or shutil.which("taskset") is None:
        pytest.skip("strace or taskset is not installed")
    out = tmp_path / f"{name}.out"
    # --quiet=attach,exit is -qq without "personality": strace must still say when a process
    # switches to the i386 or x32 ABI, or its calls could not be told apart from x86_64 ones.
    res = run(["taskset", "-c", str(PIN_CPU), "strace", "-f", "--quiet=attach,exit",
               "-e", "trace=all", "-o", str(out), *cmd], cwd=tmp_path)
    assert out.exists(), f"strace wrote nothing: {res.stderr.decode(errors='replace')}"
    return parse_strace(out.read_text(errors="replace"))
