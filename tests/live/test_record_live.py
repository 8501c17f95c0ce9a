"""Live tests of the ptrace recorder and the CLI: real processes, no mocks.

Every child process runs in its own session with a timeout; on overrun its whole process group
is killed with SIGKILL (see :func:`run`). The recorder itself is run through the public API
``seccomp_gen.record`` in a helper Python process, so that it too can be timed out and so that the
workload gets exactly the same stdin/stdout/stderr/cwd/environment as under strace.

strace is the reference: ``strace -f -qq -e trace=all`` starts showing calls at the workload's
execve, exactly like the recorder, and both are pinned to the same CPU (the recorder with
``pin=True`` picks ``max(sched_getaffinity)``; strace gets ``taskset -c`` with that CPU).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

import seccomp_gen
from seccomp_gen import Trace

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="Linux only")

#: Seconds any single child may run before it (and its process group) is SIGKILLed.
TIMEOUT = 120

#: The CPU both tracers run on: the one ``record(pin=True)`` chooses in a process with our mask.
PIN_CPU = max(os.sched_getaffinity(0))

PYTHON = sys.executable
#: ``python3`` on PATH may be a pyenv shim (a bash script that runs pyenv, which execs the real
#: interpreter); the workload is the interpreter, so name it directly.
PY_LISTDIR = [PYTHON, "-c", 'import os,json; print(json.dumps(sorted(os.listdir("/"))))']

#: The CLI of the seccomp_gen this interpreter imports (not whatever `seccomp-gen` is on PATH).
CLI = [PYTHON, "-m", "seccomp_gen"]

_RECORD_HELPER = (
    "import sys, seccomp_gen\n"
    "known = sys.argv[4] or None\n"
    "trace = seccomp_gen.record(sys.argv[5:], pin=sys.argv[2] == 'pin', backend=sys.argv[3],\n"
    "                           known=known)\n"
    "seccomp_gen.dump_trace(trace, sys.argv[1])\n"
)

#: Names that strace spells differently from libseccomp (strace name -> libseccomp name).
#: Empty on purpose: for every workload below (x86_64, i386 and x32) strace 6.1 and libseccomp
#: 2.5 were found to use the same names, e.g. both say ``newfstatat``, ``pread64``,
#: ``ugetrlimit``, ``getuid32``. Add an entry here, with the reason, only when a workload makes
#: a call that the two tools name differently; never to hide a real difference.
STRACE_TO_LIBSECCOMP: dict[str, str] = {}

#: strace's "[ Process PID=N runs in X mode. ]" personality names -> libseccomp arch names.
STRACE_PERSONALITY = {"64 bit": "x86_64", "32 bit": "x86", "x32": "x32"}


# --- running children ----------------------------------------------------------------------------


def run(
    cmd: list[str],
    *,
    timeout: float = TIMEOUT,
    input: bytes | None = None,
    stdin: int | None = None,
    cwd: str | os.PathLike[str] | None = None,
) -> subprocess.CompletedProcess[bytes]:
    """Run ``cmd`` in a new session and collect its output; SIGKILL its group on overrun."""
    if input is not None:
        stdin = subprocess.PIPE
    elif stdin is None:
        stdin = subprocess.DEVNULL
    proc = subprocess.Popen(
        cmd, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=cwd,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(input, timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        pytest.fail(f"timed out after {timeout}s and was killed: {cmd}")
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        proc.kill()
    proc.communicate()


def record_api(
    cmd: list[str], tmp_path: Path, *, pin: bool = True, name: str = "api",
    backend: str = "ptrace", known: str | os.PathLike[str] | None = None,
) -> Trace:
    """``seccomp_gen.record(cmd, pin=pin, backend=backend, known=known)`` run in a helper process
    (stdio as for strace). These tests are the ptrace backend's (they check return values, which
    only it records), so that is the default here rather than ``auto``."""
    out = tmp_path / f"{name}.trace.json"
    res = run([PYTHON, "-c", _RECORD_HELPER, str(out), "pin" if pin else "nopin", backend,
               os.fspath(known) if known is not None else "", *cmd], cwd=tmp_path)
    assert res.returncode == 0, f"record helper failed: {res.stderr.decode(errors='replace')}"
    return seccomp_gen.load_trace(out)


_STRACE_CALL = re.compile(r"^(?:(\d+) +)?(?:<\.\.\. (\w+) resumed>|(\w+)\()")
_STRACE_PERSONALITY = re.compile(r"^(?:\d+ +)?\[ Process PID=(\d+) runs in (.+) mode\. \]$")
_STRACE_NOISE = re.compile(r"^(?:\d+ +)?(?:\+\+\+ |--- )")


def parse_strace(text: str) -> Counter[tuple[str, str]]:
    """Count (arch, name) of every call in ``strace -f -o`` output.

    A call split by another process's output appears as ``name(... <unfinished ...>`` and later
    ``<... name resumed>``: it is counted once, at its start. ``+++ exited``/``--- SIGCHLD``
    lines are events, not calls. strace announces a change of syscall ABI with
    ``[ Process PID=N runs in 32 bit mode. ]`` before the first call in the new mode. Anything
    else is an unparsable line and fails the test rather than being skipped silently.
    """
    counts: Counter[tuple[str, str]] = Counter()
    mode: dict[str | None, str] = {}
    for line in text.splitlines():
        if not line.strip() or _STRACE_NOISE.match(line):
            continue
        m = _STRACE_PERSONALITY.match(line)
        if m:
            arch = STRACE_PERSONALITY.get(m.group(2))
            assert arch is not None, f"unknown strace personality: {line!r}"
            mode[m.group(1)] = arch
            mode[None] = arch
            continue
        m = _STRACE_CALL.match(line)
        assert m, f"unparsable strace line: {line!r}"
        if m.group(2):  # "<... name resumed>": already counted when it started
            continue
        pid = m.group(1)
        arch = mode.get(pid, mode.get(None, "x86_64") if pid is None else "x86_64")
        name = STRACE_TO_LIBSECCOMP.get(m.group(3), m.group(3))
        counts[(arch, name)] += 1
    return counts


def strace_counts(cmd: list[str], tmp_path: Path, name: str = "strace") -> Counter[tuple[str, str]]:
    """Run ``cmd`` under ``taskset -c PIN_CPU strace -f -e trace=all``; count its calls."""
    if shutil.which("strace") is None or shutil.which("taskset") is None:
        pytest.skip("strace or taskset is not installed")
    out = tmp_path / f"{name}.out"
    # --quiet=attach,exit is -qq without "personality": strace must still say when a process
    # switches to the i386 or x32 ABI, or its calls could not be told apart from x86_64 ones.
    res = run(["taskset", "-c", str(PIN_CPU), "strace", "-f", "--quiet=attach,exit",
               "-e", "trace=all", "-o", str(out), *cmd], cwd=tmp_path)
    assert out.exists(), f"strace wrote nothing: {res.stderr.decode(errors='replace')}"
    return parse_strace(out.read_text(errors="replace"))


def counts_of(trace: Trace) -> Counter[tuple[str, str]]:
    return Counter({(r.arch, r.name): r.count for r in trace.syscalls})


def test_parse_strace_handles_interleaved_output() -> None:
    text = (
        "100   execve(\"/bin/x\", [\"x\"], 0x7ffe /* 3 vars */) = 0\n"
        "100   clone(child_stack=NULL, flags=SIGCHLD <unfinished ...>\n"
        "101   getpid( <unfinished ...>\n"
        "100   <... clone resumed>)         = 101\n"
        "101   <... getpid resumed>)        = 101\n"
        "100   --- SIGCHLD {si_signo=SIGCHLD, si_code=CLD_EXITED} ---\n"
        "101   +++ exited with 0 +++\n"
        "[ Process PID=100 runs in 32 bit mode. ]\n"
        "100   getuid32()                   = 0\n"
        "101   syscall_0x1c4(0, 0)          = -1 ENOSYS (Function not implemented)\n"
        "100   exit_group(0)                = ?\n"
    )
    assert parse_strace(text) == Counter({
        ("x86_64", "execve"): 1, ("x86_64", "clone"): 1, ("x86_64", "getpid"): 1,
        ("x86", "getuid32"): 1, ("x86_64", "syscall_0x1c4"): 1, ("x86", "exit_group"): 1,
    })
    with pytest.raises(AssertionError, match="unparsable"):
        parse_strace("this is not strace output\n")


# --- same syscalls as strace ---------------------------------------------------------------------

PIPELINE = ["sh", "-c", "cat /etc/passwd | sort | uniq -c | wc -l"]
DETERMINISTIC_WORKLOADS = {
    "ls": ["ls", "-la", "/"],
    "pipeline": PIPELINE,
    "forker": None,  # filled in from cbuild
    "python": PY_LISTDIR,
}


@pytest.mark.live
@pytest.mark.parametrize("workload", sorted(DETERMINISTIC_WORKLOADS))
def test_same_syscall_names_as_strace(workload: str, cbuild, tmp_path: Path) -> None:
    cmd = DETERMINISTIC_WORKLOADS[workload] or [cbuild[workload]]
    expected = strace_counts(cmd, tmp_path)
    trace = record_api(cmd, tmp_path)
    assert trace.header.exit == seccomp_gen.ExitStatus(code=0)
    assert trace.header.pinned_cpu == PIN_CPU
    got = counts_of(trace)
    assert {a for a, _ in got} == {"x86_64"}
    assert ("x86_64", "execve") in got
    only_strace = set(expected) - set(got)
    only_recorder = set(got) - set(expected)
    assert not only_strace and not only_recorder, (
        f"strace only: {sorted(only_strace)}; recorder only: {sorted(only_recorder)}"
    )


@pytest.mark.live
def test_threads_syscalls_match_strace_up_to_futex(cbuild, tmp_path: Path) -> None:
    """Threads are not deterministic: whether pthread_join (or a lock inside libc) has to wait
    in ``futex`` depends on how the threads were scheduled, so ``futex`` may be in one run and not
    in the other. Everything else the program does is unconditional and must match exactly."""
    cmd = [cbuild["threads"]]
    expected = strace_counts(cmd, tmp_path)
    trace = record_api(cmd, tmp_path)
    assert trace.header.exit == seccomp_gen.ExitStatus(code=0)
    got = counts_of(trace)
    must = {"execve", "openat", "clone3", "getpid", "write", "exit", "exit_group"}
    for names in (expected, got):
        present = {n for _, n in names}
        assert must <= present, f"missing {sorted(must - present)}"
        # glibc's nanosleep() may be the nanosleep or the clock_nanosleep syscall.
        assert present & {"nanosleep", "clock_nanosleep"}
    assert got[("x86_64", "getpid")] == expected[("x86_64", "getpid")] == 12
    assert got[("x86_64", "write")] == expected[("x86_64", "write")] == 12
    difference = set(expected) ^ set(got)
    assert difference <= {("x86_64", "futex")}, f"unexplained difference: {sorted(difference)}"


@pytest.mark.live
def test_exact_count_matches_strace(cbuild, tmp_path: Path) -> None:
    cmd = [cbuild["getppid_loop"], "20000"]
    trace = record_api(cmd, tmp_path)
    rec = trace.find("getppid", "x86_64")
    assert rec is not None
    assert rec.count == 20000
    assert rec.results == {"ok": 20000}
    assert rec.processes == 1
    assert strace_counts(cmd, tmp_path)[("x86_64", "getppid")] == 20000


@pytest.mark.live
def test_unpinned_recording(cbuild, tmp_path: Path) -> None:
    trace = record_api([cbuild["getppid_loop"], "2000"], tmp_path, pin=False)
    assert trace.header.pinned_cpu is None
    rec = trace.find("getppid", "x86_64")
    assert rec is not None and rec.count == 2000


# --- other ABIs ----------------------------------------------------------------------------------


@pytest.mark.live
def test_int80_and_x32_calls_are_named_with_their_own_tables(cbuild, tmp_path: Path) -> None:
    trace = record_api([cbuild["int80"]], tmp_path)
    assert trace.header.exit == seccomp_gen.ExitStatus(code=0)
    calls = trace.syscall_set()
    pid32 = trace.find("getpid", "x86")
    uid32 = trace.find("getuid32", "x86")
    pidx32 = trace.find("getpid", "x32")
    assert pid32 is not None and (pid32.nr, pid32.count, pid32.results) == (20, 1, {"ok": 1})
    assert uid32 is not None and (uid32.nr, uid32.count, uid32.results) == (199, 1, {"ok": 1})
    assert pidx32 is not None and pidx32.nr == 0x40000000 | 39 and pidx32.count == 1
    # Without CONFIG_X86_X32_ABI the kernel answers ENOSYS; with it, the call succeeds.
    assert pidx32.results in ({"ok": 1}, {"ENOSYS": 1})
    # Nothing was named with the wrong table: i386 20/199 are x86_64 writev/fremovexattr.
    assert ("x86_64", "getpid") not in calls
    assert ("x86_64", "writev") not in calls
    assert ("x86_64", "fremovexattr") not in calls
    assert {a for a, _ in calls} == {"x86_64", "x86", "x32"}
    # strace names them the same way, per personality.
    assert set(strace_counts([cbuild["int80"]], tmp_path)) == calls


@pytest.mark.live
def test_static_i386_program(cbuild, tmp_path: Path) -> None:
    exe = cbuild["hello32"]
    trace = record_api([exe], tmp_path)
    assert trace.header.exit == seccomp_gen.ExitStatus(code=0)
    # The execve that starts the workload is made by the recorder's 64-bit child, so it is an
    # x86_64 call (its entry is what is counted); everything after it is i386.
    execve = trace.find("execve")
    assert execve is not None
    assert (execve.arch, execve.count, execve.results) == ("x86_64", 1, {"ok": 1})
    others = trace.syscall_set() - {("x86_64", "execve")}
    assert others, "nothing recorded after execve"
    assert {a for a, _ in others} == {"x86"}, sorted(others)
    assert ("x86", "write") in others
    assert ("x86", "getpid") in others
    assert trace.find("write", "x86").nr == 4  # type: ignore[union-attr]
    assert ("x86", "exit_group") in others
    assert set(strace_counts([exe], tmp_path)) == trace.syscall_set()


# --- processes, threads, exec --------------------------------------------------------------------


@pytest.mark.live
def test_follows_fork_vfork_and_exec(cbuild, tmp_path: Path) -> None:
    exe = cbuild["forker"]
    trace = record_api([exe], tmp_path)
    assert trace.header.exit == seccomp_gen.ExitStatus(code=0)
    procs = trace.processes
    assert len(procs) >= 5  # the program, 3 forked children, 1 vforked child
    assert len({p.pid for p in procs}) == len(procs)
    main = procs[0]
    assert main.exes == (os.path.realpath(exe),)
    children = [p for p in procs if p.pid != main.pid]
    assert all(p.ppid == main.pid for p in children)
    assert all(p.exit == seccomp_gen.ExitStatus(code=0) for p in procs)
    true_exe = os.path.realpath("/bin/true")
    assert any(p.exes == (os.path.realpath(exe), true_exe) for p in children)
    assert true_exe in {e.exe for e in trace.exes}
    # Both execves are the forker's: the first is counted under the program it starts, the
    # child's is made by forker code. What runs after it belongs to /bin/true.
    execve = trace.find("execve", "x86_64")
    assert execve is not None and execve.count == 2 and execve.results == {"ok": 2}
    assert execve.exes == (os.path.realpath(exe),)
    by_exe = {e.exe: e for e in trace.exes}
    assert ("x86_64", "execve") not in by_exe[true_exe].syscalls
    assert by_exe[true_exe].syscalls[("x86_64", "exit_group")] == 1
    assert by_exe[true_exe].processes == 1
    getpid = trace.find("getpid", "x86_64")
    assert getpid is not None and getpid.count == 2 and getpid.processes == 2
    vfork = trace.find("vfork", "x86_64")
    assert vfork is not None and vfork.count == 1 and vfork.results == {"ok": 1}
    assert sum(p.syscalls for p in procs) == trace.total_calls


@pytest.mark.live
def test_threads_are_one_process(cbuild, tmp_path: Path) -> None:
    trace = record_api([cbuild["threads"]], tmp_path)
    assert len(trace.processes) == 1
    proc = trace.processes[0]
    assert proc.threads == 5  # main + 4 pthreads
    write = trace.find("write", "x86_64")
    assert write is not None and write.count == 12 and write.processes == 1


# --- arguments -----------------------------------------------------------------------------------

CLONE_VM, CLONE_THREAD = 0x100, 0x10000
SIGCHLD_, CLONE_CHILD_SETTID, CLONE_CHILD_CLEARTID = 17, 0x01000000, 0x00200000
SOCK_CLOEXEC = 0x80000
FIONREAD = 0x541B

SOCKET_SCRIPT = """
import ctypes, fcntl, socket, termios
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
a, b = socket.socketpair()
fcntl.ioctl(s.fileno(), termios.FIONREAD, bytes(4))
libc = ctypes.CDLL(None, use_errno=True)
assert libc.socket(socket.AF_INET, socket.SOCK_DGRAM, 0) >= 0
"""


@pytest.mark.live
def test_socket_and_ioctl_arguments(tmp_path: Path) -> None:
    trace = record_api([PYTHON, "-c", SOCKET_SCRIPT], tmp_path)
    assert trace.header.exit == seccomp_gen.ExitStatus(code=0)
    sock = trace.find("socket", "x86_64")
    assert sock is not None and sock.args is not None
    assert sock.args.fields == ("domain", "type")
    assert sock.args.indexes == (0, 1)
    # libc's socket(AF_INET, SOCK_DGRAM, 0) reaches the kernel as (2, 2); Python's socket
    # module always adds SOCK_CLOEXEC to the type.
    assert sock.args.values == {(2, 2), (2, 2 | SOCK_CLOEXEC)}
    pair = trace.find("socketpair", "x86_64")
    assert pair is not None and pair.args is not None
    assert pair.args.values == {(1, 1 | SOCK_CLOEXEC)}  # AF_UNIX, SOCK_STREAM
    ioctl = trace.find("ioctl", "x86_64")
    assert ioctl is not None and ioctl.args is not None
    assert ioctl.args.fields == ("request",)
    assert (FIONREAD,) in ioctl.args.values


@pytest.mark.live
def test_clone_flags(cbuild, tmp_path: Path) -> None:
    forker = record_api([cbuild["forker"]], tmp_path, name="forker")
    clone = forker.find("clone", "x86_64")
    assert clone is not None and clone.args is not None
    assert clone.args.fields == ("flags",) and clone.args.indexes == (0,)
    # glibc's fork(): clone(CLONE_CHILD_SETTID|CLONE_CHILD_CLEARTID|SIGCHLD)
    assert clone.args.values == {(CLONE_CHILD_SETTID | CLONE_CHILD_CLEARTID | SIGCHLD_,)}
    threads = record_api([cbuild["threads"]], tmp_path, name="threads")
    # pthread_create uses clone3 (glibc >= 2.34), whose flags are read from tracee memory.
    clone3 = threads.find("clone3", "x86_64")
    assert clone3 is not None and clone3.args is not None and clone3.args.indexes == (None,)
    assert len(clone3.args.values) == 1
    (flags,) = next(iter(clone3.args.values))
    assert flags & CLONE_VM and flags & CLONE_THREAD
    assert flags != 0xFFFFFFFFFFFFFFFF  # "unreadable" marker


# --- the CLI: exit status, signals, stdio --------------------------------------------------------


def cli(*args: str, **kw) -> subprocess.CompletedProcess[bytes]:
    return run([*CLI, *args], **kw)


# --- exit status and signals, under every backend ------------------------------------------------


def _backend_params(known_too: bool = False) -> list[Any]:
    """One parameter per recording backend (and, with ``known_too``, per backend that honours
    ``--known`` with a covering profile), skipped with the backend's own reason where it cannot
    run on this machine."""
    from seccomp_gen.recorders import BACKENDS, supports_known, unavailable_reasons

    reasons = unavailable_reasons()
    params = []
    for name in BACKENDS:
        skip = pytest.mark.skipif(reasons[name] is not None, reason=f"{name}: {reasons[name]}")
        params.append(pytest.param(name, False, marks=skip, id=name))
        if known_too and supports_known(name):
            params.append(pytest.param(name, True, marks=skip, id=f"{name}-known"))
    return params


def _record_argv(backend: str, known: bool, out: Path, cmd: list[str],
                 base_cmd: list[str] | None = None) -> list[str]:
    """``seccomp-gen record`` of ``cmd``; with ``known``, first record ``base_cmd`` (default:
    ``cmd``; a quick run of the same program) into a profile that covers it and pass that as
    ``--known`` (then almost nothing is recorded)."""
    extra: list[str] = []
    if known:
        base = out.with_suffix(".base.json")
        res = cli("record", "-q", "--backend", backend, "-o", str(base), "--", *(base_cmd or cmd))
        assert base.exists(), res.stderr
        extra = ["--known", str(base)]
    return [*CLI, "record", "-q", "--backend", backend, *extra, "-o", str(out), "--", *cmd]


@pytest.mark.live
@pytest.mark.parametrize(("backend", "known"), _backend_params(known_too=True))
@pytest.mark.parametrize(
    ("script", "status", "exit"),
    [
        ("exit 7", 7, seccomp_gen.ExitStatus(code=7)),
        ("exit 0", 0, seccomp_gen.ExitStatus(code=0)),
        ("kill -KILL $$", 137, seccomp_gen.ExitStatus(signal=9)),
    ],
)
def test_cli_exit_status(script: str, status: int, exit, backend: str, known: bool,
                         tmp_path: Path) -> None:
    out = tmp_path / "t.json"
    res = run(_record_argv(backend, known, out, ["sh", "-c", script]))
    assert res.returncode == status, res.stderr
    assert res.stderr == b""  # -q: nothing but errors
    trace = seccomp_gen.load_trace(out)
    assert trace.header.exit == exit
    assert trace.header.command == ("sh", "-c", script)
    assert trace.header.backend == backend


def _proc_stats() -> list[tuple[int, str, list[str]]]:
    """(pid, comm, the fields after comm) of every process in /proc/PID/stat."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                stat = fh.read()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        found.append((int(entry), comm, stat[stat.rindex(")") + 2 :].split()))
    return found


