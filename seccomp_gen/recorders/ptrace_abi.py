"""The ptrace requests, options and events the recorders use: the kernel's stable uapi numbers
(include/uapi/linux/ptrace.h).

Why our own and not python-ptrace's: the recorders call ptrace through ctypes and took only these
constants from python-ptrace, whose import (logging, traceback, an ``ldconfig`` run for
``find_library``) cost ~17 ms of every ``record`` start-up -- a tenth of it.
"""

from __future__ import annotations

from typing import Final

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
