"""The C library, loaded once, and the functions seccomp-gen calls through ctypes.

Two handles: :data:`libc` has typed functions (argtypes set once here, for every caller);
:data:`untyped` has none, for variadic calls (``syscall(2)``) and hot loops that pass prebuilt
``ctypes`` values (setting argtypes on a shared function would change it for everyone).
"""

from __future__ import annotations

import ctypes
import os

libc = ctypes.CDLL(None, use_errno=True)
untyped = ctypes.CDLL(None, use_errno=True)

prctl = libc.prctl
prctl.argtypes = (ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong)
prctl.restype = ctypes.c_int

#: ``syscall(2)``, variadic: pass ``ctypes.c_long``/``c_ulong``/pointers.
syscall = untyped.syscall
syscall.restype = ctypes.c_long

ioctl = untyped.ioctl
ioctl.restype = ctypes.c_int

PR_SET_PDEATHSIG = 1
PR_SET_SECCOMP = 22
PR_SET_CHILD_SUBREAPER, PR_GET_CHILD_SUBREAPER = 36, 37
PR_SET_NO_NEW_PRIVS = 38


class Iovec(ctypes.Structure):
    """``struct iovec``."""

    _fields_ = (("base", ctypes.c_void_p), ("len", ctypes.c_size_t))


class Msghdr(ctypes.Structure):
    """``struct msghdr``, for a sendmsg(2) built before a fork."""

    _fields_ = (("name", ctypes.c_void_p), ("namelen", ctypes.c_uint), ("iov", ctypes.c_void_p),
                ("iovlen", ctypes.c_size_t), ("control", ctypes.c_void_p),
                ("controllen", ctypes.c_size_t), ("flags", ctypes.c_int))


def errno() -> int:
    """The errno of the last failed ctypes call of this thread."""
    return ctypes.get_errno()


def os_error(what: str) -> OSError:
    """An OSError for the last failed ctypes call, ``what`` naming it."""
    err = ctypes.get_errno()
    return OSError(err, f"{what}: {os.strerror(err)}")


def string_array(items: list[bytes]) -> ctypes.Array[ctypes.c_char_p]:
    """A NULL-terminated ``char *[]`` for an execve built before a fork (the strings are kept
    alive by the array's objects)."""
    return (ctypes.c_char_p * (len(items) + 1))(*items, None)


def child_subreaper(on: bool) -> bool:
    """Make this process a child subreaper (orphans of its descendants re-parent to it), or
    stop being one; returns whether it was one before."""
    was = ctypes.c_int(0)
    prctl(PR_GET_CHILD_SUBREAPER, ctypes.addressof(was), 0, 0, 0)
    prctl(PR_SET_CHILD_SUBREAPER, int(on), 0, 0, 0)
    return bool(was.value)