def _proc_descendants(ppid: int) -> list[tuple[int, str, str]]:
    """(pid, comm, state) of the live descendants of ``ppid``: the workload is the recorder's
    child under ptrace, its grandchild under the backends that start it through a reaper."""
    stats = _proc_stats()
    parent = {pid: int(f[1]) for pid, _, f in stats}
    found = []
    for pid, comm, f in stats:
        cur, seen = parent.get(pid), 0
        while cur and cur != ppid and seen < 64:
            cur, seen = parent.get(cur), seen + 1
        if cur == ppid:
            found.append((pid, comm, f[0]))
    return found


def _session_members(sid: int) -> list[tuple[int, str, str]]:
    """(pid, comm, state) of every process in session ``sid``."""
    return [(pid, comm, f[0]) for pid, comm, f in _proc_stats() if int(f[3]) == sid]


def _wait_for_sleeping_child(rec: subprocess.Popen[bytes], name: str) -> int:
    """Wait until ``rec`` has a descendant ``name`` blocked in (clock_)nanosleep; return its
    pid."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        assert rec.poll() is None, f"recorder ended early: {rec.communicate()}"
        for pid, comm, state in _proc_descendants(rec.pid):
            if comm != name or state != "S":
                continue
            with contextlib.suppress(OSError):
                nr = Path(f"/proc/{pid}/syscall").read_text().split()[0]
                if nr in ("35", "230"):  # nanosleep, clock_nanosleep
                    return pid
        time.sleep(0.02)
    pytest.fail(f"no sleeping {name!r} child of the recorder appeared")


@pytest.mark.live
@pytest.mark.parametrize(("backend", "known"), _backend_params(known_too=True))
@pytest.mark.parametrize(
    ("sig", "status", "to_group"),
    [(signal.SIGTERM, 143, False), (signal.SIGINT, 130, False), (signal.SIGINT, 130, True)],
    ids=["SIGTERM", "SIGINT", "SIGINT-to-group"],
)
def test_signal_is_forwarded_to_workload(
    sig: int, status: int, to_group: bool, backend: str, known: bool, tmp_path: Path
) -> None:
    """SIGTERM/SIGINT to the recorder reach the workload; ``to_group`` is a terminal's Ctrl-C,
    which reaches the recorder and the workload at once (same process group)."""
    out = tmp_path / "sleep.json"
    rec = subprocess.Popen(_record_argv(backend, known, out, ["sleep", "30"], ["sleep", "0"]),
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, start_new_session=True)
    try:
        sleeper = _wait_for_sleeping_child(rec, "sleep")
        if to_group:
            os.killpg(rec.pid, sig)
        else:
            os.kill(rec.pid, sig)
        try:
            _, err = rec.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            pytest.fail(f"recorder did not end within 10s of {signal.Signals(sig).name}")
        assert rec.returncode == status, err
        trace = seccomp_gen.load_trace(out)
        assert trace.header.exit == seccomp_gen.ExitStatus(signal=sig)
        if not known:  # with --known, the covered sleep is not recorded
            assert trace.names("x86_64") & {"clock_nanosleep", "nanosleep"}
        if backend != "ebpf":  # ebpf numbers processes as the kernel's initial namespace does
            assert trace.processes[0].pid == sleeper
        assert trace.processes[0].exit == seccomp_gen.ExitStatus(signal=sig)
        # The workload is gone: not left stopped, not orphaned, not a zombie.
        deadline = time.monotonic() + 5
        while os.path.exists(f"/proc/{sleeper}") and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not os.path.exists(f"/proc/{sleeper}"), Path(f"/proc/{sleeper}/status").read_text()
        assert _session_members(rec.pid) == []
    finally:
        if rec.poll() is None:
            _kill_group(rec)


def assert_sigterm_reaches_busy_workload(backend: str, loop_exe: str, out: Path,
                                         timeout: float = 5) -> None:
    """Record ``getppid_loop`` making calls back to back, SIGTERM the recorder, and check the
    workload got it (within ``timeout``), and the calls made so far were recorded."""
    rec = subprocess.Popen([*CLI, "record", "-q", "--backend", backend, "-o", str(out), "--",
                            loop_exe, "1000000000"],
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.monotonic() + 20
        while not any(c == "getppid_loop" for _, c, _ in _proc_descendants(rec.pid)):
            assert time.monotonic() < deadline, "workload did not start"
            time.sleep(0.02)
        time.sleep(0.3)
        os.kill(rec.pid, signal.SIGTERM)
        try:
            rec.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            pytest.fail("SIGTERM was not passed on to a workload busy making syscalls")
        assert rec.returncode == 143
        trace = seccomp_gen.load_trace(out)
        assert trace.header.exit == seccomp_gen.ExitStatus(signal=15)
        got = trace.find("getppid", "x86_64")
        assert got is not None and got.count > 0
    finally:
        if rec.poll() is None:
            _kill_group(rec)


@pytest.mark.live
@pytest.mark.parametrize(("backend", "known"), _backend_params())
def test_signal_reaches_busy_workload(backend: str, known: bool, cbuild, tmp_path: Path) -> None:
    """A workload that makes syscalls back to back is in a stop (ptrace, or waiting for the
    notify supervisor) whenever the recorder's signal handler runs. SIGTERM must still reach
    it."""
    assert_sigterm_reaches_busy_workload(backend, cbuild["getppid_loop"], tmp_path / "busy.json")


@pytest.mark.live
@pytest.mark.parametrize(("backend", "known"), _backend_params())
def test_signal_after_main_process_exited(backend: str, known: bool, tmp_path: Path) -> None:
    """``sh -c 'sleep 30 & exit 0'``: the shell is gone, its background sleep is still followed.
    SIGTERM to the recorder must end the recording, not be ignored for 30 s."""
    out = tmp_path / "bg.json"
    rec = subprocess.Popen(
        [*CLI, "record", "-q", "--backend", backend, "-o", str(out), "--", "sh", "-c",
         "sleep 30 & exit 0"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            assert time.monotonic() < deadline, "the background sleep did not start"
            members = _session_members(rec.pid)
            sleepers = [pid for pid, comm, state in members if comm == "sleep" and state == "S"]
            if sleepers and not any(comm == "sh" for _, comm, _ in members):
                break
            time.sleep(0.02)
        os.kill(rec.pid, signal.SIGTERM)
        try:
            rec.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            pytest.fail("SIGTERM to the recorder was ignored after the main process exited")
        # The sleep's parent (sh) is gone, so it is reaped by whatever adopted it; a zombie
        # waiting for that is dead, neither running nor stopped.
        assert [m for m in _session_members(rec.pid) if m[2] != "Z"] == []
    finally:
        if rec.poll() is None:
            _kill_group(rec)


def backend_variants(known_only: bool = False) -> list[Any]:
    """(backend, notify supervisor) for every recording backend (``known_only``: every one that
    honours a known profile, so also ``check``), notify once per supervisor loop (``c``,
    ``python``; "" for the others), skipped with the backend's own reason where it cannot run."""
    from seccomp_gen.recorders import BACKENDS, supports_known, unavailable_reasons

    reasons = unavailable_reasons()
    params = []
    for name in BACKENDS:
        if known_only and not supports_known(name):
            continue
        skip = pytest.mark.skipif(reasons[name] is not None, reason=f"{name}: {reasons[name]}")
        for supervisor in (("c", "python") if name == "notify" else ("",)):
            params.append(pytest.param(name, supervisor, marks=skip,
                                       id=f"{name}-{supervisor}" if supervisor else name))
    return params


