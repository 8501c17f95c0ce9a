"""Read the kernel's SECCOMP audit records from text into a trace: ``seccomp-gen import audit.log``.

A profile with ``defaultAction: SCMP_ACT_LOG`` (``generate --default-action log``) lets every
call through and makes the kernel write one SECCOMP record for each call the profile does not
list, naming the program, the ABI and the number: the misses of a drift loop, even for a
container whose runtime cannot be traced. This module reads those records from any text that
holds them, one per line (the record itself is read by :mod:`seccomp_gen.auditrecord`):

* auditd's log (``type=SECCOMP msg=audit(...): ...``, RAW or ENRICHED) and ``ausearch`` output
  (``----`` and ``time->`` lines between events);
* the kernel log: ``dmesg`` (any of its time stamp forms), ``/dev/kmsg``, ``journalctl -k`` and
  syslog's ``kern.log`` (``audit: type=1326 audit(...): ...``); journald's audit transport
  (``audit[890]: SECCOMP auid=...``).

Every line is accounted for: SECCOMP records read; SECCOMP records that could not be read (shown,
``--strict`` refuses them; ``ausearch -i`` output names calls with auditd's tables and is refused
with a hint); other audit records (SYSCALL, PROCTITLE, AVC...) and other lines, counted. A record
seen twice (the same audit serial, from two overlapping files) counts once. The kernel log's own
reports of lost records (its rate limit's ``callbacks suppressed``, ``audit_lost=``) are noted in
the trace, since the trace then misses calls.

Which records become calls: all of them. A LOG record (``code=0x7ffc0000``) is a call a complain
profile let through; a KILL, ERRNO or TRAP record is a call an enforcing profile denied (the
kernel logs ERRNO and TRAP only for a filter loaded with SECCOMP_FILTER_FLAG_LOG): both are calls
the program made, so both belong in its profile. The action of every call that was not LOG is
named in the trace header. Records carry no arguments and no results: syscalls whose arguments a
profile can pin are marked as having an incomplete argument set, so that a merge with a recorded
trace leaves them unpinned rather than pinned to values that no longer cover the program.

Pure: the caller passes the namers (libseccomp's, in the CLI), as for :mod:`.strace`.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from ..aggregate import UNRETURNED, ProcessState, RawRecording, build_trace
from ..auditrecord import SeccompRecord, parse_seccomp_record, stamp_seconds
from ..errors import SeccompGenError
from ..model import Trace, TraceHeader
from ..syscalls.arches import FAMILIES, family_of
from ..syscalls.argspec import fields_for

#: What ``import`` calls such input in its messages.
WHAT = "SECCOMP audit records"
#: The lines :func:`sniff` looks at.
SNIFF_LINES = 2000
#: Calls named one by one in the header note on actions other than LOG.
SHOW_DENIED = 20

NOTE_NO_ARGS = ("imported from the kernel's SECCOMP audit records: they name the program (pid "
                "and exe), the ABI, the syscall number and the filter's action of each call, not "
                "its arguments or result; syscalls with argument rules are marked as having an "
                "incomplete argument set (not pinned)")

# A line that starts (after the time stamps and host names of dmesg, /dev/kmsg, syslog and
# journalctl) with an audit record or an ausearch event line. Anchored, so that an strace log
# of a program that printed audit text (``write(1, "... audit: type=1326 ...``) is not one.
_PREFIX = (r"(?:[0-9]{1,3},[0-9]{1,20},[0-9]{1,20},[^;]{0,16};)?"  # /dev/kmsg
           r"(?:[a-z]{1,10} *:[a-z]{1,10} *: )?"  # dmesg -x
           r"(?:\[[^\]]{0,40}\] ?)?"  # dmesg, dmesg -T
           r"(?:(?:[A-Z][a-z]{2} [ 0-9][0-9] [0-9]{2}:[0-9]{2}:[0-9]{2}"  # syslog, journalctl
           r"|[0-9]{4}-[0-9]{2}-[0-9]{2}T\S{1,40}) \S{1,255} (?:kernel: (?:\[[^\]]{0,40}\] ?)?)?)?")
_AUDIT_LINE = re.compile(
    r"^\s*" + _PREFIX + r"(?:audit: type=[0-9]{1,5} audit\(|type=[A-Z][A-Z0-9_]{0,40} msg=audit\("
    r"|audit\[[0-9]{1,10}\]: [A-Z][A-Z0-9_]{0,40} |audit\([0-9]{1,20}\.[0-9]{1,9}:[0-9]{1,20}\): "
    r"|time->)", re.ASCII)
# The record type a line names, wherever it is in the line.
_TYPE = re.compile(r"\btype=(?P<t>[A-Z][A-Z0-9_]{0,40}|[0-9]{1,5}) (?:msg=)?audit\("
                   r"|\baudit\[[0-9]{1,10}\]: (?P<j>[A-Z][A-Z0-9_]{0,40}) ", re.ASCII)
_SECCOMP_TYPES = frozenset({"SECCOMP", "1326"})
# ausearch -i: fields interpreted with auditd's tables (arch=x86_64 syscall=statfs code=log).
_INTERPRETED = re.compile(r"\barch=[a-z][a-z0-9_]* syscall=[a-z_]", re.ASCII)
_EVENT_LINE = re.compile(r"^(?:----|time->.*)$")
_SUPPRESSED = re.compile(r"\bkauditd_printk_skb: ([0-9]{1,10}) callbacks suppressed", re.ASCII)
_LOSS = re.compile(r"\baudit: (?:audit_lost=|rate limit exceeded|backlog limit exceeded"
                   r"|kauditd hold queue overflow)", re.ASCII)


@dataclass
class AuditLog:
    """What :func:`parse` read, every line accounted for."""

    #: (source, line number, record) in the order read, duplicates removed.
    records: list[tuple[str, int, SeccompRecord]] = field(default_factory=list)
    #: Lines that name a SECCOMP record but hold none this parser can read.
    unparsed: list[tuple[str, int, str]] = field(default_factory=list)
    #: Of those, lines of ``ausearch -i`` (interpreted) output.
    interpreted: int = 0
    #: Other audit records, by type (``SYSCALL``, ``1300``...).
    other_records: Counter[str] = field(default_factory=Counter)
    #: Lines that are no audit record (other kernel messages, garbage); ausearch's event lines
    #: and empty lines are not counted.
    other_lines: int = 0
    #: Records given twice (the same audit serial), counted once.
    duplicates: int = 0
    #: Records the kernel log's rate limit dropped, by its own count.
    suppressed: int = 0
    #: The kernel's reports of audit records lost (``audit: audit_lost=...``), first few.
    losses: list[str] = field(default_factory=list)
    lines: int = 0


def sniff(text: str) -> bool:
    """Whether ``text`` is audit text (one of the forms above) rather than an strace log: one of
    its first lines starts with an audit record or an ausearch event line."""
    for n, line in enumerate(text.splitlines()):
        if n >= SNIFF_LINES:
            break
        if _AUDIT_LINE.match(line):
            return True
    return False


def _line(log: AuditLog, seen: set[tuple[str, SeccompRecord]], source: str, lineno: int,
          line: str) -> None:
    m = _TYPE.search(line)
    kind = (m["t"] or m["j"]) if m else None
    rec = parse_seccomp_record(line) if "syscall=" in line else None
    if rec is not None and (kind is None or kind in _SECCOMP_TYPES):
        if rec.stamp:
            key = (rec.stamp, rec)
            if key in seen:
                log.duplicates += 1
                return
            seen.add(key)
        log.records.append((source, lineno, rec))
    elif kind in _SECCOMP_TYPES:
        log.unparsed.append((source, lineno, line.strip()))
        if _INTERPRETED.search(line):
            log.interpreted += 1
    elif kind is not None:
        log.other_records[kind] += 1
    elif not line.strip() or _EVENT_LINE.match(line):
        return
    else:
        log.other_lines += 1
        sup = _SUPPRESSED.search(line)
        if sup:
            log.suppressed += int(sup.group(1))
        elif _LOSS.search(line) and len(log.losses) < 5:
            log.losses.append(line.strip()[:200])


def parse(sources: Sequence[tuple[str, Iterable[str]]]) -> AuditLog:
    """Read the lines of each (source name, lines) in order."""
    log = AuditLog()
    seen: set[tuple[str, SeccompRecord]] = set()
    for source, lines in sources:
        for lineno, line in enumerate(lines, 1):
            log.lines += 1
            _line(log, seen, source, lineno, line)
    return log


def summary(log: AuditLog) -> str:
    """``12 SECCOMP records; skipped: 3 other audit records (SYSCALL 2, AVC 1), 40 other lines``."""
    skipped = []
    if log.other_records:
        kinds = ", ".join(f"{k} {n}" for k, n in sorted(log.other_records.items(),
                                                         key=lambda kv: (-kv[1], kv[0]))[:6])
        skipped.append(f"{log.other_records.total()} other audit record(s) ({kinds})")
    if log.other_lines:
        skipped.append(f"{log.other_lines} line(s) that are no audit record")
    if log.unparsed:
        skipped.append(f"{len(log.unparsed)} SECCOMP record(s) not understood")
    if log.duplicates:
        skipped.append(f"{log.duplicates} duplicate record(s) (the same audit serial)")
    text = f"{len(log.records)} SECCOMP record(s) in {log.lines} line(s)"
    return text + (f"; skipped: {', '.join(skipped)}" if skipped else "")


def no_records_error(log: AuditLog, where: str) -> SeccompGenError:
    """The one line for input that holds no usable SECCOMP record."""
    if log.interpreted:
        hint = ("this is interpreted output (ausearch -i), which names calls with auditd's own "
                "tables: give the raw records (ausearch -m SECCOMP, without -i)")
    else:
        hint = ("the kernel writes them for a profile whose default action is SCMP_ACT_LOG "
                "(seccomp-gen generate --default-action log): with auditd running in "
                "/var/log/audit/audit.log (or ausearch -m SECCOMP), else in the kernel log "
                "(dmesg, journalctl -k)")
    return SeccompGenError(f"no SECCOMP audit records found: {summary(log)}", path=where,
                           hint=hint)


ArchNamer = Callable[[int, int], str]
SyscallNamer = Callable[[str, int], str]


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds")


def _programs(records: Iterable[SeccompRecord]) -> str:
    counts = Counter(r.exe for r in records)
    shown = ", ".join(f"{exe} ({n})" for exe, n in counts.most_common(5))
    return shown + (f" and {len(counts) - 5} more" if len(counts) > 5 else "")


def _selected(log: AuditLog, exes: Sequence[str], pids: Sequence[int],
              where: str) -> tuple[list[SeccompRecord], list[str]]:
    """The records of the programs asked for (all without a filter), and the notes on it."""
    records = [r for _s, _n, r in log.records]
    if not exes and not pids:
        return records, []
    want_exes, want_pids = frozenset(exes), frozenset(pids)
    kept: list[SeccompRecord] = []
    left: list[SeccompRecord] = []
    for r in records:
        wanted = (not want_exes or r.exe in want_exes) and (not want_pids or r.pid in want_pids)
        (kept if wanted else left).append(r)
    what = " and ".join(filter(None, (
        ", ".join(f"--exe {e}" for e in exes), ", ".join(f"--pid {p}" for p in pids))))
    if not kept:
        raise SeccompGenError(f"none of the {len(records)} SECCOMP record(s) is of {what}",
                              path=where, hint=f"programs in the records: {_programs(records)}")
    note = f"kept only the records of {what}"
    if left:
        note += f"; {len(left)} record(s) of other programs left out: {_programs(left)}"
    return kept, [note]


def to_trace(log: AuditLog, header: TraceHeader, arch_name: ArchNamer,
             syscall_name: SyscallNamer, *, where: str, arch: str | None = None,
             exes: Sequence[str] = (), pids: Sequence[int] = ()) -> Trace:
    """The trace of the records (of ``exes``/``pids`` when given), every call named with its own
    ABI's table. ``arch`` names the machine (its family's records are kept, others left out and
    noted); without it the records must all be of one machine's family, which names the host.
    ``header``: provenance; its command, host arch, times and notes are filled in here. Raises a
    one-line SeccompGenError when there is nothing to import."""
    if not log.records:
        raise no_records_error(log, where)
    records, notes = _selected(log, exes, pids, where)
    names: dict[tuple[int, int], tuple[str, str]] = {}
    for r in records:
        key = (r.arch, r.syscall)
        if key not in names:
            a = arch_name(r.arch, r.syscall)
            names[key] = (a, syscall_name(a, r.syscall))
    families = Counter(family_of(names[(r.arch, r.syscall)][0])[0] for r in records)
    if arch is not None:
        host = arch
        keep = family_of(arch)
        other = Counter(names[(r.arch, r.syscall)][0] for r in records
                        if names[(r.arch, r.syscall)][0] not in keep)
        records = [r for r in records if names[(r.arch, r.syscall)][0] in keep]
        if not records:
            raise SeccompGenError(f"none of the SECCOMP records is of {arch} or its other ABIs "
                                  f"({', '.join(keep)}); their arches: "
                                  f"{', '.join(sorted(other))}", path=where)
        if other:
            notes.append(f"{other.total()} record(s) of other machines' arches left out: "
                         + ", ".join(f"{a} {n}" for a, n in sorted(other.items())))
    elif len(families) > 1:
        raise SeccompGenError(
            "the records come from different kinds of machine: "
            + ", ".join(f"{f} ({n} records)" for f, n in sorted(families.items())), path=where,
            hint="give --arch to keep one machine's records (e.g. --arch x86_64)")
    else:
        host = next(iter(families))
        if host not in FAMILIES:
            raise SeccompGenError(f"the records' arch is not one libseccomp knows: {host}",
                                  path=where, hint="were they written by another kind of kernel?")

    raw = RawRecording()
    tokens: dict[tuple[int, str], int] = {}
    actions: Counter[str] = Counter()
    denied: dict[tuple[str, str, str], int] = {}
    for r in records:
        token = tokens.get((r.pid, r.exe))
        if token is None:
            token = tokens[(r.pid, r.exe)] = raw.new_token(r.pid, r.exe)
            proc = raw.processes.get(r.pid)
            if proc is None:
                raw.processes[r.pid] = ProcessState(pid=r.pid, ppid=None, exes=[r.exe])
            else:
                proc.exes.append(r.exe)
        raw.count(r.arch, r.syscall, token, UNRETURNED)
        action = r.action
        actions[action] += 1
        if action != "log":
            a, n = names[(r.arch, r.syscall)]
            denied[(a, n, action)] = denied.get((a, n, action), 0) + 1
    for key, (a, n) in names.items():
        if fields_for(a, n) is not None:
            raw.capped.add(key)  # no arguments in the records: the set is incomplete

    notes.insert(0, NOTE_NO_ARGS)
    notes.append("actions in the records: " + ", ".join(
        f"{a} {n}" for a, n in sorted(actions.items(), key=lambda kv: (-kv[1], kv[0]))))
    if denied:
        listed = sorted(denied.items())
        shown = ", ".join(f"{a} {n} ({act} x{c})" for (a, n, act), c in listed[:SHOW_DENIED])
        more = f" and {len(listed) - SHOW_DENIED} more" if len(listed) > SHOW_DENIED else ""
        notes.append("calls the filter did not let through as LOG (an enforcing profile denied "
                     f"them; imported as calls the program makes): {shown}{more}")
    if log.unparsed:
        first = ", ".join(f"{s}:{n}" for s, n, _ in log.unparsed[:5])
        notes.append(f"{len(log.unparsed)} SECCOMP record(s) could not be read and are not "
                     f"counted (first: {first})")
    if log.suppressed or log.losses:
        lost = (f"{log.suppressed} record(s) suppressed by the kernel log's rate limit"
                if log.suppressed else "the kernel reported lost audit records")
        notes.append(f"{lost}: calls may be missing from this trace; read the records with "
                     "auditd (audit.log), or lift the limit (sysctl kernel.printk_ratelimit=0) "
                     "while the workload runs")
    notes.append(f"read: {summary(log)}")
    times = sorted(t for t in (stamp_seconds(r.stamp) for r in records if r.stamp)
                   if t is not None)
    exe_set = sorted({r.exe for r in records})
    hdr = replace(
        header, host_arch=host, command=(exe_set[0],) if len(exe_set) == 1 else ("?",),
        started=_iso(times[0]) if times else "", ended=_iso(times[-1]) if times else "",
        duration_s=round(times[-1] - times[0], 3) if times else 0.0,
        records_args=False, records_results=False, notes=(*header.notes, *notes))
    by_arch = {(a, nr): n for (_audit, nr), (a, n) in names.items()}
    return build_trace(raw, hdr, lambda audit, nr: names[(audit, nr)][0],
                       lambda a, nr: by_arch[(a, nr)])
