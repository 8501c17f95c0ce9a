"""Syscalls a container runtime makes itself after it has loaded the workload's filter.

A runtime loads the seccomp filter shortly before it execs the workload, so the filter must also
allow what the runtime does in between, although no trace of the workload shows it. Each entry
carries a one-line reason; "measured" ones were seen on Debian 12 (runc 1.1.5, crun 1.8.1, LXC
5.0.2, Docker 20.10.24, podman 4.3.1, bubblewrap 0.8.0) and are proven by the consumer tests
(under a kill-process default, leaving one out kills the container), the rest are what the
runtime is known to run in that window. Pure data.

How much a runtime does after the filter depends on ``noNewPrivileges``. With ``true`` (``runc
spec``'s default) runc and crun load it just before execve; with ``false``, the default of
Docker, podman and Kubernetes (``allowPrivilegeEscalation`` defaults to true), they load it
before dropping capabilities and switching user, and need those calls too. ``runc`` and ``crun``
are the runtimes at those defaults; ``runc-nnp`` and ``crun-nnp`` the smaller sets for
``noNewPrivileges: true``. Docker and podman start runc init the same way (measured: the same
calls), so ``docker`` and ``podman`` are ``runc``; podman with crun takes ``crun``.

bubblewrap loads the filter (``--seccomp FD``) twice: in the workload's process, right before
its execvp, and, with ``--unshare-pid`` (``--unshare-all``), in its own PID 1, which then only
waits for the workload and reports its exit status: ``bwrap`` is that init's calls and the
execve. ``--baseline auto`` never picks it (a trace does not say it ran under bubblewrap).
"""

from __future__ import annotations

from typing import Final

_GO_RUNTIME = "Go runtime threads of runc init keep running until execve"
_PRIVS = "before execve, with noNewPrivileges false"

#: runc init from loading the filter to execve, with ``noNewPrivileges: true``; in the order
#: runc 1.1 runs them.
_RUNC_NNP: Final[dict[str, str]] = {
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
}

#: What runc init adds when it loads the filter before dropping privileges.
_RUNC_PRIVS: Final[dict[str, str]] = {
    "capget": f"runc init reads its capabilities to drop them, {_PRIVS} (measured)",
    "capset": f"runc init sets the container's capabilities, {_PRIVS} (measured)",
    "prctl": f"runc init drops bounding and ambient capabilities, {_PRIVS} (measured; "
             "options pinned)",
    "setgroups": f"runc init sets the container user's groups, {_PRIVS} (measured)",
    "setgid": f"runc init switches to the container user's group, {_PRIVS} (measured)",
    "setuid": f"runc init switches to the container user, {_PRIVS} (measured)",
    "getcwd": f"runc init checks the working directory, {_PRIVS} (measured)",
    "chdir": f"runc init enters the process's cwd, {_PRIVS} (measured)",
    "faccessat2": f"runc init looks up the workload's executable, {_PRIVS} (measured)",
    "fcntl": f"runc init marks inherited fds close-on-exec, {_PRIVS} (measured)",
    "fstat": f"runc init checks its fds, {_PRIVS} (measured)",
    "newfstatat": f"runc init checks the workload's executable, {_PRIVS} (measured)",
    "read": f"runc init reads its parent's sync messages, {_PRIVS} (measured)",
    "getppid": f"runc init checks that its parent is alive, {_PRIVS} (measured)",
}

_RUNC: Final[dict[str, str]] = {**_RUNC_NNP, **_RUNC_PRIVS}

_CRUN_NNP: Final[dict[str, str]] = {
    "close": "crun closes the fd of the filter it just loaded (measured)",
    "execve": "crun execs the workload right after loading the filter (measured)",
}

_CRUN: Final[dict[str, str]] = {
    **_CRUN_NNP,
    "capset": f"crun sets the container's capabilities, {_PRIVS} (measured)",
    "prctl": f"crun drops bounding and ambient capabilities, {_PRIVS} (measured; options "
             "pinned)",
    "setresgid": f"crun switches to the container user's group, {_PRIVS} (measured)",
    "setresuid": f"crun switches to the container user, {_PRIVS} (measured)",
    "rt_sigaction": f"crun resets the signal handlers, {_PRIVS} (measured)",
    "rt_sigprocmask": f"crun unblocks the signals, {_PRIVS} (measured)",
    "write": f"crun syncs with its parent, {_PRIVS} (measured)",
}

#: bubblewrap 0.8.0 (Debian 12) after it loads the filter, measured with strace -f on
#: ``bwrap --unshare-all --ro-bind / / --dev /dev --proc /proc --seccomp 3 -- CMD 3<p.bpf``
#: (bubblewrap.c: ``do_init`` and the end of ``main``).
_BWRAP: Final[dict[str, str]] = {
    "execve": "bwrap execvp()s the workload right after loading the filter; each directory of "
              "PATH is one try (measured)",
    "wait4": "bwrap's PID 1 (--unshare-pid) reaps the workload and every orphan until none "
             "is left; without it bwrap fails with 'init wait(): Operation not permitted' "
             "(measured)",
    "write": "bwrap's PID 1 writes the workload's exit status to its monitor's eventfd "
             "(measured)",
    "close": "bwrap's PID 1 closes its --lock-file fds before exiting (measured with "
             "--lock-file)",
    "exit_group": "bwrap's PID 1 exits with the workload's status (measured)",
}

#: runtime name -> {syscall name: reason}
BASELINES: Final[dict[str, dict[str, str]]] = {
    "none": {},
    "runc": _RUNC,
    "runc-nnp": _RUNC_NNP,
    "docker": _RUNC,
    "podman": _RUNC,
    "crun": _CRUN,
    "crun-nnp": _CRUN_NNP,
    "bwrap": _BWRAP,
    "lxc": {
        # lxc-execute's built-in init (LXC 5.0), from loading the filter to the workload's execve,
        # and while it waits for the workload.
        "execve": "LXC execs the workload after loading the filter (measured)",
        "close": "LXC closes its sync fds after loading the filter (measured)",
        "read": "LXC syncs with its monitor over a socket pair (measured)",
        "write": "LXC syncs with its monitor and writes its log (measured)",
        "sendto": "LXC sends its network devices to its parent, with a network namespace "
                  "(measured with lxc.net.0.type = empty)",
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

#: prctl options runc and crun use after the filter: PR_SET_KEEPCAPS, PR_CAPBSET_DROP,
#: PR_CAP_AMBIENT (measured with strace, both runtimes).
_CAP_PRCTL: Final = ((0, "EQ", 8, 0), (0, "EQ", 24, 0), (0, "EQ", 47, 0))

#: Baseline syscalls whose arguments stay pinned (unless ``--args none``): (runtime, name) ->
#: one condition per allowed value, as (index, op, value, value_two); the values measured.
PINNED: Final[dict[tuple[str, str], tuple[tuple[int, str, int, int], ...]]] = {
    # fork(): no namespace flags (the mask Docker pins; see synthesize.CLONE_NS_MASK).
    ("lxc", "clone"): ((0, "MASKED_EQ", 0x7E020000, 0),),
    ("lxc", "prctl"): ((0, "EQ", 35, 0),),  # PR_SET_MM
    **{(runtime, "prctl"): _CAP_PRCTL for runtime in ("runc", "docker", "podman", "crun")},
}

NAMES: Final[tuple[str, ...]] = tuple(sorted(BASELINES))


def baseline(name: str) -> dict[str, str]:
    """The syscalls and reasons of one named baseline; raises KeyError for an unknown name."""
    return dict(BASELINES[name])
