"""``import`` of the kernel's SECCOMP audit records (issue 13, the container drift loop).

The samples in tests/data are real: records the kernel wrote on this project's test machine for
real programs under real filters (see tests/data/README.md), as ``dmesg`` printed them, as
``/dev/kmsg`` gave them, in auditd's log format, and as the real ``ausearch`` (3.0.9) printed
them. Forms this machine cannot produce (auditd's ENRICHED log, journald, an x32 call: this
kernel has no x32) are built from those real records in the documented layouts, and say so.
The CLI runs as a subprocess: exit status, the one error line and the files left behind are
what a user sees.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seccomp_gen import auditrecord
from seccomp_gen.cli.import_ import import_audit, input_kind
from seccomp_gen.errors import SeccompGenError
from seccomp_gen.files import traces
from seccomp_gen.formats import auditlog
from seccomp_gen.linux import audit as linux_audit
from seccomp_gen.merge import merge_traces
from seccomp_gen.model import Trace
from seccomp_gen.synthesize import Policy, synthesize

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"
DMESG = DATA / "seccomp-audit.dmesg.txt"
KMSG = DATA / "seccomp-audit.kmsg"
AUDIT_LOG = DATA / "seccomp-audit.audit.log"
AUSEARCH = DATA / "seccomp-audit.ausearch.txt"
AUSEARCH_I = DATA / "seccomp-audit.ausearch-i.txt"
STRACE = DATA / "sh-ls.strace.log"
HTTP_SERVER = ROOT / "sample_traces" / "http-server.trace.json"
CLI = [sys.executable, "-m", "seccomp_gen"]

#: The programs of the captured samples (tests/data/README.md): pid -> exe.
LS_PID, I386_PID, HEX_PID = 890, 895, 896
KILL_PROCESS_PID, KILL_THREAD_PID, ERRNO_PID, TRAP_PID = 897, 898, 899, 900
#: What ``ls /`` called that the profile recorded from ``true`` did not list.
LS_MISSES = {"futex", "getdents64", "getrandom", "ioctl", "statfs", "statx", "write"}
#: hello32 (-m32 -static) under a filter that logs every call but execve: i386 numbers.
I386_CALLS = {"brk", "exit_group", "getpid", "getrandom", "mprotect", "readlink", "rseq",
              "set_robust_list", "set_thread_area", "set_tid_address", "ugetrlimit", "write"}


def run(*args: str | Path, stdin: str | None = None,
        env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True, timeout=120,
                          check=False, input=stdin, env=env)


def one_error_line(res: subprocess.CompletedProcess[str]) -> str:
    assert res.returncode not in (0, 1), res
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("seccomp-gen: error:"), res.stderr
    return lines[0]


def names(path: Path) -> set[tuple[str, str]]:
    doc = json.loads(path.read_text())
    return {(s["arch"], s["name"]) for s in doc["syscalls"]}


def sample_line(path: Path, serial: int) -> str:
    """The line of a sample holding the record with this audit serial."""
    hit = [ln for ln in path.read_text().splitlines() if f":{serial})" in ln]
    assert len(hit) == 1, (path, serial)
    return hit[0]


def payload(serial: int) -> str:
    """A record as the kernel sends it over netlink: ``audit(...): auid=...`` (what follows
    ``type=1326`` in the kernel log)."""
    return sample_line(KMSG, serial).split("audit: type=1326 ", 1)[1]


# --- the one record parser -----------------------------------------------------------------------


def test_one_parser_for_netlink_kmsg_and_text() -> None:
    assert linux_audit.parse_seccomp_record is auditrecord.parse_seccomp_record
    assert linux_audit.SeccompRecord is auditrecord.SeccompRecord
    want = auditrecord.SeccompRecord(pid=LS_PID, exe="/usr/bin/ls", sig=0, arch=0xC000003E,
                                     syscall=137, code=0x7FFC0000)
    body = payload(31082036)
    forms = {
        "netlink payload (bytes)": body.encode(),
        "/dev/kmsg": sample_line(KMSG, 31082036),
        "dmesg": sample_line(DMESG, 31082036),
        "audit.log": sample_line(AUDIT_LOG, 31082036),
        "ausearch": sample_line(AUSEARCH, 31082036),
        # Built from the real record in the documented layouts (see the module docstring):
        # auditd's ENRICHED log_format appends 0x1d and its interpretations.
        "audit.log ENRICHED": "type=SECCOMP msg=" + body + '\x1dAUID="unset" UID="root" '
                              'GID="root" ARCH=x86_64 SYSCALL=statfs',
        "journalctl -k": "Dec 01 23:51:54 sg-host kernel: audit: type=1326 " + body,
        "journald audit": "Dec 01 23:51:54 sg-host audit[890]: SECCOMP "
                          + body.split("): ", 1)[1],
    }
    for what, text in forms.items():
        rec = auditrecord.parse_seccomp_record(text)
        assert rec == want, what
        assert rec.action == "log" and rec.comm == "ls", what
        if what != "journald audit":
            assert rec.stamp == "1796169114.695:31082036", what
    assert auditrecord.stamp_seconds("1796169114.695:31082036") == 1796169114.695


def test_hex_encoded_exe_and_comm() -> None:
    rec = auditrecord.parse_seccomp_record(sample_line(DMESG, 31082062))
    assert rec is not None
    assert rec.exe == "/tmp/ai/cap/dir with space/my true" and rec.comm == "my true"
    # Bytes that are not UTF-8 survive as surrogate escapes (the trace file writes them \xNN).
    odd = payload(31082062).replace("exe=2F746D70", "exe=2FFF746D70")
    rec = auditrecord.parse_seccomp_record(odd)
    assert rec is not None and rec.exe.startswith("/\udcfftmp/")


@pytest.mark.parametrize("text", [
    "",
    "type=SECCOMP msg=audit(1.1:2): pid=1 comm=\"x\" exe=\"/x\" sig=0 arch=c000003e",  # cut
    # interpreted (ausearch -i): names from auditd's tables, not the kernel's numbers
    "pid=1 comm=x exe=/x sig=SIG0 arch=x86_64 syscall=statfs compat=0 ip=0x1 code=log",
    "pid=1 comm=\"x\" exe=\"/x\" sig=0 arch=c000003e syscall=99999999999 code=0x7ffc0000",
    "pid=1 comm=\"x\" exe=\"/x\" sig=0 arch=c000003e syscall=-1 code=0x7ffc0000",
    "xpid=1 comm=\"x\" exe=\"/x\" sig=0 arch=c000003e syscall=1 code=0x7ffc0000",
], ids=["empty", "cut", "interpreted", "nr-too-big", "nr-negative", "xpid"])
def test_not_a_record(text: str) -> None:
    assert auditrecord.parse_seccomp_record(text) is None


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(blob=st.binary(max_size=600) | st.text(max_size=400).map(str.encode))
def test_parser_never_raises(blob: bytes) -> None:
    rec = auditrecord.parse_seccomp_record(blob)
    assert rec is None or isinstance(rec.exe, str)


# --- text -> trace --------------------------------------------------------------------------------


def _import(*paths: Path, arch: str | None = None, exes: tuple[str, ...] = (),
            pids: tuple[int, ...] = ()) -> tuple[Trace, auditlog.AuditLog]:
    texts = [p.read_text() for p in paths]
    return import_audit([str(p) for p in paths], texts[0], arch=arch, exes=list(exes),
                        pids=list(pids))


def test_every_captured_form_gives_the_same_trace() -> None:
    """audit.log, ausearch's output and /dev/kmsg hold the same 31 records; the dmesg capture
    holds them among other programs' (machine-wide) records."""
    sets = {}
    for path in (AUDIT_LOG, AUSEARCH, KMSG):
        trace, log = _import(path)
        assert len(log.records) == 31 and not log.unparsed, path
        assert log.other_lines == 0 and not log.other_records, path
        sets[path.name] = (trace.syscall_set(), trace.total_calls, len(trace.processes))
    assert len(set(sets.values())) == 1, sets
    dmesg, log = _import(DMESG, pids=(LS_PID, I386_PID, HEX_PID, KILL_PROCESS_PID,
                                      KILL_THREAD_PID, ERRNO_PID, TRAP_PID))
    assert (dmesg.syscall_set(), dmesg.total_calls, len(dmesg.processes)) == sets[AUDIT_LOG.name]
    assert log.suppressed == 15  # the capture holds "kauditd_printk_skb: 15 callbacks suppressed"
    assert any("rate limit" in n for n in dmesg.header.notes)


