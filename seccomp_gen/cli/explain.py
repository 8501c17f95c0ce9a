"""``seccomp-gen explain TRACE [SYSCALL ...]``: who made each syscall, grouped by library class
(the program, ld.so loading libraries, libc's wrappers, the Python or Go runtime, other
libraries, the vDSO, JIT code), then library, then function, with counts and the exes.

The sites are the trace's (recorded by the backends that see each call's instruction pointer;
method and limits in docs/explain.md). A trace written before sites were named (or merged from
such traces) is named here from the files on this machine. Output: text, or ``--json`` (a
document, format ``seccomp-gen-explain``).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any, NamedTuple

from ..errors import SeccompGenError
from ..safetext import is_syscall_name, printable

if TYPE_CHECKING:
    from ..callsites import LibrarySites
    from ..model import CallSite, CodeLocation, SyscallRecord, Trace

DESCRIPTION = ("Show where in the code each syscall of a trace was made: grouped by library "
               "class (the program, ld.so, libc, the Python or Go runtime, other libraries, "
               "the vDSO), then library and function, with call counts and the exes. "
               "Without SYSCALL, every syscall of the trace.")
JSON_FORMAT = "seccomp-gen-explain"
JSON_VERSION = 1
#: Exit status for a syscall name no architecture knows (a typo), as for a bad option.
BAD_NAME_STATUS = 2


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options and arguments of ``explain``."""
    p.add_argument("trace", metavar="TRACE", help="a trace file ('-': standard input)")
    p.add_argument("syscalls", nargs="*", metavar="SYSCALL",
                   help="the syscalls to explain (default: all of the trace's)")
    p.add_argument("--arch", metavar="ARCH",
                   help="only this architecture's records (x86_64, x86, x32, ...)")
    p.add_argument("--json", action="store_true", help="print a JSON document")


def _check_names(names: list[str], arches: list[str]) -> None:
    from ..libseccomp import knows

    for name in names:
        if not is_syscall_name(name) or not any(knows(a, name) for a in arches):
            raise SeccompGenError(f"unknown syscall {printable(name)!r}",
                                  hint=f"no {'/'.join(arches)} syscall has this name",
                                  exit_status=BAD_NAME_STATUS)


def selected(trace: Trace, names: list[str], arch: str | None) -> tuple[list[SyscallRecord],
                                                                         list[str]]:
    """The records asked for (by name, then arch; all when ``names`` is empty) and the names
    the trace has no record of."""
    records = [r for r in trace.syscalls if arch is None or r.arch == arch]
    if not names:
        return sorted(records, key=lambda r: (-r.count, r.arch, r.name)), []
    wanted = dict.fromkeys(names)
    found = [r for r in records if r.name in wanted]
    found.sort(key=lambda r: (list(wanted).index(r.name), r.arch))
    missing = [n for n in wanted if not any(r.name == n for r in found)]
    return found, missing


def _where(loc: CodeLocation) -> str:
    name = loc.path.rsplit("/", 1)[-1]
    if loc.symbol and loc.symbol != "?":
        return f"{name}:{loc.symbol}+{loc.symbol_offset:#x}"
    return f"{name}+{loc.offset:#x}"


def _loc_json(loc: CodeLocation) -> dict[str, Any]:
    return {"path": loc.path, "offset": loc.offset, "symbol": loc.symbol or None,
            "symbol_offset": loc.symbol_offset if loc.symbol not in ("", "?") else None,
            "kind": loc.kind or None}


def _site_json(site: CallSite) -> dict[str, Any]:
    return {"offset": site.where.offset, "symbol_offset": site.where.symbol_offset,
            "count": site.count,
            "caller": None if site.caller is None else _loc_json(site.caller)}


def record_json(r: SyscallRecord, groups: tuple[LibrarySites, ...]) -> dict[str, Any]:
    """One syscall's explanation as JSON data."""
    return {"arch": r.arch, "name": r.name, "count": r.count, "exes": list(r.exes),
            "sites_other": r.sites_other,
            "libraries": [{"kind": g.kind, "path": g.path, "count": g.calls,
                           "functions": [{"symbol": f.symbol, "count": f.calls,
                                          "sites": [_site_json(s) for s in f.sites]}
                                         for f in g.functions]}
                          for g in groups]}


