"""The versioned trace file: a JSON document, documented in the README.

``dumps`` is byte-stable for equal traces (keys in a fixed order, records sorted). ``load`` checks
every field and reports the first problem as one line naming the file and where in it the problem
is (``line:col`` for broken JSON, a JSON path such as ``syscalls[3].count`` for a wrong field).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NoReturn

from .atomicfile import write_atomic
from .errors import TraceFileError
from .model import (
    TRACE_FORMAT,
    TRACE_VERSION,
    ArgValues,
    ExeRecord,
    ExitStatus,
    ProcessRecord,
    SyscallRecord,
    Trace,
    TraceHeader,
)

# --- writing -------------------------------------------------------------------------------------


def _exit_to_json(status: ExitStatus | None) -> dict[str, Any] | None:
    if status is None:
        return None
    if status.signal is not None:
        return {"signal": status.signal, "core_dumped": status.core_dumped}
    return {"code": status.code}


def to_json(trace: Trace) -> dict[str, Any]:
    """The trace as plain JSON data, in the documented layout."""
    h = trace.header
    return {
        "format": TRACE_FORMAT,
        "version": TRACE_VERSION,
        "header": {
            "tool_version": h.tool_version,
            "command": list(h.command),
            "kernel": h.kernel,
            "host_arch": h.host_arch,
            "libseccomp": h.libseccomp,
            "backend": h.backend,
            "pinned_cpu": h.pinned_cpu,
            "started": h.started,
            "ended": h.ended,
            "duration_s": round(h.duration_s, 6),
            "exit": _exit_to_json(h.exit),
            "records_args": h.records_args,
            "records_results": h.records_results,
            "notes": list(h.notes),
        },
        "syscalls": [
            {
                "arch": r.arch,
                "name": r.name,
                "nr": r.nr,
                "count": r.count,
                "processes": r.processes,
                "first_pid": r.first_pid,
                "first_exe": r.first_exe,
                "exes": list(r.exes),
                "results": dict(sorted(r.results.items())),
                "args": None
                if r.args is None
                else {
                    "fields": list(r.args.fields),
                    "indexes": list(r.args.indexes),
                    "values": [list(v) for v in sorted(r.args.values)],
                    "capped": r.args.capped,
                },
            }
            for r in sorted(trace.syscalls, key=lambda r: (r.arch, r.name, r.nr))
        ],
        "processes": [
            {
                "pid": p.pid,
                "ppid": p.ppid,
                "exes": list(p.exes),
                "threads": p.threads,
                "syscalls": p.syscalls,
                "exit": _exit_to_json(p.exit),
            }
            for p in trace.processes
        ],
        "exes": [
            {
                "exe": e.exe,
                "processes": e.processes,
                "syscalls": [
                    {"arch": arch, "name": name, "count": n}
                    for (arch, name), n in sorted(e.syscalls.items())
                ],
            }
            for e in sorted(trace.exes, key=lambda e: e.exe)
        ],
    }


def dumps(trace: Trace) -> str:
    """Serialise a trace; equal traces give equal bytes."""
    return json.dumps(to_json(trace), indent=1, ensure_ascii=False) + "\n"


def dump(trace: Trace, path: str | os.PathLike[str]) -> None:
    """Write a trace file atomically (temp file + rename)."""
    write_atomic(path, dumps(trace))


# --- reading -------------------------------------------------------------------------------------


class _Checker:
    """Reads fields out of decoded JSON, raising a TraceFileError that names file and JSON path."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, where: str, what: str) -> NoReturn:
        raise TraceFileError(f"{where}: {what}", path=self.source)

    def obj(self, value: Any, where: str) -> Mapping[str, Any]:
        if not isinstance(value, dict):
            self.fail(where, f"expected an object, found {type(value).__name__}")
        return value

    def get(self, parent: Mapping[str, Any], key: str, kind: type | tuple[type, ...], where: str,
            *, optional: bool = False, default: Any = None) -> Any:
        path = f"{where}.{key}" if where else key
        if key not in parent:
            if optional:
                return default
            self.fail(path, "missing")
        value = parent[key]
        if value is None and optional:
            return default
        # bool is an int in Python; a count of ``true`` is still wrong.
        if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
            self.fail(path, f"expected {_kind_name(kind)}, found a boolean")
        if not isinstance(value, kind):
            self.fail(path, f"expected {_kind_name(kind)}, found {type(value).__name__}")
        return value

    def int_list(self, value: Any, where: str) -> list[int]:
        if not isinstance(value, list) or not all(
            isinstance(v, int) and not isinstance(v, bool) for v in value
        ):
            self.fail(where, "expected a list of integers")
        return value

    def str_list(self, value: Any, where: str) -> list[str]:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.fail(where, "expected a list of strings")
        return value

    def exit_status(self, value: Any, where: str) -> ExitStatus | None:
        if value is None:
            return None
        o = self.obj(value, where)
        if "signal" in o:
            return ExitStatus(
                signal=self.get(o, "signal", int, where),
                core_dumped=self.get(o, "core_dumped", bool, where, optional=True, default=False),
            )
        return ExitStatus(code=self.get(o, "code", int, where))


