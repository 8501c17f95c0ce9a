"""Trace files on disk: read within the input cap (``-`` is standard input), written atomically.

The format itself is :mod:`seccomp_gen.formats.tracefile`; this is where it meets the file
system, and where the library's ``load_trace`` and ``dump_trace`` come from.
"""

from __future__ import annotations

import os

from ..errors import SeccompGenError, TraceFileError
from ..formats.tracefile import dumps, iter_dumps, loads
from ..model import Trace
from .atomic import write_atomic, write_or_rescue
from .inputs import read_text, source_name


def load(path: str | os.PathLike[str]) -> Trace:
    """Read and validate a trace file (``-``: standard input), within the input size cap."""
    try:
        text = read_text(path, "a trace")
    except SeccompGenError as exc:
        if isinstance(exc, TraceFileError):
            raise
        raise TraceFileError(exc.message, hint=exc.hint, path=exc.path) from None
    return loads(text, source_name(path))


def dump(trace: Trace, path: str | os.PathLike[str]) -> None:
    """Write a trace file atomically (temp file + rename), piece by piece."""
    write_atomic(path, iter_dumps(trace))


def dump_or_rescue(trace: Trace, path: str | os.PathLike[str],
                   what: str = "the trace") -> tuple[str | None, str | None]:
    """Write a trace that cannot be made again (a run that has ended), or save it elsewhere
    (:func:`~seccomp_gen.files.atomic.write_or_rescue`)."""
    return write_or_rescue(path, dumps(trace), what)
