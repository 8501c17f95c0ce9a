"""Fork, set up, exec: the one path from seccomp-gen to a workload, and its error pipe.

Every backend starts its workload the same way: fork; in the child, a few set-up steps (default
signal dispositions, the working directory, being traced, no_new_privs, a seccomp filter, a
seed call...); then execve. Between fork and exec nothing may return or raise into the caller's
code, and whatever fails must reach the parent, which only sees an exit status: the child
writes one message to a close-on-exec pipe (:class:`ErrorPipe`) and exits 127. The pipe's
write end closes at a successful execve, so an empty read means the workload started.

Messages: ``S<errno>:<what>`` (a set-up step failed) and ``E<errno>`` (execve failed).
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
from collections.abc import Callable, Sequence
from typing import NoReturn

from ..errors import CommandNotExecutable, RecordError
from . import procfs
from .seccomp import Program, load, set_no_new_privs

#: Signals a user sends to stop a recording; seccomp-gen passes them on to the workload.
FORWARDED_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)
#: Set back to their defaults in the workload before it execs (Python ignores SIGPIPE and
#: SIGXFSZ; the recorder's handlers of the forwarded signals are not the workload's).
DEFAULTED = (signal.SIGPIPE, signal.SIGXFSZ, *FORWARDED_SIGNALS)
#: The exit status of a child that gave up (it wrote why to the pipe).
GAVE_UP = 127

_SETUP_FAILED, _EXEC_FAILED = b"S", b"E"


class ChildSetupError(Exception):
    """Raised by a set-up step in the child: ``what`` failed with ``errno``."""

    def __init__(self, what: str, err: int) -> None:
        super().__init__(what)
        self.what = what
        self.errno = err


def setup_message(err: int, what: str) -> bytes:
    """What a child writes when a set-up step failed (prebuilt where the child may not
    allocate)."""
    return b"%s%d:%s" % (_SETUP_FAILED, err, what.encode())


def exec_message(err: int) -> bytes:
    """What a child writes when its execve failed."""
    return b"%s%d" % (_EXEC_FAILED, err)


class ErrorPipe:
    """The pipe a child reports a failed set-up or execve through (close-on-exec both ends)."""

    def __init__(self) -> None:
        self.r, self.w = os.pipe2(os.O_CLOEXEC)

    # -- in the child --------------------------------------------------------------------------

    def give_up(self, message: bytes) -> NoReturn:
        """Write ``message`` and exit :data:`GAVE_UP`."""
        with contextlib.suppress(OSError):
            os.write(self.w, message)
        os._exit(GAVE_UP)

    def setup_failed(self, err: int, what: str) -> NoReturn:
        self.give_up(setup_message(err, what))

    def exec_failed(self, err: int) -> NoReturn:
        self.give_up(exec_message(err))

    # -- in the parent -------------------------------------------------------------------------

    def started(self) -> None:
        """The child is forked: drop our write end, so that its execve closes the last one."""
        if self.w >= 0:
            os.close(self.w)
            self.w = -1

    def failure(self) -> bytes:
        """What the child wrote (empty: its execve succeeded, or it never got that far)."""
        data = os.read(self.r, 256)
        return data

    def close(self) -> None:
        for fd in (self.r, self.w):
            if fd >= 0:
                os.close(fd)
        self.r = self.w = -1

    def check(self, path: str, backend: str | None, denied_hint: str | None = None) -> None:
        """Raise what the child reported, if anything (:func:`child_failure`); closes the
        pipe."""
        try:
            failure = self.failure()
        finally:
            self.close()
        if failure:
            raise child_failure(failure, path, backend, denied_hint)


def child_failure(failure: bytes, path: str, backend: str | None,
                  denied_hint: str | None = None) -> Exception:
    """The error for what a forked child wrote to its error pipe before it gave up: ``S<errno>:
    <what>`` (setting up the workload failed) or ``E<errno>`` (execve failed). ``backend`` is
    named in the hint of a set-up failure; ``denied_hint`` is the hint of an execve that failed
    with EPERM (a profile that denies it, say)."""
    tag, rest = failure[:1], failure[1:].decode(errors="replace")
    code_text, _, what = rest.partition(":")
    code = int(code_text) if code_text.isdigit() else 0
    if tag == _SETUP_FAILED:
        return RecordError(f"could not {what or 'set up the workload'}: {os.strerror(code)}",
                           hint=f"the {backend} backend" if backend else None)
    hint = denied_hint if code == errno.EPERM else None
    return CommandNotExecutable(f"{path}: cannot execute: {os.strerror(code)}", hint=hint)


def default_signals() -> None:
    """Give the workload the default dispositions seccomp-gen changed in itself."""
    for sig in DEFAULTED:
        signal.signal(sig, signal.SIG_DFL)


def run_steps(pipe: ErrorPipe, steps: Callable[[], None]) -> None:
    """In the child: ``steps``, which raise :class:`ChildSetupError` or OSError when something
    fails; a failure is written to ``pipe`` and the child exits :data:`GAVE_UP` (nothing may
    return or raise into the caller's code). Returns when every step is done."""
    try:
        steps()
    except ChildSetupError as exc:
        pipe.setup_failed(exc.errno, exc.what)
    except OSError as exc:
        pipe.setup_failed(exc.errno or 0, "prepare the workload")
    except BaseException:
        pipe.setup_failed(0, "set up the child")


def exec_child(pipe: ErrorPipe, path: str, argv: Sequence[str], env: dict[str, str],
               steps: Callable[[], None] = lambda: None) -> NoReturn:
    """The child's life from fork to execve: ``steps`` (:func:`run_steps`), then the workload.
    Never returns: a failure is written to ``pipe`` and the child exits :data:`GAVE_UP`."""
    run_steps(pipe, steps)
    try:
        os.execve(path, list(argv), env)
    except OSError as exc:
        pipe.exec_failed(exc.errno or 0)
    except BaseException:
        pipe.exec_failed(0)
    os._exit(GAVE_UP)


def forward_signal(pid: int, sig: int, pidfd: int = -1) -> bool:
    """Send ``sig`` to ``pid`` (through ``pidfd`` when given, so never to a reused pid) unless it
    is already pending there (a Ctrl-C on the terminal reaches the workload by itself:
    forwarding it again would deliver it twice). Returns whether it was sent."""
    if procfs.pending_signals(pid) & (1 << (sig - 1)):
        return False
    with contextlib.suppress(ProcessLookupError):
        if pidfd >= 0:
            signal.pidfd_send_signal(pidfd, sig)
        else:
            os.kill(pid, sig)
    return True


def load_filter(program: Program, nnp: bool) -> None:
    """A set-up step: no_new_privs (when the process needs it to load a filter), then the
    filter. Raises :class:`ChildSetupError`."""
    if nnp and (err := set_no_new_privs()):
        raise ChildSetupError("set no_new_privs", err)
    if err := load(program):
        raise ChildSetupError("load the seccomp filter", err)
