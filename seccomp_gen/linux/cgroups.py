"""The cgroup v2 hierarchy: where it is mounted, and a directory of our own in it whose id a BPF
program can compare with ``bpf_get_current_ancestor_cgroup_id``."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import RecordError


def _unescape(field: str) -> str:
    """A mountinfo path field: spaces, tabs, newlines and backslashes are octal escapes."""
    for code, char in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        field = field.replace(code, char)
    return field


def unified_mount(mountinfo: str | None = None) -> tuple[str, str] | None:
    """(mount point, root inside the hierarchy) of the cgroup v2 hierarchy, or None when none
    is mounted. ``mountinfo``: the text of /proc/self/mountinfo (read when None)."""
    if mountinfo is None:
        mountinfo = Path("/proc/self/mountinfo").read_text()
    for line in mountinfo.splitlines():
        head, sep, tail = line.partition(" - ")
        fields = head.split()
        if sep and len(fields) >= 5 and tail.split(" ", 1)[0] == "cgroup2":
            return _unescape(fields[4]), _unescape(fields[3])
    return None


@dataclass(frozen=True)
class CgroupDir:
    """A directory we made below the root of the cgroup v2 hierarchy."""

    path: str
    #: The kernel's id of the cgroup (its inode number on cgroup2), as BPF helpers report it.
    id: int
    #: Its depth below the hierarchy's root (the root is 0), the ancestor level to ask for.
    level: int

    def remove(self) -> bool:
        """Remove it (and whatever empty cgroups were left in it); False if one is still busy."""
        ok = True
        for root, dirs, _ in os.walk(self.path, topdown=False):
            for d in dirs:
                with contextlib.suppress(OSError):
                    os.rmdir(os.path.join(root, d))
        try:
            os.rmdir(self.path)
        except FileNotFoundError:
            pass
        except OSError:
            ok = False
        return ok


def make_cgroup(name: str) -> CgroupDir:
    """``name`` made directly below the root of the cgroup v2 hierarchy (as mounted here)."""
    mount = unified_mount()
    if mount is None:
        raise RecordError("no cgroup v2 hierarchy is mounted here (mount -t cgroup2)")
    point, root = mount
    path = os.path.join(point, name)
    try:
        os.mkdir(path, 0o755)
    except OSError as exc:
        raise RecordError(f"cannot make the cgroup {path}: {exc.strerror}") from None
    level = len([p for p in os.path.join(root, name).split("/") if p])
    return CgroupDir(path, os.stat(path).st_ino, level)
