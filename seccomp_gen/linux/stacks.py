"""A sample of a stopped thread's stack, taken once per new call site, for finding its caller.

At the first call from a site the thread is in a ptrace stop: its registers (PTRACE_GETREGS:
rip, rsp, rbp) and :data:`WINDOW` bytes of its stack from rsp (read through /proc/TID/mem) are
kept with its code mappings. After the run :mod:`seccomp_gen.files.unwind` walks the sample with
the ELF's unwind tables (.eh_frame); nothing is interpreted while the workload runs. x86_64 and
i386 tracees: a 64-bit tracer's PTRACE_GETREGS gives a 32-bit (compat) thread's eip, esp and ebp
in the low halves of rip, rsp and rbp, with cs the 32-bit user code segment. See
docs/explain.md.
"""

from __future__ import annotations

import ctypes
import os
import struct
from typing import NamedTuple

from . import ptrace as pt
from .codemaps import CodeMapping, read_maps

#: Bytes of stack kept per sample: deep enough for libc's wrappers and stdio (a frame that
#: lies beyond it ends the walk).
WINDOW = 16384
#: struct user_regs_struct (x86_64): 27 words; rbp is word 4, rip word 16, cs word 17, rsp 19.
_REGS = struct.Struct("<27Q")
_PTRACE_GETREGS = 12
_USER_CS_64, _USER_CS_32 = 0x33, 0x23


class StackSample(NamedTuple):
    """A stopped thread's ``ip``, ``sp``, ``bp``, its stack bytes from ``sp`` and its code
    mappings (sorted by start, as :func:`seccomp_gen.linux.codemaps.parse_maps` gives them);
    ``bits``: 32 for an i386 thread."""

    ip: int
    sp: int
    bp: int
    stack: bytes
    maps: tuple[CodeMapping, ...]
    bits: int = 64


def take_sample(tid: int, tgid: int, maps: list[CodeMapping] | None = None
                ) -> StackSample | None:
    """The sample of ``tid`` (in a ptrace stop); None for an unreadable one or one in
    another mode (x32 shares x86_64's). ``maps``: the process's code mappings if already read
    (else they are read here)."""
    regs = ctypes.create_string_buffer(_REGS.size)
    if pt.ptrace(_PTRACE_GETREGS, tid, 0, ctypes.addressof(regs)) == -1:
        return None
    words = _REGS.unpack(regs.raw)
    if words[17] == _USER_CS_64:
        bits, mask = 64, 0xFFFFFFFFFFFFFFFF
    elif words[17] == _USER_CS_32:
        bits, mask = 32, 0xFFFFFFFF
    else:
        return None
    ip, sp, bp = words[16] & mask, words[19] & mask, words[4] & mask
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
    if maps is None:
        maps = read_maps(tgid)
    if not stack or maps is None:
        return None
    return StackSample(ip, sp, bp, stack, tuple(maps), bits)
