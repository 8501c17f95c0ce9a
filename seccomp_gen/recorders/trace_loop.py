"""The seccomp recorder's compiled stop loop, seen from Python: a ``waitpid`` for its own loop.

The Python loop of :mod:`.seccomp` stays the one place that decides what a stop means. With the
C loop (``_native/trace_loop.c``), the ``waitpid`` it calls is :meth:`CStops.wait`: C resumes
every plain seccomp stop it has been taught to count and returns the first stop that needs
Python, still pending, which the Python loop then handles as it always does. Before C runs
again, :meth:`CStops.wait` teaches it what that stop changed: thread tokens (adopted threads,
execs, exits), how to count a syscall seen for the first time, call sites the resolver named.
At the end C's counts, argument rows and per-site counts are merged into the recording, so both
loops give the same trace. ``SECCOMP_GEN_TRACE_LOOP`` (auto, c, python) chooses.
"""

from __future__ import annotations

import ctypes
import itertools
import os
from collections.abc import Iterable
from types import TracebackType
from typing import TYPE_CHECKING, Any

from .._native import taught
from .._native.taught import CALL_ARGS, CALL_COUNT
from .._native.trace_loop import WHAT as LOOP
from .._native.trace_loop import CTraceLoop, load_trace_loop
from ..errors import RecordError
from ..linux.spawn import FORWARDED_SIGNALS
from ..syscalls.argspec import ARG_VALUE_CAP
from .base import choose_compiled

if TYPE_CHECKING:
    from .seccomp import _SeccompSession

#: Which loop handles the stops: ``auto`` (default: C if it builds), ``c`` or ``python``.
LOOP_ENV = "SECCOMP_GEN_TRACE_LOOP"
NOTE_LOOP_C = "stop loop: compiled C loop (trace_loop.c)"
NOTE_LOOP_FORCED_PYTHON = f"stop loop: Python loop ({LOOP_ENV}=python)"
NOTE_LOOP_FALLBACK = "stop loop: Python loop, about half as fast"

# What sgen_trace_run returns (trace_loop.c).
_EV_STOP, _EV_SIGNAL, _EV_DONE = 1, 2, 3
_FAILED_OPS = {1: "waitpid", 2: "PTRACE_CONT", 3: "memory allocation"}
_INT32_MAX = 2**31 - 1


def choose_loop() -> tuple[CTraceLoop | None, str]:
    """The compiled loop (None: the Python loop) and the trace note saying which ran;
    ``$SECCOMP_GEN_TRACE_LOOP`` may insist on one."""
    return choose_compiled(LOOP_ENV, load_trace_loop, NOTE_LOOP_C, NOTE_LOOP_FORCED_PYTHON,
                           NOTE_LOOP_FALLBACK)


class _Tokens(dict[int, int]):
    """tid -> token, remembering which tids changed since C last learned them."""

    def __init__(self, items: dict[int, int]) -> None:
        super().__init__(items)
        self.changed: set[int] = set(items)

    def __setitem__(self, tid: int, token: int) -> None:
        super().__setitem__(tid, token)
        self.changed.add(tid)

    def __delitem__(self, tid: int) -> None:
        super().__delitem__(tid)
        self.changed.add(tid)

    def pop(self, tid: int, *default: Any) -> Any:
        self.changed.add(tid)
        return super().pop(tid, *default)