def _kind_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    names = {int: "an integer", float: "a number", str: "a string", list: "a list",
             dict: "an object", bool: "a boolean", type(None): "null"}
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def from_json(data: Any, source: str = "<trace>") -> Trace:
    """Validate decoded JSON and build a Trace, or raise TraceFileError naming the problem."""
    c = _Checker(source)
    if not isinstance(data, dict) or data.get("format") != TRACE_FORMAT:
        c.fail("format", f"not a seccomp-gen trace (no \"format\": \"{TRACE_FORMAT}\")")
    version = c.get(data, "version", int, "")
    if version != TRACE_VERSION:
        c.fail("version", f"trace format version {version} is not supported "
               f"(this seccomp-gen reads version {TRACE_VERSION})")
    h = c.obj(c.get(data, "header", dict, ""), "header")
    header = TraceHeader(
        tool_version=c.get(h, "tool_version", str, "header"),
        command=tuple(c.str_list(c.get(h, "command", list, "header"), "header.command")),
        kernel=c.get(h, "kernel", str, "header"),
        host_arch=c.get(h, "host_arch", str, "header"),
        libseccomp=c.get(h, "libseccomp", str, "header"),
        backend=c.get(h, "backend", str, "header"),
        pinned_cpu=c.get(h, "pinned_cpu", int, "header", optional=True),
        started=c.get(h, "started", str, "header"),
        ended=c.get(h, "ended", str, "header"),
        duration_s=float(c.get(h, "duration_s", (int, float), "header")),
        exit=c.exit_status(h.get("exit"), "header.exit"),
        records_args=c.get(h, "records_args", bool, "header", optional=True, default=True),
        records_results=c.get(h, "records_results", bool, "header", optional=True,
                              default=True),
        notes=tuple(c.str_list(c.get(h, "notes", list, "header", optional=True, default=[]),
                               "header.notes")),
    )
    syscalls = []
    for i, item in enumerate(c.get(data, "syscalls", list, "")):
        w = f"syscalls[{i}]"
        r = c.obj(item, w)
        results = c.obj(c.get(r, "results", dict, w, optional=True, default={}), f"{w}.results")
        for k, v in results.items():
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                c.fail(f"{w}.results.{k}", "expected a non-negative integer")
        count = c.get(r, "count", int, w)
        if count < 0:
            c.fail(f"{w}.count", "expected a non-negative integer")
        syscalls.append(
            SyscallRecord(
                arch=c.get(r, "arch", str, w),
                name=c.get(r, "name", str, w),
                nr=c.get(r, "nr", int, w),
                count=count,
                processes=c.get(r, "processes", int, w),
                first_pid=c.get(r, "first_pid", int, w),
                first_exe=c.get(r, "first_exe", str, w),
                exes=tuple(c.str_list(c.get(r, "exes", list, w), f"{w}.exes")),
                results=dict(results),
                args=_load_args(c, r.get("args"), f"{w}.args"),
            )
        )
    processes = []
    for i, item in enumerate(c.get(data, "processes", list, "", optional=True, default=[])):
        w = f"processes[{i}]"
        p = c.obj(item, w)
        processes.append(
            ProcessRecord(
                pid=c.get(p, "pid", int, w),
                ppid=c.get(p, "ppid", int, w, optional=True),
                exes=tuple(c.str_list(c.get(p, "exes", list, w), f"{w}.exes")),
                threads=c.get(p, "threads", int, w),
                syscalls=c.get(p, "syscalls", int, w),
                exit=c.exit_status(p.get("exit"), f"{w}.exit"),
            )
        )
    exes = []
    for i, item in enumerate(c.get(data, "exes", list, "", optional=True, default=[])):
        w = f"exes[{i}]"
        e = c.obj(item, w)
        calls: dict[tuple[str, str], int] = {}
        for j, s in enumerate(c.get(e, "syscalls", list, w)):
            sw = f"{w}.syscalls[{j}]"
            so = c.obj(s, sw)
            calls[(c.get(so, "arch", str, sw), c.get(so, "name", str, sw))] = c.get(
                so, "count", int, sw
            )
        exes.append(
            ExeRecord(exe=c.get(e, "exe", str, w), processes=c.get(e, "processes", int, w),
                      syscalls=calls)
        )
    seen: set[tuple[str, str]] = set()
    for i, rec in enumerate(syscalls):
        if (rec.arch, rec.name) in seen:
            c.fail(f"syscalls[{i}]", f"duplicate record for {rec.arch}/{rec.name}")
        seen.add((rec.arch, rec.name))
    return Trace(header=header, syscalls=tuple(syscalls), processes=tuple(processes),
                 exes=tuple(exes))


