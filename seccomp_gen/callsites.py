"""Call sites of a trace: bounding them per syscall, merging them, and grouping them by library
and function for ``explain``.

Pure: the sites arrive named (:mod:`seccomp_gen.files.symbols` names them after the run); this
module only counts and orders, so that equal traces give equal output.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace

from .model import SITE_CAP, SITE_KINDS, CallSite, CodeLocation, SyscallRecord, Trace


def bound_sites(counts: Mapping[tuple[str, int], int], previous_other: int = 0,
                cap: int = SITE_CAP,
                callers: Mapping[tuple[str, int], CodeLocation] | None = None,
                ) -> tuple[tuple[CallSite, ...], int]:
    """The ``cap`` sites with most calls, most first (ties by path, then offset, so the choice
    is deterministic), and the calls made at the others (plus ``previous_other``); ``callers``
    gives the caller of a site (path, offset), where known."""
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    found = callers or {}
    kept = tuple(CallSite(CodeLocation(path, offset), n, found.get((path, offset)))
                 for (path, offset), n in ranked[:cap])
    return kept, previous_other + sum(n for _, n in ranked[cap:])


def merge_sites(a: SyscallRecord, b: SyscallRecord) -> tuple[tuple[CallSite, ...], int]:
    """The call sites of two records summed by (path, offset), cut to the cap again. A site's
    symbol and caller come from the first record that has them (equal for one file)."""
    counts: dict[tuple[str, int], int] = {}
    best: dict[tuple[str, int], CallSite] = {}
    for site in (*a.sites, *b.sites):
        key = (site.where.path, site.where.offset)
        counts[key] = counts.get(key, 0) + site.count
        old = best.get(key)
        best[key] = site if old is None else CallSite(
            old.where if old.where.symbol else site.where, 0, old.caller or site.caller)
    kept, other = bound_sites(counts, a.sites_other + b.sites_other)
    return tuple(replace(best[(s.where.path, s.where.offset)], count=s.count)
                 for s in kept), other


def resolve_sites(trace: Trace, resolve: Callable[[CodeLocation], CodeLocation],
                  caller: Callable[[CodeLocation], CodeLocation | None] | None = None) -> Trace:
    """The trace with every call site (and caller) passed through ``resolve``, which names the
    function and library class of a location (see :mod:`seccomp_gen.files.symbols`);
    ``caller`` gives the caller of a site that has none yet."""
    records = []
    for r in trace.syscalls:
        if not r.sites:
            records.append(r)
            continue
        sites = []
        for s in r.sites:
            found = s.caller if s.caller is not None or caller is None else caller(s.where)
            sites.append(CallSite(resolve(s.where), s.count,
                                  None if found is None else resolve(found)))
        records.append(replace(r, sites=tuple(sites)))
    return replace(trace, syscalls=tuple(records))


def is_named(loc: CodeLocation) -> bool:
    """Whether a location names both its library and its function."""
    return loc.kind not in ("", "unknown", "jit") and loc.symbol not in ("", "?")


def named_calls(records: Iterable[SyscallRecord]) -> tuple[int, int]:
    """(calls whose site names library and function, all calls) of ``records``; calls at sites
    beyond the cap count as not named."""
    named = total = 0
    for r in records:
        total += r.count
        named += sum(s.count for s in r.sites if is_named(s.where))
    return named, total


@dataclass(frozen=True)
class FunctionSites:
    """The calls of one syscall made in one function of one library: its sites, most first."""

    symbol: str
    count: int
    sites: tuple[CallSite, ...]


@dataclass(frozen=True)
class LibrarySites:
    """The calls of one syscall made in one library (a mapped file) of one class."""

    kind: str
    path: str
    count: int
    functions: tuple[FunctionSites, ...]


def group_sites(record: SyscallRecord) -> tuple[LibrarySites, ...]:
    """The sites of ``record`` grouped by library class (in :data:`SITE_KINDS` order), then
    library (most calls first), then function (most calls first); ties by name."""
    order = {k: i for i, k in enumerate(SITE_KINDS)}
    libs: dict[tuple[str, str], dict[str, list[CallSite]]] = {}
    for s in record.sites:
        key = (s.where.kind or "unknown", s.where.path)
        libs.setdefault(key, {}).setdefault(s.where.symbol or "?", []).append(s)
    out = []
    for (kind, path), funcs in libs.items():
        functions = tuple(sorted(
            (FunctionSites(sym, sum(s.count for s in sites), tuple(sites))
             for sym, sites in funcs.items()),
            key=lambda f: (-f.count, f.symbol)))
        out.append(LibrarySites(kind, path, sum(f.count for f in functions), functions))
    out.sort(key=lambda lib: (order.get(lib.kind, len(order)), -lib.count, lib.path))
    return tuple(out)
