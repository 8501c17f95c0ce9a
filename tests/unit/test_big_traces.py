"""Big traces (issue 11, item 6): read one record at a time, written piece by piece, --top in
every view, progress on a terminal, and memory within a small multiple of the file's size.

The streaming reader and writer must give exactly what the plain JSON path gives (same model,
same bytes). Traces of many processes are made by ``tests/helpers/big_trace.py``.
"""

from __future__ import annotations

import io
import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.big_trace import write_big_trace
from helpers.paths import SAMPLES as SAMPLE_DIR
from rich.console import Console

from seccomp_gen.cli import console as ui
from seccomp_gen.files import traces
from seccomp_gen.formats import tracefile

SAMPLES = sorted(SAMPLE_DIR.glob("*.trace.json"))
CLI = [sys.executable, "-m", "seccomp_gen"]


def cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    # subprocess.run SIGKILLs the child when the timeout expires. Wide, so that no row wraps.
    return subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True, timeout=300,
                          check=False, stdin=subprocess.DEVNULL,
                          env={**os.environ, "COLUMNS": "250"})


@pytest.fixture(scope="module")
def many(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A trace of 5,000 processes (more than one chunk of a printed view)."""
    return write_big_trace(tmp_path_factory.mktemp("big") / "many.trace.json", 5_000)


def test_streaming_reader_equals_the_plain_json_path(many: Path) -> None:
    for path in [*SAMPLES, many]:
        text = path.read_text()
        assert tracefile.loads(text, str(path)) == tracefile.from_json(json.loads(text))
    # Keys in another order than seccomp-gen writes them: read the slow way, same trace.
    doc = json.loads(SAMPLES[0].read_text())
    reordered = {k: doc[k] for k in ("exes", "syscalls", "processes", "header", "version",
                                     "format")}
    assert tracefile.loads(json.dumps(reordered)) == tracefile.loads(json.dumps(doc))


def test_writer_gives_the_bytes_of_json_dumps(many: Path) -> None:
    for path in [*SAMPLES, many]:
        trace = traces.load(path)
        expected = json.dumps(tracefile.to_json(trace), indent=1, ensure_ascii=False) + "\n"
        assert tracefile.dumps(trace) == expected
    assert tracefile.dumps(traces.load(many)) == many.read_text()


@pytest.mark.parametrize("view", ["syscall", "process", "exe"])
def test_top_is_honoured_in_every_view(many: Path, view: str) -> None:
    """``show --by process --top 3`` printed every process (and grew past 5 GB on a big
    trace)."""
    res = cli("show", many, "--by", view, "--top", "3")
    assert res.returncode == 0, res.stderr
    title = {"syscall": "syscalls", "process": "processes", "exe": "executables"}[view]
    lines = res.stdout.splitlines()
    start = lines.index(next(line for line in lines if line.startswith(title)))
    assert len(lines) == start + 2 + 3 + 1, res.stdout  # title, header, 3 rows, totals
    doc = json.loads(cli("show", many, "--by", view, "--top", "3", "--json").stdout)
    assert len(doc["rows"]) == 3
    assert "must be 1 or more" in cli("show", many, "--top", "0").stderr


def test_show_json_streams_the_same_document(many: Path) -> None:
    trace = traces.load(many)
    # The ls sample it is made from has call sites (already named): the syscall rows carry them
    # as the trace file holds them.
    assert trace.header.records_sites
    by_key = {(r.arch, r.name): r for r in trace.syscalls}
    with_sites = [{**row, "sites": [tracefile.site_to_json(s)
                                    for s in by_key[(row["arch"], row["syscall"])].sites],
                   "sites_other": by_key[(row["arch"], row["syscall"])].sites_other}
                  for row in ui.syscall_rows(trace)]
    for view, rows in (("process", ui.process_rows(trace)), ("exe", ui.exe_rows(trace)),
                       ("syscall", with_sites)):
        res = cli("show", many, "--by", view, "--json")
        expected = {"trace": str(many), "header": tracefile.to_json(trace)["header"],
                    "totals": {"calls": trace.total_calls, "distinct": len(trace.syscalls),
                               "processes": len(trace.processes)},
                    "view": view, "rows": rows}
        assert res.stdout == json.dumps(expected, indent=1) + "\n"


@pytest.mark.parametrize("width", [300, 80])
def test_a_long_view_is_printed_in_chunks_that_read_as_one_table(many: Path, width: int) -> None:
    """Printed in chunks, a long view is the table rich prints when it has room (on a narrow
    terminal too: a long view is not wrapped)."""
    trace = traces.load(many)
    assert len(trace.processes) > ui.CHUNK_ROWS
    whole = Console(file=io.StringIO(), width=300)
    whole.print(ui.process_table(trace))
    chunked = Console(file=io.StringIO(), width=width)
    ui.print_view(chunked, trace, "process")
    assert chunked.file.getvalue() == whole.file.getvalue()  # type: ignore[attr-defined]
    assert len(chunked.file.getvalue().splitlines()) == 2 + 5_000  # type: ignore[attr-defined]


def _peak_rss_kib(argv: list[str]) -> int:
    """Peak RSS of one command, from a fresh parent whose only child it is."""
    probe = ("import resource, subprocess, sys\n"
             "res = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, timeout=600)\n"
             "assert res.returncode == 0, res.returncode\n"
             "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n")
    out = subprocess.run([sys.executable, "-c", probe, *argv], capture_output=True, text=True,
                         timeout=700, check=True)
    return int(out.stdout.split()[-1])


def test_memory_stays_within_a_small_multiple_of_the_file(tmp_path: Path) -> None:
    """THE ONE MEMORY BOUND (a generous one): show, generate and merge of a 300,000-process
    trace (~50 MB) each peak below 4x the file's size plus 150 MB for the interpreter and
    libraries. Before the fix they took ~8x (a 200 MB trace: 1.7 GB; merge 3.5 GB and more)."""
    big = write_big_trace(tmp_path / "big.trace.json", 300_000)
    size_kib = big.stat().st_size // 1024
    limit = 4 * size_kib + 150 * 1024
    # merge reads the trace twice: a second copy of one run, on purpose
    for argv in (["show", str(big)], ["generate", str(big), "-o", str(tmp_path / "p.json")],
                 ["merge", str(big), str(big), "--allow-duplicates",
                  "-o", str(tmp_path / "m.json")]):
        peak = _peak_rss_kib([*CLI, *argv])
        assert peak < limit, f"{argv[0]}: peak RSS {peak} KiB for a {size_kib} KiB trace"


@pytest.mark.skipif(shutil.which("script") is None, reason="util-linux `script` is missing")
def test_progress_on_a_terminal_only(tmp_path: Path) -> None:
    big = write_big_trace(tmp_path / "big.trace.json", 110_000)
    assert big.stat().st_size > 16 * 2**20
    log = tmp_path / "typescript"
    cmd = shlex.join([*CLI, "show", str(big), "--top", "1"])
    res = subprocess.run(["script", "-qec", cmd, str(log)], capture_output=True, timeout=300,
                         check=False, stdin=subprocess.DEVNULL)
    screen = log.read_text(errors="replace")
    assert res.returncode == 0, screen
    assert "reading " in screen and "110000 processes" in screen
    piped = cli("show", big, "--top", "1")
    assert piped.returncode == 0 and piped.stderr == ""
    assert "reading" not in piped.stdout
