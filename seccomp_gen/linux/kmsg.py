"""The kernel log (``/dev/kmsg``): the records written after a given moment.

``run --mode kill`` opens it before the workload starts (:func:`open_at_end`) and reads, after a
death by SIGSYS, the seccomp audit records the kernel logged in between (:func:`records_since`).
Reading needs root (or CAP_SYSLOG); without it there is nothing to read, never an error.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator


def open_at_end() -> int:
    """/dev/kmsg positioned at its end, or -1 (not readable, e.g. not root)."""
    try:
        fd = os.open("/dev/kmsg", os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return -1
    try:
        os.lseek(fd, 0, os.SEEK_END)
    except OSError:
        os.close(fd)
        return -1
    return fd


def records_since(fd: int) -> Iterator[bytes]:
    """Every record logged since ``fd`` was opened (one per read); closes ``fd`` at the end.
    Nothing for fd -1."""
    if fd < 0:
        return
    try:
        while True:
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
