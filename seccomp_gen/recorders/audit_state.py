"""What a log recording changed in the machine's audit settings, kept where the next run finds it.

A recorder that is SIGKILLed cannot set ``rate_limit``, ``backlog_limit`` and ``enabled`` back, so
under ``/run/seccomp-gen`` (0700, root only) a flock held for the whole recording says whether one
runs, and a state file written atomically *before* anything is changed says what to restore: the
next run that gets the lock and finds the file puts back each setting that still has the killed
recorder's value. Details: docs/backends/log.md, "The state file".
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..errors import SeccompGenError
from ..files.atomic import write_atomic

STATE_DIR = Path("/run/seccomp-gen")
LOCK_NAME = "log-backend.lock"
STATE_NAME = "audit-settings.json"
#: The settings saved and restored, in ``struct audit_status`` terms.
FIELDS = ("enabled", "rate_limit", "backlog_limit")
#: How long a starting recording waits for the lock (another one may be probing it).
LOCK_WAIT_S = 1.0


@dataclass(frozen=True)
class SavedSettings:
    """The audit settings before a recording, and what it sets them to (``ours``: only the
    fields it may change)."""

    owner: int
    enabled: int
    rate_limit: int
    backlog_limit: int
    ours: dict[str, int] = field(default_factory=dict)

    def to_restore(self, current: dict[str, int]) -> dict[str, int]:
        """The fields to set back, with their old values: those that still hold ours."""
        before = asdict(self)
        return {name: before[name] for name, value in sorted(self.ours.items())
                if name in FIELDS and current.get(name) == value and before[name] != value}


class AuditClaim:
    """The lock and the state file of one log recording (docs/backends/log.md)."""

    def __init__(self, directory: Path = STATE_DIR) -> None:
        self.directory = directory
        self.fd = -1
        #: Why the settings cannot be kept here (a note for the trace header), or None.
        self.problem: str | None = None

    @property
    def state_path(self) -> Path:
        return self.directory / STATE_NAME

    def acquire(self) -> bool:
        """Take the lock; False if another live recording holds it. Without a usable directory
        (not root, read-only /run) the recording goes on unprotected and ``problem`` says so."""
        try:
            self.directory.mkdir(mode=0o700, exist_ok=True)
            self.fd = os.open(self.directory / LOCK_NAME,
                              os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
        except OSError as exc:
            self.problem = f"{self.directory}: {exc.strerror or exc}"
            return True
        deadline = time.monotonic() + LOCK_WAIT_S
        while True:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(self.fd)
                    self.fd = -1
                    return False
                time.sleep(0.01)

    def release(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)  # drops the lock
            self.fd = -1

    def saved(self) -> SavedSettings | None:
        """What a recording that did not finish left in the state file (None: nothing)."""
        return read_saved(self.directory)

    def save(self, settings: SavedSettings) -> None:
        """Write the state file atomically; on failure, say so in ``problem`` and go on."""
        if self.fd < 0:
            return
        try:
            write_atomic(self.state_path, json.dumps(asdict(settings), sort_keys=True) + "\n")
            os.chmod(self.state_path, 0o600)
        except (SeccompGenError, OSError) as exc:
            self.problem = str(exc)

    def clear(self) -> None:
        """Remove the state file (the settings are restored)."""
        if self.fd >= 0:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.state_path)


def read_saved(directory: Path = STATE_DIR) -> SavedSettings | None:
    """The state file's content, or None when there is none (or it is not ours to read)."""
    try:
        doc = json.loads((directory / STATE_NAME).read_text(encoding="utf-8"))
        ours = {str(k): int(v) for k, v in dict(doc.get("ours", {})).items()}
        return SavedSettings(owner=int(doc["owner"]), enabled=int(doc["enabled"]),
                             rate_limit=int(doc["rate_limit"]),
                             backlog_limit=int(doc["backlog_limit"]), ours=ours)
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return None


def lock_held(directory: Path = STATE_DIR) -> bool:
    """Whether a live log recording holds the lock (probed with a shared lock, let go at once)."""
    try:
        fd = os.open(directory / LOCK_NAME, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        os.close(fd)
    return False
