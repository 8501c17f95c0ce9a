"""seccomp-gen: record what a program asks of the Linux kernel, and turn it into a seccomp profile.

Public API::

    from seccomp_gen import record, load_trace, dump_trace
    trace = record(["ls", "-la", "/"])
    dump_trace(trace, "ls.trace.json")
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

__version__ = "0.1.0"

from .errors import SeccompGenError, TraceFileError
from .model import (
    ArgValues,
    ExitStatus,
    ProcessRecord,
    SyscallRecord,
    Trace,
    TraceHeader,
    Violation,
)

# Imported eagerly on purpose: the functions share their modules' names, and a lazy import would
# leave ``seccomp_gen.sandbox`` bound to the module once anything imports the submodule.
from .recording import recording
from .sandbox import SyscallDenied, sandbox
from .tracefile import dump as dump_trace
from .tracefile import load as load_trace

if TYPE_CHECKING:
    from collections.abc import Callable

    from .enforce import RunResult
    from .profile import Profile


def record(
    argv: Sequence[str],
    *,
    backend: str = "auto",
    pin: bool = True,
    env: dict[str, str] | None = None,
    cwd: str | None = None,
    known: Profile | str | os.PathLike[str] | None = None,
) -> Trace:
    """Run ``argv`` to completion under a recorder and return its trace.

    The workload inherits this process's stdin, stdout and stderr. Its exit status is in
    ``trace.header.exit``. ``backend`` is ``auto`` (seccomp where available, else ptrace),
    ``seccomp`` or ``ptrace``. ``known`` (a Profile, or a profile or trace file): syscalls it
    allows run untraced and are not recorded (seccomp backend only).
    """
    from .profile import Profile as _Profile
    from .recorders import LiveStats, RecordOptions, get_backend

    source = ""
    profile: _Profile | None = None
    if isinstance(known, _Profile):
        profile = known
    elif known is not None:
        from .profile_io import load_profile

        source = os.fspath(known)
        profile, _ = load_profile(source)
    options = RecordOptions(pin=pin, env=env, cwd=cwd, known=profile, known_source=source)
    return get_backend(backend, known=profile is not None).record(argv, options, LiveStats())


def run(
    argv: Sequence[str],
    profile: Profile | str | os.PathLike[str],
    *,
    mode: str = "enforce",
    on_violation: Callable[[Violation], None] | None = None,
    env: dict[str, str] | None = None,
    cwd: str | None = None,
) -> RunResult:
    """Run ``argv`` under ``profile``, report what it denies (:func:`seccomp_gen.enforce.run`).

    ``mode``: ``enforce`` (deny as the profile says), ``complain`` (report and let through calls
    the profile does not mention) or ``kill`` (the profile as the only filter, nothing traced).
    """
    from .enforce import run as _run

    return _run(argv, profile, mode=mode, on_violation=on_violation, env=env, cwd=cwd)


__all__ = [
    "ArgValues",
    "ExitStatus",
    "ProcessRecord",
    "SeccompGenError",
    "SyscallDenied",
    "SyscallRecord",
    "Trace",
    "TraceFileError",
    "TraceHeader",
    "Violation",
    "__version__",
    "dump_trace",
    "load_trace",
    "record",
    "recording",
    "run",
    "sandbox",
]