def _load_args(c: _Checker, value: Any, where: str) -> ArgValues | None:
    if value is None:
        return None
    a = c.obj(value, where)
    fields = tuple(c.str_list(c.get(a, "fields", list, where), f"{where}.fields"))
    raw_indexes = c.get(a, "indexes", list, where)
    if len(raw_indexes) != len(fields) or not all(
        i is None or (isinstance(i, int) and not isinstance(i, bool) and 0 <= i < 6)
        for i in raw_indexes
    ):
        c.fail(f"{where}.indexes", "expected one register index (0-5) or null per field")
    values = []
    for j, v in enumerate(c.get(a, "values", list, where)):
        row = c.int_list(v, f"{where}.values[{j}]")
        if len(row) != len(fields):
            c.fail(f"{where}.values[{j}]", f"expected {len(fields)} values, found {len(row)}")
        values.append(tuple(row))
    return ArgValues(fields=fields, indexes=tuple(raw_indexes), values=frozenset(values),
                     capped=c.get(a, "capped", bool, where, optional=True, default=False))


def loads(text: str, source: str = "<trace>") -> Trace:
    """Parse trace text; broken JSON is reported with line and column."""
    if not text.strip():
        raise TraceFileError("empty file, not a trace", path=source)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        problem = "truncated" if exc.pos >= len(text.rstrip()) else "corrupt JSON"
        raise TraceFileError(f"{exc.lineno}:{exc.colno}: {problem} ({exc.msg})",
                             path=source) from None
    return from_json(data, source)


def load(path: str | os.PathLike[str]) -> Trace:
    """Read and validate a trace file."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise TraceFileError("no such file", path=str(p)) from None
    except IsADirectoryError:
        raise TraceFileError("is a directory, not a trace file", path=str(p)) from None
    except OSError as exc:
        raise TraceFileError(f"cannot read: {exc.strerror or exc}", path=str(p)) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise TraceFileError(f"byte {exc.start}: not UTF-8 text, not a trace",
                             path=str(p)) from None
    return loads(text, str(p))