def test_each_call_is_named_with_its_own_arch() -> None:
    trace, _ = _import(AUSEARCH, exes=("/usr/bin/ls",))
    assert trace.syscall_set() == {("x86_64", n) for n in LS_MISSES}
    h = trace.header
    assert h.command == ("/usr/bin/ls",) and h.host_arch == "x86_64"
    assert not h.records_args and not h.records_results and h.started.startswith("2026-12-01T")
    i386, _ = _import(DMESG, pids=(I386_PID,))
    assert i386.syscall_set() == {("x86", n) for n in I386_CALLS}
    # syscall=20 is getpid on i386 (writev on x86_64); 45 is brk (x86_64: recvfrom)
    assert i386.find("getpid", "x86").nr == 20
    assert i386.find("brk", "x86").count == 5
    assert i386.header.host_arch == "x86_64"


def test_x32_calls_carry_bit_30() -> None:
    # This kernel has no x32: the record is the real ls record with its number in the x32 table
    # (write = 0x40000000 | 1), as the kernel writes an x32 call (arch is x86_64's).
    line = sample_line(DMESG, 31082045).replace("syscall=1 ", f"syscall={0x40000001} ")
    log = auditlog.parse([("x32", [line])])
    trace = _trace(log)
    assert trace.syscall_set() == {("x32", "write")}
    assert trace.syscalls[0].nr == 0x40000001


