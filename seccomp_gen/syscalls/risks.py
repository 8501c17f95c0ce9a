"""What a reviewer of a seccomp profile looks for, as pure tables: syscalls that are dangerous to
allow, the argument bits that must be pinned off, syscalls that do what another does, and the
newer syscalls that libc tries first and falls back from on ENOSYS only.

:mod:`seccomp_gen.review` (``seccomp-gen audit``) reads these; docs/audit.md says why each entry
is there. Names are the kernel's (libseccomp's); a name an arch does not have is simply absent
from a profile for that arch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from .constants import CLONE_NAMES, CLONE_NEWTIME, CLONE_NS_MASK

#: Finding levels, least severe first.
LEVELS: Final = ("info", "low", "medium", "high")

_IO_URING = ("io_uring operations run in the kernel where seccomp never sees them "
             "(with IORING_SETUP_SQPOLL not even io_uring_enter is needed)")
_MOUNT = "changes the mount table: a path to escape a container's file system"
_MODULE = "loads or removes kernel code"
_ADJTIME = "reads the clock's state; adjusts the host's clock with CAP_SYS_TIME"
_KEYS = "the kernel keyring is not namespaced: keys of other containers and the host"

#: name -> (level, why it is dangerous to allow without argument rules).
DANGEROUS: Final[dict[str, tuple[str, str]]] = {
    "bpf": ("high", "loads eBPF programs into the kernel, a large attack surface"),
    "clone3": ("high", "its flags (namespaces) live in memory where no filter can read them"),
    "kexec_load": ("high", "replaces the running kernel"),
    "kexec_file_load": ("high", "replaces the running kernel"),
    "init_module": ("high", _MODULE),
    "finit_module": ("high", _MODULE),
    "delete_module": ("high", _MODULE),
    "create_module": ("high", _MODULE),
    "ptrace": ("high", "reads and writes other processes' memory and registers"),
    "process_vm_writev": ("high", "writes other processes' memory"),
    "process_vm_readv": ("medium", "reads other processes' memory"),
    "process_madvise": ("medium", "acts on other processes' memory"),
    "pidfd_getfd": ("medium", "takes file descriptors from other processes"),
    "kcmp": ("medium", "compares kernel objects of other processes (an address-layout leak)"),
    "open_by_handle_at": ("high", "opens files by handle, bypassing the mount namespace "
                          "(the 'shocker' container escape)"),
    "name_to_handle_at": ("low", "the other half of open_by_handle_at"),
    "mount": ("high", _MOUNT),
    "umount": ("high", _MOUNT),
    "umount2": ("high", _MOUNT),
    "move_mount": ("high", _MOUNT),
    "fsopen": ("high", _MOUNT),
    "fsmount": ("high", _MOUNT),
    "fsconfig": ("high", _MOUNT),
    "fspick": ("high", _MOUNT),
    "open_tree": ("high", _MOUNT),
    "mount_setattr": ("high", _MOUNT),
    "pivot_root": ("high", _MOUNT),
    "chroot": ("low", "changes the root directory (with other privileges, an escape)"),
    "userfaultfd": ("high", "stalls kernel page faults at will, a standard exploit primitive"),
    "perf_event_open": ("high", "a large kernel attack surface and side channels"),
    "io_uring_setup": ("high", _IO_URING),
    "io_uring_enter": ("high", _IO_URING),
    "io_uring_register": ("high", _IO_URING),
    "keyctl": ("high", _KEYS),
    "add_key": ("high", _KEYS),
    "request_key": ("high", _KEYS),
    "iopl": ("high", "gives direct access to I/O ports"),
    "ioperm": ("high", "gives direct access to I/O ports"),
    "reboot": ("high", "reboots or halts the machine"),
    "swapon": ("medium", "changes the host's swap"),
    "swapoff": ("medium", "changes the host's swap"),
    "settimeofday": ("medium", "sets the host's clock (not namespaced)"),
    "clock_settime": ("medium", "sets the host's clock (not namespaced)"),
    "clock_settime64": ("medium", "sets the host's clock (not namespaced)"),
    "clock_adjtime": ("low", _ADJTIME),
    "clock_adjtime64": ("low", _ADJTIME),
    "adjtimex": ("low", _ADJTIME),
    "stime": ("medium", "sets the host's clock (not namespaced)"),
    "acct": ("medium", "switches process accounting for the host"),
    "quotactl": ("medium", "manipulates disk quotas"),
    "quotactl_fd": ("medium", "manipulates disk quotas"),
    "lookup_dcookie": ("medium", "a kernel profiling interface"),
    "syslog": ("medium", "reads and clears the kernel log (kernel addresses)"),
    "fanotify_init": ("medium", "watches file access system-wide"),
    "uselib": ("medium", "an obsolete loader with a history of bugs"),
    "_sysctl": ("medium", "an obsolete interface with a history of bugs"),
    "vm86": ("medium", "virtual-8086 mode, a history of kernel bugs"),
    "vm86old": ("medium", "virtual-8086 mode, a history of kernel bugs"),
    "modify_ldt": ("low", "changes the local descriptor table, a history of kernel bugs"),
    "vhangup": ("low", "hangs up the terminal"),
    "sethostname": ("low", "sets the host name (harmless only in a UTS namespace)"),
    "setdomainname": ("low", "sets the domain name (harmless only in a UTS namespace)"),
    "mbind": ("low", "NUMA placement (Docker asks CAP_SYS_NICE for it)"),
    "move_pages": ("low", "moves other processes' pages between NUMA nodes"),
    "migrate_pages": ("low", "moves other processes' pages between NUMA nodes"),
}


@dataclass(frozen=True)
class ArgRisk:
    """A syscall that is safe only when one argument keeps some flag bits clear (``bits``) or
    avoids some values (``values``). ``int32``: the kernel reads the register as a 32-bit int
    (upper bits ignored), so a filter comparing 64 bits must be checked against what the
    kernel will see. ``ignore``: values the kernel treats as harmless although they have the
    bits (personality's 0xffffffff only queries)."""

    name: str
    index: int
    level: str
    why: str
    bits: tuple[tuple[int, str], ...] = ()
    values: tuple[tuple[int, str], ...] = ()
    int32: bool = False
    ignore: tuple[int, ...] = ()


def _bits(mask: int) -> tuple[tuple[int, str], ...]:
    return tuple((v, n) for n, v in sorted(CLONE_NAMES.items(), key=lambda kv: kv[1])
                 if v & mask)


#: personality(2) flags that weaken the process: ASLR off, mapping page zero, executable data.
PERSONALITY_FLAGS: Final = ((0x0040000, "ADDR_NO_RANDOMIZE"), (0x0100000, "MMAP_PAGE_ZERO"),
                            (0x0400000, "READ_IMPLIES_EXEC"))

#: The argument rules a reviewer checks (clone's flags are its first argument except on s390,
#: where they are the second: :func:`clone_flags_index`).
ARG_RISKS: Final[tuple[ArgRisk, ...]] = (
    ArgRisk("clone", 0, "high", "creates namespaces (CLONE_NEWUSER needs no privilege)",
            bits=_bits(CLONE_NS_MASK), int32=True),
    ArgRisk("unshare", 0, "high", "creates namespaces (CLONE_NEWUSER needs no privilege)",
            bits=_bits(CLONE_NS_MASK | CLONE_NEWTIME)),
    ArgRisk("setns", 1, "high", "joins namespaces of any type (nstype 0)",
            values=((0, "nstype 0 (any)"),), int32=True),
    ArgRisk("personality", 0, "medium", "weakens the process (ASLR off, page zero, "
            "executable data)", bits=PERSONALITY_FLAGS, int32=True, ignore=(0xFFFFFFFF,)),
)


def clone_flags_index(arch: str) -> int:
    """Which argument holds clone(2)'s flags: the second on s390 and s390x."""
    return 1 if arch in ("s390", "s390x") else 0


@dataclass(frozen=True)
class Alternative:
    """``other`` can do what ``name`` does, so denying ``name`` alone restricts nothing.
    ``args``: also with any argument values (``other`` cannot be restricted more than
    ``name``'s rules restrict it); ``security``: the capability matters to a reviewer (exec,
    files, processes, sockets, memory protection), not only to a program's portability;
    ``canonical``: ``name`` is the one a reviewer looks for to see whether the capability is
    allowed."""

    name: str
    other: str
    args: bool = True
    security: bool = True
    canonical: bool = False


def _group(names: tuple[str, ...], *, security: bool, args: bool = True,
           canonical: bool = True) -> tuple[Alternative, ...]:
    """Every ordered pair of a group of equivalent syscalls; the first name is canonical."""
    return tuple(Alternative(a, b, args, security, canonical and a == names[0])
                 for a in names for b in names if a != b)


_SOCKET_CALLS = ("socket", "socketpair", "bind", "connect", "listen", "accept", "accept4",
                 "getsockname", "getpeername", "sendto", "recvfrom", "shutdown", "setsockopt",
                 "getsockopt", "sendmsg", "recvmsg", "recvmmsg", "sendmmsg")
_IPC_CALLS = ("semop", "semget", "semctl", "semtimedop", "msgsnd", "msgrcv", "msgget", "msgctl",
              "shmat", "shmdt", "shmget", "shmctl")

#: Pairs of syscalls where the second does what the first does.
ALTERNATIVES: Final[tuple[Alternative, ...]] = (
    *_group(("execve", "execveat"), security=True),
    # Programs use open or openat alike: neither is the one a reviewer looks for.
    *_group(("openat", "open", "openat2"), security=True, canonical=False),
    *(Alternative("creat", n) for n in ("openat", "open", "openat2")),
    Alternative("clone", "clone3", canonical=True),
    Alternative("clone", "fork", args=False, canonical=True),
    Alternative("clone", "vfork", args=False, canonical=True),
    Alternative("fork", "clone"), Alternative("vfork", "clone"),
    Alternative("fork", "clone3"), Alternative("vfork", "clone3"),
    Alternative("clone3", "clone", args=False),
    # i386: the socketcall and ipc multiplexers reach every socket and SysV IPC call.
    *(Alternative(n, "socketcall", canonical=n == "socket") for n in _SOCKET_CALLS),
    *(Alternative(n, "ipc", canonical=n in ("shmget", "semget", "msgget")) for n in _IPC_CALLS),
    *_group(("mprotect", "pkey_mprotect"), security=True),
    # i386's mmap is old_mmap, whose arguments are in memory; mmap2 is the one glibc uses.
    *_group(("mmap2", "mmap"), security=True),
    *_group(("umount2", "umount"), security=True),
    *_group(("kexec_load", "kexec_file_load"), security=True),
    *_group(("init_module", "finit_module"), security=True),
    # Portability more than security: the same effect through another door.
    *_group(("newfstatat", "stat", "lstat", "fstat", "statx", "fstatat64", "stat64",
             "lstat64", "fstat64"), security=False),
    *_group(("dup3", "dup2"), security=False),
    *_group(("pipe2", "pipe"), security=False),
    *_group(("wait4", "waitid", "waitpid"), security=False),
    *_group(("faccessat", "access", "faccessat2"), security=False),
    *_group(("unlinkat", "unlink", "rmdir"), security=False),
    *_group(("renameat2", "rename", "renameat"), security=False),
    *_group(("mkdirat", "mkdir"), security=False),
    *_group(("linkat", "link"), security=False),
    *_group(("symlinkat", "symlink"), security=False),
    *_group(("fchmodat", "chmod", "fchmodat2"), security=False),
    *_group(("fchownat", "chown", "lchown", "chown32", "lchown32"), security=False),
    *_group(("mknodat", "mknod"), security=False),
    *_group(("readlinkat", "readlink"), security=False),
    *_group(("utimensat", "utimes", "utime", "futimesat"), security=False),
    *_group(("ppoll", "poll"), security=False),
    *_group(("pselect6", "select", "_newselect"), security=False),
    *_group(("epoll_pwait", "epoll_wait", "epoll_pwait2"), security=False),
    *_group(("epoll_create1", "epoll_create"), security=False),
    *_group(("eventfd2", "eventfd"), security=False),
    *_group(("signalfd4", "signalfd"), security=False),
    *_group(("inotify_init1", "inotify_init"), security=False),
    *_group(("getdents64", "getdents"), security=False),
    *_group(("accept4", "accept"), security=False),
    *_group(("preadv2", "preadv"), security=False),
    *_group(("pwritev2", "pwritev"), security=False),
)

#: newer -> older: libc (glibc) calls the newer syscall first and falls back to the older one
#: only when the newer fails with ENOSYS; any other denial (EPERM, a kill) breaks the call.
FALLBACKS: Final[dict[str, tuple[str, ...]]] = {
    "clone3": ("clone",),
    "faccessat2": ("faccessat",),
    "fchmodat2": ("fchmodat",),
    # 32-bit ABIs: glibc 2.34+ tries the 64-bit time calls first.
    "clock_gettime64": ("clock_gettime",),
    "clock_nanosleep_time64": ("clock_nanosleep",),
    "clock_getres_time64": ("clock_getres",),
    "futex_time64": ("futex",),
    "ppoll_time64": ("ppoll",),
    "pselect6_time64": ("pselect6",),
    "utimensat_time64": ("utimensat",),
    "timerfd_settime64": ("timerfd_settime",),
    "timerfd_gettime64": ("timerfd_gettime",),
    "rt_sigtimedwait_time64": ("rt_sigtimedwait",),
    "recvmmsg_time64": ("recvmmsg",),
    "semtimedop_time64": ("semtimedop",),
    "statx": ("fstatat64",),
}
