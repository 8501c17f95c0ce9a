"""``import`` of what strace recorded of a real run: the same syscalls as our own recording of
the same workload, ``-ff`` files by prefix or list, a static i386 program (the import parser on
hand-written logs: tests/unit/test_merge_import.py)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from helpers.cli import cli_text
from helpers.record import trace_names

#: A deterministic command with two processes (a fork and an exec).
WORKLOAD = ["sh", "-c", "cat /etc/hostname >/dev/null; echo done >/dev/null"]


needs_strace = pytest.mark.skipif(shutil.which("strace") is None, reason="strace not installed")


def strace(tmp_path: Path, *opts: str, argv: list[str] = WORKLOAD) -> None:
    subprocess.run(["strace", *opts, *argv], check=True, capture_output=True, timeout=60,
                   cwd=tmp_path)


@needs_strace
@pytest.mark.live
def test_strace_import_matches_own_recording(tmp_path: Path) -> None:
    strace(tmp_path, "-f", "-o", "w.log")
    res = cli_text("import", tmp_path / "w.log", "-o", tmp_path / "imported.trace.json")
    assert res.returncode == 0, res.stderr
    rec = cli_text("record", "-q", "--backend", "ptrace", "-o", tmp_path / "rec.trace.json", "--",
                   *WORKLOAD, cwd=tmp_path)
    assert rec.returncode == 0, rec.stderr
    imported = trace_names(tmp_path / "imported.trace.json")
    recorded = trace_names(tmp_path / "rec.trace.json")
    assert imported == recorded
    doc = json.loads((tmp_path / "imported.trace.json").read_text())
    # strace -s 32 (its default) truncates the script: kept as far as strace printed it.
    assert doc["header"]["command"][:2] == WORKLOAD[:2]
    assert doc["header"]["command"][2] == WORKLOAD[2][:32] + "..."
    assert doc["header"]["exit"] == {"code": 0}
    assert len(doc["processes"]) == 2
    # strace names the path execve was given (/usr/bin/sh), a live recording /proc/PID/exe.
    assert [p["exes"] for p in doc["processes"]][1] == ["/usr/bin/sh", "/usr/bin/cat"]
    openat = next(s for s in doc["syscalls"] if s["name"] == "openat")
    assert openat["results"].get("ok", 0) >= 1
    # A profile generated from it is the one generated from the live recording.
    diff = cli_text("diff", tmp_path / "imported.trace.json", tmp_path / "rec.trace.json", "--json")
    assert diff.returncode == 0, diff.stdout


@needs_strace
@pytest.mark.live
def test_strace_ff_files_by_prefix_or_list(tmp_path: Path) -> None:
    strace(tmp_path, "-f", "-o", "single.log")
    strace(tmp_path, "-ff", "-o", "split")
    files = sorted(tmp_path.glob("split.*"))
    assert len(files) == 2
    by_prefix = cli_text("import", tmp_path / "split", "-o", tmp_path / "a.trace.json")
    assert by_prefix.returncode == 0, by_prefix.stderr
    by_list = cli_text("import", *files, "-o", tmp_path / "b.trace.json")
    assert by_list.returncode == 0, by_list.stderr
    single = cli_text("import", tmp_path / "single.log", "-o", tmp_path / "c.trace.json")
    assert single.returncode == 0, single.stderr
    a, b = (json.loads((tmp_path / n).read_text()) for n in ("a.trace.json", "b.trace.json"))
    assert a["syscalls"] == b["syscalls"]
    assert trace_names(tmp_path / "a.trace.json") == trace_names(tmp_path / "c.trace.json")
    pids = [p["pid"] for p in a["processes"]]
    assert pids == sorted(int(f.name.split(".")[-1]) for f in files)
    assert a["processes"][1]["ppid"] == pids[0]


@needs_strace
@pytest.mark.live
def test_32_bit_program_from_strace_o_file(tmp_path: Path, cbuild: object) -> None:
    hello32 = cbuild["hello32"]  # type: ignore[index]
    strace(tmp_path, "-f", "-o", "h.log", argv=[hello32])
    res = cli_text("import", tmp_path / "h.log", "-o", tmp_path / "h.trace.json")
    assert res.returncode == 0, res.stderr
    got = trace_names(tmp_path / "h.trace.json")
    assert ("x86_64", "execve") in got and ("x86", "write") in got
    assert {a for a, _ in got} == {"x86_64", "x86"}
    rec = cli_text("record", "-q", "--backend", "ptrace", "-o", tmp_path / "r.json", "--", hello32,
                   cwd=tmp_path)
    assert rec.returncode == 0
    assert got == trace_names(tmp_path / "r.json")
    doc = json.loads((tmp_path / "h.trace.json").read_text())
    assert any("32 bit mode" in n for n in doc["header"]["notes"])
