"""``seccomp-gen analyze TRACE``: the syscalls the traced programs' code can reach but the runs
never made, per exe, each with one path that reaches it, most dangerous first.

The exes are the trace's (``exes``); their libraries are found as the loader finds them and read
statically (:mod:`seccomp_gen.files.binaries`, :mod:`seccomp_gen.reach`; method and limits in
docs/analyze.md). Output: text, or ``--json`` (a document, format ``seccomp-gen-analyze``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from ..errors import SeccompGenError
from ..safetext import printable

DESCRIPTION = ("Read the executables a trace ran and their shared objects (disassembled), and "
               "list the syscalls their code can reach that the trace never made, per exe, "
               "ranked by risk, each with a path (program function -> library function -> "
               "syscall). Sites whose number cannot be known statically are counted, not "
               "guessed.")
JSON_FORMAT = "seccomp-gen-analyze"
JSON_VERSION = 1


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options and arguments of ``analyze``."""
    p.add_argument("trace", metavar="TRACE", help="a trace file ('-': standard input)")
    p.add_argument("--exe", action="append", default=[], metavar="PATH",
                   help="analyze only this exe of the trace (repeatable)")
    p.add_argument("--json", action="store_true", help="print a JSON document")
    p.add_argument("--no-cache", action="store_true",
                   help="read every object again (no per-build-id summaries from the cache)")


def analyze(trace_path: str, exes: list[str], *, use_cache: bool = True) -> list[dict[str, Any]]:
    """One report (a JSON-ready dict) per exe of the trace (or of ``exes``, which must be in
    it)."""
    from ..files.binaries import analyze_exe
    from ..files.traces import load as load_trace
    from ..libseccomp import known_name
    from ..reach import named

    trace = load_trace(trace_path)
    records = {e.exe: e for e in trace.exes}
    for exe in exes:
        if exe not in records:
            raise SeccompGenError(f"the trace ran no exe {printable(exe)!r}",
                                  hint="its exes: " + ", ".join(map(printable, records)))
    reports = []
    for exe in exes or sorted(records):
        start = time.monotonic()
        r, items, misses = analyze_exe(exe, records[exe].syscalls, use_cache=use_cache)
        observed = set(records[exe].syscalls)
        reports.append({
            "exe": exe, "arch": r.arch,
            "objects": [{"path": p, "build_id": b or None}
                        for p, b in zip(r.objects, r.build_ids, strict=True)],
            "reachable": len(named(r, known_name)), "observed": len(observed),
            "unobserved": [u.as_dict() for u in items],
            "observed_not_reachable": list(misses),
            "unresolved_sites": sum(s.count for s in r.unresolved),
            "unresolved": [{"object": s.path, "function": s.function, "sites": s.count}
                           for s in r.unresolved],
            "notes": list(r.notes), "seconds": round(time.monotonic() - start, 2)})
    return reports


def text_lines(report: dict[str, Any]) -> list[str]:
    """The text form of one exe's report."""
    objs = ", ".join(printable(o["path"].rsplit("/", 1)[-1]) for o in report["objects"])
    lines = [f"{printable(report['exe'])} ({report['arch']}; {objs})"]
    for u in report["unobserved"]:
        path = " -> ".join(printable(p) for p in u["path"])
        lines.append(f"  {u['risk'] or '-':<6} {u['name']:<24} {path}")
    if report["observed_not_reachable"]:
        lines.append("  observed but not found statically: "
                     + ", ".join(report["observed_not_reachable"])
                     + " (made before the exe's code ran, by the vDSO, or unresolved)")
    if report["unresolved"]:
        where = ", ".join(f"{printable(s['object'].rsplit('/', 1)[-1])}:"
                          f"{printable(s['function'])}" for s in report["unresolved"][:8])
        more = len(report["unresolved"]) - 8
        lines.append(f"  unresolved syscall numbers at {report['unresolved_sites']} sites: "
                     f"{where}" + (f" and {more} more" if more > 0 else ""))
    lines += [f"  note: {printable(n)}" for n in report["notes"]]
    risky = sum(1 for u in report["unobserved"] if u["risk"] and u["risk"] != "info")
    lines.append(f"  {report['reachable']} reachable, {report['observed']} observed, "
                 f"{len(report['unobserved'])} reachable but not observed ({risky} risky), "
                 f"{report['unresolved_sites']} unresolved sites")
    return lines


def run(args: argparse.Namespace, out: Any, err: Any) -> int:
    """Do ``analyze``."""
    reports = analyze(args.trace, args.exe, use_cache=not args.no_cache)
    if args.json:
        for r in reports:
            r.pop("seconds", None)  # deterministic output
        doc = {"format": JSON_FORMAT, "version": JSON_VERSION, "trace": args.trace,
               "exes": reports}
        sys.stdout.write(json.dumps(doc, indent=1) + "\n")
    else:
        lines = [line for r in reports for line in text_lines(r)]
        sys.stdout.write("".join(line + "\n" for line in lines))
    return 0
