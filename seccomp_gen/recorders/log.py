"""The log recorder: a SECCOMP_RET_LOG filter in the workload, the audit log read as audit daemon.

No ptrace and no stops: the kernel writes one AUDIT_SECCOMP record per logged call, and for the
run this process registers as the audit daemon, because records read over NETLINK_AUDIT are not
lost as dmesg's are. Everything it changes in the audit settings is saved first
(:mod:`.audit_state`) and set back afterwards. Counting starts at a keyed execve marker; once the
reaper says the tree is gone, a keyed call of our own marks the end (its record is queued after
all of the workload's), and reading stops at its record. No arguments, results or threads (not in
the record). How and why, step by step: docs/backends/log.md.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import secrets
import select
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from types import FrameType

from ..aggregate import ProcessState, RawRecording, build_trace
from ..auditrecord import parse_seccomp_record
from ..errors import RecordError
from ..libseccomp import arch_name, arch_token, syscall_name, syscall_number
from ..linux import cbpf
from ..linux.audit import (
    AUDIT_LOCKED,
    RCVBUF,
    STATUS_BACKLOG_LIMIT,
    STATUS_ENABLED,
    STATUS_PID,
    STATUS_RATE_LIMIT,
    AuditSocket,
    AuditStatus,
)
from ..linux.codemaps import ANON, UNKNOWN, SiteResolver
from ..linux.host import host_arches
from ..linux.libc import string_array, syscall
from ..linux.procfs import exe_of, is_running, parent_of, status_fields
from ..linux.reaper import Reaper, spawn
from ..linux.seccomp import (
    ACTIONS_LOGGED,
    CAP_AUDIT_CONTROL,
    Program,
    action_unavailable,
    has_cap,
    needs_no_new_privs,
)
from ..linux.spawn import FORWARDED_SIGNALS, ErrorPipe, load_filter, run_steps
from ..model import ExitStatus, Trace
from . import supports_known as _supports_known
from .audit_state import AuditClaim, SavedSettings, lock_held, read_saved
from .base import (
    LiveStats,
    RecordOptions,
    forwarding,
    pinned_to_one_cpu,
    recording_filter,
    recording_header,
    resolve_command,
    utc_now,
)
from .seccomp import NO_RESULT, NOTE_NNP
from .session import is_exec

#: SECCOMP_RET_LOG as it appears in ``code=``.
LOG_CODE = cbpf.RET_LOG

#: What the audit queue may hold while we read (records wait there, they are not dropped).
BACKLOG_LIMIT = 1 << 20
#: After the workload has ended: records may lag a little; when none at all arrives for this
#: long and the kernel's queue is empty, they are all read...
QUIET_S = 0.25
#: ...and whatever arrives (another program's records, say), the run ends this long after the
#: workload's end.
DRAIN_MAX_S = 5.0

#: Test-only hook: ``SECCOMP_GEN_TEST_PAUSE=POINT`` stops a log recording at POINT (one of
#: :data:`PAUSE_POINTS`), says so on stderr and waits until a signal arrives (30 s at most). The
#: windows between these points -- between registering as audit daemon and changing the limits,
#: say -- are microseconds wide: a test cannot deliver its Ctrl-C into them from outside
#: otherwise. Unset, it costs one dict lookup per point.
PAUSE_ENV = "SECCOMP_GEN_TEST_PAUSE"
PAUSE_POINTS = ("start", "locked", "saved", "registering", "registered", "spawned", "ended",
                "restoring")
#: Test-only hook: set, the end marker's child exits without making its call (status 1), as where
#: seccomp is unavailable to it, so that the run ends the way it does without a marker (counting).
NO_MARKER_ENV = "SECCOMP_GEN_TEST_NO_MARKER"
#: The end marker's call: a keyed getppid (args 3-5 the run's key), the one call its filter logs.
MARKER_CALL = "getppid"


NOTE_NO_ARGS = (
    "arguments and return values are not in audit records (log backend): args and results are "
    "empty, and threads are counted with their process; record with --backend seccomp or ptrace "
    "to see them"
)

def _owner_line(status: AuditStatus, saved: SavedSettings | None = None) -> str | None:
    """One line when a live process other than us is the audit daemon. A registration of a
    seccomp-gen recording that was killed (``saved``, from its state file: its pid may since
    name another process) is not an owner: it is replaced."""
    pid = status.pid
    if not pid or pid == os.getpid() or not is_running(pid):
        return None
    if saved is not None and saved.owner == pid:
        return None
    comm = status_fields(pid).get("Name", "?")
    hint = " (e.g. systemctl stop auditd)" if comm == "auditd" else ""
    return f"another audit daemon owns the audit log (pid {pid}, {comm}); stop it first{hint}"


def _busy_line(saved: SavedSettings | None) -> str:
    """The line for a log recording refused because another one is running."""
    who = f" (pid {saved.owner})" if saved is not None else ""
    return (f"another seccomp-gen recording{who} is using the audit log (log backend); wait "
            "for it to end")


def log_unavailable() -> str | None:
    """Why the log backend cannot run here, in one line, or None."""
    why = action_unavailable("log", "SECCOMP_RET_LOG")
    if why is not None:
        return why
    logged = ACTIONS_LOGGED
    try:
        with open(logged, encoding="ascii") as fh:
            if "log" not in fh.read().split():
                return f"RET_LOG is not logged: add 'log' to {logged}"
    except OSError:
        pass
    if os.geteuid() != 0 and not has_cap(CAP_AUDIT_CONTROL):
        return "needs root (CAP_AUDIT_CONTROL) to read the audit log as its daemon"
    try:
        conn = AuditSocket()
    except RecordError as exc:
        return exc.msg if hasattr(exc, "msg") else str(exc)
    try:
        status = conn.status()
    except (OSError, RecordError) as exc:
        return f"cannot query the audit subsystem: {exc}"
    finally:
        conn.close()
    saved = read_saved()
    if lock_held():
        return _busy_line(saved)
    return _owner_line(status, saved)


# -- the recording ---------------------------------------------------------------------------------


class LogRecorder:
    """Records a command and all its descendants from the audit records of a RET_LOG filter."""

    name = "log"
    supports_known = _supports_known("log")

    def unavailable(self) -> str | None:
        """Why this backend cannot run here, or None."""
        return log_unavailable()

    def record(self, argv: Sequence[str], options: RecordOptions, live: LiveStats) -> Trace:
        """Run ``argv`` under the filter as audit daemon until every process of it has ended."""
        path = resolve_command(argv, options.env)
        program, filter_notes = recording_filter(options, "ran unlogged", action="log")
        notes = [NOTE_NO_ARGS, *filter_notes]
        return _LogSession(argv, path, options, live, program, notes).run()


class _LogSession:
    """One run: registration as audit daemon, the child, the read loop, the restoration."""

    def __init__(self, argv: Sequence[str], path: str, options: RecordOptions, live: LiveStats,
                 program: bytes, notes: list[str]) -> None:
        self.argv = list(argv)
        self.path = path
        self.options = options
        self.live = live
        self.notes = notes
        self.set_nnp = needs_no_new_privs()
        self.raw = RawRecording()
        self.main_pid = 0
        self.main_status: ExitStatus | None = None
        self.reaper: Reaper | None = None
        self.pid_token: dict[int, int] = {}
        self.foreign: set[int] = set()
        #: Call sites: the records' ``ip=``, resolved when the record is read (best effort).
        self.resolver = SiteResolver(self.raw.sites)
        #: Tokens whose process is gone or runs another executable: their sites are unknown.
        self.stale: set[int] = set()
        self.started_exec = False
        self.pinned_cpu: int | None = None
        #: Signals that arrived before the workload existed, and how many arrived in all.
        self.pending: list[int] = []
        self.signals_seen = 0
        #: What :meth:`_register` changed, as it changes it, for :meth:`_unregister`.
        self.registered = False
        self.changed = 0
        #: ``status.lost`` once registered with the lossless settings (before the workload).
        self.lost_at_start: int | None = None
        #: The end markers' children (:meth:`_mark_end`), left unreaped until the drain is over,
        #: so that no other process can have their pids; whether one's record has been read.
        self.markers: set[int] = set()
        self.marker_seen = False
        #: How the drain ended: "marker", "counted", "quiet" or "deadline" (tests read it).
        self.drain_end = ""
        self._prepare_exec(program)

    def _prepare_exec(self, program: bytes) -> None:
        """The filter with the start marker in front, and the child's keyed execve, built here:
        after the fork the child only passes pointers to the kernel."""
        self.key = (secrets.randbits(64), secrets.randbits(64), secrets.randbits(64))
        native = host_arches()[0]
        self.nr_execve = syscall_number(native, "execve")
        env = self.options.env if self.options.env is not None else dict(os.environ)
        self._path = ctypes.c_char_p(os.fsencode(self.path))
        self._argv = string_array([os.fsencode(a) for a in self.argv])
        self._envp = string_array([os.fsencode(k) + b"=" + os.fsencode(v)
                                    for k, v in env.items()])
        args = (ctypes.cast(self._path, ctypes.c_void_p).value or 0,
                ctypes.addressof(self._argv), ctypes.addressof(self._envp), *self.key)
        audit = arch_token(native)
        verdict = cbpf.run_bpf(cbpf.decode(program), cbpf.seccomp_data(audit, self.nr_execve, args))
        #: Whether the workload's own execve is counted: the filter without the marker logs it.
        self.count_start_exec = verdict & cbpf.RET_ACTION_FULL == cbpf.RET_LOG
        marked = cbpf.keyed_prefix(audit, self.key, only=self.nr_execve, action=cbpf.RET_LOG)
        program = marked + program
        self._program = Program(program)
        self.native_audit = audit
        self.nr_marker = syscall_number(native, MARKER_CALL)
        self._marker_program = Program(
            cbpf.keyed_prefix(audit, self.key, only=self.nr_marker, action=cbpf.RET_LOG)
            + cbpf.ret(cbpf.RET_ALLOW))

    # -- records ----------------------------------------------------------------------------------

    def on_record(self, payload: bytes) -> None:
        rec = parse_seccomp_record(payload)
        if rec is None or rec.code != LOG_CODE:
            return
        pid = rec.pid
        if pid in self.markers and rec.syscall == self.nr_marker and (
                rec.arch == self.native_audit):
            self.marker_seen = True  # never counted: it is ours, not the workload's
            return
        token = self.pid_token.get(pid)
        if token is None:
            if pid in self.foreign or not self.main_pid:
                return
            token = self._adopt(pid, rec.exe)
            if token is None:
                return
        audit, nr = rec.arch, rec.syscall
        if pid == self.main_pid and not self.started_exec:
            # Our own child's calls before its (marked) execve are not the workload's; the
            # execve itself only if the filter without the marker logged it.
            if not is_exec(audit, nr):
                return
            self.started_exec = True
            if not self.count_start_exec:
                return
        else:
            exe = rec.exe
            tgid, known_exe = self.raw.tokens[token]
            proc = self.raw.processes[tgid]
            if exe != known_exe:  # the process has exec'd since its last record
                token = self.pid_token[pid] = self._new_token(tgid, exe)
                proc.exes.append(exe)
            elif not proc.exes:  # the workload's first record after its execve
                proc.exes.append(exe)
        self.raw.count(audit, nr, token, NO_RESULT)
        if rec.ip is not None:
            sid = self.resolver.cache.get((token, rec.ip))
            if sid is None:
                sid = self._site(token, audit, nr, rec.ip)
            key = (audit, nr, sid)
            self.raw.site_calls[key] = self.raw.site_calls.get(key, 0) + 1

    def _site(self, token: int, audit: int, nr: int, ip: int) -> int:
        """The site of a call at ``ip`` by ``token``, from its process's maps as they are when
        the record is read: ``[unknown]`` when the process is gone or runs another executable
        by then, and for an exec (the image that made it is replaced when it succeeds)."""
        tgid, exe = self.raw.tokens[token]
        if is_exec(audit, nr):
            return self.resolver.site_id(UNKNOWN, 0)
        if token not in self.stale and exe_of(tgid) == exe:
            sid = self.resolver.site(token, tgid, ip)
            # Not in any mapping: anonymous code, or an exit (a zombie's maps are empty).
            if self.raw.sites[sid][0] != ANON or exe_of(tgid) == exe:
                return sid
        self.stale.add(token)  # for good: the token's image is gone
        sid = self.resolver.cache[(token, ip)] = self.resolver.site_id(UNKNOWN, 0)
        return sid

    def _new_token(self, tgid: int, exe: str) -> int:
        """A token for a new process or executable; what was read of ``tgid``'s maps is
        dropped."""
        self.resolver.forget(tgid)
        return self.raw.new_token(tgid, exe)

    def _adopt(self, pid: int, exe: str) -> int | None:
        """The token of a pid seen for the first time, or None if it is not of our tree."""
        ppid = parent_of(pid)
        if ppid is None:
            ours = pid > self.main_pid or pid < self.main_pid // 2  # gone; allocated after ours
            parent: int | None = None
        else:
            parent = ppid
            ours = False
            seen = 0
            cur: int | None = ppid
            reaper = self.reaper.pid if self.reaper is not None else 0
            while cur and seen < 64:
                if cur in self.pid_token or cur == reaper:
                    # An orphan of our tree is re-parented to the reaper (a child subreaper).
                    ours = True
                    break
                if cur in self.foreign or cur == 1:
                    break
                cur = parent_of(cur)
                seen += 1
        if not ours:
            self.foreign.add(pid)
            return None
        token = self.pid_token[pid] = self._new_token(pid, exe)
        self.raw.processes[pid] = ProcessState(pid=pid, ppid=parent, exes=[exe])
        return token

    # -- the run ----------------------------------------------------------------------------------

    def run(self) -> Trace:
        started_wall = utc_now()
        # First of all: from here on a signal is ours to handle (passed on, or an error before
        # the workload exists), never an exception between a change and the code undoing it.
        with forwarding(self._on_signal):
            duration, after, before, rcvbuf = self._run_claimed()
        start = self.lost_at_start if self.lost_at_start is not None else before.lost
        lost = (after.lost - start) & 0xFFFFFFFF if after is not None else 0
        if lost:
            self.notes.append(
                f"the kernel's audit subsystem lost {lost} record(s) during the run (status.lost, "
                "counted system-wide): some calls may be missing from this trace")
        if rcvbuf < RCVBUF // 2:
            self.notes.append(f"the audit socket's receive buffer is only {rcvbuf} bytes")
        if self.set_nnp:
            self.notes.append(NOTE_NNP)
        header = recording_header(
            self.argv, "log", pinned_cpu=self.pinned_cpu,
            started=started_wall, duration_s=duration,
            exit=self.main_status, notes=self.notes,
            records_args=False,
            records_results=False,
        )
        trace = build_trace(self.raw, header, arch_name, syscall_name)
        return replace(trace, syscalls=tuple(replace(r, args=None) for r in trace.syscalls))

    def _run_claimed(self) -> tuple[float, AuditStatus | None, AuditStatus, int]:
        """The run with the log backend's lock held: (duration, the status after, before, the
        receive buffer's size)."""
        self._pause("start")
        claim = AuditClaim()
        if not claim.acquire():
            raise RecordError(_busy_line(claim.saved()))
        try:
            conn = AuditSocket(self.on_record)
            try:
                self._recover(conn, claim)
                before = conn.status()
                owner = _owner_line(before)
                if owner is not None:
                    raise RecordError(owner)
                rcvbuf = conn.grow_buffer()
                self._pause("locked")
                self._stop_if_interrupted()
                claim.save(SavedSettings(owner=os.getpid(), enabled=before.enabled,
                                         rate_limit=before.rate_limit,
                                         backlog_limit=before.backlog_limit,
                                         ours=_what_we_set(before)))
                if claim.problem is not None:
                    self.notes.append(f"the audit settings could not be saved ({claim.problem}): "
                                      "had this recorder been killed, they would have stayed "
                                      "changed")
                self._pause("saved")
                duration, after = self._run_registered(conn, claim, before)
            finally:
                conn.close()
        finally:
            claim.release()
        return duration, after, before, rcvbuf

    def _run_registered(self, conn: AuditSocket, claim: AuditClaim,
                        before: AuditStatus) -> tuple[float, AuditStatus | None]:
        """Register, run the workload, and always undo exactly what was changed."""
        after: AuditStatus | None = None
        try:
            self._register(conn, before)
            self.lost_at_start = conn.status().lost
            self._pause("registered")
            self._stop_if_interrupted()
            with pinned_to_one_cpu(self.options.pin) as self.pinned_cpu:
                duration = self._run_workload(conn)
        finally:
            self._pause("restoring")
            blocked = signal.pthread_sigmask(signal.SIG_BLOCK, FORWARDED_SIGNALS)
            try:
                after, restored = self._unregister(conn, before)
                if restored:
                    claim.clear()
            finally:
                signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        return duration, after

    def _recover(self, conn: AuditSocket, claim: AuditClaim) -> None:
        """Set back what a recording that was killed left changed (its state file says what)."""
        saved = claim.saved()
        if saved is None:
            return
        status = conn.status()
        owner = _owner_line(status, saved)
        if owner is not None:  # a real audit daemon took over since: its settings now
            raise RecordError(owner)
        current = {"enabled": status.enabled, "rate_limit": status.rate_limit,
                   "backlog_limit": status.backlog_limit}
        restore = saved.to_restore(current)
        mask = sum(bit for name, bit in _FIELD_BITS.items() if name in restore)
        if mask:
            try:
                conn.set(mask, **restore)
            except OSError as exc:
                raise RecordError(f"cannot restore the audit settings a killed seccomp-gen "
                                  f"recording (pid {saved.owner}) left changed: {exc.strerror}",
                                  path=str(claim.state_path)) from None
        claim.clear()
        what = ", ".join(f"{name} {current[name]} -> {value}" for name, value in restore.items())
        self.notes.append(f"a seccomp-gen log recording (pid {saved.owner}) had been killed: the "
                          f"audit settings it left changed were restored first ({what or 'none'})")

    def _stop_if_interrupted(self) -> None:
        """A signal before the workload has started: do not start it; one line instead."""
        if self.pending:
            sig = self.pending[0]
            raise RecordError(f"interrupted by {signal.Signals(sig).name} before the command "
                              "started", exit_status=128 + sig)

    def _pause(self, point: str) -> None:
        """The test-only pause at ``point`` (see :data:`PAUSE_ENV`)."""
        if os.environ.get(PAUSE_ENV) != point:
            return
        seen = self.signals_seen
        os.write(2, f"seccomp-gen: test pause at {point}\n".encode())
        deadline = time.monotonic() + 30
        while self.signals_seen == seen and time.monotonic() < deadline:
            time.sleep(0.005)

    def _register(self, conn: AuditSocket, before: AuditStatus) -> None:
        """Become the audit daemon and make the queue lossless; ``registered`` and ``changed``
        say what was done, as it is done, for :meth:`_unregister` to set back."""
        try:
            conn.set(STATUS_PID, pid=os.getpid())
        except OSError as exc:
            if exc.errno == 17:  # EEXIST: a daemon registered between our GET and SET
                raise RecordError(_owner_line(conn.status()) or
                                  "another audit daemon owns the audit log") from None
            raise RecordError(f"cannot register as the audit daemon: {exc.strerror}",
                              hint="needs root (CAP_AUDIT_CONTROL) in the initial namespaces"
                              ) from None
        self.registered = True
        self._pause("registering")
        wanted = [
            (STATUS_ENABLED, before.enabled == 0 and not self._probe(conn), {"enabled": 1}),
            (STATUS_RATE_LIMIT, before.rate_limit != 0, {"rate_limit": 0}),
            (STATUS_BACKLOG_LIMIT, before.backlog_limit < BACKLOG_LIMIT,
             {"backlog_limit": BACKLOG_LIMIT}),
        ]
        for bit, needed, values in wanted:
            if not needed:
                continue
            try:
                conn.set(bit, **values)
                self.changed |= bit
            except OSError as exc:
                what = next(iter(values))
                locked = ", the audit configuration is locked" if (
                    before.enabled == AUDIT_LOCKED) else ""
                self.notes.append(f"could not set the audit {what} ({exc.strerror}{locked}): "
                                  "records may be lost")

    def _probe(self, conn: AuditSocket) -> bool:
        """Whether RET_LOG records reach us with the audit subsystem as it is (disabled): a child
        loads a one-instruction LOG filter and exits, and we wait for the record of its
        exit_group. On 6.18 they do, so ``enabled`` is left alone; kernels that log seccomp only
        with auditing enabled get ``enabled`` = 1 for the run (and that is said in the header)."""
        pid = self._logging_child(conn, Program(cbpf.ret(LOG_CODE)))
        os.waitpid(pid, 0)
        seen: list[bytes] = []
        previous = conn.on_record
        conn.on_record = seen.append
        needle = b" pid=%d " % pid
        deadline = time.monotonic() + 1.0
        try:
            conn.sock.settimeout(0.05)
            while time.monotonic() < deadline and not any(needle in r for r in seen):
                with contextlib.suppress(TimeoutError):
                    conn.dispatch(conn.sock.recv(65536))
        finally:
            conn.sock.settimeout(None)
            conn.on_record = previous
        if any(needle in r for r in seen):
            return True
        self.notes.append("auditing was enabled for the run (this kernel logs seccomp actions "
                          "only with audit enabled), then disabled again")
        return False

    def _logging_child(self, conn: AuditSocket, program: Program,
                       call: Callable[[], object] | None = None) -> int:
        """Fork a child that loads ``program`` (no_new_privs first, where needed), makes
        ``call`` and exits: status 0 if all of it was done, 1 if not. Its pid; OSError if the
        fork fails. The child is the caller's to reap."""
        pid = os.fork()
        if pid == 0:
            done = 1
            try:
                conn.sock.close()
                load_filter(program, self.set_nnp)
                if call is not None:
                    call()
                done = 0
            finally:
                os._exit(done)
        return pid

    def _unregister(self, conn: AuditSocket,
                    before: AuditStatus) -> tuple[AuditStatus | None, bool]:
        """Set back what :meth:`_register` changed and stop being the audit daemon; returns the
        status before that and whether all of it was done."""
        after: AuditStatus | None = None
        done = True
        with contextlib.suppress(OSError, RecordError):
            after = conn.status()
        if self.changed:
            try:
                conn.set(self.changed, enabled=before.enabled, rate_limit=before.rate_limit,
                         backlog_limit=before.backlog_limit)
                self.changed = 0
            except (OSError, RecordError):
                done = False
        if self.registered:
            try:
                conn.set(STATUS_PID, pid=0)
                self.registered = False
            except (OSError, RecordError):
                done = False
        return after, done

    def _run_workload(self, conn: AuditSocket) -> float:
        pipe = ErrorPipe()
        try:
            self.main_pid = self._spawn(pipe, conn)
            pipe.started()
            for early in self.pending:  # arrived while it was being forked
                self._on_signal(early, None)
            self._pause("spawned")
            self.live.started = time.monotonic()
            t0 = time.monotonic()
            self._loop(conn)
            duration = time.monotonic() - t0
        except BaseException:
            pipe.close()
            raise
        finally:
            if self.reaper is not None:
                # Before the end of the tree (an exception): the reaper kills the whole tree.
                self.reaper.close()
        pipe.check(self.path, "log")
        return duration

    def _spawn(self, pipe: ErrorPipe, conn: AuditSocket) -> int:
        nr_execve = ctypes.c_long(self.nr_execve)
        k1, k2, k3 = (ctypes.c_ulong(k) for k in self.key)

        def steps() -> None:
            conn.sock.close()  # the audit socket must not outlive us in the workload
            if self.options.cwd:
                os.chdir(self.options.cwd)
            load_filter(self._program, self.set_nnp)

        reaper = spawn()
        if reaper is None:  # the workload: nothing here may return or raise into the caller's code
            run_steps(pipe, steps)
            # The marked execve (docs/backends/log.md), with arguments built before the
            # fork: nothing else runs between the filter and the workload.
            syscall(nr_execve, self._path, self._argv, self._envp, k1, k2, k3)
            pipe.exec_failed(ctypes.get_errno())
        self.reaper = reaper
        pid = reaper.main_pid
        token = self.raw.new_token(pid, os.path.realpath(self.path))
        self.raw.processes[pid] = ProcessState(pid=pid, ppid=reaper.pid, exes=[])
        self.pid_token[pid] = token
        self.live.processes_alive = 1
        self.live.total = lambda: self.raw.total
        self.live.distinct = lambda: self.raw.distinct
        return pid

    def _alive_tree(self) -> list[int]:
        """The processes of the tree we know of that still run, but the main one."""
        return sorted(p for p in self.pid_token if p != self.main_pid and is_running(p))

    def _loop(self, conn: AuditSocket) -> None:
        """Read records until the reaper says that the whole tree has ended, then drain."""
        reaper = self.reaper
        assert reaper is not None
        sock = conn.sock
        sock.setblocking(False)
        poller = select.poll()
        poller.register(sock.fileno(), select.POLLIN)
        poller.register(reaper.fileno(), select.POLLIN)
        try:
            while not reaper.ended:
                self._read_queued(conn)
                for fd, _ in poller.poll():
                    if fd == reaper.fileno():
                        reaper.read()
                        if reaper.main_status is not None and self.main_status is None:
                            self.main_status = ExitStatus.from_wait_status(reaper.main_status)
                            self.raw.processes[self.main_pid].exit = self.main_status
                            self.live.processes_alive = len(self._alive_tree())
            self.live.processes_alive = 0
            poller.unregister(reaper.fileno())  # R has exited: its end would always poll ready
            self._pause("ended")
            self._drain(conn, poller)
        finally:
            sock.setblocking(True)

    @staticmethod
    def _read_queued(conn: AuditSocket) -> None:
        """Everything the socket holds now, without a poll per record."""
        recv, dispatch = conn.sock.recv, conn.dispatch
        while True:
            try:
                data = recv(65536)
            except (BlockingIOError, InterruptedError):
                return
            dispatch(data)

    def _drain(self, conn: AuditSocket, poller: select.poll) -> None:
        """After the end of the tree, read what is still on its way (docs/backends/log.md,
        "Where it ends"): up to the end marker's record, or, without one, as many records as
        the kernel's queue held then, plus one, or until nothing arrives and the queue is
        empty; at most :data:`DRAIN_MAX_S` either way."""
        deadline = time.monotonic() + DRAIN_MAX_S
        self._read_queued(conn)
        try:
            if self._mark_end(conn):
                self.drain_end = self._drain_to_marker(conn, poller, deadline)
            else:
                self.drain_end = self._drain_counting(conn, poller, deadline)
        finally:
            for pid in self.markers:
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(pid, 0)

    def _mark_end(self, conn: AuditSocket) -> bool:
        """Make the end marker: a child whose filter logs one call, its keyed getppid, makes it
        and exits. The tree has ended, so its record is queued after every record of the
        workload, and the kernel hands records to the audit daemon in the order they were
        queued. Whether it was made (the child is left a zombie until the drain is over: while
        it is, no other process can have its pid, which names its record)."""
        nr = ctypes.c_long(self.nr_marker)
        zero = ctypes.c_ulong(0)
        k1, k2, k3 = (ctypes.c_ulong(k) for k in self.key)
        fail = NO_MARKER_ENV in os.environ

        def call() -> None:
            if fail:
                raise OSError("the test hook says no marker")
            syscall(nr, zero, zero, zero, k1, k2, k3)

        try:
            pid = self._logging_child(conn, self._marker_program, call)
        except OSError:
            return False
        try:
            made = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)
        except ChildProcessError:  # reaped for us (SIGCHLD ignored): its pid names nothing
            return False
        # A pid seen already (the tree's, another program's), reused for the child: its
        # earlier records would look like the marker's.
        if made is None or made.si_code != os.CLD_EXITED or made.si_status != 0 or (
                pid in self.pid_token or pid in self.foreign):
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
            return False
        self.markers.add(pid)
        return True

    def _drain_to_marker(self, conn: AuditSocket, poller: select.poll, deadline: float) -> str:
        """Read until the end marker's record comes. If nothing at all comes for
        :data:`QUIET_S` with the kernel's queue empty, another marker is made, once: kauditd
        sends the records it had to set aside (a full socket) only when a new one is queued."""
        poked = False
        while not self.marker_seen:
            left = deadline - time.monotonic()
            if left <= 0:
                self.notes.append(
                    f"stopped reading the audit log {DRAIN_MAX_S:.0f} s after the workload ended "
                    "before the record that marks its end came: calls made just before the end "
                    "may be missing")
                return "deadline"
            got = conn.records
            poller.poll(min(QUIET_S, left) * 1000)
            self._read_queued(conn)
            if conn.records == got and not self.marker_seen:
                owed, _ = self._queued(conn)
                if owed == 1 and not self.marker_seen:
                    if poked or not self._mark_end(conn):
                        self.notes.append(
                            "the record that marks the end of the run never came (the kernel's "
                            "audit queue was empty): calls made just before the end may be "
                            "missing")
                        return "quiet"
                    poked = True
        return "marker"

    def _drain_counting(self, conn: AuditSocket, poller: select.poll, deadline: float) -> str:
        """Without a marker: read as many records as the kernel's queue held, plus the one its
        sender may hold, or until nothing at all arrives for :data:`QUIET_S` and the queue is
        empty."""
        owed, counted = self._queued(conn)
        while conn.records - counted < owed:
            left = deadline - time.monotonic()
            if left <= 0:
                self.notes.append(
                    f"stopped reading the audit log {DRAIN_MAX_S:.0f} s after the workload ended "
                    f"with up to {owed - (conn.records - counted)} record(s) still queued in the "
                    "kernel: calls made just before the end may be missing")
                return "deadline"
            got = conn.records
            poller.poll(min(QUIET_S, left) * 1000)
            self._read_queued(conn)
            if conn.records == got:  # nothing at all for QUIET_S: is the kernel's queue empty?
                owed, counted = self._queued(conn)
                if owed == 1:
                    return "quiet"
        return "counted"

    @staticmethod
    def _queued(conn: AuditSocket) -> tuple[int, int]:
        """(how many records may still come before every earlier one has been read: the
        kernel's backlog now, and the one its sender may hold; records read so far)."""
        conn.sock.setblocking(True)
        try:
            backlog = conn.status().backlog
        finally:
            conn.sock.setblocking(False)
        return backlog + 1, conn.records

    def _on_signal(self, sig: int, _frame: FrameType | None) -> None:
        """Pass a user's Ctrl-C / SIGTERM on to the workload, once (see TraceSession); before
        the workload exists, keep it (the run then stops with one line)."""
        self.signals_seen += 1
        reaper = self.reaper
        if reaper is None:
            self.pending.append(sig)
            return
        if reaper.main_alive():
            reaper.forward(sig)
            return
        if reaper.ended:
            return  # nothing of the tree is left (and its pids may be others' by now)
        for other in sorted(set(self._alive_tree()) | (reaper.children() - {self.main_pid})):
            with contextlib.suppress(ProcessLookupError):
                os.kill(other, sig)


_FIELD_BITS = {"enabled": STATUS_ENABLED, "rate_limit": STATUS_RATE_LIMIT,
               "backlog_limit": STATUS_BACKLOG_LIMIT}


def _what_we_set(before: AuditStatus) -> dict[str, int]:
    """The settings a recording may change, with the values it sets them to."""
    ours = {}
    if before.enabled == 0:
        ours["enabled"] = 1
    if before.rate_limit != 0:
        ours["rate_limit"] = 0
    if before.backlog_limit < BACKLOG_LIMIT:
        ours["backlog_limit"] = BACKLOG_LIMIT
    return ours
