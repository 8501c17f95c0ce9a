"""``merge`` and ``import`` (strace logs and profiles) on files. Importing what strace recorded
of a real run: tests/live/test_strace_import.py; ``check``: tests/live/test_check_cmd.py."""

from __future__ import annotations

import json
from pathlib import Path

from helpers.cli import cli_text, one_error_line
from helpers.paths import DOCKER_DEFAULT as DOCKER
from helpers.paths import HELLO32_TRACE as HELLO32
from helpers.paths import LS_TRACE
from helpers.record import trace_names

from seccomp_gen.formats.strace import parse, parse_args

# --- merge ---------------------------------------------------------------------------------------


def test_merge_unites_runs_and_refuses_to_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "all.trace.json"
    res = cli_text("merge", LS_TRACE, HELLO32, "-o", out)
    assert res.returncode == 0, res.stderr
    assert trace_names(out) == trace_names(LS_TRACE) | trace_names(HELLO32)
    doc = json.loads(out.read_text())
    ls, h32 = json.loads(LS_TRACE.read_text()), json.loads(HELLO32.read_text())
    execve = [s["count"] for s in doc["syscalls"] if (s["arch"], s["name"]) == ("x86_64",
                                                                                  "execve")]
    assert execve == [2]
    assert len(doc["processes"]) == len(ls["processes"]) + len(h32["processes"])
    before = out.read_text()
    again = cli_text("merge", LS_TRACE, HELLO32, "-o", out)
    assert again.returncode != 0 and "already exists" in one_error_line(again)
    assert out.read_text() == before
    # The same recording twice is refused (its counts would double) unless asked for.
    assert cli_text("merge", LS_TRACE, LS_TRACE, "-o", out, "--force",
                    "--allow-duplicates").returncode == 0
    assert trace_names(out) == trace_names(LS_TRACE)


def test_merge_refuses_one_recording_given_twice(tmp_path: Path) -> None:
    """The same file, a copy of it, or a trace already merged into another one given: one
    line, exit 125, nothing written; --allow-duplicates merges anyway (and counts twice)."""
    copy = tmp_path / "copy.trace.json"
    copy.write_text(LS_TRACE.read_text())
    both = tmp_path / "both.trace.json"
    assert cli_text("merge", LS_TRACE, HELLO32, "-o", both).returncode == 0
    out = tmp_path / "out.json"
    again = "(merging would count its calls twice; give each run once, or --allow-duplicates)"
    for traces, what in (
        ((LS_TRACE, LS_TRACE), f"{LS_TRACE} is given twice"),
        ((LS_TRACE, HELLO32, copy), f"{copy} holds the same recording as {LS_TRACE}"),
        ((both, HELLO32), f"{HELLO32} is already merged into {both}"),
        ((LS_TRACE, both), f"{LS_TRACE} is already merged into {both}"),
    ):
        res = cli_text("merge", *traces, "-o", out)
        assert res.returncode == 125
        assert one_error_line(res) == f"seccomp-gen: error: {what} {again}"
        assert not out.exists()
    ok = cli_text("merge", LS_TRACE, copy, "-o", out, "--allow-duplicates")
    assert ok.returncode == 0, ok.stderr
    doubled = {(s["arch"], s["name"]): s["count"] for s in json.loads(out.read_text())["syscalls"]}
    single = {(s["arch"], s["name"]): s["count"]
              for s in json.loads(LS_TRACE.read_text())["syscalls"]}
    assert doubled == {k: 2 * v for k, v in single.items()}


def test_merge_usage_asks_for_two_traces(tmp_path: Path) -> None:
    helped = cli_text("merge", "--help")
    assert helped.returncode == 0
    usage = " ".join(helped.stdout.split("options:")[0].split())
    assert "TRACE TRACE..." in usage and "[TRACE" not in usage
    for traces in ((), (LS_TRACE,)):
        res = cli_text("merge", *traces, "-o", tmp_path / "out.json")
        assert res.returncode == 125
        assert one_error_line(res) == ("seccomp-gen: error: merge needs at least two trace "
                                       "files (usage: seccomp-gen merge TRACE TRACE... -o OUT)")


