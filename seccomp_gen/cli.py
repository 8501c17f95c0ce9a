"""The ``seccomp-gen`` command: parse arguments, call the library, render the result.

This is the one place where errors become exit statuses: a :class:`SeccompGenError` becomes a
single ``seccomp-gen: error: ...`` line and its ``exit_status`` (125 for the tool's own failures,
126/127 for a command that cannot be run or found, as ``env`` and ``timeout`` do); ``record``
otherwise exits with the workload's own status, also when its trace cannot be written once the
workload has run (then it is saved elsewhere, or reported lost, in one line).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Iterable, Sequence
from contextlib import nullcontext
from itertools import islice
from typing import Any

from ._version import __version__
from .errors import SeccompGenError
from .progress import PROGRESS_MIN_SIZE, set_progress
from .safetext import printable

#: Modules that each register one command with ``add_parser(subparsers)``; their command
#: function is ``run(args, out, err) -> int``. Listed here so cli.py stays thin.
COMMAND_MODULES: tuple[str, ...] = ("run_cli", "merge_cli", "import_cli", "check_cli")
#: Every command module, in the order ``--help`` lists them after record and show. Module
#: ``NAME_cli`` registers command ``NAME``.
_ALL_COMMAND_MODULES: tuple[str, ...] = ("generate_cli", "diff_cli", *COMMAND_MODULES)
#: The commands defined in this module.
_OWN_COMMANDS: tuple[str, ...] = ("record", "show")


class _LazyConsole:
    """A rich Console made on first use: ``record -q`` of a short command should not pay for
    importing rich (a third of the tool's start-up time)."""

    def __init__(self, stderr: bool) -> None:
        self._stderr = stderr
        self._console: Any = None

    def real(self) -> Any:
        """The rich Console itself, for APIs that need the object (Live, context managers)."""
        if self._console is None:
            from rich.console import Console

            self._console = Console(stderr=self._stderr)
        return self._console

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real(), name)


def _default_output(command: Sequence[str]) -> str:
    base = os.path.basename(command[0]) if command and command[0] else "workload"
    return f"{base or 'workload'}.trace.json"


def _profile_target(spec: str) -> tuple[str, str]:
    """``oci:ls.json`` -> (``oci``, ``ls.json``)."""
    fmt, sep, path = spec.partition(":")
    if not sep or not path:
        raise SeccompGenError(f"--profile {spec!r}: expected FORMAT:FILE",
                              hint="e.g. --profile oci:ls.json")
    return fmt, path


def cmd_record(args: argparse.Namespace, out: Any, err: Any) -> int:
    """Run the workload under a recorder, write the trace, print the summary."""
    command: list[str] = list(args.command)
    if command and command[0] == "--":
        command = command[1:]
    if not command:
        raise SeccompGenError("record needs a command",
                              hint="usage: seccomp-gen record [-o FILE] -- COMMAND [ARGS...]")
    from .files.atomic import check_writable, write_or_rescue
    from .formats import tracefile
    from .recorders import LiveStats, RecordOptions, get_backend, resolve_command

    output = args.output or _default_output(command)
    # Everything that can be checked is checked before the workload runs.
    check_writable(output, force=args.force)
    profiles = [_profile_target(spec) for spec in args.profile]
    if profiles:
        from . import generate_cli
        from .files.profiles import profile_text
        from .formats import resolve
    for fmt, path in profiles:
        resolve(fmt)
        check_writable(path, force=args.force)
    resolve_command(command)
    known = None
    if args.known:
        from .files.profiles import load_profile

        known, _ = load_profile(args.known)
    backend = get_backend(args.backend, known=known is not None)
    stats = LiveStats()
    live: Any = nullcontext()
    if not args.quiet:
        from . import statusline

        if statusline.wanted():
            import shlex

            from . import console as ui

            shown = shlex.join(command)[:60]
            live = statusline.StatusLine(lambda: ui.status_segments(stats, shown))
    with live:
        trace = backend.record(command, RecordOptions(pin=not args.no_pin, known=known,
                                                      known_source=args.known or ""), stats)
    # The command has run: from here on, whatever cannot be written is said in one line, and
    # seccomp-gen still exits with the command's own status (README, "Recording").
    status = trace.header.exit.shell_status if trace.header.exit else 0
    try:
        saved, problem = write_or_rescue(output, tracefile.dumps(trace), "the trace")
    except SeccompGenError as exc:
        saved, problem = None, f"{exc.one_line()}; the trace is lost"
    if not args.quiet:
        from . import console as ui

        err.print(ui.summary_table(trace, top=args.top))
        ui.print_totals(err.real(), trace)
        if problem is None:
            err.print(f"trace written to {saved}", soft_wrap=True, highlight=False,
                      markup=False)
    if problem is not None:
        _error_line(err, problem)
    if profiles:
        from .synthesize import synthesize

        profile = synthesize(trace, generate_cli.policy_of(args))
        for fmt, path in profiles:
            try:
                written, text = profile_text(profile, fmt, path)
            except SeccompGenError as exc:
                _error_line(err, exc.one_line())
                continue
            saved, problem = write_or_rescue(path, text, f"the {fmt} profile")
            if problem is not None:
                _error_line(err, problem)
            elif not args.quiet:
                err.print(generate_cli.summary_line(written, fmt, path), soft_wrap=True,
                          highlight=False, markup=False)
    return status


