"""Recording backends behind one small protocol (:class:`~.base.Recorder`).

Each backend lives in its own module and says in one line why it is unavailable on a machine:

* ``seccomp``: a RET_TRACE seccomp filter, one ptrace stop per call (fast; no return values);
  the only one that can skip the syscalls a known profile allows.
* ``ptrace``: PTRACE_SYSCALL, two stops per call (sees every call's result).
* ``log``: a RET_LOG filter, no stops at all; the audit records are read as the audit daemon
  (root; no arguments, no results). Never chosen by ``auto``: it takes over the audit log.
* ``notify``: a RET_USER_NOTIF filter answered by a supervisor with FLAG_CONTINUE; no ptrace, so
  it works where ptrace is forbidden or a debugger is attached. Never chosen by ``auto``.
* ``ebpf``: our own BPF programs on the sys_enter/sys_exit raw tracepoints count calls, their
  arguments and results in the kernel (root; under 1 us per call plus ~15 ms to attach). Never
  chosen by ``auto``.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple

from ..errors import RecordError
from .base import LiveStats, Recorder, RecordOptions, resolve_command

if TYPE_CHECKING:
    from ..model import Trace
    from ..profile import Profile

__all__ = [
    "AUTO_ORDER",
    "BACKENDS",
    "KNOWN_BACKENDS",
    "LiveStats",
    "RecordOptions",
    "Recorder",
    "get_backend",
    "known_backends_text",
    "known_refusal",
    "record",
    "resolve_command",
    "supports_known",
]

#: Every backend's name (``record --backend`` choices).
BACKENDS: tuple[str, ...] = ("seccomp", "ptrace", "log", "notify", "ebpf")
#: The backends ``auto`` tries, in order. Not ``log``: it registers as the system's audit daemon
#: for the run, which must be asked for.
AUTO_ORDER: tuple[str, ...] = ("seccomp", "ptrace")



class _Implementation(NamedTuple):
    module: str
    cls: str
    #: Whether it honours ``RecordOptions.known`` (``record --known``, ``check``): the calls a
    #: profile allows run unrecorded. The one place this is said: the recorders' attribute, the
    #: help texts and the error messages are derived from it.
    supports_known: bool


#: Where each backend lives: (module in this package, recorder class, --known). A backend's
#: module is imported only when that backend is asked for: ``record`` with the default seccomp
#: backend should not pay for importing the log, notify and ebpf backends and what they import
#: (hashlib, socket, subprocess...), some 15 ms of its start-up on the 2-vCPU test VM.
_IMPLEMENTATIONS: dict[str, _Implementation] = {
    "seccomp": _Implementation("seccomp", "SeccompRecorder", True),
    "ptrace": _Implementation("ptrace", "PtraceRecorder", False),
    "log": _Implementation("log", "LogRecorder", True),
    "notify": _Implementation("notify", "NotifyRecorder", True),
    "ebpf": _Implementation("ebpf", "EbpfRecorder", False),
}

#: The backends that can skip the syscalls a known profile allows, in :data:`BACKENDS` order.
KNOWN_BACKENDS: tuple[str, ...] = tuple(n for n in BACKENDS if _IMPLEMENTATIONS[n].supports_known)


def supports_known(name: str) -> bool:
    """Whether backend ``name`` honours a known profile (``record --known``, ``check``)."""
    impl = _IMPLEMENTATIONS.get(name)
    return impl is not None and impl.supports_known


def known_backends_text() -> str:
    """``seccomp, log or notify``: the backends that take a known profile, for help and errors."""
    *rest, last = KNOWN_BACKENDS
    return f"{', '.join(rest)} or {last}" if rest else last


def known_refusal(name: str) -> RecordError:
    """The error for a known profile given to backend ``name``, which cannot skip calls."""
    return RecordError(f"backend {name} cannot skip known syscalls",
                       hint=f"record --known and check need the {known_backends_text()} backend")


def _backend(name: str) -> Recorder:
    """A new recorder for backend ``name`` (one of :data:`BACKENDS`), importing only its module."""
    module, cls, _ = _IMPLEMENTATIONS[name]
    recorder: Recorder = getattr(importlib.import_module(f"{__name__}.{module}"), cls)()
    return recorder


def _backends() -> dict[str, Recorder]:
    """Every backend, in :data:`BACKENDS` order (imports all of them)."""
    return {name: _backend(name) for name in BACKENDS}


def unavailable_reasons() -> dict[str, str | None]:
    """Each backend's one-line reason it cannot run here (None: it can)."""
    return {name: backend.unavailable() for name, backend in _backends().items()}


#: The backend that can record a container alone: it follows pid namespaces, not the tree.
CONTAINER_BACKEND = "ebpf"


def get_backend(name: str, *, known: bool = False, container: bool = False) -> Recorder:
    """The recorder called ``name`` (``auto``: the first one available here). ``known``: it must
    be able to skip the syscalls a known profile allows (``record --known``); ``container``: it
    must see a container apart from its runtime (``record --container``)."""
    if container:
        if name not in ("auto", CONTAINER_BACKEND):
            raise RecordError(f"record --container works with the {CONTAINER_BACKEND} backend "
                              f"only, not {name}",
                              hint="the other backends follow the process tree, and the "
                              "runtime is in it")
        backend = _backend(CONTAINER_BACKEND)
        why = backend.unavailable()
        if why is not None:
            raise RecordError(f"record --container needs the {CONTAINER_BACKEND} backend, "
                              f"which is unavailable here: {why}")
        if known:
            raise known_refusal(CONTAINER_BACKEND)
        return backend
    if name == "auto":
        reasons = []
        for candidate in AUTO_ORDER:
            backend = _backend(candidate)
            why = backend.unavailable()
            if why is None and known and not supports_known(candidate):
                why = "cannot skip known syscalls"
            if why is None:
                return backend
            reasons.append(f"{candidate}: {why}")
        what = "for --known" if known else ""
        raise RecordError(f"no recording backend works here {what}".strip(),
                          hint="; ".join(reasons))
    if name not in _IMPLEMENTATIONS:
        raise RecordError(f"unknown backend {name!r}",
                          hint=f"choose from: auto, {', '.join(BACKENDS)}")
    backend = _backend(name)
    why = backend.unavailable()
    if why is not None:
        raise RecordError(f"backend {name} is unavailable: {why}")
    if known and not supports_known(name):
        raise known_refusal(name)
    return backend


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
    ``trace.header.exit``. ``backend`` is ``auto`` (seccomp where available, else ptrace) or one
    of :data:`BACKENDS`. ``known`` (a Profile, or a profile or trace file): syscalls it allows
    run untraced and are not recorded (the backends in :data:`KNOWN_BACKENDS`). Call sites are
    named from the ELF files once the run has ended (:mod:`seccomp_gen.files.symbols`).
    """
    source = ""
    profile: Profile | None = None
    if known is not None:  # the profile model only when there is a profile
        from ..profile import Profile as _Profile

        if isinstance(known, _Profile):
            profile = known
        else:
            from ..files.profiles import load_profile

            source = os.fspath(known)
            profile, _ = load_profile(source)
    options = RecordOptions(pin=pin, env=env, cwd=cwd, known=profile, known_source=source)
    trace = get_backend(backend, known=profile is not None).record(argv, options, LiveStats())
    from ..files.symbols import name_sites  # pyelftools only once there are sites to name

    return name_sites(trace)
