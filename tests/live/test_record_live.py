"""Live tests of the ptrace recorder and the CLI: real processes, no mocks.

Every child process runs in its own session with a timeout; on overrun its whole process group
is killed with SIGKILL (:func:`helpers.cli.run`). The recorder itself is run through the public
API ``seccomp_gen.record`` in a helper Python process (:func:`helpers.record.record_api`), so that
it too can be timed out and so that the workload gets exactly the same
stdin/stdout/stderr/cwd/environment as under strace, the reference
(:mod:`helpers.strace_reference`).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers.audit import audit_settings, restore_audit_settings
from helpers.backends import backend_params, backend_variants
from helpers.cli import CLI, PYTHON, assert_one_error_line, cli, kill_group, run
from helpers.procs import (
    MARKER_ENV,
    kill_marked,
    marked_processes,
    session_members,
    wait_for_sleeping_child,
)
from helpers.record import PIN_CPU, counts_of, record_api, record_cli
from helpers.signals import assert_sigterm_reaches_busy_workload
from helpers.strace_reference import strace_counts

import seccomp_gen

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="Linux only")

#: ``python3`` on PATH may be a pyenv shim (a bash script that runs pyenv, which execs the real
#: interpreter); the workload is the interpreter, so name it directly.
PY_LISTDIR = [PYTHON, "-c", 'import os,json; print(json.dumps(sorted(os.listdir("/"))))']


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
    trace = record_api(cmd, tmp_path, backend="ptrace")
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
    trace = record_api(cmd, tmp_path, backend="ptrace")
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
    trace = record_api(cmd, tmp_path, backend="ptrace")
    rec = trace.find("getppid", "x86_64")
    assert rec is not None
    assert rec.count == 20000
    assert rec.results == {"ok": 20000}
    assert rec.processes == 1
    assert strace_counts(cmd, tmp_path)[("x86_64", "getppid")] == 20000


@pytest.mark.live
def test_unpinned_recording(cbuild, tmp_path: Path) -> None:
    trace = record_api([cbuild["getppid_loop"], "2000"], tmp_path, pin=False, backend="ptrace")
    assert trace.header.pinned_cpu is None
    rec = trace.find("getppid", "x86_64")
    assert rec is not None and rec.count == 2000


# --- other ABIs ----------------------------------------------------------------------------------


@pytest.mark.live
def test_int80_and_x32_calls_are_named_with_their_own_tables(cbuild, tmp_path: Path) -> None:
    trace = record_api([cbuild["int80"]], tmp_path, backend="ptrace")
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
    trace = record_api([exe], tmp_path, backend="ptrace")
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
    trace = record_api([exe], tmp_path, backend="ptrace")
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
    trace = record_api([cbuild["threads"]], tmp_path, backend="ptrace")
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
    trace = record_api([PYTHON, "-c", SOCKET_SCRIPT], tmp_path, backend="ptrace")
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
    forker = record_api([cbuild["forker"]], tmp_path, name="forker", backend="ptrace")
    clone = forker.find("clone", "x86_64")
    assert clone is not None and clone.args is not None
    assert clone.args.fields == ("flags",) and clone.args.indexes == (0,)
    # glibc's fork(): clone(CLONE_CHILD_SETTID|CLONE_CHILD_CLEARTID|SIGCHLD)
    assert clone.args.values == {(CLONE_CHILD_SETTID | CLONE_CHILD_CLEARTID | SIGCHLD_,)}
    threads = record_api([cbuild["threads"]], tmp_path, name="threads", backend="ptrace")
    # pthread_create uses clone3 (glibc >= 2.34), whose flags are read from tracee memory.
    clone3 = threads.find("clone3", "x86_64")
    assert clone3 is not None and clone3.args is not None and clone3.args.indexes == (None,)
    assert len(clone3.args.values) == 1
    (flags,) = next(iter(clone3.args.values))
    assert flags & CLONE_VM and flags & CLONE_THREAD
    assert flags != 0xFFFFFFFFFFFFFFFF  # "unreadable" marker


# --- exit status and signals, under every backend ------------------------------------------------


def _record_argv(backend: str, known: bool, out: Path, cmd: list[str],
                 base_cmd: list[str] | None = None) -> list[str]:
    """``seccomp-gen record`` of ``cmd``; with ``known``, first record ``base_cmd`` (default:
    ``cmd``; a quick run of the same program) into a profile that covers it and pass that as
    ``--known`` (then almost nothing is recorded)."""
    extra: list[str] = []
    if known:
        base = out.with_suffix(".base.json")
        res = record_cli(base_cmd or cmd, base, backend=backend)
        assert base.exists(), res.stderr
        extra = ["--known", str(base)]
    return [*CLI, "record", "-q", "--backend", backend, *extra, "-o", str(out), "--", *cmd]


@pytest.mark.live
@pytest.mark.parametrize(("backend", "known"), backend_params(known_too=True))
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


@pytest.mark.live
@pytest.mark.parametrize(("backend", "known"), backend_params(known_too=True))
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
        sleeper = wait_for_sleeping_child(rec, "sleep")
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
        assert session_members(rec.pid) == []
    finally:
        if rec.poll() is None:
            kill_group(rec)


@pytest.mark.live
@pytest.mark.parametrize(("backend", "known"), backend_params())
def test_signal_reaches_busy_workload(backend: str, known: bool, cbuild, tmp_path: Path) -> None:
    """A workload that makes syscalls back to back is in a stop (ptrace, or waiting for the
    notify supervisor) whenever the recorder's signal handler runs. SIGTERM must still reach
    it."""
    assert_sigterm_reaches_busy_workload(backend, cbuild["getppid_loop"], tmp_path / "busy.json")


@pytest.mark.live
@pytest.mark.parametrize(("backend", "known"), backend_params())
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
            members = session_members(rec.pid)
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
        assert [m for m in session_members(rec.pid) if m[2] != "Z"] == []
    finally:
        if rec.poll() is None:
            kill_group(rec)


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
    audit = audit_settings() if backend == "log" else None
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
            assert audit_settings() == audit
    finally:
        if rec.poll() is None:
            kill_group(rec)
        kill_marked(marker)
        if audit is not None:
            restore_audit_settings(audit)  # in case the recording above did not


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


@pytest.mark.live
def test_show_truncated_trace(real_trace: Path, tmp_path: Path) -> None:
    text = real_trace.read_bytes()
    half = tmp_path / "half.json"
    half.write_bytes(text[: len(text) // 2])
    line = assert_one_error_line(cli("show", str(half)), 125)
    assert "half.json" in line and "truncated" in line
    with pytest.raises(seccomp_gen.TraceFileError):
        seccomp_gen.load_trace(half)


@pytest.mark.live
def test_show_unsupported_version(real_trace: Path, tmp_path: Path) -> None:
    doc = json.loads(real_trace.read_text())
    assert doc["version"] == 2
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
