"""A sample of a stopped thread's stack, taken once per new call site, for finding its caller.

At the first call from a site the thread is in a ptrace stop: its registers (PTRACE_GETREGS:
rip, rsp, rbp) and :data:`WINDOW` bytes of its stack from rsp (read through /proc/TID/mem) are
kept with its code mappings. After the run :mod:`seccomp_gen.files.unwind` walks the sample with
the ELF's unwind tables (.eh_frame); nothing is interpreted while the workload runs. x86_64
tracees only (a 32-bit process's sample is not taken). See docs/explain.md.
"""

from __future__ import annotations

import ctypes
import os
import struct
from dataclasses import dataclass

from . import ptrace as pt
from .codemaps import CodeMapping, read_maps

#: Bytes of stack kept per sample: deep enough for libc's wrappers and stdio (a frame that
#: lies beyond it ends the walk).
WINDOW = 16384
#: struct user_regs_struct (x86_64): 27 words; rbp is word 4, rip word 16, cs word 17, rsp 19.
_REGS = struct.Struct("<27Q")
_PTRACE_GETREGS = 12
_USER_CS_64 = 0x33


@dataclass(frozen=True)
class StackSample:
    """A stopped thread's ``ip``, ``sp``, ``bp``, its stack bytes from ``sp`` and its code
    mappings (sorted by start, as :func:`seccomp_gen.linux.codemaps.parse_maps` gives them)."""

    ip: int
    sp: int
    bp: int
    stack: bytes
    maps: tuple[CodeMapping, ...]


def take_sample(tid: int, tgid: int) -> StackSample | None:
    """The sample of ``tid`` (in a ptrace stop); None for a 32-bit thread or an unreadable
    one."""
    regs = ctypes.create_string_buffer(_REGS.size)
    if pt.ptrace(_PTRACE_GETREGS, tid, 0, ctypes.addressof(regs)) == -1:
        return None
    words = _REGS.unpack(regs.raw)
    if words[17] != _USER_CS_64:
        return None
    ip, sp, bp = words[16], words[19], words[4]
    try:
        fd = os.open(f"/proc/{tid}/mem", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        stack = os.pread(fd, WINDOW, sp)
    except OSError:
        stack = b""
    finally:
        os.close(fd)
    maps = read_maps(tgid)
    if not stack or maps is None:
        return None
    return StackSample(ip, sp, bp, stack, tuple(maps))