class CStops:
    """A ``waitpid(-1, __WALL)`` for the session's loop that lets C resume the plain stops
    (a context manager: C's counts are merged into the recording on exit)."""

    def __init__(self, session: _SeccompSession, loop: CTraceLoop) -> None:
        self.session = session
        self.lib = loop.lib
        self.st = ctypes.c_void_p()
        self.resumed = ctypes.c_uint64(0)  # Python-owned: the status line reads it any time
        self._taught_calls: set[tuple[int, int]] = set()
        self._classified = 0
        self._sites_taught = 0
        self._site_calls_taught = 0

    def __enter__(self) -> CStops:
        s = self.session
        rc = self.lib.sgen_trace_new(ARG_VALUE_CAP + 1, ctypes.byref(self.resumed),
                                     ctypes.byref(self.st))
        if rc < 0:
            raise RecordError(f"cannot start {LOOP}: {os.strerror(-rc)}")
        s.tid_token = _Tokens(s.tid_token)
        raw, resumed = s.raw, self.resumed
        s.live.total = lambda: raw.total + resumed.value
        try:
            for sig in FORWARDED_SIGNALS:
                rc = self.lib.sgen_trace_watch_signal(sig)
                if rc < 0:
                    raise RecordError(f"cannot watch signal {sig} for {LOOP}: "
                                      f"{os.strerror(-rc)}")
        except BaseException:
            self.__exit__(RecordError, None, None)
            raise
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        s = self.session
        try:
            if kind is None:
                self._merge()
        finally:
            for sig in FORWARDED_SIGNALS:
                self.lib.sgen_trace_unwatch_signal(sig)
            raw = s.raw
            s.live.total = lambda: raw.total
            s.tid_token = dict(s.tid_token)
            self.lib.sgen_trace_free(self.st)
            self.st = ctypes.c_void_p()

    def wait(self, _pid: int = -1, _options: int = 0) -> tuple[int, int]:
        """The next stop Python must handle, as ``os.waitpid`` returns it; ChildProcessError
        once no tracee is left."""
        lib, st, s = self.lib, self.st, self.session
        self._teach()
        while True:
            ev = lib.sgen_trace_run(st, s.main_pid if s.deferred_forward else 0)
            if ev == _EV_STOP:
                self._take_rows()  # rows of earlier calls first: the order of the calls
                return int(lib.sgen_trace_stop_tid(st)), int(lib.sgen_trace_stop_status(st))
            if ev == _EV_DONE:
                raise ChildProcessError("no traced process left")
            if ev != _EV_SIGNAL:  # a signal: CPython runs its handlers as we loop
                self._check(ev)

    # -- teaching ---------------------------------------------------------------------------------

    def _teach(self) -> None:
        """Tell C what the last stop Python handled changed."""
        lib, st, s = self.lib, self.st, self.session
        tokens = s.tid_token
        if isinstance(tokens, _Tokens) and tokens.changed:
            for tid in tokens.changed:
                self._check(lib.sgen_set_tid(st, tid, tokens.get(tid, -1)))
            tokens.changed.clear()
        classified = len(s.arg_watch) + len(s.no_args)
        if classified != self._classified:
            self._classified = classified
            for key in [*s.no_args, *s.arg_watch]:
                if key not in self._taught_calls:
                    self._teach_call(key)
        cache, site_calls = s.sites.cache, s.raw.site_calls
        if len(cache) != self._sites_taught:
            for (token, ip), sid in self._new(cache, self._sites_taught):
                self._check(lib.sgen_set_site(st, token, ip, sid))
            self._sites_taught = len(cache)
        if len(site_calls) != self._site_calls_taught:
            for (audit, nr, sid), _ in self._new(site_calls, self._site_calls_taught):
                if 0 <= nr <= _INT32_MAX:
                    self._check(lib.sgen_set_site_call(st, audit, nr, sid))
            self._site_calls_taught = len(site_calls)

    @staticmethod
    def _new(table: dict[Any, int], taught: int) -> Iterable[tuple[Any, int]]:
        """The entries added to ``table`` (a dict, in insertion order) after the first
        ``taught``."""
        return itertools.islice(table.items(), taught, None)

    def _teach_call(self, key: tuple[int, int]) -> None:
        """How C counts (audit, nr) from now on: calls only, or with up to two argument
        registers; a spec read from memory (clone3's flags) stays Python's, every time."""
        self._taught_calls.add(key)
        audit, nr = key
        if not 0 <= nr <= _INT32_MAX:
            return
        spec = self.session.arg_watch.get(key)
        idx = [i for _, i in spec or ()]
        if any(i is None for i in idx) or len(idx) > 2:
            return
        kind = CALL_ARGS if idx else CALL_COUNT
        regs = [int(i) for i in idx if i is not None] + [0] * (2 - len(idx))
        self._check(self.lib.sgen_set_call(self.st, audit, nr, kind, len(idx), *regs))

    # -- results ----------------------------------------------------------------------------------

    def _take_rows(self) -> None:
        """Fold the argument rows C queued (distinct, in arrival order) into the sets."""
        taught.take_rows(self.lib, self.st, self.session.raw)

    def _merge(self) -> None:
        """Add what C counted to the recording (every key it counted is known here already)."""
        taught.merge(self.lib, self.st, self.session.raw)

    def _check(self, rc: int) -> None:
        """Raise the error a negative return of the C loop stands for."""
        if rc >= 0:
            return
        op = _FAILED_OPS.get(int(self.lib.sgen_trace_failed_op(self.st)), "call")
        raise RecordError(f"seccomp stop loop: {op} failed: {os.strerror(-rc)}", hint=LOOP)
