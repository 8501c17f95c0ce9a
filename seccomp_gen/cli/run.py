"""``seccomp-gen run``: run a command under a profile and report every syscall it denies.

``add_arguments`` declares its options; ``run`` does the work through
:func:`seccomp_gen.enforce.run.run` and renders with :mod:`seccomp_gen.cli.console`. Everything
that can be refused (mode, profile, arch, output path, command) is refused in one line, exit 125
(126/127 for a command that cannot be run or found), before the workload starts.

Exit status: the workload's own (128+N if signal N killed it); with ``--fail-on-violation``,
:data:`~seccomp_gen.enforce.run.VIOLATION_EXIT` (3) when the profile missed a syscall; 126 when the
profile denies the execve that starts the workload. Once the workload has run, an output that
cannot be written is saved elsewhere or reported lost, and the status stays the workload's.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ..enforce.run import VIOLATION_EXIT, RunResult, check_mode
from ..errors import SeccompGenError
from ..files.atomic import check_writable, write_or_rescue
from ..files.inputs import source_name
from ..formats import kinds_text

#: The description ``--help`` shows (the one-line summary is in the command registry).
DESCRIPTION = (f"Load PROFILE ({kinds_text('trace file')}) as a real "
               "seccomp filter in COMMAND, right before it starts, and report every syscall "
               "the profile denies as it happens (pid, executable, arch, call with decoded "
               "arguments, what happened), with a summary at the end. Allowed syscalls never "
               "stop: they run at native speed. Exit status: COMMAND's own (128+N if signal N "
               f"killed it); with --fail-on-violation, {VIOLATION_EXIT} if the profile missed "
               "a syscall; 125 if seccomp-gen itself failed before running COMMAND, 126/127 "
               "if COMMAND cannot be run or found (126 also if PROFILE denies the execve that "
               "starts it).")


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options and arguments of ``run``."""
    p.add_argument("--profile", required=True, metavar="PROFILE",
                   help=f"the profile to enforce: {kinds_text('a trace file')} (a trace "
                   "allows exactly what it recorded); '-': standard input")
    p.add_argument("--mode", default="enforce", metavar="MODE",
                   help="enforce (deny as the profile says and report; the default), complain "
                   "(report calls the profile does not allow and let them through, so one run "
                   "finds every missing syscall) or kill (the profile as the only filter, as in "
                   "production; nothing is traced)")
    p.add_argument("-o", "--output", metavar="FILE",
                   help="write the calls the profile does not allow as a trace file, which "
                   "`generate` can merge with the workload's trace (enforce and complain modes)")
    p.add_argument("-f", "--force", action="store_true", help="replace FILE if it exists")
    p.add_argument("--fail-on-violation", action="store_true",
                   help=f"exit {VIOLATION_EXIT} if the profile missed any syscall (for CI), "
                   "whatever the command's own status")
    p.add_argument("--json", metavar="FILE",
                   help="also write a machine-readable summary to FILE ('-' for stdout, after "
                   "the command's own output)")
    p.add_argument("-q", "--quiet", action="store_true",
                   help="no per-call lines and no summary; only errors")
    p.add_argument("command", nargs=argparse.REMAINDER, metavar="-- COMMAND [ARGS...]",
                   help="the command to run")


def summary_doc(result: RunResult, profile: str, output: str | None) -> dict[str, Any]:
    """The ``--json`` document."""
    from . import console as ui

    ex = result.exit
    return {
        "mode": result.mode,
        "profile": profile,
        "exit": None if ex is None else {"code": ex.code, "signal": ex.signal,
                                         "core_dumped": ex.core_dumped},
        "status": result.status,
        "violated": result.violated,
        "violations": len(result.unexpected),
        "rule_denials": len(result.violations) - len(result.unexpected),
        "rows": ui.violation_rows(result.violations, result.mode),
        "trace": output,
        "notes": list(result.notes),
    }


def run(args: argparse.Namespace, out: Any, err: Any) -> int:
    """Do ``run``; raises SeccompGenError (one line) on anything refused before the start."""
    from ..enforce.run import run as enforce_run

    command: list[str] = list(args.command)
    if command and command[0] == "--":
        command = command[1:]
    check_mode(args.mode)
    if not command:
        raise SeccompGenError("run needs a command",
                              hint="usage: seccomp-gen run --profile PROFILE -- COMMAND [ARGS...]")
    if args.output:
        if args.mode == "kill":
            raise SeccompGenError("-o needs --mode enforce or complain",
                                  hint="kill mode traces nothing")
        check_writable(args.output, force=args.force)
    if args.json and args.json != "-":
        check_writable(args.json, force=args.force)
    mode = args.mode
    live = not args.quiet

    def report(v: Any) -> None:
        if live:
            from . import console as ui

            err.print(ui.violation_line(v, mode), soft_wrap=True, highlight=False)

    result = enforce_run(command, args.profile, mode=mode, on_violation=report)
    # The command has run: what cannot be written is said in one line, and the exit status
    # stays the command's (README, "Finding what a profile denies").
    problems: list[str] = []
    written = None
    if args.output and result.trace is not None:
        from ..formats import tracefile

        written, problem = write_or_rescue(args.output, tracefile.dumps(result.trace),
                                           "the violations trace")
        problems += [problem] if problem else []
    if live:
        _print_summary(err, result, source_name(args.profile),
                       written if written == args.output else None)
    if args.json:
        text = json.dumps(summary_doc(result, args.profile, written), indent=1) + "\n"
        if args.json == "-":
            sys.stdout.write(text)
            sys.stdout.flush()
        else:
            _, problem = write_or_rescue(args.json, text, "the JSON summary")
            problems += [problem] if problem else []
    if problems:
        from . import error_line

        for problem in problems:
            error_line(err, problem)
    if args.fail_on_violation and result.violated:
        return VIOLATION_EXIT
    return result.status


def _print_summary(err: Any, result: RunResult, profile: str, output: str | None) -> None:
    """The summary: a table of the violations (rich) if there were any, then plain lines."""
    from .text import describe_exit

    if result.violations:
        from . import console as ui

        err.print(ui.violation_table(result.violations, result.mode))
    n, rules = len(result.unexpected), len(result.violations) - len(result.unexpected)
    parts = [f"{n} violation{'s' if n != 1 else ''}"]
    if rules:
        parts.append(f"{rules} call{'s' if rules != 1 else ''} denied by explicit rules")
    line = (f"{', '.join(parts)} of {profile} ({result.mode} mode); command "
            f"{describe_exit(result.exit)}")
    if result.mode == "kill" and result.died_of_sigsys:
        line += " (seccomp kills with SIGSYS: the profile denied a syscall)"
    err.plain(line)
    for note in result.notes:  # plain, as check prints its notes: no rich for a note
        err.plain(f"note: {note}")
    if output and result.trace is not None:
        err.plain(f"violations trace written to {output}")
