"""The dataclass methods ``seccomp-gen`` takes compiled from :mod:`seccomp_gen.cli.methodcache`
are the methods ``dataclasses`` makes without it, and a table that is not this Python's, or does
not read back, is ignored.

Each case runs in fresh interpreters with ``-X pycache_prefix=TMP`` (the table lives beside the
package's bytecode, so there) and without PYTHONDONTWRITEBYTECODE, which stops it being written.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from helpers.cli import PYTHON
from helpers.imports import TIMEOUT

from seccomp_gen.cli import methodcache

#: Every dataclass of the package, each generated method described by what makes it behave:
#: its code, constants, names, defaults and annotations (the file name is ``<string>`` for both).
_DESCRIBE = """
import dataclasses, importlib, json, pkgutil, re, sys, types
{setup}
def r(value):  # a repr without addresses (a default factory is a function) or set order
    if isinstance(value, tuple):
        return "(" + ", ".join(map(r, value)) + ")"
    if isinstance(value, (set, frozenset)):
        return type(value).__name__ + repr(sorted(value, key=repr))
    return re.sub(r" at 0x[0-9a-f]+", "", repr(value))
import seccomp_gen
out = {{}}
for info in pkgutil.walk_packages(seccomp_gen.__path__, "seccomp_gen."):
    if info.name.endswith("__main__"):
        continue
    try:
        mod = importlib.import_module(info.name)
    except ImportError:  # an optional dependency (capstone, ...)
        continue
    for name, obj in vars(mod).items():
        if (isinstance(obj, type) and dataclasses.is_dataclass(obj)
                and obj.__module__ == mod.__name__):
            methods = {{}}
            for attr, fn in vars(obj).items():
                fn = getattr(fn, "__wrapped__", fn)
                code = getattr(fn, "__code__", None)
                if code is not None and code.co_filename == "<string>":
                    methods[attr] = [code.co_code.hex(), r(code.co_consts), code.co_names,
                                     code.co_varnames, code.co_freevars, code.co_flags,
                                     r(fn.__defaults__), r(fn.__kwdefaults__),
                                     r(fn.__annotations__)]
            out[f"{{mod.__name__}}.{{name}}"] = methods
@dataclasses.dataclass(frozen=True, order=True)
class Probe:
    a: int
    b: "list[str]" = dataclasses.field(default_factory=list)
assert Probe.__init__.__annotations__["a"] is int, Probe.__init__.__annotations__
assert Probe(1) < Probe(2) and Probe(1) == Probe(1) and repr(Probe(1)) == "Probe(a=1, b=[])"
{after}
print(json.dumps(out, sort_keys=True))
"""

_CACHED = "from seccomp_gen.cli import methodcache\nmethodcache.install()"


def _python(code: str, prefix: Path, write: bool = True) -> str:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONHASHSEED"] = "0"  # defaults that are sets print in one order
    if not write:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    res = subprocess.run([PYTHON, "-X", f"pycache_prefix={prefix}", "-c", code], env=env,
                         capture_output=True, text=True, timeout=TIMEOUT * 2, check=False)
    assert res.returncode == 0, res.stderr[-3000:]
    return res.stdout.splitlines()[-1] if res.stdout else ""


def _table_file(prefix: Path) -> Path:
    found = list(prefix.rglob(methodcache.FILE_NAME))
    assert len(found) <= 1, found
    return found[0] if found else prefix / "none"


def test_cached_methods_are_the_ones_dataclasses_makes(tmp_path: Path) -> None:
    """Without the cache, with an empty one (which learns every method and is written) and
    with the full one (from which every method comes, nothing compiled), every dataclass of
    the package gets the same methods."""
    plain = json.loads(_python(_DESCRIBE.format(setup="", after=""), tmp_path / "plain"))
    assert len(plain) > 30 and all(plain.values())
    learn = _DESCRIBE.format(setup=_CACHED, after="methodcache.save()")
    assert json.loads(_python(learn, tmp_path / "c")) == plain
    table = _table_file(tmp_path / "c")
    assert table.is_file()
    before = table.read_bytes()
    reuse = _DESCRIBE.format(setup=_CACHED, after="assert not methodcache._learned\n"
                             "assert methodcache._used\nmethodcache.save()")
    assert json.loads(_python(reuse, tmp_path / "c")) == plain
    assert table.read_bytes() == before  # nothing new: not rewritten


def test_cached_code_is_what_exec_compiles(tmp_path: Path) -> None:
    """Every entry of a table is the code its text compiles to, with no ``__future__`` flag of
    the module that compiles it (methodcache has ``annotations``; dataclasses has none)."""
    _python(_DESCRIBE.format(setup=_CACHED, after="methodcache.save()"), tmp_path)
    check = ("import marshal, sys\n"
             "from seccomp_gen.cli import methodcache\n"
             "table = methodcache._read(methodcache.path())\n"
             "assert len(table) > 100, len(table)\n"
             "for src, blob in table.items():\n"
             "    code = compile(src, '<string>', 'exec', dont_inherit=True)\n"
             "    assert marshal.loads(blob) == code\n"
             "    assert 'def __create_fn__' in src\n"
             "print(len(table))\n")
    assert int(_python(check, tmp_path)) > 100


@pytest.mark.parametrize("content", [
    b"", b"garbage", b"('3.0', 'x', 0)\n" + b"\x00" * 8,
    None,  # this Python's header, then something that is not a marshalled dict
    "bad blobs",  # this Python's header and a dict whose values do not unmarshal to code
])
def test_a_bad_table_is_ignored_and_replaced(content: bytes | str | None,
                                             tmp_path: Path) -> None:
    _python(_DESCRIBE.format(setup=_CACHED, after="methodcache.save()"), tmp_path)
    table = _table_file(tmp_path)
    head = methodcache._header()
    if content is None:
        content = head + b"\xff\xfe"
    elif content == "bad blobs":
        import marshal

        texts = marshal.loads(table.read_bytes()[len(head):])
        content = head + marshal.dumps({t: b"\x00junk" for t in texts})
    assert isinstance(content, bytes)
    table.write_bytes(content)
    plain = json.loads(_python(_DESCRIBE.format(setup="", after=""), tmp_path / "plain"))
    out = _python(_DESCRIBE.format(setup=_CACHED, after="assert methodcache._learned\n"
                                   "methodcache.save()"), tmp_path)
    assert json.loads(out) == plain
    assert table.read_bytes().startswith(head) and len(table.read_bytes()) > 10_000


def test_not_written_without_bytecode_writing(tmp_path: Path) -> None:
    """PYTHONDONTWRITEBYTECODE (or -B) stops the table being written, as it stops .pyc files."""
    _python(_DESCRIBE.format(setup=_CACHED, after="methodcache.save()"), tmp_path, write=False)
    assert not _table_file(tmp_path).exists()


def test_uninstall_gives_the_builtin_back() -> None:
    import dataclasses

    methodcache.install()
    try:
        assert vars(dataclasses)["exec"] is methodcache._exec
    finally:
        methodcache.uninstall()
    assert "exec" not in vars(dataclasses)
