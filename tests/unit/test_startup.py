"""What ``seccomp-gen`` imports before it runs a workload, and that lazy imports change nothing.

Short workloads under ``record`` (and ``record --known``, meant to run at native speed) are
dominated by the tool's start-up, most of it imports. These tests pin down what a command must
not import (another backend, rich with ``-q``, the emitters for a trace, ...), each in a fresh
interpreter so that this process's own imports do not count. No timings: only ``sys.modules``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from seccomp_gen import cli
from seccomp_gen.recorders import _IMPLEMENTATIONS, BACKENDS, unavailable_reasons

PYTHON = sys.executable
TIMEOUT = 60

#: Imported by no command before it needs them.
HEAVY = ("rich", "pyseccomp", "ptrace", "seccomp_gen.enforce", "seccomp_gen.libseccomp",
         "seccomp_gen.formats.strace", "seccomp_gen.formats.oci", "seccomp_gen.formats.lxc",
         "seccomp_gen.formats.python_table", "seccomp_gen.synthesize")
#: Every command module but ``record``'s own.
OTHER_COMMANDS = tuple(f"seccomp_gen.cli.{c.module}" for c in cli.COMMANDS if c.name != "record")
#: Backends other than the default one (the seccomp backend shares the ptrace backend's check
#: and session, so that one may be imported), and the modules only they use.
OTHER_BACKENDS = (*(f"seccomp_gen.recorders.{impl.module}" for name, impl in
                    _IMPLEMENTATIONS.items() if name not in ("seccomp", "ptrace")),
                  "seccomp_gen.linux.reaper", "seccomp_gen.recorders.audit_state")

_SEEN = """
import json, sys
{code}
print(json.dumps(sorted(sys.modules)))
"""


def modules_after(code: str, cwd: Path | None = None) -> set[str]:
    """The modules a fresh interpreter has imported after running ``code``."""
    res = subprocess.run([PYTHON, "-c", _SEEN.format(code=code)], capture_output=True,
                         timeout=TIMEOUT, check=False, cwd=cwd)
    assert res.returncode == 0, res.stderr.decode(errors="replace")
    return set(json.loads(res.stdout.decode().splitlines()[-1]))


def imported(modules: set[str], names: tuple[str, ...]) -> list[str]:
    """Which of ``names`` (or their submodules) are in ``modules``."""
    return sorted(m for m in modules if any(m == n or m.startswith(n + ".") for n in names))


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
                 ("record", "show", "generate", "diff", "run", "merge", "import", "check")]
    assert -1 not in positions and positions == sorted(positions), text


def test_every_backend_has_an_implementation() -> None:
    assert tuple(_IMPLEMENTATIONS) == BACKENDS
    assert set(unavailable_reasons()) == set(BACKENDS)


_REASONS = unavailable_reasons()
needs_seccomp = pytest.mark.skipif(
    _REASONS["seccomp"] is not None, reason=f"seccomp backend: {_REASONS['seccomp']}"
)

_RECORD = """
from seccomp_gen import cli
status = cli.main({argv!r})
assert status == 0, status
"""


@pytest.mark.live
@needs_seccomp
@pytest.mark.parametrize("known", ["", "trace", "oci"])
def test_record_imports_only_what_it_uses(known: str, tmp_path: Path) -> None:
    """``record -q`` (default backend) imports no other backend and no rich; with --known a
    trace needs no emitter and an OCI profile no synthesizer."""
    base = tmp_path / "base.json"
    subprocess.run([PYTHON, "-m", "seccomp_gen", "record", "-q", "-o", str(base), "--",
                    "/bin/true"], check=True, timeout=TIMEOUT)
    argv = ["record", "-q", "-o", str(tmp_path / "x.json")]
    if known == "trace":
        argv += ["--known", str(base)]
    elif known == "oci":
        oci = tmp_path / "base.oci.json"
        subprocess.run([PYTHON, "-m", "seccomp_gen", "generate", str(base), "-o", str(oci)],
                       check=True, timeout=TIMEOUT, capture_output=True)
        argv += ["--known", str(oci)]
    argv += ["--", "/bin/true"]
    seen = modules_after(_RECORD.format(argv=argv))
    never = ["rich", *OTHER_BACKENDS, *OTHER_COMMANDS, "seccomp_gen.enforce",
             "seccomp_gen.recorders.inprocess", "seccomp_gen.formats.strace"]
    if known != "oci":
        never.append("seccomp_gen.formats.oci")
    if known != "trace":
        never.append("seccomp_gen.synthesize")
    assert imported(seen, tuple(never)) == []
    assert "seccomp_gen.recorders.seccomp" in seen
    trace = json.loads((tmp_path / "x.json").read_text())
    assert trace["header"]["backend"] == "seccomp"
    if known:
        assert any("known syscalls were not recorded" in n for n in trace["header"]["notes"])
