"""What Python teaches a compiled loop and reads back from it, the same for both loops
(``trace_loop.c`` and ``notify_supervisor.c``): ``sgen_table.h``'s ``sgen_*`` entry points.

Each loop's state begins with a ``struct sgen_taught`` (thread tokens, syscall classifications,
call sites, the counters and argument rows made with them), so these take the loop's state
pointer as it is. Only where a loop's calls come from (waitpid and ptrace, or the notification
ioctls) is its own binding's.
"""

from __future__ import annotations

import ctypes
import struct
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from ..aggregate import UNRETURNED, RawRecording
from ..errors import SeccompGenError
from .loader import Signature, compiled, load_library

#: The headers every loop includes (its binding lists them, so an edit rebuilds it).
HEADERS = ("sgen_table.h",)
#: The records a loop shares with Python (their sizes are checked when a loop is loaded): a
#: counter as its table holds it (arch << 32 | nr is a syscall's key), and an argument row.
COUNT = struct.Struct("=qQqQ")  # token, syscall key, site id, count
ROW = struct.Struct("=IiI4x2Q")  # arch, nr, number of values, values

_vp, _int, _long, _u32 = ctypes.c_void_p, ctypes.c_int, ctypes.c_long, ctypes.c_uint
SIGNATURES: tuple[Signature, ...] = (
    ("sgen_set_tid", [_vp, _int, ctypes.c_int64], _int),
    ("sgen_set_call", [_vp, ctypes.c_uint32, ctypes.c_int32, _int, _u32, _u32, _u32], _int),
    ("sgen_set_site", [_vp, ctypes.c_int64, ctypes.c_uint64, ctypes.c_int64], _int),
    ("sgen_set_site_call", [_vp, ctypes.c_uint32, ctypes.c_int32, ctypes.c_int64], _int),
    ("sgen_ncounts", [_vp], _long),
    ("sgen_counts", [_vp, _vp, _long], _long),
    ("sgen_nrows", [_vp], _long),
    ("sgen_take_rows", [_vp, _vp, _long], _long),
    ("sgen_count_size", [], _u32),
    ("sgen_row_size", [], _u32),
)

#: How a loop counts a syscall Python has classified (sgen_set_call's kind; sgen_table.h).
CALL_COUNT, CALL_ARGS = 1, 2


class CompiledLoop:
    """A loaded compiled loop: ``lib`` with its own entry points (``own``) and the shared ones
    typed, refused in one line if its records are not the size Python reads."""

    def __init__(self, path: str, what: str, own: Sequence[Signature]) -> None:
        lib = load_library(path, what, (*own, *SIGNATURES))
        for name, want in (("count", COUNT.size), ("row", ROW.size)):
            got = int(getattr(lib, f"sgen_{name}_size")())
            if got != want:
                raise SeccompGenError(f"{what}: its {name} record is {got} bytes, "
                                      f"expected {want}", path=path)
        self.path = path
        self.lib = lib


_Loop = TypeVar("_Loop", bound=CompiledLoop)
_loaded: dict[str, Any] = {}  # a build's path -> its loop (a path is one source's build)


def load(source: str, what: str, headers: Sequence[str], make: Callable[[str], _Loop]) -> _Loop:
    """The loop built from ``source`` and the package ``headers`` it includes (compiled first if
    the cache lacks that build), loaded once per build by ``make``."""
    path = compiled(source, what, headers)
    found: _Loop | None = _loaded.get(path)
    if found is None:
        found = _loaded[path] = make(path)
    return found


def split_key(key: int) -> tuple[int, int]:
    """(AUDIT_ARCH, nr) of a syscall key (arch << 32 | nr, nr a signed 32-bit number)."""
    nr = key & 0xFFFFFFFF
    return key >> 32, nr - (1 << 32) if nr >> 31 else nr


def take_rows(lib: ctypes.CDLL, st: Any, raw: RawRecording) -> None:
    """Fold the argument rows the loop queued (distinct, in arrival order) into ``raw``'s sets:
    before Python accounts for a call itself, so the order is the order of the calls."""
    n = int(lib.sgen_nrows(st))
    if not n:
        return
    buf = ctypes.create_string_buffer(n * ROW.size)
    got = int(lib.sgen_take_rows(st, buf, n))
    for audit, nr, nvals, v0, v1 in ROW.iter_unpack(buf.raw[:got * ROW.size]):
        raw.add_args((audit, nr), (v0,) if nvals == 1 else (v0, v1))


def merge(lib: ctypes.CDLL, st: Any, raw: RawRecording) -> None:
    """Add what the loop counted (its last rows, its calls per process and per site) to ``raw``;
    every syscall and site it counted Python has counted once already."""
    take_rows(lib, st, raw)
    n = int(lib.sgen_ncounts(st))
    buf = ctypes.create_string_buffer(max(n, 1) * COUNT.size)
    got = int(lib.sgen_counts(st, buf, n))
    site_calls = raw.site_calls
    for token, key, sid, count in COUNT.iter_unpack(buf.raw[:got * COUNT.size]):
        audit, nr = split_key(key)
        raw.count(audit, nr, token, UNRETURNED, count)
        where = (audit, nr, sid)
        site_calls[where] = site_calls.get(where, 0) + count