def _trace(log: auditlog.AuditLog, pids: tuple[int, ...] = ()) -> Trace:
    """The trace of a parsed log, named with libseccomp's tables as the CLI does."""
    from seccomp_gen.libseccomp import arch_name, syscall_name
    from seccomp_gen.model import TraceHeader

    h = TraceHeader("t", (), "k", "", "l", "audit-import", None, "", "", 0.0, None)
    return auditlog.to_trace(log, h, arch_name, syscall_name, where="w", pids=pids)


def test_denials_are_imported_with_their_action() -> None:
    trace, _ = _import(DMESG, exes=("/usr/bin/true",))
    assert trace.syscall_set() == {("x86_64", "brk"), ("x86_64", "access")}
    notes = "\n".join(trace.header.notes)
    assert "actions in the records: trap 1, errno 1, kill-process 1, kill 1" in notes or \
        "actions in the records: errno 1, kill 1, kill-process 1, trap 1" in notes, notes
    assert "x86_64 access (errno x1)" in notes and "x86_64 brk (kill x1)" in notes
    assert "x86_64 brk (kill-process x1)" in notes and "x86_64 brk (trap x1)" in notes


def test_records_leave_argument_rules_unpinned_after_a_merge() -> None:
    """A recorded trace pins socket's domain; imported records of socket carry no arguments,
    so the merged profile must not keep the old pins (they would deny the new call)."""
    recorded = traces.load(HTTP_SERVER)
    assert any(r.conditions for r in synthesize(recorded).rules if r.name == "socket")
    line = sample_line(DMESG, 31082045).replace("syscall=1 ", "syscall=41 ")
    imported = _trace(auditlog.parse([("a", [line])]))
    merged = synthesize(merge_traces([recorded, imported]), Policy(args="safe"))
    rules = [r for r in merged.rules if r.name == "socket"]
    assert rules and all(not r.conditions for r in rules), rules


def test_lines_are_classified_and_counted() -> None:
    real = sample_line(AUDIT_LOG, 31082065)
    lines = [
        "type=SYSCALL msg=audit(1796169114.775:31082065): arch=c000003e syscall=21 success=no "
        "exit=-1 a0=0 a1=4 items=0 ppid=1 pid=899 comm=\"true\" exe=\"/usr/bin/true\"",
        real,
        "type=PROCTITLE msg=audit(1796169114.775:31082065): proctitle=2F62696E2F74727565",
        "type=AVC msg=audit(1.2:3): avc:  denied  { read } for  pid=1 comm=\"x\"",
        "[ 1.000000] audit: type=1300 audit(1.2:4): arch=c000003e syscall=59 success=yes",
        "----", "time->Tue Dec  1 23:51:54 2026", "",
        "[13621.9] random kernel message",
        "type=SECCOMP msg=audit(1.2:5): pid=1 comm=\"x\" exe=\"/x\" sig=0",  # cut short
        real,  # the same record again (same serial): counted once
    ]
    log = auditlog.parse([("a.log", lines)])
    assert [r.syscall for _s, _n, r in log.records] == [21]
    assert log.other_records == {"SYSCALL": 1, "PROCTITLE": 1, "AVC": 1, "1300": 1}
    assert log.other_lines == 1 and log.duplicates == 1
    assert log.unparsed == [("a.log", 10, lines[9])]
    assert auditlog.summary(log) == (
        "1 SECCOMP record(s) in 11 line(s); skipped: 4 other audit record(s) (1300 1, AVC 1, "
        "PROCTITLE 1, SYSCALL 1), 1 line(s) that are no audit record, 1 SECCOMP record(s) not "
        "understood, 1 duplicate record(s) (the same audit serial)")


