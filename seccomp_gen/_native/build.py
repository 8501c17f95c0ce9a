"""Compile a C helper of this package with the machine's compiler, cache it, load it.

A shared object is compiled at first use into a per-user cache directory, named by a hash of the
source, the compiler and the flags, so an edited source or another compiler never reuses a stale
build. It is written under a temporary name and renamed into place, so concurrent first uses
cannot load a half-written file. A missing compiler is a one-line :class:`SeccompGenError`.

What is loaded runs inside seccomp-gen (as root, for the log and ebpf backends), so the cache is
trusted only when it is ours (:mod:`seccomp_gen.linux.cachedir`, which also says where it is).
Compiler: ``$CC``, else ``gcc``, else ``cc`` on ``PATH``.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from ..errors import SeccompGenError
from ..linux.cachedir import cache_dir, private_cache_dir
from ..linux.cachedir import check_private as _check_private

CFLAGS: tuple[str, ...] = ("-O2", "-fPIC", "-shared", "-Wall", "-Wextra")
COMPILE_TIMEOUT = 120

def source_text(name: str) -> str:
    """A handler's C source as shipped in the package."""
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")


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


def build(name: str, what: str) -> Path:
    """The path of the compiled helper ``name`` (a C file of this package), compiling it first
    if the cache lacks it. ``what`` names it in errors."""
    source = source_text(name)
    cc = find_compiler(what)
    key = hashlib.sha256("\0".join([source, *cc, *CFLAGS, os.uname().machine]).encode())
    directory = Path(private_cache_dir())
    target = directory / f"{Path(name).stem}-{key.hexdigest()[:20]}.so"
    if os.path.lexists(target):
        _check_private(target, f"the cached build of {what}", directory=False)
        return target
    with tempfile.TemporaryDirectory(dir=directory, prefix=".build-") as tmp:
        src = Path(tmp) / name
        src.write_text(source, encoding="utf-8")
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
