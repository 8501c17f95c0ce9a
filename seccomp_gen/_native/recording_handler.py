"""The binding of ``recording_handler.c``: the SIGSYS handler of ``seccomp_gen.recording()``
(see :mod:`seccomp_gen.recorders.inprocess`)."""

from __future__ import annotations

import ctypes
import struct
from pathlib import Path

from ..errors import SeccompGenError
from .build import build, load_library

SOURCE_NAME = "recording_handler.c"
WHAT = "the recording SIGSYS handler"
#: One ring slot as the C handler writes it: ready, arch, nr, tid, result, args[6].
RING_RECORD = struct.Struct("=IIiiq6Q")
#: One call-site slot: ip (right after the syscall instruction), nr, state (2: written), count.
SITE_RECORD = struct.Struct("=QiIQ")


class RecordingHandler:
    """The loaded helper with typed entry points."""

    def __init__(self, path: Path) -> None:
        lib = load_library(path, WHAT)
        self.path = path
        self.lib = lib
        for name in ("sgen_rec_install", "sgen_rec_uninstall", "sgen_rec_installed",
                     "sgen_rec_ring_size", "sgen_rec_nr_max", "sgen_rec_entry_size",
                     "sgen_rec_sites_size", "sgen_rec_site_size"):
            getattr(lib, name).argtypes = []
            getattr(lib, name).restype = ctypes.c_int
        for name in ("sgen_rec_start", "sgen_rec_stop"):
            getattr(lib, name).argtypes = []
            getattr(lib, name).restype = None
        for name in ("sgen_rec_ret_addr", "sgen_rec_ring", "sgen_rec_counts", "sgen_rec_sites",
                     "sgen_rec_unsited"):
            getattr(lib, name).argtypes = []
            getattr(lib, name).restype = ctypes.c_void_p
        for name in ("sgen_rec_head", "sgen_rec_other", "sgen_rec_trapped"):
            getattr(lib, name).argtypes = []
            getattr(lib, name).restype = ctypes.c_ulong
        for what, got, want in (("ring", lib.sgen_rec_entry_size(), RING_RECORD.size),
                                 ("call-site", lib.sgen_rec_site_size(), SITE_RECORD.size)):
            if got != want:
                raise SeccompGenError(f"{WHAT}: {what} record is {got} bytes, expected {want}",
                                      path=str(path))
        self.ring_size = int(lib.sgen_rec_ring_size())
        self.nr_max = int(lib.sgen_rec_nr_max())
        self.sites_size = int(lib.sgen_rec_sites_size())
        self.ret_addr = int(lib.sgen_rec_ret_addr())


def load() -> RecordingHandler:
    """Build (or reuse) and load the handler."""
    return RecordingHandler(build(SOURCE_NAME, WHAT))
