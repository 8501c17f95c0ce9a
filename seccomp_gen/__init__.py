"""seccomp-gen: record what a program asks of the Linux kernel, and turn it into a seccomp profile.

Public API::

    from seccomp_gen import record, load_trace, dump_trace
    trace = record(["ls", "-la", "/"])
    dump_trace(trace, "ls.trace.json")
"""

from __future__ import annotations

from collections.abc import Sequence

__version__ = "0.1.0"

from .errors import SeccompGenError, TraceFileError
from .model import (
    ArgValues,
    ExitStatus,
    ProcessRecord,
    SyscallRecord,
    Trace,
    TraceHeader,
)
from .tracefile import dump as dump_trace
from .tracefile import load as load_trace


def record(
    argv: Sequence[str],
    *,
    backend: str = "auto",
    pin: bool = True,
    env: dict[str, str] | None = None,
    cwd: str | None = None,
) -> Trace:
    """Run ``argv`` to completion under a recorder and return its trace.

    The workload inherits this process's stdin, stdout and stderr. Its exit status is in
    ``trace.header.exit``.
    """
    from .recorders import LiveStats, RecordOptions, get_backend

    return get_backend(backend).record(
        argv, RecordOptions(pin=pin, env=env, cwd=cwd), LiveStats()
    )


__all__ = [
    "ArgValues",
    "ExitStatus",
    "ProcessRecord",
    "SeccompGenError",
    "SyscallRecord",
    "Trace",
    "TraceFileError",
    "TraceHeader",
    "__version__",
    "dump_trace",
    "load_trace",
    "record",
]
