"""The seccomp recorder: a SECCOMP_RET_TRACE filter in the workload, PTRACE_CONT in the tracer.

Every syscall stops once, *before* it runs (PTRACE_EVENT_SECCOMP), so this costs about half of
the ptrace backend's two stops per call, and never sees a result. With ``known`` the filter ALLOWs
what the profile allows, and those calls never stop. PTRACE_O_TRACESECCOMP must be set before the
child loads the filter (else ENOSYS); the filter, built by libseccomp in the parent, names every
ABI of the host with TRACE as the bad-arch action too. Details: docs/backends/seccomp.md.
"""

from __future__ import annotations

import ctypes
import errno
import os
import signal
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..aggregate import UNRETURNED
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
from ..linux.seccomp import Program, action_unavailable, needs_no_new_privs
from ..linux.spawn import load_filter
from ..model import Trace
from . import supports_known as _supports_known
from .base import LiveStats, RecordOptions, recording_filter, resolve_command
from .ptrace import ptrace_unavailable
from .session import BASE_OPTIONS, SITE_HEAD, TraceSession, is_exec

if TYPE_CHECKING:  # a plain record (no --known) never needs the profile model
    pass

PTRACE_O_TRACESECCOMP = pt.PTRACE_O_TRACESECCOMP
PTRACE_EVENT_SECCOMP = pt.PTRACE_EVENT_SECCOMP
#: waitpid status of a PTRACE_EVENT_SECCOMP stop.
_SECCOMP_STOP_STATUS = ((signal.SIGTRAP | (PTRACE_EVENT_SECCOMP << 8)) << 8) | 0x7F
_EXEC_EVENT = pt.PTRACE_EVENT_EXEC

#: What a call recorded at a seccomp stop has for a result: none seen. aggregate counts such
#: calls in ``count`` but not in ``results``, like calls that never returned.
NO_RESULT = UNRETURNED

NOTE_NO_RESULTS = (
    "return values not recorded by the seccomp backend (one stop per call, before it runs): "
    "results are empty; record with --backend ptrace to see them"
)
NOTE_NNP = (
    "no_new_privs was set in the workload (needed to load the filter without CAP_SYS_ADMIN): "
    "setuid/setgid bits and file capabilities had no effect"
)

def seccomp_unavailable() -> str | None:
    """Why a RET_TRACE filter cannot be used here, or None."""
    return ptrace_unavailable() or action_unavailable("trace", "SECCOMP_RET_TRACE")


class SeccompRecorder:
    """Records a command and all its descendants with a RET_TRACE seccomp filter."""

    name = "seccomp"
    supports_known = _supports_known("seccomp")

    def unavailable(self) -> str | None:
        """Why this backend cannot run here, or None."""
        return seccomp_unavailable()

    def record(self, argv: Sequence[str], options: RecordOptions, live: LiveStats) -> Trace:
        """Run ``argv`` under the filter until every traced process has ended."""
        path = resolve_command(argv, options.env)
        program, notes = recording_filter(options, "ran untraced")
        session = _SeccompSession(argv, path, options, live, program)
        session.notes += [NOTE_NO_RESULTS, *notes]
        if session.set_nnp:
            session.notes.append(NOTE_NNP)
        return session.run()


class _SeccompSession(TraceSession):
    """A session whose tracees stop only where the seccomp filter says TRACE."""

    backend = "seccomp"
    records_results = False
    ptrace_options = BASE_OPTIONS | PTRACE_O_TRACESECCOMP
    resume = pt.PTRACE_CONT

    def __init__(self, argv: Sequence[str], path: str, options: RecordOptions,
                 live: LiveStats, program: bytes) -> None:
        super().__init__(argv, path, options, live)
        # Built before the fork: the child only passes pointers to the kernel.
        self._program = Program(program)
        self.set_nnp = needs_no_new_privs()

    def _before_exec(self) -> None:
        load_filter(self._program, self.set_nnp)

    def _wait_for_exec(self) -> tuple[int, int]:
        """Let the child run up to its execve and return that stop for the loop to count: the
        seccomp stop of the execve, or the exec event if the filter allows execve (``known``).

        The filter is loaded by our own child code, a few calls before execve; those calls are
        not the workload's, just as the ptrace backend and strace do not show them.
        """
        pid = self.main_pid
        buf = ctypes.create_string_buffer(INFO_SIZE)
        addr = ctypes.addressof(buf)
        sig = 0
        while True:
            if ptrace(pt.PTRACE_CONT, pid, 0, sig) == -1:
                raise_ptrace("CONT", pid)
            _, status = os.waitpid(pid, WALL)
            if not os.WIFSTOPPED(status):
                return pid, status
            sig = os.WSTOPSIG(status)
            if status == _SECCOMP_STOP_STATUS:
                if ptrace(PTRACE_GET_SYSCALL_INFO, pid, INFO_SIZE, addr) > 0 and is_exec(
                    ARCH.unpack_from(buf, 4)[0], ENTRY.unpack_from(buf, 24)[0]
                ):
                    return pid, status
                sig = 0
            elif status >> 16 == _EXEC_EVENT:
                return pid, status
            elif sig in (signal.SIGTRAP, signal.SIGSTOP):  # other events; our own SIGSTOP
                sig = 0

    def _loop(self, start: tuple[int, int]) -> None:
        """The hot loop: every stop of every traced thread comes through here, starting with
        ``start``, the workload's execve (or its exec event, or its exit).

        A seccomp stop is counted at once, in a single dict keyed (arch, nr, token, NO_RESULT),
        and the thread resumed with PTRACE_CONT; ctypes arguments are prebuilt as in the ptrace
        backend. The PTRACE_GET_SYSCALL_INFO return value (bytes written, 0 or -1 if the thread
        is gone) guards against counting a stale buffer.
        """
        buf = ctypes.create_string_buffer(INFO_SIZE)
        view = memoryview(buf).cast("B")
        c_info, c_size = ctypes.c_long(PTRACE_GET_SYSCALL_INFO), ctypes.c_long(INFO_SIZE)
        c_addr, c_cont = ctypes.c_void_p(ctypes.addressof(buf)), ctypes.c_long(pt.PTRACE_CONT)
        c_zero = ctypes.c_long(0)
        ptrace_, waitpid = ptrace_fast, os.waitpid
        unpack_head = SITE_HEAD.unpack_from
        calls, first = self.raw.calls, self.raw.first
        site_calls, site_cache, new_site = self.raw.site_calls, self.sites.cache, self._site
        first_at_site = self._first_at_site
        tid_token, no_args = self.tid_token, self.no_args
        record_args = self._record_args
        deferred, main_pid = self.deferred_forward, self.main_pid
        tid, status = start
        while True:
            if status == _SECCOMP_STOP_STATUS:
                if ptrace_(c_info, tid, c_size, c_addr) > 0:
                    audit, ip, nr = unpack_head(view, 0)
                    try:
                        token = tid_token[tid]
                    except KeyError:
                        token = self._adopt(tid)
                    key = (audit, nr, token, NO_RESULT)
                    n = calls.get(key, 0)
                    calls[key] = n + 1
                    if not n:
                        first.setdefault((audit, nr), token)
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
                if ptrace_(c_cont, tid, c_zero, c_zero) == -1 and (
                    ctypes.get_errno() != errno.ESRCH
                ):
                    raise_ptrace("CONT", tid)
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
