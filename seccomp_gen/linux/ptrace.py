"""ptrace(2): the uapi numbers (include/uapi/linux/ptrace.h), the libc function, and the layouts
of what it reads and writes.

Why our own and not python-ptrace's: the recorders call ptrace through ctypes and took only these
constants from python-ptrace, whose import (logging, traceback, an ``ldconfig`` run for
``find_library``) cost ~17 ms of every ``record`` start-up -- a tenth of it.
"""

from __future__ import annotations

import ctypes
import os
import struct
from typing import Final

from ..errors import RecordError
from . import libc as _libc

PTRACE_TRACEME: Final = 0
PTRACE_PEEKDATA: Final = 2
PTRACE_POKEUSER: Final = 6
PTRACE_CONT: Final = 7
PTRACE_SYSCALL: Final = 24
PTRACE_SETOPTIONS: Final = 0x4200
PTRACE_GETEVENTMSG: Final = 0x4201
PTRACE_GETSIGINFO: Final = 0x4202
PTRACE_SETSIGINFO: Final = 0x4203
PTRACE_GET_SYSCALL_INFO: Final = 0x420E

PTRACE_O_TRACESYSGOOD: Final = 0x1
PTRACE_O_TRACEFORK: Final = 0x2
PTRACE_O_TRACEVFORK: Final = 0x4
PTRACE_O_TRACECLONE: Final = 0x8
PTRACE_O_TRACEEXEC: Final = 0x10
PTRACE_O_TRACESECCOMP: Final = 0x80
PTRACE_O_EXITKILL: Final = 0x100000

PTRACE_EVENT_FORK: Final = 1
PTRACE_EVENT_VFORK: Final = 2
PTRACE_EVENT_CLONE: Final = 3
PTRACE_EVENT_EXEC: Final = 4
PTRACE_EVENT_SECCOMP: Final = 7
PTRACE_EVENT_STOP: Final = 128

#: waitpid(2) flag: wait for every child, clones (threads) included.
WALL: Final = 0x40000000

#: ptrace(request, pid, addr, data), typed.
ptrace = _libc.libc.ptrace
ptrace.argtypes = (ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p)
ptrace.restype = ctypes.c_long

#: The same function without argtypes, for hot loops: called only with prebuilt
#: ctypes.c_long/c_void_p objects and pids (which fit a C int and libffi sign-extends them).
ptrace_fast = _libc.untyped.ptrace
ptrace_fast.restype = ctypes.c_long

# struct ptrace_syscall_info: op u8, pad[3], arch u32, ip u64, sp u64, then the union at 24:
# entry and seccomp {nr u64, args[6] u64 (, ret_data u32)}, exit {rval s64, is_error u8}.
INFO_SIZE: Final = 88
ENTRY: Final = struct.Struct("<7Q")
ENTRY_HEAD: Final = struct.Struct("<4xI16xQ")  # arch and nr in one unpack
ARCH: Final = struct.Struct("<I")

# struct user_regs_struct offsets (x86_64): rax is word 10, orig_rax word 15. A 64-bit tracer
# sees the 64-bit layout for every tracee, 32-bit ones and int 0x80 callers included.
OFF_RAX: Final = 80
OFF_ORIG_RAX: Final = 120

# siginfo_t for SIGSYS: si_signo, si_errno, si_code, pad, then _call_addr u64, _syscall int,
# _arch u32.
SIGINFO_SIZE: Final = 128
SI_SYSCALL: Final = struct.Struct("=i")
SI_SYSCALL_OFF: Final = 24


def raise_ptrace(what: str, pid: int) -> None:
    """Raise the RecordError for a failed ptrace request (errno from ctypes)."""
    err = ctypes.get_errno()
    raise RecordError(f"ptrace {what} on pid {pid} failed: {os.strerror(err)}", pid=pid)


def poke_user(tid: int, offset: int, value: int) -> bool:
    """PTRACE_POKEUSER of one register word; False if the thread is gone or refused it."""
    return bool(ptrace(PTRACE_POKEUSER, tid, offset, value & 0xFFFFFFFFFFFFFFFF) != -1)
