"""The stand-ins start-up uses for what it no longer imports answer as the originals do.

``record`` avoids pathlib, tempfile, shutil, datetime and inspect (docs/architecture.md, "Facts";
README, "Start-up"): each small replacement is compared here with the standard library function it
replaces, and the process set-up of ``seccomp-gen`` itself (:func:`seccomp_gen.cli.entry`:
gc threshold, inspect on first use, the exit without interpreter teardown) is run in fresh
interpreters. Which modules a command imports: test_startup.py and
tests/live/test_startup_record.py.
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import stat
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from helpers.cli import PYTHON
from helpers.imports import TIMEOUT, modules_after
from hypothesis import given
from hypothesis import strategies as st

from seccomp_gen.cli import help_width
from seccomp_gen.files.atomic import _name, _parent, clean_path, create_unique
from seccomp_gen.recorders.base import on_path, utc_now

ROOT = Path(__file__).resolve().parents[2]


@given(st.lists(st.sampled_from(["", ".", "..", "a", "b.json", ".x"]), max_size=6),
       st.sampled_from(["", "/", "//", "///"]), st.booleans())
def test_clean_path_is_pathlibs(parts: list[str], root: str, trailing: bool) -> None:
    text = root + "/".join(parts) + ("/" if trailing else "")
    path = Path(text)
    cleaned = clean_path(text)
    assert (cleaned, _parent(cleaned), _name(cleaned)) == (str(path), str(path.parent), path.name)


def test_create_unique_is_exclusive_private_and_absolute(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    fd, path = create_unique(".", ".t.json.", ".tmp")
    os.close(fd)
    assert os.path.isabs(path) and os.path.dirname(path) == str(tmp_path)
    assert re.fullmatch(r"\.t\.json\.[0-9a-f]{12}\.tmp", os.path.basename(path))
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    names = set()
    for _ in range(50):
        fd, other = create_unique(str(tmp_path), "p", "")
        os.close(fd)
        names.add(other)
    assert len(names) == 50
    with pytest.raises(FileNotFoundError):
        create_unique(str(tmp_path / "missing"), "p", "")


def test_on_path_finds_what_which_finds(tmp_path: Path) -> None:
    dirs = [tmp_path / n for n in ("plain", "noexec", "isdir", "good", "later")]
    for d in dirs:
        d.mkdir()
    (dirs[1] / "tool").write_text("#!/bin/sh\n")
    (dirs[2] / "tool").mkdir()
    for d in (dirs[3], dirs[4]):
        (d / "tool").write_text("#!/bin/sh\n")
        (d / "tool").chmod(0o755)
    searches = [os.pathsep.join(str(d) for d in dirs), "", os.pathsep.join(map(str, dirs[:3])),
                os.pathsep.join([str(dirs[4]), str(dirs[4]), str(dirs[3])]),
                os.pathsep + str(dirs[3])]
    for search in searches:
        for name in ("tool", "missing"):
            assert on_path(name, search) == shutil.which(name, path=search), (name, search)


@pytest.mark.parametrize("columns", [None, "0", "50", "x", "-3"])
def test_help_width_is_shutils(columns: str | None, monkeypatch: pytest.MonkeyPatch) -> None:
    if columns is None:
        monkeypatch.delenv("COLUMNS", raising=False)
    else:
        monkeypatch.setenv("COLUMNS", columns)
    assert help_width() == shutil.get_terminal_size().columns - 2


def test_utc_now_is_datetimes_form() -> None:
    """The same text as datetime's, and now. (Not "between two readings of the clock": this
    VM's wall clock has been seen to step back a second between two calls.)"""
    text = utc_now()
    now = datetime.now(UTC)
    assert abs((datetime.fromisoformat(text) - now).total_seconds()) < 60
    assert text == datetime.fromisoformat(text).isoformat(timespec="seconds")
    assert datetime.fromisoformat(text).tzinfo == UTC