def test_merge_bad_input_writes_nothing(tmp_path: Path) -> None:
    truncated = tmp_path / "t.trace.json"
    truncated.write_text(LS_TRACE.read_text()[:500])
    edited = tmp_path / "e.trace.json"
    doc = json.loads(LS_TRACE.read_text())
    doc["syscalls"][0]["count"] = "many"
    edited.write_text(json.dumps(doc))
    out = tmp_path / "out.json"
    for bad, what in ((truncated, "truncated"), (edited, "syscalls[0].count")):
        res = cli_text("merge", LS_TRACE, bad, "-o", out)
        assert res.returncode != 0
        assert what in one_error_line(res)
        assert not out.exists()
    res = cli_text("merge", LS_TRACE, "-o", out)
    assert res.returncode != 0 and "at least two" in one_error_line(res)


# --- import: strace -----------------------------------------------------------------------------


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
    res = cli_text("import", log, "-o", out)
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
    strict = cli_text("import", log, "-o", tmp_path / "strict.json", "--strict")
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
    res = cli_text("import", log, "-o", out)
    assert res.returncode == 0, res.stderr
    assert "not understood" not in res.stderr
    got = trace_names(out)
    assert {("x86", "brk"), ("x86", "mmap2"), ("x86", "exit_group"), ("x86_64", "execve"),
            ("x86_64", "vfork"), ("x86_64", "exit_group")} == got
    doc = json.loads(out.read_text())
    assert [p["pid"] for p in doc["processes"]] == [2000, 2001]
    assert doc["processes"][1]["exes"] == ["/bin/sh", "/tmp/hello32"]


def test_log_from_another_arch_and_unusable_logs(tmp_path: Path) -> None:
    riscv = tmp_path / "riscv.log"
    riscv.write_text('100 execve("/bin/x", ["x"], 0x0) = 0\n'
                     "100 riscv_flush_icache(0x1000, 0x2000, 0) = 0\n"
                     "100 exit_group(0) = ?\n")
    out = tmp_path / "out.json"
    res = cli_text("import", riscv, "-o", out)
    assert res.returncode != 0
    line = one_error_line(res)
    assert "riscv_flush_icache" in line and "not x86_64 syscalls" in line and "--arch" in line
    assert not out.exists()
    ok = cli_text("import", riscv, "-o", out, "--arch", "riscv64")
    assert ok.returncode == 0, ok.stderr
    assert trace_names(out) == {("riscv64", "execve"), ("riscv64", "riscv_flush_icache"),
                          ("riscv64", "exit_group")}
    junk = tmp_path / "junk.log"
    junk.write_text("hello\nworld\n")
    empty = tmp_path / "empty.log"
    empty.write_text("")
    for bad, what in ((junk, "no strace syscall lines"), (empty, "empty file"),
                      (tmp_path / "missing", "no such file")):
        res = cli_text("import", bad, "-o", tmp_path / "x.json")
        assert res.returncode != 0 and what in one_error_line(res)
        assert not (tmp_path / "x.json").exists()
    keep = tmp_path / "keep.json"
    keep.write_text("precious")
    res = cli_text("import", riscv, "-o", keep, "--arch", "riscv64")
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
        res = cli_text("import", DOCKER, "--format", fmt, "-o", tmp_path / name)
        assert res.returncode == 0, res.stderr
        assert "(oci)" in res.stderr
    text = (tmp_path / "d.json").read_text()
    assert "includes" not in text and "archMap" not in text
    for name in ("d.json", "d.lxc", "d_policy.py"):
        same = cli_text("diff", DOCKER, tmp_path / name, "--arch", "x86_64")
        assert same.returncode == 0, same.stdout


def test_import_truncated_profile_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(DOCKER.read_text()[:300])
    res = cli_text("import", bad, "--format", "lxc", "-o", tmp_path / "x.lxc")
    assert res.returncode != 0
    one_error_line(res)
    assert not (tmp_path / "x.lxc").exists()


def test_import_docker_default_for_another_arch(tmp_path: Path) -> None:
    """``import --arch aarch64`` of Docker's default resolves its ``includes.arches`` for an
    arm64 host, as moby there would: arm64's cacheflush/set_tls are in, amd64's arch_prctl is
    out (before, the selectors were resolved for this x86_64 machine whatever --arch said)."""
    out = tmp_path / "arm.json"
    res = cli_text("import", DOCKER, "-o", out, "--arch", "aarch64")
    assert res.returncode == 0, res.stderr
    doc = json.loads(out.read_text())
    names = {n for rule in doc["syscalls"] for n in rule["names"]}
    assert doc["architectures"] == ["SCMP_ARCH_AARCH64"] or "SCMP_ARCH_AARCH64" in doc[
        "architectures"], doc["architectures"]
    assert {"cacheflush", "set_tls"} <= names, sorted(names)
    assert "arch_prctl" not in names and "modify_ldt" not in names
