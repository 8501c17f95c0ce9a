"""A per-user cache of named addresses, by build id: the next ``record`` of the same program
names its call sites without reading libc's debug symbols again.

One small JSON file per (build id, debug file present) in ``symbols/`` of the cache directory
(:func:`seccomp_gen.linux.cachedir.cache_dir`, the C helpers' and the ebpf field cache's). Like
those it is trusted only when private: the directories and the file owned by this user and
writable by no one else, the file regular and not a link. A missing, foreign, or unreadable
entry is a miss; an entry that cannot be written costs time only.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat

from ..errors import SeccompGenError
from ..linux.cachedir import cache_dir
from .atomic import write_atomic

#: Bumped when what an entry means changes (how symbols are chosen): older entries are ignored.
VERSION = 2  # 2: Go code named from its pclntab


def _private(st: os.stat_result, kind: int) -> bool:
    return (stat.S_IFMT(st.st_mode) == kind and st.st_uid == os.geteuid()
            and not st.st_mode & 0o022)


def _directory(create: bool) -> str | None:
    """The private ``symbols`` directory, made if ``create``; None if it is not ours."""
    top = cache_dir()
    path = os.path.join(top, "symbols")
    for d in (top, path):
        try:
            if create:
                os.makedirs(d, mode=0o700, exist_ok=True)
            if not _private(os.lstat(d), stat.S_IFDIR):
                return None
        except OSError:
            return None
    return path


def _file(key: str, create: bool) -> str | None:
    if not key.replace("-", "").isalnum():
        return None
    directory = _directory(create)
    return None if directory is None else os.path.join(directory, f"{key}-v{VERSION}.json")


def load(key: str) -> dict[int, tuple[str, int] | None]:
    """The cached names of one object's addresses (vaddr -> (function, start) or None)."""
    path = _file(key, create=False)
    if path is None:
        return {}
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return {}
    try:
        if not _private(os.fstat(fd), stat.S_IFREG):
            return {}
        with os.fdopen(fd, "rb", closefd=False) as fh:
            doc = json.loads(fh.read(1 << 22))
        out: dict[int, tuple[str, int] | None] = {}
        for vaddr, value in doc["names"].items():
            out[int(vaddr)] = None if value is None else (str(value[0]), int(value[1]))
        return out
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        return {}
    finally:
        os.close(fd)


def save(key: str, names: dict[int, tuple[str, int] | None]) -> None:
    """Write one object's names (all of them: what :func:`load` gave plus the new ones)."""
    path = _file(key, create=True)
    if path is None:
        return
    doc = {"names": {str(v): None if n is None else [n[0], n[1]]
                     for v, n in sorted(names.items())}}
    with contextlib.suppress(OSError, SeccompGenError):  # unwritten, it costs time only
        write_atomic(path, json.dumps(doc, separators=(",", ":")))
