"""The recording backends against each other, and ``record --known``.

Every backend must give the same trace for the same deterministic workload: the same (arch, name)
set, and the same counts for single-threaded programs. The seccomp backend sees no return values
(one stop per call, before it runs), so results are compared only where they exist.

``--known PROFILE``: the seccomp filter allows what the profile allows and traces the rest, so a
run under a profile made from an earlier trace of the same deterministic workload records nothing,
and a profile lacking one syscall records exactly that one.

Children are run by helpers.cli (new session, timeout, SIGKILL of the group on overrun); the
recorder runs in a helper process (helpers.record).
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from collections import Counter
from pathlib import Path

import pytest
from helpers.backends import backend_variants, needs
from helpers.cli import CLI, assert_one_error_line, cli, run
from helpers.paths import ROOT
from helpers.record import PIN_CPU, counts_of, drop_syscall, record_api, record_cli

import seccomp_gen
from seccomp_gen.recorders import BACKENDS, unavailable_reasons
from seccomp_gen.recorders.seccomp import NOTE_NO_RESULTS

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="Linux only")

_REASONS = unavailable_reasons()

#: Deterministic single-threaded workloads (several processes for forker): name -> command,
#: None = the C test program of that name (tests/c), with its arguments.
SINGLE_THREADED: dict[str, list[str] | None] = {
    "ls": ["ls", "-la", "/"],
    "forker": None,
    "getppid_loop": None,
    "hello32": None,  # static -m32: every call after execve is i386
    "int80": None,  # i386 calls by int 0x80 and an x32 call from a 64-bit program
}
_ARGS = {"getppid_loop": ["3000"]}


def _command(name: str, cbuild) -> list[str]:
    return SINGLE_THREADED[name] or [cbuild[name], *_ARGS.get(name, [])]


# --- same trace from every backend ----------------------------------------------------------------


@needs("seccomp", "ptrace")
@pytest.mark.live
@pytest.mark.parametrize("workload", sorted(SINGLE_THREADED))
def test_backends_agree(workload: str, cbuild, tmp_path: Path) -> None:
    cmd = _command(workload, cbuild)
    traces = {b: record_api(cmd, tmp_path, backend=b, name=b) for b in ("ptrace", "seccomp")}
    pt, sc = traces["ptrace"], traces["seccomp"]
    for b, t in traces.items():
        assert t.header.backend == b
        assert t.header.exit == seccomp_gen.ExitStatus(code=0)
        assert t.header.pinned_cpu == PIN_CPU
    assert counts_of(sc) == counts_of(pt)
    assert [(p.exes, p.threads, p.syscalls, p.exit) for p in sc.processes] == [
        (p.exes, p.threads, p.syscalls, p.exit) for p in pt.processes
    ]
    assert {e.exe: dict(e.syscalls) for e in sc.exes} == {e.exe: dict(e.syscalls) for e in pt.exes}
    # Arguments are read at the seccomp stop just as at the ptrace entry stop.
    assert {(r.arch, r.name): r.args for r in sc.syscalls} == {
        (r.arch, r.name): r.args for r in pt.syscalls
    }
    # No return values from one stop per call, and the header says so.
    assert all(r.results == {} for r in sc.syscalls)
    assert NOTE_NO_RESULTS in sc.header.notes
    assert all(r.results for r in pt.syscalls if r.name not in ("exit", "exit_group"))


@needs("seccomp", "ptrace")
@pytest.mark.live
def test_int80_attribution_with_seccomp(cbuild, tmp_path: Path) -> None:
    trace = record_api([cbuild["int80"]], tmp_path, backend="seccomp")
    got = {(r.arch, r.name): (r.nr, r.count) for r in trace.syscalls}
    assert got[("x86", "getpid")] == (20, 1)
    assert got[("x86", "getuid32")] == (199, 1)
    assert got[("x32", "getpid")] == (0x40000000 | 39, 1)
    assert ("x86_64", "writev") not in got and ("x86_64", "fremovexattr") not in got


@needs("seccomp", "ptrace")
@pytest.mark.live
def test_threads_agree_up_to_futex(cbuild, tmp_path: Path) -> None:
    """Whether pthread_join (or a lock in libc) has to wait in ``futex`` depends on how the
    threads were scheduled, so futex may be in one run and not the other, and its count varies;
    the rest of what the program does is unconditional."""
    cmd = [cbuild["threads"]]
    pt = counts_of(record_api(cmd, tmp_path, backend="ptrace", name="pt"))
    sc = counts_of(record_api(cmd, tmp_path, backend="seccomp", name="sc"))
    assert set(pt) ^ set(sc) <= {("x86_64", "futex")}
    assert sc[("x86_64", "getpid")] == pt[("x86_64", "getpid")] == 12
    assert sc[("x86_64", "write")] == pt[("x86_64", "write")] == 12
    assert sc[("x86_64", "clone3")] == pt[("x86_64", "clone3")] == 4


# --- record --known -------------------------------------------------------------------------------


@needs("seccomp")
@pytest.mark.live
@pytest.mark.parametrize("workload", sorted(SINGLE_THREADED))
def test_known_profile_of_same_workload_records_nothing(
    workload: str, cbuild, tmp_path: Path
) -> None:
    cmd = _command(workload, cbuild)
    record_api(cmd, tmp_path, backend="seccomp", name="first")
    again = record_api(cmd, tmp_path, backend="seccomp", name="again",
                       known=tmp_path / "first.trace.json")
    assert again.header.exit == seccomp_gen.ExitStatus(code=0)
    assert counts_of(again) == Counter()
    assert any("known syscalls were not recorded" in n for n in again.header.notes)
    # The processes are still followed even though none of their calls stopped.
    first = seccomp_gen.load_trace(tmp_path / "first.trace.json")
    assert [p.exes for p in again.processes] == [p.exes for p in first.processes]


@needs("seccomp")
@pytest.mark.live
def test_known_threads_records_at_most_futex(cbuild, tmp_path: Path) -> None:
    cmd = [cbuild["threads"]]
    record_api(cmd, tmp_path, backend="seccomp", name="first")
    again = record_api(cmd, tmp_path, backend="seccomp", name="again",
                       known=tmp_path / "first.trace.json")
    assert again.header.exit == seccomp_gen.ExitStatus(code=0)
    assert set(counts_of(again)) <= {("x86_64", "futex")}  # see test_threads_agree_up_to_futex


@needs("seccomp")
@pytest.mark.live
@pytest.mark.parametrize(
    ("workload", "arch", "name", "count"),
    [
        ("getppid_loop", "x86_64", "getppid", 3000),
        ("forker", "x86_64", "getpid", 2),
        ("hello32", "x86", "write", 1),
        ("int80", "x86", "getpid", 1),  # the x86 rule goes, x86_64/x32 rules stay
        ("int80", "x32", "getpid", 1),
        ("int80", "x86", "getuid32", 1),
    ],
)
def test_known_profile_lacking_one_syscall_records_exactly_it(
    workload: str, arch: str, name: str, count: int, cbuild, tmp_path: Path
) -> None:
    cmd = _command(workload, cbuild)
    first = record_api(cmd, tmp_path, backend="seccomp", name="first")
    lacking = drop_syscall(tmp_path / "first.trace.json", tmp_path / "lacking.trace.json", arch,
                           name)
    again = record_api(cmd, tmp_path, backend="seccomp", name="again", known=lacking)
    assert counts_of(again) == Counter({(arch, name): count})
    rec = again.find(name, arch)
    assert rec is not None and rec.nr == first.find(name, arch).nr  # type: ignore[union-attr]


@needs("seccomp")
@pytest.mark.live
def test_known_generated_oci_profile_via_cli(cbuild, tmp_path: Path) -> None:
    """The usual loop: record, generate (default policy, arguments pinned), record --known."""
    cmd = [cbuild["forker"]]
    first = tmp_path / "first.trace.json"
    res = cli("record", "-q", "--backend", "seccomp", "-o", str(first), "--", *cmd)
    assert res.returncode == 0, res.stderr
    profile = tmp_path / "forker.json"
    res = cli("generate", str(first), "-o", str(profile))
    assert res.returncode == 0, res.stderr
    again = tmp_path / "again.trace.json"
    res = cli("record", "-q", "--known", str(profile), "-o", str(again), "--", *cmd)
    assert res.returncode == 0, res.stderr
    trace = seccomp_gen.load_trace(again)
    assert trace.header.backend == "seccomp"  # auto picks the backend that can skip
    assert counts_of(trace) == Counter()
    # Without getpid in the profile, only getpid is recorded.
    doc = json.loads(profile.read_text())
    for rule in doc["syscalls"]:
        rule["names"] = [n for n in rule["names"] if n != "getpid"]
    doc["syscalls"] = [r for r in doc["syscalls"] if r["names"]]
    profile.write_text(json.dumps(doc))
    res = cli("record", "-q", "-f", "--known", str(profile), "-o", str(again), "--", *cmd)
    assert res.returncode == 0, res.stderr
    assert counts_of(seccomp_gen.load_trace(again)) == Counter({("x86_64", "getpid"): 2})


@needs("seccomp")
@pytest.mark.live
def test_known_argument_conditions_are_honoured(tmp_path: Path) -> None:
    """A call the profile allows only with other arguments is recorded."""
    script = "import socket; socket.socket(socket.AF_INET, socket.SOCK_DGRAM).close()"
    cmd = [sys.executable, "-c", script]
    first = record_api(cmd, tmp_path, backend="seccomp", name="first")
    names = sorted(first.names("x86_64") - {"socket"})
    policy = tmp_path / "p.lxc"
    # socket allowed for AF_UNIX (1) only: the AF_INET socket must stop and be recorded.
    policy.write_text("\n".join(["2", "allowlist", "[x86_64]", *names,
                                 "socket allow [0,1,SCMP_CMP_EQ]"]) + "\n")
    again = record_api(cmd, tmp_path, backend="seccomp", name="again", known=policy)
    got = counts_of(again)
    assert set(got) == {("x86_64", "socket")}, got
    sock = again.find("socket", "x86_64")
    assert sock is not None and sock.args is not None
    assert {v[0] for v in sock.args.values} == {2}  # AF_INET, the one the profile lacks


# --- exit status, signals -------------------------------------------------------------------------


# Exit statuses and signal forwarding are tested for every backend, --known included, in
# test_record_live.py (test_cli_exit_status, test_signal_*).


@needs("seccomp")
@pytest.mark.live
def test_seccomp_stdin_stdout_pass_through(tmp_path: Path) -> None:
    data = os.urandom(100_000)
    out = tmp_path / "cat.json"
    res = run([*CLI, "record", "-q", "--backend", "seccomp", "-o", str(out), "--", "cat"],
              input=data)
    assert res.returncode == 0, res.stderr
    assert res.stdout == data


# --- bad input ------------------------------------------------------------------------------------


@pytest.fixture
def marker(tmp_path: Path) -> tuple[list[str], Path]:
    """A workload that leaves a file behind if it ran."""
    path = tmp_path / "workload-ran"
    return ["sh", "-c", f"touch {path}"], path


def _bad_profiles(tmp_path: Path) -> dict[str, Path]:
    garbage = tmp_path / "garbage.json"
    garbage.write_text("{this is not json")
    binary = tmp_path / "binary.json"
    binary.write_bytes(b"\xff\xfe\x00\x01")
    empty = tmp_path / "empty.json"
    empty.write_text("")
    other = tmp_path / "arm64.lxc"
    other.write_text("2\nallowlist\n[arm64]\nread\n")
    return {"missing": tmp_path / "no-such-profile.json", "garbage": garbage, "binary": binary,
            "empty": empty, "other-arch": other, "directory": tmp_path}


@pytest.mark.parametrize("kind", ["missing", "garbage", "binary", "empty", "other-arch",
                                  "directory"])
@pytest.mark.parametrize("backend", ["auto", "seccomp"])
def test_known_bad_profile_is_one_line_before_the_workload(
    kind: str, backend: str, marker, tmp_path: Path
) -> None:
    if kind == "other-arch" and _REASONS["seccomp"] is not None:
        pytest.skip("the arch check is the seccomp backend's")
    cmd, ran = marker
    out = tmp_path / "t.json"
    profile = _bad_profiles(tmp_path)[kind]
    res = cli("record", "-q", "--backend", backend, "--known", str(profile), "-o", str(out),
              "--", *cmd)
    line = assert_one_error_line(res, 125)
    assert profile.name in line
    assert not ran.exists(), "the workload ran despite a bad --known profile"
    assert not out.exists()


def test_known_with_ptrace_backend_is_refused(marker, tmp_path: Path) -> None:
    cmd, ran = marker
    prof = tmp_path / "p.lxc"
    prof.write_text("2\nallowlist\n[x86_64]\nread\n")
    res = cli("record", "-q", "--backend", "ptrace", "--known", str(prof),
              "-o", str(tmp_path / "t.json"), "--", *cmd)
    line = assert_one_error_line(res, 125)
    assert "seccomp" in line
    assert not ran.exists()


@needs("seccomp")
@pytest.mark.live
def test_seccomp_exec_format_error(tmp_path: Path) -> None:
    junk = tmp_path / "junk"
    junk.write_bytes(b"\x00\x01not a program\n")
    junk.chmod(0o755)
    out = tmp_path / "t.json"
    res = cli("record", "-q", "--backend", "seccomp", "-o", str(out), "--", str(junk))
    line = assert_one_error_line(res, 126)
    assert "Exec format error" in line
    assert not out.exists()


# --- every backend that can skip known syscalls says red on a profile that lacks calls ----------


#: case -> (workload, the syscall the profile lacks, its count). forker's wait4 is made
#: only by the top-level process, its getpid only by two of its forked children; execve by both
#: (the one that starts the workload, and a child's exec of /bin/true).
_LACKING = {
    "top-level": ("forker", "wait4", 4),
    "child": ("forker", "getpid", 2),
    "execve": ("forker", "execve", 2),
}


@pytest.mark.live
@pytest.mark.parametrize("mode", ["record-known", "check"])
@pytest.mark.parametrize("case", sorted(_LACKING))
@pytest.mark.parametrize(("backend", "supervisor"), backend_variants(known_only=True))
def test_profile_lacking_calls_is_red_on_every_known_backend(
    backend: str, supervisor: str, case: str, mode: str, cbuild, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A profile that lacks one syscall, made by the top-level process only or by a child only:
    ``record --known`` records exactly that call (with its count) and ``check`` exits 1 naming
    it, on every backend that takes a known profile. A green here would be a CI gate that passes
    a profile which then breaks the program (issue 11, item 1)."""
    if supervisor:
        monkeypatch.setenv("SECCOMP_GEN_NOTIFY_SUPERVISOR", supervisor)
    workload, name, count = _LACKING[case]
    cmd = [cbuild[workload]]
    full = tmp_path / "full.trace.json"
    res = record_cli(cmd, full, backend=backend)
    assert res.returncode == 0, res.stderr
    lacking = drop_syscall(full, tmp_path / "lacking.trace.json", "x86_64", name)
    if mode == "record-known":
        again = tmp_path / "again.trace.json"
        res = record_cli(cmd, again, backend=backend, known=lacking)
        assert res.returncode == 0, res.stderr
        trace = seccomp_gen.load_trace(again)
        assert trace.header.backend == backend
        assert counts_of(trace) == Counter({("x86_64", name): count})
    else:
        res = cli("check", "--json", "--profile", str(lacking), "--backend", backend, "--",
                  *cmd)
        assert res.returncode == 1, res.stderr
        doc = json.loads(res.stdout)
        assert [(r["arch"], r["syscall"], r["count"]) for r in doc["new"]] == [
            ("x86_64", name, count)]
        assert doc["covered"] is False and doc["exit"] == 1


