"""The kernel log (``/dev/kmsg``): the records written after a given moment, or all it holds.

``run --mode kill`` opens it before the workload starts (:func:`open_at_end`) and reads, after a
death by SIGSYS, the seccomp audit records the kernel logged in between
(:func:`seccomp_records_since`); reading needs root (or CAP_SYSLOG), and without it there is
nothing to read, never an error. ``import /dev/kmsg`` reads every record the log holds now
(:func:`read_all`) without waiting for more: a plain read of /dev/kmsg blocks at its end.
"""

from __future__ import annotations

import errno
import os
import stat
import time
from collections.abc import Iterator

from ..auditrecord import SeccompRecord, parse_seccomp_record

KMSG = "/dev/kmsg"
#: /dev/kmsg's device number (``Documentation/admin-guide/devices.txt``: 1 char, minor 11).
_KMSG_DEV = (1, 11)


def open_at_end() -> int:
    """/dev/kmsg positioned at its end, or -1 (not readable, e.g. not root)."""
    try:
        fd = os.open(KMSG, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return -1
    try:
        os.lseek(fd, 0, os.SEEK_END)
    except OSError:
        os.close(fd)
        return -1
    return fd


#: Hard caps on one read of the log: it is machine-wide, and a process that logs without pause
#: (a flood of seccomp LOG records, a driver) would otherwise keep the reader going for ever.
MAX_RECORDS = 200_000
MAX_SECONDS = 5.0


def records_since(fd: int, *, max_records: int = MAX_RECORDS,
                  max_seconds: float = MAX_SECONDS) -> Iterator[bytes]:
    """Every record logged since ``fd`` was opened (one per read), up to ``max_records`` or
    ``max_seconds``, whichever comes first; closes ``fd`` at the end. Nothing for fd -1."""
    if fd < 0:
        return
    deadline = time.monotonic() + max_seconds
    try:
        for _ in range(max_records):
            if time.monotonic() > deadline:
                return
            try:
                rec = os.read(fd, 8192)
            except BlockingIOError:
                return
            except OSError as exc:
                if exc.errno == errno.EPIPE:  # records overwritten while we read: go on
                    continue
                return
            if not rec:
                return
            yield rec
    finally:
        os.close(fd)


def seccomp_records_since(fd: int) -> Iterator[SeccompRecord]:
    """The seccomp audit records among :func:`records_since` (``fd`` is closed at the end)."""
    for text in records_since(fd):
        rec = parse_seccomp_record(text)
        if rec is not None:
            yield rec


def is_kmsg(path: str) -> bool:
    """Whether ``path`` is the kernel log device (by device number, whatever its name)."""
    try:
        st = os.stat(path)
    except OSError:
        return False
    return stat.S_ISCHR(st.st_mode) and (os.major(st.st_rdev), os.minor(st.st_rdev)) == _KMSG_DEV


def read_all(path: str = KMSG) -> str:
    """Every record the kernel log holds now, as text (``PRI,SEQ,USEC,FLAGS;MESSAGE`` lines, as
    /dev/kmsg gives them); raises OSError if it cannot be opened. Bounded by the kernel's log
    buffer."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)  # opens at the oldest record
    return "".join(rec.decode("utf-8", "replace")
                   for rec in records_since(fd, max_records=4_000_000, max_seconds=30.0))
