"""Compile a C helper of this package with the machine's compiler, cache it, load it.

A shared object is compiled at first use into a per-user cache directory, named by a hash of the
source, the compiler and the flags, so an edited source or another compiler never reuses a stale
build. It is written under a temporary name and renamed into place, so concurrent first uses
cannot load a half-written file. A missing compiler is a one-line :class:`SeccompGenError`.

What is loaded runs inside seccomp-gen (as root, for the log and ebpf backends), so the cache is
trusted only when it is ours: the directory and every cached file must be owned by this user and
writable by no one else, and a cached file must be a regular file, not a link. Anything else is a
one-line error naming the path, never a silent load.

Cache directory: ``$SECCOMP_GEN_CACHE_DIR``, else ``$XDG_CACHE_HOME/seccomp-gen``, else
``~/.cache/seccomp-gen``. Compiler: ``$CC``, else ``gcc``, else ``cc`` on ``PATH``.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shlex
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from ..errors import SeccompGenError

CFLAGS: tuple[str, ...] = ("-O2", "-fPIC", "-shared", "-Wall", "-Wextra")
COMPILE_TIMEOUT = 120

def source_text(name: str) -> str:
    """A handler's C source as shipped in the package."""
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")


def cache_dir() -> Path:
    """Where built handlers are kept (see the module docstring)."""
    explicit = os.environ.get("SECCOMP_GEN_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "seccomp-gen"


def find_compiler(what: str = "a C helper") -> list[str]:
    """The compiler command, or a one-line error saying there is none."""
    cc = os.environ.get("CC")
    if cc:
        argv = shlex.split(cc)
        if argv and shutil.which(argv[0]):
            return [shutil.which(argv[0]) or argv[0], *argv[1:]]
        raise SeccompGenError(f"cannot build {what}: $CC={cc!r} not found",
                              hint="install gcc or point CC at a C compiler")
    for name in ("gcc", "cc"):
        path = shutil.which(name)
        if path:
            return [path]
    raise SeccompGenError(f"cannot build {what}: no C compiler (gcc or cc) on PATH",
                          hint="install gcc, or set CC; the handler is compiled once and cached "
                               f"in {cache_dir()}")


def _check_private(path: Path, what: str, *, directory: bool) -> None:
    """Refuse ``path`` unless it is this user's, writable by no one else, and (a file) not a
    link: a library anyone else could replace would run inside seccomp-gen."""
    try:
        st = os.lstat(path)
    except OSError as exc:
        raise SeccompGenError(f"cannot check {what}: {exc.strerror or exc}", path=str(path)
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
        raise SeccompGenError(f"refusing to use {what}: it {problem}", path=str(path),
                              hint="remove it, or set SECCOMP_GEN_CACHE_DIR to a directory of "
                              "your own")


def private_cache_dir() -> Path:
    """:func:`cache_dir`, created (mode 0700) if missing, and checked to be this user's own."""
    directory = cache_dir()
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise SeccompGenError(f"cannot create the cache directory: {exc.strerror or exc}",
                              path=str(directory)) from None
    _check_private(directory, "the cache directory", directory=True)
    return directory


def build(name: str, what: str, headers: Sequence[str] = ()) -> Path:
    """The path of the compiled helper ``name`` (a C file of this package), compiling it first
    if the cache lacks it. ``headers`` are the package's C headers it includes (written beside
    it, and part of the cache key). ``what`` names it in errors."""
    source = source_text(name)
    included = [(h, source_text(h)) for h in headers]
    cc = find_compiler(what)
    key = hashlib.sha256("\0".join([source, *(t for _, t in included), *cc, *CFLAGS,
                                     os.uname().machine]).encode())
    directory = private_cache_dir()
    target = directory / f"{Path(name).stem}-{key.hexdigest()[:20]}.so"
    if os.path.lexists(target):
        _check_private(target, f"the cached build of {what}", directory=False)
        return target
    with tempfile.TemporaryDirectory(dir=directory, prefix=".build-") as tmp:
        src = Path(tmp) / name
        src.write_text(source, encoding="utf-8")
        for header, text in included:
            (Path(tmp) / header).write_text(text, encoding="utf-8")
        out = Path(tmp) / target.name
        try:
            res = subprocess.run([*cc, *CFLAGS, "-o", str(out), str(src)], capture_output=True,
                                 text=True, timeout=COMPILE_TIMEOUT, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise SeccompGenError(f"cannot build {what}: {exc}") from None
        if res.returncode != 0 or not out.is_file():
            first = next((ln for ln in res.stderr.splitlines() if "error" in ln),
                         res.stderr.strip().splitlines()[0] if res.stderr.strip() else "")
            raise SeccompGenError(f"cannot build {what} with {cc[0]}: "
                                  f"{first or f'exit status {res.returncode}'}")
        os.chmod(out, 0o755)
        os.replace(out, target)
    return target


Signature = tuple[str, list[Any], Any]


def load_library(path: Path, what: str, signatures: Sequence[Signature] = ()) -> ctypes.CDLL:
    """``path`` loaded (CDLL: every call releases the GIL), with ``(name, argtypes, restype)``
    set for each entry point in ``signatures``; a one-line error if it cannot be loaded."""
    try:
        lib = ctypes.CDLL(str(path))
    except OSError as exc:
        raise SeccompGenError(f"cannot load {what}: {exc}", path=str(path)) from None
    for name, args, res in signatures:
        fn = getattr(lib, name)
        fn.argtypes, fn.restype = args, res
    return lib
