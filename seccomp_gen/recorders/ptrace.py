"""The ptrace recorder: PTRACE_SYSCALL stops read with PTRACE_GET_SYSCALL_INFO.

Two stops per call (entry and exit), so it sees every call's result; the seccomp backend stops
once per call and is faster, but sees no results. Process bookkeeping, signal forwarding and the
spawn are :class:`~.session.TraceSession`'s; this module is the hot loop.

Why it looks like this: PTRACE_GET_SYSCALL_INFO reports the AUDIT_ARCH of every call (an ``int
0x80`` is named with the i386 table, an x32 call with the x32 table) and python-ptrace has no
binding for it, so the hot path calls libc's ``ptrace`` through ctypes with a buffer allocated
once; counting is a couple of dict operations keyed by numbers, and names and views are made once
at the end by :mod:`seccomp_gen.aggregate`. See docs/backends/ptrace.md.
"""

from __future__ import annotations

import ctypes
import errno
import os
import signal
import struct
from collections.abc import Sequence

from ..linux import ptrace as pt
from ..linux.ptrace import (
    ARCH,
    ENTRY,
    INFO_SIZE,
    PTRACE_GET_SYSCALL_INFO,
    WALL,
    ptrace,
    ptrace_fast,
    raise_ptrace,
)
from ..model import Trace
from . import known_refusal
from . import supports_known as _supports_known
from .base import LiveStats, RecordOptions, resolve_command
from .session import BASE_OPTIONS, SITE_HEAD, TraceSession, is_exec

_OP_ENTRY, _OP_EXIT = 1, 2
_SYSCALL_TRAP = signal.SIGTRAP | 0x80
_SYSCALL_STOP_STATUS = (_SYSCALL_TRAP << 8) | 0x7F  # stopped, SIGTRAP|0x80, no event bits
_EXIT = struct.Struct("<qB")


def ptrace_unavailable() -> str | None:
    """Why ptrace cannot be used here, or None."""
    try:
        with open("/proc/sys/kernel/yama/ptrace_scope", encoding="ascii") as fh:
            scope = fh.read().strip()
    except OSError:
        scope = "0"
    if scope == "3":
        return "ptrace is disabled (kernel.yama.ptrace_scope = 3)"
    return None


class PtraceRecorder:
    """Records a command and all its descendants with PTRACE_SYSCALL."""

    name = "ptrace"
    supports_known = _supports_known("ptrace")

    def unavailable(self) -> str | None:
        """Why ptrace cannot be used here, or None."""
        return ptrace_unavailable()

    def record(self, argv: Sequence[str], options: RecordOptions, live: LiveStats) -> Trace:
        """Run ``argv`` under ptrace until every traced process has ended."""
        if options.known is not None:
            raise known_refusal(self.name)
        path = resolve_command(argv, options.env)
        return _PtraceSession(argv, path, options, live).run()


class _PtraceSession(TraceSession):
    """A session that stops at every syscall entry and exit."""

    backend = "ptrace"
    ptrace_options = BASE_OPTIONS | pt.PTRACE_O_TRACESYSGOOD
    resume = pt.PTRACE_SYSCALL

    def _wait_for_exec(self) -> tuple[int, int]:
        """Let the child run up to its execve and return that stop for the loop to count.

        What our own child code does before execve is not the workload's, just as strace does
        not show its own pre-exec calls.
        """
        pid = self.main_pid
        buf = ctypes.create_string_buffer(INFO_SIZE)
        addr = ctypes.addressof(buf)
        sig = 0
        while True:
            if ptrace(pt.PTRACE_SYSCALL, pid, 0, sig) == -1:
                raise_ptrace("SYSCALL", pid)
            _, status = os.waitpid(pid, WALL)
            if not os.WIFSTOPPED(status):
                return pid, status
            sig = os.WSTOPSIG(status)
            if sig == _SYSCALL_TRAP:
                ptrace(PTRACE_GET_SYSCALL_INFO, pid, INFO_SIZE, addr)
                if buf.raw[0] == _OP_ENTRY and is_exec(
                    ARCH.unpack_from(buf, 4)[0], ENTRY.unpack_from(buf, 24)[0]
                ):
                    return pid, status
                sig = 0
            elif sig == signal.SIGSTOP:
                sig = 0


    def _loop(self, start: tuple[int, int]) -> None:
        """The hot loop: every stop of every traced thread comes through here, starting with
        ``start``, the workload's execve entry (or its exit, if it never got that far).

        Written for speed: a call through ctypes costs ~1 us, as much as the rest of a stop's
        Python work, so the constant arguments are prebuilt ctypes objects (no per-call
        conversion) and a call is counted once, at its exit, in a single dict keyed
        (arch, nr, token, result).
        """
        buf = ctypes.create_string_buffer(INFO_SIZE)
        view = memoryview(buf).cast("B")
        c_info, c_size = ctypes.c_long(PTRACE_GET_SYSCALL_INFO), ctypes.c_long(INFO_SIZE)
        c_addr, c_syscall = ctypes.c_void_p(ctypes.addressof(buf)), ctypes.c_long(pt.PTRACE_SYSCALL)
        c_zero = ctypes.c_long(0)
        ptrace_, waitpid = ptrace_fast, os.waitpid
        unpack_entry, unpack_exit = SITE_HEAD.unpack_from, _EXIT.unpack_from
        calls, first = self.raw.calls, self.raw.first
        site_calls, site_cache, new_site = self.raw.site_calls, self.sites.cache, self._site
        first_at_site = self._first_at_site
        inflight, tid_token, no_args = self.inflight, self.tid_token, self.no_args
        record_args = self._record_args
        deferred, main_pid = self.deferred_forward, self.main_pid
        tid, status = start
        while True:
            if status == _SYSCALL_STOP_STATUS:
                ptrace_(c_info, tid, c_size, c_addr)
                op = view[0]
                if op == _OP_ENTRY:
                    audit, ip, nr = unpack_entry(view, 0)
                    try:
                        token = tid_token[tid]
                    except KeyError:
                        token = self._adopt(tid)
                    inflight[tid] = (audit, nr, token)
                    sid = site_cache.get((token, ip))
                    if sid is None:
                        sid = new_site(tid, token, ip)
                    skey = (audit, nr, sid)
                    n = site_calls.get(skey, 0)
                    site_calls[skey] = n + 1
                    if not n:
                        first_at_site(tid, token, skey)
                    if (audit, nr) not in no_args:
                        record_args(tid, (audit, nr), buf)
                elif op == _OP_EXIT:
                    pending = inflight.pop(tid, None)
                    if pending is not None:
                        rval, is_error = unpack_exit(view, 24)
                        key = (*pending, -rval if is_error else 0)
                        n = calls.get(key, 0)
                        calls[key] = n + 1
                        if not n:
                            first.setdefault(pending[:2], pending[2])
                if ptrace_(c_syscall, tid, c_zero, c_zero) == -1 and (
                    ctypes.get_errno() != errno.ESRCH
                ):
                    raise_ptrace("SYSCALL", tid)
                if deferred and tid == main_pid:
                    self._settle_deferred(tid, 0)
            elif status & 0xFF == 0x7F:
                self._on_other_stop(tid, status)
            else:
                self._on_exit(tid, status)
            try:
                tid, status = waitpid(-1, WALL)
            except ChildProcessError:
                return

