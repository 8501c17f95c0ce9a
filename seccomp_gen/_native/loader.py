"""Find a compiled C helper of this package in the per-user cache, check it is ours, load it.

This runs at every start of the default recorder (its C stop loop), so it imports nothing
costly (no pathlib, shutil, subprocess, hashlib): a hit costs a file read, a checksum and a few
``stat`` calls. A miss is compiled by :mod:`.build`, which is imported only then.

A build is named by a checksum of the source, the headers it includes, the compiler and the
flags (a CRC-32 and an Adler-32 of that text: 64 bits against reusing a stale build; the cache's
defence is the ownership check, not the name). What is loaded runs inside seccomp-gen (as root,
for the log and ebpf backends), so the cache is trusted only when it is ours
(:mod:`seccomp_gen.linux.cachedir`, which also says where it is). Compiler: ``$CC``, else
``gcc``, else ``cc`` on ``PATH``.
"""

from __future__ import annotations

import ctypes
import os
import zlib
from collections.abc import Sequence
from typing import Any

from ..errors import SeccompGenError
from ..linux.cachedir import cache_dir, check_private, private_cache_dir

CFLAGS: tuple[str, ...] = ("-O2", "-fPIC", "-shared", "-Wall", "-Wextra")

Signature = tuple[str, list[Any], Any]


def source_text(name: str) -> str:
    """A helper's C source (or header) as shipped in the package."""
    with open(os.path.join(os.path.dirname(__file__), name), encoding="utf-8") as fh:
        return fh.read()


def _which(command: str) -> str | None:
    """``command``'s path on ``PATH`` (or itself, if it names a file), if it is executable."""
    if os.sep in command:
        candidates = [command]
    else:
        dirs = os.environ.get("PATH", os.defpath).split(os.pathsep)
        candidates = [os.path.join(d or os.curdir, command) for d in dirs]
    for path in candidates:
        if os.access(path, os.X_OK) and not os.path.isdir(path):
            return path
    return None


def find_compiler(what: str = "a C helper") -> list[str]:
    """The compiler command, or a one-line error saying there is none."""
    cc = os.environ.get("CC")
    if cc:
        import shlex  # only when $CC is set: it may carry flags

        argv = shlex.split(cc)
        found = _which(argv[0]) if argv else None
        if found:
            return [found, *argv[1:]]
        raise SeccompGenError(f"cannot build {what}: $CC={cc!r} not found",
                              hint="install gcc or point CC at a C compiler")
    for name in ("gcc", "cc"):
        path = _which(name)
        if path:
            return [path]
    raise SeccompGenError(f"cannot build {what}: no C compiler (gcc or cc) on PATH",
                          hint="install gcc, or set CC; the handler is compiled once and cached "
                               f"in {cache_dir()}")


def target(name: str, sources: Sequence[str], cc: Sequence[str]) -> str:
    """Where the build of helper ``name`` from ``sources`` (its text and its headers') with
    compiler ``cc`` is cached."""
    key = "\0".join([*sources, *cc, *CFLAGS, os.uname().machine]).encode()
    tag = f"{zlib.crc32(key):08x}{zlib.adler32(key):08x}"
    return os.path.join(private_cache_dir(), f"{os.path.splitext(name)[0]}-{tag}.so")


def compiled(name: str, what: str, headers: Sequence[str] = ()) -> str:
    """The path of the compiled helper ``name`` (a C file of this package) and the package
    headers it includes, compiling it (:func:`.build.compile_into`) if the cache lacks it.
    ``what`` names it in errors."""
    sources = [source_text(name), *(source_text(h) for h in headers)]
    cc = find_compiler(what)
    path = target(name, sources, cc)
    if os.path.lexists(path):
        check_private(path, f"the cached build of {what}", directory=False)
        return path
    from .build import compile_into  # the compiler machinery: only on a miss

    compile_into(path, name, [*zip((name, *headers), sources, strict=True)], cc, what)
    return path


def load_library(path: str | os.PathLike[str], what: str,
                 signatures: Sequence[Signature] = ()) -> ctypes.CDLL:
    """``path`` loaded (CDLL: every call releases the GIL), with ``(name, argtypes, restype)``
    set for each entry point in ``signatures``; a one-line error if it cannot be loaded."""
    try:
        lib = ctypes.CDLL(os.fspath(path))
    except OSError as exc:
        raise SeccompGenError(f"cannot load {what}: {exc}", path=os.fspath(path)) from None
    for entry, args, res in signatures:
        fn = getattr(lib, entry)
        fn.argtypes, fn.restype = args, res
    return lib
