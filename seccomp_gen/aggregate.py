"""Turn a recorder's raw counters into a :class:`~seccomp_gen.model.Trace`.

Recorders keep their hot loop cheap by counting into plain dicts keyed by numbers (AUDIT_ARCH,
syscall number, process token). This module does the slow part once, after the run: naming,
grouping per process and executable, sorting. It is pure; the naming functions are passed in so
that it never imports libseccomp.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from .callsites import bound_sites
from .model import (
    ArgValues,
    CodeLocation,
    ExeRecord,
    ExitStatus,
    ProcessRecord,
    SyscallRecord,
    Trace,
    TraceHeader,
)
from .syscalls.argspec import ARG_VALUE_CAP, fields_for
from .syscalls.constants import errno_name

#: The result recorded for a call that never returned (exit_group, a thread killed mid-call).
UNRETURNED = -1


@dataclass
class ProcessState:
    """Mutable bookkeeping of one thread group while it is being recorded."""

    pid: int
    ppid: int | None
    exes: list[str]
    threads: int = 1
    exit: ExitStatus | None = None


@dataclass
class RawRecording:
    """What a recorder collects, keyed by numbers only.

    ``calls`` counts syscalls by (AUDIT_ARCH, nr, token, result), where result is 0 for success,
    the errno for a failure, or :data:`UNRETURNED` for a call that never returned.
    ``tokens[t]`` is (tgid, exe) of one process during one executable's lifetime; a new token is
    made at fork and at every execve, so per-exe attribution costs nothing in the hot loop.
    ``site_calls`` counts calls by (AUDIT_ARCH, nr, site id), where ``sites[id]`` is the call
    site as (mapped file, file offset) (see :mod:`seccomp_gen.linux.codemaps`); a recorder that
    cannot see instruction pointers leaves both empty. ``site_callers[(arch, nr, id)]``: the
    caller of the site's calls of that syscall as (file, offset of the return address), found
    for one of them (a sample).
    """

    calls: dict[tuple[int, int, int, int], int] = field(default_factory=dict)
    args: dict[tuple[int, int], set[tuple[int, ...]]] = field(default_factory=dict)
    capped: set[tuple[int, int]] = field(default_factory=set)
    first: dict[tuple[int, int], int] = field(default_factory=dict)
    tokens: list[tuple[int, str]] = field(default_factory=list)
    processes: dict[int, ProcessState] = field(default_factory=dict)
    site_calls: dict[tuple[int, int, int], int] = field(default_factory=dict)
    sites: list[tuple[str, int]] = field(default_factory=list)
    site_callers: dict[tuple[int, int, int], tuple[str, int]] = field(default_factory=dict)

    def new_token(self, tgid: int, exe: str) -> int:
        """Register a (process, executable) lifetime and return its token."""
        self.tokens.append((tgid, exe))
        return len(self.tokens) - 1

    def count(self, audit: int, nr: int, token: int, result: int, n: int = 1) -> None:
        """Add ``n`` calls of (arch, nr) by ``token`` with ``result``; the first token to make a
        syscall is kept as its first caller."""
        key = (audit, nr, token, result)
        old = self.calls.get(key, 0)
        self.calls[key] = old + n
        if not old:
            self.first.setdefault((audit, nr), token)

    def add_args(self, key: tuple[int, int], row: tuple[int, ...]) -> None:
        """Keep a distinct argument row of (arch, nr), up to ``ARG_VALUE_CAP`` of them; past the
        cap the key is marked capped (its value set is then incomplete)."""
        bucket = self.args.setdefault(key, set())
        if row not in bucket:
            if len(bucket) >= ARG_VALUE_CAP:
                self.capped.add(key)
            else:
                bucket.add(row)

    def unsigned_numbers(self) -> None:
        """Make negative syscall numbers unsigned 64-bit, as PTRACE_GET_SYSCALL_INFO and the
        audit records report them: ``seccomp_data.nr`` (the notify backend's) is a signed int,
        so ``syscall(-1)`` arrives as -1 there and as 2**64 - 1 everywhere else."""
        if not any(nr < 0 for _, nr, _, _ in self.calls):
            return

        def fix(nr: int) -> int:
            return nr & 0xFFFF_FFFF_FFFF_FFFF

        self.calls = {(a, fix(n), t, r): c for (a, n, t, r), c in self.calls.items()}
        self.args = {(a, fix(n)): v for (a, n), v in self.args.items()}
        self.capped = {(a, fix(n)) for a, n in self.capped}
        self.first = {(a, fix(n)): t for (a, n), t in self.first.items()}
        self.site_calls = {(a, fix(n), s): c for (a, n, s), c in self.site_calls.items()}
        self.site_callers = {(a, fix(n), s): c for (a, n, s), c in self.site_callers.items()}

    @property
    def total(self) -> int:
        """Syscalls counted so far; safe to call from another thread (copies under the GIL)."""
        return sum(list(self.calls.values()))

    @property
    def distinct(self) -> int:
        """Distinct (arch, nr) seen so far; safe to call from another thread."""
        return len({(a, n) for a, n, _, _ in list(self.calls)})


ArchNamer = Callable[[int, int], str]
SyscallNamer = Callable[[str, int], str]


def build_trace(
    raw: RawRecording, header: TraceHeader, arch_name: ArchNamer, syscall_name: SyscallNamer
) -> Trace:
    """Name, group and sort a raw recording into a Trace."""
    per_key_count: dict[tuple[int, int], int] = defaultdict(int)
    per_key_tgids: dict[tuple[int, int], set[int]] = defaultdict(set)
    per_key_exes: dict[tuple[int, int], set[str]] = defaultdict(set)
    per_proc_calls: dict[int, int] = defaultdict(int)
    per_exe: dict[str, dict[tuple[str, str], int]] = defaultdict(lambda: defaultdict(int))
    per_exe_tgids: dict[str, set[int]] = defaultdict(set)

    def names(audit: int, nr: int) -> tuple[str, str]:
        arch = arch_name(audit, nr)
        return arch, syscall_name(arch, nr)

    per_key_sites = _sites_by_key(raw)
    callers: dict[tuple[int, int], dict[tuple[str, int], CodeLocation]] = defaultdict(dict)
    for (audit, nr, sid), where in raw.site_callers.items():
        callers[(audit, nr)][raw.sites[sid]] = CodeLocation(*where)
    per_key_results: dict[tuple[int, int], dict[str, int]] = defaultdict(dict)
    for (audit, nr, token, res), n in raw.calls.items():
        tgid, exe = raw.tokens[token]
        key = (audit, nr)
        per_key_count[key] += n
        per_key_tgids[key].add(tgid)
        per_key_exes[key].add(exe)
        per_proc_calls[tgid] += n
        per_exe[exe][names(audit, nr)] += n
        per_exe_tgids[exe].add(tgid)
        if res != UNRETURNED:
            label = "ok" if res == 0 else errno_name(res)
            bucket = per_key_results[key]
            bucket[label] = bucket.get(label, 0) + n

    records = []
    for key, count in per_key_count.items():
        audit, nr = key
        arch, name = names(audit, nr)
        first_tgid, first_exe = raw.tokens[raw.first.get(key, 0)]
        sites, other = bound_sites(per_key_sites.get(key, {}), callers=callers.get(key))
        records.append(
            SyscallRecord(
                arch=arch,
                name=name,
                nr=nr,
                count=count,
                processes=len(per_key_tgids[key]),
                first_pid=first_tgid,
                first_exe=first_exe,
                exes=tuple(sorted(per_key_exes[key])),
                results=dict(sorted(per_key_results.get(key, {}).items())),
                args=_arg_values(raw, key, arch, name),
                sites=sites,
                sites_other=other,
            )
        )
    records.sort(key=lambda r: (r.arch, r.name, r.nr))

    processes = tuple(
        ProcessRecord(
            pid=p.pid,
            ppid=p.ppid,
            exes=tuple(p.exes),
            threads=p.threads,
            syscalls=per_proc_calls.get(p.pid, 0),
            exit=p.exit,
        )
        for p in raw.processes.values()
    )
    exes = tuple(
        ExeRecord(exe=exe, processes=len(per_exe_tgids[exe]), syscalls=dict(sorted(calls.items())))
        for exe, calls in sorted(per_exe.items())
    )
    if raw.site_calls and not header.records_sites:
        header = replace(header, records_sites=True)
    return Trace(header=header, syscalls=tuple(records), processes=processes, exes=exes)


def _sites_by_key(raw: RawRecording) -> dict[tuple[int, int], dict[tuple[str, int], int]]:
    """Calls per (arch, nr) per site (path, offset); two ids of one site are summed."""
    out: dict[tuple[int, int], dict[tuple[str, int], int]] = defaultdict(dict)
    for (audit, nr, sid), n in raw.site_calls.items():
        bucket = out[(audit, nr)]
        site = raw.sites[sid]
        bucket[site] = bucket.get(site, 0) + n
    return out


def _arg_values(raw: RawRecording, key: tuple[int, int], arch: str, name: str) -> ArgValues | None:
    spec = fields_for(arch, name)
    if spec is None:
        return None
    return ArgValues(
        fields=tuple(f for f, _ in spec),
        indexes=tuple(i for _, i in spec),
        values=frozenset(raw.args.get(key, ())),
        capped=key in raw.capped,
    )
