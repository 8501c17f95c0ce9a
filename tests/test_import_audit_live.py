"""The drift loop with the kernel's own SECCOMP records: real filters, real records, real runc.

A profile generated with ``--default-action log`` lets every call through and makes the kernel
write a SECCOMP record for each call it does not list. Without an audit daemon the kernel prints
them to its log; these tests read them back with ``dmesg`` (never registering as the audit
daemon: another test may own it) and import them.

The kernel log is machine-wide and lossy, so each capture is a window: a line written to
/dev/kmsg opens it, and a marker record closes it (a child that logs one getppid call; the audit
queue is FIFO, so once the marker is printed every record before it is too). Records of other
processes in the window are left out by ``--pid``/``--exe``. The kernel log's rate limit (10
messages per 5 s, shared by every ``printk_ratelimit`` caller) would drop most records, so it is
lifted for the window (``kernel.printk_ratelimit = 0``) and restored after. Waiting has a hard
cap. When an audit daemon is registered, records go to it and not to the kernel log: the tests
then skip, printing why (a machine condition, not a result).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

# The OCI bundle (busybox-static rootfs, runc spec config), its runner and the child runner
# (own session, SIGKILL of the group on overrun), from the consumer tests; ``bundle`` is their
# fixture.
from test_consumers import (
    EXPECTED,
    SCRIPT,
    WORK_ONLY,
    Bundle,
    bundle,
    record_in_bundle,
    run,
    runc_run,
)

from seccomp_gen import dump_trace
from seccomp_gen.linux.audit import AuditSocket, AuditStatus

__all__ = ["bundle"]

pytestmark = [pytest.mark.live,
              pytest.mark.skipif(sys.platform != "linux", reason="Linux only")]

CLI = [sys.executable, "-m", "seccomp_gen"]
#: Seconds to wait for the closing marker record to reach the kernel log.
MARKER_WAIT = 15
RATELIMIT = Path("/proc/sys/kernel/printk_ratelimit")

# Loads an OCI profile with libseccomp in this process, then execs the command (argv: PROFILE
# COMMAND...): the profile is the workload's only filter, as a runtime would load it.
_LOAD_AND_EXEC = (
    "import os, sys\n"
    "print(os.getpid(), file=sys.stderr, flush=True)\n"
    "from seccomp_gen.files.profiles import load_profile\n"
    "from seccomp_gen.libseccomp import compile_profile\n"
    "profile, _ = load_profile(sys.argv[1])\n"
    "compile_profile(profile).load()\n"
    "os.execv(sys.argv[2], sys.argv[2:])\n"
)
# The closing marker: one logged getppid, nothing else.
_MARKER = (
    "import os, sys, pyseccomp\n"
    "print(os.getpid(), file=sys.stderr, flush=True)\n"
    "f = pyseccomp.SyscallFilter(pyseccomp.ALLOW)\n"
    "f.add_rule(pyseccomp.LOG, 'getppid')\n"
    "f.load()\n"
    "os.getppid()\n"
)
_GETPPID_X86_64 = 110


def cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    res = run([*CLI, *map(str, args)])
    assert res.returncode == 0, f"seccomp-gen {' '.join(map(str, args))}: {res.stderr}"
    return res


def pid_of(res: subprocess.CompletedProcess[str]) -> int:
    """The pid a helper printed first on stderr (it execs the workload in that process)."""
    first = res.stderr.split("\n", 1)[0]
    assert first.isdigit(), res.stderr
    return int(first)


def _skip(why: str) -> None:
    print(f"SKIP: {why}")
    pytest.skip(why)


def _audit_status() -> AuditStatus:
    sock = AuditSocket()
    try:
        return sock.status()
    finally:
        sock.close()


def _audit_daemon() -> int:
    """The pid of the registered audit daemon (0: none, records go to the kernel log)."""
    return _audit_status().pid


@pytest.fixture
def kernel_log() -> Iterator[KernelLog]:
    if os.geteuid() != 0:
        _skip("reading the kernel log and lifting its rate limit need root")
    m = re.search(r"^Seccomp:\s*(\d+)", Path("/proc/self/status").read_text(), re.M)
    if m is None:
        _skip("the kernel has no seccomp (no Seccomp: line in /proc/self/status)")
    deadline = time.monotonic() + 30
    while (owner := _audit_daemon()) and time.monotonic() < deadline:
        time.sleep(0.5)
    if owner:
        _skip(f"process {owner} is registered as the audit daemon: SECCOMP records go to it, "
              "not to the kernel log")
    yield KernelLog()


class KernelLog:
    """Windows of the kernel log, read with dmesg."""

    @contextlib.contextmanager
    def window(self) -> Iterator[list[str]]:
        """The dmesg lines logged while the body runs (filled in when it ends)."""
        token = secrets.token_hex(8)
        lines: list[str] = []
        old = RATELIMIT.read_text()
        lost = _audit_status().lost
        RATELIMIT.write_text("0")
        try:
            with open("/dev/kmsg", "w") as kmsg:
                kmsg.write(f"seccomp-gen-test: window {token} opens\n")
            yield lines
            marker = run([sys.executable, "-c", _MARKER])
            assert marker.returncode == 0, marker.stderr
            pid = pid_of(marker)
            closing = re.compile(rf"\bpid={pid} .* syscall={_GETPPID_X86_64} ")
            deadline = time.monotonic() + MARKER_WAIT
            while True:
                text = run(["dmesg"]).stdout.splitlines()
                start = next((i for i, ln in enumerate(text)
                              if f"window {token} opens" in ln), None)
                assert start is not None, "the window's opening line left the kernel log"
                end = next((i for i, ln in enumerate(text) if i > start and closing.search(ln)),
                           None)
                if end is not None:
                    lines += text[start + 1:end]
                    break
                if time.monotonic() > deadline:
                    if owner := _audit_daemon():
                        _skip(f"process {owner} registered as the audit daemon during the test: "
                              "the records went to it")
                    pytest.fail(f"the marker record did not reach the kernel log in "
                                f"{MARKER_WAIT}s")
                time.sleep(0.2)
        finally:
            RATELIMIT.write_text(old)
        dropped = (_audit_status().lost - lost) & 0xFFFFFFFF
        if dropped:  # machine-wide: another process's backlog or rate limit; the capture is short
            _skip(f"the audit subsystem lost {dropped} record(s) during the window (status.lost)")


def _names(trace: Path) -> set[tuple[str, str]]:
    return {(s["arch"], s["name"]) for s in json.loads(trace.read_text())["syscalls"]}


def test_records_of_a_complain_profile_are_what_the_program_needs_beyond_it(
        tmp_path: Path, kernel_log: KernelLog) -> None:
    """``true``'s profile with a LOG default, ``ls /`` under it: the imported records name
    exactly what ``ls`` calls that ``true`` does not (both recorded with seccomp-gen)."""
    ls = shutil.which("ls") or "/bin/ls"
    true = shutil.which("true") or "/bin/true"
    cli("record", "-q", "-o", tmp_path / "true.trace.json", "--", true)
    cli("record", "-q", "-o", tmp_path / "ls.trace.json", "--", ls, "/")
    cli("generate", tmp_path / "true.trace.json", "--default-action", "log",
        "-o", tmp_path / "true.log.json")
    with kernel_log.window() as lines:
        work = run([sys.executable, "-c", _LOAD_AND_EXEC, str(tmp_path / "true.log.json"), ls,
                    "/"])
    assert work.returncode == 0, work.stderr
    captured = tmp_path / "dmesg.txt"
    captured.write_text("\n".join(lines) + "\n")
    pid = str(pid_of(work))
    exe = os.path.realpath(ls)
    cli("import", captured, "--pid", pid, "--exe", exe, "-o", tmp_path / "miss.trace.json")
    expected = _names(tmp_path / "ls.trace.json") - _names(tmp_path / "true.trace.json")
    assert expected, "ls needs nothing beyond true? the comparison would prove nothing"
    assert _names(tmp_path / "miss.trace.json") == expected
    doc = json.loads((tmp_path / "miss.trace.json").read_text())
    assert [p["exes"] for p in doc["processes"]] == [[exe]]


def test_import_dev_kmsg_reads_to_its_end(tmp_path: Path, kernel_log: KernelLog) -> None:
    """``import /dev/kmsg`` reads what the log holds and returns (a plain read would block)."""
    with kernel_log.window():
        pass  # the window's closing marker is a SECCOMP record in the kernel log
    out = tmp_path / "kmsg.trace.json"
    res = run([*CLI, "import", "/dev/kmsg", "-o", str(out)], timeout=30)
    assert res.returncode == 0, res.stderr
    assert ("x86_64", "getppid") in _names(out)


# --- the container drift loop (runc) -------------------------------------------------------------

def _configure(bundle: Bundle, args: Sequence[str], profile: Path) -> None:
    config_path = bundle.path / "config.json"
    config = json.loads(config_path.read_text())
    config["process"]["args"] = list(args)
    config["linux"]["seccomp"] = json.loads(profile.read_text())
    config_path.write_text(json.dumps(config, indent=1))


def test_container_drift_loop_with_runc(tmp_path: Path, kernel_log: KernelLog,
                                        bundle: Bundle) -> None:
    """A too-small profile in complain form (LOG default), the container's records imported
    and merged: the merged profile then runs the container in enforce mode, with its output.
    The too-small profile itself, enforced, does not."""
    work = ["/bin/busybox", "sh", "-c", SCRIPT]
    small, _ = record_in_bundle(bundle, tmp_path, ["/bin/busybox", "true"])
    dump_trace(small, tmp_path / "small.trace.json")
    cli("generate", tmp_path / "small.trace.json", "--baseline", "runc",
        "-o", tmp_path / "small.json")
    _configure(bundle, work, tmp_path / "small.json")
    res = runc_run(bundle, tmp_path)
    assert (res.returncode, res.stdout) != (0, EXPECTED), "the small profile already runs it"

    cli("generate", tmp_path / "small.trace.json", "--baseline", "runc", "--default-action",
        "log", "-o", tmp_path / "small.log.json")
    _configure(bundle, work, tmp_path / "small.log.json")
    with kernel_log.window() as lines:
        res = runc_run(bundle, tmp_path)
    assert (res.returncode, res.stdout) == (0, EXPECTED), res.stderr
    captured = tmp_path / "dmesg.txt"
    captured.write_text("\n".join(lines) + "\n")
    cli("import", captured, "--exe", "/bin/busybox", "-o", tmp_path / "miss.trace.json")
    missed = {n for _a, n in _names(tmp_path / "miss.trace.json")}
    assert WORK_ONLY in missed, missed

    cli("merge", tmp_path / "small.trace.json", tmp_path / "miss.trace.json",
        "-o", tmp_path / "all.trace.json")
    cli("generate", tmp_path / "all.trace.json", "--baseline", "runc",
        "-o", tmp_path / "all.json")
    _configure(bundle, work, tmp_path / "all.json")
    res = runc_run(bundle, tmp_path)
    assert (res.returncode, res.stdout) == (0, EXPECTED), res.stderr
