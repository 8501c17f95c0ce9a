"""Render a syscall's argument registers readably: ``clone(flags=CLONE_VM|SIGCHLD, 0x7ffd...)``.

Pure: no I/O, no ptrace, no libseccomp. A seccomp filter (and so a violation report) sees only
the six argument registers, never the memory they point to, so pointers (paths, buffers) are shown
as hex. Scalars we know how to name are named (clone/unshare flags, socket domain and type, open
flags, mmap protection, prctl option, signals, AT_FDCWD); ioctl requests are hex with a name for
the common terminal ones. A syscall not in :data:`SIGNATURES` shows all six registers in hex.

The constants are the kernel's ABI (the same on every arch for what is listed here), not syscall
numbers: those always come from libseccomp.
"""

from __future__ import annotations

import signal
import socket
from collections.abc import Callable, Sequence

from .arches import WIDE
from .constants import (
    AT_FDCWD,
    AT_FLAGS,
    CLONE_FLAGS,
    FCNTL_CMDS,
    IOCTL_REQUESTS,
    MAP_FLAGS,
    O_FLAGS,
    PRCTL_OPTIONS,
    PROT_FLAGS,
    SOCK_FLAGS,
    SOCK_TYPES,
)

_M64 = 2**64 - 1



def _signed32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - 2**32 if v & 0x80000000 else v


def _signed(v: int, bits: int) -> int:
    v &= (1 << bits) - 1
    return v - (1 << bits) if v >> (bits - 1) else v


def _flags(v: int, table: Sequence[tuple[int, str]], rest: Callable[[int], str] | None = None,
           zero: str = "0") -> str:
    parts = []
    for bit, name in table:
        if v & bit == bit and bit:
            parts.append(name)
            v &= ~bit
    if v:
        parts.append(rest(v) if rest else f"{v:#x}")
    return "|".join(parts) if parts else zero


def signal_name(n: int) -> str:
    """``SIGCHLD`` for 17; the number for anything else."""
    try:
        return signal.Signals(n).name
    except ValueError:
        return str(n)


def _clone_flags(v: int) -> str:
    v &= 0xFFFFFFFF
    low = v & 0xFF  # the exit signal
    s = _flags(v & ~0xFF, CLONE_FLAGS)
    if low:
        return signal_name(low) if s == "0" else f"{s}|{signal_name(low)}"
    return s


def _oflags(v: int) -> str:
    v &= 0xFFFFFFFF
    acc = v & 3
    head = {0: "O_RDONLY", 1: "O_WRONLY", 2: "O_RDWR"}.get(acc, "O_ACCMODE")
    rest = _flags(v & ~3, [(b, n) for b, n in O_FLAGS if n not in ("O_WRONLY", "O_RDWR")],
                  zero="")
    return f"{head}|{rest}" if rest else head


def _af(v: int) -> str:
    v &= 0xFFFFFFFF
    try:
        return socket.AddressFamily(v).name
    except ValueError:
        return str(v)


def _socktype(v: int) -> str:
    v &= 0xFFFFFFFF
    base = v & 0xF
    head = SOCK_TYPES.get(base, str(base))
    rest = _flags(v & ~0xF, SOCK_FLAGS, zero="")
    return f"{head}|{rest}" if rest else head


def _fd(v: int) -> str:
    n = _signed32(v)
    return "AT_FDCWD" if n == AT_FDCWD else str(n)


def _ioctl(v: int) -> str:
    v &= 0xFFFFFFFF
    name = IOCTL_REQUESTS.get(v)
    return f"{name} ({v:#x})" if name else f"{v:#x}"


def _prctl(v: int) -> str:
    v &= 0xFFFFFFFF
    return PRCTL_OPTIONS.get(v, str(v))


def _mode(v: int) -> str:
    return f"0{v & 0o7777:o}"


