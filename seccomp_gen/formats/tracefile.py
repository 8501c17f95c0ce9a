"""The versioned trace file: a JSON document, documented in the README.

Pure text in, text out (:mod:`seccomp_gen.files.traces` reads and writes the files).
``dumps`` is byte-stable for equal traces (keys in a fixed order, records sorted). ``loads`` checks
every field and reports the first problem as one line naming the file and where in it the problem
is (``line:col`` for broken JSON, a JSON path such as ``syscalls[3].count`` for a wrong field).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from json.decoder import scanstring  # type: ignore[attr-defined]
from json.encoder import encode_basestring
from typing import Any, NoReturn

from ..errors import TraceFileError
from ..jsontext import DECODER, check_strings, json_error, may_hold_surrogates
from ..model import (
    MAX_ARG_VALUE,
    SITE_CAP,
    SITE_KINDS,
    TRACE_FORMAT,
    TRACE_VERSION,
    TRACE_VERSIONS,
    ArgValues,
    CallSite,
    CodeLocation,
    ExeRecord,
    ExitStatus,
    ProcessRecord,
    SyscallRecord,
    Trace,
    TraceHeader,
)
from ..progress import report_progress
from ..safetext import is_arch_name, is_syscall_name, is_utf8, utf8_safe

# --- writing -------------------------------------------------------------------------------------


def _exit_to_json(status: ExitStatus | None) -> dict[str, Any] | None:
    if status is None:
        return None
    if status.signal is not None:
        return {"signal": status.signal, "core_dumped": status.core_dumped}
    return {"code": status.code}


def _duration(h: TraceHeader) -> float:
    if not math.isfinite(h.duration_s):
        raise TraceFileError(f"header.duration_s: {h.duration_s} is not a finite number; a "
                             "trace file holds only finite numbers")
    return round(h.duration_s, 6)


def header_to_json(h: TraceHeader) -> dict[str, Any]:
    """The header as plain JSON data, in the documented layout (``runtime`` only when a
    container's runtime is known, so that other traces stay as they were)."""
    doc = {
        "tool_version": h.tool_version,
        "command": list(h.command),
        "kernel": h.kernel,
        "host_arch": h.host_arch,
        "libseccomp": h.libseccomp,
        "backend": h.backend,
        "pinned_cpu": h.pinned_cpu,
        "started": h.started,
        "ended": h.ended,
        "duration_s": _duration(h),
        "exit": _exit_to_json(h.exit),
        "records_args": h.records_args,
        "records_results": h.records_results,
        "records_sites": h.records_sites,
        "notes": list(h.notes),
    }
    if h.runtime:
        doc["runtime"] = h.runtime
    if h.runs:
        doc["runs"] = list(h.runs)
    return doc


def _syscall_json(r: SyscallRecord) -> dict[str, Any]:
    return {
        "arch": r.arch,
        "name": r.name,
        "nr": r.nr,
        "count": r.count,
        "processes": r.processes,
        "first_pid": r.first_pid,
        "first_exe": r.first_exe,
        "exes": list(r.exes),
        "results": dict(sorted(r.results.items())),
        "args": None if r.args is None else _args_json(r.args),
        # Run coverage of a merged trace, only where some run did not make the call, so that
        # one recording is written as before.
        **({"runs": list(r.runs)} if r.runs else {}),
        **({"sites": [site_to_json(site) for site in r.sites]} if r.sites else {}),
        **({"sites_other": r.sites_other} if r.sites_other else {}),
    }


def _location_json(loc: CodeLocation) -> dict[str, Any]:
    return {"path": loc.path, "offset": loc.offset, "symbol": loc.symbol,
            "symbol_offset": loc.symbol_offset, "kind": loc.kind}


def site_to_json(site: CallSite) -> dict[str, Any]:
    """A call site as the trace file (and ``show --json``) writes it."""
    doc = {**_location_json(site.where), "count": site.count}
    if site.caller is not None:
        doc["caller"] = _location_json(site.caller)
    return doc


def _args_json(a: ArgValues) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "fields": list(a.fields),
        "indexes": list(a.indexes),
        "values": [list(v) for v in sorted(a.values)],
        "capped": a.capped,
    }
    if a.value_runs:
        doc["value_runs"] = [[list(v), list(rs)] for v, rs in sorted(a.value_runs.items())]
    return doc


