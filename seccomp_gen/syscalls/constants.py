"""The kernel's constant and flag names, in both directions, in one place.

Kernel ABI values (the same on every arch for what is listed here), not syscall numbers: those
always come from libseccomp. The renderer (:mod:`.argdecode`) turns values into names, the
strace reader turns the names strace prints back into values, synthesis pins masks of them.
"""

from __future__ import annotations

import errno as errno_mod
import os
from typing import Final

#: linux/sched.h: clone(2), clone3(2) and unshare(2) flags.
CLONE_NAMES: Final[dict[str, int]] = {
    "CLONE_NEWTIME": 0x80, "CLONE_VM": 0x100, "CLONE_FS": 0x200, "CLONE_FILES": 0x400,
    "CLONE_SIGHAND": 0x800, "CLONE_PIDFD": 0x1000, "CLONE_PTRACE": 0x2000,
    "CLONE_VFORK": 0x4000, "CLONE_PARENT": 0x8000, "CLONE_THREAD": 0x10000,
    "CLONE_NEWNS": 0x20000, "CLONE_SYSVSEM": 0x40000, "CLONE_SETTLS": 0x80000,
    "CLONE_PARENT_SETTID": 0x100000, "CLONE_CHILD_CLEARTID": 0x200000,
    "CLONE_DETACHED": 0x400000, "CLONE_UNTRACED": 0x800000, "CLONE_CHILD_SETTID": 0x1000000,
    "CLONE_NEWCGROUP": 0x2000000, "CLONE_NEWUTS": 0x4000000, "CLONE_NEWIPC": 0x8000000,
    "CLONE_NEWUSER": 0x10000000, "CLONE_NEWPID": 0x20000000, "CLONE_NEWNET": 0x40000000,
    "CLONE_IO": 0x80000000, "CLONE_CLEAR_SIGHAND": 0x100000000,
    "CLONE_INTO_CGROUP": 0x200000000,
}
#: clone(2)'s flag bits by value, as the renderer shows them: clone's low byte is the exit
#: signal (CLONE_NEWTIME shares it: clone(2) cannot take it), and its register is 32 bits.
CLONE_FLAGS: Final[tuple[tuple[int, str], ...]] = tuple(
    (v, n) for n, v in sorted(CLONE_NAMES.items(), key=lambda kv: kv[1]) if 0xFF < v <= 0xFFFFFFFF)
CLONE_THREAD: Final = CLONE_NAMES["CLONE_THREAD"]
#: Namespace-creating clone flags, the mask Docker's default profile pins to zero:
#: NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET.
CLONE_NS_MASK: Final = 0x7E020000
#: unshare(2) and setns(2) also take CLONE_NEWTIME, which clone(2) reads as part of the exit signal.
CLONE_NEWTIME: Final = CLONE_NAMES["CLONE_NEWTIME"]
PROT_EXEC: Final = 0x4
PROT_WRITE: Final = 0x2

#: linux/seccomp.h: a filter's return value holds the action in its high 16 bits, data below.
RET_KILL_PROCESS: Final = 0x80000000
RET_KILL_THREAD: Final = 0x00000000
RET_TRAP: Final = 0x00030000
RET_ERRNO: Final = 0x00050000
RET_USER_NOTIF: Final = 0x7FC00000
RET_TRACE: Final = 0x7FF00000
RET_LOG: Final = 0x7FFC0000
RET_ALLOW: Final = 0x7FFF0000
RET_ACTION_FULL: Final = 0xFFFF0000
RET_DATA: Final = 0x0000FFFF
#: Each seccomp action by value, named as profiles name it (``kill`` is the thread's kill).
RET_ACTIONS: Final[dict[int, str]] = {
    RET_KILL_PROCESS: "kill-process",
    RET_KILL_THREAD: "kill",
    RET_TRAP: "trap",
    RET_ERRNO: "errno",
    RET_USER_NOTIF: "notify",
    RET_TRACE: "trace",
    RET_LOG: "log",
    RET_ALLOW: "allow",
}


def action_name(value: int) -> str:
    """The action of a seccomp return value (an audit record's ``code=``): ``log``, ``errno``...;
    ``unknown 0x...`` for a value no kernel defines."""
    return RET_ACTIONS.get(value & RET_ACTION_FULL, f"unknown {value:#x}")


#: include/linux/errno.h: codes the kernel uses internally, which a tracer (or strace) can see.
KERNEL_ERRNOS: Final[dict[str, int]] = {
    "ERESTARTSYS": 512, "ERESTARTNOINTR": 513, "ERESTARTNOHAND": 514, "ENOIOCTLCMD": 515,
    "ERESTART_RESTARTBLOCK": 516, "EPROBE_DEFER": 517, "EOPENSTALE": 518, "ENOPARAM": 519,
    "EBADHANDLE": 521, "ENOTSYNC": 522, "EBADCOOKIE": 523, "ENOTSUPP": 524, "ETOOSMALL": 525,
    "ESERVERFAULT": 526, "EBADTYPE": 527, "EJUKEBOX": 528, "EIOCBQUEUED": 529,
    "ERECALLCONFLICT": 530,
}
_KERNEL_ERRNO_NAMES: Final = {v: k for k, v in KERNEL_ERRNOS.items()}


