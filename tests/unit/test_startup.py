"""What ``seccomp-gen`` imports before it runs a workload, and that lazy imports change nothing.

Short workloads under ``record`` (and ``record --known``, meant to run at native speed) are
dominated by the tool's start-up, most of it imports. These tests pin down what a command must
not import (another backend, rich with ``-q``, the emitters for a trace, ...), each in a fresh
interpreter so that this process's own imports do not count. No timings: only ``sys.modules``.
What ``record`` imports when it records for real: tests/live/test_startup_record.py.
"""

from __future__ import annotations

import subprocess

import pytest
from helpers.cli import PYTHON
from helpers.imports import HEAVY, OTHER_BACKENDS, OTHER_COMMANDS, TIMEOUT, imported, modules_after

from seccomp_gen import cli
from seccomp_gen.recorders import _IMPLEMENTATIONS, BACKENDS, unavailable_reasons


def test_package_import_is_light() -> None:
    seen = modules_after("import seccomp_gen")
    assert imported(seen, (*HEAVY, "seccomp_gen.recorders", "seccomp_gen.cli")) == []


@pytest.mark.parametrize("first", [
    "import seccomp_gen.enforce.sandbox",
    "from seccomp_gen.enforce.sandbox import REPORT_PREFIX",
    "from seccomp_gen.recorders.inprocess import build_program",
    "import importlib; importlib.import_module('seccomp_gen.recorders.inprocess')",
    "pass",
])
def test_lazy_public_functions_stay_functions(first: str) -> None:
    """However the modules behind the lazy public names get imported, the package attributes
    are the functions."""
    code = f"""
{first}
import types, seccomp_gen
import seccomp_gen.recorders.inprocess, seccomp_gen.enforce.sandbox
from seccomp_gen.enforce.sandbox import sandbox as box_fn, SyscallDenied as denied
from seccomp_gen.recorders.inprocess import recording as rec_fn
from seccomp_gen.files.traces import dump, load
assert seccomp_gen.sandbox is box_fn, seccomp_gen.sandbox
assert seccomp_gen.recording is rec_fn, seccomp_gen.recording
assert seccomp_gen.SyscallDenied is denied
assert (seccomp_gen.dump_trace, seccomp_gen.load_trace) == (dump, load)
assert isinstance(seccomp_gen.record, types.FunctionType)
ns = {{}}
exec("from seccomp_gen import *", ns)
assert ns["sandbox"] is box_fn and ns["recording"] is rec_fn
assert set(seccomp_gen.__all__) <= set(dir(seccomp_gen))
try:
    seccomp_gen.no_such_name
except AttributeError:
    pass
else:
    raise AssertionError("no AttributeError")
"""
    modules_after(code)


def test_cli_import_is_light() -> None:
    seen = modules_after("import seccomp_gen.cli")
    assert imported(seen, (*HEAVY, "seccomp_gen.recorders", *OTHER_COMMANDS)) == []


def test_record_parser_alone() -> None:
    """Parsing a ``record`` command line builds no other command (their modules import
    libseccomp, the output formats, the enforcement machinery)."""
    seen = modules_after("from seccomp_gen import cli\n"
                         "cli.build_parser(cli._command_of(['record', '-q', '--', 'true']))"
                         ".parse_args(['record', '-q', '--', 'true'])")
    assert imported(seen, (*HEAVY, *OTHER_BACKENDS, *OTHER_COMMANDS)) == []


ARGVS = [
    ["record", "-q", "-f", "--backend", "ptrace", "--known", "k.json", "-o", "x", "--", "ls",
     "-l"],
    ["record", "--profile", "oci:a.json", "--profile", "lxc:b", "--", "true"],
    ["show", "t.json", "--by", "exe", "--json"],
    ["generate", "a.json", "b.json", "--format", "lxc", "-o", "out", "--args", "strict"],
    ["diff", "a.json", "b.json", "--arch", "x86"],
    ["run", "--profile", "p.json", "--", "true"],
    ["merge", "a.json", "b.json", "-o", "m.json"],
    ["import", "strace.log", "-o", "t.json"],
    ["check", "--profile", "p.json", "--", "true"],
]


@pytest.mark.parametrize("argv", ARGVS, ids=lambda a: a[0])
def test_one_command_parser_parses_its_command_line(argv: list[str]) -> None:
    """The parser built for the command the first word names parses that command's line and
    dispatches to that command's module."""
    command = cli._command_of(argv)
    assert command is not None and command.name == argv[0]
    args, rest = cli.build_parser(command).parse_known_args(argv)
    assert rest == [] and args.command_entry is command
    assert args.func.__module__ == f"seccomp_gen.cli.{command.module}"


@pytest.mark.parametrize("argv", [[], ["--help"], ["--version"], ["recrod"], ["-h", "record"]])
def test_no_single_command_without_one(argv: list[str]) -> None:
    assert cli._command_of(argv) is None


def test_every_command_registered_in_full_parser() -> None:
    """``--help`` (the full parser) still lists every command, in the usual order."""
    res = subprocess.run([PYTHON, "-m", "seccomp_gen", "--help"], capture_output=True,
                         timeout=TIMEOUT, check=False)
    assert res.returncode == 0
    text = res.stdout.decode()
    positions = [text.find(f"\n    {name} ") for name in
                 ("record", "show", "generate", "diff", "run", "merge", "import", "check",
                  "audit")]
    assert -1 not in positions and positions == sorted(positions), text


def test_every_backend_has_an_implementation() -> None:
    assert tuple(_IMPLEMENTATIONS) == BACKENDS
    assert set(unavailable_reasons()) == set(BACKENDS)




@pytest.mark.parametrize("command", ["run", "check"])
def test_run_and_check_modules_import_no_rich(command: str) -> None:
    """``run`` and ``check`` import rich only to print a table, a denied call, a new syscall or
    a note (their one-line report is plain: ``LazyConsole.plain``); their modules and parsers do
    not (what they import when they run: tests/live/test_startup_record.py)."""
    argv = [command, "--profile", "p.json", "--", "true"]
    seen = modules_after("from seccomp_gen import cli\n"
                         f"cli.build_parser(cli._command_of({argv!r})).parse_args({argv!r})\n"
                         "import seccomp_gen.cli.text")
    assert imported(seen, ("rich", "seccomp_gen.cli.console", "seccomp_gen.merge")) == []
