"""Make a big, valid trace file (many processes) for the resource-limit tests and measurements.

``python tests/helpers/big_trace.py OUT [--processes N]`` writes a trace shaped like a long
build: the syscalls of ``sample_traces/ls.trace.json``, seven executables and N processes (pids,
parent pids, one or two executables, an exit status each). It is written line by line in the
trace file's own layout, so making a 200 MB file takes little memory; a 1,000,000-process trace
is ~170 MB.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from seccomp_gen.model import TRACE_VERSION

SAMPLE = Path(__file__).resolve().parents[2] / "sample_traces" / "ls.trace.json"
EXES = ("/usr/bin/make", "/usr/bin/gcc", "/usr/lib/gcc/x86_64-linux-gnu/12/cc1", "/usr/bin/as",
        "/usr/bin/ld", "/bin/sh")


def _indent(text: str, spaces: int) -> str:
    return text.replace("\n", "\n" + " " * spaces)


def _process(i: int) -> str:
    pid = 1000 + i
    exes = [EXES[i % len(EXES)]] if i % 3 else [EXES[-1], EXES[i % (len(EXES) - 1)]]
    body = {"pid": pid, "ppid": 1000 + i // 7 if i else 1, "exes": exes, "threads": 1,
            "syscalls": 40 + i % 500,
            "exit": {"code": i % 2} if i % 97 else {"signal": 9, "core_dumped": False}}
    return "  " + _indent(json.dumps(body, indent=1), 2)


def write_big_trace(path: Path, processes: int) -> Path:
    """Write a trace with ``processes`` processes to ``path``; returns ``path``."""
    doc = json.loads(SAMPLE.read_text())
    # The header as this version writes it, whichever version the sample was written in.
    doc["version"] = TRACE_VERSION
    doc["header"] = {k: v for k, v in doc["header"].items() if k != "notes"} | {
        "records_results": doc["header"].get("records_results", True),
        "records_sites": doc["header"].get("records_sites", False),
        "notes": doc["header"].get("notes", [])}
    doc["processes"] = []
    calls = doc["exes"][0]["syscalls"]
    doc["exes"] += [{"exe": exe, "processes": processes // len(EXES),
                     "syscalls": calls[: 5 + i]} for i, exe in enumerate(EXES)]
    doc["exes"].sort(key=lambda e: e["exe"])
    head = json.dumps(doc, indent=1, ensure_ascii=False)
    # Split the sample's text where its (now empty) process list is, and stream ours in.
    before, after = head.split('"processes": []', 1)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(before + '"processes": [\n')
        for i in range(processes):
            fh.write(_process(i) + (",\n" if i + 1 < processes else "\n"))
        fh.write(" ]" + after + "\n")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", type=Path)
    parser.add_argument("--processes", type=int, default=1_000_000)
    args = parser.parse_args()
    write_big_trace(args.output, args.processes)


if __name__ == "__main__":
    main()
