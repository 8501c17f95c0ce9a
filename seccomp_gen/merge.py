"""Several traces -> one: the union of runs of one program on one kind of host.

Pure: counts are added, argument values and executables united, each run's command kept in the
header (``run: ...`` notes). A recording given twice is found (:func:`repeated_run`), since
merging it would count its calls twice; mixes that would make a profile wrong for one of the
hosts (different host arches, one number named two ways) are refused.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from .callsites import merge_sites
from .errors import SeccompGenError
from .model import ArgValues, ExeRecord, SyscallRecord, Trace, TraceHeader


class _Runs:
    """Which of the merged runs made what: trace ``i`` holds runs ``offset[i]`` to
    ``offset[i] + count[i] - 1`` of the merge, in order."""

    def __init__(self, traces: Sequence[Trace]) -> None:
        self.counts = [len(t.header.run_names) for t in traces]
        self.offsets = [sum(self.counts[:i]) for i in range(len(traces))]
        self.total = sum(self.counts)

    def of(self, i: int, local: Iterable[int]) -> frozenset[int]:
        """The merge's indexes of trace ``i``'s runs ``local`` (empty: all of them)."""
        local = tuple(local)
        if not local:
            return frozenset(range(self.offsets[i], self.offsets[i] + self.counts[i]))
        return frozenset(self.offsets[i] + j for j in local)

    def stored(self, runs: frozenset[int]) -> tuple[int, ...]:
        """``runs`` as a record stores it: empty when every run is in it."""
        return () if len(runs) == self.total else tuple(sorted(runs))


def _merge_args(a: ArgValues | None, b: ArgValues | None, what: str,
                b_unknown: bool = False) -> ArgValues | None:
    """The union of two records' argument values (their ``value_runs`` already in the merge's
    run indexes, complete for every value). ``b_unknown``: ``b`` comes from a trace that
    records no arguments (the log backend, an imported audit log), so its calls' values are
    unknown: the union is incomplete (``capped``) and the synthesizer leaves it unpinned."""
    if b_unknown:
        return replace(a, capped=True) if a is not None else None
    if a is None or b is None:
        return a or b
    if (a.fields, a.indexes) != (b.fields, b.indexes):
        raise SeccompGenError(f"traces record different arguments for {what}",
                              hint="record all runs with the same seccomp-gen version")
    runs = dict(a.value_runs)
    for v, r in b.value_runs.items():
        runs[v] = tuple(sorted(set(runs.get(v, ())) | set(r)))
    return ArgValues(a.fields, a.indexes, a.values | b.values, a.capped or b.capped, runs)


def _in_merge(r: SyscallRecord, i: int, runs: _Runs) -> SyscallRecord:
    """Trace ``i``'s record with every run index in the merge's numbering, spelled out."""
    made = runs.of(i, r.runs)
    args = r.args
    if args is not None:
        args = replace(args, value_runs={
            v: tuple(sorted(runs.of(i, args.value_runs[v]) & made
                            if v in args.value_runs else made))
            for v in args.values})
    return replace(r, runs=tuple(sorted(made)), args=args)


def _stored(r: SyscallRecord, runs: _Runs) -> SyscallRecord:
    """A merged record as the trace stores it: run sets that hold every run left out."""
    args = r.args
    if args is not None:
        args = replace(args, value_runs={v: rs for v, rs in sorted(args.value_runs.items())
                                         if len(rs) != runs.total})
    return replace(r, runs=runs.stored(frozenset(r.runs)), args=args)


def _merge_record(a: SyscallRecord, b: SyscallRecord, b_unknown: bool = False
                  ) -> SyscallRecord:
    what = f"{a.arch}/{a.name}"
    if a.nr != b.nr:
        raise SeccompGenError(f"traces disagree on {what}: nr {a.nr} vs {b.nr}",
                              hint="were they recorded on hosts with different syscall tables?")
    results = dict(a.results)
    for k, n in b.results.items():
        results[k] = results.get(k, 0) + n
    sites, sites_other = merge_sites(a, b)
    return replace(
        a,
        count=a.count + b.count,
        processes=a.processes + b.processes,
        exes=tuple(sorted(set(a.exes) | set(b.exes))),
        results=dict(sorted(results.items())),
        args=_merge_args(a.args, b.args, what, b_unknown),
        runs=tuple(sorted(set(a.runs) | set(b.runs))),
        sites=sites,
        sites_other=sites_other,
    )


def _one(values: Iterable[str], mixed: str = "mixed") -> str:
    distinct = sorted(set(values))
    return distinct[0] if len(distinct) == 1 else f"{mixed} ({', '.join(distinct)})"


def _run_of(t: Trace) -> tuple[object, ...]:
    """What identifies one recording: when it ran, what, and which processes it saw."""
    h = t.header
    return (h.started, h.ended, h.command, tuple(p.pid for p in t.processes))


def _processes_of(t: Trace) -> frozenset[tuple[int, int | None, tuple[str, ...], int]]:
    return frozenset((p.pid, p.ppid, p.exes, p.syscalls) for p in t.processes)


def repeated_run(traces: Sequence[Trace]) -> tuple[int, int, bool] | None:
    """(i, j, part) if traces i and j hold one same recording, else None: merging them would
    count its calls twice. Either both are that recording (the same header and processes; then
    ``part`` is False), or trace i is merged into trace j, or j into i (``part``: i is the
    smaller). Two different runs do not have equal process records (pid, parent, programs and
    call count of every process): their pids would all have to come back in the same order."""
    for j in range(len(traces)):
        pj = _processes_of(traces[j])
        for i in range(j):
            if _run_of(traces[i]) == _run_of(traces[j]):
                return i, j, False
            pi = _processes_of(traces[i])
            if pi and pj and pi <= pj:
                return i, j, True
            if pi and pj and pj <= pi:
                return j, i, True
    return None


def merge_traces(traces: Sequence[Trace]) -> Trace:
    """The union of several runs of one program on one kind of host.

    Refuses traces whose host arches differ, and traces that give one (arch, nr) different
    names or one (arch, name) different numbers: a profile from such a mix would be wrong for
    at least one of the hosts. A ``syscall_0x...`` placeholder from an older libseccomp yields
    to the real name another trace knows.
    """
    if not traces:
        raise SeccompGenError("no traces given", hint="pass at least one trace file")
    hosts = sorted({t.header.host_arch for t in traces})
    if len(hosts) > 1:
        raise SeccompGenError(f"traces come from different host arches: {', '.join(hosts)}",
                              hint="generate one profile per host arch")
    names: dict[tuple[str, int], str] = {}
    for t in traces:
        for r in t.syscalls:
            key = (r.arch, r.nr)
            prev = names.get(key)
            if prev is None or prev.startswith("syscall_"):
                names[key] = r.name
            elif prev != r.name and not r.name.startswith("syscall_"):
                raise SeccompGenError(
                    f"traces disagree on {r.arch} nr {r.nr}: {prev!r} vs {r.name!r}",
                    hint="were they recorded with different libseccomp syscall tables?")
    if len(traces) == 1:
        return traces[0]
    runs = _Runs(traces)
    by_key: dict[tuple[str, str], SyscallRecord] = {}
    unknown_args: set[tuple[str, str]] = set()  # made in a run that records no arguments
    for i, t in enumerate(traces):
        blind = not t.header.records_args
        for r in t.syscalls:
            r = _in_merge(replace(r, name=names[(r.arch, r.nr)]), i, runs)
            rkey = (r.arch, r.name)
            if rkey not in by_key:
                by_key[rkey] = replace(r, args=None) if blind else r
            else:  # once a run made it unseen, its values stay incomplete
                by_key[rkey] = _merge_record(by_key[rkey], r, blind or rkey in unknown_args)
            if blind:
                unknown_args.add(rkey)
    exes: dict[str, ExeRecord] = {}
    for t in traces:
        for e in t.exes:
            calls = dict(e.syscalls)
            if e.exe in exes:
                old = exes[e.exe]
                merged = dict(old.syscalls)
                for k, c in calls.items():
                    merged[k] = merged.get(k, 0) + c
                exes[e.exe] = ExeRecord(e.exe, old.processes + e.processes, merged)
            else:
                exes[e.exe] = ExeRecord(e.exe, e.processes, calls)
    hs = [t.header for t in traces]
    header = TraceHeader(
        tool_version=_one(h.tool_version for h in hs),
        command=hs[0].command,
        kernel=_one(h.kernel for h in hs),
        host_arch=hosts[0],
        libseccomp=_one(h.libseccomp for h in hs),
        backend=_one(h.backend for h in hs),
        pinned_cpu=hs[0].pinned_cpu if len({h.pinned_cpu for h in hs}) == 1 else None,
        started=min(h.started for h in hs),
        ended=max(h.ended for h in hs),
        duration_s=sum(h.duration_s for h in hs),
        exit=hs[0].exit if len({h.exit for h in hs}) == 1 else None,
        # Values are kept where every run that made the call recorded them (the others are
        # marked incomplete), so the merge records arguments if any run did.
        records_args=any(h.records_args for h in hs),
        records_results=all(h.records_results for h in hs),
        records_sites=any(h.records_sites for h in hs),
        notes=tuple(dict.fromkeys(n for h in hs for n in h.notes)),
        runtime=hs[0].runtime if len({h.runtime for h in hs}) == 1 else "",
        runs=tuple(name for h in hs for name in h.run_names),
    )
    return Trace(
        header=header,
        syscalls=tuple(sorted((_stored(r, runs) for r in by_key.values()),
                              key=lambda r: (r.arch, r.name, r.nr))),
        processes=tuple(p for t in traces for p in t.processes),
        exes=tuple(sorted(exes.values(), key=lambda e: e.exe)),
    )


@dataclass(frozen=True)
class Coverage:
    """One call (and, for ``values``, one argument combination of it) that not every run of a
    merged trace made: ``runs`` are indexes into the header's ``run_names``."""

    arch: str
    name: str
    runs: tuple[int, ...]
    values: tuple[int, ...] | None = None
    fields: tuple[str, ...] = ()


def rare_calls(trace: Trace, at_most: int | None = None) -> list[Coverage]:
    """The calls and argument combinations made in fewer than all runs of ``trace`` (in at most
    ``at_most`` runs, when given), fewest runs first: the first suspects when a profile made
    from these runs breaks on a path one run took."""
    n = len(trace.header.run_names)
    limit = n - 1 if at_most is None else at_most
    found: list[Coverage] = []
    for r in trace.syscalls:
        if r.runs and len(r.runs) <= limit:
            found.append(Coverage(r.arch, r.name, r.runs))
        if r.args is not None:
            for v, rs in r.args.value_runs.items():
                if len(rs) <= limit and rs != r.runs:
                    found.append(Coverage(r.arch, r.name, rs, v, r.args.fields))
    return sorted(found, key=lambda c: (len(c.runs), c.arch, c.name, c.values or ()))
