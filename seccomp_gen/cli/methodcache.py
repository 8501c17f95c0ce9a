"""The methods ``dataclasses`` generates, compiled once and kept beside the package's bytecode.

Every ``@dataclass`` makes its ``__init__``, ``__repr__``, ``__eq__`` (and, frozen or ordered,
up to seven more) by ``exec``-ing generated source text. Compiling that text is most of what a
dataclass costs, ~0.5 ms each here, and ``record --known`` defines 18 before its workload
starts: ~9 ms of a ~45 ms start-up (README, "Start-up"). The text depends only on the class's
fields, so for the ``seccomp-gen`` process (:func:`seccomp_gen.cli.entry`; never on import)
:func:`install` puts an ``exec`` into the ``dataclasses`` module's namespace that takes the
code object compiled from that exact text from a table, and compiles (as ``exec`` would: the
same file name, no inherited ``__future__`` flags) only what the table lacks. :func:`save`
writes the table back when it learned something, as Python writes bytecode: into the
package's ``__pycache__`` (``sys.pycache_prefix`` honoured, as the package's own ``.pyc``),
atomically, and not under ``PYTHONDONTWRITEBYTECODE`` / ``-B`` or when that directory cannot
be written; it is trusted as that directory's ``.pyc`` files are. A table made by another
Python build or optimization level, or that does not read back, is ignored. The classes are
the same either way (tests/unit/test_methodcache.py).
"""

from __future__ import annotations

import builtins
import contextlib
import marshal
import os
import sys
import types
from typing import Any

#: The table's file name in the package's ``__pycache__``.
FILE_NAME = f"dataclass-methods.{sys.implementation.cache_tag}.bin"
#: More entries than this (a development tree whose dataclasses keep changing) and :func:`save`
#: keeps only those this process used.
MAX_ENTRIES = 2000

#: source text -> marshalled code object: read from the file, then what this process compiled.
_table: dict[str, bytes] = {}
_used: set[str] = set()
_learned = False


def _header() -> bytes:
    """What a table must start with to be read: this interpreter's build and -O level."""
    return repr((sys.version, sys.implementation.cache_tag, sys.flags.optimize)).encode() + b"\n"


def path() -> str | None:
    """Where the table is kept: beside ``seccomp_gen/__init__``'s bytecode; None when the
    package has no bytecode location."""
    cached = getattr(sys.modules.get("seccomp_gen"), "__cached__", None)
    return os.path.join(os.path.dirname(cached), FILE_NAME) if cached else None


def _read(where: str) -> dict[str, bytes]:
    try:
        with open(where, "rb") as fh:
            data = fh.read()
    except OSError:
        return {}
    head = _header()
    if not data.startswith(head):
        return {}
    try:
        table = marshal.loads(data[len(head):])
    except (EOFError, ValueError, TypeError):
        return {}
    if not isinstance(table, dict):
        return {}
    return {k: v for k, v in table.items() if isinstance(k, str) and isinstance(v, bytes)}


def _code(source: str) -> types.CodeType:
    """The code of ``source`` as ``exec`` in ``dataclasses`` compiles it: from the table, else
    compiled now (and learned)."""
    global _learned
    blob = _table.get(source)
    if blob is not None:
        try:
            code = marshal.loads(blob)
        except (EOFError, ValueError, TypeError):
            code = None
        if isinstance(code, types.CodeType):
            _used.add(source)
            return code
    code = compile(source, "<string>", "exec", dont_inherit=True)
    _table[source] = marshal.dumps(code)
    _used.add(source)
    _learned = True
    return code


def _exec(source: Any, globals: Any = None, locals: Any = None, /) -> None:
    """``exec`` for the dataclasses module: a text is run from its cached code."""
    if isinstance(source, str) and isinstance(globals, dict):
        source = _code(source)
    elif globals is None:  # exec's own default: the calling module's namespace
        globals = sys.modules["dataclasses"].__dict__
    builtins.exec(source, globals, locals)


def install() -> None:
    """Read the table and route the dataclasses module's ``exec`` through it."""
    import dataclasses

    where = path()
    if where is not None:
        _table.update(_read(where))
    vars(dataclasses)["exec"] = _exec


def uninstall() -> None:
    """Give ``dataclasses`` the builtin ``exec`` back."""
    import dataclasses

    if vars(dataclasses).get("exec") is _exec:
        del vars(dataclasses)["exec"]


def save() -> None:
    """Write the table if this process compiled something new (see the module's docstring);
    a failure to write is no error: the next run compiles again."""
    global _learned
    where = path()
    if not _learned or where is None or sys.dont_write_bytecode:
        return
    table = _table if len(_table) <= MAX_ENTRIES else {k: _table[k] for k in _used}
    tmp = f"{where}.{os.getpid()}.tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
        with os.fdopen(fd, "wb") as fh:
            fh.write(_header() + marshal.dumps(table))
        os.replace(tmp, where)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        return
    _learned = False
