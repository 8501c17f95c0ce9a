"""Write files so that a reader sees the old content or the new, never half of either.

Also checks, before any long-running work, that the destination can be written at all: a user who
traced a workload for ten minutes should not learn only then that the output path is wrong.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Sequence

from ..errors import SeccompGenError


def clean_path(path: str | os.PathLike[str]) -> str:
    """``path`` as ``str(pathlib.Path(path))`` writes it (repeated and trailing slashes and
    ``.`` parts dropped, ``..`` kept), without importing pathlib: 3 ms of ``record``'s
    start-up."""
    text = os.fspath(path)
    root = "//" if text.startswith("//") and not text.startswith("///") else (
        "/" if text.startswith("/") else "")
    parts = [p for p in text.split("/") if p not in ("", ".")]
    return root + "/".join(parts) if root or parts else "."


def _parent(path: str) -> str:
    """The directory a cleaned ``path`` is in (``.`` for a bare name), as pathlib's parent."""
    return os.path.dirname(path) or "."


def _name(path: str) -> str:
    """The last part of a cleaned ``path``, as pathlib's name (none for ``.``)."""
    return "" if path == "." else os.path.basename(path)


#: Names :func:`create_unique` tries before it gives up (48 random bits each: a clash is
#: already unlikely once).
_TRIES = 100


def create_unique(directory: str, prefix: str, suffix: str) -> tuple[int, str]:
    """A new file ``prefix + random + suffix`` in ``directory``, created exclusively (never
    through a symlink), readable by the user only; returns its descriptor and absolute path.
    What ``tempfile.mkstemp`` does, without importing tempfile (2 ms of every start-up)."""
    flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    for _ in range(_TRIES):
        path = os.path.join(directory, f"{prefix}{os.urandom(6).hex()}{suffix}")
        try:
            fd = os.open(path, flags, 0o600)
        except FileExistsError:
            continue
        return fd, os.path.abspath(path)
    raise FileExistsError(f"no unused name with prefix {prefix!r} in {directory}")


def check_writable(path: str | os.PathLike[str], *, force: bool = False) -> str:
    """Fail early if ``path`` cannot be created, or already exists and ``force`` is not given.

    "Exists" is any directory entry, a symlink too, even one pointing nowhere: replacing it
    loses what the user had there. :func:`write_atomic` replaces a symlink itself, never
    the file it points to.
    """
    target = clean_path(path)
    if os.path.isdir(target):
        raise SeccompGenError("is a directory", path=target, hint="give a file name")
    if os.path.lexists(target) and not force:
        what = "already exists as a symbolic link" if os.path.islink(target) else "already exists"
        raise SeccompGenError(what, path=target, hint="use --force to replace it")
    parent = _parent(target)
    if not os.path.isdir(parent):
        raise SeccompGenError("directory does not exist", path=parent)
    try:
        fd, probe = create_unique(parent, f".{_name(target)}.", ".probe")
    except OSError as exc:
        raise SeccompGenError(
            f"cannot write here: {exc.strerror or exc}", path=target
        ) from None
    os.close(fd)
    os.unlink(probe)
    return target


def write_atomic(path: str | os.PathLike[str], data: str | bytes | Iterable[str]) -> None:
    """Write ``data`` to a temp file beside ``path``, fsync it, then rename it over ``path``.

    ``data`` may be an iterable of text pieces (a big trace), written as they come. rename(2)
    replaces the directory entry: a symlink at ``path`` is replaced by the new file, and
    whatever it pointed to is left as it was.
    """
    target = clean_path(path)
    payload = data.encode() if isinstance(data, str) else data
    parent = _parent(target)
    try:
        fd, tmp = create_unique(parent, f".{_name(target)}.", ".tmp")
    except OSError as exc:
        raise SeccompGenError(
            f"cannot write: {exc.strerror or exc}", path=target
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
            f"cannot write: {exc.strerror or exc}", path=target
        ) from None
    except BaseException:  # e.g. a piece that cannot be written: no temp file is left behind
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def fallback_dirs(path: str | os.PathLike[str]) -> list[str]:
    """Where else to save a result that cannot be written to ``path``: $TMPDIR (else /tmp and
    /var/tmp, which is often on another filesystem), then the current directory; each once, and
    not ``path``'s own directory."""
    tmpdir = os.environ.get("TMPDIR")
    candidates = [tmpdir] if tmpdir else ["/tmp", "/var/tmp"]
    with contextlib.suppress(OSError):
        candidates.append(os.getcwd())
    own = os.path.realpath(os.path.dirname(os.path.abspath(path)))
    out: list[str] = []
    for d in candidates:
        real = os.path.realpath(d)
        if real != own and real not in out:
            out.append(real)
    return out


def save_elsewhere(path: str | os.PathLike[str], data: str | bytes,
                   dirs: Sequence[str]) -> tuple[str | None, list[str]]:
    """Save ``data``, which could not be written to ``path``, under a new name in the first of
    ``dirs`` that takes it. Returns (the file written or None, why each directory failed).

    The file is created exclusively (nothing is replaced) and only the user can read it (it
    may be in a shared /tmp).
    """
    payload = data.encode() if isinstance(data, str) else data
    name = _name(clean_path(path)) or "output"
    stem, dot, ext = name.rpartition(".")
    prefix, suffix = (f"seccomp-gen-{stem}-", f".{ext}") if dot and stem else (
        f"seccomp-gen-{name}-", "")
    failures: list[str] = []
    for d in dirs:
        try:
            fd, tmp = create_unique(d, prefix, suffix)
        except OSError as exc:
            failures.append(f"{d}: {exc.strerror or exc}")
            continue
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(payload)
                fh.flush()
                os.fsync(fh.fileno())
        except OSError as exc:
            failures.append(f"{d}: {exc.strerror or exc}")
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            continue
        return tmp, failures
    return None, failures


def write_or_rescue(path: str | os.PathLike[str], data: str | bytes,
                    what: str) -> tuple[str | None, str | None]:
    """Write ``data`` atomically to ``path``, or, when that fails (disk full, I/O error,
    read-only filesystem...), save it elsewhere (:func:`fallback_dirs`): for results that
    cannot be made again, such as the trace of a run that has ended.

    Returns (the file that holds ``data`` or None, and None or one line that says what failed
    and where ``what`` went, or that it is lost and why).
    """
    try:
        write_atomic(path, data)
    except SeccompGenError as exc:
        saved, failures = save_elsewhere(path, data, fallback_dirs(path))
        if saved is not None:
            return saved, f"{exc.one_line()}; {what} was saved to {saved} instead"
        why = "; ".join(failures) or "no other directory to try"
        return None, f"{exc.one_line()}; {what} is lost ({why})"
    return str(path), None
