"""The binding of ``sigsys_handler.c``: the sandbox's SIGSYS handler (see
:mod:`seccomp_gen.enforce.sandbox`)."""

from __future__ import annotations

import ctypes
import os
import struct
from pathlib import Path

from ..errors import SeccompGenError
from .build import build, load_library

SOURCE_NAME = "sigsys_handler.c"
WHAT = "the sandbox's SIGSYS handler"
#: The record the handler writes: magic, arch, nr, pid, tid, errno, ip, args[6].
RECORD = struct.Struct("=IIiiiiQ6Q")
RECORD_MAGIC = 0x314E4753


class Handler:
    """The loaded handler library, with typed entry points."""

    def __init__(self, path: Path) -> None:
        lib = load_library(path, WHAT)
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
    return Handler(build(SOURCE_NAME, WHAT))