def test_sniffing_tells_audit_text_from_strace_and_profiles() -> None:
    for path in (DMESG, KMSG, AUDIT_LOG, AUSEARCH, AUSEARCH_I):
        assert input_kind(path.read_text()) == "audit", path
    assert input_kind(STRACE.read_text()) == "strace"
    assert input_kind((DATA / "docker-default-seccomp.json").read_text()) == "profile"
    # An strace log of a program that printed audit text is still an strace log.
    printed = ('1234  write(1, "' + sample_line(DMESG, 31082036).replace('"', '\\"')[:120]
               + '"..., 240) = 240\n')
    assert input_kind(STRACE.read_text() + printed) == "strace"
    for text in ("Dec 01 23:51:54 host kernel: audit: type=1326 audit(1.1:1): x",
                 "Dec 01 23:51:54 host audit[12]: SECCOMP auid=0",
                 "2026-12-01T23:51:54+0000 host kernel: audit: type=1326 audit(1.1:1): x",
                 "kern  :notice: [13621.996377] audit: type=1326 audit(1.1:1): x",
                 "[Tue Dec  1 23:51:54 2026] audit: type=1326 audit(1.1:1): x"):
        assert auditlog.sniff(text), text


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_random_and_mutated_text_gives_a_trace_or_one_error(data: st.DataObject) -> None:
    seed = DMESG.read_text().splitlines()
    lines = data.draw(st.lists(st.sampled_from(seed) | st.text(max_size=80), max_size=12))
    lines = [data.draw(st.sampled_from([ln, ln[: len(ln) // 2], ln.replace("=", " ", 1),
                                        ln.replace("0x7ffc0000", "0x7ffc")])) for ln in lines]
    log = auditlog.parse([("fuzz", lines)])
    try:
        trace = _trace(log, tuple(data.draw(st.lists(st.integers(1, 1000), max_size=2))))
    except SeccompGenError as exc:
        assert "\n" not in exc.one_line()
        return
    assert trace.total_calls <= len(log.records)


# --- the command ----------------------------------------------------------------------------------


def test_import_audit_records_to_trace_and_to_profile(tmp_path: Path) -> None:
    out = tmp_path / "miss.trace.json"
    res = run("import", AUDIT_LOG, "-o", out, "--exe", "/usr/bin/ls")
    assert res.returncode == 0, res.stderr
    assert names(out) == {("x86_64", n) for n in LS_MISSES}
    assert "read 31 SECCOMP record(s) in 31 line(s)" in res.stderr
    prof = tmp_path / "miss.json"
    res = run("import", AUSEARCH, "-o", prof, "--pid", str(LS_PID), "--format", "oci")
    assert res.returncode == 0, res.stderr
    doc = json.loads(prof.read_text())
    allowed = {n for rule in doc["syscalls"] if rule["action"] == "SCMP_ACT_ALLOW"
               for n in rule["names"]}
    assert allowed >= LS_MISSES


def test_stdin_and_forced_kinds(tmp_path: Path) -> None:
    out = tmp_path / "a.json"
    res = run("import", "-", "-o", out, "--pid", str(I386_PID), stdin=DMESG.read_text())
    assert res.returncode == 0, res.stderr
    assert names(out) == {("x86", n) for n in I386_CALLS}
    # --from forces the reader: each kind read as the other is a one-line error.
    line = one_error_line(run("import", STRACE, "--from", "audit", "-o", tmp_path / "b.json"))
    assert "no SECCOMP audit records found" in line
    line = one_error_line(run("import", AUDIT_LOG, "--from", "strace", "-o", tmp_path / "c.json"))
    assert "no strace syscall lines found" in line
    assert not (tmp_path / "b.json").exists() and not (tmp_path / "c.json").exists()


@pytest.mark.parametrize(("text", "expect"), [
    ("", "empty file"),
    ("type=SYSCALL msg=audit(1.2:3): arch=c000003e syscall=59 success=yes exit=0\n"
     "type=PROCTITLE msg=audit(1.2:3): proctitle=6C73\n",
     "no SECCOMP audit records found: 0 SECCOMP record(s) in 2 line(s); skipped: 2 other audit "
     "record(s) (PROCTITLE 1, SYSCALL 1)"),
    ("time->Tue Dec  1 23:51:54 2026\n\x1b[2Jgarbage\n", "1 line(s) that are no audit record"),
], ids=["empty", "other-records-only", "garbage"])
def test_no_records_is_one_line_and_writes_nothing(tmp_path: Path, text: str,
                                                   expect: str) -> None:
    src, out = tmp_path / "audit.log", tmp_path / "out.json"
    src.write_text(text)
    line = one_error_line(run("import", src, "--from", "audit", "-o", out))
    assert expect in line, line
    assert not out.exists()


def test_bad_input_and_filters(tmp_path: Path) -> None:
    out = tmp_path / "o.json"
    line = one_error_line(run("import", AUSEARCH_I, "-o", out))
    assert "ausearch -i" in line and "without -i" in line
    line = one_error_line(run("import", AUDIT_LOG, "-o", out, "--exe", "/nope"))
    assert "none of the 31 SECCOMP record(s) is of --exe /nope" in line
    assert "/usr/bin/ls (10)" in line
    line = one_error_line(run("import", STRACE, "-o", out, "--pid", "1"))
    assert "select SECCOMP audit records" in line
    assert "not a process id" in run("import", AUDIT_LOG, "-o", out, "--pid", "-3").stderr
    bad = tmp_path / "bad.log"
    bad.write_text(AUDIT_LOG.read_text() + "type=SECCOMP msg=audit(9.9:9): pid=1 comm=\"x\"\n")
    line = one_error_line(run("import", bad, "-o", out, "--strict"))
    assert "1 line(s) not understood (--strict)" in line and "bad.log:32" in line
    res = run("import", bad, "-o", out)  # without --strict: shown and counted, not fatal
    assert res.returncode == 0 and "bad.log:32" in res.stderr
    assert "1 SECCOMP record(s) could not be read" in " ".join(
        json.loads(out.read_text())["header"]["notes"])
    # Records of two kinds of machine: one line, unless --arch keeps one of them.
    other = tmp_path / "other.log"
    other.write_text(AUDIT_LOG.read_text() + sample_line(AUDIT_LOG, 31082036).replace(
        "arch=c000003e syscall=137", "arch=c00000b7 syscall=227"))  # aarch64 msync
    line = one_error_line(run("import", other, "-o", tmp_path / "x.json"))
    assert "different kinds of machine: aarch64 (1 records), x86_64 (31 records)" in line
    res = run("import", other, "-o", tmp_path / "y.json", "--arch", "aarch64")
    assert res.returncode == 0, res.stderr
    assert names(tmp_path / "y.json") == {("aarch64", "msync")}
    unknown = tmp_path / "unknown.log"
    unknown.write_text(sample_line(AUDIT_LOG, 31082036).replace("arch=c000003e", "arch=1234"))
    line = one_error_line(run("import", unknown, "-o", tmp_path / "z.json"))
    assert "not one libseccomp knows: audit_arch_0x1234" in line


def test_nothing_is_overwritten_and_the_cap_holds(tmp_path: Path) -> None:
    out = tmp_path / "o.json"
    out.write_text("mine")
    line = one_error_line(run("import", AUDIT_LOG, "-o", out))
    assert "already exists" in line and out.read_text() == "mine"
    big = tmp_path / "big.log"
    big.write_text(AUDIT_LOG.read_text() * 40)
    env = {**os.environ, "SECCOMP_GEN_MAX_INPUT": "64K"}
    line = one_error_line(run("import", big, "-o", tmp_path / "n.json", env=env))
    assert "larger than the input limit of 64 KiB" in line
    assert not (tmp_path / "n.json").exists()


def test_the_same_records_twice_count_once(tmp_path: Path) -> None:
    once, twice = tmp_path / "1.json", tmp_path / "2.json"
    assert run("import", AUDIT_LOG, "-o", once).returncode == 0
    res = run("import", AUDIT_LOG, KMSG, "-o", twice)
    assert res.returncode == 0, res.stderr
    a, b = traces.load(once), traces.load(twice)
    assert (a.syscall_set(), a.total_calls) == (b.syscall_set(), b.total_calls)
    assert "31 duplicate record(s)" in res.stderr
