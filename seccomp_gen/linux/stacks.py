"""A sample of a stopped thread's stack, taken once per new call site, for finding its caller.

At the first call from a site the thread is in a ptrace stop: its registers (PTRACE_GETREGS:
rip, rsp, rbp) and :data:`WINDOW` bytes of its stack from rsp (read through /proc/TID/mem) are
kept with its code mappings. After the run :mod:`seccomp_gen.files.unwind` walks the sample with
the ELF's unwind tables (.eh_frame); nothing is interpreted while the workload runs. x86_64 and
i386 tracees: a 64-bit tracer's PTRACE_GETREGS gives a 32-bit (compat) thread's eip, esp and ebp
in the low halves of rip, rsp and rbp, with cs the 32-bit user code segment.

A thread waiting for a seccomp user notification (the notify backend, no ptrace) is in no ptrace
stop, but it is blocked in its syscall: ``/proc/TID/syscall`` gives its number, arguments, stack
pointer and pc (:func:`take_blocked_sample`). Its frame pointer is not there: such a sample has
``bp`` None, and the walk stops at a frame whose CFA is rbp-based before a saved rbp was read.
See docs/explain.md.
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
    """A stopped thread's ``ip``, ``sp``, ``bp`` (None: not known), its stack bytes from ``sp``
    and its code mappings (sorted by start, as :func:`seccomp_gen.linux.codemaps.parse_maps`
    gives them); ``bits``: 32 for an i386 thread."""

    ip: int
    sp: int
    bp: int | None
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
    return _sample(tid, tgid, words[16] & mask, words[19] & mask, words[4] & mask, bits, maps)


def parse_syscall(text: str) -> tuple[int, int, int] | None:
    """(nr, sp, pc) of ``/proc/TID/syscall`` text: ``nr arg0 .. arg5 sp pc`` for a thread
    blocked in a syscall, ``nr sp pc`` for a negative nr, ``running`` (None) otherwise."""
    fields = text.split()
    if len(fields) not in (3, 9):
        return None
    try:
        return int(fields[0]), int(fields[-2], 16), int(fields[-1], 16)
    except ValueError:
        return None


def take_blocked_sample(tid: int, tgid: int, nr: int, ip: int, bits: int,
                        maps: list[CodeMapping] | None = None) -> StackSample | None:
    """The sample of ``tid``, blocked in syscall ``nr`` called from ``ip`` (a caller waiting
    for a seccomp notification), with its sp from ``/proc/TID/syscall`` and no bp; None when
    the thread is gone, unreadable, or no longer in that call (a signal interrupted it).
    ``bits``: the caller's word size, as its ABI and ``ip`` say (the kernel prints a 32-bit
    thread's esp and eip zero-extended: no masking is needed)."""
    try:
        with open(f"/proc/{tid}/syscall", "rb") as fh:
            found = parse_syscall(fh.read().decode("ascii", "replace"))
    except OSError:
        return None
    if found is None or found[0] != nr or found[2] != ip:
        return None
    return _sample(tid, tgid, ip, found[1], None, bits, maps)


def _sample(tid: int, tgid: int, ip: int, sp: int, bp: int | None, bits: int,
            maps: list[CodeMapping] | None) -> StackSample | None:
    """The sample of registers already read: the stack window from ``sp`` and the maps."""
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
