"""The ebpf backend (our own BPF programs on raw tracepoints) against the ptrace backend.

Real programs, real tracepoints: the same (arch, name) set, counts, argument values and results as
ptrace for deterministic single-threaded workloads, forks and execs followed, 32-bit calls
attributed to x86 (a static i386 program, and ``int $0x80`` from a 64-bit one) and x32 calls to
x32, and a map too small for the workload (a real full map, made small on purpose) reported in the
header.
Offline (the BTF reader on a hand-built blob): tests/unit/test_ebpf_offline.py.

Skipped only where the kernel or the machine lacks what the backend needs (not root, no BTF,
not x86_64), with the reason printed.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from helpers.cli import CLI, assert_one_error_line, cli, run
from helpers.record import PIN_CPU, counts_of, record_api

import seccomp_gen
from seccomp_gen.recorders import get_backend, unavailable_reasons
from seccomp_gen.recorders.ebpf import KEYS_ENV

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="Linux only")

_WHY = unavailable_reasons()["ebpf"]
_PTRACE_WHY = unavailable_reasons()["ptrace"]


@pytest.fixture
def ebpf() -> None:
    """Run the test where the backend can run; skip, saying why, where the kernel cannot."""
    if _WHY is None:
        return
    print(f"SKIP: ebpf backend: {_WHY}")
    pytest.skip(f"ebpf backend: {_WHY}")


@pytest.fixture
def ptrace_too(ebpf: None) -> None:
    if _PTRACE_WHY is not None:
        pytest.skip(f"ptrace backend: {_PTRACE_WHY}")


#: Deterministic single-threaded workloads: name -> command (None: the tests/c program).
WORKLOADS: dict[str, list[str] | None] = {
    "ls": ["ls", "-la", "/"],
    "getppid_loop": None,
    "forker": None,
    "hello32": None,
    "int80": None,
}
_ARGS = {"getppid_loop": ["20000"]}


def _command(name: str, cbuild) -> list[str]:
    return WORKLOADS[name] or [cbuild[name], *_ARGS.get(name, [])]


@pytest.mark.live
@pytest.mark.parametrize("workload", sorted(WORKLOADS))
def test_same_trace_as_ptrace(workload: str, cbuild, tmp_path: Path, ptrace_too: None) -> None:
    cmd = _command(workload, cbuild)
    pt = record_api(cmd, tmp_path, backend="ptrace", name="ptrace")
    eb = record_api(cmd, tmp_path, backend="ebpf", name="ebpf")
    assert eb.header.backend == "ebpf"
    assert eb.header.exit == seccomp_gen.ExitStatus(code=0)
    assert eb.header.pinned_cpu == PIN_CPU
    assert (eb.header.records_args, eb.header.records_results) == (True, True)
    assert counts_of(eb) == counts_of(pt)
    assert [(p.exes, p.threads, p.syscalls, p.exit) for p in eb.processes] == [
        (p.exes, p.threads, p.syscalls, p.exit) for p in pt.processes
    ]
    assert {e.exe: dict(e.syscalls) for e in eb.exes} == {e.exe: dict(e.syscalls) for e in pt.exes}
    # The same results (ok / errno name / unreturned) as ptrace's syscall-exit stops.
    assert {(r.arch, r.name): r.results for r in eb.syscalls} == {
        (r.arch, r.name): r.results for r in pt.syscalls}
    # The same argument values as ptrace, read in the kernel from the call's own ABI registers.
    assert {(r.arch, r.name): r.args for r in eb.syscalls} == {
        (r.arch, r.name): r.args for r in pt.syscalls}


@pytest.mark.live
def test_getppid_loop_counts_every_call(cbuild, tmp_path: Path, ebpf: None) -> None:
    trace = record_api([cbuild["getppid_loop"], "100000"], tmp_path, backend="ebpf")
    rec = trace.find("getppid", "x86_64")
    assert rec is not None and rec.count == 100_000


@pytest.mark.live
def test_forks_and_execs_followed(cbuild, tmp_path: Path, ebpf: None) -> None:
    exe = cbuild["forker"]
    trace = record_api([exe], tmp_path, backend="ebpf")
    main, *children = trace.processes
    assert len(children) >= 4 and all(p.ppid == main.pid for p in children)
    true_exe = os.path.realpath("/bin/true")
    assert any(p.exes == (os.path.realpath(exe), true_exe) for p in children)
    assert all(p.exit == seccomp_gen.ExitStatus(code=0) for p in trace.processes)
    vfork = trace.find("vfork", "x86_64")
    assert vfork is not None and vfork.count == 1


@pytest.mark.live
def test_i386_calls_are_x86(cbuild, tmp_path: Path, ebpf: None) -> None:
    trace = record_api([cbuild["hello32"]], tmp_path, backend="ebpf")
    execve = trace.find("execve")
    assert execve is not None and (execve.arch, execve.count) == ("x86_64", 1)
    others = trace.syscall_set() - {("x86_64", "execve")}
    assert {a for a, _ in others} == {"x86"}, sorted(others)
    write = trace.find("write", "x86")
    assert write is not None and write.nr == 4


@pytest.mark.live
def test_int80_and_x32_from_a_64_bit_program(cbuild, tmp_path: Path, ebpf: None) -> None:
    trace = record_api([cbuild["int80"]], tmp_path, backend="ebpf")
    got = {(r.arch, r.name): (r.nr, r.count) for r in trace.syscalls}
    assert got[("x86", "getpid")] == (20, 1)
    assert got[("x86", "getuid32")] == (199, 1)
    assert got[("x32", "getpid")] == (0x40000000 | 39, 1)
    assert ("x86_64", "writev") not in got and ("x86_64", "fremovexattr") not in got


@pytest.mark.live
def test_orphan_waited_for_and_exit_status(tmp_path: Path, ebpf: None) -> None:
    trace = record_api(["sh", "-c", "sleep 0.3 & exit 3"], tmp_path, backend="ebpf")
    assert trace.header.exit == seccomp_gen.ExitStatus(code=3)
    sleeper = [p for p in trace.processes if p.exes[-1:] == (os.path.realpath("/bin/sleep"),)]
    assert len(sleeper) == 1 and sleeper[0].exit == seccomp_gen.ExitStatus(code=0)
    nanosleep = trace.find("clock_nanosleep", "x86_64") or trace.find("nanosleep", "x86_64")
    assert nanosleep is not None


@pytest.mark.live
def test_cli_record_and_known_refused(tmp_path: Path, ebpf: None) -> None:
    out = tmp_path / "t.json"
    res = cli("record", "-q", "--backend", "ebpf", "-o", str(out), "--", "true")
    assert res.returncode == 0, res.stderr.decode(errors="replace")
    assert seccomp_gen.load_trace(out).header.backend == "ebpf"
    res = cli("record", "-q", "--backend", "ebpf", "--known", str(out), "-o",
              str(tmp_path / "k.json"), "--", "true")
    assert "cannot skip known" in assert_one_error_line(res)
    with pytest.raises(seccomp_gen.SeccompGenError, match="cannot skip known"):
        get_backend("ebpf", known=True)


@pytest.mark.live
def test_full_map_is_reported(tmp_path: Path, ebpf: None,
                              monkeypatch: pytest.MonkeyPatch) -> None:
    """A calls map with room for 4 keys, a workload with more: what did not fit is named."""
    monkeypatch.setenv(KEYS_ENV, "4")
    trace = record_api(["ls", "/"], tmp_path, backend="ebpf")
    assert len(trace.syscalls) <= 4
    assert any(n.startswith("BPF maps were full; not recorded: ") and " calls" in n
               for n in trace.header.notes), trace.header.notes


def test_bad_keys_setting_is_one_line(tmp_path: Path, ebpf: None,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEYS_ENV, "lots")
    out = tmp_path / "t.json"
    res = cli("record", "-q", "--backend", "ebpf", "-o", str(out), "--", "true")
    assert KEYS_ENV in assert_one_error_line(res)
    assert not out.exists()


@pytest.mark.live
def test_threads_and_clone3_flags(cbuild, tmp_path: Path, ptrace_too: None) -> None:
    """Threads are followed, and clone3's flags (in the caller's memory) match ptrace's."""
    cmd = [cbuild["threads"]]
    pt = record_api(cmd, tmp_path, backend="ptrace", name="ptrace")
    eb = record_api(cmd, tmp_path, backend="ebpf", name="ebpf")
    racy = {("x86_64", "futex")}  # whether a thread waits depends on timing
    assert eb.syscall_set() - racy == pt.syscall_set() - racy
    assert [p.threads for p in eb.processes] == [p.threads for p in pt.processes]
    clone3_eb, clone3_pt = eb.find("clone3", "x86_64"), pt.find("clone3", "x86_64")
    assert clone3_eb is not None and clone3_pt is not None
    assert clone3_eb.args == clone3_pt.args and clone3_eb.count == clone3_pt.count


