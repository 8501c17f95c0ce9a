"""``seccomp-gen show``: a trace file again, as tables or as JSON."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from itertools import islice
from typing import TYPE_CHECKING, Any

from ..safetext import printable
from .options import top_count

if TYPE_CHECKING:
    from ..model import Trace

#: The description ``--help`` shows (the one-line summary is in the command registry).
DESCRIPTION = ("Show a trace file as a table (per syscall, per process or per executable) or "
               "as JSON.")


def add_arguments(show: argparse.ArgumentParser) -> None:
    """The options and arguments of ``show``."""
    show.add_argument("trace", metavar="TRACE",
                      help="a trace file written by record ('-': standard input)")
    show.add_argument("--by", choices=("syscall", "process", "exe"), default="syscall",
                      help="the view (default: syscall)")
    show.add_argument("--json", action="store_true", help="machine-readable JSON on stdout")
    show.add_argument("--top", type=top_count, metavar="N",
                      help="show only the first N rows (in every view)")
    show.add_argument("--runs", action="store_true",
                      help="of a merged trace: its runs, and the calls and argument values "
                      "only some of them made (fewest runs first)")


def run(args: argparse.Namespace, out: Any, err: Any) -> int:
    """Render a trace file again, as tables or as JSON."""
    import shlex

    from ..files import traces
    from ..formats import tracefile
    from . import console as ui

    trace = traces.load(args.trace)
    top = args.top or None
    if args.runs:
        return _show_runs(args, trace, out, top)
    if args.json:
        rows: Iterable[dict[str, Any]]
        if args.by == "process":
            rows = ui.iter_process_rows(trace)
        elif args.by == "exe":
            rows = ui.exe_rows(trace)
        else:
            rows = ui.syscall_rows(trace)
            if trace.header.records_sites:
                rows = _with_sites(trace, rows)
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
    out.print(ui.trace_heading(args.trace, shlex.join(h.command)), soft_wrap=True)
    out.print(printable(f"recorded {h.started} by seccomp-gen {h.tool_version}, libseccomp "
                        f"{h.libseccomp}"), soft_wrap=True, highlight=False, markup=False)
    ui.print_view(out.real(), trace, args.by, top)
    ui.print_totals(out.real(), trace)
    return 0


def _with_sites(trace: Trace, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The syscall rows with each record's call sites, as the trace file holds them (named
    from the files on this machine where the trace has no names)."""
    from ..files.symbols import name_sites
    from ..formats.tracefile import site_to_json

    named = name_sites(trace)
    by_key = {(r.arch, r.name): r for r in named.syscalls}
    return [{**row, "sites": [site_to_json(s) for s in by_key[(row["arch"], row["syscall"])].sites],
             "sites_other": by_key[(row["arch"], row["syscall"])].sites_other} for row in rows]


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


def _show_runs(args: argparse.Namespace, trace: Trace, out: Any, top: int | None) -> int:
    """``show --runs``: the runs of a merged trace and what only some of them made."""
    import json

    from ..merge import rare_calls
    from ..model import RUN_PREFIX

    names = trace.header.run_names
    rare = rare_calls(trace)[:top]
    if args.json:
        doc = {"trace": args.trace, "runs": list(names), "rows": [
            {"arch": c.arch, "name": c.name, "seen": len(c.runs), "of": len(names),
             "runs": list(c.runs),
             **({"fields": list(c.fields), "values": list(c.values)}
                if c.values is not None else {})}
            for c in rare]}
        sys.stdout.write(json.dumps(doc, indent=1) + "\n")
        return 0

    def say(text: str) -> None:
        out.print(printable(text), soft_wrap=True, highlight=False, markup=False)

    say(f"{len(names)} run(s):")
    for i, name in enumerate(names, 1):
        say(f"  [{i}] {name}")
    if len(names) == 1 and any(n.startswith(RUN_PREFIX) for n in trace.header.notes):
        say("merged by a seccomp-gen that did not keep which run made which call: "
            "merge the runs again for their coverage")
        return 0
    if not rare:
        say("every call and argument value was made in every run")
        return 0
    say(f"made in fewer than {len(names)} runs (fewest first):")
    for c in rare:
        runs = ", ".join(f"[{k + 1}]" for k in c.runs)
        what = c.name if c.values is None else c.name + " " + ", ".join(
            f"{f}={v:#x}" for f, v in zip(c.fields, c.values, strict=True))
        say(f"  {c.arch:<7} {what:<40} {len(c.runs)} of {len(names)}  {runs}")
    return 0
