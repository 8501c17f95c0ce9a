"""The ebpf recorder: bpftrace on the raw_syscalls tracepoint, counting in the kernel.

No stops, no filter in the workload: a BPF program on ``tracepoint:raw_syscalls:sys_enter``
counts every call of the workload's process tree in a kernel map, and the map is read once, when
the run is over. Here that costs ~1 us per call plus a fixed ~1.5 s (bpftrace compiling and
attaching its program, then printing the maps). Root only; never chosen by ``auto``.

The program (:data:`SCRIPT`, driven through the ``bpftrace`` command of the Debian package):

* ``@tree[tid]`` holds every thread of the workload. It is seeded with the child's pid; a task
  created by a thread of the tree (``task:task_newtask``, which fires in the parent before the
  new task can run) joins it; ``sched:sched_process_exec`` carries membership over a de_thread
  (a non-leader thread that execs takes the leader's pid); ``sched:sched_process_exit`` removes a
  thread, so a recycled pid is never mistaken for ours.
* ``@c[tgid, self_exec_id, id, compat]`` counts calls. ``self_exec_id`` goes up by one at every
  execve and is inherited at fork, so (tgid, self_exec_id) names one program's lifetime in one
  process (``@exe`` maps it to the path given to execve): per-executable attribution without any
  per-call event.
* ``@fork[tid] = (parent tgid, is_thread)`` (CLONE_THREAD) gives the process tree and thread
  counts; ``@exit[tgid]`` the wait status of each process (its leader's ``exit_code``).

**Arch.** The tracepoint gives the syscall number but not its ABI. On x86_64 the kernel sets
``TS_COMPAT`` (0x0002) in ``current->thread_info.status`` on entry of every 32-bit call
(``int $0x80``, sysenter, a 32-bit syscall instruction) before the tracepoint runs and clears it
on return to user mode; ``in_ia32_syscall()``, which gives seccomp and audit their AUDIT_ARCH,
reads exactly that bit. So a call is i386 when the bit is set (also an ``int $0x80`` from a
64-bit program), x32 when its number has ``__X32_SYSCALL_BIT``, x86_64 otherwise: the same
attribution as PTRACE_GET_SYSCALL_INFO. The bit is read through the kernel's BTF; where there is
no BTF, or the host is not x86_64, the backend is unavailable rather than guessing.

**Start and end.** The child is forked first and blocks reading a pipe; bpftrace is started with
its pid; it attaches its probes in program order, and the last probe answers a marker call of
ours (``getpgid(MAGIC)``), so when "READY" arrives every probe is attached. Only then is the child
released to exec the workload: nothing is missed. Calls of the child before its execve are
dropped, except the execve itself, as in the other backends. Orphans of the workload are
re-parented to us (child subreaper) and waited for. When the whole tree has ended, bpftrace gets
SIGINT and prints its maps. A map that fills up (``BPFTRACE_MAP_KEYS_MAX``) is said in the header.

What it cannot see: arguments and return values (``records_args``/``records_results`` false);
executables are named by the path given to execve (resolved when absolute), so a ``#!`` script is
named itself rather than its interpreter.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import select
import shutil
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

import pyseccomp

from ..aggregate import UNRETURNED, ProcessState, RawRecording, build_trace
from ..arch import arch_name, host_arch, syscall_name
from ..errors import CommandNotExecutable, RecordError
from ..model import ExitStatus, Trace
from .base import LiveStats, RecordOptions, recording_header, resolve_command
from .session import FORWARDED_SIGNALS, is_exec, read_status_fields

AUDIT_ARCH_X86_64 = int(pyseccomp.Arch.X86_64)
AUDIT_ARCH_I386 = int(pyseccomp.Arch.X86)
#: x86 ``TS_COMPAT``: "32bit syscall active" in ``thread_info.status`` (arch/x86 thread_info.h).
TS_COMPAT = 0x0002
CLONE_THREAD = 0x00010000
#: The argument of the marker ``getpgid`` call that tells us every probe is attached.
MAGIC = 0x7EAD
#: Keys per map (bpftrace's default is 4096: a few hundred processes would fill it).
MAP_KEYS_MAX = 1 << 18
#: Longest executable path kept (bpftrace's maximum string length).
STRLEN = 200
TRACEFS = "/sys/kernel/tracing"
READY_TIMEOUT_S = 60.0
#: SIGINTs sent to bpftrace at the end, and how long each waits for its maps.
STOP_ATTEMPTS, STOP_WAIT_S = 4, 30.0
PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER, PR_GET_CHILD_SUBREAPER = 36, 37

SCRIPT = f"""
BEGIN {{ @tree[$2] = 1; }}
tracepoint:raw_syscalls:sys_enter /@tree[tid]/ {{
  @c[pid, curtask->self_exec_id, args->id, curtask->thread_info.status & {TS_COMPAT}] = count();
}}
tracepoint:task:task_newtask /@tree[tid]/ {{
  @tree[args->pid] = 1;
  @fork[args->pid] = (pid, args->clone_flags & {CLONE_THREAD});
}}
tracepoint:sched:sched_process_exec /@tree[args->old_pid]/ {{
  @tree[args->pid] = 1;
  @exe[pid, curtask->self_exec_id] = str(args->filename);
}}
tracepoint:sched:sched_process_exit /@tree[args->pid]/ {{
  delete(@tree[args->pid]);
  if (args->pid == pid) {{ @exit[pid] = curtask->exit_code; }}
}}
tracepoint:syscalls:sys_enter_getpgid /pid == $1 && args->pid == {MAGIC}/ {{
  printf("READY\\n");
}}
END {{ clear(@tree); }}
"""

NOTE_NO_ARGS = (
    "arguments and return values are not recorded by the ebpf backend (calls are counted in the "
    "kernel at syscall entry): args and results are empty; record with --backend seccomp or "
    "ptrace to see them"
)
NOTE_EXE = (
    "executables are named by the path given to execve (ebpf backend): a #! script is named "
    "itself, not its interpreter"
)

_COUNT = re.compile(r"^@c\[(\d+), (\d+), (-?\d+), (\d+)\]: (\d+)$")
_EXE = re.compile(r"^@exe\[(\d+), (\d+)\]: (.*)$")
_FORK = re.compile(r"^@fork\[(\d+)\]: \((\d+), (\d+)\)$")
_EXIT = re.compile(r"^@exit\[(\d+)\]: (-?\d+)$")
#: bpftrace's harmless complaint on kernels that account BPF memory to the cgroup.
_NOISE = re.compile(r"RLIMIT_MEMLOCK|^Attaching \d+ probes?\.\.\.$")

_libc = ctypes.CDLL(None, use_errno=True)
_prctl = _libc.prctl
_prctl.argtypes = (ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong)
_prctl.restype = ctypes.c_int


def _tracefs_ready() -> str | None:
    """Mount tracefs if it is not (root only); None when the raw_syscalls tracepoint is there."""
    events = Path(TRACEFS, "events")
    if not events.is_dir():
        mount = _libc.mount
        mount.argtypes = (ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong,
                          ctypes.c_void_p)
        if mount(b"nodev", TRACEFS.encode(), b"tracefs", 0, None) != 0:
            err = ctypes.get_errno()
            return (f"tracefs is not mounted and cannot be mounted on {TRACEFS}: "
                    f"{os.strerror(err)} (mount -t tracefs nodev {TRACEFS})")
    if not (events / "raw_syscalls" / "sys_enter").is_dir():
        return "the kernel has no raw_syscalls tracepoints (CONFIG_FTRACE_SYSCALLS)"
    return None


def ebpf_unavailable() -> str | None:
    """Why the ebpf backend cannot run here, in one line, or None."""
    if host_arch() != "x86_64":
        return (f"tells 32-bit calls from 64-bit ones only on x86_64 (TS_COMPAT), not on "
                f"{host_arch()}")
    if os.geteuid() != 0:
        return "needs root (bpftrace loads BPF programs)"
    if shutil.which("bpftrace") is None:
        return "bpftrace is not installed (apt-get install bpftrace)"
    if not os.path.exists("/sys/kernel/btf/vmlinux"):
        return "the kernel has no BTF (/sys/kernel/btf/vmlinux): a call's ABI cannot be read"
    return _tracefs_ready()


class EbpfRecorder:
    """Records a command and its descendants with bpftrace counting in the kernel."""

    name = "ebpf"
    supports_known = False

    def unavailable(self) -> str | None:
        """Why this backend cannot run here, or None."""
        return ebpf_unavailable()

    def record(self, argv: Sequence[str], options: RecordOptions, live: LiveStats) -> Trace:
        """Run ``argv`` with the counting program attached until its whole tree has ended."""
        why = ebpf_unavailable()
        if why is not None:
            raise RecordError(f"backend ebpf is unavailable: {why}")
        if options.known is not None:
            raise RecordError("backend ebpf cannot skip known syscalls",
                              hint="--known needs the seccomp or log backend")
        path = resolve_command(argv, options.env)
        return _EbpfSession(argv, path, options, live).run()


@dataclass
class Maps:
    """What bpftrace printed at the end."""

    calls: dict[tuple[int, int, int, int], int] = field(default_factory=dict)
    exes: dict[tuple[int, int], str] = field(default_factory=dict)
    forks: dict[int, tuple[int, bool]] = field(default_factory=dict)
    exits: dict[int, int] = field(default_factory=dict)


def parse_maps(text: str) -> Maps:
    """Parse bpftrace's printout of ``@c``, ``@exe`` and ``@fork``."""
    maps = Maps()
    for line in text.splitlines():
        if m := _COUNT.match(line):
            tgid, gen, nr, compat, n = (int(g) for g in m.groups())
            key = (tgid, gen, nr, compat)
            maps.calls[key] = maps.calls.get(key, 0) + n
        elif m := _EXE.match(line):
            maps.exes[(int(m.group(1)), int(m.group(2)))] = m.group(3)
        elif m := _FORK.match(line):
            maps.forks[int(m.group(1))] = (int(m.group(2)), m.group(3) != "0")
        elif m := _EXIT.match(line):
            maps.exits[int(m.group(1))] = int(m.group(2))
    return maps


