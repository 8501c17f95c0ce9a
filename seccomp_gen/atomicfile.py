"""Write files so that a reader sees the old content or the new, never half of either.

Also checks, before any long-running work, that the destination can be written at all: a user who
traced a workload for ten minutes should not learn only then that the output path is wrong.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from .errors import SeccompGenError


def check_writable(path: str | os.PathLike[str], *, force: bool = False) -> Path:
    """Fail early if ``path`` cannot be created, or already exists and ``force`` is not given."""
    target = Path(path)
    if target.is_dir():
        raise SeccompGenError("is a directory", path=str(target), hint="give a file name")
    if target.exists() and not force:
        raise SeccompGenError(
            "already exists", path=str(target), hint="use --force to replace it"
        )
    parent = target.parent if str(target.parent) else Path(".")
    if not parent.is_dir():
        raise SeccompGenError("directory does not exist", path=str(parent))
    try:
        fd, probe = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".probe", dir=parent)
    except OSError as exc:
        raise SeccompGenError(
            f"cannot write here: {exc.strerror or exc}", path=str(target)
        ) from None
    os.close(fd)
    os.unlink(probe)
    return target


def write_atomic(path: str | os.PathLike[str], data: str | bytes | Iterable[str]) -> None:
    """Write ``data`` to a temp file beside ``path``, fsync it, then rename it over ``path``.

    ``data`` may be an iterable of text pieces (a big trace), written as they come."""
    target = Path(path)
    payload = data.encode() if isinstance(data, str) else data
    parent = target.parent if str(target.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=parent)
    except OSError as exc:
        raise SeccompGenError(
            f"cannot write: {exc.strerror or exc}", path=str(target)
        ) from None
    try:
        with os.fdopen(fd, "wb") as fh:
            if isinstance(payload, bytes):
                fh.write(payload)
            else:
                for piece in payload:
                    fh.write(piece.encode())
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise SeccompGenError(
            f"cannot write: {exc.strerror or exc}", path=str(target)
        ) from None
    except BaseException:  # e.g. a piece that cannot be written: no temp file is left behind
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
