"""JSON from untrusted text: Python's decoder with its remaining limits made one-line errors.

The standard decoder accepts NaN and Infinity, turns 1e400 into a float infinity, lets lone
surrogate escapes through, and raises RecursionError or ValueError (integers of more than 4300
digits) rather than a JSONDecodeError: every reader decodes with :func:`loads_json` instead, so
each of those is a :class:`~seccomp_gen.errors.SeccompGenError` naming the file. Pure.
"""

from __future__ import annotations

import json
import math
import re
import sys
from typing import Any

from .errors import SeccompGenError
from .safetext import is_utf8


class _NotJSONNumber(ValueError):
    """NaN, Infinity, or a number too large for a float: JSON (RFC 8259) has none of them."""


def _refuse_constant(name: str) -> Any:
    raise _NotJSONNumber(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _NotJSONNumber(f"the number {text[:24]} is out of range")
    return value


class _DuplicateKey(ValueError):
    """One object names a key twice: the decoder keeps the last, so a rewrite would lose one."""


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(f"the key {key[:60]!r} is given twice in one object")
        out[key] = value
    return out


#: The decoder every JSON reader uses: NaN, Infinity and 1e400 are refused as they are met.
DECODER = json.JSONDecoder(parse_constant=_refuse_constant, parse_float=_finite_float)
#: The same, refusing a key given twice in one object (for a file that is rewritten).
_UNIQUE_DECODER = json.JSONDecoder(parse_constant=_refuse_constant, parse_float=_finite_float,
                                   object_pairs_hook=_unique_keys)
#: A ``\ud800``-``\udfff`` escape: the only way JSON text can hold a lone surrogate.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def may_hold_surrogates(text: str) -> bool:
    """Whether decoded strings of ``text`` can contain lone surrogates (a cheap scan)."""
    return _SURROGATE_ESCAPE.search(text) is not None


def json_error(exc: Exception, text: str, pos_base: int = 0) -> str:
    """One line for an exception the JSON decoder raised (position first when known)."""
    if isinstance(exc, json.JSONDecodeError):
        # The decoder reports a string cut off by the end of the text at the string's opening
        # quote, not at the end: a file cut inside a string is truncated too.
        at_end = exc.pos >= len(text.rstrip()) or exc.msg == "Unterminated string starting at"
        if at_end:
            return f"{exc.lineno}:{exc.colno}: truncated (not JSON: {exc.msg})"
        return f"{exc.lineno}:{exc.colno}: corrupt JSON ({exc.msg})"
    if isinstance(exc, RecursionError):
        return "JSON nested too deeply to read (arrays or objects more than ~1000 levels deep)"
    if isinstance(exc, _NotJSONNumber):
        return f"{exc}: JSON allows only finite numbers"
    if isinstance(exc, _DuplicateKey):
        return str(exc)
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


def loads_json(text: str, source: str, *, unique_keys: bool = False) -> Any:
    """Decode JSON text; every failure is a one-line SeccompGenError naming ``source``.
    ``unique_keys``: refuse a key given twice in one object (a file about to be rewritten)."""
    try:
        doc = (_UNIQUE_DECODER if unique_keys else DECODER).decode(text)
    except (ValueError, RecursionError) as exc:
        raise SeccompGenError(json_error(exc, text), path=source) from None
    if may_hold_surrogates(text):
        check_strings(doc, source)
    return doc