def _process_json(p: ProcessRecord) -> dict[str, Any]:
    return {
        "pid": p.pid,
        "ppid": p.ppid,
        "exes": list(p.exes),
        "threads": p.threads,
        "syscalls": p.syscalls,
        "exit": _exit_to_json(p.exit),
    }


def _exe_json(e: ExeRecord) -> dict[str, Any]:
    return {
        "exe": e.exe,
        "processes": e.processes,
        "syscalls": [
            {"arch": arch, "name": name, "count": n}
            for (arch, name), n in sorted(e.syscalls.items())
        ],
    }


def _sections(trace: Trace) -> list[tuple[str, Iterable[dict[str, Any]]]]:
    """The record lists of the file, in order, each produced lazily."""
    return [
        ("syscalls", (_syscall_json(r)
                      for r in sorted(trace.syscalls, key=lambda r: (r.arch, r.name, r.nr)))),
        ("processes", (_process_json(p) for p in trace.processes)),
        ("exes", (_exe_json(e) for e in sorted(trace.exes, key=lambda e: e.exe))),
    ]


def to_json(trace: Trace) -> dict[str, Any]:
    """The trace as plain JSON data, in the documented layout (all in memory: for small traces
    and tests; :func:`iter_dumps` writes big ones piece by piece)."""
    doc: dict[str, Any] = {"format": TRACE_FORMAT, "version": TRACE_VERSION,
                           "header": header_to_json(trace.header)}
    for key, items in _sections(trace):
        doc[key] = list(items)
    return doc


def _json_str(text: str) -> str:
    """A JSON string literal; text that cannot be UTF-8 (an exe path the kernel gave as bytes
    that are not UTF-8, read with surrogateescape) is written with visible ``\\xNN`` escapes."""
    if not text.isascii() and not is_utf8(text):
        text = utf8_safe(text)
    return encode_basestring(text)