@pytest.mark.live
def test_recorder_in_a_pid_namespace(tmp_path: Path, ebpf: None) -> None:
    """The programs see the initial namespace's pids; a recorder in a container sees others. The
    seed call finds the workload anyway: same trace, exit status kept, and a note says so."""
    cmd = ["sh", "-c", "ls / >/dev/null; exit 3"]
    out = tmp_path / "ns.json"
    res = run(["unshare", "--pid", "--fork", "--mount-proc", *CLI, "record", "-q", "--backend",
               "ebpf", "-o", str(out), "--", *cmd], cwd=tmp_path)  # cwd as record_api's
    assert res.returncode == 3, res.stderr.decode(errors="replace")
    inside = seccomp_gen.load_trace(out)
    outside = record_api(cmd, tmp_path, backend="ebpf")
    assert counts_of(inside) == counts_of(outside)
    assert [len(p.exes) for p in inside.processes] == [len(p.exes) for p in outside.processes]
    assert any("initial pid namespace" in n for n in inside.header.notes)
    assert not any("initial pid namespace" in n for n in outside.header.notes)


@pytest.mark.live
def test_live_status_line_counts(tmp_path: Path, ebpf: None) -> None:
    """On a terminal the status line shows the calls counted so far in the kernel's map."""
    import re
    import shlex
    import subprocess

    # The status line is drawn only when the workload's stdout is not the terminal, and needs
    # the terminal's size (a pty script(1) makes without a terminal of its own has none).
    cmd = "stty rows 40 cols 120; " + shlex.join(
        [*CLI, "record", "--backend", "ebpf", "-o", str(tmp_path / "t.json"), "--",
         "sh", "-c", "ls / >/dev/null; sleep 1.2"]) + " >/dev/null"
    log = tmp_path / "typescript"
    res = subprocess.run(["script", "-qec", cmd, str(log)], capture_output=True, timeout=60,
                         check=False, stdin=subprocess.DEVNULL,
                         env={**os.environ, "TERM": os.environ.get("TERM") or "xterm"})
    screen = log.read_text(errors="replace")
    assert res.returncode == 0, screen
    assert max(int(n) for n in re.findall(r"syscalls (\d+)", screen)) > 0, screen


