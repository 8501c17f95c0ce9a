"""Every piece of rich output: summary tables, the live status line, and error lines.

The library never prints; the CLI hands a trace to these functions. Tables go to stderr when a
workload is running (its stdout is the user's), to stdout for ``show``.
"""

from __future__ import annotations

import signal
import time
from typing import Any

from rich.console import Console, ConsoleOptions, RenderResult
from rich.table import Table
from rich.text import Text

from .model import ExitStatus, Trace
from .recorders import LiveStats


def describe_exit(status: ExitStatus | None) -> str:
    """``exit 0`` / ``killed by SIGTERM`` / ``unknown``."""
    if status is None:
        return "unknown"
    if status.signal is not None:
        try:
            name = signal.Signals(status.signal).name
        except ValueError:
            name = f"signal {status.signal}"
        return f"killed by {name}" + (" (core dumped)" if status.core_dumped else "")
    return f"exit {status.code}"


def syscall_rows(trace: Trace) -> list[dict[str, Any]]:
    """Summary rows like ``strace -c``: most frequent first, ties by arch and name.

    ``errors`` is None when the backend could not see return values (the seccomp backend).
    """
    rows: list[dict[str, Any]] = [
        {
            "syscall": r.name,
            "arch": r.arch,
            "nr": r.nr,
            "count": r.count,
            "processes": r.processes,
            "errors": r.errors if trace.header.records_results else None,
            "results": dict(r.results),
        }
        for r in trace.syscalls
    ]
    rows.sort(key=lambda row: (-int(row["count"]), row["arch"], row["syscall"]))
    return rows


def process_rows(trace: Trace) -> list[dict[str, Any]]:
    """One row per traced process, in the order they appeared."""
    return [
        {
            "pid": p.pid,
            "ppid": p.ppid,
            "exes": list(p.exes),
            "threads": p.threads,
            "syscalls": p.syscalls,
            "exit": describe_exit(p.exit),
        }
        for p in trace.processes
    ]


def exe_rows(trace: Trace) -> list[dict[str, Any]]:
    """One row per executable: how many processes ran it and what it called."""
    rows = []
    for e in trace.exes:
        ranked = sorted(e.syscalls.items(), key=lambda kv: (-kv[1], kv[0]))
        rows.append(
            {
                "exe": e.exe,
                "processes": e.processes,
                "distinct": len(e.syscalls),
                "calls": sum(e.syscalls.values()),
                "top": [f"{name}" if arch == "x86_64" else f"{arch}/{name}"
                        for (arch, name), _ in ranked[:6]],
            }
        )
    return rows


def summary_table(trace: Trace, top: int | None = None) -> Table:
    """The per-syscall table: syscall, arch, count, processes, errors."""
    table = Table(title="syscalls", title_justify="left", box=None, pad_edge=False)
    table.add_column("syscall")
    table.add_column("arch")
    table.add_column("count", justify="right")
    table.add_column("processes", justify="right")
    table.add_column("errors", justify="right")
    rows = syscall_rows(trace)
    for row in rows[:top] if top else rows:
        errors = row["errors"]
        detail = ", ".join(f"{k} {v}" for k, v in row["results"].items() if k != "ok")
        if errors is None:
            cell = Text("n/a", style="dim")
        else:
            cell = Text(f"{errors} ({detail})" if errors else "0", style="yellow" if errors else "")
        table.add_row(Text(row["syscall"]), row["arch"], str(row["count"]),
                      str(row["processes"]), cell)
    return table


def process_table(trace: Trace) -> Table:
    """The per-process view."""
    table = Table(title="processes", title_justify="left", box=None, pad_edge=False)
    for col, just in (("pid", "right"), ("ppid", "right"), ("executables", "left"),
                      ("threads", "right"), ("syscalls", "right"), ("ended", "left")):
        table.add_column(col, justify=just)  # type: ignore[arg-type]
    for row in process_rows(trace):
        table.add_row(str(row["pid"]), str(row["ppid"] or ""), Text(" -> ".join(row["exes"])),
                      str(row["threads"]), str(row["syscalls"]), row["exit"])
    return table


def exe_table(trace: Trace) -> Table:
    """The per-executable view."""
    table = Table(title="executables", title_justify="left", box=None, pad_edge=False)
    for col, just in (("executable", "left"), ("processes", "right"), ("distinct", "right"),
                      ("calls", "right"), ("most called", "left")):
        table.add_column(col, justify=just)  # type: ignore[arg-type]
    for row in exe_rows(trace):
        table.add_row(Text(row["exe"]), str(row["processes"]), str(row["distinct"]),
                      str(row["calls"]), Text(", ".join(row["top"])))
    return table


def totals_line(trace: Trace) -> str:
    """One line with the totals of a trace."""
    h = trace.header
    arches = sorted({r.arch for r in trace.syscalls})
    pinned = f", pinned to CPU {h.pinned_cpu}" if h.pinned_cpu is not None else ", not pinned"
    return (
        f"{trace.total_calls} calls, {len(trace.syscalls)} distinct syscalls "
        f"({', '.join(arches) or 'none'}), {_plural(len(trace.processes), 'process', 'es')}, "
        f"{h.duration_s:.2f}s, {describe_exit(h.exit)}; {h.backend} on {h.kernel}{pinned}"
    )


def _plural(n: int, word: str, suffix: str = "s") -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}{suffix}"


def print_totals(console: Console, trace: Trace) -> None:
    """The totals line, then the header's notes (what the backend could not see, and why)."""
    console.print(totals_line(trace), soft_wrap=True, highlight=False, markup=False)
    for note in trace.header.notes:
        console.print(Text(f"note: {note}", style="dim"), soft_wrap=True)


class LiveStatus:
    """The one-line status shown while recording: elapsed, processes, syscalls, distinct."""

    def __init__(self, stats: LiveStats, command: str) -> None:
        self.stats = stats
        self.command = command

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        s = self.stats
        elapsed = time.monotonic() - s.started if s.started else 0.0
        yield Text.assemble(
            ("recording ", "bold cyan"),
            (self.command, "bold"),
            f"  {elapsed:6.1f}s  processes {s.processes_alive}  "
            f"syscalls {s.total()}  distinct {s.distinct()}",
        )


def error_line(console: Console, message: str) -> None:
    """Print one error line, the only form in which the CLI reports a failure."""
    console.print(Text(f"seccomp-gen: error: {message}", style="bold red"), soft_wrap=True)


def diff_table(rows: list[dict[str, Any]]) -> Table:
    """Per-arch counts of what two profiles allow."""
    table = Table(box=None, pad_edge=False)
    for col in ("arch", "A allows", "B allows", "both", "only A", "only B"):
        table.add_column(col, justify="left" if col == "arch" else "right")
    for r in rows:
        table.add_row(r["arch"], str(r["a_allowed"]), str(r["b_allowed"]), str(r["both"]),
                      Text(str(len(r["only_a"])), style="green" if r["only_a"] else ""),
                      Text(str(len(r["only_b"])), style="red" if r["only_b"] else ""))
    return table
