"""What ``/proc`` says about processes: status fields, executables, parents, children.

The parsers (:func:`parse_status`, :func:`parse_stat_ppid`) are pure and take the file's text;
each reader is one small function around them that returns an empty answer for a process that
is gone (the processes seccomp-gen watches end at any moment).
"""

from __future__ import annotations

import contextlib
import os


def parse_status(text: str) -> dict[str, str]:
    """``/proc/PID/status`` text as a dict (``{"Tgid": "42", "State": "S (sleeping)", ...}``)."""
    return dict(line.split(":\t", 1) for line in text.splitlines() if ":\t" in line)


def parse_stat_ppid(text: str) -> int:
    """The parent pid in ``/proc/PID/stat`` (after the command name, which may hold spaces)."""
    return int(text[text.rindex(")") + 2:].split()[1])


def status_fields(tid: int) -> dict[str, str]:
    """``/proc/TID/status`` as a dict (empty if the thread is gone)."""
    try:
        with open(f"/proc/{tid}/status", encoding="ascii", errors="replace") as fh:
            return parse_status(fh.read())
    except OSError:
        return {}


def exe_of(pid: int) -> str:
    """The executable of a live process (``/proc/PID/exe``), ``?`` when it cannot be read."""
    try:
        return os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return "?"


def parent_of(pid: int) -> int | None:
    """PPid of a live process, None if it is gone."""
    text = status_fields(pid).get("PPid")
    return int(text) if text and text.strip().isdigit() else None


def pending_signals(pid: int) -> int:
    """The signals pending for a process, thread-directed and shared, as a bit mask."""
    fields = status_fields(pid)
    return int(fields.get("SigPnd", "0"), 16) | int(fields.get("ShdPnd", "0"), 16)


def is_running(pid: int) -> bool:
    """Whether ``pid`` is a running process: not gone, and not a zombie (a killed process whose
    parent has not reaped it yet is dead, though kill(pid, 0) still succeeds)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return status_fields(pid).get("State", "X")[:1] not in ("Z", "X")


def children_of(pid: int) -> set[int]:
    """The pids of ``pid``'s children, zombies included (every thread's). From
    ``/proc/PID/task/TID/children`` where the kernel has it, else from every process's PPid."""
    kids: set[int] = set()
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return kids
    found = False
    for tid in tids:
        with contextlib.suppress(OSError), open(f"/proc/{pid}/task/{tid}/children") as fh:
            kids.update(int(p) for p in fh.read().split())
            found = True
    if found:
        return kids
    for name in os.listdir("/proc"):  # CONFIG_PROC_CHILDREN is off
        if name.isdigit():
            with contextlib.suppress(OSError, ValueError, IndexError), \
                    open(f"/proc/{name}/stat") as fh:
                if parse_stat_ppid(fh.read()) == pid:
                    kids.add(int(name))
    return kids


def open_fds() -> list[int]:
    """This process's open file descriptors."""
    return sorted(int(name) for name in os.listdir("/proc/self/fd"))


def mapped_file(name_part: str) -> str | None:
    """The path of the first file mapped into this process whose name contains ``name_part``
    (``libseccomp.so``: which library ctypes loaded), or None."""
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="surrogateescape") as fh:
            for line in fh:
                path = line.rstrip("\n").split(maxsplit=5)[5:]
                if path and name_part in os.path.basename(path[0]):
                    return path[0]
    except OSError:
        pass
    return None
