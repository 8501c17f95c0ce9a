"""The ``seccomp-gen`` command: parse arguments, call the library, render the result.

:data:`COMMANDS` is the one list of commands: name, module, one-line summary. A command is a
module of this package with ``DESCRIPTION``, ``add_arguments(parser)`` and ``run(args, out, err)
-> int``; it is imported only when its command runs (``record`` should not pay for importing
libseccomp's compiler, the formats or the enforcement machinery), and ``--help`` lists the
commands from this table without importing any. Adding a command is one module and one line.

This is also the one place where errors become exit statuses: a :class:`SeccompGenError`
becomes a single ``seccomp-gen: error: ...`` line and its ``exit_status`` (125 for the tool's
own failures, 126/127 for a command that cannot be run or found, as ``env`` and ``timeout`` do;
``diff`` exits 2, as diff(1)); ``record`` otherwise exits with the workload's own status, also
when its trace cannot be written once the workload has run (then it is saved elsewhere, or
reported lost, in one line).
"""

from __future__ import annotations

import argparse
import atexit
import gc
import importlib
import os
import sys
import types
from collections.abc import Sequence
from typing import Any, NamedTuple, NoReturn

from .._version import __version__
from ..errors import SeccompGenError


class Command(NamedTuple):
    """One command: its name, its module in this package, the line ``--help`` shows for it,
    and the exit status of its errors when that is not the error's own (``diff``: 2). (Not a
    dataclass: :func:`entry` sets the process up before the first one is made.)"""

    name: str
    module: str
    summary: str
    error_status: int | None = None


#: The commands, in the order ``--help`` lists them.
COMMANDS: tuple[Command, ...] = (
    Command("record", "record", "run a command and record every syscall it and its children make"),
    Command("show", "show", "summarise a trace file"),
    Command("generate", "generate", "turn one or more trace files into a seccomp profile"),
    Command("diff", "diff", "compare what two profiles or traces allow, per arch, with argument "
            "conditions", error_status=2),
    Command("run", "run", "run a command under a profile and report the syscalls it denies"),
    Command("merge", "merge", "merge trace files into one (the union of the runs)"),
    Command("import", "import_", "read an strace log as a trace, or convert a profile to "
            "another format"),
    Command("check", "check", "run a command and fail if it needs syscalls a profile does not "
            "allow"),
    Command("audit", "audit", "review a profile for what a reviewer must know", error_status=2),
    Command("analyze", "analyze", "list syscalls the traced programs' code can reach but never "
            "made, ranked by risk"),
    Command("explain", "explain", "show where in the code each syscall of a trace was made: "
            "library, function, count"),
)
_BY_NAME = {c.name: c for c in COMMANDS}


def _command_of(argv: Sequence[str]) -> Command | None:
    """The command ``argv`` asks for, if its first word names one; None otherwise (no command,
    an option such as ``--help`` first, or a word that is no command)."""
    if not argv or argv[0].startswith("-"):
        return None
    return _BY_NAME.get(argv[0])


def help_width() -> int:
    """The width argparse lays help out in, ``shutil.get_terminal_size().columns - 2`` ($COLUMNS,
    else the width of the terminal on stdout, else 80), without importing shutil: argparse
    would, for every option added (2 ms of start-up)."""
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 0
    return (columns or 80) - 2


class HelpFormatter(argparse.HelpFormatter):
    """argparse's formatter, with the width from :func:`help_width`: every parser's."""

    def __init__(self, prog: str, indent_increment: int = 2, max_help_position: int = 24,
                 width: int | None = None) -> None:
        super().__init__(prog, indent_increment, max_help_position,
                         help_width() if width is None else width)


def build_parser(only: Command | None = None) -> argparse.ArgumentParser:
    """The argument parser. With ``only``, that command's module is imported and its arguments
    added; without, every command is listed by name and summary (``--help``, and the errors that
    say which commands exist). A command line that starts with the command parses the same
    either way."""
    parser = argparse.ArgumentParser(
        prog="seccomp-gen", formatter_class=HelpFormatter,
        description="Record what a program asks of the Linux kernel and turn it into a seccomp "
        "profile.",
    )
    parser.add_argument("--version", action="version", version=f"seccomp-gen {__version__}")
    sub = parser.add_subparsers(dest="cmd", metavar="COMMAND")
    for command in COMMANDS:
        if only is None:
            sub.add_parser(command.name, help=command.summary)
            continue
        if command is not only:
            continue
        module = importlib.import_module(f"{__name__}.{command.module}")
        p = sub.add_parser(command.name, help=command.summary, description=module.DESCRIPTION,
                           formatter_class=getattr(module, "FORMATTER", HelpFormatter))
        module.add_arguments(p)
        p.set_defaults(func=module.run, command_entry=command)
    return parser


