"""Syscalls a container runtime makes itself after it has loaded the workload's filter.

A runtime loads the seccomp filter shortly before it execs the workload, so the filter must also
allow what the runtime does in between, although no trace of the workload shows it. Each entry
carries a one-line reason; "measured" ones were seen on Debian 12 (runc 1.1.5, crun 1.8.1, LXC
5.0.2) and are proven by tests/test_consumers.py (under a kill-process default, leaving one out
kills the container), the rest are what the runtime is known to run in that window. Pure data.

runc loads the filter just before execve only with ``noNewPrivileges: true`` (``runc spec``'s
default). Without it runc loads the filter before it drops privileges and then also needs
capget, capset, chdir, fcntl, fstat, getcwd, getppid, newfstatat, prctl, read, setgid,
setgroups and setuid (measured); the ``runc`` baseline does not cover that mode.
"""

from __future__ import annotations

from typing import Final

_GO_RUNTIME = "Go runtime threads of runc init keep running until execve"

#: runtime name -> {syscall name: reason}
BASELINES: Final[dict[str, dict[str, str]]] = {
    "none": {},
    "runc": {
        # The order runc 1.1 init runs them in, after the filter (noNewPrivileges: true).
        "close": "runc init closes its sync and log pipes and the exec fifo (measured)",
        "openat": "runc init opens the exec fifo and /proc/self/fd (measured)",
        "write": "runc init writes to the exec fifo to say it is ready (measured)",
        "getpid": "runc init reads its pid for the hooks' state (measured)",
        "epoll_ctl": "Go's netpoller registers the /proc/self/fd it opens (measured)",
        "fstatfs": "runc init checks that /proc/self/fd is on procfs (measured)",
        "getdents64": "runc init lists /proc/self/fd to close inherited fds (measured)",
        "execve": "runc init execs the workload after loading the filter (measured)",
        "futex": f"{_GO_RUNTIME}: thread park and wake-up (measured, some runs)",
        "rt_sigreturn": f"{_GO_RUNTIME}: return from async-preemption signals (measured, "
                        "some runs)",
        "tgkill": f"{_GO_RUNTIME}: async preemption signals a thread",
        "sched_yield": f"{_GO_RUNTIME}: spinning scheduler",
    },
    "crun": {
        "close": "crun closes the fd of the filter it just loaded (measured)",
        "execve": "crun execs the workload right after loading the filter (measured)",
    },
    "lxc": {
        # lxc-execute's built-in init (LXC 5.0), from loading the filter to the workload's execve,
        # and while it waits for the workload.
        "execve": "LXC execs the workload after loading the filter (measured)",
        "close": "LXC closes its sync fds after loading the filter (measured)",
        "read": "LXC syncs with its monitor over a socket pair (measured)",
        "write": "LXC syncs with its monitor and writes its log (measured)",
        "setsid": "LXC init and the workload's child each start a session (measured)",
        "openat": "LXC opens /dev/null for the init's stdio (measured)",
        "newfstatat": "LXC checks the init's stdio fds (measured)",
        "fchown": "LXC init sets up its console and fds (measured)",
        "fchmod": "LXC init sets up its console and fds (measured)",
        "capget": "LXC init drops capabilities (measured)",
        "setgroups": "LXC init drops supplementary groups (measured)",
        "getuid": "LXC init checks whether it runs as root (measured)",
        "rt_sigprocmask": "LXC init blocks the signals it forwards (measured)",
        "rt_sigaction": "LXC init installs its signal handlers (measured)",
        "readlink": "LXC init resolves /proc/self/exe (measured)",
        "umount2": "LXC init detaches the lxc-execute binary bind-mounted into the container "
                   "(measured)",
        "clone": "LXC init forks the workload (measured; namespace flags stay pinned)",
        "fcntl": "LXC init reads its fds' flags (measured)",
        "prctl": "LXC init sets its name with PR_SET_MM (measured; option pinned)",
        "close_range": "LXC init closes inherited fds (measured)",
        "ioctl": "the workload's child takes the controlling terminal, TIOCSCTTY (measured)",
        "wait4": "LXC init reaps the workload (measured)",
        "kill": "LXC init forwards signals to the workload (measured)",
        "rt_sigreturn": "LXC init returns from its signal handlers (measured)",
        "exit_group": "LXC init exits with the workload's status (measured)",
    },
}

#: Baseline syscalls whose arguments stay pinned (unless ``--args none``): (runtime, name) ->
#: one condition per allowed value, as (index, op, value, value_two); the values measured.
PINNED: Final[dict[tuple[str, str], tuple[tuple[int, str, int, int], ...]]] = {
    # fork(): no namespace flags (the mask Docker pins; see synthesize.CLONE_NS_MASK).
    ("lxc", "clone"): ((0, "MASKED_EQ", 0x7E020000, 0),),
    ("lxc", "prctl"): ((0, "EQ", 35, 0),),  # PR_SET_MM
}

NAMES: Final[tuple[str, ...]] = tuple(sorted(BASELINES))


def baseline(name: str) -> dict[str, str]:
    """The syscalls and reasons of one named baseline; raises KeyError for an unknown name."""
    return dict(BASELINES[name])
