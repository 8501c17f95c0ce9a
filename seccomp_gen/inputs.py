"""Reading untrusted input: one size cap, ``-`` for stdin, UTF-8 text, JSON; each failure one line.

Every file a command reads (traces, profiles, strace logs) comes through :func:`read_text`, so
they share one verdict: a file larger than the cap (``SECCOMP_GEN_MAX_INPUT``, default
:data:`DEFAULT_MAX_INPUT`) is refused before it is read, a pipe or device (``/dev/zero``) is
read only up to the cap, binary data (a NUL byte) and text that is not UTF-8 are refused at the
first bad byte. :func:`loads_json` decodes JSON with the limits Python's decoder does not turn
into a JSONDecodeError (nesting depth, the digits of an integer, NaN and Infinity, lone
surrogates) turned into one-line errors as well. Stdlib only: pure readers use it.
"""

from __future__ import annotations

import codecs
import json
import math
import os
import re
import stat
import sys
from collections.abc import Callable, Iterable
from typing import Any, BinaryIO

from .errors import SeccompGenError
from .safetext import is_utf8

#: The name that means standard input wherever one file is read.
STDIN = "-"
STDIN_NAME = "<stdin>"
#: The environment variable that sets the input cap (``512M``, ``2G``, ``unlimited``).
MAX_INPUT_ENV = "SECCOMP_GEN_MAX_INPUT"
#: 512 MiB: a trace of ~4 million processes; loading one takes about three times its size.
DEFAULT_MAX_INPUT = 512 * 2**20
_CHUNK = 1 << 20
_UNITS = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}

#: Called as ``hook(what, done, total_or_None)`` while a file is read or parsed (``what``:
#: ``reading FILE``, ``parsing FILE``; ``done == total`` once it is finished); the CLI sets one
#: that draws a progress bar on a terminal. None: silent (the library default).
ProgressHook = Callable[[str, int, int | None], None]
_progress: ProgressHook | None = None
#: Inputs smaller than this load too fast to need a progress bar.
PROGRESS_MIN_SIZE = 16 * 2**20


def set_progress(hook: ProgressHook | None) -> ProgressHook | None:
    """Install ``hook`` (None to remove it); returns the previous one."""
    global _progress
    previous, _progress = _progress, hook
    return previous


def report_progress(source: str, done: int, total: int | None) -> None:
    """Tell the installed hook how far a long read or parse is."""
    if _progress is not None:
        _progress(source, done, total)


def source_name(path: str | os.PathLike[str]) -> str:
    """How messages name an input: its path, or ``<stdin>`` for ``-``."""
    text = os.fspath(path)
    return STDIN_NAME if text == STDIN else text


def parse_size(text: str) -> int | None:
    """``512M`` -> 536870912 (binary units K, M, G, T; a trailing ``B``/``iB`` is allowed);
    ``unlimited`` -> None. Raises ValueError for anything else."""
    t = text.strip().lower()
    if t in ("unlimited", "none", "0"):
        return None
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?", t)
    if m is None:
        raise ValueError(text)
    return int(float(m.group(1)) * _UNITS[m.group(2)])


def format_size(n: int) -> str:
    """``536870912`` -> ``512 MiB``."""
    for unit, size in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            value = n / size
            return f"{value:.0f} {unit}" if value == int(value) else f"{value:.1f} {unit}"
    return f"{n} bytes"


def max_input() -> int | None:
    """The input cap in bytes (None: no cap), from ``SECCOMP_GEN_MAX_INPUT`` or the default."""
    raw = os.environ.get(MAX_INPUT_ENV)
    if raw is None or not raw.strip():
        return DEFAULT_MAX_INPUT
    try:
        return parse_size(raw)
    except ValueError:
        raise SeccompGenError(f"{MAX_INPUT_ENV}={raw!r} is not a size",
                              hint="e.g. 512M, 2G or unlimited") from None


def _too_big(source: str, limit: int, size: int | None) -> SeccompGenError:
    what = f"{format_size(size)}, " if size is not None else ""
    return SeccompGenError(
        f"{what}larger than the input limit of {format_size(limit)}", path=source,
        hint=f"set {MAX_INPUT_ENV}=SIZE to change the limit, e.g. {MAX_INPUT_ENV}=2G")


def _open(path: str, source: str, what: str) -> BinaryIO:
    if path == STDIN:
        stream = sys.stdin.buffer if sys.stdin is not None else None
        if stream is None:
            raise SeccompGenError("there is no standard input to read", path=source)
        return stream
    try:
        return open(path, "rb")  # closed by read_text
    except FileNotFoundError:
        raise SeccompGenError("no such file", path=source) from None
    except IsADirectoryError:
        raise SeccompGenError(f"is a directory, not {what}", path=source) from None
    except OSError as exc:
        raise SeccompGenError(f"cannot read: {exc.strerror or exc}", path=source) from None