#: The environment variable that marks every process of a test's workload tree (inherited
#: across fork and exec), so that leftovers can be found, and killed, by it.
MARKER_ENV = "SECCOMP_GEN_TEST_TREE"


def marked_processes(marker: str) -> list[tuple[int, str]]:
    """(pid, comm) of every live (not zombie) process whose environment holds ``marker``."""
    found = []
    needle = f"{MARKER_ENV}={marker}".encode()
    for pid, comm, fields in _proc_stats():
        if fields[0] in ("Z", "X"):
            continue
        with contextlib.suppress(OSError):
            if needle in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0"):
                found.append((pid, comm))
    return found


def kill_marked(marker: str) -> None:
    """SIGKILL every process marked with ``marker`` (a test's cleanup, whatever happened)."""
    for _ in range(50):
        left = marked_processes(marker)
        if not left:
            return
        for pid, _ in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.05)


@pytest.mark.live
@pytest.mark.parametrize(("backend", "supervisor"), backend_variants())
def test_workload_tree_dies_with_a_killed_recorder(backend: str, supervisor: str, cbuild,
                                                   tmp_path: Path) -> None:
    """SIGKILL of the recorder takes the whole workload with it, as PTRACE_O_EXITKILL does for
    the ptrace backends: the main process (a shell sleeping in a loop), its child and a
    double-forked grandchild in its own session (both making syscalls back to back). Under a dead
    notify listener every call fails with ENOSYS, so a leftover would spin for ever (issue 11,
    item 4)."""
    marker = f"{os.getpid()}-{time.monotonic_ns()}"
    env = {**os.environ, MARKER_ENV: marker}
    if supervisor:
        env["SECCOMP_GEN_NOTIFY_SUPERVISOR"] = supervisor
    loop = cbuild["getppid_loop"]
    script = '"$0" 1000000000 & ("$0" 1000000000 & setsid "$0" 1000000000 &); ' \
             "while :; do sleep 0.2; done"
    audit = _audit_settings() if backend == "log" else None
    # Not pipes: a leftover workload would hold them open, and reading them would hang.
    errors = tmp_path / "stderr"
    with errors.open("wb") as err:
        rec = subprocess.Popen([*CLI, "record", "-q", "--backend", backend, "-o",
                                str(tmp_path / "t.json"), "--", "sh", "-c", script, loop],
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
                               start_new_session=True, env=env)
    try:
        deadline = time.monotonic() + 30
        while sum(comm == "getppid_loop" for _, comm in marked_processes(marker)) < 3:
            assert rec.poll() is None, errors.read_text()
            assert time.monotonic() < deadline, f"the workload did not start: " \
                                                f"{marked_processes(marker)}"
            time.sleep(0.05)
        os.kill(rec.pid, signal.SIGKILL)
        rec.wait(timeout=30)
        deadline = time.monotonic() + 10
        while marked_processes(marker) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert marked_processes(marker) == [], "left running after the recorder was killed"
        if audit is not None:
            # A killed log recorder leaves the audit settings changed; the next log recording
            # restores them (and removes the state file saying what to restore).
            res = cli("record", "-q", "--backend", "log", "-o", str(tmp_path / "next.json"),
                      "--", "true")
            assert res.returncode == 0, res.stderr
            assert _audit_settings() == audit
    finally:
        if rec.poll() is None:
            _kill_group(rec)
        kill_marked(marker)
        if audit is not None:
            _restore_audit_settings(audit)  # in case the recording above did not


