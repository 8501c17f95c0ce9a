"""seccomp-gen: record what a program asks of the Linux kernel, and turn it into a seccomp profile.

Public API::

    from seccomp_gen import record, load_trace, dump_trace
    trace = record(["ls", "-la", "/"])
    dump_trace(trace, "ls.trace.json")

This module is the facade only: the model types and the functions of the packages below, each
imported when first used. No module of the package imports it.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from ._version import __version__
from .errors import SeccompGenError, TraceFileError

if TYPE_CHECKING:
    from .enforce.run import run
    from .enforce.sandbox import SyscallDenied, sandbox
    from .files.traces import dump as dump_trace
    from .files.traces import load as load_trace
    from .model import (
        ArgValues,
        ExitStatus,
        ProcessRecord,
        SyscallRecord,
        Trace,
        TraceHeader,
        Violation,
    )
    from .recorders import record
    from .recorders.inprocess import recording

#: Public names imported on first use, as (module, attribute). Every ``seccomp-gen`` command
#: imports this package, and ``record`` needs neither the in-process recorder nor the sandbox
#: (ctypes handlers, threading, fcntl, resource, the profile model): each is loaded when first
#: touched, ``seccomp_gen.sandbox(...)`` and ``from seccomp_gen import recording`` alike. The
#: model too: the command sets the process up (:func:`seccomp_gen.cli.entry`) before the
#: dataclasses are made.
_LAZY: dict[str, tuple[str, str]] = {
    **{name: ("model", name) for name in ("ArgValues", "ExitStatus", "ProcessRecord",
                                          "SyscallRecord", "Trace", "TraceHeader",
                                          "Violation")},
    "record": ("recorders", "record"),
    "run": ("enforce.run", "run"),
    "recording": ("recorders.inprocess", "recording"),
    "sandbox": ("enforce.sandbox", "sandbox"),
    "SyscallDenied": ("enforce.sandbox", "SyscallDenied"),
    "dump_trace": ("files.traces", "dump"),
    "load_trace": ("files.traces", "load"),
}


def __getattr__(name: str) -> Any:
    """Import a lazy public name (:data:`_LAZY`) on first use and keep it."""
    try:
        module, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    value = getattr(import_module(f"{__name__}.{module}"), attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


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
