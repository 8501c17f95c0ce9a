"""The binding of ``notify_supervisor.c``: the notify recorder's compiled supervisor loop (the
protocol is described in that file and in :mod:`seccomp_gen.recorders.notify`)."""

from __future__ import annotations

import ctypes
import struct
from pathlib import Path

from ..errors import SeccompGenError
from .build import build, load_library

SOURCE_NAME = "notify_supervisor.c"
HEADERS = ("sgen_table.h",)
WHAT = "the notify backend's C supervisor"
#: The records it shares with Python (their sizes are checked when the library is loaded).
COUNT = struct.Struct("=qIiqQ")  # token, arch, nr, site id, count
ROW = struct.Struct("=IiI4x2Q")  # arch, nr, number of values, values


class CSupervisor:
    """The loaded ``notify_supervisor.c`` with typed entry points (the protocol is described
    in that file); a run makes its own state with ``sgen_notify_new``."""

    def __init__(self, path: Path) -> None:
        vp, c_int, c_long = ctypes.c_void_p, ctypes.c_int, ctypes.c_long
        lib = load_library(path, WHAT, (
            ("sgen_notify_new", [c_int, c_int, c_int, ctypes.c_uint,
                                 ctypes.POINTER(ctypes.c_uint64), ctypes.POINTER(vp)], c_int),
            ("sgen_notify_free", [vp], None),
            ("sgen_notify_run", [vp], c_int),
            ("sgen_notify_answer", [vp], c_int),
            ("sgen_notify_buffer", [vp], vp),
            ("sgen_notify_buffer_size", [vp], ctypes.c_uint),
            ("sgen_notify_failed_op", [vp], c_int),
            ("sgen_notify_unwatch", [vp, c_int], None),
            ("sgen_notify_set_tid", [vp, c_int, ctypes.c_int64], c_int),
            ("sgen_notify_set_site", [vp, ctypes.c_int64, ctypes.c_uint64, ctypes.c_int64],
             c_int),
            ("sgen_notify_set_site_call", [vp, ctypes.c_uint32, ctypes.c_int32,
                                           ctypes.c_int64], c_int),
            ("sgen_notify_set_call", [vp, ctypes.c_uint32, ctypes.c_int32, c_int, ctypes.c_uint,
                                      ctypes.c_uint, ctypes.c_uint], c_int),
            ("sgen_notify_ncounts", [vp], c_long),
            ("sgen_notify_counts", [vp, vp, c_long], c_long),
            ("sgen_notify_nrows", [vp], c_long),
            ("sgen_notify_take_rows", [vp, vp, c_long], c_long),
            ("sgen_notify_count_size", [], ctypes.c_uint),
            ("sgen_notify_row_size", [], ctypes.c_uint),
        ))
        self.path = path
        for name, want in (("count", COUNT.size), ("row", ROW.size)):
            got = int(getattr(lib, f"sgen_notify_{name}_size")())
            if got != want:
                raise SeccompGenError(f"{WHAT}: its {name} record is {got} bytes, "
                                      f"expected {want}", path=str(path))
        self.lib = lib


_loaded: dict[str, CSupervisor] = {}


def load_supervisor() -> CSupervisor:
    """Build (or reuse the cached build of) the C supervisor and load it."""
    path = build(SOURCE_NAME, WHAT, HEADERS)
    found = _loaded.get(str(path))
    if found is None:
        found = _loaded[str(path)] = CSupervisor(path)
    return found
