"""The per-user cache directory, and the check that what is read from it is this user's own.

What is cached runs or steers code inside seccomp-gen (compiled helpers, loaded as root for the log
and ebpf backends; the kernel struct offsets the ebpf programs read with), so the cache is trusted
only when it is ours: the directory and every cached file must be owned by this user and writable
by no one else, and a cached file must be a regular file, not a link. Anything else is a one-line
error naming the path, never a silent use. A module of its own, with no compiler or subprocess
imports (and no pathlib: paths are strings), so that the ebpf recorder reaches its cache without
importing the C build machinery.

Cache directory: ``$SECCOMP_GEN_CACHE_DIR``, else ``$XDG_CACHE_HOME/seccomp-gen``, else
``~/.cache/seccomp-gen``.
"""

from __future__ import annotations

import os
import stat

from ..errors import SeccompGenError


def cache_dir() -> str:
    """Where cached files are kept (see the module docstring)."""
    explicit = os.environ.get("SECCOMP_GEN_CACHE_DIR")
    if explicit:
        return explicit
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "seccomp-gen")


def check_private(path: str | os.PathLike[str], what: str, *, directory: bool) -> None:
    """Refuse ``path`` unless it is this user's, writable by no one else, and (a file) not a
    link: a file anyone else could replace would steer seccomp-gen."""
    try:
        st = os.lstat(path)
    except OSError as exc:
        raise SeccompGenError(f"cannot check {what}: {exc.strerror or exc}", path=os.fspath(path)
                              ) from None
    kind = stat.S_ISDIR(st.st_mode) if directory else stat.S_ISREG(st.st_mode)
    problem = None
    if not kind:
        problem = "is not a directory" if directory else "is not a regular file"
    elif st.st_uid != os.geteuid():
        problem = f"is owned by uid {st.st_uid}, not by this user ({os.geteuid()})"
    elif st.st_mode & 0o022:
        problem = f"is writable by others (mode {stat.S_IMODE(st.st_mode):o})"
    if problem is not None:
        raise SeccompGenError(f"refusing to use {what}: it {problem}", path=os.fspath(path),
                              hint="remove it, or set SECCOMP_GEN_CACHE_DIR to a directory of "
                              "your own")


def private_cache_dir() -> str:
    """:func:`cache_dir`, created (mode 0700) if missing, and checked to be this user's own."""
    directory = cache_dir()
    try:
        os.makedirs(directory, mode=0o700, exist_ok=True)
    except OSError as exc:
        raise SeccompGenError(f"cannot create the cache directory: {exc.strerror or exc}",
                              path=str(directory)) from None
    check_private(directory, "the cache directory", directory=True)
    return directory
