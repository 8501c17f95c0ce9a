"""``merge``, ``import`` (strace logs and profiles) and ``check`` (drift against a profile)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.paths import DOCKER_DEFAULT as DOCKER
from helpers.paths import HELLO32_TRACE as HELLO32
from helpers.paths import LS_TRACE

from seccomp_gen.formats.strace import parse, parse_args

CLI = [sys.executable, "-m", "seccomp_gen"]
#: A deterministic command with two processes (a fork and an exec).
WORKLOAD = ["sh", "-c", "cat /etc/hostname >/dev/null; echo done >/dev/null"]

needs_strace = pytest.mark.skipif(shutil.which("strace") is None, reason="strace not installed")


def run(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True, timeout=120,
                          check=False, cwd=cwd)


def one_error_line(res: subprocess.CompletedProcess[str]) -> str:
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("seccomp-gen: error:"), res.stderr
    assert "Traceback" not in res.stderr
    return lines[0]


def names(trace: Path) -> set[tuple[str, str]]:
    doc = json.loads(trace.read_text())
    return {(s["arch"], s["name"]) for s in doc["syscalls"]}


def strace(tmp_path: Path, *opts: str, argv: list[str] = WORKLOAD) -> None:
    subprocess.run(["strace", *opts, *argv], check=True, capture_output=True, timeout=60,
                   cwd=tmp_path)


# --- merge ---------------------------------------------------------------------------------------


def test_merge_unites_runs_and_refuses_to_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "all.trace.json"
    res = run("merge", LS_TRACE, HELLO32, "-o", out)
    assert res.returncode == 0, res.stderr
    assert names(out) == names(LS_TRACE) | names(HELLO32)
    doc = json.loads(out.read_text())
    ls, h32 = json.loads(LS_TRACE.read_text()), json.loads(HELLO32.read_text())
    execve = [s["count"] for s in doc["syscalls"] if (s["arch"], s["name"]) == ("x86_64",
                                                                                  "execve")]
    assert execve == [2]
    assert len(doc["processes"]) == len(ls["processes"]) + len(h32["processes"])
    before = out.read_text()
    again = run("merge", LS_TRACE, HELLO32, "-o", out)
    assert again.returncode != 0 and "already exists" in one_error_line(again)
    assert out.read_text() == before
    # The same recording twice is refused (its counts would double) unless asked for.
    assert run("merge", LS_TRACE, LS_TRACE, "-o", out, "--force",
               "--allow-duplicates").returncode == 0
    assert names(out) == names(LS_TRACE)


def test_merge_refuses_one_recording_given_twice(tmp_path: Path) -> None:
    """The same file, a copy of it, or a trace already merged into another one given: one
    line, exit 125, nothing written; --allow-duplicates merges anyway (and counts twice)."""
    copy = tmp_path / "copy.trace.json"
    copy.write_text(LS_TRACE.read_text())
    both = tmp_path / "both.trace.json"
    assert run("merge", LS_TRACE, HELLO32, "-o", both).returncode == 0
    out = tmp_path / "out.json"
    again = "(merging would count its calls twice; give each run once, or --allow-duplicates)"
    for traces, what in (
        ((LS_TRACE, LS_TRACE), f"{LS_TRACE} is given twice"),
        ((LS_TRACE, HELLO32, copy), f"{copy} holds the same recording as {LS_TRACE}"),
        ((both, HELLO32), f"{HELLO32} is already merged into {both}"),
        ((LS_TRACE, both), f"{LS_TRACE} is already merged into {both}"),
    ):
        res = run("merge", *traces, "-o", out)
        assert res.returncode == 125
        assert one_error_line(res) == f"seccomp-gen: error: {what} {again}"
        assert not out.exists()
    ok = run("merge", LS_TRACE, copy, "-o", out, "--allow-duplicates")
    assert ok.returncode == 0, ok.stderr
    doubled = {(s["arch"], s["name"]): s["count"] for s in json.loads(out.read_text())["syscalls"]}
    single = {(s["arch"], s["name"]): s["count"]
              for s in json.loads(LS_TRACE.read_text())["syscalls"]}
    assert doubled == {k: 2 * v for k, v in single.items()}


def test_merge_usage_asks_for_two_traces(tmp_path: Path) -> None:
    helped = run("merge", "--help")
    assert helped.returncode == 0
    usage = " ".join(helped.stdout.split("options:")[0].split())
    assert "TRACE TRACE..." in usage and "[TRACE" not in usage
    for traces in ((), (LS_TRACE,)):
        res = run("merge", *traces, "-o", tmp_path / "out.json")
        assert res.returncode == 125
        assert one_error_line(res) == ("seccomp-gen: error: merge needs at least two trace "
                                       "files (usage: seccomp-gen merge TRACE TRACE... -o OUT)")


@pytest.mark.live
def test_merge_keeps_that_results_were_not_recorded(tmp_path: Path) -> None:
    """Two seccomp-backend traces (no return values): the merged header still says so, and
    ``show`` prints n/a in the errors column, not 0."""
    a, b, out = (tmp_path / f"{n}.trace.json" for n in ("a", "b", "out"))
    for path, cmd in ((a, ["true"]), (b, ["sh", "-c", "exit 0"])):
        res = run("record", "-q", "--backend", "seccomp", "-o", path, "--", *cmd)
        assert res.returncode == 0, res.stderr
        assert json.loads(path.read_text())["header"]["records_results"] is False
    assert run("merge", a, b, "-o", out).returncode == 0
    assert json.loads(out.read_text())["header"]["records_results"] is False
    shown = run("show", out, "--json")
    rows = json.loads(shown.stdout)["rows"]
    assert rows and all(r["errors"] is None for r in rows)


def test_merge_bad_input_writes_nothing(tmp_path: Path) -> None:
    truncated = tmp_path / "t.trace.json"
    truncated.write_text(LS_TRACE.read_text()[:500])
    edited = tmp_path / "e.trace.json"
    doc = json.loads(LS_TRACE.read_text())
    doc["syscalls"][0]["count"] = "many"
    edited.write_text(json.dumps(doc))
    out = tmp_path / "out.json"
    for bad, what in ((truncated, "truncated"), (edited, "syscalls[0].count")):
        res = run("merge", LS_TRACE, bad, "-o", out)
        assert res.returncode != 0
        assert what in one_error_line(res)
        assert not out.exists()
    res = run("merge", LS_TRACE, "-o", out)
    assert res.returncode != 0 and "at least two" in one_error_line(res)


# --- import: strace -----------------------------------------------------------------------------


@needs_strace
@pytest.mark.live
def test_strace_import_matches_own_recording(tmp_path: Path) -> None:
    strace(tmp_path, "-f", "-o", "w.log")
    res = run("import", tmp_path / "w.log", "-o", tmp_path / "imported.trace.json")
    assert res.returncode == 0, res.stderr
    rec = run("record", "-q", "--backend", "ptrace", "-o", tmp_path / "rec.trace.json", "--",
              *WORKLOAD, cwd=tmp_path)
    assert rec.returncode == 0, rec.stderr
    imported, recorded = names(tmp_path / "imported.trace.json"), names(tmp_path / "rec.trace.json")
    assert imported == recorded
    doc = json.loads((tmp_path / "imported.trace.json").read_text())
    # strace -s 32 (its default) truncates the script: kept as far as strace printed it.
    assert doc["header"]["command"][:2] == WORKLOAD[:2]
    assert doc["header"]["command"][2] == WORKLOAD[2][:32] + "..."
    assert doc["header"]["exit"] == {"code": 0}
    assert len(doc["processes"]) == 2
    # strace names the path execve was given (/usr/bin/sh), a live recording /proc/PID/exe.
    assert [p["exes"] for p in doc["processes"]][1] == ["/usr/bin/sh", "/usr/bin/cat"]
    openat = next(s for s in doc["syscalls"] if s["name"] == "openat")
    assert openat["results"].get("ok", 0) >= 1
    # A profile generated from it is the one generated from the live recording.
    diff = run("diff", tmp_path / "imported.trace.json", tmp_path / "rec.trace.json", "--json")
    assert diff.returncode == 0, diff.stdout


@needs_strace
@pytest.mark.live
def test_strace_ff_files_by_prefix_or_list(tmp_path: Path) -> None:
    strace(tmp_path, "-f", "-o", "single.log")
    strace(tmp_path, "-ff", "-o", "split")
    files = sorted(tmp_path.glob("split.*"))
    assert len(files) == 2
    by_prefix = run("import", tmp_path / "split", "-o", tmp_path / "a.trace.json")
    assert by_prefix.returncode == 0, by_prefix.stderr
    by_list = run("import", *files, "-o", tmp_path / "b.trace.json")
    assert by_list.returncode == 0, by_list.stderr
    single = run("import", tmp_path / "single.log", "-o", tmp_path / "c.trace.json")
    assert single.returncode == 0, single.stderr
    a, b = (json.loads((tmp_path / n).read_text()) for n in ("a.trace.json", "b.trace.json"))
    assert a["syscalls"] == b["syscalls"]
    assert names(tmp_path / "a.trace.json") == names(tmp_path / "c.trace.json")
    pids = [p["pid"] for p in a["processes"]]
    assert pids == sorted(int(f.name.split(".")[-1]) for f in files)
    assert a["processes"][1]["ppid"] == pids[0]


LOG = """\
1000  execve("/usr/bin/demo", ["demo", "-x"], 0x7ffc /* 3 vars */) = 0
1000  brk(NULL)                         = 0x5555
this is program output, not strace
1000  socket(AF_INET6, SOCK_STREAM|SOCK_CLOEXEC, IPPROTO_TCP) = 3
1000  clone(child_stack=NULL, flags=CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD, \
child_tidptr=0x7f) = 1001
1001  openat(AT_FDCWD, "/nope", O_RDONLY <unfinished ...>
1000  wait4(-1,  <unfinished ...>
1001  <... openat resumed>)             = -1 ENOENT (No such file or directory)
1001  --- SIGSEGV {si_signo=SIGSEGV, si_code=SEGV_MAPERR, si_addr=NULL} ---
1001  +++ killed by SIGSEGV (core dumped) +++
1000  <... wait4 resumed>[{WIFSIGNALED(s) && WTERMSIG(s) == SIGSEGV}], 0, NULL) = 1001
1000  write(1, "x", 1) = ? ERESTARTSYS (To be restarted if SA_RESTART is set)
1000  garbled line (
1000  exit_group(0)                     = ?
1000  +++ exited with 0 +++
"""


def test_import_parses_pids_resumed_signals_and_reports_bad_lines(tmp_path: Path) -> None:
    log = tmp_path / "demo.log"
    log.write_text(LOG)
    out = tmp_path / "demo.trace.json"
    res = run("import", log, "-o", out)
    assert res.returncode == 0, res.stderr
    assert "2 line(s) not understood" in res.stderr
    assert f"{log}:3: this is program output" in res.stderr
    assert f"{log}:13: 1000  garbled line (" in res.stderr
    doc = json.loads(out.read_text())
    rec = {s["name"]: s for s in doc["syscalls"]}
    assert set(rec) == {"execve", "brk", "socket", "clone", "openat", "wait4", "write",
                        "exit_group"}
    assert rec["openat"]["results"] == {"ENOENT": 1}
    assert rec["write"]["results"] == {"ERESTARTSYS": 1}
    assert rec["exit_group"]["results"] == {}
    assert rec["socket"]["args"]["values"] == [[10, 1 | 0x80000]]
    assert rec["clone"]["args"]["values"] == [[0x01200011]]
    assert rec["openat"]["first_exe"] == "/usr/bin/demo"
    procs = {p["pid"]: p for p in doc["processes"]}
    assert procs[1001]["ppid"] == 1000 and procs[1001]["exit"] == {"signal": 11,
                                                                   "core_dumped": True}
    assert doc["header"]["command"] == ["demo", "-x"]
    assert any("2 line(s) of the strace output were not understood" in n
               for n in doc["header"]["notes"])
    strict = run("import", log, "-o", tmp_path / "strict.json", "--strict")
    assert strict.returncode != 0 and "--strict" in one_error_line(strict)
    assert not (tmp_path / "strict.json").exists()


def test_stderr_form_with_pid_brackets_and_32_bit_mode_lines(tmp_path: Path) -> None:
    log = tmp_path / "stderr.log"
    log.write_text(
        'execve("/bin/sh", ["sh"], 0x1 /* 1 var */) = 0\n'
        "vfork( <unfinished ...>\n"
        '[pid  2001] execve("/tmp/hello32", ["/tmp/hello32"], 0x2 /* 1 var */ <unfinished ...>\n'
        "[pid  2000] <... vfork resumed>)       = 2001\n"
        "[pid  2001] <... execve resumed>)      = 0\n"
        "[ Process PID=2001 runs in 32 bit mode. ]\n"
        "[pid  2001] brk(NULL)                  = 0x9cbd000\n"
        "[pid  2001] mmap2(NULL, 8192, PROT_READ, MAP_PRIVATE, -1, 0) = 0xf7f00000\n"
        "[pid  2001] exit_group(0)              = ?\n"
        "[pid  2001] +++ exited with 0 +++\n"
        "[pid  2000] exit_group(0)              = ?\n"
        "+++ exited with 0 +++\n")
    out = tmp_path / "t.json"
    res = run("import", log, "-o", out)
    assert res.returncode == 0, res.stderr
    assert "not understood" not in res.stderr
    got = names(out)
    assert {("x86", "brk"), ("x86", "mmap2"), ("x86", "exit_group"), ("x86_64", "execve"),
            ("x86_64", "vfork"), ("x86_64", "exit_group")} == got
    doc = json.loads(out.read_text())
    assert [p["pid"] for p in doc["processes"]] == [2000, 2001]
    assert doc["processes"][1]["exes"] == ["/bin/sh", "/tmp/hello32"]


@needs_strace
@pytest.mark.live
def test_32_bit_program_from_strace_o_file(tmp_path: Path, cbuild: object) -> None:
    hello32 = cbuild["hello32"]  # type: ignore[index]
    strace(tmp_path, "-f", "-o", "h.log", argv=[hello32])
    res = run("import", tmp_path / "h.log", "-o", tmp_path / "h.trace.json")
    assert res.returncode == 0, res.stderr
    got = names(tmp_path / "h.trace.json")
    assert ("x86_64", "execve") in got and ("x86", "write") in got
    assert {a for a, _ in got} == {"x86_64", "x86"}
    rec = run("record", "-q", "--backend", "ptrace", "-o", tmp_path / "r.json", "--", hello32,
              cwd=tmp_path)
    assert rec.returncode == 0
    assert got == names(tmp_path / "r.json")
    doc = json.loads((tmp_path / "h.trace.json").read_text())
    assert any("32 bit mode" in n for n in doc["header"]["notes"])


def test_log_from_another_arch_and_unusable_logs(tmp_path: Path) -> None:
    riscv = tmp_path / "riscv.log"
    riscv.write_text('100 execve("/bin/x", ["x"], 0x0) = 0\n'
                     "100 riscv_flush_icache(0x1000, 0x2000, 0) = 0\n"
                     "100 exit_group(0) = ?\n")
    out = tmp_path / "out.json"
    res = run("import", riscv, "-o", out)
    assert res.returncode != 0
    line = one_error_line(res)
    assert "riscv_flush_icache" in line and "not x86_64 syscalls" in line and "--arch" in line
    assert not out.exists()
    ok = run("import", riscv, "-o", out, "--arch", "riscv64")
    assert ok.returncode == 0, ok.stderr
    assert names(out) == {("riscv64", "execve"), ("riscv64", "riscv_flush_icache"),
                          ("riscv64", "exit_group")}
    junk = tmp_path / "junk.log"
    junk.write_text("hello\nworld\n")
    empty = tmp_path / "empty.log"
    empty.write_text("")
    for bad, what in ((junk, "no strace syscall lines"), (empty, "empty file"),
                      (tmp_path / "missing", "no such file")):
        res = run("import", bad, "-o", tmp_path / "x.json")
        assert res.returncode != 0 and what in one_error_line(res)
        assert not (tmp_path / "x.json").exists()
    keep = tmp_path / "keep.json"
    keep.write_text("precious")
    res = run("import", riscv, "-o", keep, "--arch", "riscv64")
    assert res.returncode != 0 and "already exists" in one_error_line(res)
    assert keep.read_text() == "precious"


def test_parse_args_and_unfinished_at_end() -> None:
    assert parse_args("socket", "AF_UNIX, SOCK_DGRAM|SOCK_NONBLOCK, 0") == (1, 2 | 0x800)
    assert parse_args("socket", "0x2a /* AF_??? */, SOCK_RAW, 0") == (42, 3)
    assert parse_args("socket", "AF_MADEUP, SOCK_RAW, 0") is None
    assert parse_args("unshare", "CLONE_NEWNS|CLONE_NEWUSER") == (0x10020000,)
    assert parse_args("clone3", "{flags=CLONE_VM|CLONE_VFORK, exit_signal=SIGCHLD}, 88") == (
        0x4100,)
    log = parse([("l", ["5 read(0,  <unfinished ...>", "5 +++ killed by SIGKILL +++"], 0)])
    assert [(c.name, c.result) for c in log.calls] == [("read", -1)]
    assert log.exits[5].signal == 9


# --- import: profiles ---------------------------------------------------------------------------


def test_import_docker_profile_as_plain_formats(tmp_path: Path) -> None:
    for fmt, name in (("oci", "d.json"), ("lxc", "d.lxc"), ("python", "d_policy.py")):
        res = run("import", DOCKER, "--format", fmt, "-o", tmp_path / name)
        assert res.returncode == 0, res.stderr
        assert "(oci)" in res.stderr
    text = (tmp_path / "d.json").read_text()
    assert "includes" not in text and "archMap" not in text
    for name in ("d.json", "d.lxc", "d_policy.py"):
        same = run("diff", DOCKER, tmp_path / name, "--arch", "x86_64")
        assert same.returncode == 0, same.stdout


def test_import_truncated_profile_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(DOCKER.read_text()[:300])
    res = run("import", bad, "--format", "lxc", "-o", tmp_path / "x.lxc")
    assert res.returncode != 0
    one_error_line(res)
    assert not (tmp_path / "x.lxc").exists()


# --- check --------------------------------------------------------------------------------------

CHECKED = ["sh", "-c", "cat /etc/hostname >/dev/null; exit 0"]


@pytest.fixture
def profile(tmp_path: Path) -> Path:
    oci = tmp_path / "app.json"
    res = run("record", "-q", "-o", tmp_path / "app.trace.json", "--profile", f"oci:{oci}",
              "--", *CHECKED)
    assert res.returncode == 0, res.stderr
    return oci


def _drop(oci: Path, name: str) -> None:
    doc = json.loads(oci.read_text())
    for entry in doc["syscalls"]:
        if name in entry["names"]:
            entry["names"].remove(name)
    doc["syscalls"] = [e for e in doc["syscalls"] if e["names"]]
    oci.write_text(json.dumps(doc, indent=1))


@pytest.mark.live
def test_check_passes_on_covered_workload(profile: Path) -> None:
    res = run("check", "--profile", profile, "--", *CHECKED)
    assert res.returncode == 0, res.stderr
    assert "covers every syscall" in res.stderr


@pytest.mark.live
def test_check_names_the_missing_syscall_and_update_fixes_it(profile: Path,
                                                            tmp_path: Path) -> None:
    _drop(profile, "openat")
    before = profile.read_text()
    committed = tmp_path / "committed.json"
    committed.write_text(before)
    res = run("check", "--profile", profile, "--", *CHECKED)
    assert res.returncode == 1, res.stderr
    assert "1 syscall(s) the profile does not allow" in res.stderr
    assert "x86_64 openat" in res.stderr and "/usr/bin/cat" in res.stderr
    assert profile.read_text() == before
    js = run("check", "--profile", profile, "--json", "--", *CHECKED)
    doc = json.loads(js.stdout)
    assert js.returncode == 1 and [r["syscall"] for r in doc["new"]] == ["openat"]
    assert "/usr/bin/cat" in doc["new"][0]["exes"]
    upd = run("check", "--profile", profile, "--update", "--trace-out", tmp_path / "new.json",
              "--", *CHECKED)
    assert upd.returncode == 1, upd.stderr
    assert "updated" in upd.stderr
    assert names(tmp_path / "new.json") == {("x86_64", "openat")}
    assert "openat" in json.loads(profile.read_text())["syscalls"][0]["names"] or any(
        "openat" in e["names"] for e in json.loads(profile.read_text())["syscalls"])
    again = run("check", "--profile", profile, "--", *CHECKED)
    assert again.returncode == 0, again.stderr
    gh = run("diff", "--format", "github", committed, profile, "--arch", "x86_64")
    assert gh.returncode == 1
    assert gh.stdout.splitlines() == [
        f"::error file={committed},title=seccomp%3A new syscall openat::"
        f"x86_64 openat is allowed by {profile} but not by {committed}"]


@pytest.mark.live
def test_check_update_keeps_lxc_format(tmp_path: Path) -> None:
    lxc = tmp_path / "app.lxc"
    res = run("record", "-q", "-o", tmp_path / "t.json", "--profile", f"lxc:{lxc}", "--",
              "true")
    assert res.returncode == 0, res.stderr
    upd = run("check", "--profile", lxc, "--update", "--", *CHECKED)
    assert upd.returncode == 1
    assert lxc.read_text().startswith("2\n")
    assert run("check", "--profile", lxc, "--", *CHECKED).returncode == 0


@pytest.mark.live
def test_check_errors_write_nothing(profile: Path, tmp_path: Path) -> None:
    before = profile.read_text()
    marker = tmp_path / "ran"
    cases = [
        (["check", "--profile", profile, "--update"], "needs a command"),
        (["check", "--profile", profile, "--update", "--trace-out", tmp_path / "no" / "t.json",
          "--", "touch", marker], "directory does not exist"),
        (["check", "--profile", profile, "--format", "lxc", "--", "touch", marker],
         "only applies with --update"),
    ]
    for args, what in cases:
        res = run(*args)
        assert res.returncode == 125 and what in one_error_line(res)
    truncated = tmp_path / "trunc.json"
    truncated.write_text(before[: len(before) // 2])
    res = run("check", "--profile", truncated, "--update", "--", "touch", marker)
    assert res.returncode == 125
    one_error_line(res)
    assert truncated.read_text() == before[: len(before) // 2]
    assert not marker.exists() and profile.read_text() == before
    missing = run("check", "--profile", profile, "--", "no-such-command-xyz")
    assert missing.returncode == 127


@pytest.mark.live
def test_check_command_failure_without_drift(profile: Path) -> None:
    res = run("check", "--profile", profile, "--", "sh", "-c", "cat /etc/hostname >/dev/null; "
              "exit 5")
    assert res.returncode == 3, res.stderr
    assert "exited with status 5" in res.stderr


@pytest.mark.live
def test_check_names_the_signal_that_killed_the_command(profile: Path) -> None:
    res = run("check", "--profile", profile, "--", "sh", "-c", "kill -SEGV $$")
    assert res.returncode == 1, res.stderr  # kill(2) is new to the profile
    assert "the command was killed by SIGSEGV" in res.stderr
    assert "status 139" not in res.stderr  # the old wording (a pid may hold the digits 139)


@pytest.mark.live
def test_check_quiet_prints_only_the_result_line(profile: Path, tmp_path: Path) -> None:
    covered = run("check", "-q", "--profile", profile, "--", *CHECKED)
    assert covered.returncode == 0
    assert covered.stderr.splitlines() == [f"{profile} covers every syscall of: "
                                           "sh -c 'cat /etc/hostname >/dev/null; exit 0'"]
    failed = run("check", "-q", "--profile", profile, "--", "sh", "-c",
                 "cat /etc/hostname >/dev/null; exit 5")
    assert failed.returncode == 3
    assert len(failed.stderr.splitlines()) == 1
    assert failed.stderr.rstrip().endswith("; the command exited with status 5")
    _drop(profile, "openat")
    _drop(profile, "read")
    drift = run("check", "-q", "--profile", profile, "--trace-out", tmp_path / "new.json", "--",
                *CHECKED)
    assert drift.returncode == 1
    assert drift.stderr.splitlines() == [
        f"{profile}: 2 syscall(s) the profile does not allow were needed by: sh -c 'cat "
        "/etc/hostname >/dev/null; exit 0' (x86_64 openat, x86_64 read)"]
    assert (tmp_path / "new.json").exists()
    loud = run("check", "--profile", profile, "--", *CHECKED).stderr.splitlines()
    assert loud[0].startswith(f"{profile}: 2 syscall(s)")  # then one line per syscall
    assert loud[1].startswith("  x86_64 openat (") and loud[2].startswith("  x86_64 read (")
