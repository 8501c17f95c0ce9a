"""``seccomp-gen merge A.trace.json B.trace.json -o all.trace.json``: the union of several runs.

Uses :func:`~seccomp_gen.synthesize.merge_traces` (what ``generate`` does with several traces),
so traces from different host arches, or that name one syscall number differently, are refused.
The output is written atomically and an existing file is kept unless ``--force`` is given.
"""

from __future__ import annotations

import argparse
from typing import Any

from . import tracefile
from .atomicfile import check_writable
from .errors import SeccompGenError
from .inputs import check_stdin_once
from .synthesize import merge_traces


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``merge``."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "merge",
        help="merge trace files into one (the union of the runs)",
        description="Merge trace files of runs of one program on one kind of host into one "
        "trace: counts are added, argument values and executables united, each run's command "
        "kept in the header. Refuses traces from different host arches.",
    )
    p.add_argument("traces", nargs="+", metavar="TRACE", help="trace files written by record")
    p.add_argument("-o", "--output", metavar="FILE", required=True, help="trace file to write")
    p.add_argument("-f", "--force", action="store_true", help="replace FILE if it exists")
    p.add_argument("-q", "--quiet", action="store_true", help="only errors")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace, out: Any, err: Any) -> int:
    """Do ``merge``: check the output, load every trace, merge, write atomically."""
    if len(args.traces) < 2:
        raise SeccompGenError("merge needs at least two trace files",
                              hint="usage: seccomp-gen merge A.trace.json B.trace.json -o OUT")
    check_stdin_once(args.traces)
    check_writable(args.output, force=args.force)
    merged = merge_traces([tracefile.load(t) for t in args.traces])
    tracefile.dump(merged, args.output)
    if not args.quiet:
        err.print(f"merged {len(args.traces)} traces into {args.output}: {merged.total_calls} "
                  f"calls, {len(merged.syscalls)} distinct syscalls, "
                  f"{len(merged.processes)} processes", soft_wrap=True, highlight=False,
                  markup=False)
    return 0
