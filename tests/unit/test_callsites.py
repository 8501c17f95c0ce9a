"""Call sites in the model, the trace file and merge: bounded per syscall, round-tripped,
summed across runs, version-1 traces still read, hostile site entries refused in one line.

Pure tests: traces are built with the aggregation step from hand-made raw counters, the path a
recorder's counters take.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from helpers.paths import HELLO32_V1_TRACE, LS_V1_TRACE, SAMPLES

from seccomp_gen.aggregate import ProcessState, RawRecording, build_trace
from seccomp_gen.callsites import named_calls, resolve_sites
from seccomp_gen.errors import TraceFileError
from seccomp_gen.files import traces
from seccomp_gen.formats import tracefile
from seccomp_gen.libseccomp import arch_name, syscall_name
from seccomp_gen.merge import merge_traces
from seccomp_gen.model import SITE_CAP, CodeLocation, ExitStatus, Trace, TraceHeader

X86_64 = 0xC000003E
LIBC = "/usr/lib/x86_64-linux-gnu/libc.so.6"


def _header(started: str = "2026-11-23T10:00:00+00:00") -> TraceHeader:
    return TraceHeader(
        tool_version="0.1.0", command=("prog",), kernel="6.18", host_arch="x86_64",
        libseccomp="2.5.4", backend="ptrace", pinned_cpu=1, started=started,
        ended="2026-11-23T10:00:01+00:00", duration_s=1.0, exit=ExitStatus(code=0),
    )


def _raw(pid: int = 100, extra: int = 0) -> RawRecording:
    """write (nr 1) from 3 sites in libc and 20 + ``extra`` sites of the program."""
    raw = RawRecording()
    t0 = raw.new_token(pid, "/usr/bin/prog")
    raw.processes[pid] = ProcessState(pid=pid, ppid=1, exes=["/usr/bin/prog"])
    raw.sites = [(LIBC, 0x1000), (LIBC, 0x2000), (LIBC, 0x1000)]  # one site under two ids
    raw.site_calls = {(X86_64, 1, 0): 50, (X86_64, 1, 1): 7, (X86_64, 1, 2): 5}
    for i in range(20 + extra):
        raw.sites.append(("/usr/bin/prog", 0x400 + i))
        raw.site_calls[(X86_64, 1, len(raw.sites) - 1)] = 1
    total = sum(raw.site_calls.values())
    raw.calls = {(X86_64, 1, t0, 0): total}
    raw.first = {(X86_64, 1): t0}
    return raw


def _trace(pid: int = 100, extra: int = 0, started: str = "2026-11-23T10:00:00+00:00") -> Trace:
    return build_trace(_raw(pid, extra), _header(started), arch_name, syscall_name)


def test_sites_are_bounded_summed_per_site_and_ordered() -> None:
    write = _trace().find("write")
    assert write is not None
    assert len(write.sites) == SITE_CAP
    assert (write.sites[0].where.offset, write.sites[0].count) == (0x1000, 55)
    assert (write.sites[1].where.offset, write.sites[1].count) == (0x2000, 7)
    # Ties broken by path, then offset: the program's lowest offsets are kept.
    assert [s.where.offset for s in write.sites[2:]] == [0x400 + i for i in range(14)]
    # 2 libc sites + 14 program sites kept, the other 6 program calls counted apart.
    assert write.sites_other == 6
    assert sum(s.count for s in write.sites) + write.sites_other == write.count


def test_header_says_the_backend_saw_sites() -> None:
    assert _trace().header.records_sites
    raw = _raw()
    raw.site_calls, raw.sites = {}, []
    assert not build_trace(raw, _header(), arch_name, syscall_name).header.records_sites


def test_round_trip_v2_with_symbols_and_callers(tmp_path: Path) -> None:
    def name(loc: CodeLocation) -> CodeLocation:
        return replace(loc, symbol="write" if loc.path == LIBC else "main", symbol_offset=0x1e,
                       kind="libc" if loc.path == LIBC else "program")

    raw = _raw()
    raw.site_callers = {(X86_64, 1, 0): ("/usr/bin/prog", 0x99)}  # write at libc+0x1000
    trace = resolve_sites(build_trace(raw, _header(), arch_name, syscall_name), name)
    path = tmp_path / "t.trace.json"
    traces.dump(trace, path)
    text = path.read_text()
    assert '"version": 2' in text
    again = traces.load(path)
    assert again == trace
    assert tracefile.dumps(again) == text
    site = again.syscalls[0].sites[0]
    assert (site.where.symbol, site.where.kind) == ("write", "libc")
    assert site.caller is not None and site.caller.symbol == "main"


#: Real traces written before call sites (format version 1): the first recordings of the ls and
#: hello32 samples, kept in tests/data (its README names the source).
V1_TRACES = (LS_V1_TRACE, HELLO32_V1_TRACE)


@pytest.mark.parametrize("sample", V1_TRACES, ids=lambda p: p.name)
def test_version_1_traces_still_load_without_sites(sample: Path) -> None:
    doc = json.loads(sample.read_text())
    assert doc["version"] == 1
    trace = traces.load(sample)
    assert not trace.header.records_sites
    assert all(not r.sites for r in trace.syscalls)
    assert trace.total_calls == sum(r["count"] for r in doc["syscalls"]) > 0
    # Written again, it is a version-2 trace that reads back equal.
    again = tracefile.dumps(trace)
    assert json.loads(again)["version"] == 2
    assert tracefile.loads(again) == trace


SAMPLE_TRACES = sorted(SAMPLES.glob("*.trace.json"))


def test_every_sample_is_there() -> None:
    """The parametrised test below must not pass by finding no files."""
    assert len(SAMPLE_TRACES) >= 6


@pytest.mark.parametrize("sample", SAMPLE_TRACES, ids=lambda p: p.name.removesuffix(".trace.json"))
def test_every_sample_is_version_2_and_explain_names_90_percent(sample: Path) -> None:
    """Every committed sample is recorded with call sites (sample_traces/README.md), and
    ``explain``'s count (:func:`named_calls`, the line it ends with) names the library and
    function of at least 90% of its calls."""
    assert json.loads(sample.read_text())["version"] == 2
    trace = traces.load(sample)
    assert trace.header.records_sites
    named, total = named_calls(trace.syscalls)
    assert total == trace.total_calls > 0
    assert named >= 0.9 * total, f"{sample.name}: {named} of {total} calls named"


def test_the_qemu_sample_names_libc_ppoll() -> None:
    """Issue 15's QEMU boot: its hottest call is named as libc's ppoll wrapper."""
    trace = traces.load(SAMPLES / "qemu-boot.trace.json")
    ppoll = trace.find("ppoll")
    assert ppoll is not None
    assert ("libc", "ppoll") in {(s.where.kind, s.where.symbol) for s in ppoll.sites}


def test_merge_sums_sites_by_file_and_offset_deterministically() -> None:
    a = _trace(100, 0, "2026-11-23T10:00:00+00:00")
    b = _trace(200, 3, "2026-11-23T11:00:00+00:00")
    merged = merge_traces([a, b])
    write = merged.find("write")
    assert write is not None
    assert (write.sites[0].where.offset, write.sites[0].count) == (0x1000, 110)
    assert (write.sites[1].where.offset, write.sites[1].count) == (0x2000, 14)
    assert len(write.sites) == SITE_CAP
    assert sum(s.count for s in write.sites) + write.sites_other == write.count
    assert merged.header.records_sites
    assert tracefile.dumps(merge_traces([a, b])) == tracefile.dumps(merged)


def _site_doc(**changes: object) -> str:
    doc = json.loads(tracefile.dumps(_trace()))
    doc["syscalls"][0]["sites"][0].update(changes)
    return json.dumps(doc)


@pytest.mark.parametrize(
    ("text", "expect"),
    [
        (_site_doc(count=-1), "syscalls[0].sites[0].count: expected a non-negative integer"),
        (_site_doc(offset="0x10"), "syscalls[0].sites[0].offset: expected an integer"),
        (_site_doc(path=""), "syscalls[0].sites[0].path: empty"),
        (_site_doc(path="x" * 9000), "syscalls[0].sites[0].path: longer than"),
        (_site_doc(kind="evil"), "syscalls[0].sites[0].kind: not one of"),
        (_site_doc(offset=2**70), "syscalls[0].sites[0]: offset beyond 64 bits"),
        (_site_doc(caller=[1]), "syscalls[0].sites[0].caller: expected an object"),
        (_site_doc(path="/usr/bin/prog", offset=0x401), "duplicate call site"),
        (json.dumps({**json.loads(tracefile.dumps(_trace())),
                     "syscalls": [{**json.loads(tracefile.dumps(_trace()))["syscalls"][0],
                                   "sites": "many"}]}),
         "syscalls[0].sites: expected a list"),
    ],
)
def test_hostile_site_entries_give_one_line(tmp_path: Path, text: str, expect: str) -> None:
    path = tmp_path / "bad.trace.json"
    path.write_text(text)
    with pytest.raises(TraceFileError) as info:
        traces.load(path)
    message = str(info.value)
    assert expect in message and "\n" not in message


def test_too_many_sites_are_refused(tmp_path: Path) -> None:
    doc = json.loads(tracefile.dumps(_trace()))
    doc["syscalls"][0]["sites"] += [dict(doc["syscalls"][0]["sites"][-1], offset=0x9000 + i)
                                    for i in range(3)]
    path = tmp_path / "bad.trace.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(TraceFileError, match=f"more than {SITE_CAP} call sites"):
        traces.load(path)
