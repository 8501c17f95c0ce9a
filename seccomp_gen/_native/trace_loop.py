"""The binding of ``trace_loop.c``: the seccomp recorder's compiled stop loop (the protocol is
described in that file and in :mod:`seccomp_gen.recorders.trace_loop`)."""

from __future__ import annotations

import ctypes
import struct

from ..errors import SeccompGenError
from .loader import compiled, load_library

SOURCE_NAME = "trace_loop.c"
HEADERS = ("sgen_table.h",)
WHAT = "the seccomp backend's C stop loop"
#: The records it shares with Python: counters as its tables hold them (arch << 32 | nr is a
#: syscall's key), and the argument rows (whose size is checked when the library is loaded).
COUNT = struct.Struct("=qQQ")  # token, syscall key, count
SITE_COUNT = struct.Struct("=QqQ")  # syscall key, site id, count
ROW = struct.Struct("=IiI4x2Q")  # arch, nr, number of values, values


class CTraceLoop:
    """The loaded ``trace_loop.c`` with typed entry points; a run makes its own state with
    ``sgen_trace_new``."""

    def __init__(self, path: str) -> None:
        vp, c_int, c_long, u32 = ctypes.c_void_p, ctypes.c_int, ctypes.c_long, ctypes.c_uint
        i64 = ctypes.c_int64
        lib = load_library(path, WHAT, (
            ("sgen_trace_new", [u32, c_int, ctypes.POINTER(ctypes.c_uint64),
                                ctypes.POINTER(vp)], c_int),
            ("sgen_trace_free", [vp], None),
            ("sgen_trace_run", [vp, c_int], c_int),
            ("sgen_trace_stop_tid", [vp], c_int),
            ("sgen_trace_stop_status", [vp], c_int),
            ("sgen_trace_failed_op", [vp], c_int),
            ("sgen_trace_set_tid", [vp, c_int, i64], c_int),
            ("sgen_trace_set_call", [vp, ctypes.c_uint32, ctypes.c_int32, c_int, u32, u32, u32],
             c_int),
            ("sgen_trace_set_site", [vp, i64, ctypes.c_uint64, i64], c_int),
            ("sgen_trace_set_site_call", [vp, ctypes.c_uint32, ctypes.c_int32, i64], c_int),
            ("sgen_trace_ncounts", [vp], c_long),
            ("sgen_trace_counts", [vp, vp, c_long], c_long),
            ("sgen_trace_nsite_counts", [vp], c_long),
            ("sgen_trace_site_counts", [vp, vp, c_long], c_long),
            ("sgen_trace_nrows", [vp], c_long),
            ("sgen_trace_take_rows", [vp, vp, c_long], c_long),
            ("sgen_trace_watch_signal", [c_int], c_int),
            ("sgen_trace_unwatch_signal", [c_int], None),
            ("sgen_trace_row_size", [], u32),
        ))
        self.path = path
        got = int(lib.sgen_trace_row_size())
        if got != ROW.size:
            raise SeccompGenError(f"{WHAT}: its row record is {got} bytes, expected {ROW.size}",
                                  path=path)
        self.lib = lib


_loaded: dict[str, CTraceLoop] = {}


def load_trace_loop() -> CTraceLoop:
    """Build (or reuse the cached build of) the C stop loop and load it."""
    path = compiled(SOURCE_NAME, WHAT, HEADERS)
    found = _loaded.get(path)
    if found is None:
        found = _loaded[path] = CTraceLoop(path)
    return found


def split_key(key: int) -> tuple[int, int]:
    """(AUDIT_ARCH, nr) of a syscall key (arch << 32 | nr, nr a signed 32-bit number)."""
    nr = key & 0xFFFFFFFF
    return key >> 32, nr - (1 << 32) if nr >> 31 else nr