@pytest.mark.live
@pytest.mark.parametrize("mode", ["record-known", "check"])
@pytest.mark.parametrize(("backend", "supervisor"), backend_variants(known_only=True))
def test_profile_of_true_does_not_cover_ls(
    backend: str, supervisor: str, mode: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The issue's own case: a profile generated from ``true`` against ``ls /``, whose
    getdents64 and write (and more) it lacks."""
    if supervisor:
        monkeypatch.setenv("SECCOMP_GEN_NOTIFY_SUPERVISOR", supervisor)
    base = tmp_path / "true.trace.json"
    profile = tmp_path / "true.json"
    res = cli("record", "-q", "--backend", backend, "-o", str(base), "--profile",
              f"oci:{profile}", "--", "true")
    assert res.returncode == 0, res.stderr
    lacked = {"getdents64", "write"}
    assert not lacked & seccomp_gen.load_trace(base).names("x86_64")
    if mode == "record-known":
        out = tmp_path / "ls.trace.json"
        res = record_cli(["ls", "/"], out, backend=backend, known=profile)
        assert res.returncode == 0, res.stderr
        assert lacked <= seccomp_gen.load_trace(out).names("x86_64")
    else:
        res = cli("check", "--profile", str(profile), "--backend", backend, "--", "ls", "/")
        err = res.stderr.decode()
        assert res.returncode == 1, err
        assert "covers every syscall" not in err
        for name in lacked:
            assert f"x86_64 {name} " in err, err


def test_known_backends_are_named_alike_everywhere(marker, tmp_path: Path) -> None:
    """README, ``record --help``, ``check --help`` and the refusal all name the backends the
    registry says take a known profile, and each recorder's own attribute agrees with it."""
    from seccomp_gen.recorders import KNOWN_BACKENDS, known_backends_text, supports_known

    assert KNOWN_BACKENDS == ("seccomp", "log", "notify")
    text = known_backends_text()
    assert text == "seccomp, log or notify"
    for name in BACKENDS:
        module = importlib.import_module(f"seccomp_gen.recorders.{name}")
        recorders = [c for c in vars(module).values()
                     if isinstance(c, type) and getattr(c, "name", None) == name]
        assert [r.supports_known for r in recorders] == [supports_known(name)], name
    for command in ("record", "check"):
        res = cli(command, "--help")
        assert res.returncode == 0
        assert text in " ".join(res.stdout.decode().split()), command
    readme = " ".join((ROOT / "README.md").read_text().split())
    assert f"`record --known PROFILE` ({text} backend;" in readme
    cmd, ran = marker
    prof = tmp_path / "p.lxc"
    prof.write_text("2\nallowlist\n[x86_64]\nread\n")
    for backend in sorted(set(BACKENDS) - set(KNOWN_BACKENDS)):
        for args in (["record", "-q", "--backend", backend, "--known", str(prof), "-o",
                      str(tmp_path / "t.json")], ["check", "--profile", str(prof), "--backend",
                                                   backend]):
            line = assert_one_error_line(cli(*args, "--", *cmd), 125)
            assert f"backend {backend} cannot skip known syscalls" in line
            assert f"need the {text} backend" in line, line
    assert not ran.exists()