def _audit_settings() -> tuple[int, int, int]:
    """(enabled, rate_limit, backlog_limit) of the audit subsystem."""
    from seccomp_gen.recorders.log import AuditSocket

    conn = AuditSocket()
    try:
        s = conn.status()
    finally:
        conn.close()
    return s.enabled, s.rate_limit, s.backlog_limit


def _restore_audit_settings(saved: tuple[int, int, int]) -> None:
    """Put back what a killed log recorder left changed, and drop its dead registration (by
    registering this process over it, then unregistering)."""
    from seccomp_gen.recorders.log import (
        STATUS_BACKLOG_LIMIT,
        STATUS_ENABLED,
        STATUS_PID,
        STATUS_RATE_LIMIT,
        AuditSocket,
    )

    conn = AuditSocket()
    try:
        status = conn.status()
        if status.pid and not os.path.exists(f"/proc/{status.pid}"):
            conn.set(STATUS_PID, pid=os.getpid())
            conn.set(STATUS_PID, pid=0)
        conn.set(STATUS_ENABLED | STATUS_RATE_LIMIT | STATUS_BACKLOG_LIMIT, enabled=saved[0],
                 rate_limit=saved[1], backlog_limit=saved[2])
    finally:
        conn.close()


@pytest.mark.live
def test_stdin_and_stdout_pass_through(tmp_path: Path) -> None:
    data = os.urandom(300_000) + b"\n\x00 end\n"
    out = tmp_path / "cat.json"
    res = cli("record", "-q", "-o", str(out), "--", "cat", input=data)
    assert res.returncode == 0, res.stderr
    assert res.stdout == data
    assert res.stderr == b""
    trace = seccomp_gen.load_trace(out)
    assert {"read", "write"} <= trace.names("x86_64")


