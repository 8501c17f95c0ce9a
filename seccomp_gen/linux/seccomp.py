"""Loading seccomp filters, and what this kernel and this process allow.

A filter is built before a fork (:class:`Program`: the instructions and the ``sock_fprog`` that
points at them), so that the child only makes the two ``prctl`` calls. Without CAP_SYS_ADMIN the
kernel requires no_new_privs before a filter can be loaded (:func:`needs_no_new_privs`); with it
(root) seccomp-gen does not set it, so setuid programs and LSM transitions in the workload behave
as they do natively.
"""

from __future__ import annotations

import ctypes
import struct

from . import libc

SECCOMP_MODE_FILTER = 2
#: seccomp(2) operations and flags.
SECCOMP_SET_MODE_FILTER, SECCOMP_GET_NOTIF_SIZES = 1, 3
SECCOMP_FILTER_FLAG_TSYNC = 1
SECCOMP_FILTER_FLAG_NEW_LISTENER = 1 << 3
#: The kernel's limit on one classic BPF program (BPF_MAXINSNS).
MAX_INSNS = 4096

ACTIONS_AVAIL = "/proc/sys/kernel/seccomp/actions_avail"
ACTIONS_LOGGED = "/proc/sys/kernel/seccomp/actions_logged"

CAP_SYS_ADMIN = 21
CAP_AUDIT_CONTROL = 30


class SockFprog(ctypes.Structure):
    """``struct sock_fprog``: the length and address of a classic BPF program."""

    _fields_ = (("len", ctypes.c_ushort), ("filter", ctypes.c_void_p))


class Program:
    """A filter ready to load: its instructions in C memory and the ``sock_fprog`` for them,
    made before a fork so that the child allocates nothing."""

    def __init__(self, code: bytes) -> None:
        if len(code) % 8:
            raise ValueError("a BPF program is a whole number of 8-byte instructions")
        self.code = code
        self._buffer = ctypes.create_string_buffer(code, len(code))
        self.fprog = SockFprog(len(code) // 8, ctypes.addressof(self._buffer))
        #: The address to pass to prctl/seccomp.
        self.address = ctypes.addressof(self.fprog)

    @property
    def instructions(self) -> int:
        return len(self.code) // 8


def actions_avail() -> list[str] | None:
    """The actions this kernel's seccomp offers (``trace``, ``log``, ``user_notif``...), or None
    when it has no seccomp filters."""
    try:
        with open(ACTIONS_AVAIL, encoding="ascii") as fh:
            return fh.read().split()
    except OSError:
        return None


def action_unavailable(action: str, what: str) -> str | None:
    """Why the kernel cannot give ``action`` (a name in actions_avail; ``what`` is how to call
    it in the message, e.g. ``SECCOMP_RET_TRACE``), in one line, or None."""
    actions = actions_avail()
    if actions is None:
        return f"the kernel has no seccomp filters ({ACTIONS_AVAIL} is missing)"
    if action not in actions:
        return f"the kernel does not offer {what} ({ACTIONS_AVAIL}: {' '.join(actions)})"
    return None


def has_cap(bit: int) -> bool:
    """Whether this process has capability ``bit`` in its effective set."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("CapEff:"):
                    return bool(int(line.split()[1], 16) >> bit & 1)
    except (OSError, ValueError):
        pass
    return False


def needs_no_new_privs() -> bool:
    """Whether loading a filter needs no_new_privs first (no CAP_SYS_ADMIN)."""
    return not has_cap(CAP_SYS_ADMIN)


def set_no_new_privs() -> int:
    """prctl(PR_SET_NO_NEW_PRIVS); 0 or the errno. Safe in a forked child (no allocation)."""
    return 0 if libc.prctl(libc.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 else libc.errno()


def load(program: Program) -> int:
    """prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, program); 0 or the errno. Safe in a forked
    child (the program was built before the fork)."""
    if libc.prctl(libc.PR_SET_SECCOMP, SECCOMP_MODE_FILTER, program.address, 0, 0) == 0:
        return 0
    return libc.errno()


def load_synced(program: Program, nr_seccomp: int, tsync: bool = True) -> int:
    """seccomp(SECCOMP_SET_MODE_FILTER, TSYNC if ``tsync``, program) for every thread of this
    process (``nr_seccomp``: the seccomp(2) number of the host's arch). 0, the errno, or with
    TSYNC the (negative) id of a thread whose filter differs."""
    res = libc.syscall(ctypes.c_long(nr_seccomp), ctypes.c_long(SECCOMP_SET_MODE_FILTER),
                       ctypes.c_long(SECCOMP_FILTER_FLAG_TSYNC if tsync else 0),
                       ctypes.c_void_p(program.address))
    if res == 0:
        return 0
    return libc.errno() if res < 0 else -res


# --- user-space notification (USER_NOTIF) ---------------------------------------------------------

SECCOMP_USER_NOTIF_FLAG_CONTINUE = 1
SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP = 1

#: struct seccomp_notif {u64 id; u32 pid; u32 flags; struct seccomp_data {s32 nr; u32 arch;
#: u64 instruction_pointer; u64 args[6];}}, and struct seccomp_notif_resp {u64 id; s64 val;
#: s32 error; u32 flags;}.
NOTIF = struct.Struct("=QIIiIQ6Q")
NOTIF_RESP = struct.Struct("=QqiI")
NOTIF_HEAD = struct.Struct("=Q I 4x i I")  # id, pid, nr, arch
NOTIF_ARGS_OFFSET = 32
#: seccomp_data.instruction_pointer: the address right after the syscall instruction (the saved
#: user ip, as PTRACE_GET_SYSCALL_INFO's instruction_pointer and si_call_addr report it).
NOTIF_IP_OFFSET = 24
NOTIF_IP = struct.Struct("=Q")
NOTIF_ARGS = struct.Struct("=6Q")


def _ioc(direction: int, nr: int, size: int) -> int:
    """The generic _IOC encoding (x86, arm64, riscv, s390): dir:2 size:14 type:8 nr:8."""
    return (direction << 30) | (size << 16) | (ord("!") << 8) | nr


_IOC_WRITE, _IOC_READ = 1, 2
SECCOMP_IOCTL_NOTIF_RECV = _ioc(_IOC_READ | _IOC_WRITE, 0, NOTIF.size)  # 0xc0502100
SECCOMP_IOCTL_NOTIF_SEND = _ioc(_IOC_READ | _IOC_WRITE, 1, NOTIF_RESP.size)  # 0xc0182101
SECCOMP_IOCTL_NOTIF_SET_FLAGS = _ioc(_IOC_WRITE, 4, 8)  # 0x40082104 (6.6+)


class _NotifSizes(ctypes.Structure):
    _fields_ = (("notif", ctypes.c_uint16), ("resp", ctypes.c_uint16), ("data", ctypes.c_uint16))


def notif_sizes(nr_seccomp: int) -> tuple[int, int]:
    """(sizeof seccomp_notif, sizeof seccomp_notif_resp) as this kernel has them; raises OSError
    when the kernel cannot say (``nr_seccomp``: the seccomp(2) number of the host's arch)."""
    sizes = _NotifSizes()
    if libc.syscall(ctypes.c_long(nr_seccomp), ctypes.c_long(SECCOMP_GET_NOTIF_SIZES),
                    ctypes.c_long(0), ctypes.byref(sizes)) != 0:
        raise libc.os_error("SECCOMP_GET_NOTIF_SIZES")
    return sizes.notif, sizes.resp
