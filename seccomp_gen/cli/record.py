"""``seccomp-gen record``: run a command under a recorder, write its trace (and profiles)."""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from contextlib import nullcontext
from typing import Any

from ..errors import SeccompGenError
from . import error_line
from .options import add_command, command_of, policy_of, top_count

#: The description ``--help`` shows (the one-line summary is in the command registry).
DESCRIPTION = ("Run COMMAND under a recorder and write a trace file. The command's stdin, "
               "stdout and stderr are untouched; seccomp-gen exits with the command's exit "
               "status (128+N if a signal N killed it). Ctrl-C and SIGTERM are passed on to the "
               "command.")


def add_arguments(rec: argparse.ArgumentParser) -> None:
    """The options and arguments of ``record``."""
    from ..formats import choices_text, kinds_text
    from ..recorders import BACKENDS, known_backends_text

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
                     help=f"do not record what this profile ({kinds_text('trace file')}) "
                     "already allows: those syscalls run untraced at native speed and only "
                     f"new ones are recorded ({known_backends_text()} backend; argument "
                     "conditions are honoured)")
    rec.add_argument("--container", action="store_true",
                     help="record only the container COMMAND starts (runc run, crun run, podman "
                     "run, docker run), from its first exec on, not the runtime (ebpf backend, "
                     "root)")
    rec.add_argument("--profile", action="append", default=[], metavar="FORMAT:FILE",
                     help=f"also write a profile from this recording ({choices_text()}; with "
                     "generate's defaults); may be given more than once")
    rec.add_argument("--top", type=top_count, metavar="N",
                     help="show only the N most frequent syscalls")
    add_command(rec)


def _default_output(command: Sequence[str]) -> str:
    base = os.path.basename(command[0]) if command and command[0] else "workload"
    return f"{base or 'workload'}.trace.json"


#: Container runtimes whose container a plain ``record`` records mixed with (or, for docker,
#: instead of) the runtime.
_RUNTIMES = frozenset({"runc", "crun", "podman", "docker", "nerdctl", "ctr"})


def _container_warning(command: Sequence[str], container: bool) -> str | None:
    """What a plain ``record`` of a container runtime recorded, when that is not the
    container."""
    name = os.path.basename(command[0]) if command else ""
    if container or name not in _RUNTIMES:
        return None
    if name == "docker":
        return ("recorded the docker client only: the container runs under dockerd, not "
                "below this command; use record --container")
    return (f"recorded {name} itself together with the container; use record --container to "
            f"record only the container")


def _profile_target(spec: str) -> tuple[str, str]:
    """``oci:ls.json`` -> (``oci``, ``ls.json``)."""
    fmt, sep, path = spec.partition(":")
    if not sep or not path:
        raise SeccompGenError(f"--profile {spec!r}: expected FORMAT:FILE",
                              hint="e.g. --profile oci:ls.json")
    return fmt, path


def run(args: argparse.Namespace, out: Any, err: Any) -> int:
    """Run the workload under a recorder, write the trace, print the summary."""
    command = command_of(args, "record", "record [-o FILE] -- COMMAND [ARGS...]")
    from ..files.atomic import check_writable, write_or_rescue
    from ..formats import tracefile
    from ..recorders import LiveStats, RecordOptions, get_backend, resolve_command

    output = args.output or _default_output(command)
    # Everything that can be checked is checked before the workload runs.
    check_writable(output, force=args.force)
    profiles = [_profile_target(spec) for spec in args.profile]
    if profiles:
        from ..files.profiles import profile_text
        from ..formats import resolve
    for fmt, path in profiles:
        resolve(fmt)
        check_writable(path, force=args.force)
    resolve_command(command)
    known = None
    if args.known:
        from ..files.profiles import load_profile

        known, _ = load_profile(args.known)
    backend = get_backend(args.backend, known=known is not None, container=args.container)
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
                                                      known_source=args.known or "",
                                                      container=args.container), stats)
    from ..files.symbols import name_sites

    trace = name_sites(trace)
    warning = _container_warning(command, args.container)
    if warning is not None:
        from dataclasses import replace

        trace = replace(trace, header=replace(trace.header,
                                              notes=(*trace.header.notes, warning)))
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
        error_line(err, problem)
    if warning is not None:
        from . import console as ui

        ui.warning_line(err, warning)
    if profiles:
        from ..synthesize import synthesize

        profile = synthesize(trace, policy_of(args))
        for fmt, path in profiles:
            try:
                written, text = profile_text(profile, fmt, path)
            except SeccompGenError as exc:
                error_line(err, exc.one_line())
                continue
            saved, problem = write_or_rescue(path, text, f"the {fmt} profile")
            if problem is not None:
                error_line(err, problem)
            elif not args.quiet:
                err.print(ui.profile_summary(written, fmt, path), soft_wrap=True,
                          highlight=False, markup=False)
    return status
