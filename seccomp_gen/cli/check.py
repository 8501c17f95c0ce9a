"""``seccomp-gen check --profile app.json -- CMD``: does the committed profile still cover CMD?

CMD is recorded with the profile as ``known`` (``record --known``): what it allows runs untraced,
and only the calls it does not allow are recorded and listed (:mod:`seccomp_gen.coverage`).
``--update`` adds them and rewrites the profile atomically in its own format. Exit 0 covered, 1
new syscalls, 3 nothing new but CMD failed, 125/126/127 as for ``record``; nothing is written on
an error. See docs/enforce.md, "check".
"""

from __future__ import annotations

import argparse
import json
import shlex
from typing import Any

from ..coverage import new_syscalls, updated_profile
from ..errors import SeccompGenError
from ..files import traces
from ..files.atomic import check_writable
from ..files.inputs import read_data, source_name
from ..formats import NAMES as FORMAT_NAMES
from ..formats import kinds_text
from ..formats.bpf import ARGS_NOT_RECOVERABLE
from ..synthesize import ARG_POLICIES

EXIT_DRIFT = 1
EXIT_COMMAND_FAILED = 3


#: The description ``--help`` shows (the one-line summary is in the command registry).
DESCRIPTION = ("Record COMMAND with PROFILE as known (what it allows runs untraced) and list the"
               " syscalls, with arguments and the processes that made them, that the profile "
               "lacks. Exit 0 if none, 1 if some (--update then adds them to PROFILE), 3 if "
               "nothing is new but COMMAND failed, 125 on an error of seccomp-gen.")


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options and arguments of ``check``."""
    from ..recorders import BACKENDS, known_backends_text

    p.add_argument("--profile", required=True, metavar="PROFILE",
                   help=f"the profile to check against ({kinds_text('trace')})")
    p.add_argument("--update", action="store_true",
                   help="add what is new to PROFILE and rewrite it (atomically, in its own "
                   "format unless --format is given); a trace file gets the new run merged in")
    p.add_argument("--format", choices=FORMAT_NAMES,
                   help="with --update: the format to write PROFILE in")
    p.add_argument("--args", choices=ARG_POLICIES, default="safe",
                   help="with --update: argument pinning of the added rules (default: safe)")
    p.add_argument("--trace-out", metavar="FILE",
                   help="also write the trace of the new syscalls to FILE")
    p.add_argument("-f", "--force", action="store_true", help="replace --trace-out FILE")
    p.add_argument("--json", action="store_true", help="the result as JSON on stdout")
    p.add_argument("--backend", default="auto", choices=("auto", *BACKENDS),
                   help="recording backend; it must be able to skip known syscalls: "
                   f"{known_backends_text()} (auto: seccomp)")
    p.add_argument("--no-pin", action="store_true",
                   help="do not pin the recorder and the command to one CPU")
    p.add_argument("-q", "--quiet", action="store_true",
                   help="print one line, the result (covered; or the syscalls the profile "
                   "lacks, by name; the command's failure; the update), and errors; nothing "
                   "else")
    p.add_argument("command", nargs=argparse.REMAINDER, metavar="-- COMMAND [ARGS...]",
                   help="the command to run")


# --- the command --------------------------------------------------------------------------------


def run(args: argparse.Namespace, out: Any, err: Any) -> int:
    """Do ``check``."""
    from ..files.profiles import BINARY_LIMIT, oci_form, profile_from_data
    from ..recorders import LiveStats, RecordOptions, get_backend, resolve_command
    from .text import exit_sentence

    command: list[str] = list(args.command)
    if command and command[0] == "--":
        command = command[1:]
    if not command:
        raise SeccompGenError("check needs a command",
                              hint="usage: seccomp-gen check --profile FILE -- COMMAND [ARGS...]")
    if args.format and not args.update:
        raise SeccompGenError("--format only applies with --update")
    if args.update and args.profile == "-":
        raise SeccompGenError("--update cannot rewrite standard input", hint="give a file")
    # Everything that can fail cheaply fails before the command runs.
    # Read once (within the input cap; ``-`` is stdin); the text is kept only while it is needed
    # (a trace that --update merges the run into, a config.json whose linux.seccomp it
    # replaces), not held through the recording otherwise.
    data = read_data(args.profile, "a profile or trace", BINARY_LIMIT)
    source = source_name(args.profile)
    profile, kind = profile_from_data(data, source)
    raw = data if isinstance(data, str) else ""
    fmt = args.format or kind
    if args.update and isinstance(data, bytes) and any(
            s.reason.endswith(ARGS_NOT_RECOVERABLE) for s in profile.skipped):
        raise SeccompGenError("--update cannot rewrite this raw BPF program: its argument "
                              "rules are not recoverable, and would be lost", path=source,
                              hint="generate it again from its traces and this run's, which "
                              "--trace-out writes")
    docker, config = oci_form(raw, source, rewrite=args.update) if kind == "oci" else (False, False)
    docker = docker and fmt == "oci"
    if args.update and config and fmt != "oci":
        raise SeccompGenError(f"--update --format {fmt} would replace a runtime's config.json "
                              "with a profile", path=source,
                              hint="without --format, --update replaces only its linux.seccomp")
    if not (args.update and (fmt == "trace" or config)):
        raw = ""
    del data
    if args.update:
        from ..formats import resolve

        if fmt != "trace":
            resolve(fmt)
        check_writable(args.profile, force=True)
    if args.trace_out:
        check_writable(args.trace_out, force=args.force)
    resolve_command(command)
    backend = get_backend(args.backend, known=True)
    trace = backend.record(command, RecordOptions(pin=not args.no_pin, known=profile,
                                                  known_source=args.profile), LiveStats())
    rows, handled = new_syscalls(profile, trace)
    if args.trace_out:
        traces.dump(trace, args.trace_out)
    status = trace.header.exit.shell_status if trace.header.exit else 0
    wrote = ""
    if rows and args.update:
        if fmt == "trace":
            from ..formats import tracefile
            from ..merge import merge_traces

            traces.dump(merge_traces([tracefile.loads(raw, source), trace]), args.profile)
        else:
            from ..files.profiles import drop_unknown, write_profile

            write_profile(drop_unknown(updated_profile(profile, trace, args.args, command)), fmt,
                          args.profile, docker=docker, config=raw if config else None)
        wrote = f"{args.profile} updated ({fmt}): it now allows what this run needed"
    result = EXIT_DRIFT if rows else (EXIT_COMMAND_FAILED if status else 0)
    if args.json:
        import sys

        doc = {"profile": args.profile, "kind": kind, "command": command,
               "command_status": status, "covered": not rows, "new": rows,
               "handled": handled, "updated": bool(wrote), "exit": result}
        sys.stdout.write(json.dumps(doc, indent=1) + "\n")
        return result
    failed = f"the command {exit_sentence(trace.header.exit)}" if status else ""
    if rows:
        head = (f"{args.profile}: {len(rows)} syscall(s) the profile does not allow were "
                f"needed by: {shlex.join(command)}")
    else:
        head = f"{args.profile} covers every syscall of: {shlex.join(command)}"
    if args.quiet:
        # One line: the result, whatever it is.
        line = head
        if rows:
            line += " (" + ", ".join(f"{r['arch']} {r['syscall']}" for r in rows) + ")"
        line += "".join(f"; {part}" for part in (failed, wrote) if part)
        err.plain(line)
        return result
    err.plain(head)
    if rows:
        from . import console as ui

        for text in ui.check_lines(rows):
            err.print(text, soft_wrap=True, highlight=False)
    for line in handled:
        err.plain(f"note: {line}")
    if failed:
        err.plain(failed)
    if wrote:
        err.plain(wrote)
    if args.trace_out:
        err.plain(f"trace of the new syscalls written to {args.trace_out}")
    return result