#: How to show one argument, by kind. ``p`` (pointer) and ``x`` are hex, ``d`` a signed number of
#: the caller's word size, ``u`` unsigned.
KINDS: dict[str, Callable[[int], str]] = {
    "p": lambda v: "NULL" if v == 0 else f"{v:#x}",
    "x": lambda v: f"{v:#x}",
    "u": str,
    "fd": _fd,
    "i": lambda v: str(_signed32(v)),
    "clone": _clone_flags,
    "af": _af,
    "socktype": _socktype,
    "oflags": _oflags,
    "prot": lambda v: _flags(v & 0xFFFFFFFF, PROT_FLAGS, zero="PROT_NONE"),
    "mapflags": lambda v: _flags(v & 0xFFFFFFFF, MAP_FLAGS),
    "atflags": lambda v: _flags(v & 0xFFFFFFFF, AT_FLAGS),
    "ioctl": _ioctl,
    "prctl": _prctl,
    "fcntl": lambda v: FCNTL_CMDS.get(v & 0xFFFFFFFF, str(v & 0xFFFFFFFF)),
    "sig": lambda v: signal_name(_signed32(v)),
    "mode": _mode,
}

_P, _FD, _D = "p", "fd", "d"
#: Argument kinds per syscall name (named fields where the kind alone would be ambiguous:
#: ``("flags", "clone")``). Only what is the same on every arch listed; clone's argument order
#: differs after the stack pointer, so those are shown as plain hex.
SIGNATURES: dict[str, tuple[str | tuple[str, str], ...]] = {
    "read": (_FD, _P, "u"), "write": (_FD, _P, "u"), "pread64": (_FD, _P, "u", _D),
    "pwrite64": (_FD, _P, "u", _D), "readv": (_FD, _P, "i"), "writev": (_FD, _P, "i"),
    "open": (_P, ("flags", "oflags"), "mode"), "openat": (_FD, _P, ("flags", "oflags"), "mode"),
    "creat": (_P, "mode"), "close": (_FD,), "close_range": ("u", "u", "x"),
    "stat": (_P, _P), "lstat": (_P, _P), "fstat": (_FD, _P), "stat64": (_P, _P),
    "fstat64": (_FD, _P), "lstat64": (_P, _P),
    "newfstatat": (_FD, _P, _P, "atflags"), "fstatat64": (_FD, _P, _P, "atflags"),
    "statx": (_FD, _P, "atflags", "x", _P), "access": (_P, "x"), "faccessat": (_FD, _P, "x"),
    "faccessat2": (_FD, _P, "x", "atflags"), "readlink": (_P, _P, "u"),
    "readlinkat": (_FD, _P, _P, "u"), "getdents64": (_FD, _P, "u"), "getdents": (_FD, _P, "u"),
    "lseek": (_FD, _D, "i"), "_llseek": (_FD, "u", "u", _P, "i"),
    "mmap": (_P, "u", ("prot", "prot"), ("flags", "mapflags"), _FD, "x"),
    "mmap2": (_P, "u", ("prot", "prot"), ("flags", "mapflags"), _FD, "x"),
    "mprotect": (_P, "u", ("prot", "prot")), "munmap": (_P, "u"), "brk": (_P,),
    "madvise": (_P, "u", "i"), "ioctl": (_FD, ("request", "ioctl"), _P),
    "fcntl": (_FD, ("cmd", "fcntl"), "x"), "fcntl64": (_FD, ("cmd", "fcntl"), "x"),
    "socket": (("domain", "af"), ("type", "socktype"), "i"),
    "socketpair": (("domain", "af"), ("type", "socktype"), "i", _P),
    "connect": (_FD, _P, "u"), "bind": (_FD, _P, "u"), "listen": (_FD, "i"),
    "accept": (_FD, _P, _P), "accept4": (_FD, _P, _P, "x"),
    "sendto": (_FD, _P, "u", "x", _P, "u"), "recvfrom": (_FD, _P, "u", "x", _P, _P),
    "sendmsg": (_FD, _P, "x"), "recvmsg": (_FD, _P, "x"),
    "setsockopt": (_FD, "i", "i", _P, "u"), "getsockopt": (_FD, "i", "i", _P, _P),
    "clone": (("flags", "clone"), _P, _P, _P, _P), "clone3": (_P, "u"),
    "unshare": (("flags", "clone"),), "setns": (_FD, ("nstype", "clone")),
    "fork": (), "vfork": (), "getpid": (), "getppid": (), "gettid": (), "getuid": (),
    "geteuid": (), "getgid": (), "getegid": (), "getuid32": (), "geteuid32": (),
    "getgid32": (), "getegid32": (), "sync": (), "pause": (), "sched_yield": (),
    "setuid": ("u",), "setgid": ("u",), "setuid32": ("u",), "setgid32": ("u",),
    "exit": ("i",), "exit_group": ("i",), "kill": ("i", "sig"), "tgkill": ("i", "i", "sig"),
    "tkill": ("i", "sig"), "execve": (_P, _P, _P), "execveat": (_FD, _P, _P, _P, "atflags"),
    "prctl": (("option", "prctl"), "x", "x", "x", "x"), "arch_prctl": ("x", _P),
    "personality": ("x",), "ptrace": ("i", "i", _P, _P), "uname": (_P,),
    "mount": (_P, _P, _P, "x", _P), "umount2": (_P, "x"), "chroot": (_P,),
    "pivot_root": (_P, _P), "chdir": (_P,), "fchdir": (_FD,), "getcwd": (_P, "u"),
    "mkdir": (_P, "mode"), "mkdirat": (_FD, _P, "mode"), "rmdir": (_P,), "unlink": (_P,),
    "unlinkat": (_FD, _P, "atflags"), "rename": (_P, _P), "renameat2": (_FD, _P, _FD, _P, "x"),
    "chmod": (_P, "mode"), "fchmod": (_FD, "mode"), "fchmodat": (_FD, _P, "mode"),
    "chown": (_P, "u", "u"), "fchown": (_FD, "u", "u"), "umask": ("mode",),
    "dup": (_FD,), "dup2": (_FD, _FD), "dup3": (_FD, _FD, ("flags", "oflags")),
    "pipe": (_P,), "pipe2": (_P, ("flags", "oflags")),
    "wait4": ("i", _P, "x", _P), "waitid": ("i", "i", _P, "x", _P),
    "rt_sigaction": ("sig", _P, _P, "u"), "rt_sigprocmask": ("i", _P, _P, "u"),
    "getrandom": (_P, "u", "x"), "set_tid_address": (_P,), "set_robust_list": (_P, "u"),
    "rseq": (_P, "u", "x", "x"), "futex": (_P, "x", "u", _P, _P, "u"),
    "prlimit64": ("i", "i", _P, _P), "sched_getaffinity": ("i", "u", _P),
    "nanosleep": (_P, _P), "clock_nanosleep": ("i", "x", _P, _P), "sysinfo": (_P,),
    "capget": (_P, _P), "capset": (_P, _P), "setsid": (), "getpgrp": (),
    "setpgid": ("i", "i"), "memfd_create": (_P, "x"), "seccomp": ("u", "x", _P),
    "bpf": ("i", _P, "u"), "perf_event_open": (_P, "i", "i", _FD, "x"), "syslog": ("i", _P, "i"),
    "keyctl": ("i", "x", "x", "x", "x"), "add_key": (_P, _P, _P, "u", "i"),
    "setrlimit": ("u", _P), "getrlimit": ("u", _P), "ugetrlimit": ("u", _P),
    "socketcall": ("i", _P), "ipc": ("u", "x", "x", "x", _P, "x"),
}


def format_args(arch: str, name: str, args: Sequence[int]) -> str:
    """The arguments as one comma-separated string (without the parentheses).

    ``arch`` tells the caller's word size: 32-bit callers' registers are shown as 32-bit values.
    """
    bits = 64 if arch in WIDE else 32
    mask = (1 << bits) - 1
    values = [int(a) & _M64 & mask for a in args] + [0] * (6 - len(args))
    sig = SIGNATURES.get(name)
    if sig is None:
        return ", ".join(f"{v:#x}" for v in values[:6])
    parts = []
    for i, kind in enumerate(sig):
        label, k = kind if isinstance(kind, tuple) else ("", kind)
        v = values[i]
        text = str(_signed(v, bits)) if k == "d" else KINDS[k](v)
        parts.append(f"{label}={text}" if label else text)
    return ", ".join(parts)


def format_call(arch: str, name: str, args: Sequence[int]) -> str:
    """``name(args)``, as :func:`format_args` renders them."""
    return f"{name}({format_args(arch, name, args)})"


__all__ = ["SIGNATURES", "format_args", "format_call", "signal_name"]
