"""The log recorder: a SECCOMP_RET_LOG filter in the workload, the audit log read as audit daemon.

The child loads a classic BPF filter whose default action is RET_LOG (with ``known``: ALLOW for
what the profile allows, LOG for the rest -- the seccomp backend's filter with another action),
then execs the workload. There is no ptrace at all: every call runs at once, and the kernel emits
one audit record (type 1326, AUDIT_SECCOMP) per logged call::

    audit(...): auid=... uid=0 ... pid=1234 comm="ls" exe="/usr/bin/ls" sig=0 arch=c000003e
    syscall=39 compat=0 ip=0x7f... code=0x7ffc0000

Read through the kernel log (dmesg) those records are rate-limited and almost all are lost (10 of
10,000 survived here). Read by the registered audit daemon over NETLINK_AUDIT they are not: the
kernel queues them (up to ``backlog_limit``; beyond it, a logging task waits up to
``backlog_wait_time``) and hands every one to the daemon's socket. So for the duration of a run
this process *is* the audit daemon:

* AUDIT_GET first: if another live process is registered (``status.pid``), we refuse with one
  line rather than take its records away. A registration left by a dead process is replaced (the
  kernel itself drops it when it finds the socket gone).
* AUDIT_SET ``pid`` = our pid, ``rate_limit`` = 0, ``backlog_limit`` raised to
  :data:`BACKLOG_LIMIT` (only if lower), ``enabled`` = 1 (only if it was 0); the socket's
  receive buffer is raised with SO_RCVBUFFORCE.
* Afterwards -- also on Ctrl-C, SIGTERM or an exception (try/finally, with the forwarded signals
  blocked while it runs) -- exactly the fields we changed are set back to what AUDIT_GET said
  before, and we unregister (pid 0). If the recorder is SIGKILLed, the kernel unregisters the dead
  daemon by itself, but ``enabled``/``rate_limit``/``backlog_limit`` keep our values.
* ``status.lost`` (a system-wide counter) is compared before and after: any increase is reported
  in the trace header, since records may then be missing.

Attribution: the filter exists only in our child and its descendants (fork, clone and exec
inherit it), and records carry the thread group id (``pid=``). A record counts when its pid is
the workload's or a descendant's: known pids at once, a new pid by walking its ``PPid`` chain in
``/proc`` up to a pid of ours. A process that is already gone when its record is read (a short
``sh -c`` child, say) cannot be walked; it is counted when its pid is newer than the workload's
(pids are allocated upwards), since nothing outside our tree has our filter. Records of other
processes (another program's RET_LOG or KILL filter) are ignored. Like the other backends we
count from the workload's execve: records of our own child before it are dropped.

What it cannot see: arguments and return values (not in the record; ``records_args`` and
``records_results`` are false), and threads (a record names the thread group only). A descendant
that outlives the main process is waited for (records keep being read while a pid of the tree is
alive), but its exit status is not known (it is not our child).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import select
import signal
import socket
import struct
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from types import FrameType

import pyseccomp

from ..aggregate import ProcessState, RawRecording, build_trace
from ..arch import arch_name, syscall_name
from ..errors import RecordError
from ..model import ExitStatus, Trace
from . import supports_known as _supports_known
from .base import LiveStats, RecordOptions, recording_header, resolve_command
from .seccomp_backend import (
    NO_RESULT,
    NOTE_NNP,
    PR_SET_NO_NEW_PRIVS,
    PR_SET_SECCOMP,
    SECCOMP_MODE_FILTER,
    _has_cap_sys_admin,
    _prctl,
    _SockFprog,
    recording_filter,
)
from .session import FORWARDED_SIGNALS, child_failure, forward_signal, read_status_fields

NETLINK_AUDIT = 9
AUDIT_GET, AUDIT_SET = 1000, 1001
AUDIT_SECCOMP = 1326
NLMSG_ERROR, NLMSG_DONE = 2, 3
NLM_F_REQUEST, NLM_F_ACK = 0x1, 0x4
SO_RCVBUFFORCE = 33
STATUS_ENABLED, STATUS_PID, STATUS_RATE_LIMIT, STATUS_BACKLOG_LIMIT = 0x1, 0x4, 0x8, 0x10
AUDIT_LOCKED = 2
#: SECCOMP_RET_LOG as it appears in ``code=``.
LOG_CODE = 0x7FFC0000

#: What the audit queue may hold while we read (records wait there, they are not dropped).
BACKLOG_LIMIT = 1 << 20
#: The receive buffer asked for with SO_RCVBUFFORCE.
RCVBUF = 64 << 20
#: After the workload has ended: records may lag a little; stop after this long without one...
QUIET_S = 0.25
#: ...and the kernel's queue is empty, or this long in all.
DRAIN_MAX_S = 15.0
_CAP_AUDIT_CONTROL = 30
PR_SET_CHILD_SUBREAPER, PR_GET_CHILD_SUBREAPER = 36, 37

_NLMSGHDR = struct.Struct("=IHHII")
_STATUS_FIELDS = ("mask", "enabled", "failure", "pid", "rate_limit", "backlog_limit", "lost",
                  "backlog")

NOTE_NO_ARGS = (
    "arguments and return values are not in audit records (log backend): args and results are "
    "empty, and threads are counted with their process; record with --backend seccomp or ptrace "
    "to see them"
)

_RECORD = re.compile(
    rb" pid=(\d+) .*? exe=(\"[^\"]*\"|[0-9A-F]+|\(null\)) .*?arch=([0-9a-f]+) syscall=(\d+) "
    rb".*? code=0x([0-9a-f]+)"
)


@dataclass(frozen=True)
class AuditStatus:
    """The fields of ``struct audit_status`` this backend reads or changes."""

    enabled: int
    failure: int
    pid: int
    rate_limit: int
    backlog_limit: int
    lost: int
    backlog: int


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _has_cap(bit: int) -> bool:
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("CapEff:"):
                    return bool(int(line.split()[1], 16) >> bit & 1)
    except (OSError, ValueError):
        pass
    return False


class AuditSocket:
    """A NETLINK_AUDIT socket: status requests, and the records sent to the audit daemon.

    Records that arrive while a request waits for its reply are passed to ``on_record`` (the
    payload of each AUDIT_SECCOMP message), so nothing is lost in between.
    """

    def __init__(self, on_record: Callable[[bytes], None] | None = None) -> None:
        try:
            self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC,
                                      NETLINK_AUDIT)
        except OSError as exc:
            raise RecordError(f"cannot open the audit netlink socket: {exc.strerror or exc}",
                              hint="the kernel needs CONFIG_AUDIT") from None
        self.sock.bind((0, 0))
        self.on_record = on_record
        self._seq = 0

    def close(self) -> None:
        self.sock.close()

    def grow_buffer(self, size: int = RCVBUF) -> int:
        """Raise the receive buffer (SO_RCVBUFFORCE, else SO_RCVBUF); returns what it got."""
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, size)
        except OSError:
            with contextlib.suppress(OSError):
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)
        return int(self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF))

    def _send(self, msg_type: int, payload: bytes, flags: int) -> int:
        self._seq += 1
        self.sock.send(_NLMSGHDR.pack(_NLMSGHDR.size + len(payload), msg_type, flags, self._seq,
                                      0) + payload)
        return self._seq

    def dispatch(self, data: bytes) -> tuple[int, int, bytes]:
        """Hand a record to ``on_record``; return (type, seq, payload) of one datagram.

        Audit records are one per datagram, and their ``nlmsg_len`` is the payload length (a
        long-standing quirk of the kernel), so the payload is everything after the header.
        """
        _, msg_type, _, seq, _ = _NLMSGHDR.unpack_from(data)
        payload = data[_NLMSGHDR.size:]
        if msg_type == AUDIT_SECCOMP and self.on_record is not None:
            self.on_record(payload)
        return msg_type, seq, payload

    def _wait(self, want: Callable[[int, int, bytes], bool], timeout: float = 5.0) -> bytes:
        self.sock.settimeout(timeout)
        try:
            while True:
                try:
                    data = self.sock.recv(65536)
                except TimeoutError:
                    raise RecordError("the kernel's audit subsystem did not answer") from None
                msg_type, seq, payload = self.dispatch(data)
                if want(msg_type, seq, payload):
                    return payload
        finally:
            self.sock.settimeout(None)

    def status(self) -> AuditStatus:
        """AUDIT_GET. The reply comes from a kernel thread, after any ack, so none is asked for."""
        self._send(AUDIT_GET, b"", NLM_F_REQUEST)

        def want(msg_type: int, _seq: int, payload: bytes) -> bool:
            if msg_type == NLMSG_ERROR:
                err = struct.unpack_from("=i", payload)[0]
                if err:
                    raise _os_error(-err, "AUDIT_GET")
            return msg_type == AUDIT_GET

        payload = self._wait(want)
        values = struct.unpack_from(f"={len(_STATUS_FIELDS)}I",
                                    payload.ljust(4 * len(_STATUS_FIELDS), b"\0"))
        fields = dict(zip(_STATUS_FIELDS, values, strict=True))
        del fields["mask"]
        return AuditStatus(**fields)

    def set(self, mask: int, *, enabled: int = 0, pid: int = 0, rate_limit: int = 0,
            backlog_limit: int = 0) -> None:
        """AUDIT_SET of the fields in ``mask``; raises OSError with the kernel's errno."""
        payload = struct.pack("=8I", mask, enabled, 0, pid, rate_limit, backlog_limit, 0, 0)
        seq = self._send(AUDIT_SET, payload, NLM_F_REQUEST | NLM_F_ACK)
        result: list[int] = []

        def want(msg_type: int, got: int, body: bytes) -> bool:
            if msg_type == NLMSG_ERROR and got == seq:
                result.append(struct.unpack_from("=i", body)[0])
                return True
            return False

        self._wait(want)
        if result and result[0]:
            raise _os_error(-result[0], "AUDIT_SET")


