"""Recording backends behind one small protocol (:class:`~.base.Recorder`).

Each backend lives in its own module and says in one line why it is unavailable on a machine.
"""

from __future__ import annotations

from .base import LiveStats, Recorder, RecordOptions, resolve_command

__all__ = ["BACKENDS", "LiveStats", "RecordOptions", "Recorder", "get_backend", "resolve_command"]

#: Backend names in the order ``auto`` tries them.
BACKENDS: tuple[str, ...] = ("ptrace",)


def get_backend(name: str) -> Recorder:
    """The recorder called ``name`` (``auto``: the first one available here)."""
    from ..errors import RecordError
    from .ptrace_backend import PtraceRecorder

    available: dict[str, Recorder] = {"ptrace": PtraceRecorder()}
    if name == "auto":
        reasons = []
        for candidate in BACKENDS:
            backend = available[candidate]
            why = backend.unavailable()
            if why is None:
                return backend
            reasons.append(f"{candidate}: {why}")
        raise RecordError("no recording backend works here", hint="; ".join(reasons))
    try:
        backend = available[name]
    except KeyError:
        raise RecordError(f"unknown backend {name!r}",
                          hint=f"choose from: auto, {', '.join(BACKENDS)}") from None
    why = backend.unavailable()
    if why is not None:
        raise RecordError(f"backend {name} is unavailable: {why}")
    return backend