class LazyConsole:
    """A rich Console made on first use (by :mod:`.console`, the only module that imports
    rich): ``record -q`` of a short command should not pay for importing rich (a third of the
    tool's start-up time)."""

    def __init__(self, stderr: bool) -> None:
        self._stderr = stderr
        self._console: Any = None

    def real(self) -> Any:
        """The rich Console itself, for APIs that need the object."""
        if self._console is None:
            from .console import make_console

            self._console = make_console(stderr=self._stderr)
        return self._console

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real(), name)


class _LoadProgress:
    """The progress hook on a terminal: rich (and the bar) only for an input of at least
    ``PROGRESS_MIN_SIZE`` (smaller ones load too fast to need one)."""

    def __init__(self, err: LazyConsole) -> None:
        self._err = err
        self._bar: Any = None

    def __call__(self, what: str, done: int, total: int | None) -> None:
        from ..progress import PROGRESS_MIN_SIZE

        if self._bar is None:
            if max(done, total or 0) < PROGRESS_MIN_SIZE or done == total:
                return
            from .console import LoadProgress

            self._bar = LoadProgress(self._err.real())
        self._bar(what, done, total)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def error_line(err: LazyConsole, message: str) -> None:
    """Print one error line, the only form in which the CLI reports a failure."""
    from .console import error_line as show

    show(err.real(), message)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``seccomp-gen`` command; returns the exit status."""
    from ..progress import set_progress

    if argv is None:
        argv = sys.argv[1:]
    parser = build_parser(_command_of(argv))
    args = parser.parse_args(argv)
    out, err = LazyConsole(stderr=False), LazyConsole(stderr=True)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    progress = _LoadProgress(err) if sys.stderr is not None and sys.stderr.isatty() else None
    previous = set_progress(progress)
    try:
        return int(args.func(args, out, err))
    except SeccompGenError as exc:
        if progress is not None:
            progress.close()
        error_line(err, exc.one_line())
        status: int | None = args.command_entry.error_status
        return exc.exit_status if status is None else status
    except KeyboardInterrupt:
        error_line(err, "interrupted")
        return 130
    except BrokenPipeError:
        # `seccomp-gen show ... | head`: the reader went away; that is not an error.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    finally:
        if progress is not None:
            progress.close()
        set_progress(previous)


class OnFirstUse(types.ModuleType):
    """Stands in for a module until an attribute of it is first asked for; then the real module
    is imported, its namespace copied in, and this object works as it.

    For ``inspect``: ``dataclasses`` imports it (with ast, dis and tokenize, ~6 ms here) for one
    call, made only for a dataclass without a docstring, and nothing else ``record`` runs
    touches it. (``importlib.util.LazyLoader`` cannot do this on Python 3.11: the import
    statement itself reads the module's ``__spec__``, which loads it.)"""

    def __getattr__(self, name: str) -> Any:
        if sys.modules.get(self.__name__) is self:
            del sys.modules[self.__name__]
        real = importlib.import_module(self.__name__)
        self.__dict__.update(real.__dict__)
        return getattr(real, name)


#: Modules the ``seccomp-gen`` process imports only when first touched (:class:`OnFirstUse`).
ON_FIRST_USE = ("inspect",)

#: The cyclic garbage collector's first-generation threshold in the ``seccomp-gen`` process
#: (Python's default: 700 allocations). Start-up makes some 17,000 objects and no garbage.
GC_THRESHOLD = 50_000


def entry() -> NoReturn:
    """The ``seccomp-gen`` command (and ``python -m seccomp_gen``): :func:`main`, then exit
    without tearing the interpreter down.

    A short command is mostly start-up (README, "Start-up"): with the default threshold the cyclic
    collector runs some 25 times over the objects the imports make (~3 ms here), and freeing
    every module at exit costs ~9 ms. So the threshold is raised for this process, the
    modules of :data:`ON_FIRST_USE` are imported only when touched, and once the atexit
    handlers have run and the output is flushed (Python's streams and C's), with no other
    thread left, the process ends with ``os._exit``; when anything of that fails, it exits the
    ordinary way."""
    gc.set_threshold(GC_THRESHOLD, *gc.get_threshold()[1:])
    for name in ON_FIRST_USE:
        sys.modules.setdefault(name, OnFirstUse(name))
    status = main()
    atexit._run_exitfuncs()
    threading = sys.modules.get("threading")
    try:
        for stream in (sys.stdout, sys.stderr):
            if stream is not None:
                stream.flush()
    except (OSError, ValueError):
        raise SystemExit(status) from None
    if threading is not None and threading.active_count() > 1:
        raise SystemExit(status)
    import ctypes  # C stdio buffers (-X importtime, a C library's messages): exit(3) flushes them

    ctypes.CDLL(None).fflush(None)
    os._exit(status)


__all__ = ["COMMANDS", "Command", "HelpFormatter", "LazyConsole", "OnFirstUse", "build_parser",
           "entry", "error_line", "main"]
