"""Build and load the SIGSYS handler (``sigsys_handler.c``) with this machine's C compiler.

The shared object is compiled at first use into a per-user cache directory, named by a hash of the
source, the compiler and the flags, so an edited source or another compiler never reuses a stale
build. It is written under a temporary name and renamed into place, so concurrent first uses
cannot load a half-written file. A missing compiler is a one-line :class:`SeccompGenError`.

The other C helpers of the package are built the same way by name, ``build(name, what)``:
``recording_handler.c`` for ``seccomp_gen.recording()`` and ``notify_supervisor.c`` for the notify
recorder's supervisor loop (which falls back to Python when this fails).

Cache directory: ``$SECCOMP_GEN_CACHE_DIR``, else ``$XDG_CACHE_HOME/seccomp-gen``, else
``~/.cache/seccomp-gen``. Compiler: ``$CC``, else ``gcc``, else ``cc`` on ``PATH``.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shlex
import shutil
import struct
import subprocess
import tempfile
from importlib import resources
from pathlib import Path

from ..errors import SeccompGenError

SOURCE_NAME = "sigsys_handler.c"
CFLAGS: tuple[str, ...] = ("-O2", "-fPIC", "-shared", "-Wall", "-Wextra")
COMPILE_TIMEOUT = 120

#: The record the handler writes: magic, arch, nr, pid, tid, errno, ip, args[6].
RECORD = struct.Struct("=IIiiiiQ6Q")
RECORD_MAGIC = 0x314E4753


def source_text(name: str = SOURCE_NAME) -> str:
    """A handler's C source as shipped in the package."""
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")


def cache_dir() -> Path:
    """Where built handlers are kept (see the module docstring)."""
    explicit = os.environ.get("SECCOMP_GEN_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "seccomp-gen"


def find_compiler(what: str = "the sandbox's SIGSYS handler") -> list[str]:
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


def build(name: str = SOURCE_NAME, what: str = "the sandbox's SIGSYS handler") -> Path:
    """The path of the compiled handler ``name`` (a C file of this package), compiling it first
    if the cache lacks it. ``what`` names it in errors."""
    source = source_text(name)
    cc = find_compiler(what)
    key = hashlib.sha256("\0".join([source, *cc, *CFLAGS, os.uname().machine]).encode())
    directory = cache_dir()
    target = directory / f"{Path(name).stem}-{key.hexdigest()[:20]}.so"
    if target.is_file():
        return target
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SeccompGenError(f"cannot create the cache directory: {exc.strerror or exc}",
                              path=str(directory)) from None
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
        os.replace(out, target)
    return target


class Handler:
    """The loaded handler library, with typed entry points."""

    def __init__(self, path: Path) -> None:
        try:
            lib = ctypes.CDLL(str(path))
        except OSError as exc:
            raise SeccompGenError(f"cannot load the sandbox's SIGSYS handler: {exc}",
                                  path=str(path)) from None
        self.path = path
        self._lib = lib
        lib.sgen_install.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_void_p]
        lib.sgen_install.restype = ctypes.c_int
        lib.sgen_set_notify.argtypes = [ctypes.c_void_p]
        lib.sgen_set_notify.restype = None
        for name in ("sgen_restore", "sgen_installed", "sgen_record_size"):
            getattr(lib, name).argtypes = []
            getattr(lib, name).restype = ctypes.c_int
        for name in ("sgen_trapped_count", "sgen_dropped_count", "sgen_foreign_count"):
            getattr(lib, name).argtypes = []
            getattr(lib, name).restype = ctypes.c_ulong
        if lib.sgen_record_size() != RECORD.size:
            raise SeccompGenError(f"the SIGSYS handler's record is {lib.sgen_record_size()} "
                                  f"bytes, expected {RECORD.size}", path=str(path))

    def install(self, fd: int, errno: int, notify: int | None) -> None:
        """Make the handler the SIGSYS action; it writes to ``fd`` and fails calls with errno."""
        rc = int(self._lib.sgen_install(fd, errno, notify))
        if rc < 0:
            raise SeccompGenError(f"cannot install the SIGSYS handler: {os.strerror(-rc)}")

    def set_notify(self, notify: int | None) -> None:
        """Change (or with ``None`` stop) the function the handler calls after each record."""
        self._lib.sgen_set_notify(notify)

    def restore(self) -> None:
        """Put back the SIGSYS action that was there before :meth:`install`."""
        self._lib.sgen_restore()

    def installed(self) -> bool:
        """Whether the handler is still the SIGSYS action (no one replaced it)."""
        return int(self._lib.sgen_installed()) == 1

    @property
    def trapped(self) -> int:
        return int(self._lib.sgen_trapped_count())

    @property
    def dropped(self) -> int:
        return int(self._lib.sgen_dropped_count())

    @property
    def foreign(self) -> int:
        return int(self._lib.sgen_foreign_count())


def load() -> Handler:
    """Build (or reuse) and load the handler."""
    return Handler(build())