def test_pyseccomp_is_loaded_by_soname_without_subprocesses() -> None:
    """pyseccomp's find_library calls are answered while it is imported (no ``ldconfig -p``):
    neither subprocess nor ctypes.util is imported, and a ctypes.util imported before keeps
    its own find_library."""
    seen = modules_after("import seccomp_gen.libseccomp as L, pyseccomp\n"
                         "assert pyseccomp._libseccomp._name == L.SONAME\n"
                         "assert L.version().count('.') == 2, L.version()\n")
    assert "subprocess" not in seen and "ctypes.util" not in seen
    modules_after("import ctypes.util\n"
                  "find = ctypes.util.find_library\n"
                  "import seccomp_gen.libseccomp\n"
                  "assert ctypes.util.find_library is find\n"
                  "assert ctypes.util.find_library('c')\n")


def test_inspect_on_first_use_works_as_inspect() -> None:
    """A dataclass without a docstring (the one use dataclasses makes of inspect) still gets
    its signature as docstring, and inspect is the real module afterwards."""
    modules_after("import sys\n"
                  "from seccomp_gen.cli import OnFirstUse\n"
                  "sys.modules['inspect'] = OnFirstUse('inspect')\n"
                  "import dataclasses\n"
                  "assert 'ast' not in sys.modules\n"
                  "@dataclasses.dataclass\n"
                  "class X:\n"
                  "    a: int\n"
                  "assert X.__doc__ == 'X(a: int)', X.__doc__\n"
                  "import inspect\n"
                  "assert type(sys.modules['inspect']).__name__ == 'module'\n"
                  "assert str(inspect.signature(X)) == '(a: int) -> None'\n"
                  "from inspect import isclass\n"
                  "assert isclass(X)\n")


_ENTRY = """
import atexit, sys
sys.argv = ["seccomp-gen", *{argv!r}]
atexit.register(lambda: print("atexit ran", file=sys.stderr))
{before}
from seccomp_gen.cli import entry
entry()
"""


def _entry(argv: list[str], before: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([PYTHON, "-c", _ENTRY.format(argv=argv, before=before)],
                          capture_output=True, text=True, timeout=TIMEOUT, check=False, cwd=ROOT)


def test_entry_flushes_runs_atexit_and_keeps_the_status() -> None:
    trace = "sample_traces/ls.trace.json"
    res = _entry(["show", trace, "--json"])
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("{") and res.stdout.endswith("}\n")
    assert res.stderr == "atexit ran\n"
    res = _entry(["show", "no-such.trace.json"])
    assert res.returncode == 125
    assert res.stderr.startswith("seccomp-gen: error:")
    assert res.stderr.splitlines()[-1] == "atexit ran"


def test_entry_waits_for_a_thread_left_running() -> None:
    """With another thread alive, the process exits the ordinary way: Python waits for it."""
    before = ("import threading, time\n"
              "threading.Thread(target=lambda: (time.sleep(0.3), print('thread done'))).start()")
    res = _entry(["show", "sample_traces/ls.trace.json", "--json"], before)
    assert res.returncode == 0, res.stderr
    assert res.stdout.endswith("thread done\n")


def test_every_dataclass_has_a_docstring() -> None:
    """dataclasses calls inspect (imported on first use, ~6 ms) only to make a docstring for a
    dataclass without one: each of ours has its own, so no command imports inspect for it."""
    missing = []
    for path in sorted((ROOT / "seccomp_gen").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.ClassDef) and ast.get_docstring(node) is None
                    and any("dataclass" in ast.unparse(d) for d in node.decorator_list)):
                missing.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name}")
    assert missing == []


def test_plain_line_is_what_rich_would_print_but_escaped(capsys: pytest.CaptureFixture[str]
                                                         ) -> None:
    """``LazyConsole.plain`` writes the line as it is (no markup, emoji codes or wrapping), every
    non-printable character escaped, without making the rich Console; once that exists, the
    line goes through it, in order, and reads the same."""
    from seccomp_gen.cli import LazyConsole

    err = LazyConsole(stderr=True)
    line = "x [bold]y[/bold] :smile: " + "w" * 200 + " \x1b[31m\r\x07"
    err.plain(line)
    assert err._console is None
    first = capsys.readouterr().err
    assert first == "x [bold]y[/bold] :smile: " + "w" * 200 + " \\x1b[31m\\x0d\\x07\n"
    err.print("rich now", soft_wrap=True, highlight=False, markup=False)
    err.plain(line)
    assert capsys.readouterr().err == "rich now\n" + first
