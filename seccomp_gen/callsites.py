"""Call sites of a trace: bounding them per syscall, merging them, and grouping them by library
and function for ``explain``.

Pure: the sites arrive named (:mod:`seccomp_gen.files.symbols` names them after the run); this
module only counts and orders, so that equal traces give equal output.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace

from .model import SITE_CAP, CallSite, CodeLocation, SyscallRecord, Trace


def bound_sites(counts: Mapping[tuple[str, int], int], previous_other: int = 0,
                cap: int = SITE_CAP) -> tuple[tuple[CallSite, ...], int]:
    """The ``cap`` sites with most calls, most first (ties by path, then offset, so the choice
    is deterministic), and the calls made at the others (plus ``previous_other``)."""
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    kept = tuple(CallSite(CodeLocation(path, offset), n) for (path, offset), n in ranked[:cap])
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
