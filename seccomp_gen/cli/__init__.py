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
import importlib
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .._version import __version__
from ..errors import SeccompGenError


@dataclass(frozen=True)
class Command:
    """One command: its name, its module in this package, the line ``--help`` shows for it,
    and the exit status of its errors when that is not the error's own (``diff``: 2)."""

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
)
_BY_NAME = {c.name: c for c in COMMANDS}


def _command_of(argv: Sequence[str]) -> Command | None:
    """The command ``argv`` asks for, if its first word names one; None otherwise (no command,
    an option such as ``--help`` first, or a word that is no command)."""
    if not argv or argv[0].startswith("-"):
        return None
    return _BY_NAME.get(argv[0])


def build_parser(only: Command | None = None) -> argparse.ArgumentParser:
    """The argument parser. With ``only``, that command's module is imported and its arguments
    added; without, every command is listed by name and summary (``--help``, and the errors that
    say which commands exist). A command line that starts with the command parses the same
    either way."""
    parser = argparse.ArgumentParser(
        prog="seccomp-gen",
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
                           formatter_class=getattr(module, "FORMATTER", argparse.HelpFormatter))
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


__all__ = ["COMMANDS", "Command", "LazyConsole", "build_parser", "error_line", "main"]
