"""The notify recorder: a SECCOMP_RET_USER_NOTIF filter in the workload, a supervisor in this
process that answers every call with SECCOMP_USER_NOTIF_FLAG_CONTINUE. No ptrace at all.

Why: it works where ptrace does not (a debugger attached, a container that forbids ptrace), as
long as seccomp filters and unix sockets work. It sees calls before they run: no return values.
The child hands its listener fd over a socketpair with the one call a 192-bit key lets through
(every other call would wait for a supervisor that has no listener yet); the supervisor is the
compiled C loop of ``_native/notify_supervisor.c``, with a Python loop as fallback
(``SECCOMP_GEN_NOTIFY_SUPERVISOR``). The handover, the bookkeeping and the measured costs:
docs/backends/notify.md.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import gc
import os
import secrets
import select
import signal
import socket
import struct
import time
from collections.abc import Callable, Sequence
from types import FrameType

from .._native import taught
from .._native.notify_supervisor import SOURCE_NAME, CSupervisor, load_supervisor
from .._native.notify_supervisor import WHAT as SUPERVISOR
from .._native.taught import CALL_ARGS, CALL_COUNT
from ..aggregate import ProcessState, RawRecording, build_trace
from ..errors import RecordError
from ..libseccomp import arch_name, arch_token, native_arch, syscall_name, syscall_number
from ..linux import cbpf
from ..linux.codemaps import SiteResolver
from ..linux.host import host_arches, kernel_release
from ..linux.libc import Iovec, Msghdr, ioctl, string_array, syscall
from ..linux.procfs import exe_of, status_fields
from ..linux.reaper import Reaper, spawn
from ..linux.seccomp import (
    MAX_INSNS,
    NOTIF,
    NOTIF_ARGS,
    NOTIF_ARGS_OFFSET,
    NOTIF_HEAD,
    NOTIF_IP,
    NOTIF_IP_OFFSET,
    NOTIF_RESP,
    SECCOMP_FILTER_FLAG_NEW_LISTENER,
    SECCOMP_IOCTL_NOTIF_RECV,
    SECCOMP_IOCTL_NOTIF_SEND,
    SECCOMP_IOCTL_NOTIF_SET_FLAGS,
    SECCOMP_SET_MODE_FILTER,
    SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP,
    SECCOMP_USER_NOTIF_FLAG_CONTINUE,
    Program,
    action_unavailable,
    needs_no_new_privs,
    notif_sizes,
    set_no_new_privs,
)
from ..linux.spawn import ChildSetupError, ErrorPipe, exec_message, run_steps, setup_message
from ..linux.stacks import take_blocked_sample
from ..model import ExitStatus, Trace
from ..syscalls.arches import AUDIT_ARCH_I386
from ..syscalls.argspec import ARG_VALUE_CAP, fields_for
from . import supports_known as _supports_known
from .base import (
    LiveStats,
    RecordOptions,
    choose_compiled,
    forwarding,
    pinned_to_one_cpu,
    recording_filter,
    recording_header,
    resolve_command,
    utc_now,
)
from .callers import CallerSamples
from .seccomp import NO_RESULT, NOTE_NNP
from .session import is_exec

#: How long the child may take to hand over the listener.
HANDOVER_TIMEOUT_S = 10.0
#: Processes whose executable mappings the call-site resolver keeps at once.
MAPS_KEPT = 256


NOTE_NO_RESULTS = (
    "return values not recorded by the notify backend (the supervisor answers each call before "
    "it runs): results are empty; record with --backend ptrace to see them"
)

#: Which supervisor loop answers the notifications: ``auto`` (default), ``c`` or ``python``.
SUPERVISOR_ENV = "SECCOMP_GEN_NOTIFY_SUPERVISOR"
SUPERVISOR_SOURCE = SOURCE_NAME
NOTE_SUPERVISOR_C = "supervisor: compiled C loop (notify_supervisor.c)"
NOTE_SUPERVISOR_FORCED_PYTHON = f"supervisor: Python loop ({SUPERVISOR_ENV}=python)"
NOTE_SUPERVISOR_FALLBACK = "supervisor: Python loop, about twice as slow"

# What sgen_notify_run returns (notify_supervisor.c); a syscall never classified (sgen_set_call)
# always comes to Python.
_EV_NOTIF, _EV_PIDFD, _EV_HUP, _EV_SIGNAL, _EV_IDLE = 1, 2, 3, 4, 5
_FAILED_OPS = {1: "poll", 2: "receive", 3: "answer", 4: "memory allocation"}

def _nr(name: str) -> int:
    return syscall_number(native_arch(), name)


def notify_unavailable() -> str | None:
    """Why a USER_NOTIF supervisor cannot be used here, or None."""
    why = action_unavailable("user_notif", "SECCOMP_RET_USER_NOTIF")
    if why is not None:
        return why
    try:
        notif, resp = notif_sizes(_nr("seccomp"))
    except OSError as exc:
        return f"cannot query seccomp notification sizes: {exc.strerror}"
    if notif < NOTIF.size or resp < NOTIF_RESP.size:
        return (f"unexpected seccomp notification sizes ({notif}/{resp} bytes, "
                f"expected {NOTIF.size}/{NOTIF_RESP.size})")
    release = kernel_release().split("-")[0].split(".")
    try:
        major, minor = int(release[0]), int(release[1])
    except (IndexError, ValueError):
        return None
    if (major, minor) < (5, 5):
        return (f"the kernel ({kernel_release()}) lacks SECCOMP_USER_NOTIF_FLAG_CONTINUE "
                "(Linux 5.5+)")
    return None


def choose_supervisor() -> tuple[CSupervisor | None, str]:
    """The compiled supervisor (None: the Python loop) and the trace note that says which ran;
    ``$SECCOMP_GEN_NOTIFY_SUPERVISOR`` may insist on one."""
    return choose_compiled(SUPERVISOR_ENV, load_supervisor, NOTE_SUPERVISOR_C,
                           NOTE_SUPERVISOR_FORCED_PYTHON, NOTE_SUPERVISOR_FALLBACK)


class NotifyRecorder:
    """Records a command and all its descendants by answering its seccomp notifications."""

    name = "notify"
    supports_known = _supports_known("notify")

    def unavailable(self) -> str | None:
        """Why this backend cannot run here, or None."""
        return notify_unavailable()

    def record(self, argv: Sequence[str], options: RecordOptions, live: LiveStats) -> Trace:
        """Run ``argv`` under the filter until no process of it is left."""
        path = resolve_command(argv, options.env)
        program, filter_notes = recording_filter(options, "ran without a notification",
                                                 action="notify")
        notes = [NOTE_NO_RESULTS, *filter_notes]
        # Built before the workload starts: a first compile takes a moment, and every call of
        # the workload would wait for it.
        supervisor, note = choose_supervisor()
        notes.append(note)
        key = (secrets.randbits(64), secrets.randbits(64), secrets.randbits(64))
        exclude = [_nr("execve"), _nr("execveat")]  # the workload's execve is seen as such
        program = cbpf.keyed_prefix(arch_token(host_arches()[0]), key, exclude) + program
        if len(program) // 8 > MAX_INSNS:
            raise RecordError(f"the recording filter has {len(program) // 8} BPF instructions, "
                              f"more than the kernel's limit of {MAX_INSNS}",
                              hint="the --known profile has too many argument rules")
        return _NotifySession(argv, path, options, live, program, key, notes, supervisor).run()


class _NotifySession:
    """One run: the child, the handover of the listener, the supervisor loop."""

    def __init__(self, argv: Sequence[str], path: str, options: RecordOptions, live: LiveStats,
                 program: bytes, key: tuple[int, int, int], notes: list[str],
                 supervisor: CSupervisor | None = None) -> None:
        self.argv = list(argv)
        self.path = path
        self.options = options
        self.live = live
        self.notes = notes
        self.key = key
        self._program = Program(program)
        self.set_nnp = needs_no_new_privs()
        self.raw = RawRecording()
        self.main_pid = 0
        self.main_status: ExitStatus | None = None
        self.reaper: Reaper | None = None
        #: Signals that arrived before the workload existed, passed on once it does.
        self.pending: list[int] = []
        #: Why the listener did not arrive, for the error message.
        self.handover_problem = "an empty message"
        self.main_token = -1
        self.tid_token: dict[int, int] = {}
        #: Threads of a process that called execve, with their token until then.
        self.exec_pending: dict[int, int] = {}
        self.main_seen = False
        self.pinned_cpu: int | None = None
        self.arg_watch: dict[tuple[int, int], tuple[tuple[str, int | None], ...]] = {}
        self.no_args: set[tuple[int, int]] = set()
        self.execs: set[tuple[int, int]] = set()
        self.supervisor = supervisor
        #: Called with each thread whose token an exec invalidated (the C loop forgets it).
        self.on_forget: Callable[[int], object] = lambda tid: None
        #: Call sites: seccomp_data.instruction_pointer, resolved while the caller waits.
        self.resolver = SiteResolver(self.raw.sites)
        #: Processes whose mappings the resolver holds, oldest first (see :meth:`_new_token`).
        self.mapped: dict[int, None] = {}
        #: A stack sample of the first call from each site, taken while its caller waits.
        self.samples = CallerSamples(self.raw, self.resolver)

    # -- the run ----------------------------------------------------------------------------------

    def run(self) -> Trace:
        started_wall = utc_now()
        with pinned_to_one_cpu(self.options.pin) as self.pinned_cpu:
            duration = self._run_workload()
        if self.set_nnp:
            self.notes.append(NOTE_NNP)
        header = recording_header(
            self.argv, "notify", pinned_cpu=self.pinned_cpu,
            started=started_wall, duration_s=duration,
            exit=self.main_status, notes=self.notes,
            records_results=False,
        )
        self.samples.find_callers()
        self.raw.unsigned_numbers()
        return build_trace(self.raw, header, arch_name, syscall_name)

    def _run_workload(self) -> float:
        pipe = ErrorPipe()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        listener = -1
        duration = 0.0
        with forwarding(self._on_signal):
            try:
                self.main_pid = self._spawn(pipe, theirs.fileno())
                theirs.close()
                pipe.started()
                for early in self.pending:
                    self._on_signal(early, None)
                assert self.reaper is not None
                # Readable when the reaper has the main process's status (see _reap_main).
                ended = self.reaper.fileno()
                listener = self._receive_listener(ours, ended)
                ours.close()
                if listener >= 0:
                    self._tune(listener)
                    self.live.started = time.monotonic()
                    t0 = time.monotonic()
                    self._loop(listener, ended)
                    duration = time.monotonic() - t0
                    self.reaper.wait_end()
            finally:
                ours.close()
                theirs.close()
                if listener >= 0:
                    os.close(listener)
                if self.reaper is not None:
                    # Before the end of the tree (an exception, no handover): the reaper kills it.
                    self.reaper.close()
        pipe.check(self.path, "notify")
        if listener < 0:
            raise RecordError("the workload did not hand over its seccomp listener: "
                              f"{self.handover_problem}",
                              hint="the notify backend")
        return duration

    def _spawn(self, pipe: ErrorPipe, sock: int) -> int:
        env = self.options.env if self.options.env is not None else dict(os.environ)
        k1, k2, k3 = (ctypes.c_ulong(k) for k in self.key)
        failed = ctypes.create_string_buffer(setup_message(0, "hand over the seccomp listener"))
        nr_seccomp, nr_sendmsg = ctypes.c_long(_nr("seccomp")), ctypes.c_long(_nr("sendmsg"))
        nr_write, nr_exit = ctypes.c_long(_nr("write")), ctypes.c_long(_nr("exit_group"))
        byte = ctypes.create_string_buffer(b"L", 1)
        iov = Iovec(ctypes.addressof(byte), 1)
        control = ctypes.create_string_buffer(socket.CMSG_SPACE(4))
        msg = Msghdr(None, 0, ctypes.addressof(iov), 1, ctypes.addressof(control),
                      len(control.raw), 0)
        nr_execve = ctypes.c_long(_nr("execve"))
        # Every argument of the calls made after the filter is loaded exists before it is: from
        # then on any syscall of the child (an mmap for a new allocator arena, say) would wait for
        # a supervisor that does not have the listener yet, and the handover would hang.
        c_sock, c_zero, c_msg = ctypes.c_long(sock), ctypes.c_long(0), ctypes.byref(msg)
        c_err_w, c_failed_len = ctypes.c_long(pipe.w), ctypes.c_long(len(failed.value))
        c_status = ctypes.c_long(127)
        c_filter_mode = ctypes.c_long(SECCOMP_SET_MODE_FILTER)
        c_filter_flags = ctypes.c_long(SECCOMP_FILTER_FLAG_NEW_LISTENER)
        c_fprog = ctypes.c_void_p(self._program.address)
        exec_failed = ctypes.create_string_buffer(8)
        # execve's arguments, ready before the filter is loaded: once it is, every call the
        # child makes other than the keyed ones waits for us.
        c_path = ctypes.c_char_p(os.fsencode(self.path))
        c_argv = string_array([os.fsencode(a) for a in self.argv])
        c_envp = string_array([os.fsencode(k) + b"=" + os.fsencode(v) for k, v in env.items()])
        reaper = spawn()
        if reaper is None:  # the workload: nothing here may return or raise into the caller's code
            probe = -1

            def steps() -> None:
                nonlocal probe
                if self.options.cwd:
                    os.chdir(self.options.cwd)
                if self.set_nnp and (err := set_no_new_privs()):
                    raise ChildSetupError("set no_new_privs", err)
                # The listener gets the lowest free fd: find it now, while calls are free.
                probe = os.open("/dev/null", os.O_RDONLY | os.O_CLOEXEC)
                os.close(probe)
                struct.pack_into("=QiiI", control, 0, socket.CMSG_LEN(4), socket.SOL_SOCKET,
                                 socket.SCM_RIGHTS, probe)

            run_steps(pipe, steps)
            try:
                gc.disable()  # no collection (freeing an arena is a munmap) in the window below
                listener = syscall(nr_seccomp, c_filter_mode, c_filter_flags, c_fprog)
                if listener < 0:
                    pipe.setup_failed(ctypes.get_errno(), "load the seccomp filter")
                # From here on every call waits for the supervisor, except the keyed ones, until
                # the listener is handed over: no allocation, no new objects (fds are small ints,
                # which Python caches) and nothing but prebuilt arguments.
                if listener != probe:  # cannot happen in a one-thread child; kept for safety
                    struct.pack_into("=i", control, 16, listener)
                if syscall(nr_sendmsg, c_sock, c_msg, c_zero, k1, k2, k3) != 1:
                    syscall(nr_write, c_err_w, failed, c_failed_len, k1, k2, k3)
                    syscall(nr_exit, c_status, c_zero, c_zero, k1, k2, k3)
                # The filter never lets execve through by the key: it is notified (the first
                # call we count) or, with ``known``, allowed as the profile says.
                syscall(nr_execve, c_path, c_argv, c_envp)
                exec_failed.value = exec_message(ctypes.get_errno())
                syscall(nr_write, c_err_w, exec_failed, ctypes.c_long(len(exec_failed.value)),
                        k1, k2, k3)
                syscall(nr_exit, c_status, c_zero, c_zero, k1, k2, k3)
            except BaseException:
                pipe.setup_failed(0, "set up the child")
            os._exit(127)
        # The execve that starts the workload is counted under the program it starts.
        self.reaper = reaper
        pid = reaper.main_pid
        self.main_token = self.raw.new_token(pid, os.path.realpath(self.path))
        self.raw.processes[pid] = ProcessState(pid=pid, ppid=reaper.pid, exes=[])
        self.live.processes_alive = 1
        self.live.total = lambda: self.raw.total
        self.live.distinct = lambda: self.raw.distinct
        return pid

    def _receive_listener(self, sock: socket.socket, ended: int) -> int:
        """The listener fd the child sends, or -1 if it ended (``ended`` is readable: the
        reaper has its status) or hung without sending it."""
        poller = select.poll()
        poller.register(sock.fileno(), select.POLLIN)
        poller.register(ended, select.POLLIN)
        deadline = time.monotonic() + HANDOVER_TIMEOUT_S
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                self.handover_problem = f"no listener within {HANDOVER_TIMEOUT_S:.0f} s"
                return -1
            ready = dict(poller.poll(left * 1000))
            if sock.fileno() in ready:
                _, fds, _, _ = socket.recv_fds(sock, 1, 1)
                if fds:
                    for extra in fds[1:]:
                        os.close(extra)
                    return fds[0]
                return -1
            if ended in ready:
                self._reap_main()
                assert self.main_status is not None
                self.handover_problem = (f"it ended first (exit status "
                                         f"{self.main_status.shell_status})")
                return -1

    def _tune(self, listener: int) -> None:
        """Ask the kernel to switch to us on the caller's CPU (Linux 6.6+; optional)."""
        with contextlib.suppress(OSError):
            if ioctl(listener, ctypes.c_ulong(SECCOMP_IOCTL_NOTIF_SET_FLAGS),
                      ctypes.c_ulong(SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP)) != 0:
                self.notes.append("the kernel lacks SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP "
                                  "(Linux 6.6+): notifications wake the supervisor anywhere")

    # -- the supervisor ---------------------------------------------------------------------------

    def _loop(self, listener: int, ended: int) -> None:
        """Answer notifications until no task uses the filter and the reaper has told the main
        process's status (``ended`` is readable then)."""
        if self.supervisor is not None:
            self._loop_c(self.supervisor, listener, ended)
        else:
            self._loop_python(listener, ended)

    def _loop_python(self, listener: int, ended: int) -> None:
        """The fallback supervisor: everything in Python (~13 us per call)."""
        buf = ctypes.create_string_buffer(NOTIF.size)
        resp = ctypes.create_string_buffer(NOTIF_RESP.size)
        NOTIF_RESP.pack_into(resp, 0, 0, 0, 0, SECCOMP_USER_NOTIF_FLAG_CONTINUE)
        view = memoryview(buf).cast("B")
        c_listener = ctypes.c_int(listener)
        c_recv, c_send = ctypes.c_ulong(SECCOMP_IOCTL_NOTIF_RECV), ctypes.c_ulong(
            SECCOMP_IOCTL_NOTIF_SEND)
        c_buf, c_resp = ctypes.c_void_p(ctypes.addressof(buf)), ctypes.c_void_p(
            ctypes.addressof(resp))
        ioctl_, memset, size = ioctl, ctypes.memset, NOTIF.size
        unpack_head, pack_id = NOTIF_HEAD.unpack_from, struct.Struct("=Q").pack_into
        account = self._account
        poller = select.poll()
        poller.register(listener, select.POLLIN)
        poller.register(ended, select.POLLIN)
        poll = poller.poll
        hung_up = False
        while not hung_up or self.main_status is None:
            for fd, ev in poll():
                if fd == ended:
                    self._reap_main()
                    poller.unregister(ended)
                    continue
                if not ev & select.POLLIN:
                    if ev & (select.POLLHUP | select.POLLERR):
                        hung_up = True
                        poller.unregister(listener)
                    continue
                memset(c_buf, 0, size)
                if ioctl_(c_listener, c_recv, c_buf) != 0:
                    err = ctypes.get_errno()
                    if err in (errno.EINTR, errno.ENOENT):
                        continue  # a signal; a caller killed before we read its call
                    raise RecordError(f"seccomp notification receive failed: {os.strerror(err)}")
                nid, tid, nr, audit = unpack_head(view, 0)
                account(tid, audit, nr, view)
                pack_id(resp, 0, nid)
                if ioctl_(c_listener, c_send, c_resp) != 0:
                    err = ctypes.get_errno()
                    if err not in (errno.ENOENT, errno.EINTR):
                        raise RecordError(
                            f"seccomp notification answer failed: {os.strerror(err)}")

    def _account(self, tid: int, audit: int, nr: int, view: memoryview) -> int | None:
        """Count one call (its thread still waits for the answer), as both loops do; the site
        id if it is the first call of (arch, nr, site) in the run (its caller's stack is
        sampled then), else None."""
        token = self.tid_token.get(tid)
        if token is None:
            token = self._adopt(tid, audit, nr)
        self.raw.count(audit, nr, token, NO_RESULT)
        ip = NOTIF_IP.unpack_from(view, NOTIF_IP_OFFSET)[0]
        sid = self.resolver.cache.get((token, ip))
        if sid is None:
            sid = self.resolver.site(token, self.raw.tokens[token][0], ip)
        key = (audit, nr, sid)
        n = self.raw.site_calls.get(key, 0)
        self.raw.site_calls[key] = n + 1
        if not n:
            self._first_at_site(tid, token, key, ip)
        if (audit, nr) not in self.no_args:
            self._special(tid, token, audit, nr, view)
        return None if n else sid

    def _first_at_site(self, tid: int, token: int, key: tuple[int, int, int], ip: int) -> None:
        """The first call of (arch, nr, site) in the run: sample the waiting thread's stack
        (sp from /proc/TID/syscall, no bp), to find its caller after the run. Best effort: a
        thread gone or interrupted meanwhile has no sample."""
        if self.samples.wanted():
            tgid = self.raw.tokens[token][0]
            # An i386 call from 64-bit code (int 0x80 in an x86_64 program) is 64-bit code.
            bits = 32 if key[0] == AUDIT_ARCH_I386 and ip <= 0xFFFFFFFF else 64
            self.samples.add(key, take_blocked_sample(tid, tgid, key[1], ip, bits,
                                                      self.samples.maps_for(key, tgid)), token)

    def _loop_c(self, sup: CSupervisor, listener: int, ended: int) -> None:
        """The compiled supervisor answers what it can; the rest comes back here (see
        ``notify_supervisor.c``). Its counts and argument rows are merged when it ends."""
        lib = sup.lib
        wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            old_wakeup: int | None = signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)
        except ValueError:  # not the main thread: signals cannot reach us anyway
            old_wakeup = None
        st = ctypes.c_void_p()
        # Calls C answered, for the status line (another thread): Python-owned, so reading it
        # stays safe after the C state is freed.
        answered = ctypes.c_uint64(0)
        raw = self.raw
        self.live.total = lambda: raw.total + answered.value
        try:
            rc = lib.sgen_notify_new(listener, ended, wake_r if old_wakeup is not None else -1,
                                     ARG_VALUE_CAP + 1, ctypes.byref(answered),
                                     ctypes.byref(st))
            if rc < 0:
                raise RecordError(f"cannot start {SUPERVISOR}: {os.strerror(-rc)}")
            self._run_c(lib, st, listener, ended, wake_r)
            self.live.total = lambda: raw.total
            self._merge_c(lib, st)
        finally:
            if old_wakeup is not None:
                signal.set_wakeup_fd(old_wakeup)
            if st:
                lib.sgen_notify_free(st)
            os.close(wake_r)
            os.close(wake_w)
            self.on_forget = lambda tid: None

    def _run_c(self, lib: ctypes.CDLL, st: ctypes.c_void_p, listener: int, ended: int,
               wake_r: int) -> None:
        """Let C answer until the run ends; do here what it hands back."""
        run = lib.sgen_notify_run
        self.on_forget = lambda tid: self._check_c(lib, st, lib.sgen_set_tid(st, tid, -1))
        size = int(lib.sgen_notify_buffer_size(st))
        view = memoryview((ctypes.c_char * size).from_address(lib.sgen_notify_buffer(st)))
        view = view.cast("B")
        unpack_head, unpack_ip = NOTIF_HEAD.unpack_from, NOTIF_IP.unpack_from
        classified: set[tuple[int, int]] = set()
        hung_up = False
        try:
            while not hung_up or self.main_status is None:
                ev = run(st)
                if ev == _EV_NOTIF:
                    self._take_rows(lib, st)  # rows of earlier calls first: same order as C's
                    _, tid, nr, audit = unpack_head(view, 0)
                    first = self._account(tid, audit, nr, view)
                    self._check_c(lib, st, lib.sgen_notify_answer(st))
                    if first is not None:  # C counts its later calls (from any process)
                        self._check_c(lib, st, lib.sgen_set_site_call(st, audit, nr, first))
                    token = self.tid_token.get(tid)
                    if token is not None:
                        self._check_c(lib, st, lib.sgen_set_tid(st, tid, token))
                        ip = unpack_ip(view, NOTIF_IP_OFFSET)[0]
                        sid = self.resolver.cache.get((token, ip))
                        if sid is not None:  # None: [unknown], asked again at the next call
                            self._check_c(lib, st, lib.sgen_set_site(st, token, ip, sid))
                    if (audit, nr) not in classified and self._teach(lib, st, audit, nr):
                        classified.add((audit, nr))
                elif ev == _EV_PIDFD:
                    self._reap_main()
                    lib.sgen_notify_unwatch(st, ended)
                elif ev == _EV_HUP:
                    hung_up = True
                    lib.sgen_notify_unwatch(st, listener)
                elif ev == _EV_SIGNAL:
                    # CPython runs the handlers (_on_signal) once we are back in bytecode.
                    with contextlib.suppress(BlockingIOError):
                        while os.read(wake_r, 512):
                            pass
                elif ev == _EV_IDLE:
                    break
                else:
                    self._check_c(lib, st, ev)
        finally:
            view.release()

    def _teach(self, lib: ctypes.CDLL, st: ctypes.c_void_p, audit: int, nr: int) -> bool:
        """Tell C how to count (audit, nr) from now on, as :meth:`_special` decided; whether
        that is final."""
        key = (audit, nr)
        spec = self.arg_watch.get(key)
        idx: list[int] = []
        if key in self.no_args:
            kind = CALL_COUNT
        elif key in self.execs:
            return True  # every exec comes to Python: it changes the executable
        elif spec is None:
            return False  # not classified yet
        elif not spec:
            kind = CALL_COUNT
        elif all(i is not None for _, i in spec) and len(spec) <= 2:
            kind, idx = CALL_ARGS, [i for _, i in spec if i is not None]
        else:
            return True  # read from memory (clone3's flags): Python, every time
        idx += [0] * (2 - len(idx))
        self._check_c(lib, st, lib.sgen_set_call(st, audit, nr, kind, len(spec or ()), *idx))
        return True

    def _take_rows(self, lib: ctypes.CDLL, st: ctypes.c_void_p) -> None:
        """Fold the argument rows C queued (distinct, in arrival order) into the sets."""
        taught.take_rows(lib, st, self.raw)

    def _merge_c(self, lib: ctypes.CDLL, st: ctypes.c_void_p) -> None:
        """Add what C counted to the recording (every key it counted is known here already)."""
        taught.merge(lib, st, self.raw)

    @staticmethod
    def _check_c(lib: ctypes.CDLL, st: ctypes.c_void_p, rc: int) -> None:
        """Raise the error a negative return of the C supervisor stands for."""
        if rc >= 0:
            return
        op = _FAILED_OPS.get(int(lib.sgen_notify_failed_op(st)), "call")
        raise RecordError(f"seccomp notification {op} failed: {os.strerror(-rc)}",
                          hint=SUPERVISOR)

    def _reap_main(self) -> None:
        """The main process's status, from the reaper (its message is there: it was polled)."""
        if self.main_status is None and self.reaper is not None:
            self.main_status = ExitStatus.from_wait_status(self.reaper.wait_main())
            self.raw.processes[self.main_pid].exit = self.main_status

    def _adopt(self, tid: int, audit: int, nr: int) -> int:
        """The token of a thread seen for the first time, or of one whose process exec'd since
        its last call."""
        if tid == self.main_pid and not self.main_seen:
            # The workload's first call: its execve (counted under the program it starts, as
            # the other backends do), or, when the filter allows execve, a call after it.
            self.main_seen = True
            token = self.tid_token[tid] = self.main_token
            if (audit, nr) not in self.execs and not is_exec(audit, nr):
                self.exec_pending[tid] = self.tid_token.pop(tid)
                token = self._adopt(tid, audit, nr)
            return token
        pending = self.exec_pending.pop(tid, None)
        if pending is not None:  # an execve ran in this process: is it another executable now?
            token = pending
            tgid, exe = self.raw.tokens[token]
            now = exe_of(tid)
            proc = self.raw.processes[tgid]
            if proc.exes and now == exe:  # the execve failed
                self.tid_token[tid] = token
                return token
            proc.exes.append(now)
            token = self._new_token(tgid, now)
            self.tid_token[tid] = token
            return token
        fields = status_fields(tid)
        tgid = int(fields.get("Tgid", tid))
        ppid = int(fields.get("PPid", 0)) or None
        leader = self.tid_token.get(tgid)
        if tgid != tid and leader is not None:
            self.raw.processes[tgid].threads += 1
            token = leader
        else:
            exe = exe_of(tgid)
            token = self._new_token(tgid, exe)
            self.raw.processes[tgid] = ProcessState(pid=tgid, ppid=ppid, exes=[exe])
            self.tid_token[tgid] = token
            self.live.processes_alive = len(self.raw.processes)
        self.tid_token[tid] = token
        return token

    def _new_token(self, tgid: int, exe: str) -> int:
        """A token for a new process or executable; the mappings read for ``tgid`` before (the
        old executable's, or a reused pid's) are dropped. This backend sees no exits, so the
        resolver keeps the mappings of the last :data:`MAPS_KEPT` processes only: one evicted
        while it lives reads its maps again at its next new call site."""
        self.resolver.forget(tgid)
        self.mapped.pop(tgid, None)
        self.mapped[tgid] = None
        if len(self.mapped) > MAPS_KEPT:
            oldest = next(iter(self.mapped))
            del self.mapped[oldest]
            self.resolver.forget(oldest)
        return self.raw.new_token(tgid, exe)

    def _special(self, tid: int, token: int, audit: int, nr: int, view: memoryview) -> None:
        """Arguments of watched calls, and execs (which change the executable)."""
        key = (audit, nr)
        spec = self.arg_watch.get(key)
        if spec is None:
            arch = arch_name(audit, nr)
            name = syscall_name(arch, nr)
            if name in ("execve", "execveat"):
                self.execs.add(key)
            found = fields_for(arch, name)
            if found is None and key not in self.execs:
                self.no_args.add(key)
                return
            spec = self.arg_watch[key] = found or ()
        if key in self.execs:
            # Every thread of the process looks at its executable again at its next call.
            for t, tok in list(self.tid_token.items()):
                if tok == token:
                    self.exec_pending[t] = self.tid_token.pop(t)
                    self.on_forget(t)
            return
        if not spec:
            return
        values = NOTIF_ARGS.unpack_from(view, NOTIF_ARGS_OFFSET)
        row = tuple(values[idx] if idx is not None else _clone3_flags(tid, values[0])
                    for _, idx in spec)
        self.raw.add_args(key, row)

    def _on_signal(self, sig: int, _frame: FrameType | None) -> None:
        """Pass a user's Ctrl-C / SIGTERM on to the workload, once (see TraceSession)."""
        if self.reaper is None:
            self.pending.append(sig)  # the workload does not exist yet: it gets it at its start
            return
        if self.reaper.main_alive():
            self.reaper.forward(sig)
            return
        if self.reaper.ended:
            return  # nothing of the tree is left (and its pids may be others' by now)
        others = set(self.raw.processes) | self.reaper.children()
        for tgid in sorted(others - {self.main_pid}):
            with contextlib.suppress(ProcessLookupError):
                os.kill(tgid, sig)


def _clone3_flags(tid: int, addr: int) -> int:
    """clone3's flags, the first u64 of struct clone_args in the caller's memory (all bits set
    when it cannot be read: /proc/PID/mem needs ptrace access)."""
    try:
        fd = os.open(f"/proc/{tid}/mem", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return 0xFFFFFFFFFFFFFFFF
    try:
        data = os.pread(fd, 8, addr)
    except OSError:
        return 0xFFFFFFFFFFFFFFFF
    finally:
        os.close(fd)
    return int.from_bytes(data, "little") if len(data) == 8 else 0xFFFFFFFFFFFFFFFF
