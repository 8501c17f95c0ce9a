"""The binding of ``notify_supervisor.c``: the notify recorder's compiled supervisor loop (the
protocol is described in that file and in :mod:`seccomp_gen.recorders.notify`)."""

from __future__ import annotations

import ctypes

from . import taught

SOURCE_NAME = "notify_supervisor.c"
HEADERS = taught.HEADERS
WHAT = "the notify backend's C supervisor"


class CSupervisor(taught.CompiledLoop):
    """The loaded ``notify_supervisor.c`` with typed entry points (its own, and
    :mod:`.taught`'s; the protocol is described in that file); a run makes its own state with
    ``sgen_notify_new``."""

    def __init__(self, path: str) -> None:
        vp, c_int = ctypes.c_void_p, ctypes.c_int
        super().__init__(path, WHAT, (
            ("sgen_notify_new", [c_int, c_int, c_int, ctypes.c_uint,
                                 ctypes.POINTER(ctypes.c_uint64), ctypes.POINTER(vp)], c_int),
            ("sgen_notify_free", [vp], None),
            ("sgen_notify_run", [vp], c_int),
            ("sgen_notify_answer", [vp], c_int),
            ("sgen_notify_buffer", [vp], vp),
            ("sgen_notify_buffer_size", [vp], ctypes.c_uint),
            ("sgen_notify_failed_op", [vp], c_int),
            ("sgen_notify_unwatch", [vp, c_int], None),
        ))


def load_supervisor() -> CSupervisor:
    """Build (or reuse the cached build of) the C supervisor and load it."""
    return taught.load(SOURCE_NAME, WHAT, HEADERS, CSupervisor)