def cmd_show(args: argparse.Namespace, out: Any, err: Any) -> int:
    """Render a trace file again, as tables or as JSON."""
    import shlex

    from rich.text import Text

    from . import console as ui
    from .files import traces
    from .formats import tracefile

    trace = traces.load(args.trace)
    top = args.top or None
    if args.json:
        rows: Iterable[dict[str, Any]]
        if args.by == "process":
            rows = ui.iter_process_rows(trace)
        elif args.by == "exe":
            rows = ui.exe_rows(trace)
        else:
            rows = ui.syscall_rows(trace)
        doc = {
            "trace": args.trace,
            "header": tracefile.header_to_json(trace.header),
            "totals": {
                "calls": trace.total_calls,
                "distinct": len(trace.syscalls),
                "processes": len(trace.processes),
            },
            "view": args.by,
        }
        _write_json_with_rows(sys.stdout, doc, islice(rows, top))
        return 0
    h = trace.header
    out.print(Text.assemble((printable(args.trace), "bold"),
                            printable(f": {shlex.join(h.command)}")), soft_wrap=True)
    out.print(printable(f"recorded {h.started} by seccomp-gen {h.tool_version}, libseccomp "
                        f"{h.libseccomp}"), soft_wrap=True, highlight=False, markup=False)
    ui.print_view(out.real(), trace, args.by, top)
    ui.print_totals(out.real(), trace)
    return 0


def _write_json_with_rows(stream: Any, doc: dict[str, Any],
                          rows: Iterable[dict[str, Any]]) -> None:
    """``json.dumps({**doc, "rows": list(rows)}, indent=1)``, byte for byte, written one row
    at a time: the rows of a million processes are never all in memory, nor their text."""
    import json

    head = json.dumps({**doc, "rows": []}, indent=1)
    prefix = head[: head.rindex('"rows": []')]
    stream.write(prefix + '"rows": [')
    first = True
    for row in rows:
        text = json.dumps(row, indent=1).replace("\n", "\n  ")
        stream.write(("\n  " if first else ",\n  ") + text)
        first = False
    stream.write(("]" if first else "\n ]") + "\n}\n")


def _top_count(text: str) -> int:
    """``--top N``: a positive number of rows."""
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {n}")
    return n