def _dump_value(value: Any, level: int) -> str:
    """``json.dumps(value, indent=1, ensure_ascii=False)`` at nesting ``level``, byte for byte,
    but refusing NaN and Infinity and never writing a lone surrogate."""
    if isinstance(value, str):
        return _json_str(value)
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return int.__repr__(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise TraceFileError(f"{value} is not a finite number; a trace file holds only "
                                 "finite numbers")
        return float.__repr__(value)
    inner = "\n" + " " * (level + 1)
    if isinstance(value, dict):
        if not value:
            return "{}"
        body = ("," + inner).join(f"{_json_str(k)}: {_dump_value(v, level + 1)}"
                                  for k, v in value.items())
    else:
        if not value:
            return "[]"
        body = ("," + inner).join(_dump_value(v, level + 1) for v in value)
    close = "\n" + " " * level + ("}" if isinstance(value, dict) else "]")
    return ("{" if isinstance(value, dict) else "[") + inner + body + close


def iter_dumps(trace: Trace) -> Iterator[str]:
    """The trace file's text in pieces (one per record), so that writing a trace of a million
    processes never holds its whole text, or a JSON tree of it, in memory."""
    head = {"format": TRACE_FORMAT, "version": TRACE_VERSION,
            "header": header_to_json(trace.header)}
    yield "{\n " + ",\n ".join(f"{_json_str(k)}: {_dump_value(v, 1)}" for k, v in head.items())
    for key, items in _sections(trace):
        yield f",\n {_json_str(key)}: ["
        first = True
        for item in items:
            yield ("\n  " if first else ",\n  ") + _dump_value(item, 2)
            first = False
        yield "]" if first else "\n ]"
    yield "\n}\n"


def dumps(trace: Trace) -> str:
    """Serialise a trace; equal traces give equal bytes."""
    return "".join(iter_dumps(trace))


# --- reading -------------------------------------------------------------------------------------


class _Checker:
    """Reads fields out of decoded JSON, raising a TraceFileError that names file and JSON path.

    It also shares equal values between records (executable lists, exit statuses, counts): a
    trace of a million processes names a handful of programs, and each copy JSON decodes is
    otherwise kept."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.shared: dict[Any, Any] = {}
        self.exits: dict[tuple[Any, ...], ExitStatus] = {}

    def fail(self, where: str, what: str) -> NoReturn:
        raise TraceFileError(f"{where}: {what}", path=self.source)

    def share(self, value: Any) -> Any:
        """One object for equal hashable values."""
        return self.shared.setdefault(value, value)

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

    def count(self, parent: Mapping[str, Any], key: str, where: str) -> int:
        value: int = self.get(parent, key, int, where)
        if value < 0:
            self.fail(f"{where}.{key}", "expected a non-negative integer")
        return value

    def name(self, parent: Mapping[str, Any], key: str, where: str) -> str:
        """A syscall name: it reaches policy grammars, so it must have a name's shape."""
        value: str = self.get(parent, key, str, where)
        if not is_syscall_name(value):
            self.fail(f"{where}.{key}", f"not a syscall name: {value[:80]!r}")
        return value

    def arch(self, parent: Mapping[str, Any], key: str, where: str) -> str:
        value: str = self.get(parent, key, str, where)
        if not is_arch_name(value):
            self.fail(f"{where}.{key}", f"not an architecture name: {value[:80]!r}")
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
            status = ExitStatus(
                signal=self.get(o, "signal", int, where),
                core_dumped=self.get(o, "core_dumped", bool, where, optional=True, default=False),
            )
        else:
            status = ExitStatus(code=self.get(o, "code", int, where))
        shared: ExitStatus = self.share(status)
        return shared


def _kind_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    names = {int: "an integer", float: "a number", str: "a string", list: "a list",
             dict: "an object", bool: "a boolean", type(None): "null"}
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def _check_format(c: _Checker, data: Any) -> None:
    if not isinstance(data, dict) or data.get("format") != TRACE_FORMAT:
        c.fail("format", f"not a seccomp-gen trace (no \"format\": \"{TRACE_FORMAT}\")")


def _check_version(c: _Checker, data: Mapping[str, Any]) -> None:
    version = c.get(data, "version", int, "")
    if version not in TRACE_VERSIONS:
        c.fail("version", f"trace format version {version} is not supported "
               f"(this seccomp-gen reads versions {', '.join(map(str, TRACE_VERSIONS))})")


def _header(c: _Checker, value: Any) -> TraceHeader:
    h = c.obj(value, "header")
    duration = c.get(h, "duration_s", (int, float), "header")
    if not math.isfinite(duration):
        c.fail("header.duration_s", "not a finite number")
    return TraceHeader(
        tool_version=c.get(h, "tool_version", str, "header"),
        command=tuple(c.str_list(c.get(h, "command", list, "header"), "header.command")),
        kernel=c.get(h, "kernel", str, "header"),
        host_arch=c.arch(h, "host_arch", "header"),
        libseccomp=c.get(h, "libseccomp", str, "header"),
        backend=c.get(h, "backend", str, "header"),
        pinned_cpu=c.get(h, "pinned_cpu", int, "header", optional=True),
        started=c.get(h, "started", str, "header"),
        ended=c.get(h, "ended", str, "header"),
        # Rounded as the writer rounds it, so that a trace read, written and read again is
        # equal to the first read (0.0078125 is written 0.007812).
        duration_s=round(float(duration), 6),
        exit=c.exit_status(h.get("exit"), "header.exit"),
        records_args=c.get(h, "records_args", bool, "header", optional=True, default=True),
        records_results=c.get(h, "records_results", bool, "header", optional=True,
                              default=True),
        records_sites=c.get(h, "records_sites", bool, "header", optional=True, default=False),
        notes=tuple(c.str_list(c.get(h, "notes", list, "header", optional=True, default=[]),
                               "header.notes")),
        runtime=c.get(h, "runtime", str, "header", optional=True, default=""),
        runs=tuple(c.str_list(c.get(h, "runs", list, "header", optional=True, default=[]),
                              "header.runs")),
    )


def _syscall(c: _Checker, item: Any, i: int) -> SyscallRecord:
    w = f"syscalls[{i}]"
    r = c.obj(item, w)
    results = c.obj(c.get(r, "results", dict, w, optional=True, default={}), f"{w}.results")
    for k, v in results.items():
        if not isinstance(v, int) or isinstance(v, bool) or v < 0:
            c.fail(f"{w}.results.{k}", "expected a non-negative integer")
        if not is_syscall_name(k):
            c.fail(f"{w}.results", f"not \"ok\" or an errno name: {k[:80]!r}")
    return SyscallRecord(
        arch=c.arch(r, "arch", w),
        name=c.name(r, "name", w),
        nr=c.get(r, "nr", int, w),
        count=c.count(r, "count", w),
        processes=c.get(r, "processes", int, w),
        first_pid=c.get(r, "first_pid", int, w),
        first_exe=c.get(r, "first_exe", str, w),
        exes=tuple(c.str_list(c.get(r, "exes", list, w), f"{w}.exes")),
        results=dict(results),
        args=_load_args(c, r.get("args"), f"{w}.args"),
        runs=tuple(c.int_list(c.get(r, "runs", list, w, optional=True, default=[]),
                              f"{w}.runs")),
        sites=_load_sites(c, c.get(r, "sites", list, w, optional=True, default=[]),
                          f"{w}.sites"),
        sites_other=c.count(r, "sites_other", w) if "sites_other" in r else 0,
    )


#: The longest path or symbol name a call site may hold (twice PATH_MAX: room for a
#: " (deleted)" mark and for the long symbol names of C++).
_MAX_SITE_TEXT = 8192


def _location(c: _Checker, value: Any, where: str) -> CodeLocation:
    o = c.obj(value, where)
    loc = CodeLocation(
        path=c.get(o, "path", str, where),
        offset=c.count(o, "offset", where),
        symbol=c.get(o, "symbol", str, where, optional=True, default=""),
        symbol_offset=c.count(o, "symbol_offset", where) if "symbol_offset" in o else 0,
        kind=c.get(o, "kind", str, where, optional=True, default=""),
    )
    for key in ("path", "symbol"):
        text = getattr(loc, key)
        if len(text) > _MAX_SITE_TEXT:
            c.fail(f"{where}.{key}", f"longer than {_MAX_SITE_TEXT} characters")
    if not loc.path:
        c.fail(f"{where}.path", "empty")
    if loc.kind and loc.kind not in SITE_KINDS:
        c.fail(f"{where}.kind", f"not one of {', '.join(SITE_KINDS)}: {loc.kind[:80]!r}")
    if loc.offset > MAX_ARG_VALUE or loc.symbol_offset > MAX_ARG_VALUE:
        c.fail(where, "offset beyond 64 bits")
    shared: CodeLocation = c.share(loc)
    return shared


def _load_sites(c: _Checker, items: list[Any], where: str) -> tuple[CallSite, ...]:
    if len(items) > SITE_CAP:
        c.fail(where, f"more than {SITE_CAP} call sites")
    sites = []
    seen: set[tuple[str, int]] = set()
    for j, item in enumerate(items):
        w = f"{where}[{j}]"
        loc = _location(c, item, w)
        if (loc.path, loc.offset) in seen:
            c.fail(w, f"duplicate call site {loc.path}+{loc.offset:#x}")
        seen.add((loc.path, loc.offset))
        caller = item.get("caller")
        sites.append(CallSite(loc, c.count(item, "count", w),
                              None if caller is None else _location(c, caller, f"{w}.caller")))
    return tuple(sites)


def _process(c: _Checker, item: Any, i: int) -> ProcessRecord:
    fast = _process_fast(c, item)
    if fast is not None:
        return fast
    w = f"processes[{i}]"
    p = c.obj(item, w)
    return ProcessRecord(
        pid=c.get(p, "pid", int, w),
        ppid=c.share(c.get(p, "ppid", int, w, optional=True)),
        exes=c.share(tuple(c.str_list(c.get(p, "exes", list, w), f"{w}.exes"))),
        threads=c.share(c.get(p, "threads", int, w)),
        syscalls=c.share(c.get(p, "syscalls", int, w)),
        exit=c.exit_status(p.get("exit"), f"{w}.exit"),
    )


def _process_fast(c: _Checker, p: Any) -> ProcessRecord | None:
    """The common, well-formed process record without the per-field checks (a trace may have
    millions); None for anything else, which the checked path then reads or names."""
    if type(p) is not dict:
        return None
    pid, ppid, exes = p.get("pid"), p.get("ppid"), p.get("exes")
    threads, syscalls, ex = p.get("threads"), p.get("syscalls"), p.get("exit")
    if not (type(pid) is int and (ppid is None or type(ppid) is int) and type(exes) is list
            and type(threads) is int and type(syscalls) is int
            and all(type(e) is str for e in exes)):
        return None
    status: ExitStatus | None = None
    if ex is not None:
        if type(ex) is not dict:
            return None
        if "signal" in ex:
            sig, core = ex["signal"], ex.get("core_dumped")
            if type(sig) is not int or not (core is None or type(core) is bool):
                return None
            key: tuple[Any, ...] = ("signal", sig, bool(core))
        else:
            code = ex.get("code")
            if type(code) is not int:
                return None
            key = ("code", code)
        status = c.exits.get(key)
        if status is None:
            status = c.exits[key] = c.share(
                ExitStatus(code=key[1]) if key[0] == "code"
                else ExitStatus(signal=key[1], core_dumped=key[2]))
    share = c.shared.setdefault
    names = tuple(exes)
    return ProcessRecord(pid, share(ppid, ppid), share(names, names), share(threads, threads),
                         share(syscalls, syscalls), status)


def _exe(c: _Checker, item: Any, i: int) -> ExeRecord:
    w = f"exes[{i}]"
    e = c.obj(item, w)
    calls: dict[tuple[str, str], int] = {}
    for j, s in enumerate(c.get(e, "syscalls", list, w)):
        sw = f"{w}.syscalls[{j}]"
        so = c.obj(s, sw)
        calls[(c.arch(so, "arch", sw), c.name(so, "name", sw))] = c.get(so, "count", int, sw)
    return ExeRecord(exe=c.get(e, "exe", str, w), processes=c.get(e, "processes", int, w),
                     syscalls=calls)


def _no_duplicates(c: _Checker, syscalls: Sequence[SyscallRecord]) -> None:
    seen: set[tuple[str, str]] = set()
    for i, rec in enumerate(syscalls):
        if (rec.arch, rec.name) in seen:
            c.fail(f"syscalls[{i}]", f"duplicate record for {rec.arch}/{rec.name}")
        seen.add((rec.arch, rec.name))


def from_json(data: Any, source: str = "<trace>") -> Trace:
    """Validate decoded JSON and build a Trace, or raise TraceFileError naming the problem."""
    c = _Checker(source)
    _check_format(c, data)
    _check_version(c, data)
    header = _header(c, c.get(data, "header", dict, ""))
    syscalls = [_syscall(c, item, i) for i, item in enumerate(c.get(data, "syscalls", list, ""))]
    processes = [_process(c, item, i) for i, item in
                 enumerate(c.get(data, "processes", list, "", optional=True, default=[]))]
    exes = [_exe(c, item, i)
            for i, item in enumerate(c.get(data, "exes", list, "", optional=True, default=[]))]
    return _trace(c, header, syscalls, processes, exes)


def _trace(c: _Checker, header: TraceHeader, syscalls: list[SyscallRecord],
           processes: list[ProcessRecord], exes: list[ExeRecord]) -> Trace:
    """The Trace, in the model's order (syscalls by arch and name, executables by path, as the
    writer sorts them), so that a file read and written again reads back equal."""
    _no_duplicates(c, syscalls)
    _check_runs(c, header, syscalls)
    return Trace(header=header,
                 syscalls=tuple(sorted(syscalls, key=lambda r: (r.arch, r.name, r.nr))),
                 processes=tuple(processes), exes=tuple(sorted(exes, key=lambda e: e.exe)))


def _check_runs(c: _Checker, header: TraceHeader, syscalls: Sequence[SyscallRecord]) -> None:
    """Run coverage names runs the header has, each once, in order."""
    n = len(header.run_names)

    def check(runs: Sequence[int], where: str) -> None:
        if list(runs) != sorted(set(runs)) or any(not 0 <= k < n for k in runs):
            c.fail(where, f"expected increasing run indexes below {n} (the header's runs)")

    for i, r in enumerate(syscalls):
        check(r.runs, f"syscalls[{i}].runs")
        if r.args is not None:
            for rs in r.args.value_runs.values():
                check(rs, f"syscalls[{i}].args.value_runs")


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
        # Register contents: a value no 64-bit register holds would only be masked into
        # another value (2**70 into 0) by whatever pinned it.
        bad = next((x for x in row if not 0 <= x <= MAX_ARG_VALUE), None)
        if bad is not None:
            c.fail(f"{where}.values[{j}]", "expected unsigned 64-bit register values "
                   f"(0-{MAX_ARG_VALUE:#x}), found {bad!r:.40}")
        values.append(tuple(row))
    value_runs: dict[tuple[int, ...], tuple[int, ...]] = {}
    distinct = set(values)
    for j, item in enumerate(c.get(a, "value_runs", list, where, optional=True, default=[])):
        w = f"{where}.value_runs[{j}]"
        if not isinstance(item, list) or len(item) != 2:
            c.fail(w, "expected [values, runs]")
        value = tuple(c.int_list(item[0], w))
        if value not in distinct:
            c.fail(w, "names values that are not in values")
        value_runs[value] = tuple(c.int_list(item[1], w))
    return ArgValues(fields=fields, indexes=tuple(raw_indexes), values=frozenset(values),
                     capped=c.get(a, "capped", bool, where, optional=True, default=False),
                     value_runs=value_runs)


class _Layout(Exception):
    """The document is not laid out as seccomp-gen writes traces: read it the slow way."""


_WS = re.compile(r"[ \t\n\r]*")
#: Records parsed between two progress reports.
_PROGRESS_EVERY = 1 << 16


class _StreamReader:
    """Reads a trace as seccomp-gen writes it (format, version, header, then the record lists)
    one record at a time: each record is validated and turned into its dataclass as soon as it
    is decoded, so the JSON tree of a million processes never exists at once (it takes several
    times the file's size). Anything laid out otherwise raises :class:`_Layout`."""

    def __init__(self, text: str, source: str) -> None:
        self.text = text
        self.source = source
        self.c = _Checker(source)
        self.pos = 0
        self.surrogates = may_hold_surrogates(text)
        self.parsed = 0

    def _skip(self) -> None:
        m = _WS.match(self.text, self.pos)
        assert m is not None
        self.pos = m.end()

    def _expect(self, chars: str, what: str) -> str:
        self._skip()
        ch = self.text[self.pos:self.pos + 1]
        if not ch or ch not in chars:
            raise json.JSONDecodeError(f"Expecting {what}", self.text, self.pos)
        self.pos += 1
        return ch

    def _value(self, where: str) -> Any:
        self._skip()
        value, self.pos = DECODER.raw_decode(self.text, self.pos)
        if self.surrogates:
            check_strings(value, self.source, where, TraceFileError)
        return value

    def _items(self, key: str) -> Iterator[Any]:
        self._skip()
        if self.text[self.pos:self.pos + 1] != "[":
            # null or a wrong type: the checker names it as from_json would.
            value = self._value(key)
            yield from self.c.get({key: value}, key, list, "", optional=key != "syscalls",
                                  default=[])
            return
        self.pos += 1
        self._skip()
        if self.text[self.pos:self.pos + 1] == "]":
            self.pos += 1
            return
        i = 0
        while True:
            yield self._value(f"{key}[{i}]")
            i += 1
            self.parsed += 1
            if self.parsed % _PROGRESS_EVERY == 0:
                report_progress(f"parsing {self.source}", self.pos, len(self.text))
            if self._expect(",]", "',' delimiter") == "]":
                return

    def read(self) -> Trace:
        c = self.c
        self._skip()
        if self.text[self.pos:self.pos + 1] != "{":
            raise _Layout
        self.pos += 1
        keys: list[str] = []
        found: dict[str, Any] = {}
        syscalls: list[SyscallRecord] = []
        processes: list[ProcessRecord] = []
        exes: list[ExeRecord] = []
        header: TraceHeader | None = None
        while True:
            self._skip()
            if self.text[self.pos:self.pos + 1] == "}" and not keys:
                raise _Layout
            self._expect('"', "property name enclosed in double quotes")
            key, self.pos = scanstring(self.text, self.pos)
            self._expect(":", "':' delimiter")
            if key in keys:
                raise _Layout  # duplicate keys: json.loads keeps the last one; do the same
            keys.append(key)
            # The order seccomp-gen writes: format, version, header first.
            if len(keys) <= 3 and key != ("format", "version", "header")[len(keys) - 1]:
                raise _Layout
            if key == "syscalls":
                syscalls = [_syscall(c, v, i) for i, v in enumerate(self._items(key))]
            elif key == "processes":
                processes = [_process(c, v, i) for i, v in enumerate(self._items(key))]
            elif key == "exes":
                exes = [_exe(c, v, i) for i, v in enumerate(self._items(key))]
            else:
                found[key] = self._value(key)
                if key == "format":
                    _check_format(c, found)
                elif key == "version":
                    _check_version(c, found)
                elif key == "header":
                    header = _header(c, c.get(found, "header", dict, ""))
            if self._expect(",}", "',' delimiter") == "}":
                break
        self._skip()
        if self.pos != len(self.text):
            raise json.JSONDecodeError("Extra data", self.text, self.pos)
        if self.parsed >= _PROGRESS_EVERY:
            report_progress(f"parsing {self.source}", self.pos, self.pos)  # done
        if header is None:
            raise _Layout
        if "syscalls" not in keys:
            c.fail("syscalls", "missing")
        return _trace(c, header, syscalls, processes, exes)


def loads(text: str, source: str = "<trace>") -> Trace:
    """Parse trace text; broken JSON is reported with line and column."""
    if not text.strip():
        raise TraceFileError("empty file, not a trace", path=source)
    try:
        try:
            return _StreamReader(text, source).read()
        except _Layout:
            pass
        data = DECODER.decode(text)
    except (ValueError, RecursionError) as exc:
        raise TraceFileError(json_error(exc, text), path=source) from None
    if may_hold_surrogates(text):
        check_strings(data, source, "", TraceFileError)
    return from_json(data, source)
