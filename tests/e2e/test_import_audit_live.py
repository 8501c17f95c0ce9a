"""The drift loop with the kernel's own SECCOMP records: real filters, real records, real runc.

A profile generated with ``--default-action log`` lets every call through and makes the kernel
write a SECCOMP record for each call it does not list. Without an audit daemon the kernel prints
them to its log; these tests read them back with ``dmesg`` (never registering as the audit
daemon: another test may own it) and import them.

The kernel log is machine-wide and lossy, so each capture is a window between two marker
records (a child that logs one getppid call; the audit queue is FIFO, so once the closing
marker is printed every record before it is too). Records of other processes in the window are
left out by ``--pid``/``--exe``. The kernel log's rate limit (10 messages per 5 s, shared by
every ``printk_ratelimit`` caller) would drop most records, so it is lifted for the window
(``kernel.printk_ratelimit = 0``) and restored after. Each capture is checked against the
records the kernel multicast meanwhile (the read-only group journald reads): when an audit
daemon registered by another test took some records, the capture is incomplete and the test
skips, printing why (a machine condition, not a result); with a daemon registered at the start
it skips too. Every wait has a hard cap.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import threading
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
from seccomp_gen.auditrecord import AUDIT_SECCOMP, SeccompRecord, parse_seccomp_record
from seccomp_gen.linux.audit import NETLINK_AUDIT, AuditSocket

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
#: linux/audit.h: the multicast group of audit records for readers (CAP_AUDIT_READ).
_AUDIT_NLGRP_READLOG = 1


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


def _audit_daemon() -> int:
    """The pid of the registered audit daemon (0: none, records go to the kernel log)."""
    sock = AuditSocket()
    try:
        return sock.status().pid
    finally:
        sock.close()


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


def _marker() -> int:
    """Run the marker child (one logged getppid); its pid."""
    res = run([sys.executable, "-c", _MARKER])
    assert res.returncode == 0, res.stderr
    return pid_of(res)


def _is_marker(rec: SeccompRecord | None, pid: int) -> bool:
    return rec is not None and rec.pid == pid and rec.syscall == _GETPPID_X86_64


class _Multicast:
    """Every audit record the kernel sends, as a reader of its multicast group sees them
    (AUDIT_NLGRP_READLOG: what journald reads; not the audit daemon's unicast, so nothing is
    taken from anyone). kauditd multicasts each record, then prints it (or hands it to a
    daemon), in one order: the ground truth a dmesg capture is checked against."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC,
                                  NETLINK_AUDIT)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        self.sock.bind((0, 1 << (_AUDIT_NLGRP_READLOG - 1)))
        self.sock.settimeout(0.2)
        self.records: list[SeccompRecord] = []
        self.overflow = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                continue
            except OSError as exc:
                if exc.errno == errno.ENOBUFS:  # records dropped on this socket: cannot check
                    self.overflow = True
                    continue
                return
            if len(data) > 16 and struct.unpack_from("=H", data, 4)[0] == AUDIT_SECCOMP:
                rec = parse_seccomp_record(data[16:])
                if rec is not None:
                    self.records.append(rec)

    def between(self, first: int, last: int) -> list[SeccompRecord] | None:
        """The records sent after marker ``first`` and before marker ``last`` (waiting for it,
        with a hard cap); None if they cannot be known (this socket overflowed)."""
        deadline = time.monotonic() + MARKER_WAIT
        while not any(_is_marker(r, last) for r in list(self.records)):
            if time.monotonic() > deadline:
                return None
            time.sleep(0.05)
        self.close()
        recs = self.records
        i = next((i for i, r in enumerate(recs) if _is_marker(r, first)), None)
        j = next(j for j, r in enumerate(recs) if _is_marker(r, last))
        return None if self.overflow or i is None else recs[i + 1:j]

    def close(self) -> None:
        if not self._stop.is_set():
            self._stop.set()
            self._thread.join()
            self.sock.close()


class KernelLog:
    """Windows of the kernel log, read with dmesg, each checked to be complete."""

    @contextlib.contextmanager
    def window(self) -> Iterator[list[str]]:
        """The dmesg lines logged while the body runs (filled in when it ends), between two
        marker records. Skips, saying why, when the kernel log did not get every record the
        kernel sent meanwhile (an audit daemon registered by another test took some)."""
        lines: list[str] = []
        old = RATELIMIT.read_text()
        multicast = _Multicast()
        RATELIMIT.write_text("0")
        try:
            first = _marker()
            yield lines
            last = _marker()
            sent = multicast.between(first, last)
            deadline = time.monotonic() + MARKER_WAIT
            while True:
                text = run(["dmesg"]).stdout.splitlines()
                recs = [auditrecord_of(ln) for ln in text]
                i = next((i for i, r in enumerate(recs) if _is_marker(r, first)), None)
                j = next((j for j, r in enumerate(recs) if _is_marker(r, last)), None)
                if i is not None and j is not None:
                    lines += text[i + 1:j]
                    break
                if time.monotonic() > deadline:
                    if owner := _audit_daemon():
                        _skip(f"process {owner} registered as the audit daemon during the test: "
                              "the records went to it")
                    pytest.fail(f"the marker records did not reach the kernel log in "
                                f"{MARKER_WAIT}s")
                time.sleep(0.2)
        finally:
            RATELIMIT.write_text(old)
            multicast.close()
        logged = {r.stamp for r in map(auditrecord_of, lines) if r is not None}
        missing = [r for r in sent or () if r.stamp not in logged]
        if missing:
            _skip(f"{len(missing)} of the {len(sent or ())} SECCOMP records the kernel sent in the "
                  "window did not reach its log (an audit daemon registered meanwhile took them)")


def auditrecord_of(line: str) -> SeccompRecord | None:
    return parse_seccomp_record(line) if "type=1326" in line else None


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
