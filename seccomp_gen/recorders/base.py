"""What every recording backend shares: the options it takes, the result it returns, and the
checks on the command that must happen before anything is forked.
"""

from __future__ import annotations

import os
import signal
import stat
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import FrameType
from typing import TYPE_CHECKING, Protocol, TypeVar

from ..errors import CommandNotExecutable, CommandNotFound, RecordError, SeccompGenError
from ..model import ExitStatus, Trace, TraceHeader

if TYPE_CHECKING:  # only a type here: a plain ``record`` never needs the profile model
    from ..profile import Profile


@dataclass(frozen=True)
class RecordOptions:
    """How to record. ``pin`` runs tracer and workload on one CPU (see docs/architecture.md: ptrace
    stops are ~10x dearer across vCPUs), at the price of the workload seeing a single CPU.

    ``known``: syscalls this profile allows are not recorded (they run untraced); only backends
    with ``supports_known`` take it. ``known_source`` names it in the trace header.

    ``container``: record only the processes of the container the command starts (from the
    first execve in a new pid namespace on), not the runtime; only the ebpf backend can.
    """

    pin: bool = True
    env: dict[str, str] | None = None
    cwd: str | None = None
    known: Profile | None = None
    known_source: str = ""
    container: bool = False


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


def on_path(name: str, search: str) -> str | None:
    """The first ``name`` in the ``os.pathsep``-separated directories ``search`` that is an
    executable non-directory, as ``shutil.which(name, path=search)`` finds it on Linux, without
    importing shutil (2 ms of every start-up)."""
    seen: set[str] = set()
    for directory in search.split(os.pathsep) if search else ():
        if directory in seen:
            continue
        seen.add(directory)
        candidate = os.path.join(directory, name)
        if (os.path.exists(candidate) and os.access(candidate, os.X_OK)
                and not os.path.isdir(candidate)):
            return candidate
    return None


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
        found = on_path(name, search)
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


def utc_now() -> str:
    """Now in UTC to the second, as ``datetime.now(UTC).isoformat(timespec="seconds")`` writes
    it (``2026-01-31T12:00:00+00:00``), without importing datetime (2 ms of start-up)."""
    return time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())


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
    from .._version import __version__
    from ..libseccomp import version as libseccomp_version
    from ..linux.host import host_arch, kernel_release

    return TraceHeader(
        tool_version=__version__,
        command=tuple(argv),
        kernel=kernel_release(),
        host_arch=host_arch(),
        libseccomp=libseccomp_version(),
        backend=backend,
        pinned_cpu=pinned_cpu,
        started=started,
        ended=utc_now(),
        duration_s=duration_s,
        exit=exit,
        records_args=records_args,
        records_results=records_results,
        notes=tuple(notes),
    )


@contextmanager
def pinned_to_one_cpu(pin: bool) -> Iterator[int | None]:
    """Run the block on one CPU (the highest this process may use) when ``pin``: the workload
    forked inside inherits it. Yields the CPU (None when not pinned); the old affinity is set
    back after."""
    if not pin:
        yield None
        return
    old = os.sched_getaffinity(0)
    cpu = max(old)
    os.sched_setaffinity(0, {cpu})
    try:
        yield cpu
    finally:
        os.sched_setaffinity(0, old)


@contextmanager
def forwarding(handler: Callable[[int, FrameType | None], object]) -> Iterator[None]:
    """``handler`` for the signals a user sends to stop a recording (passed on to the workload)
    while the block runs; the previous handlers are put back after."""
    from ..linux.spawn import FORWARDED_SIGNALS

    old: dict[int, signal._HANDLER] = {}
    try:
        for sig in FORWARDED_SIGNALS:
            old[sig] = signal.signal(sig, handler)
        yield
    finally:
        for signum, previous in old.items():
            signal.signal(signum, previous)


_Loop = TypeVar("_Loop")


def choose_compiled(env: str, load: Callable[[], _Loop], compiled: str, forced_python: str,
                    fallback: str) -> tuple[_Loop | None, str]:
    """A recorder's compiled loop (``load()``; None: its Python loop) and the trace note saying
    which ran: ``$ENV`` is auto (the compiled one if it builds), c (it must) or python. The notes:
    ``compiled``, ``forced_python`` (env=python) and ``fallback`` (followed by why)."""
    mode = os.environ.get(env, "").strip().lower() or "auto"
    if mode not in ("auto", "c", "python"):
        raise RecordError(f"{env} must be auto, c or python, not {mode!r}")
    if mode == "python":
        return None, forced_python
    try:
        return load(), compiled
    except SeccompGenError as exc:
        if mode == "c":
            raise RecordError(exc.message, path=exc.path,
                              hint=f"{env}=c; unset it to use the Python loop") from None
        return None, f"{fallback} ({exc.message})"


def known_notes(options: RecordOptions, arches: Sequence[str], how: str) -> list[str]:
    """Refuse a --known profile for another arch family, and say in the trace header what ran
    unrecorded (``how``: "ran untraced", "ran unlogged", ...). Empty without --known."""
    known = options.known
    if known is None:
        return []
    if not set(known.architectures) & set(arches):
        raise RecordError(
            f"the --known profile is for {', '.join(known.architectures) or 'no arch'}, "
            f"not for this machine ({', '.join(arches)})",
            path=options.known_source or None)
    from ..syscalls.arches import sort_arches

    allowed = sum(len(known.names(a)) for a in arches)
    source = options.known_source or "the known profile"
    notes = [f"known syscalls were not recorded: the {allowed} (arch, syscall) pairs that "
             f"{source} allows on {', '.join(sort_arches(known.architectures))} {how} "
             "(argument conditions honoured); this trace holds only the rest"]
    answered = sorted({f"{r.name} -> errno {r.errno}" for a in arches for r in known.rules_for(a)
                       if r.action == "errno"})
    if answered:
        notes.append(f"answered as {source} answers them, unrecorded, so that the workload took "
                     f"the path it takes under the profile: {', '.join(answered)}")
    return notes


def recording_filter(options: RecordOptions, how: str,
                     action: str = "trace") -> tuple[bytes, list[str]]:
    """The filter a filter-based recorder loads: ``action`` (``trace``, ``log``, ``notify``) for
    every call of every ABI of the host's family but what ``options.known`` allows; and the notes
    on what ran unrecorded (``how``, see :func:`known_notes`) and on how ``--known`` was
    applied."""
    from ..libseccomp import recording_filter as build
    from ..linux.host import host_arches

    arches = host_arches()
    notes = known_notes(options, arches, how)
    program, filter_notes = build(options.known, arches, action, answer=True)
    return program, notes + filter_notes
