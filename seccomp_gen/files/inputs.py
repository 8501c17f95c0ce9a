"""Reading untrusted input: one size cap, ``-`` for stdin, UTF-8 text, JSON; each failure one line.

Every file a command reads (traces, profiles, strace logs) comes through :func:`read_text`, so
they share one verdict: a file larger than the cap (``SECCOMP_GEN_MAX_INPUT``, default
:data:`DEFAULT_MAX_INPUT`) is refused before it is read, a pipe or device (``/dev/zero``) is
read only up to the cap, binary data (a NUL byte) and text that is not UTF-8 are refused at the
first bad byte. :func:`~seccomp_gen.jsontext.loads_json` decodes JSON with the limits Python's
decoder does not turn into a JSONDecodeError (nesting depth, the digits of an integer, NaN and
Infinity, lone surrogates) turned into one-line errors as well. Stdlib only: pure readers use it.
"""

from __future__ import annotations

import codecs
import os
import re
import stat
import sys
from collections.abc import Iterable
from typing import BinaryIO

from ..errors import SeccompGenError
from ..progress import report_progress

#: The name that means standard input wherever one file is read.
STDIN = "-"
STDIN_NAME = "<stdin>"
#: The environment variable that sets the input cap (``512M``, ``2G``, ``unlimited``).
MAX_INPUT_ENV = "SECCOMP_GEN_MAX_INPUT"
#: 512 MiB: a trace of ~4 million processes; loading one takes about three times its size.
DEFAULT_MAX_INPUT = 512 * 2**20
_CHUNK = 1 << 20
_UNITS = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}

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
    text = _read(path, what, None)
    assert isinstance(text, str)
    return text


def read_data(path: str | os.PathLike[str], what: str, binary_limit: int) -> str | bytes:
    """The text of ``path`` as :func:`read_text` reads it, or, for a file that is binary (a
    NUL byte or bytes that are not UTF-8, wherever the first one is), its bytes: at most
    ``binary_limit`` of them (the profile readers: 1 MiB; ``/dev/zero`` fails
    there)."""
    return _read(path, what, binary_limit)


def _read(path: str | os.PathLike[str], what: str, binary_limit: int | None) -> str | bytes:
    name = os.fspath(path)
    source = source_name(name)
    limit = max_input()
    fh = _open(name, source, what)
    raw: list[bytes] | None = [] if binary_limit is not None else None
    binary = False
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
            if raw is not None:
                if binary_limit is not None and done > binary_limit:
                    if binary:
                        size = format_size(binary_limit)
                        raise SeccompGenError(f"binary data larger than {size}, not {what}",
                                              path=source)
                    raw = None  # text too long to be the binary kind: read on as text
                else:
                    raw.append(chunk)
            if binary:
                continue
            nul = chunk.find(b"\0")
            try:
                parts.append(decoder.decode(chunk))
            except UnicodeDecodeError as exc:
                if not 0 <= nul < exc.start:
                    if raw is not None:
                        binary = True
                        continue
                    raise SeccompGenError(f"byte {offset + exc.start}: not UTF-8 text, not "
                                          f"{what}", path=source) from None
            if nul >= 0:  # the first bad byte is named, whichever kind it is
                if raw is not None:
                    binary = True
                    continue
                raise SeccompGenError(f"byte {offset + nul}: a NUL byte: binary data, not {what}",
                                      path=source)
            report_progress(f"reading {source}", done, total)
        report_progress(f"reading {source}", done, done)  # done
        if binary and raw is not None:
            return b"".join(raw)
        try:
            parts.append(decoder.decode(b"", final=True))
        except UnicodeDecodeError:
            if raw is not None:
                return b"".join(raw)
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
