"""What the ptrace-based recorders share: one traced session of a workload.

A :class:`TraceSession` forks the workload under PTRACE_TRACEME, forwards the user's signals to it,
and keeps the process / thread / executable bookkeeping from the ptrace events; a backend subclass
supplies ``_wait_for_exec``, the hot ``_loop`` and ``resume`` (PTRACE_SYSCALL or PTRACE_CONT). One
``waitpid(-1, __WALL)`` loop for every tracee, libc's ``ptrace`` through ctypes (uapi numbers in
:mod:`seccomp_gen.linux.ptrace`; python-ptrace polled with sleeps), PTRACE_O_EXITKILL so that no
tracee outlives the recorder. See docs/backends/README.md, "The traced session".
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import signal
import struct
import time
from collections.abc import Sequence
from types import FrameType

from ..aggregate import UNRETURNED, ProcessState, RawRecording, build_trace
from ..errors import RecordError
from ..libseccomp import arch_name, syscall_name
from ..linux import ptrace as pt
from ..linux.codemaps import SiteResolver
from ..linux.procfs import exe_of, status_fields
from ..linux.ptrace import ENTRY, ptrace, raise_ptrace
from ..linux.spawn import (
    ErrorPipe,
    default_signals,
    exec_child,
)
from ..linux.stacks import take_sample
from ..model import ExitStatus, Trace
from ..syscalls.argspec import fields_for
from .base import (
    LiveStats,
    RecordOptions,
    forwarding,
    pinned_to_one_cpu,
    recording_header,
    utc_now,
)
from .callers import CallerSamples

_STOPPING_SIGNALS = frozenset({signal.SIGSTOP, signal.SIGTSTP, signal.SIGTTIN, signal.SIGTTOU})

#: Options every session sets; a backend adds its own.
BASE_OPTIONS = (
    pt.PTRACE_O_TRACEFORK
    | pt.PTRACE_O_TRACEVFORK
    | pt.PTRACE_O_TRACECLONE
    | pt.PTRACE_O_TRACEEXEC
    | pt.PTRACE_O_EXITKILL
)

#: The child's exit status when PTRACE_TRACEME fails (ptrace forbidden by a seccomp profile,
#: Yama, or a tracer already attached).
_TRACEME_FAILED = 126


#: struct ptrace_syscall_info from offset 0: arch, instruction_pointer and the entry's nr in one
#: unpack (the hot loops' view of a call: what, and from where).
SITE_HEAD = struct.Struct("<4xIQ8xQ")


def is_exec(audit: int, nr: int) -> bool:
    """Whether (AUDIT_ARCH, nr) is execve or execveat."""
    return syscall_name(arch_name(audit, nr), nr) in ("execve", "execveat")


class TraceSession:
    """One recording: the child, the loop, the signal forwarding and the bookkeeping.

    Subclasses set ``backend``, ``ptrace_options`` and ``resume`` and implement
    ``_wait_for_exec`` and ``_loop``; ``_before_exec`` runs in the child right before execve,
    ``notes`` go to the trace header.
    """

    backend = "?"
    #: False for backends that stop only before a call runs and so never see its result.
    records_results = True
    ptrace_options = BASE_OPTIONS
    resume = pt.PTRACE_SYSCALL

    def __init__(
        self, argv: Sequence[str], path: str, options: RecordOptions, live: LiveStats
    ) -> None:
        self.argv = list(argv)
        self.path = path
        self.options = options
        self.live = live
        self.raw = RawRecording()
        self.main_pid = 0
        self.main_status: ExitStatus | None = None
        self.tid_token: dict[int, int] = {}
        self.tid_tgid: dict[int, int] = {}
        self.inflight: dict[int, tuple[int, int, int]] = {}
        self.awaiting_sigstop: set[int] = set()
        self.alive_tgids: set[int] = set()
        self.deferred_forward: set[int] = set()
        self.pinned_cpu: int | None = None
        self.arg_watch: dict[tuple[int, int], tuple[tuple[str, int | None], ...]] = {}
        self.no_args: set[tuple[int, int]] = set()
        self.notes: list[str] = []
        #: Call sites: the loops look up ``sites.cache`` and call :meth:`_site` on a miss.
        self.sites = SiteResolver(self.raw.sites)
        #: A stack sample of the first call from each site, walked for its caller after the run.
        self.samples = CallerSamples(self.raw, self.sites)

    def run(self) -> Trace:
        """Run the workload until every traced process has ended; return its trace."""
        started_wall = utc_now()
        pipe = ErrorPipe()
        try:
            with pinned_to_one_cpu(self.options.pin) as self.pinned_cpu:
                self.main_pid = self._spawn(pipe)
                pipe.started()
                with forwarding(self._on_signal):
                    self.live.started = time.monotonic()
                    t0 = time.monotonic()
                    self._loop(self._wait_for_exec())
                    duration = time.monotonic() - t0
            pipe.check(self.path, self.backend)
        finally:
            pipe.close()
        self.samples.find_callers()
        header = recording_header(
            self.argv, self.backend, pinned_cpu=self.pinned_cpu,
            started=started_wall, duration_s=duration,
            exit=self.main_status, notes=self.notes,
            records_results=self.records_results,
        )
        return build_trace(self.raw, header, arch_name, syscall_name)

    def _before_exec(self) -> None:
        """Runs in the child after it stopped for the tracer, right before execve; raises
        :class:`~seccomp_gen.linux.spawn.ChildSetupError` on failure. Nothing by default."""

    def _wait_for_exec(self) -> tuple[int, int]:
        """Let the child run up to its execve and return the stop for ``_loop`` to start with."""
        raise NotImplementedError

    def _loop(self, start: tuple[int, int]) -> None:
        """The hot loop, from ``start`` until no traced process is left."""
        raise NotImplementedError

    def _spawn(self, pipe: ErrorPipe) -> int:
        env = self.options.env if self.options.env is not None else dict(os.environ)

        def steps() -> None:
            default_signals()
            if self.options.cwd:
                os.chdir(self.options.cwd)
            if ptrace(pt.PTRACE_TRACEME, 0, None, None) == -1:
                os._exit(_TRACEME_FAILED)
            os.kill(os.getpid(), signal.SIGSTOP)
            self._before_exec()

        pid = os.fork()
        if pid == 0:  # child: nothing here may return or raise into the caller's code
            exec_child(pipe, self.path, self.argv, env, steps)
        _, status = os.waitpid(pid, pt.WALL)
        if not os.WIFSTOPPED(status):
            if os.WIFEXITED(status) and os.WEXITSTATUS(status) == _TRACEME_FAILED:
                raise RecordError("ptrace is not permitted here (PTRACE_TRACEME failed)",
                                  hint="--backend notify records without ptrace")
            raise RecordError("the workload ended before it could be traced", pid=pid)
        if ptrace(pt.PTRACE_SETOPTIONS, pid, 0, self.ptrace_options) == -1:
            raise_ptrace("SETOPTIONS", pid)
        tgid = pid
        # The execve that starts the workload is counted under the program it starts.
        token = self.raw.new_token(tgid, os.path.realpath(self.path))
        self.raw.processes[tgid] = ProcessState(pid=tgid, ppid=os.getpid(), exes=[])
        self.tid_token[pid] = token
        self.tid_tgid[pid] = tgid
        self.alive_tgids.add(tgid)
        self.live.processes_alive = 1
        self.live.total = lambda: self.raw.total
        self.live.distinct = lambda: self.raw.distinct
        return pid

    # -- signal forwarding ------------------------------------------------------------------------

    def _on_signal(self, sig: int, _frame: FrameType | None) -> None:
        """Pass a user's Ctrl-C / SIGTERM on to the workload, once.

        A Ctrl-C on the terminal reaches the workload by itself (same process group); forwarding
        it again would deliver it twice. If the signal is already pending in the workload, do
        nothing. If the workload is in a ptrace stop, it may be the stop that delivers this very
        signal: the loop decides at the workload's next stop (dropped if that stop delivers the
        signal, sent otherwise). Once the main process has ended, the signal goes to every
        process still traced.
        """
        pid = self.main_pid
        if not pid:
            return
        if self.main_status is not None:
            for tgid in sorted(self.alive_tgids):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(tgid, sig)
            return
        fields = status_fields(pid)
        bit = 1 << (sig - 1)
        pending = int(fields.get("SigPnd", "0"), 16) | int(fields.get("ShdPnd", "0"), 16)
        if pending & bit:
            return
        if fields.get("State", "").startswith("t"):
            self.deferred_forward.add(sig)
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)

    def _settle_deferred(self, pid: int, delivered: int) -> None:
        if pid != self.main_pid:
            return
        self.deferred_forward.discard(delivered)
        for sig in sorted(self.deferred_forward):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        self.deferred_forward.clear()

    # -- the loop ---------------------------------------------------------------------------------

    def _record_args(
        self, tid: int, key: tuple[int, int], buf: ctypes.Array[ctypes.c_char]
    ) -> None:
        spec = self.arg_watch.get(key)
        if spec is None:
            audit, nr = key
            arch = arch_name(audit, nr)
            found = fields_for(arch, syscall_name(arch, nr))
            if found is None:
                self.no_args.add(key)
                return
            spec = self.arg_watch[key] = found
        values = ENTRY.unpack_from(buf, 24)
        row = tuple(
            values[1 + idx] if idx is not None else self._clone3_flags(tid, values[1])
            for _, idx in spec
        )
        self.raw.add_args(key, row)

    @staticmethod
    def _clone3_flags(tid: int, addr: int) -> int:
        """clone3 passes its flags in memory: the first u64 of struct clone_args."""
        ctypes.set_errno(0)
        value = int(ptrace(pt.PTRACE_PEEKDATA, tid, addr, 0))
        if value == -1 and ctypes.get_errno():
            return 0xFFFFFFFFFFFFFFFF  # unreadable: recorded as all bits set
        return value & 0xFFFFFFFFFFFFFFFF

    def _unreturned(self, tid: int) -> None:
        """Count a call that will never return (exit, exit_group, a thread killed mid-call)."""
        pending = self.inflight.pop(tid, None)
        if pending is not None:
            key = (*pending, UNRETURNED)
            self.raw.calls[key] = self.raw.calls.get(key, 0) + 1
            self.raw.first.setdefault(pending[:2], pending[2])

    # -- the rare stops ---------------------------------------------------------------------------

    def _site(self, tid: int, token: int, ip: int) -> int:
        """The site id of a call at ``ip`` first seen in this (process, executable), read from
        the stopped thread's maps."""
        return self.sites.site(token, self.tid_tgid.get(tid, tid), ip)

    def _first_at_site(self, tid: int, token: int, key: tuple[int, int, int]) -> None:
        """The first call of (arch, nr, site) in the run: sample the stopped thread's stack,
        to find its caller after the run (per syscall: libc's ``syscall()`` is one site for
        every number it is given, each from its own caller)."""
        if self.samples.wanted():
            tgid = self.tid_tgid.get(tid, tid)
            self.samples.add(key, take_sample(tid, tgid, self.samples.maps_for(key, tgid)),
                             token)

    def _adopt(self, tid: int) -> int:
        """Start tracking a thread or process we have not seen an event for yet."""
        token = self.tid_token.get(tid)
        if token is not None:
            return token
        fields = status_fields(tid)
        tgid = int(fields.get("Tgid", tid))
        ppid = int(fields.get("PPid", 0)) or None
        self.tid_tgid[tid] = tgid
        if tgid != tid and tgid in self.raw.processes:
            self.raw.processes[tgid].threads += 1
            token = self.tid_token.get(tgid)
            if token is None:
                token = self.raw.new_token(tgid, exe_of(tgid))
        else:
            exe = exe_of(tgid)
            token = self.raw.new_token(tgid, exe)
            self.raw.processes[tgid] = ProcessState(pid=tgid, ppid=ppid, exes=[exe])
            self.alive_tgids.add(tgid)
            self.live.processes_alive = len(self.alive_tgids)
        self.tid_token[tid] = token
        return token

    def _on_other_stop(self, tid: int, status: int) -> None:
        sig = (status >> 8) & 0xFF
        event = status >> 16
        inject = 0
        if event:
            if event in (pt.PTRACE_EVENT_FORK, pt.PTRACE_EVENT_VFORK, pt.PTRACE_EVENT_CLONE):
                new = ctypes.c_ulong(0)
                ptrace(pt.PTRACE_GETEVENTMSG, tid, 0, ctypes.addressof(new))
                child = int(new.value)
                if child not in self.tid_token:
                    self._adopt(child)
                    self.awaiting_sigstop.add(child)
            elif event == pt.PTRACE_EVENT_EXEC:
                self._on_exec(tid)
        elif tid not in self.tid_token:
            # A new child's first stop can arrive before its parent's fork event.
            self._adopt(tid)
            if sig != signal.SIGSTOP:
                inject = sig
        elif sig == signal.SIGSTOP and tid in self.awaiting_sigstop:
            self.awaiting_sigstop.discard(tid)
        else:
            inject = sig
            if sig in _STOPPING_SIGNALS and not self._is_signal_delivery(tid):
                inject = 0  # a group-stop: resuming it is all TRACEME-style tracing allows
        if self.deferred_forward:
            # For event stops sig is SIGTRAP, which is never forwarded, so nothing is dropped.
            self._settle_deferred(tid, sig)
        if ptrace(self.resume, tid, 0, inject) == -1 and ctypes.get_errno() != errno.ESRCH:
            raise_ptrace("resume", tid)

    @staticmethod
    def _is_signal_delivery(tid: int) -> bool:
        info = ctypes.create_string_buffer(128)
        return bool(ptrace(pt.PTRACE_GETSIGINFO, tid, 0, ctypes.addressof(info)) != -1)

    def _on_exec(self, tid: int) -> None:
        """After execve: the thread group has a new executable and, if a non-leader thread
        called execve, the leader's tid now stands for the thread that did."""
        former = ctypes.c_ulong(0)
        ptrace(pt.PTRACE_GETEVENTMSG, tid, 0, ctypes.addressof(former))
        old = int(former.value)
        if old != tid:
            self._unreturned(tid)  # the leader's own pending call (it was waiting in exit)
            if old in self.inflight:
                self.inflight[tid] = self.inflight.pop(old)
        self.tid_token.pop(old, None)
        self.tid_tgid.pop(old, None)
        tgid = self.tid_tgid.get(tid, tid)
        self.sites.forget(tgid)
        exe = exe_of(tid)
        proc = self.raw.processes.get(tgid)
        if proc is not None:
            proc.exes.append(exe)
        self.tid_token[tid] = self.raw.new_token(tgid, exe)

    def _on_exit(self, tid: int, status: int) -> None:
        self._unreturned(tid)
        self.awaiting_sigstop.discard(tid)
        self.tid_token.pop(tid, None)
        tgid = self.tid_tgid.pop(tid, tid)
        if tid == tgid:
            self.sites.forget(tgid)
            ended = ExitStatus.from_wait_status(status)
            proc = self.raw.processes.get(tgid)
            if proc is not None:
                proc.exit = ended
            self.alive_tgids.discard(tgid)
            self.live.processes_alive = len(self.alive_tgids)
            if tid == self.main_pid:
                self.main_status = ended