_THREAD_EXEC = r"""
#include <pthread.h>
#include <unistd.h>
static void *run(void *arg) {
    (void)arg;
    usleep(20000);
    char *argv[] = {"/bin/true", 0};
    execv("/bin/true", argv);
    return 0;
}
int main(void) { pthread_t t; pthread_create(&t, 0, run, 0); for (;;) pause(); }
"""


@pytest.mark.live
def test_execve_from_a_thread_returns_as_ptrace_sees_it(tmp_path: Path, ptrace_too: None) -> None:
    """A thread other than the leader execs and takes the leader's tid: its execve returns 0
    under that tid, counted as ptrace counts it (calls that succeed are counted as the calls
    less the failures and the unreturned: this is the one whose return moves to another tid)."""
    src, exe = tmp_path / "thread_exec.c", tmp_path / "thread_exec"
    src.write_text(_THREAD_EXEC)
    built = run(["gcc", "-O1", "-pthread", "-o", str(exe), str(src)], text=True)
    assert built.returncode == 0, built.stderr
    pt = record_api([str(exe)], tmp_path, backend="ptrace", name="ptrace")
    eb = record_api([str(exe)], tmp_path, backend="ebpf", name="ebpf")
    for trace in (pt, eb):
        execve = trace.find("execve", "x86_64")
        assert execve is not None and execve.count == 2 and execve.results == {"ok": 2}
    assert counts_of(eb) == counts_of(pt)
