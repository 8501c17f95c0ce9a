"""Syscalls a container runtime makes itself after it has loaded the workload's filter.

A runtime loads the seccomp filter shortly before it execs the workload, so the filter must also
allow what the runtime does in between, although no trace of the workload shows it. Each entry
carries a one-line reason; the measured ones come from DESIGN.md section 3 (runc, crun and LXC
5.0 on Debian 12), the rest from what the runtime is known to run in that window. Pure data.
"""

from __future__ import annotations

from typing import Final

_GO_RUNTIME = "Go runtime threads of runc init keep running until execve"

#: runtime name -> {syscall name: reason}
BASELINES: Final[dict[str, dict[str, str]]] = {
    "none": {},
    "runc": {
        "execve": "runc init execs the workload after loading the filter (measured)",
        "write": "runc init reports to its parent over the sync pipe (measured)",
        "fstatfs": "runc init checks that /proc is procfs before closing fds (measured)",
        "epoll_ctl": "Go netpoller deregisters fds that runc init closes (measured)",
        "futex": f"{_GO_RUNTIME}: thread park and wake-up",
        "rt_sigreturn": f"{_GO_RUNTIME}: return from async-preemption signals",
        "tgkill": f"{_GO_RUNTIME}: async preemption signals a thread",
        "getpid": f"{_GO_RUNTIME}: async preemption signals its own process",
        "sched_yield": f"{_GO_RUNTIME}: spinning scheduler",
    },
    "crun": {
        "execve": "crun execs the workload right after loading the filter (measured)",
    },
    "lxc": {
        "execve": "LXC execs the container's init after loading the filter",
        "capget": "LXC init drops capabilities (measured)",
        "setsid": "LXC init starts a session (measured)",
        "setgroups": "LXC init drops supplementary groups (measured)",
        "fchown": "LXC init sets up its console and fds (measured)",
        "fchmod": "LXC init sets up its console and fds (measured)",
        "readlink": "LXC init resolves /proc/self/fd entries (measured)",
        "close_range": "LXC init closes inherited fds (measured)",
        "rt_sigreturn": "LXC init returns from its signal handlers (measured)",
    },
}

NAMES: Final[tuple[str, ...]] = tuple(sorted(BASELINES))


def baseline(name: str) -> dict[str, str]:
    """The syscalls and reasons of one named baseline; raises KeyError for an unknown name."""
    return dict(BASELINES[name])
