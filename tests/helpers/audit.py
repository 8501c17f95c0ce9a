"""The audit subsystem's settings, read and put back around the log backend's tests.

Machine-wide state: only the log backend's tests (``-k log``) use this module.
"""

from __future__ import annotations

import os

from seccomp_gen.linux.audit import (
    STATUS_BACKLOG_LIMIT,
    STATUS_ENABLED,
    STATUS_PID,
    STATUS_RATE_LIMIT,
    AuditSocket,
)


def audit_settings() -> tuple[int, int, int]:
    """(enabled, rate_limit, backlog_limit) of the audit subsystem."""
    conn = AuditSocket()
    try:
        s = conn.status()
    finally:
        conn.close()
    return s.enabled, s.rate_limit, s.backlog_limit


def restore_audit_settings(saved: tuple[int, int, int]) -> None:
    """Put back what a killed log recorder left changed, and drop its dead registration (by
    registering this process over it, then unregistering)."""
    conn = AuditSocket()
    try:
        status = conn.status()
        if status.pid and not os.path.exists(f"/proc/{status.pid}"):
            conn.set(STATUS_PID, pid=os.getpid())
            conn.set(STATUS_PID, pid=0)
        conn.set(STATUS_ENABLED | STATUS_RATE_LIMIT | STATUS_BACKLOG_LIMIT, enabled=saved[0],
                 rate_limit=saved[1], backlog_limit=saved[2])
    finally:
        conn.close()
