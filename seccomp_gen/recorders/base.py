"""What every recording backend shares: the options it takes, the result it returns, and the
checks on the command that must happen before anything is forked.
"""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from ..errors import CommandNotExecutable, CommandNotFound, RecordError
from ..model import ExitStatus, Trace, TraceHeader

if TYPE_CHECKING:  # only a type here: a plain ``record`` never needs the profile model
    from ..profile import Profile


@dataclass(frozen=True)
class RecordOptions:
    """How to record. ``pin`` runs tracer and workload on one CPU (see DESIGN.md: ptrace stops
    are ~10x dearer across vCPUs), at the price of the workload seeing a single CPU.

    ``known``: syscalls this profile allows are not recorded (they run untraced); only backends
    with ``supports_known`` take it. ``known_source`` names it in the trace header.
    """

    pin: bool = True
    env: dict[str, str] | None = None
    cwd: str | None = None
    known: Profile | None = None
    known_source: str = ""


@dataclass
class LiveStats:
    """Counters a status display may read from another thread while a recording runs."""

    started: float = 0.0
    processes_alive: int = 0
    total: Callable[[], int] = field(default=lambda: 0)
    distinct: Callable[[], int] = field(default=lambda: 0)


class Recorder(Protocol):
    """A backend: runs ``argv`` to completion and returns what it asked of the kernel."""

    name: str
    #: Whether ``RecordOptions.known`` is honoured (calls a profile allows run untraced).
    supports_known: bool

    def unavailable(self) -> str | None:
        """Why this backend cannot run here, in one line, or None when it can."""

    def record(self, argv: Sequence[str], options: RecordOptions, live: LiveStats) -> Trace:
        """Run the workload and return its trace; the workload's status is in the header."""


def resolve_command(argv: Sequence[str], env: dict[str, str] | None = None) -> str:
    """Find the executable for ``argv[0]`` the way execvp would, or explain why there is none."""
    if not argv:
        raise RecordError("no command given", hint="put it after --, e.g. record -- ls -la /")
    name = argv[0]
    if not name:
        raise CommandNotFound("empty command name")
    if "/" in name:
        path = name
    else:
        search = (env or os.environ).get("PATH", os.defpath)
        found = shutil.which(name, path=search)
        if found is None:
            # which() skips non-executable files; say so if that is what is on PATH.
            for d in search.split(os.pathsep):
                candidate = os.path.join(d or ".", name)
                if os.path.isfile(candidate):
                    raise CommandNotExecutable(f"{candidate}: permission denied",
                                               hint="the file is not executable")
            raise CommandNotFound(f"{name}: command not found", hint="not on PATH")
        path = found
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise CommandNotFound(f"{path}: no such file") from None
    except OSError as exc:
        raise CommandNotExecutable(f"{path}: {exc.strerror}") from None
    if stat.S_ISDIR(st.st_mode):
        raise CommandNotExecutable(f"{path}: is a directory")
    if not os.access(path, os.X_OK):
        raise CommandNotExecutable(f"{path}: permission denied", hint="the file is not executable")
    return path


def recording_header(
    argv: Sequence[str],
    backend: str,
    *,
    pinned_cpu: int | None,
    started: str,
    duration_s: float,
    exit: ExitStatus | None,
    notes: Sequence[str],
    records_args: bool = True,
    records_results: bool = True,
) -> TraceHeader:
    """The trace header of a recording, with the tool, kernel, host and libseccomp versions
    filled in here once for every backend; ``ended`` is now."""
    from datetime import UTC, datetime

    from .._version import __version__
    from ..arch import host_arch, kernel_release, libseccomp_version

    return TraceHeader(
        tool_version=__version__,
        command=tuple(argv),
        kernel=kernel_release(),
        host_arch=host_arch(),
        libseccomp=libseccomp_version(),
        backend=backend,
        pinned_cpu=pinned_cpu,
        started=started,
        ended=datetime.now(UTC).isoformat(timespec="seconds"),
        duration_s=duration_s,
        exit=exit,
        records_args=records_args,
        records_results=records_results,
        notes=tuple(notes),
    )
