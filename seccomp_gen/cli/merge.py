"""``seccomp-gen merge A.trace.json B.trace.json -o all.trace.json``: the union of several runs.

Uses :func:`~seccomp_gen.merge.merge_traces` (what ``generate`` does with several traces),
so traces from different host arches, or that name one syscall number differently, are refused.
The output is written atomically and an existing file is kept unless ``--force`` is given.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from ..errors import SeccompGenError
from ..files import traces
from ..files.atomic import check_writable
from ..files.inputs import check_stdin_once
from ..merge import merge_traces, repeated_run
from . import HelpFormatter

#: The description ``--help`` shows (the one-line summary is in the command registry).
DESCRIPTION = ("Merge trace files of runs of one program on one kind of host into one trace: "
               "counts are added, argument values and executables united, each run's command "
               "kept in the header. Refuses traces from different host arches, and the same "
               "recording given twice (its counts would be doubled) unless --allow-duplicates.")


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options and arguments of ``merge``."""
    # nargs="*", not "+": fewer than two traces is the command's own one-line error.
    p.add_argument("traces", nargs="*", help="trace files written by record (at least two)")
    p.add_argument("-o", "--output", metavar="FILE", required=True, help="trace file to write")
    p.add_argument("-f", "--force", action="store_true", help="replace FILE if it exists")
    p.add_argument("--allow-duplicates", action="store_true",
                   help="merge a recording that is given twice (the same file, a copy, or a "
                   "trace already merged into another one given) and count its calls twice")
    p.add_argument("-q", "--quiet", action="store_true", help="only errors")


class _Formatter(HelpFormatter):
    """Shows the traces as ``TRACE TRACE...``: argparse has no nargs for "two or more"."""

    def _format_args(self, action: argparse.Action, default_metavar: str) -> str:
        if action.dest == "traces":
            return "TRACE TRACE..."
        return super()._format_args(action, default_metavar)


#: How ``--help`` lays the arguments out.
FORMATTER = _Formatter


def _same_file(paths: list[str]) -> tuple[str, str] | None:
    seen: dict[tuple[int, int], str] = {}
    for path in paths:
        try:
            st = os.stat(path)
        except OSError:
            continue  # loading it says what is wrong
        key = (st.st_dev, st.st_ino)
        if key in seen:
            return seen[key], path
        seen[key] = path
    return None


def run(args: argparse.Namespace, out: Any, err: Any) -> int:
    """Do ``merge``: check the output, load every trace, merge, write atomically."""
    if len(args.traces) < 2:
        raise SeccompGenError("merge needs at least two trace files",
                              hint="usage: seccomp-gen merge TRACE TRACE... -o OUT")
    again = "merging would count its calls twice; give each run once, or --allow-duplicates"
    same = None if args.allow_duplicates else _same_file(args.traces)
    if same is not None:
        a, b = same
        raise SeccompGenError(f"{a} is given twice" if a == b else f"{b} is the same file as {a}",
                              hint=again)
    check_stdin_once(args.traces)
    check_writable(args.output, force=args.force)
    loaded = [traces.load(t) for t in args.traces]
    repeat = None if args.allow_duplicates else repeated_run(loaded)
    if repeat is not None:
        i, j, part = repeat
        a, b = args.traces[i], args.traces[j]
        raise SeccompGenError(f"{a} is already merged into {b}" if part
                              else f"{b} holds the same recording as {a}", hint=again)
    merged = merge_traces(loaded)
    traces.dump(merged, args.output)
    if not args.quiet:
        err.print(f"merged {len(args.traces)} traces into {args.output}: {merged.total_calls} "
                  f"calls, {len(merged.syscalls)} distinct syscalls, "
                  f"{len(merged.processes)} processes", soft_wrap=True, highlight=False,
                  markup=False)
    return 0