def call_arch(nr: int, compat: int) -> int:
    """AUDIT_ARCH of a call from its number and the TS_COMPAT bit (x32 is told by the number)."""
    return AUDIT_ARCH_I386 if compat & TS_COMPAT else AUDIT_ARCH_X86_64


class _EbpfSession:
    """One run: the held child, bpftrace, the wait, the maps."""

    def __init__(self, argv: Sequence[str], path: str, options: RecordOptions,
                 live: LiveStats) -> None:
        self.argv = list(argv)
        self.path = path
        self.options = options
        self.live = live
        self.main_pid = 0
        self.main_status: ExitStatus | None = None
        self.pinned_cpu: int | None = None
        self.bpftrace: subprocess.Popen[bytes] | None = None
        self.notes = [NOTE_NO_ARGS, NOTE_EXE]

    def run(self) -> Trace:
        started_wall = datetime.now(UTC)
        if self.options.pin:
            self.pinned_cpu = max(os.sched_getaffinity(0))
        output, duration = self._run_workload()
        trace = self._build(parse_maps(output), started_wall, duration)
        return trace

    # -- the child, bpftrace and the wait ---------------------------------------------------------

    def _run_workload(self) -> tuple[str, float]:
        gate_r, gate_w = os.pipe2(os.O_CLOEXEC)
        err_r, err_w = os.pipe2(os.O_CLOEXEC)
        old_handlers: dict[int, signal._HANDLER] = {}
        was_subreaper = ctypes.c_int(0)
        _prctl(PR_GET_CHILD_SUBREAPER, ctypes.addressof(was_subreaper), 0, 0, 0)
        before = _children()
        _prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
        pidfd = -1
        output = ""
        try:
            self.main_pid = self._spawn(gate_r, gate_w, err_w)
            os.close(gate_r)
            gate_r = -1
            os.close(err_w)
            err_w = -1
            self.bpftrace = self._start_bpftrace()
            for sig in FORWARDED_SIGNALS:
                old_handlers[sig] = signal.signal(sig, self._on_signal)
            self.live.processes_alive = 1
            self.live.started = time.monotonic()
            t0 = time.monotonic()
            os.write(gate_w, b"g")  # release the workload
            os.close(gate_w)
            gate_w = -1
            pidfd = os.pidfd_open(self.main_pid)
            self._wait(pidfd, before)
            duration = time.monotonic() - t0
            output = self._stop_bpftrace()
        finally:
            for signum, handler in old_handlers.items():
                signal.signal(signum, handler)
            for fd in (gate_r, gate_w, err_w, pidfd):
                if fd >= 0:
                    os.close(fd)
            if self.main_pid and self.main_status is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.main_pid, signal.SIGKILL)
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(self.main_pid, 0)
            if self.bpftrace is not None and self.bpftrace.returncode is None:
                self.bpftrace.kill()
                self.bpftrace.communicate()
            _prctl(PR_SET_CHILD_SUBREAPER, was_subreaper.value, 0, 0, 0)
        failure = os.read(err_r, 256)
        os.close(err_r)
        if failure:
            code = int(failure[1:]) if failure[1:].isdigit() else 0
            if failure[:1] == b"S":
                raise RecordError(f"could not set up the workload: {os.strerror(code)}",
                                  hint="the ebpf backend")
            raise CommandNotExecutable(f"{self.path}: cannot execute: {os.strerror(code)}")
        return output, duration

    def _spawn(self, gate_r: int, gate_w: int, err_w: int) -> int:
        env = self.options.env if self.options.env is not None else dict(os.environ)
        pid = os.fork()
        if pid == 0:  # child: nothing here may return or raise into the caller's code
            try:
                os.close(gate_w)
                for sig in (signal.SIGPIPE, signal.SIGXFSZ, *FORWARDED_SIGNALS):
                    signal.signal(sig, signal.SIG_DFL)
                if self.options.cwd:
                    os.chdir(self.options.cwd)
                if self.pinned_cpu is not None:
                    os.sched_setaffinity(0, {self.pinned_cpu})
                if os.read(gate_r, 1) != b"g":  # the recorder gave up before bpftrace was ready
                    os._exit(127)
            except OSError as exc:
                os.write(err_w, b"S%d" % (exc.errno or 0))
                os._exit(127)
            except BaseException:
                os.write(err_w, b"S0")
                os._exit(127)
            try:
                os.execve(self.path, self.argv, env)
            except OSError as exc:
                os.write(err_w, b"E%d" % (exc.errno or 0))
            except BaseException:
                os.write(err_w, b"E0")
            os._exit(127)
        return pid

    def _start_bpftrace(self) -> subprocess.Popen[bytes]:
        env = dict(os.environ, BPFTRACE_STRLEN=str(STRLEN), BPFTRACE_MAP_KEYS_MAX=str(MAP_KEYS_MAX))
        prctl, sigterm = _prctl, int(signal.SIGTERM)

        def die_with_us() -> None:
            prctl(PR_SET_PDEATHSIG, sigterm, 0, 0, 0)

        # Its own session: a Ctrl-C on the terminal must not end it before the workload.
        proc = subprocess.Popen(
            [shutil.which("bpftrace") or "bpftrace", "-e", SCRIPT, str(os.getpid()),
             str(self.main_pid)],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
            start_new_session=True, preexec_fn=die_with_us,
        )
        assert proc.stdout is not None
        fd = proc.stdout.fileno()
        deadline = time.monotonic() + READY_TIMEOUT_S
        seen = b""
        while b"READY\n" not in seen:
            with contextlib.suppress(OSError):
                os.getpgid(MAGIC)  # the marker: answered once the last probe is attached
            if select.select([fd], [], [], 0.01)[0]:
                chunk = os.read(fd, 4096)
                if not chunk:
                    proc.wait()
                    raise RecordError(f"bpftrace failed to start: {_stderr_line(proc)}",
                                      hint="the ebpf backend")
                seen += chunk
            if time.monotonic() > deadline:
                proc.kill()
                proc.wait()
                raise RecordError(f"bpftrace did not attach within {READY_TIMEOUT_S:.0f} s",
                                  hint="the ebpf backend")
        return proc

    def _stop_bpftrace(self) -> str:
        proc = self.bpftrace
        assert proc is not None
        if proc.poll() is not None:
            raise RecordError(f"bpftrace ended during the run (status {proc.returncode}): "
                              f"{_stderr_line(proc)}", hint="the ebpf backend")
        # SIGINT: bpftrace detaches, runs END and prints the maps. Once, under load, it did not
        # finish within 120 s; so ask again a few times before giving up.
        out = err = b""
        for attempt in range(STOP_ATTEMPTS):
            proc.send_signal(signal.SIGINT)
            try:
                out, err = proc.communicate(timeout=STOP_WAIT_S)
                break
            except subprocess.TimeoutExpired:
                if attempt == STOP_ATTEMPTS - 1:
                    proc.kill()
                    _, err = proc.communicate()
                    raise RecordError(
                        f"bpftrace did not print its maps within {STOP_ATTEMPTS * STOP_WAIT_S:.0f}"
                        f" s of SIGINT: {_first_error(err)}", hint="the ebpf backend") from None
        if proc.returncode != 0:
            raise RecordError(f"bpftrace exited with status {proc.returncode}: "
                              f"{_first_error(err)}", hint="the ebpf backend")
        for line in err.decode(errors="replace").splitlines():
            if line.strip() and not _NOISE.search(line):
                self.notes.append(f"bpftrace: {line.strip()}")
        return out.decode(errors="surrogateescape")

    def _wait(self, pidfd: int, before: set[int]) -> None:
        """Until the workload has ended, and every orphan of it (re-parented to us)."""
        assert self.bpftrace is not None
        ignore = before | {self.bpftrace.pid}
        while self.main_status is None:
            with contextlib.suppress(InterruptedError):
                select.select([pidfd], [], [], 1.0)
            got, status = os.waitpid(self.main_pid, os.WNOHANG)
            if got:
                self.main_status = ExitStatus.from_wait_status(status)
        while True:
            left = _children() - ignore - {self.main_pid}
            for pid in left:
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(pid, os.WNOHANG)
            alive = [p for p in left if read_status_fields(p).get("State", "Z")[:1] not in "ZX"]
            self.live.processes_alive = len(alive)
            if not alive:
                for pid in left:  # zombies that ended in between
                    with contextlib.suppress(ChildProcessError):
                        os.waitpid(pid, os.WNOHANG)
                return
            time.sleep(0.02)

    def _on_signal(self, sig: int, _frame: FrameType | None) -> None:
        """Pass a user's Ctrl-C / SIGTERM on to the workload, once (see TraceSession)."""
        pid = self.main_pid
        if not pid or self.main_status is not None:
            return
        fields = read_status_fields(pid)
        pending = int(fields.get("SigPnd", "0"), 16) | int(fields.get("ShdPnd", "0"), 16)
        if pending & (1 << (sig - 1)):
            return  # a Ctrl-C on the terminal already reached it
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)

    # -- the trace --------------------------------------------------------------------------------

    def _build(self, maps: Maps, started_wall: datetime, duration: float) -> Trace:
        raw = RawRecording()
        main = self.main_pid
        parents = {tid: parent for tid, (parent, thread) in maps.forks.items() if not thread}
        threads: dict[int, int] = {}
        for parent, thread in maps.forks.values():
            if thread:
                threads[parent] = threads.get(parent, 0) + 1
        exec_gens: dict[int, list[int]] = {}
        for tgid, gen in maps.exes:
            exec_gens.setdefault(tgid, []).append(gen)
        first_main_exec = min(exec_gens.get(main, [0]))

        def exe_of(tgid: int, gen: int, depth: int = 0) -> str:
            if (tgid, gen) in maps.exes:
                return _exe_path(maps.exes[(tgid, gen)])
            if tgid == main:
                return os.path.realpath(self.path)
            parent = parents.get(tgid)
            if parent is None or depth > 256:
                return "?"
            return exe_of(parent, gen, depth + 1)  # a fork inherits self_exec_id

        order = sorted({main, *parents, *(k[0] for k in maps.calls)},
                       key=lambda p: (p != main, p))
        for tgid in order:
            gens = sorted(exec_gens.get(tgid, []))
            ppid = os.getpid() if tgid == main else parents.get(tgid)
            exes = [_exe_path(maps.exes[(tgid, g)]) for g in gens]
            inherited = [k[1] for k in maps.calls if k[0] == tgid and k[1] not in gens]
            if tgid != main and inherited:  # what it ran from fork to its first execve
                exes.insert(0, exe_of(tgid, min(inherited)))
            status = maps.exits.get(tgid)
            raw.processes[tgid] = ProcessState(
                pid=tgid, ppid=ppid, exes=exes, threads=1 + threads.get(tgid, 0),
                exit=None if status is None else ExitStatus.from_wait_status(status & 0xFFFF))
        raw.processes[main].exit = self.main_status

        tokens: dict[tuple[int, int], int] = {}
        # Sorted so that the first token of a syscall is the earliest program that made it.
        for (tgid, gen, nr, compat), n in sorted(maps.calls.items()):
            audit = call_arch(nr, compat)
            if tgid == main and gen < first_main_exec and not is_exec(audit, nr):
                continue  # our child before its execve
            token = tokens.get((tgid, gen))
            if token is None:
                token = tokens[(tgid, gen)] = raw.new_token(tgid, exe_of(tgid, gen))
            key = (audit, nr, token, UNRETURNED)
            raw.calls[key] = raw.calls.get(key, 0) + n
            raw.first.setdefault((audit, nr), token)
        full = [name for name, size in (("@c", len(maps.calls)), ("@fork", len(maps.forks)))
                if size >= MAP_KEYS_MAX]
        if full:
            self.notes.append(f"bpftrace map {', '.join(full)} reached {MAP_KEYS_MAX} keys: "
                              "some calls or processes may be missing from this trace")
        if any(len(e) >= STRLEN - 1 for e in maps.exes.values()):
            self.notes.append(f"executable paths longer than {STRLEN - 1} bytes are truncated")
        header = recording_header(
            self.argv, "ebpf", pinned_cpu=self.pinned_cpu,
            started=started_wall.isoformat(timespec="seconds"), duration_s=duration,
            exit=self.main_status, notes=self.notes,
            records_args=False,
            records_results=False,
        )
        trace = build_trace(raw, header, arch_name, syscall_name)
        return replace(trace, syscalls=tuple(replace(r, args=None) for r in trace.syscalls))


def _exe_path(name: str) -> str:
    return os.path.realpath(name) if name.startswith("/") else name


def _children() -> set[int]:
    """The pids of this process's live or zombie children (every thread's)."""
    pids: set[int] = set()
    with contextlib.suppress(OSError):
        for tid in os.listdir("/proc/self/task"):
            with contextlib.suppress(OSError), open(f"/proc/self/task/{tid}/children") as fh:
                pids.update(int(p) for p in fh.read().split())
    return pids


def _first_error(err: bytes) -> str:
    lines = [ln.strip() for ln in err.decode(errors="replace").splitlines()
             if ln.strip() and not _NOISE.search(ln)]
    return lines[0] if lines else "no message"


def _stderr_line(proc: subprocess.Popen[bytes]) -> str:
    err = proc.stderr.read() if proc.stderr is not None else b""
    return _first_error(err)