# --- the CLI: bad input --------------------------------------------------------------------------


def assert_one_error_line(
    res: subprocess.CompletedProcess[bytes], status: int | None = None
) -> str:
    err = res.stderr.decode(errors="replace")
    assert "Traceback" not in err, err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("seccomp-gen: error:"), err
    assert res.returncode != 0
    if status is not None:
        assert res.returncode == status, err
    assert res.stdout == b""
    return lines[0]


@pytest.fixture
def marker_cmd(tmp_path: Path) -> tuple[list[str], Path]:
    """A workload that leaves a file behind if it ran."""
    marker = tmp_path / "workload-ran"
    return ["sh", "-c", f"touch {marker}"], marker


def test_missing_command(tmp_path: Path) -> None:
    out = tmp_path / "t.json"
    res = cli("record", "-q", "-o", str(out), "--", "no-such-command-seccomp-gen-test")
    line = assert_one_error_line(res, 127)
    assert "no-such-command-seccomp-gen-test" in line
    assert not out.exists()
    res = cli("record", "-q", "-o", str(out), "--", str(tmp_path / "missing"))
    assert_one_error_line(res, 127)
    assert not out.exists()


def test_not_executable_file(tmp_path: Path) -> None:
    script = tmp_path / "script.sh"
    script.write_text("#!/bin/sh\nexit 0\n")
    script.chmod(0o644)
    out = tmp_path / "t.json"
    assert_one_error_line(cli("record", "-q", "-o", str(out), "--", str(script)), 126)
    assert not out.exists()


