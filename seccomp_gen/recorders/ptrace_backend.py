"""The ptrace recorder: PTRACE_SYSCALL stops read with PTRACE_GET_SYSCALL_INFO.

Why it looks like this:

* One ``waitpid(-1, _WALL)`` loop for every traced thread and process. python-ptrace's
  ``PtraceDebugger`` polls with sleeps once several processes are traced, which made a gcc compile
  30x slower here; we use python-ptrace for its constants and cold-path calls only.
* PTRACE_GET_SYSCALL_INFO reports the AUDIT_ARCH of every call, so an ``int 0x80`` from a 64-bit
  program is named with the i386 table and an x32 call (bit 30 in the number) with the x32 table.
  python-ptrace has no binding for it, so the hot path calls libc's ``ptrace`` through ctypes
  directly, with a buffer allocated once.
* Counting in the hot loop is a couple of dict operations keyed by numbers; names, per-process and
  per-exe views are made once at the end by :mod:`seccomp_gen.aggregate`.
* PTRACE_O_EXITKILL: if the recorder dies, the kernel kills every tracee, so no workload is ever
  left stopped under a dead tracer.
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
from datetime import UTC, datetime
from types import FrameType

from ptrace.binding import func as pt

from .. import __version__
from ..aggregate import UNRETURNED, ProcessState, RawRecording, build_trace
from ..arch import arch_name, host_arch, kernel_release, libseccomp_version, syscall_name
from ..argspec import ARG_VALUE_CAP, fields_for
from ..errors import CommandNotExecutable, RecordError
from ..model import ExitStatus, Trace, TraceHeader
from .base import LiveStats, RecordOptions, resolve_command

PTRACE_GET_SYSCALL_INFO = 0x420E
PTRACE_O_EXITKILL = 0x100000
PTRACE_EVENT_STOP = 128
_OP_ENTRY, _OP_EXIT = 1, 2
_WALL = 0x40000000
_SYSCALL_TRAP = signal.SIGTRAP | 0x80
_STOPPING_SIGNALS = frozenset({signal.SIGSTOP, signal.SIGTSTP, signal.SIGTTIN, signal.SIGTTOU})
#: Signals a user sends to stop a recording; they are passed on to the workload.
FORWARDED_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)

_OPTIONS = (
    pt.PTRACE_O_TRACESYSGOOD
    | pt.PTRACE_O_TRACEFORK
    | pt.PTRACE_O_TRACEVFORK
    | pt.PTRACE_O_TRACECLONE
    | pt.PTRACE_O_TRACEEXEC
    | PTRACE_O_EXITKILL
)

_libc = ctypes.CDLL(None, use_errno=True)
_ptrace = _libc.ptrace
_ptrace.argtypes = (ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p)
_ptrace.restype = ctypes.c_long

# struct ptrace_syscall_info: op u8, pad[3], arch u32, ip u64, sp u64, then the union at 24:
# entry {nr u64, args[6] u64}, exit {rval s64, is_error u8}.
_INFO_SIZE = 88
_ENTRY = struct.Struct("<7Q")
_ENTRY_HEAD = struct.Struct("<4xI16xQ")  # arch and nr in one unpack
_EXIT = struct.Struct("<qB")
_ARCH = struct.Struct("<I")
_SYSCALL_STOP_STATUS = (_SYSCALL_TRAP << 8) | 0x7F  # stopped, SIGTRAP|0x80, no event bits

# The same libc function without argtypes, for the hot loop: it is called only with prebuilt
# ctypes.c_long/c_void_p objects and pids (which fit a C int and libffi sign-extends them).
_ptrace_fast = ctypes.CDLL(None, use_errno=True).ptrace
_ptrace_fast.restype = ctypes.c_long


def _raise_ptrace(what: str, pid: int) -> None:
    err = ctypes.get_errno()
    raise RecordError(f"ptrace {what} on pid {pid} failed: {os.strerror(err)}", pid=pid)


def _read_status_fields(tid: int) -> dict[str, str]:
    try:
        with open(f"/proc/{tid}/status", encoding="ascii", errors="replace") as fh:
            return dict(line.rstrip("\n").split(":\t", 1) for line in fh if ":\t" in line)
    except OSError:
        return {}


def _exe_of(pid: int) -> str:
    try:
        return os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return "?"


class PtraceRecorder:
    """Records a command and all its descendants with PTRACE_SYSCALL."""

    name = "ptrace"

    def unavailable(self) -> str | None:
        """Why ptrace cannot be used here, or None."""
        try:
            with open("/proc/sys/kernel/yama/ptrace_scope", encoding="ascii") as fh:
                scope = fh.read().strip()
        except OSError:
            scope = "0"
        if scope == "3":
            return "ptrace is disabled (kernel.yama.ptrace_scope = 3)"
        return None

    # -- setup ------------------------------------------------------------------------------------

    def record(self, argv: Sequence[str], options: RecordOptions, live: LiveStats) -> Trace:
        """Run ``argv`` under ptrace until every traced process has ended."""
        path = resolve_command(argv, options.env)
        session = _Session(argv, path, options, live)
        return session.run()


class _Session:
    """One recording: the child, the loop, the signal forwarding and the bookkeeping."""

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

    def run(self) -> Trace:
        started_wall = datetime.now(UTC)
        old_affinity = os.sched_getaffinity(0)
        if self.options.pin:
            self.pinned_cpu = max(old_affinity)
            os.sched_setaffinity(0, {self.pinned_cpu})
        err_r, err_w = os.pipe2(os.O_CLOEXEC)
        old_handlers: dict[int, signal._HANDLER] = {}
        try:
            self.main_pid = self._spawn(err_w)
            os.close(err_w)
            err_w = -1
            for sig in FORWARDED_SIGNALS:
                old_handlers[sig] = signal.signal(sig, self._on_signal)
            self.live.started = time.monotonic()
            t0 = time.monotonic()
            self._loop(self._wait_for_exec())
            duration = time.monotonic() - t0
        finally:
            for signum, handler in old_handlers.items():
                signal.signal(signum, handler)
            if err_w >= 0:
                os.close(err_w)
            if self.options.pin:
                os.sched_setaffinity(0, old_affinity)
        exec_error = os.read(err_r, 64)
        os.close(err_r)
        if exec_error:
            code = int(exec_error.decode() or 0)
            raise CommandNotExecutable(f"{self.path}: cannot execute: {os.strerror(code)}")
        header = TraceHeader(
            tool_version=__version__,
            command=tuple(self.argv),
            kernel=kernel_release(),
            host_arch=host_arch(),
            libseccomp=libseccomp_version(),
            backend="ptrace",
            pinned_cpu=self.pinned_cpu,
            started=started_wall.isoformat(timespec="seconds"),
            ended=datetime.now(UTC).isoformat(timespec="seconds"),
            duration_s=duration,
            exit=self.main_status,
        )
        return build_trace(self.raw, header, arch_name, syscall_name)

    def _spawn(self, err_w: int) -> int:
        env = self.options.env if self.options.env is not None else dict(os.environ)
        pid = os.fork()
        if pid == 0:  # child: nothing here may return or raise into the caller's code
            try:
                for sig in (signal.SIGPIPE, signal.SIGXFSZ, *FORWARDED_SIGNALS):
                    signal.signal(sig, signal.SIG_DFL)
                if self.options.cwd:
                    os.chdir(self.options.cwd)
                if pt.ptrace(pt.PTRACE_TRACEME, 0, 0, 0) == -1:  # pragma: no cover
                    os._exit(126)
                os.kill(os.getpid(), signal.SIGSTOP)
                os.execve(self.path, self.argv, env)
            except OSError as exc:
                os.write(err_w, str(exc.errno or 0).encode())
            except BaseException:
                os.write(err_w, b"0")
            os._exit(127)
        _, status = os.waitpid(pid, _WALL)
        if not os.WIFSTOPPED(status):
            raise RecordError("the workload ended before it could be traced", pid=pid)
        if _ptrace(pt.PTRACE_SETOPTIONS, pid, 0, _OPTIONS) == -1:
            _raise_ptrace("SETOPTIONS", pid)
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
        fields = _read_status_fields(pid)
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

    def _wait_for_exec(self) -> tuple[int, int]:
        """Let the child run up to its execve and return that stop for the loop to count.

        What our own child code does before execve is not the workload's, just as strace does
        not show its own pre-exec calls.
        """
        pid = self.main_pid
        buf = ctypes.create_string_buffer(_INFO_SIZE)
        addr = ctypes.addressof(buf)
        sig = 0
        while True:
            if _ptrace(pt.PTRACE_SYSCALL, pid, 0, sig) == -1:
                _raise_ptrace("SYSCALL", pid)
            _, status = os.waitpid(pid, _WALL)
            if not os.WIFSTOPPED(status):
                return pid, status
            sig = os.WSTOPSIG(status)
            if sig == _SYSCALL_TRAP:
                _ptrace(PTRACE_GET_SYSCALL_INFO, pid, _INFO_SIZE, addr)
                if buf.raw[0] == _OP_ENTRY:
                    audit = _ARCH.unpack_from(buf, 4)[0]
                    nr = _ENTRY.unpack_from(buf, 24)[0]
                    if syscall_name(arch_name(audit, nr), nr) in ("execve", "execveat"):
                        return pid, status
                sig = 0
            elif sig == signal.SIGSTOP:
                sig = 0

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
        values = _ENTRY.unpack_from(buf, 24)
        row = tuple(
            values[1 + idx] if idx is not None else self._clone3_flags(tid, values[1])
            for _, idx in spec
        )
        bucket = self.raw.args.setdefault(key, set())
        if row not in bucket:
            if len(bucket) >= ARG_VALUE_CAP:
                self.raw.capped.add(key)
            else:
                bucket.add(row)

    @staticmethod
    def _clone3_flags(tid: int, addr: int) -> int:
        """clone3 passes its flags in memory: the first u64 of struct clone_args."""
        ctypes.set_errno(0)
        value = int(_ptrace(pt.PTRACE_PEEKDATA, tid, addr, 0))
        if value == -1 and ctypes.get_errno():
            return 0xFFFFFFFFFFFFFFFF  # unreadable: recorded as all bits set
        return value & 0xFFFFFFFFFFFFFFFF

    def _loop(self, start: tuple[int, int]) -> None:
        """The hot loop: every stop of every traced thread comes through here, starting with
        ``start``, the workload's execve entry (or its exit, if it never got that far).

        Written for speed: a call through ctypes costs ~1 us, as much as the rest of a stop's
        Python work, so the constant arguments are prebuilt ctypes objects (no per-call
        conversion) and a call is counted once, at its exit, in a single dict keyed
        (arch, nr, token, result).
        """
        buf = ctypes.create_string_buffer(_INFO_SIZE)
        view = memoryview(buf).cast("B")
        c_info, c_size = ctypes.c_long(PTRACE_GET_SYSCALL_INFO), ctypes.c_long(_INFO_SIZE)
        c_addr, c_syscall = ctypes.c_void_p(ctypes.addressof(buf)), ctypes.c_long(pt.PTRACE_SYSCALL)
        c_zero = ctypes.c_long(0)
        ptrace_, waitpid = _ptrace_fast, os.waitpid
        unpack_entry, unpack_exit = _ENTRY_HEAD.unpack_from, _EXIT.unpack_from
        calls, first = self.raw.calls, self.raw.first
        inflight, tid_token, no_args = self.inflight, self.tid_token, self.no_args
        record_args = self._record_args
        deferred, main_pid = self.deferred_forward, self.main_pid
        tid, status = start
        while True:
            if status == _SYSCALL_STOP_STATUS:
                ptrace_(c_info, tid, c_size, c_addr)
                op = view[0]
                if op == _OP_ENTRY:
                    audit, nr = unpack_entry(view, 0)
                    try:
                        token = tid_token[tid]
                    except KeyError:
                        token = self._adopt(tid)
                    inflight[tid] = (audit, nr, token)
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
                    _raise_ptrace("SYSCALL", tid)
                if deferred and tid == main_pid:
                    self._settle_deferred(tid, 0)
            elif status & 0xFF == 0x7F:
                self._on_other_stop(tid, status)
            else:
                self._on_exit(tid, status)
            try:
                tid, status = waitpid(-1, _WALL)
            except ChildProcessError:
                return

    def _unreturned(self, tid: int) -> None:
        """Count a call that will never return (exit, exit_group, a thread killed mid-call)."""
        pending = self.inflight.pop(tid, None)
        if pending is not None:
            key = (*pending, UNRETURNED)
            self.raw.calls[key] = self.raw.calls.get(key, 0) + 1
            self.raw.first.setdefault(pending[:2], pending[2])

    # -- the rare stops ---------------------------------------------------------------------------

    def _adopt(self, tid: int) -> int:
        """Start tracking a thread or process we have not seen an event for yet."""
        token = self.tid_token.get(tid)
        if token is not None:
            return token
        fields = _read_status_fields(tid)
        tgid = int(fields.get("Tgid", tid))
        ppid = int(fields.get("PPid", 0)) or None
        self.tid_tgid[tid] = tgid
        if tgid != tid and tgid in self.raw.processes:
            self.raw.processes[tgid].threads += 1
            token = self.tid_token.get(tgid)
            if token is None:
                token = self.raw.new_token(tgid, _exe_of(tgid))
        else:
            exe = _exe_of(tgid)
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
                _ptrace(pt.PTRACE_GETEVENTMSG, tid, 0, ctypes.addressof(new))
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
        if _ptrace(pt.PTRACE_SYSCALL, tid, 0, inject) == -1 and ctypes.get_errno() != errno.ESRCH:
            _raise_ptrace("SYSCALL", tid)

    @staticmethod
    def _is_signal_delivery(tid: int) -> bool:
        info = ctypes.create_string_buffer(128)
        return bool(_ptrace(pt.PTRACE_GETSIGINFO, tid, 0, ctypes.addressof(info)) != -1)

    def _on_exec(self, tid: int) -> None:
        """After execve: the thread group has a new executable and, if a non-leader thread
        called execve, the leader's tid now stands for the thread that did."""
        former = ctypes.c_ulong(0)
        _ptrace(pt.PTRACE_GETEVENTMSG, tid, 0, ctypes.addressof(former))
        old = int(former.value)
        if old != tid:
            self._unreturned(tid)  # the leader's own pending call (it was waiting in exit)
            if old in self.inflight:
                self.inflight[tid] = self.inflight.pop(old)
        self.tid_token.pop(old, None)
        self.tid_tgid.pop(old, None)
        tgid = self.tid_tgid.get(tid, tid)
        exe = _exe_of(tid)
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
            ended = ExitStatus.from_wait_status(status)
            proc = self.raw.processes.get(tgid)
            if proc is not None:
                proc.exit = ended
            self.alive_tgids.discard(tgid)
            self.live.processes_alive = len(self.alive_tgids)
            if tid == self.main_pid:
                self.main_status = ended