def _os_error(err: int, what: str) -> OSError:
    return OSError(err, f"{what}: {os.strerror(err)}")


def _owner_line(status: AuditStatus) -> str | None:
    """One line when a live process other than us is the audit daemon."""
    if status.pid and status.pid != os.getpid() and _pid_alive(status.pid):
        comm = read_status_fields(status.pid).get("Name", "?")
        return (f"another audit daemon owns the audit log (pid {status.pid}, {comm}); stop it "
                "first (e.g. systemctl stop auditd)")
    return None


def log_unavailable() -> str | None:
    """Why the log backend cannot run here, in one line, or None."""
    path = "/proc/sys/kernel/seccomp/actions_avail"
    try:
        with open(path, encoding="ascii") as fh:
            actions = fh.read().split()
    except OSError:
        return f"the kernel has no seccomp filters ({path} is missing)"
    if "log" not in actions:
        return f"the kernel does not offer SECCOMP_RET_LOG ({path}: {' '.join(actions)})"
    logged = "/proc/sys/kernel/seccomp/actions_logged"
    try:
        with open(logged, encoding="ascii") as fh:
            if "log" not in fh.read().split():
                return f"RET_LOG is not logged: add 'log' to {logged}"
    except OSError:
        pass
    if os.geteuid() != 0 and not _has_cap(_CAP_AUDIT_CONTROL):
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
    return _owner_line(status)


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
        program, filter_notes = recording_filter(options, "ran unlogged", action=pyseccomp.LOG)
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
        self._program = ctypes.create_string_buffer(program, len(program))
        self._fprog = _SockFprog(len(program) // 8, ctypes.addressof(self._program))
        self.set_nnp = not _has_cap_sys_admin()
        self.raw = RawRecording()
        self.main_pid = 0
        self.main_status: ExitStatus | None = None
        self.pid_token: dict[int, int] = {}
        self.foreign: set[int] = set()
        self.started_exec = False
        self.pinned_cpu: int | None = None
        self.recorder_pid = os.getpid()

    # -- records ----------------------------------------------------------------------------------

    def on_record(self, payload: bytes) -> None:
        m = _RECORD.search(payload)
        if m is None or int(m.group(5), 16) != LOG_CODE:
            return
        pid = int(m.group(1))
        token = self.pid_token.get(pid)
        if token is None:
            if pid in self.foreign or not self.main_pid:
                return
            token = self._adopt(pid, _exe_field(m.group(2)))
            if token is None:
                return
        audit, nr = int(m.group(3), 16), int(m.group(4))
        if pid == self.main_pid and not self.started_exec:
            # Our own child's calls between loading the filter and execve are not the workload's.
            if syscall_name(arch_name(audit, nr), nr) not in ("execve", "execveat"):
                return
            self.started_exec = True
        else:
            exe = _exe_field(m.group(2))
            tgid, known_exe = self.raw.tokens[token]
            proc = self.raw.processes[tgid]
            if exe != known_exe:  # the process has exec'd since its last record
                token = self.pid_token[pid] = self.raw.new_token(tgid, exe)
                proc.exes.append(exe)
            elif not proc.exes:  # the workload's first record after its execve
                proc.exes.append(exe)
        self.raw.count(audit, nr, token, NO_RESULT)

    def _adopt(self, pid: int, exe: str) -> int | None:
        """The token of a pid seen for the first time, or None if it is not of our tree."""
        ppid = _parent(pid)
        if ppid is None:
            ours = pid > self.main_pid or pid < self.main_pid // 2  # gone; allocated after ours
            parent: int | None = None
        else:
            parent = ppid
            ours = False
            seen = 0
            cur: int | None = ppid
            while cur and seen < 64:
                if cur in self.pid_token or cur == self.recorder_pid:
                    # An orphan of our tree is re-parented to us (we are a child subreaper).
                    ours = True
                    break
                if cur in self.foreign or cur == 1:
                    break
                cur = _parent(cur)
                seen += 1
        if not ours:
            self.foreign.add(pid)
            return None
        token = self.pid_token[pid] = self.raw.new_token(pid, exe)
        self.raw.processes[pid] = ProcessState(pid=pid, ppid=parent, exes=[exe])
        return token

    # -- the run ----------------------------------------------------------------------------------

    def run(self) -> Trace:
        started_wall = datetime.now(UTC)
        conn = AuditSocket(self.on_record)
        try:
            before = conn.status()
            owner = _owner_line(before)
            if owner is not None:
                raise RecordError(owner)
            rcvbuf = conn.grow_buffer()
            restore = self._register(conn, before)
            old_affinity = os.sched_getaffinity(0)
            try:
                if self.options.pin:
                    self.pinned_cpu = max(old_affinity)
                    os.sched_setaffinity(0, {self.pinned_cpu})
                duration = self._run_workload(conn)
            finally:
                blocked = signal.pthread_sigmask(signal.SIG_BLOCK, FORWARDED_SIGNALS)
                try:
                    if self.options.pin:
                        os.sched_setaffinity(0, old_affinity)
                    after = self._unregister(conn, before, restore)
                finally:
                    signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        finally:
            conn.close()
        lost = (after.lost - before.lost) & 0xFFFFFFFF if after is not None else 0
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
            started=started_wall.isoformat(timespec="seconds"), duration_s=duration,
            exit=self.main_status, notes=self.notes,
            records_args=False,
            records_results=False,
        )
        trace = build_trace(self.raw, header, arch_name, syscall_name)
        return replace(trace, syscalls=tuple(replace(r, args=None) for r in trace.syscalls))

    def _register(self, conn: AuditSocket, before: AuditStatus) -> int:
        """Become the audit daemon and make the queue lossless; returns the mask of what was
        changed (besides the pid), for :meth:`_unregister` to set back."""
        try:
            conn.set(STATUS_PID, pid=os.getpid())
        except OSError as exc:
            if exc.errno == 17:  # EEXIST: a daemon registered between our GET and SET
                raise RecordError(_owner_line(conn.status()) or
                                  "another audit daemon owns the audit log") from None
            raise RecordError(f"cannot register as the audit daemon: {exc.strerror}",
                              hint="needs root (CAP_AUDIT_CONTROL) in the initial namespaces"
                              ) from None
        changed = 0
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
                changed |= bit
            except OSError as exc:
                what = next(iter(values))
                locked = ", the audit configuration is locked" if (
                    before.enabled == AUDIT_LOCKED) else ""
                self.notes.append(f"could not set the audit {what} ({exc.strerror}{locked}): "
                                  "records may be lost")
        return changed

    def _probe(self, conn: AuditSocket) -> bool:
        """Whether RET_LOG records reach us with the audit subsystem as it is (disabled): a child
        loads a one-instruction LOG filter and exits, and we wait for the record of its
        exit_group. On 6.18 they do, so ``enabled`` is left alone; kernels that log seccomp only
        with auditing enabled get ``enabled`` = 1 for the run (and that is said in the header)."""
        insn = struct.pack("=HBBI", 0x06, 0, 0, LOG_CODE)  # BPF_RET | BPF_K, SECCOMP_RET_LOG
        buf = ctypes.create_string_buffer(insn, len(insn))
        prog = _SockFprog(1, ctypes.addressof(buf))
        pid = os.fork()
        if pid == 0:
            try:
                conn.sock.close()
                if self.set_nnp:
                    _prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
                _prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(prog), 0, 0)
            finally:
                os._exit(0)
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

    def _unregister(self, conn: AuditSocket, before: AuditStatus,
                    changed: int) -> AuditStatus | None:
        """Set back what :meth:`_register` changed and stop being the audit daemon."""
        after: AuditStatus | None = None
        with contextlib.suppress(OSError, RecordError):
            after = conn.status()
        if changed:
            with contextlib.suppress(OSError, RecordError):
                conn.set(changed, enabled=before.enabled, rate_limit=before.rate_limit,
                         backlog_limit=before.backlog_limit)
        with contextlib.suppress(OSError, RecordError):
            conn.set(STATUS_PID, pid=0)
        return after

    def _run_workload(self, conn: AuditSocket) -> float:
        err_r, err_w = os.pipe2(os.O_CLOEXEC)
        old_handlers: dict[int, signal._HANDLER] = {}
        pidfd = -1
        # Orphans of the workload (double forks, daemons) are re-parented to us rather than to
        # init, so their records are still recognised as the workload's.
        was_subreaper = ctypes.c_int(0)
        _prctl(PR_GET_CHILD_SUBREAPER, ctypes.addressof(was_subreaper), 0, 0, 0)
        _prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
        try:
            self.main_pid = self._spawn(err_w, conn)
            os.close(err_w)
            err_w = -1
            for sig in FORWARDED_SIGNALS:
                old_handlers[sig] = signal.signal(sig, self._on_signal)
            self.live.started = time.monotonic()
            t0 = time.monotonic()
            pidfd = os.pidfd_open(self.main_pid)
            self._loop(conn, pidfd)
            duration = time.monotonic() - t0
        finally:
            for signum, handler in old_handlers.items():
                signal.signal(signum, handler)
            if err_w >= 0:
                os.close(err_w)
            if pidfd >= 0:
                os.close(pidfd)
            if self.main_pid and self.main_status is None:
                # Interrupted by an exception: do not leave the workload running.
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.main_pid, signal.SIGKILL)
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(self.main_pid, 0)
            self._reap_orphans()
            _prctl(PR_SET_CHILD_SUBREAPER, was_subreaper.value, 0, 0, 0)
        failure = os.read(err_r, 256)
        os.close(err_r)
        if failure:
            self._child_failed(failure)
        return duration

    def _spawn(self, err_w: int, conn: AuditSocket) -> int:
        env = self.options.env if self.options.env is not None else dict(os.environ)
        fprog = ctypes.addressof(self._fprog)
        pid = os.fork()
        if pid == 0:  # child: nothing here may return or raise into the caller's code
            try:
                conn.sock.close()  # the audit socket must not outlive us in the workload
                for sig in (signal.SIGPIPE, signal.SIGXFSZ, *FORWARDED_SIGNALS):
                    signal.signal(sig, signal.SIG_DFL)
                if self.options.cwd:
                    os.chdir(self.options.cwd)
                if self.set_nnp and _prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
                    os.write(err_w, b"S%d:set no_new_privs" % ctypes.get_errno())
                    os._exit(127)
                if _prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, fprog, 0, 0) != 0:
                    os.write(err_w, b"S%d:load the seccomp filter" % ctypes.get_errno())
                    os._exit(127)
            except BaseException:
                os.write(err_w, b"S0:set up the child")
                os._exit(127)
            try:
                os.execve(self.path, self.argv, env)
            except OSError as exc:
                os.write(err_w, b"E%d" % (exc.errno or 0))
            except BaseException:
                os.write(err_w, b"E0")
            os._exit(127)
        token = self.raw.new_token(pid, os.path.realpath(self.path))
        self.raw.processes[pid] = ProcessState(pid=pid, ppid=os.getpid(), exes=[])
        self.pid_token[pid] = token
        self.live.processes_alive = 1
        self.live.total = lambda: self.raw.total
        self.live.distinct = lambda: self.raw.distinct
        return pid

    def _child_failed(self, failure: bytes) -> None:
        raise child_failure(failure, self.path, "log")

    def _reap_orphans(self) -> None:
        """Collect the workload's orphans that ended as our children (only pids of the tree:
        other children of this process are not ours to reap)."""
        for pid in list(self.pid_token):
            if pid != self.main_pid:
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(pid, os.WNOHANG)

    def _alive_tree(self) -> list[int]:
        self._reap_orphans()
        return sorted(p for p in self.pid_token if p != self.main_pid and _pid_alive(p)
                      and read_status_fields(p).get("State", "Z")[:1] not in ("Z", "X"))

    def _loop(self, conn: AuditSocket, pidfd: int) -> None:
        """Read records until the workload and every known descendant have ended and the kernel's
        queue has been drained."""
        sock = conn.sock
        sock.setblocking(False)
        recv, dispatch = sock.recv, conn.dispatch
        poller = select.poll()
        poller.register(sock.fileno(), select.POLLIN)
        poller.register(pidfd, select.POLLIN)
        ended_at: float | None = None
        try:
            while True:
                while True:  # everything queued, without a poll per record
                    try:
                        data = recv(65536)
                    except (BlockingIOError, InterruptedError):
                        break
                    dispatch(data)
                if ended_at is None:
                    if poller.poll(None if self.main_status is None else 100):
                        pass
                    if self.main_status is None:
                        got, status = os.waitpid(self.main_pid, os.WNOHANG)
                        if got:
                            self.main_status = ExitStatus.from_wait_status(status)
                            self.raw.processes[self.main_pid].exit = self.main_status
                            poller.unregister(pidfd)
                    if self.main_status is not None:
                        alive = self._alive_tree()
                        self.live.processes_alive = len(alive)
                        if not alive:
                            ended_at = time.monotonic()
                    continue
                # Drain: records can lag the workload's end a little.
                if poller.poll(QUIET_S * 1000):
                    continue
                sock.setblocking(True)
                try:
                    backlog = conn.status().backlog
                finally:
                    sock.setblocking(False)
                if backlog == 0 or time.monotonic() - ended_at > DRAIN_MAX_S:
                    break
        finally:
            sock.setblocking(True)

    def _on_signal(self, sig: int, _frame: FrameType | None) -> None:
        """Pass a user's Ctrl-C / SIGTERM on to the workload, once (see TraceSession)."""
        pid = self.main_pid
        if not pid:
            return
        if self.main_status is not None:
            for other in self._alive_tree():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(other, sig)
            return
        forward_signal(pid, sig)


def _parent(pid: int) -> int | None:
    """PPid of a live process, None if it is gone."""
    text = read_status_fields(pid).get("PPid")
    return int(text) if text and text.strip().isdigit() else None


def _exe_field(raw: bytes) -> str:
    """The ``exe=`` value: quoted, or hex when it holds unusual bytes."""
    if raw.startswith(b'"'):
        return raw[1:-1].decode(errors="surrogateescape")
    if raw == b"(null)":
        return "?"
    try:
        return bytes.fromhex(raw.decode()).decode(errors="surrogateescape")
    except ValueError:
        return raw.decode(errors="replace")