def _command_of(argv: Sequence[str]) -> str | None:
    """The command ``argv`` asks for, if its first word names one; None otherwise (no command,
    an option such as ``--help`` first, or a word that is no command)."""
    if not argv or argv[0].startswith("-"):
        return None
    name = argv[0]
    if name in _OWN_COMMANDS or f"{name}_cli" in _ALL_COMMAND_MODULES:
        return name
    return None


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The argument parser; every command has help.

    ``only``: register just that command (see :func:`_command_of`). Each command module imports
    what its command needs (libseccomp, emitters, the enforcement machinery...), so ``record``
    should not import them all just to build parsers it will not use. Parsing a command line
    that starts with the command gives the same result either way; without ``only`` every
    command is registered (``--help``, errors that list the commands).
    """
    parser = argparse.ArgumentParser(
        prog="seccomp-gen",
        description="Record what a program asks of the Linux kernel and turn it into a seccomp "
        "profile.",
    )
    parser.add_argument("--version", action="version", version=f"seccomp-gen {__version__}")
    sub = parser.add_subparsers(dest="cmd", metavar="COMMAND")
    if only in (None, "record"):
        _add_record(sub)
    if only in (None, "show"):
        _add_show(sub)
    for name in _ALL_COMMAND_MODULES:
        if only is not None and only != name.removesuffix("_cli"):
            continue
        try:
            module = importlib.import_module(f"seccomp_gen.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"seccomp_gen.{name}":
                raise
            continue  # a command module that is not there (yet): no such command
        module.add_parser(sub)
    if only is not None and not sub.choices:
        return build_parser()  # no such command after all: the full parser says which exist
    return parser


def _add_record(sub: Any) -> None:
    """Register ``record``."""
    from .formats import choices_text
    from .recorders import BACKENDS, known_backends_text  # no backend module is imported

    rec = sub.add_parser(
        "record",
        help="run a command and record every syscall it and its children make",
        description="Run COMMAND under a recorder and write a trace file. The command's stdin, "
        "stdout and stderr are untouched; seccomp-gen exits with the command's exit status "
        "(128+N if a signal N killed it). Ctrl-C and SIGTERM are passed on to the command.",
    )
    rec.add_argument("-o", "--output", metavar="FILE",
                     help="trace file to write (default: NAME.trace.json in this directory)")
    rec.add_argument("-f", "--force", action="store_true", help="replace FILE if it exists")
    rec.add_argument("-q", "--quiet", action="store_true",
                     help="no status line and no summary; only errors (the status line is "
                     "only ever shown when COMMAND's stdout is not the terminal)")
    rec.add_argument("--no-pin", action="store_true",
                     help="do not pin the recorder and the command to one CPU (pinning makes "
                     "ptrace ~10x cheaper on VMs, but the command then sees one CPU)")
    rec.add_argument("--backend", default="auto", choices=("auto", *BACKENDS),
                     help="how to record: seccomp (a RET_TRACE filter, one stop per call, fast, "
                     "no return values), ptrace (two stops per call, records return values), "
                     "log (a RET_LOG filter read from the audit log as audit daemon: no stops, "
                     "no arguments or return values; root; never chosen by auto), notify (a "
                     "USER_NOTIF supervisor: no ptrace at all, so it works under a debugger or "
                     "where ptrace is forbidden; no return values), ebpf (BPF programs counting "
                     "in the kernel, with arguments and return values: under 1 us per call; "
                     "root; never chosen by auto) or "
                     "auto (seccomp where available, else ptrace; the default)")
    rec.add_argument("--known", metavar="PROFILE",
                     help="do not record what this profile (OCI, LXC, Python table or trace "
                     "file) already allows: those syscalls run untraced at native speed and only "
                     f"new ones are recorded ({known_backends_text()} backend; argument "
                     "conditions are honoured)")
    rec.add_argument("--profile", action="append", default=[], metavar="FORMAT:FILE",
                     help=f"also write a profile from this recording ({choices_text()}; with "
                     "generate's defaults); may be given more than once")
    rec.add_argument("--top", type=_top_count, metavar="N",
                     help="show only the N most frequent syscalls")
    rec.add_argument("command", nargs=argparse.REMAINDER, metavar="-- COMMAND [ARGS...]",
                     help="the command to run")
    rec.set_defaults(func=cmd_record)


def _add_show(sub: Any) -> None:
    """Register ``show``."""
    show = sub.add_parser("show", help="summarise a trace file",
                          description="Show a trace file as a table (per syscall, per process "
                          "or per executable) or as JSON.")
    show.add_argument("trace", metavar="TRACE",
                      help="a trace file written by record ('-': standard input)")
    show.add_argument("--by", choices=("syscall", "process", "exe"), default="syscall",
                      help="the view (default: syscall)")
    show.add_argument("--json", action="store_true", help="machine-readable JSON on stdout")
    show.add_argument("--top", type=_top_count, metavar="N",
                      help="show only the first N rows (in every view)")
    show.set_defaults(func=cmd_show)


def _error_line(err: Any, message: str) -> None:
    from . import console as ui

    ui.error_line(err, message)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``seccomp-gen`` command; returns the exit status."""
    if argv is None:
        argv = sys.argv[1:]
    parser = build_parser(_command_of(argv))
    args = parser.parse_args(argv)
    out, err = _LazyConsole(stderr=False), _LazyConsole(stderr=True)
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
        _error_line(err, exc.one_line())
        return 2 if args.cmd == "diff" else exc.exit_status
    except KeyboardInterrupt:
        _error_line(err, "interrupted")
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


class _LoadProgress:
    """The progress hook on a terminal: rich (and the bar) only for an input of at least
    ``PROGRESS_MIN_SIZE`` (smaller ones load too fast to need one)."""

    def __init__(self, err: _LazyConsole) -> None:
        self._err = err
        self._bar: Any = None

    def __call__(self, what: str, done: int, total: int | None) -> None:
        if self._bar is None:
            if max(done, total or 0) < PROGRESS_MIN_SIZE or done == total:
                return
            from .console import LoadProgress

            self._bar = LoadProgress(self._err.real())
        self._bar(what, done, total)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
