"""Every piece of rich output: summary tables, the live status line, and error lines.

The library never prints; the CLI hands a trace to these functions. Tables go to stderr when a
workload is running (its stdout is the user's), to stdout for ``show``.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from itertools import islice
from typing import TYPE_CHECKING, Any

from rich.cells import cell_len
from rich.console import Console
from rich.text import Text

from ..formats import as_written
from ..model import Trace, Violation
from ..profile import Profile
from ..recorders import LiveStats
from ..safetext import printable
from ..syscalls.arches import family_of
from .text import describe_exit

if TYPE_CHECKING:  # rich.table (4 ms) only for a table: run and check without violations print none
    from rich.table import Table


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


def iter_process_rows(trace: Trace) -> Iterator[dict[str, Any]]:
    """One row per traced process, in the order they appeared, made as they are used (a trace
    can hold millions)."""
    for p in trace.processes:
        yield {
            "pid": p.pid,
            "ppid": p.ppid,
            "exes": list(p.exes),
            "threads": p.threads,
            "syscalls": p.syscalls,
            "exit": describe_exit(p.exit),
        }


def process_rows(trace: Trace) -> list[dict[str, Any]]:
    """One row per traced process, in the order they appeared."""
    return list(iter_process_rows(trace))


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
    from rich.table import Table

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
            cell = Text(printable(f"{errors} ({detail})") if errors else "0",
                        style="yellow" if errors else "")
        table.add_row(Text(printable(row["syscall"])), printable(row["arch"]),
                      str(row["count"]), str(row["processes"]), cell)
    return table


#: (title, (column, justify)...) of the process and executable views.
_PROCESS_COLUMNS = ("processes", (("pid", "right"), ("ppid", "right"), ("executables", "left"),
                                  ("threads", "right"), ("syscalls", "right"),
                                  ("ended", "left")))
_EXE_COLUMNS = ("executables", (("executable", "left"), ("processes", "right"),
                                ("distinct", "right"), ("calls", "right"),
                                ("most called", "left")))
#: Above this many rows a view is printed as plain lines, this many at a time, in the layout of
#: the table (see :func:`print_view`), so that a million processes never sit in one rich Table.
CHUNK_ROWS = 2000


def _process_cells(trace: Trace) -> Iterator[tuple[str, ...]]:
    for p in trace.processes:
        yield (str(p.pid), str(p.ppid or ""), printable(" -> ".join(p.exes)), str(p.threads),
               str(p.syscalls), describe_exit(p.exit))


def _exe_cells(trace: Trace) -> Iterator[tuple[str, ...]]:
    for row in exe_rows(trace):
        yield (printable(row["exe"]), str(row["processes"]), str(row["distinct"]),
               str(row["calls"]), printable(", ".join(row["top"])))


def _table(spec: tuple[str, tuple[tuple[str, str], ...]],
           rows: Iterable[tuple[str, ...]]) -> Table:
    title, columns = spec
    from rich.table import Table

    table = Table(title=title, title_justify="left", box=None, pad_edge=False)
    for col, just in columns:
        table.add_column(col, justify=just)  # type: ignore[arg-type]
    for cells in rows:
        table.add_row(*(Text(c) for c in cells))
    return table


def process_table(trace: Trace, top: int | None = None) -> Table:
    """The per-process view (the first ``top`` processes)."""
    return _table(_PROCESS_COLUMNS, islice(_process_cells(trace), top or None))


def exe_table(trace: Trace, top: int | None = None) -> Table:
    """The per-executable view (the ``top`` first)."""
    return _table(_EXE_COLUMNS, islice(_exe_cells(trace), top or None))


def print_view(console: Console, trace: Trace, by: str, top: int | None = None) -> None:
    """Print one view of a trace (``syscall``, ``process`` or ``exe``), its first ``top`` rows.

    A view of more than :data:`CHUNK_ROWS` rows is printed at its natural width (not wrapped to
    the terminal's): rich draws the title and the header with the widths of the whole view, and
    the rows are written as plain lines in the same layout, :data:`CHUNK_ROWS` at a time, so
    memory stays the same for a thousand processes or millions (and a million rows take
    seconds, not the half hour rich's table layout takes)."""
    if by == "syscall":
        console.print(summary_table(trace, top=top))
        return
    spec, cells = ((_PROCESS_COLUMNS, _process_cells) if by == "process"
                   else (_EXE_COLUMNS, _exe_cells))
    top = top or None
    count = len(trace.processes) if by == "process" else len(trace.exes)
    if top:
        count = min(count, top)
    if count <= CHUNK_ROWS:
        console.print(_table(spec, islice(cells(trace), top)))
        return
    widths = [cell_len(name) for name, _ in spec[1]]
    for row in islice(cells(trace), top):
        widths = [max(w, cell_len(c)) for w, c in zip(widths, row, strict=True)]
    total = sum(widths) + 2 * (len(widths) - 1)
    # Laid out as rich lays out the table when it has room: two spaces between columns, the
    # title padded to the table's width, the header in the table's header style.
    right = [just == "right" for _, just in spec[1]]
    title, columns = spec
    console.print(Text(title + " " * (total - len(title)), style="table.title"), soft_wrap=True)
    console.print(Text(_line([name for name, _ in columns], widths, right)[:-1],
                       style="table.header"), soft_wrap=True)
    rows = islice(cells(trace), top)
    while True:
        chunk = list(islice(rows, CHUNK_ROWS))
        if not chunk:
            break
        console.file.write("".join(_line(row, widths, right) for row in chunk))


def _line(cells: Sequence[str], widths: Sequence[int], right: Sequence[bool]) -> str:
    padded = [" " * (w - cell_len(c)) + c if r else c + " " * (w - cell_len(c))
              for c, w, r in zip(cells, widths, right, strict=True)]
    return "  ".join(padded) + "\n"


def totals_line(trace: Trace) -> str:
    """One line with the totals of a trace."""
    h = trace.header
    arches = sorted({r.arch for r in trace.syscalls})
    pinned = f", pinned to CPU {h.pinned_cpu}" if h.pinned_cpu is not None else ", not pinned"
    return printable(
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
        console.print(Text(printable(f"note: {note}"), style="dim"), soft_wrap=True)


def status_segments(stats: LiveStats, command: str) -> list[tuple[str, str]]:
    """The one-line status shown while recording: elapsed, processes, syscalls, distinct, as
    (text, SGR) pieces for :class:`seccomp_gen.cli.statusline.StatusLine`."""
    elapsed = time.monotonic() - stats.started if stats.started else 0.0
    return [("recording ", "1;36"), (command, "1"),
            (f"  {elapsed:6.1f}s  processes {stats.processes_alive}  "
             f"syscalls {stats.total()}  distinct {stats.distinct()}", "")]


class LoadProgress:
    """A transient progress bar for reading and parsing a big input, on a terminal, gone when
    the load is done (the CLI's :func:`seccomp_gen.progress.set_progress` hook draws it)."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.progress: Any = None
        self.tasks: dict[str, Any] = {}

    def __call__(self, what: str, done: int, total: int | None) -> None:
        if what not in self.tasks and done == total:
            return  # finished before a bar was needed
        if self.progress is None:
            from rich.progress import (
                BarColumn,
                DownloadColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            self.progress = Progress(TextColumn("{task.description}"), BarColumn(),
                                     DownloadColumn(), TimeElapsedColumn(),
                                     console=self.console, transient=True)
            self.progress.start()
        task = self.tasks.get(what)
        if task is None:
            task = self.tasks[what] = self.progress.add_task(printable(what), total=total)
        self.progress.update(task, completed=done, total=total)
        if done == total:
            self.progress.remove_task(self.tasks.pop(what))
            if not self.tasks:
                self.close()

    def close(self) -> None:
        """Take the bar off the terminal (also after an error)."""
        if self.progress is not None:
            self.progress.stop()
            self.progress = None
            self.tasks.clear()


def note_line(console: Any, note: str) -> None:
    """A ``note: ...`` line, dimmed."""
    console.print(Text(f"note: {note}", style="dim"), soft_wrap=True)


def consumer_notes(console: Any, profile: Profile, fmt: str) -> None:
    """A note line for each way the format's consumers read the profile differently from what
    it says (Docker 20.10 and ``defaultErrnoRet``)."""
    from ..formats import consumer_notes as format_notes

    for note in format_notes(profile, fmt):
        note_line(console, note)


def trace_heading(path: str, command: str) -> Text:
    """``show``'s first line: the trace file in bold, then the command it recorded."""
    return Text.assemble((printable(path), "bold"), printable(f": {command}"))


def make_console(stderr: bool) -> Console:
    """The rich Console the CLI prints with (to stderr or stdout)."""
    return Console(stderr=stderr)


def error_line(console: Console, message: str) -> None:
    """Print one error line, the only form in which the CLI reports a failure."""
    console.print(Text(f"seccomp-gen: error: {message}", style="bold red"), soft_wrap=True)


def warning_line(console: Any, message: str) -> None:
    """One warning line: the command worked, but its result may not be what was meant."""
    console.print(Text(f"seccomp-gen: warning: {message}", style="bold yellow"), soft_wrap=True)


def diff_table(rows: list[dict[str, Any]]) -> Table:
    """Per-arch counts of what two profiles allow."""
    from rich.table import Table

    table = Table(box=None, pad_edge=False)
    for col in ("arch", "A allows", "B allows", "both", "only A", "only B"):
        table.add_column(col, justify="left" if col == "arch" else "right")
    for r in rows:
        table.add_row(r["arch"], str(r["a_allowed"]), str(r["b_allowed"]), str(r["both"]),
                      Text(str(len(r["only_a"])), style="green" if r["only_a"] else ""),
                      Text(str(len(r["only_b"])), style="red" if r["only_b"] else ""))
    return table


# --- import, check, diff (argument conditions) -------------------------------------------------


def unparsed_lines(console: Any, unparsed: list[tuple[str, int, str]], show: int) -> None:
    """How many lines of an strace log were not understood, and the first ``show`` of them."""
    console.print(Text(f"warning: {len(unparsed)} line(s) not understood and not counted:",
                       style="yellow"), soft_wrap=True)
    for source, lineno, text in unparsed[:show]:
        console.print(Text(printable(f"  {source}:{lineno}: {text[:120]}")), soft_wrap=True)
    if len(unparsed) > show:
        console.print(Text(f"  ... and {len(unparsed) - show} more", style="dim"))


def check_lines(rows: list[dict[str, Any]]) -> list[Text]:
    """The syscalls a run needed that the profile does not allow, one line each (no table, so
    that CI logs of any width keep every field): arch, name, calls, new argument values, and
    the executables (and first process) that made them."""
    lines = []
    for r in rows:
        calls = f"{r['count']} call" + ("" if r["count"] == 1 else "s")
        line = Text.assemble(f"  {r['arch']} ", (r["syscall"], "bold red"), f" ({calls})")
        if r["args"]:
            line.append(f" with {'; '.join(r['args'])}")
        line.append(printable(f", made by {', '.join(r['exes'])} (first pid {r['first_pid']})"))
        lines.append(line)
    return lines


def diff_args_lines(rows: list[dict[str, Any]]) -> list[str]:
    """One line per syscall whose argument conditions differ between A and B."""
    lines = []
    for r in rows:
        for d in r.get("args", []):
            parts = []
            if d["only_a"]:
                parts.append("only A: " + " | ".join(d["only_a"]))
            if d["only_b"]:
                parts.append("only B: " + " | ".join(d["only_b"]))
            lines.append(f"{r['arch']} {d['syscall']}: " + "; ".join(parts))
    return lines


# --- seccomp-gen run: violations -----------------------------------------------------------------


def violation_line(v: Violation, mode: str) -> Text:
    """One line per denied call, as it happens: pid, exe, arch, call(args) -> what happened."""
    from ..enforce.run import outcome
    from ..syscalls.argdecode import format_call

    call = format_call(v.arch, v.name, v.args) if v.args else f"{v.name}(?)"
    tid = f"/{v.tid}" if v.tid != v.pid else ""
    rule = " (by rule)" if v.by_rule else ""
    style = "dim" if v.by_rule else "yellow" if mode == "complain" else "red"
    head = "missing " if mode == "complain" and not v.by_rule else "denied "
    return Text.assemble((head, style), printable(f"pid {v.pid}{tid} {v.exe} {v.arch} "),
                         (call, "bold"), f" -> {outcome(v, mode)}{rule}")


def violation_rows(violations: Sequence[Violation], mode: str) -> list[dict[str, Any]]:
    """Violations grouped by (arch, syscall, what happened): count and pids, most frequent
    first; calls the profile does not mention before those an explicit rule answered."""
    from ..enforce.run import outcome

    groups: dict[tuple[str, str, str, bool], dict[str, Any]] = {}
    for v in violations:
        what = outcome(v, mode)
        key = (v.arch, v.name, what, v.by_rule)
        row = groups.get(key)
        if row is None:
            row = groups[key] = {"syscall": v.name, "arch": v.arch, "nr": v.nr, "count": 0,
                                 "pids": [], "exes": [], "action": v.action, "errno": v.errno,
                                 "outcome": what, "by_rule": v.by_rule}
        row["count"] += 1
        if v.pid not in row["pids"]:
            row["pids"].append(v.pid)
        if v.exe not in row["exes"]:
            row["exes"].append(v.exe)
    return sorted(groups.values(),
                  key=lambda r: (r["by_rule"], -r["count"], r["arch"], r["syscall"]))


def violation_table(violations: Sequence[Violation], mode: str) -> Table:
    """The end-of-run summary: syscall, arch, count, pids, what happened."""
    from rich.table import Table

    table = Table(title="denied syscalls", title_justify="left", box=None, pad_edge=False)
    for col, just in (("syscall", "left"), ("arch", "left"), ("count", "right"),
                      ("pids", "left"), ("action", "left")):
        table.add_column(col, justify=just)  # type: ignore[arg-type]
    for row in violation_rows(violations, mode):
        pids = row["pids"]
        shown = ", ".join(str(p) for p in pids[:4]) + (f" +{len(pids) - 4}" if len(pids) > 4
                                                        else "")
        table.add_row(Text(row["syscall"], style="dim" if row["by_rule"] else ""), row["arch"],
                      str(row["count"]), shown,
                      Text(row["outcome"] + (" (by rule)" if row["by_rule"] else "")))
    return table


# --- profiles written --------------------------------------------------------------------------


def _syscalls(n: int) -> str:
    return f"{n} syscall" if n == 1 else f"{n} syscalls"


def profile_summary(profile: Profile, fmt: str, output: str) -> str:
    """What was written, in one line: how many syscalls are allowed on which arch, and which
    listed arches allow none (OCI applies every name to every listed arch: it has none)."""
    shown = as_written(profile, fmt)
    counts = {a: len(shown.names(a)) for a in shown.architectures}
    allowed = [a for a in shown.architectures if counts[a]]
    empty = [a for a in shown.architectures if not counts[a]]
    one = len(empty) == 1
    if len({counts[a] for a in allowed}) > 1:
        where = f"{_syscalls(counts[allowed[0]])} allowed on {allowed[0]}, " + ", ".join(
            f"{counts[a]} on {a}" for a in allowed[1:])
    else:
        where = f"{_syscalls(len(profile.names()))} allowed on {', '.join(allowed) or 'no arch'}"
    msg = f"{fmt} profile written to {output}: {where}"
    if empty and fmt == "lxc":
        msg += (f"; {', '.join(f'[{a}]' for a in empty)} "
                f"{'is an empty section' if one else 'are empty sections'} (LXC adds the other "
                f"sections' rules to {'that ABI' if one else 'those ABIs'}, where the names exist)")
    elif empty:
        msg += (f"; {', '.join(empty)} {'is' if one else 'are'} listed with no allowed syscalls "
                f"(deny-all for {'that ABI' if one else 'those ABIs'})")
    unlisted = [a for a in family_of(shown.architectures[0]) if a not in shown.architectures] \
        if fmt == "lxc" and shown.architectures else []
    if unlisted:
        msg += (f"; LXC also applies these rules to {', '.join(unlisted)} (it adds every rule to "
                "all of the host's ABIs, whatever the sections say)")
    if profile.skipped:
        msg += f"; {len(profile.skipped)} observed syscall(s) skipped (see the file's comment)"
    return msg