def errno_name(value: int) -> str:
    """Symbolic name of an errno value (the kernel's internal ones too), ``E<n>`` otherwise."""
    return errno_mod.errorcode.get(value) or _KERNEL_ERRNO_NAMES.get(value) or f"E{value}"


def errno_value(name: str) -> int | None:
    """The value of an errno name (``ENOENT``, ``ERESTARTSYS``), None for an unknown name."""
    value = getattr(errno_mod, name, None) if name.startswith("E") else None
    return value if isinstance(value, int) else KERNEL_ERRNOS.get(name)


def address_family(value: int) -> str | None:
    """``AF_INET6`` for 10, None for a number the C library has no name for."""
    import socket  # here: ~2.5 ms, and ``record`` never names a family

    try:
        return socket.AddressFamily(value).name
    except ValueError:
        return None


def value_name(syscall: str, field: str, value: int) -> str:
    """A recorded argument value as a reader wants it in a one-line summary:
    ``AF_INET6 (10)`` for a socket domain, the number, or hex for big values."""
    if syscall in ("socket", "socketpair") and field == "domain":
        family = address_family(value)
        if family is not None:
            return f"{family} ({value})"
    return str(value) if value < 4096 else hex(value)


PROT_FLAGS = ((0x1, "PROT_READ"), (0x2, "PROT_WRITE"), (0x4, "PROT_EXEC"),
              (0x01000000, "PROT_GROWSDOWN"), (0x02000000, "PROT_GROWSUP"))
MAP_FLAGS = ((0x01, "MAP_SHARED"), (0x02, "MAP_PRIVATE"), (0x10, "MAP_FIXED"),
             (0x20, "MAP_ANONYMOUS"), (0x100, "MAP_GROWSDOWN"), (0x800, "MAP_DENYWRITE"),
             (0x1000, "MAP_EXECUTABLE"), (0x2000, "MAP_LOCKED"), (0x4000, "MAP_NORESERVE"),
             (0x8000, "MAP_POPULATE"), (0x10000, "MAP_NONBLOCK"), (0x20000, "MAP_STACK"),
             (0x40000, "MAP_HUGETLB"), (0x100000, "MAP_FIXED_NOREPLACE"))
SOCK_TYPES = {1: "SOCK_STREAM", 2: "SOCK_DGRAM", 3: "SOCK_RAW", 4: "SOCK_RDM",
              5: "SOCK_SEQPACKET", 6: "SOCK_DCCP", 10: "SOCK_PACKET"}
SOCK_FLAGS = ((0o4000, "SOCK_NONBLOCK"), (0o2000000, "SOCK_CLOEXEC"))
AT_FLAGS = ((0x100, "AT_SYMLINK_NOFOLLOW"), (0x200, "AT_REMOVEDIR"), (0x400, "AT_SYMLINK_FOLLOW"),
            (0x800, "AT_NO_AUTOMOUNT"), (0x1000, "AT_EMPTY_PATH"))
PRCTL_OPTIONS = {
    1: "PR_SET_PDEATHSIG", 2: "PR_GET_PDEATHSIG", 3: "PR_GET_DUMPABLE", 4: "PR_SET_DUMPABLE",
    8: "PR_SET_KEEPCAPS", 15: "PR_SET_NAME", 16: "PR_GET_NAME", 21: "PR_GET_SECCOMP",
    22: "PR_SET_SECCOMP", 23: "PR_CAPBSET_READ", 24: "PR_CAPBSET_DROP", 27: "PR_GET_SECUREBITS",
    28: "PR_SET_SECUREBITS", 29: "PR_SET_TIMERSLACK", 35: "PR_SET_MM",
    36: "PR_SET_CHILD_SUBREAPER", 38: "PR_SET_NO_NEW_PRIVS", 39: "PR_GET_NO_NEW_PRIVS",
    47: "PR_CAP_AMBIENT", 0x53564D41: "PR_SET_VMA",
}
IOCTL_REQUESTS = {
    0x5401: "TCGETS", 0x5402: "TCSETS", 0x5403: "TCSETSW", 0x540F: "TIOCGPGRP",
    0x5410: "TIOCSPGRP", 0x5413: "TIOCGWINSZ", 0x5414: "TIOCSWINSZ", 0x541B: "FIONREAD",
    0x5421: "FIONBIO", 0x5450: "FIONCLEX", 0x5451: "FIOCLEX", 0x540E: "TIOCSCTTY",
}
FCNTL_CMDS = {0: "F_DUPFD", 1: "F_GETFD", 2: "F_SETFD", 3: "F_GETFL", 4: "F_SETFL",
              5: "F_GETLK", 6: "F_SETLK", 7: "F_SETLKW", 1030: "F_DUPFD_CLOEXEC",
              1033: "F_ADD_SEALS", 1034: "F_GET_SEALS"}
O_FLAGS = tuple((getattr(os, n), n) for n in (
    "O_WRONLY", "O_RDWR", "O_CREAT", "O_EXCL", "O_NOCTTY", "O_TRUNC", "O_APPEND", "O_NONBLOCK",
    "O_DSYNC", "O_DIRECT", "O_LARGEFILE", "O_DIRECTORY", "O_NOFOLLOW", "O_NOATIME",
    "O_CLOEXEC", "O_PATH", "O_TMPFILE") if hasattr(os, n))
AT_FDCWD = -100
