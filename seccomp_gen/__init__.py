"""seccomp-gen: record what a program asks of the Linux kernel, and turn it into a seccomp profile.

Public API::

    from seccomp_gen import record, load_trace, dump_trace
    trace = record(["ls", "-la", "/"])
    dump_trace(trace, "ls.trace.json")
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from importlib import import_module
from types import ModuleType
from typing import TYPE_CHECKING, Any

from ._version import __version__
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

if TYPE_CHECKING:
    from collections.abc import Callable

    from .enforce import RunResult
    from .files.traces import dump as dump_trace
    from .files.traces import load as load_trace
    from .profile import Profile
    from .recording import recording
    from .sandbox import SyscallDenied, sandbox

#: Public names imported on first use, as (module, attribute). Every ``seccomp-gen`` command
#: imports this package, and ``record`` needs neither the in-process recorder nor the sandbox
#: (ctypes handlers, threading, fcntl, resource, the profile model): they are loaded when first
#: touched, ``seccomp_gen.sandbox(...)`` and ``from seccomp_gen import recording`` alike.
_LAZY: dict[str, tuple[str, str]] = {
    "recording": ("recording", "recording"),
    "sandbox": ("sandbox", "sandbox"),
    "SyscallDenied": ("sandbox", "SyscallDenied"),
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


class _Package(ModuleType):
    """This package's module type: it keeps ``recording`` and ``sandbox`` the functions.

    The functions share their modules' names, and importing a submodule sets the package
    attribute of that name to the submodule (``import seccomp_gen.sandbox``, or any
    ``from seccomp_gen.sandbox import ...``, anywhere, at any time). That would leave
    ``seccomp_gen.sandbox(...)`` calling a module; here such an assignment binds the function the
    submodule is named after instead. Other attributes are set as usual.
    """

    def __setattr__(self, name: str, value: Any) -> None:
        if (
            name in ("recording", "sandbox")
            and isinstance(value, ModuleType)
            and value.__name__ == f"{__name__}.{name}"
        ):
            value = getattr(value, name)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


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
    allows run untraced and are not recorded (the backends in
    ``seccomp_gen.recorders.KNOWN_BACKENDS``: seccomp, log and notify).
    """
    from .recorders import LiveStats, RecordOptions, get_backend

    source = ""
    profile: Profile | None = None
    if known is not None:  # the profile model only when there is a profile
        from .profile import Profile as _Profile

        if isinstance(known, _Profile):
            profile = known
        else:
            from .files.profiles import load_profile

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
