"""The binding of ``trace_loop.c``: the seccomp recorder's compiled stop loop (the protocol is
described in that file and in :mod:`seccomp_gen.recorders.trace_loop`)."""

from __future__ import annotations

import ctypes

from . import taught

SOURCE_NAME = "trace_loop.c"
HEADERS = taught.HEADERS
WHAT = "the seccomp backend's C stop loop"


class CTraceLoop(taught.CompiledLoop):
    """The loaded ``trace_loop.c`` with typed entry points (its own, and :mod:`.taught`'s); a
    run makes its own state with ``sgen_trace_new``."""

    def __init__(self, path: str) -> None:
        vp, c_int = ctypes.c_void_p, ctypes.c_int
        super().__init__(path, WHAT, (
            ("sgen_trace_new", [ctypes.c_uint, ctypes.POINTER(ctypes.c_uint64),
                                ctypes.POINTER(vp)], c_int),
            ("sgen_trace_free", [vp], None),
            ("sgen_trace_run", [vp, c_int], c_int),
            ("sgen_trace_stop_tid", [vp], c_int),
            ("sgen_trace_stop_status", [vp], c_int),
            ("sgen_trace_failed_op", [vp], c_int),
            ("sgen_trace_watch_signal", [c_int], c_int),
            ("sgen_trace_unwatch_signal", [c_int], None),
        ))


def load_trace_loop() -> CTraceLoop:
    """Build (or reuse the cached build of) the C stop loop and load it."""
    return taught.load(SOURCE_NAME, WHAT, HEADERS, CTraceLoop)