def read_text(path: str | os.PathLike[str], what: str = "a trace or profile") -> str:
    """The UTF-8 text of ``path`` (``-``: standard input), within the input cap.

    ``what`` names what the file should have been, for the messages (``is a directory, not a
    trace``). Raises a one-line SeccompGenError naming the file for a missing, unreadable or
    oversized file, a NUL byte (binary data: ``/dev/zero`` fails in its first megabyte), or
    bytes that are not UTF-8."""
    name = os.fspath(path)
    source = source_name(name)
    limit = max_input()
    fh = _open(name, source, what)
    try:
        try:
            st = os.fstat(fh.fileno())
        except (OSError, ValueError):
            st = None
        if st is not None and stat.S_ISDIR(st.st_mode):
            raise SeccompGenError(f"is a directory, not {what}", path=source)
        total = st.st_size if st is not None and stat.S_ISREG(st.st_mode) else None
        if limit is not None and total is not None and total > limit:
            raise _too_big(source, limit, total)
        decoder = codecs.getincrementaldecoder("utf-8")()
        parts: list[str] = []
        done = 0
        while True:
            try:
                chunk = fh.read(_CHUNK)
            except OSError as exc:
                raise SeccompGenError(f"cannot read: {exc.strerror or exc}",
                                      path=source) from None
            if not chunk:
                break
            offset, done = done, done + len(chunk)
            if limit is not None and done > limit:
                raise _too_big(source, limit, None)
            nul = chunk.find(b"\0")
            try:
                parts.append(decoder.decode(chunk))
            except UnicodeDecodeError as exc:
                if not 0 <= nul < exc.start:
                    raise SeccompGenError(f"byte {offset + exc.start}: not UTF-8 text, not "
                                          f"{what}", path=source) from None
            if nul >= 0:  # the first bad byte is named, whichever kind it is
                raise SeccompGenError(f"byte {offset + nul}: a NUL byte: binary data, not {what}",
                                      path=source)
            report_progress(f"reading {source}", done, total)
        report_progress(f"reading {source}", done, done)  # done
        try:
            parts.append(decoder.decode(b"", final=True))
        except UnicodeDecodeError:
            raise SeccompGenError(f"byte {done}: truncated UTF-8 at the end, not {what}",
                                  path=source) from None
    finally:
        if name != STDIN:
            fh.close()
    text = "".join(parts)
    del parts
    return text


def check_stdin_once(paths: Iterable[str | os.PathLike[str]]) -> None:
    """Refuse ``-`` given more than once: standard input can be read only once."""
    if sum(1 for p in paths if os.fspath(p) == STDIN) > 1:
        raise SeccompGenError("'-' (standard input) is given more than once",
                              hint="standard input can be read only once")


# --- JSON --------------------------------------------------------------------------------------


class _NotJSONNumber(ValueError):
    """NaN, Infinity, or a number too large for a float: JSON (RFC 8259) has none of them."""


def _refuse_constant(name: str) -> Any:
    raise _NotJSONNumber(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _NotJSONNumber(f"the number {text[:24]} is out of range")
    return value


#: The decoder every JSON reader uses: NaN, Infinity and 1e400 are refused as they are met.
DECODER = json.JSONDecoder(parse_constant=_refuse_constant, parse_float=_finite_float)
#: A ``\ud800``-``\udfff`` escape: the only way JSON text can hold a lone surrogate.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def may_hold_surrogates(text: str) -> bool:
    """Whether decoded strings of ``text`` can contain lone surrogates (a cheap scan)."""
    return _SURROGATE_ESCAPE.search(text) is not None


def json_error(exc: Exception, text: str, pos_base: int = 0) -> str:
    """One line for an exception the JSON decoder raised (position first when known)."""
    if isinstance(exc, json.JSONDecodeError):
        at_end = exc.pos >= len(text.rstrip())
        if at_end:
            return f"{exc.lineno}:{exc.colno}: truncated (not JSON: {exc.msg})"
        return f"{exc.lineno}:{exc.colno}: corrupt JSON ({exc.msg})"
    if isinstance(exc, RecursionError):
        return "JSON nested too deeply to read (arrays or objects more than ~1000 levels deep)"
    if isinstance(exc, _NotJSONNumber):
        return f"{exc}: JSON allows only finite numbers"
    return (f"a number with more than {sys.get_int_max_str_digits()} digits "
            "(Python's limit for reading integers)")


def check_strings(value: Any, source: str, where: str = "",
                  error: type[SeccompGenError] = SeccompGenError) -> None:
    """Refuse lone surrogates in any string (key or value) of decoded JSON, raising ``error``;
    iterative, so any depth the decoder accepted is fine."""
    stack: list[tuple[Any, str]] = [(value, where)]
    while stack:
        v, w = stack.pop()
        if isinstance(v, str):
            if not is_utf8(v):
                raise error(f"{w or 'value'}: invalid Unicode (a lone surrogate escape such "
                            "as \\ud800)", path=source)
        elif isinstance(v, dict):
            for k, item in v.items():
                stack.append((k, w))
                stack.append((item, f"{w}.{k}" if w else str(k)))
        elif isinstance(v, list):
            stack.extend((item, f"{w}[{i}]") for i, item in enumerate(v))


def loads_json(text: str, source: str) -> Any:
    """Decode JSON text; every failure is a one-line SeccompGenError naming ``source``."""
    try:
        doc = DECODER.decode(text)
    except (ValueError, RecursionError) as exc:
        raise SeccompGenError(json_error(exc, text), path=source) from None
    if may_hold_surrogates(text):
        check_strings(doc, source)
    return doc