def test_directory_as_command(tmp_path: Path) -> None:
    out = tmp_path / "t.json"
    assert_one_error_line(cli("record", "-q", "-o", str(out), "--", str(tmp_path)), 126)
    assert not out.exists()


@pytest.mark.live
def test_exec_format_error(tmp_path: Path) -> None:
    """Executable but not a program (no #! line, no ELF): execve itself fails with ENOEXEC."""
    junk = tmp_path / "junk"
    junk.write_bytes(b"\x00\x01not a program\n")
    junk.chmod(0o755)
    out = tmp_path / "t.json"
    line = assert_one_error_line(cli("record", "-q", "-o", str(out), "--", str(junk)), 126)
    assert "Exec format error" in line
    assert not out.exists()


@pytest.mark.parametrize("args", [["record"], ["record", "--"], ["record", "-q", "-o", "x.json"]])
def test_record_without_command(args: list[str], tmp_path: Path) -> None:
    assert_one_error_line(cli(*args, cwd=tmp_path), 125)
    assert list(tmp_path.iterdir()) == []


def test_unwritable_output(tmp_path: Path, marker_cmd) -> None:
    cmd, marker = marker_cmd
    out = tmp_path / "no-such-dir" / "t.json"
    line = assert_one_error_line(cli("record", "-q", "-o", str(out), "--", *cmd), 125)
    assert "no-such-dir" in line
    assert not marker.exists(), "the workload ran although the output could not be written"
    assert not out.parent.exists()


