"""The per-user cache directory, and the check that what is read from it is this user's own.

What is cached runs or steers code inside seccomp-gen (compiled helpers, loaded as root for the log
and ebpf backends; the kernel struct offsets the ebpf programs read with; compiled seccomp
programs, loaded into workloads), so the cache is trusted only when it is ours: the directory and
every cached file must be owned by this user and writable by no one else, and a cached file must
be a regular file, not a link. Anything else is a one-line error naming the path, or (a keyed
entry's directory owned by another user: ``sudo`` keeping ``$HOME``) not used at all; never a
silent use. A module of its own, with no compiler or subprocess imports (and no pathlib: paths are
strings), so that the ebpf recorder reaches its cache without importing the C build machinery.

Everything but the compiled helpers is an entry of one keyed store (:func:`lookup`,
:func:`keep`): ``KIND/CRC32-LENGTH`` under the directory, one subdirectory per kind (``bpf``:
compiled seccomp programs; ``btf-fields``: kernel struct offsets; ``symbols``: names of call
sites; ``reach``: reachability summaries), the whole key inside and compared. Each caller checks
the value it reads back; an entry not ours is refused in one line, except that the names of call
sites, looked up after a recording has run, take it as a miss (:mod:`seccomp_gen.files.symcache`).

Cache directory: ``$SECCOMP_GEN_CACHE_DIR``, else ``$XDG_CACHE_HOME/seccomp-gen``, else
``~/.cache/seccomp-gen``.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import zlib

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
    check_stat(st, path, what, directory=directory)


def check_stat(st: os.stat_result, path: str | os.PathLike[str], what: str, *,
               directory: bool) -> None:
    """:func:`check_private` of what ``st`` describes (an open file's ``fstat``: no race
    between the check and the read)."""
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


# --- entries by key -------------------------------------------------------------------------------

#: The first line of a keyed entry (:func:`keep`); bumped when the layout changes.
ENTRY_MAGIC = b"seccomp-gen cache entry 1\n"
#: Entries kept per kind; past it, :func:`keep` removes the oldest quarter (by mtime).
ENTRIES_PER_KIND = 512


def _entry_path(kind: str, key: bytes) -> str:
    # The name only spreads entries out: the key itself is in the file and compared in full.
    return os.path.join(cache_dir(), kind, f"{zlib.crc32(key):08x}-{len(key)}")


def lookup(kind: str, key: bytes, limit: int = 1 << 22, what: str = "") -> bytes | None:
    """The value :func:`keep` stored under ``key`` in ``kind``, or None (no entry, an entry for
    another key whose name collides, a damaged or oversized one, a cache directory that is not
    this user's own: ``sudo`` keeping another user's ``$HOME``, which :func:`keep` does not
    write to either). A directory of ours that others can write to, and in it an entry that is
    not ours, is writable by others or is a link, raise a one-line error
    (:func:`check_private`), the entry named as ``what`` (default:
    "the cached KIND entry"): what is cached here is loaded as a seccomp filter or steers BPF
    programs, so a file anyone else could have written is never used, and someone should know
    it is there."""
    path = _entry_path(kind, key)
    what = what or f"the cached {kind} entry"
    for directory, name in ((cache_dir(), "the cache directory"),
                            (os.path.dirname(path), f"the {kind} cache directory")):
        try:
            st = os.lstat(directory)
        except OSError:
            return None
        if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid():
            return None  # no cache, or another user's: not used (nor written: keep)
        check_stat(st, directory, name, directory=True)  # ours, but others can write to it
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # a link where an entry should be: refused, never followed
            check_private(path, what, directory=False)
        return None  # absent, or a cache that cannot be read: made afresh
    try:
        st = os.fstat(fd)
        check_stat(st, path, what, directory=False)
        if st.st_size > limit:
            return None
        with os.fdopen(fd, "rb", closefd=False) as fh:
            # Read what the file holds, not ``limit`` bytes: read(n) allocates n up front.
            data = fh.read(st.st_size + 1)
    except OSError:
        return None
    finally:
        os.close(fd)
    head = ENTRY_MAGIC + b"%d\n" % len(key)
    start = len(head) + len(key)
    if len(data) > limit or not data.startswith(head) or data[len(head):start] != key:
        return None
    return data[start:]


def keep(kind: str, key: bytes, value: bytes) -> None:
    """Store ``value`` under ``key`` (best effort: a cache that cannot be written costs the next
    run the work again). Written under a temporary name and renamed into place, so a reader sees
    a whole entry or none; the directory is made private (0700) if missing."""
    try:
        directory = os.path.join(private_cache_dir(), kind)
        os.makedirs(directory, mode=0o700, exist_ok=True)
        check_private(directory, f"the {kind} cache directory", directory=True)
    except (OSError, SeccompGenError):
        return
    path = _entry_path(kind, key)
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                     0o600)
    except OSError:
        return
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(ENTRY_MAGIC + b"%d\n" % len(key) + key + value)
        os.replace(tmp, path)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
    _prune(directory)


def _prune(directory: str) -> None:
    """Past :data:`ENTRIES_PER_KIND` entries, remove the oldest quarter: a CI machine that
    compiles a new profile every run keeps a bounded cache (files of an older layout left in a
    kind's directory go the same way)."""
    try:
        names = os.listdir(directory)
    except OSError:
        return
    if len(names) <= ENTRIES_PER_KIND:
        return
    dated = []
    for name in names:
        with contextlib.suppress(OSError):
            dated.append((os.lstat(os.path.join(directory, name)).st_mtime_ns, name))
    for _, name in sorted(dated)[:len(dated) // 4]:
        with contextlib.suppress(OSError):
            os.unlink(os.path.join(directory, name))
