"""Architecture identity and syscall names, straight from libseccomp.

An arch is identified by its AUDIT_ARCH value, the number the kernel reports in
PTRACE_GET_SYSCALL_INFO, seccomp_data and SIGSYS siginfo. Its name is libseccomp's token
(``x86_64``, ``x86``, ``x32``, ``aarch64``...), and syscall names and numbers are resolved with
that arch's own table, so a 32-bit call on a 64-bit kernel is never named with the 64-bit table.
Nothing here is a hand-typed syscall table.
"""

from __future__ import annotations

import ctypes
import functools
import os

import pyseccomp

from .errors import UnknownSyscall
from .syscalls.arches import X32_SYSCALL_BIT, arch_of_machine

_AUDIT_ARCH_X86_64 = int(pyseccomp.Arch.X86_64)


def _arch_table() -> dict[int, str]:
    table: dict[int, str] = {}
    for attr in dir(pyseccomp.Arch):
        if attr.isupper() and attr != "NATIVE":
            table[int(getattr(pyseccomp.Arch, attr))] = attr.lower()
    return table


#: AUDIT_ARCH value -> libseccomp arch name (x32 shares x86_64's value and is told by the nr bit).
AUDIT_ARCH_NAMES: dict[int, str] = _arch_table()
ARCH_BY_NAME: dict[str, int] = {name: value for value, name in AUDIT_ARCH_NAMES.items()}
ARCH_BY_NAME["x32"] = int(pyseccomp.Arch.X32)

def arch_name(audit_arch: int, nr: int = 0) -> str:
    """The libseccomp name of the ABI a call used, from the kernel's AUDIT_ARCH and the number."""
    if audit_arch == _AUDIT_ARCH_X86_64 and nr & X32_SYSCALL_BIT:
        return "x32"
    try:
        return AUDIT_ARCH_NAMES[audit_arch]
    except KeyError:
        return f"audit_arch_{audit_arch:#x}"


def arch_token(name: str) -> int:
    """The AUDIT_ARCH value libseccomp uses for an arch name; raises for an unknown name."""
    try:
        return ARCH_BY_NAME[name]
    except KeyError:
        known = ", ".join(sorted(ARCH_BY_NAME))
        raise UnknownSyscall(f"unknown architecture {name!r}", hint=f"known: {known}") from None


@functools.lru_cache(maxsize=4096)
def syscall_name(arch: str, nr: int) -> str:
    """Name of syscall ``nr`` in ``arch``'s own table; ``syscall_0x...`` when the table lacks it.

    x32 numbers carry the x32 bit, exactly as the kernel reports them.
    """
    try:
        token = arch_token(arch)
        name = pyseccomp.resolve_syscall(token, nr)
    except (ValueError, OverflowError, UnknownSyscall, ctypes.ArgumentError):
        return f"syscall_{nr:#x}"
    return name.decode() if isinstance(name, bytes) else str(name)


@functools.lru_cache(maxsize=4096)
def syscall_number(arch: str, name: str) -> int:
    """Number of ``name`` in ``arch``'s table (negative pseudo-numbers mean it has none)."""
    nr = pyseccomp.resolve_syscall(arch_token(arch), name)
    return int(nr)


def host_arch() -> str:
    """libseccomp's name for the arch this Python runs as.

    ``os.uname().machine`` is exactly what ``platform.machine()`` returns on Linux, without
    importing :mod:`platform` (a few ms of every ``record``'s start-up)."""
    return arch_of_machine(os.uname().machine)


def libseccomp_version() -> str:
    """The libseccomp library version pyseccomp loaded, e.g. ``2.5.4``."""
    try:
        api = pyseccomp._libseccomp
        func = api.seccomp_version
        func.restype = ctypes.POINTER(ctypes.c_uint * 3)
        major, minor, micro = func().contents
        return f"{major}.{minor}.{micro}"
    except (AttributeError, ValueError, OSError):
        return "unknown"


def kernel_release() -> str:
    """``uname -r`` of the running kernel."""
    return os.uname().release