def test_output_is_a_directory(tmp_path: Path, marker_cmd) -> None:
    cmd, marker = marker_cmd
    assert_one_error_line(cli("record", "-q", "-f", "-o", str(tmp_path), "--", *cmd), 125)
    assert not marker.exists()


def test_existing_output_needs_force(tmp_path: Path, marker_cmd) -> None:
    cmd, marker = marker_cmd
    out = tmp_path / "t.json"
    out.write_bytes(b"precious\n")
    line = assert_one_error_line(cli("record", "-q", "-o", str(out), "--", *cmd), 125)
    assert "--force" in line
    assert out.read_bytes() == b"precious\n"
    assert not marker.exists()


@pytest.mark.live
def test_force_replaces_output(tmp_path: Path, marker_cmd) -> None:
    cmd, marker = marker_cmd
    out = tmp_path / "t.json"
    out.write_bytes(b"old\n")
    res = cli("record", "-q", "-f", "-o", str(out), "--", *cmd)
    assert res.returncode == 0, res.stderr
    assert marker.exists()
    assert seccomp_gen.load_trace(out).header.command == tuple(cmd)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp files


@pytest.fixture(scope="module")
def real_trace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A trace file written by ``record`` (of ``sh -c '/bin/true; exit 3'``)."""
    out = tmp_path_factory.mktemp("real") / "real.trace.json"
    res = run([*CLI, "record", "-q", "-o", str(out), "--", "sh", "-c", "/bin/true; exit 3"])
    assert res.returncode == 3, res.stderr
    return out


def test_show_missing_file(tmp_path: Path) -> None:
    line = assert_one_error_line(cli("show", str(tmp_path / "nope.json")), 125)
    assert "nope.json" in line


def test_show_directory(tmp_path: Path) -> None:
    assert_one_error_line(cli("show", str(tmp_path)), 125)


@pytest.mark.live
def test_show_truncated_trace(real_trace: Path, tmp_path: Path) -> None:
    text = real_trace.read_bytes()
    half = tmp_path / "half.json"
    half.write_bytes(text[: len(text) // 2])
    line = assert_one_error_line(cli("show", str(half)), 125)
    assert "half.json" in line and "truncated" in line
    with pytest.raises(seccomp_gen.TraceFileError):
        seccomp_gen.load_trace(half)


@pytest.mark.parametrize("doc", ['{"hello": 1}', "[1, 2, 3]", '"seccomp-gen-trace"', "{}", "null"])
def test_show_json_that_is_not_a_trace(doc: str, tmp_path: Path) -> None:
    path = tmp_path / "other.json"
    path.write_text(doc)
    line = assert_one_error_line(cli("show", str(path)), 125)
    assert "not a seccomp-gen trace" in line


def test_show_binary_and_empty_files(tmp_path: Path) -> None:
    binary = tmp_path / "bin.json"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    assert_one_error_line(cli("show", str(binary)), 125)
    empty = tmp_path / "empty.json"
    empty.write_bytes(b"")
    assert_one_error_line(cli("show", str(empty)), 125)


@pytest.mark.live
def test_show_unsupported_version(real_trace: Path, tmp_path: Path) -> None:
    doc = json.loads(real_trace.read_text())
    assert doc["version"] == 1
    doc["version"] = 99
    path = tmp_path / "v99.json"
    path.write_text(json.dumps(doc))
    line = assert_one_error_line(cli("show", str(path)), 125)
    assert "99" in line and "version" in line


@pytest.mark.live
def test_show_wrong_field_type_names_the_field(real_trace: Path, tmp_path: Path) -> None:
    doc = json.loads(real_trace.read_text())
    doc["syscalls"][1]["count"] = "many"
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc))
    line = assert_one_error_line(cli("show", str(path)), 125)
    assert "syscalls[1].count" in line


# --- show ----------------------------------------------------------------------------------------


@pytest.mark.live
def test_show_json_views(real_trace: Path) -> None:
    trace = seccomp_gen.load_trace(real_trace)
    res = cli("show", "--json", str(real_trace))
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["view"] == "syscall"
    rows = {(r["arch"], r["syscall"]): r for r in doc["rows"]}
    assert ("x86_64", "execve") in rows
    assert rows[("x86_64", "execve")]["count"] == trace.find("execve").count  # type: ignore[union-attr]
    assert rows[("x86_64", "execve")]["count"] >= 2  # sh, then /bin/true
    assert doc["totals"]["calls"] == trace.total_calls == sum(r["count"] for r in doc["rows"])
    assert doc["header"]["exit"] == {"code": 3}

    res = cli("show", "--json", "--by", "process", str(real_trace))
    assert res.returncode == 0, res.stderr
    procs = json.loads(res.stdout)["rows"]
    assert [p["pid"] for p in procs] == [p.pid for p in trace.processes]
    assert len(procs) == 2
    assert procs[1]["exes"][-1] == os.path.realpath("/bin/true")
    assert procs[0]["exit"] == "exit 3"

    res = cli("show", "--json", "--by", "exe", str(real_trace))
    assert res.returncode == 0, res.stderr
    exes = {e["exe"] for e in json.loads(res.stdout)["rows"]}
    assert os.path.realpath("/bin/true") in exes
    assert os.path.realpath(shutil.which("sh") or "/bin/sh") in exes


@pytest.mark.live
@pytest.mark.parametrize("by", ["syscall", "process", "exe"])
def test_show_tables(by: str, real_trace: Path) -> None:
    res = cli("show", "--by", by, str(real_trace))
    assert res.returncode == 0, res.stderr
    text = res.stdout.decode()
    assert res.stderr == b""
    expected = {"syscall": "execve", "process": "exit 3", "exe": os.path.realpath("/bin/true")}
    assert expected[by] in text
