"""``docker run`` under ``record --container``: the container is started by dockerd, not by the
command, so no process tree leads to it. The command gets ``--cgroup-parent`` of a cgroup made
for this run, and the ebpf programs take in every task that execs below it (see
docs/backends/ebpf.md). Only dockerd's cgroupfs driver names the cgroup by that path."""

from __future__ import annotations

import os
import secrets
import subprocess
from collections.abc import Sequence

from ..errors import RecordError
from ..linux.cgroups import CgroupDir, make_cgroup

#: docker's global options that take a value (``docker -H unix:///x run ...``).
_GLOBAL_WITH_VALUE = frozenset({"-H", "--host", "--config", "-c", "--context", "-l",
                                "--log-level", "--tlscacert", "--tlscert", "--tlskey"})
#: Seconds ``docker info`` may take to say which cgroup driver the daemon uses.
_INFO_TIMEOUT = 30


def run_index(argv: Sequence[str]) -> int | None:
    """The index of ``run`` in a ``docker [GLOBAL OPTIONS] run ...`` (or ``container run``)
    command line; None for any other command."""
    if not argv or os.path.basename(argv[0]) != "docker":
        return None
    i = 1
    while i < len(argv):
        word = argv[i]
        if word in _GLOBAL_WITH_VALUE:
            i += 2
            continue
        if word.startswith("-"):
            i += 1
            continue
        if word == "container" and i + 1 < len(argv) and argv[i + 1] == "run":
            return i + 1
        return i if word == "run" else None
    return None


def _run_options(argv: Sequence[str], index: int) -> list[str]:
    """The options of ``docker run`` (up to the image name, roughly: every word that starts
    with a dash; good enough to find the ones we refuse)."""
    return [w.split("=", 1)[0] for w in argv[index + 1:] if w.startswith("-")]


def prepare(argv: Sequence[str]) -> tuple[list[str], CgroupDir]:
    """``argv`` with ``--cgroup-parent`` of a new cgroup, and that cgroup; one-line errors for
    what cannot be followed this way."""
    index = run_index(argv)
    assert index is not None
    options = _run_options(argv, index)
    if "--cgroup-parent" in options:
        raise RecordError("record --container cannot follow docker run --cgroup-parent",
                          hint="it sets a cgroup parent of its own; leave that option out")
    if "-d" in options or "--detach" in options:
        raise RecordError("record --container cannot follow docker run -d",
                          hint="the container must run while the command waits for it")
    _ask(argv[:index], "version", "{{.Server.Version}}")  # a daemon answers at all
    driver = _ask(argv[:index], "info", "{{.CgroupDriver}}")
    if driver != "cgroupfs":
        raise RecordError(f"record --container of docker run needs dockerd's cgroupfs cgroup "
                          f"driver; this daemon uses {driver or 'an unknown one'}",
                          hint="start dockerd with --exec-opt native.cgroupdriver=cgroupfs")
    cgroup = make_cgroup(f"seccomp-gen-{secrets.token_hex(6)}")
    name = os.path.basename(cgroup.path)
    return [*argv[:index + 1], f"--cgroup-parent=/{name}", *argv[index + 1:]], cgroup


def _ask(client: Sequence[str], command: str, template: str) -> str:
    """``docker COMMAND --format TEMPLATE`` with the user's client and global options; a
    one-line error when the daemon does not answer."""
    cmd = [*client, command, "--format", template]
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=_INFO_TIMEOUT,
                             check=False, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise RecordError(f"docker does not answer ({' '.join(cmd)}): {exc}") from None
    if res.returncode != 0:
        lines = res.stderr.strip().splitlines() or ["no output"]
        raise RecordError(f"docker does not answer: {lines[-1]}",
                          hint="is dockerd running, and is the client allowed to reach it?")
    return res.stdout.strip()


def remove_cgroup(cgroup: CgroupDir) -> str | None:
    """Remove the run's cgroup from every hierarchy docker made it in; a note if one is
    busy."""
    name = os.path.basename(cgroup.path)
    busy = [] if cgroup.remove() else [cgroup.path]
    base = "/sys/fs/cgroup"
    if os.path.isdir(base):
        for controller in sorted(os.listdir(base)):
            other = os.path.join(base, controller, name)
            if other == cgroup.path or not os.path.isdir(other):
                continue
            if not CgroupDir(other, 0, 0).remove():
                busy.append(other)
    if busy:
        return f"cgroups left in use (a container still runs?): {', '.join(busy)}"
    return None