def record_lines(r: SyscallRecord, groups: tuple[LibrarySites, ...]) -> list[str]:
    """One syscall's explanation as text lines."""
    exes = ", ".join(printable(e) for e in r.exes[:4]) + (
        f" and {len(r.exes) - 4} more" if len(r.exes) > 4 else "")
    lines = [f"{r.name} ({r.arch}): {r.count} call{'' if r.count == 1 else 's'}, by {exes}"]
    for g in groups:
        lines.append(f"  {g.kind:<8} {printable(g.path)}  {g.calls}")
        for f in g.functions:
            offsets = ", ".join(f"+{s.where.symbol_offset:#x}" if f.symbol != "?"
                                else f"@{s.where.offset:#x}" for s in f.sites[:4])
            more = f", {len(f.sites) - 4} more" if len(f.sites) > 4 else ""
            callers = sorted({_where(s.caller) for s in f.sites if s.caller is not None})
            called = f"; e.g. called from {printable(', '.join(callers[:3]))}" if callers \
                else ""
            lines.append(f"    {f.calls:>9}  {printable(f.symbol)} ({offsets}{more}){called}")
    if r.sites_other:
        lines.append(f"  {r.sites_other} more calls at sites beyond the {len(r.sites)} most "
                     "frequent")
    missing = r.count - sum(s.count for s in r.sites) - r.sites_other
    if missing > 0:
        lines.append(f"  {missing} calls without a site (made before the program's code ran, "
                     "or seen by a backend without instruction pointers)")
    return lines


class Explanation(NamedTuple):
    """What ``explain`` found: each record with its grouped sites, the names asked for that
    the trace lacks, and how many of the records' calls have library and function named."""

    backend: str
    records: list[tuple[SyscallRecord, tuple[LibrarySites, ...]]]
    missing: list[str]
    named: int
    calls: int


def explain(trace_path: str, names: list[str], arch: str | None) -> Explanation:
    """Load, check and group: a syscall name no arch knows is an error (exit 2), as is a
    trace without call sites (exit 1)."""
    from ..callsites import group_sites, named_calls
    from ..files.symbols import name_sites
    from ..files.traces import load as load_trace

    trace = load_trace(trace_path)
    arches = sorted({r.arch for r in trace.syscalls} | {trace.header.host_arch})
    if arch is not None and arch not in arches:
        raise SeccompGenError(f"the trace has no {printable(arch)} records",
                              hint=f"its arches: {', '.join(arches)}",
                              exit_status=BAD_NAME_STATUS)
    _check_names(names, [arch] if arch else arches)
    if not trace.header.records_sites:
        raise SeccompGenError(
            "the trace has no call sites: it was recorded by seccomp-gen "
            f"{printable(trace.header.tool_version)} (backend "
            f"{printable(trace.header.backend)}), either before call sites were recorded "
            "(trace format version 1), or imported from strace output or an audit log",
            hint="record it again with seccomp-gen record (every backend records call sites)",
            path=trace_path, exit_status=1)
    if any(not s.where.symbol for r in trace.syscalls for s in r.sites):
        trace = name_sites(trace)
    records, missing = selected(trace, names, arch)
    named, total = named_calls(records)
    return Explanation(trace.header.backend, [(r, group_sites(r)) for r in records], missing,
                       named, total)


def run(args: argparse.Namespace, out: Any, err: Any) -> int:
    """Do ``explain``."""
    found = explain(args.trace, args.syscalls, args.arch)
    if args.json:
        doc = {"format": JSON_FORMAT, "version": JSON_VERSION, "trace": args.trace,
               "backend": found.backend, "named_calls": found.named, "calls": found.calls,
               "syscalls": [record_json(r, groups) for r, groups in found.records],
               "not_in_trace": found.missing}
        sys.stdout.write(json.dumps(doc, indent=1) + "\n")
        return 0
    lines = [line for r, groups in found.records for line in record_lines(r, groups)]
    lines += [f"{printable(name)}: not made in this trace" for name in found.missing]
    if found.calls:
        lines.append(f"library and function named for {found.named} of {found.calls} calls "
                     f"({100 * found.named / found.calls:.1f}%)")
    sys.stdout.write("".join(line + "\n" for line in lines))
    return 0
