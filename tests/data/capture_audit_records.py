"""Capture real seccomp audit records into seccomp-audit-records.json (run as root, by hand).

``python tests/data/capture_audit_records.py GETPPID_LOOP HELLO32 >OUT.json`` (the committed file:
tests/data/seccomp-audit-records.json), with the two programs built from tests/c
(``gcc -O1 -o getppid_loop tests/c/getppid_loop.c``,
``gcc -m32 -static -O1 -o hello32 tests/c/hello32.c``).

Each workload runs under a one-rule filter (pyseccomp, default ALLOW): LOG or KILL_PROCESS of one
syscall. The kernel's records are read the way seccomp-gen reads them: from /dev/kmsg (one record
per read, as ``run --mode kill`` reads them) and, for one of them, from NETLINK_AUDIT, on the
read-log multicast group (AUDIT_NLGRP_READLOG, what journald uses: no audit daemon is registered
or displaced, so another program's log recording is not disturbed). Next to each record goes what
the capture knows independently of any parser: the workload's pid (it is the filter loader's, which
execs it), its exe, the call's AUDIT_ARCH and number, the signal and the filter's return value.
Also kept: a real AUDIT_GET reply and ACK, and the oldest record of /dev/kmsg that is not an
audit record.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time

from seccomp_gen.linux.kmsg import open_at_end, records_since

LOADER = r"""
import os, sys, pyseccomp
action = {"log": pyseccomp.LOG, "kill": pyseccomp.KILL_PROCESS}[sys.argv[1]]
f = pyseccomp.SyscallFilter(pyseccomp.ALLOW)
f.add_arch(pyseccomp.Arch.X86)
f.add_rule(action, sys.argv[2])
f.load()
os.execv(sys.argv[3], sys.argv[3:])
"""
#: The filter's return value for each action, as the record's code= field carries it.
CODES = {"log": 0x7FFC0000, "kill": 0x80000000}
AUDIT_ARCH_X86_64, AUDIT_ARCH_I386 = 0xC000003E, 0x40000003
SIGSYS = 31
NLGRP_READLOG = 1


def under(action: str, call: str, arch: int, nr: int, argv: list[str],
          mcast: socket.socket | None = None) -> dict[str, object]:
    """Run argv under the one-rule filter; its kmsg records (and netlink datagrams). The kernel
    log is rate-limited (printk_ratelimit) and drops records when busy: try again, a few times."""
    for _ in range(10):
        got = _under(action, call, arch, nr, argv, mcast)
        if got["kmsg"] and (mcast is None or got["netlink"]):
            return got
        time.sleep(5)
    raise SystemExit(f"no record of {argv} reached the kernel log")


def _under(action: str, call: str, arch: int, nr: int, argv: list[str],
           mcast: socket.socket | None) -> dict[str, object]:
    fd = open_at_end()
    assert fd >= 0, "/dev/kmsg is not readable (run as root)"
    proc = subprocess.Popen([sys.executable, "-c", LOADER, action, call, *argv],
                            stdout=subprocess.DEVNULL)
    proc.wait(timeout=30)
    time.sleep(0.3)
    kmsg = [r for r in records_since(fd) if b" pid=%d " % proc.pid in r]
    datagrams = []
    deadline = time.monotonic() + 1
    while mcast is not None and time.monotonic() < deadline:
        if select.select([mcast], [], [], 0.1)[0]:
            data = mcast.recv(65536)
            if b" pid=%d " % proc.pid in data:
                datagrams.append(data.hex())
    return {"kmsg": [r.decode("ascii") for r in kmsg], "netlink": datagrams,
            "expect": {"pid": proc.pid, "exe": os.path.realpath(argv[0]),
                       "sig": SIGSYS if action == "kill" else 0, "arch": arch, "syscall": nr,
                       "code": CODES[action]}}


def replies() -> dict[str, str]:
    """A real AUDIT_GET reply, and the ACK of an AUDIT_GET that asked for one."""
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 9)
    s.bind((0, 0))
    s.settimeout(5)
    s.send(struct.pack("=IHHII", 16, 1000, 0x1, 1, 0))
    get = s.recv(65536)
    s.send(struct.pack("=IHHII", 16, 1000, 0x1 | 0x4, 2, 0))
    got = [s.recv(65536), s.recv(65536)]
    ack = next(d for d in got if struct.unpack_from("=H", d, 4)[0] == 2)
    s.close()
    return {"audit_get_reply": get.hex(), "ack": ack.hex()}


def main() -> None:
    loop, hello32 = sys.argv[1], sys.argv[2]
    spaced = tempfile.mkdtemp(prefix="sg sample ")
    odd = os.path.join(spaced, "get ppid")  # a space: the kernel writes exe= in hex
    shutil.copy(loop, odd)
    mcast = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 9)
    mcast.bind((0, NLGRP_READLOG))
    records = {
        "audited_x86_64": under("log", "getppid", AUDIT_ARCH_X86_64, 110, [loop, "1"], mcast),
        "killed_x86_64": under("kill", "getppid", AUDIT_ARCH_X86_64, 110, [loop, "1"]),
        "audited_hex_exe": under("log", "getppid", AUDIT_ARCH_X86_64, 110, [odd, "1"]),
        "audited_i386": under("log", "getpid", AUDIT_ARCH_I386, 20, [hello32]),
    }
    shutil.rmtree(spaced)
    other = next(r for r in records_since(os.open("/dev/kmsg", os.O_RDONLY | os.O_NONBLOCK))
                 if b"audit" not in r).decode("ascii", "backslashreplace")
    json.dump({"kernel": os.uname().release, "records": records, "replies": replies(),
               "not_a_record": other}, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
