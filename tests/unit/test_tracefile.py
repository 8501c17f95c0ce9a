"""The trace file: round trips, byte stability, and one-line errors for every kind of bad file.

Pure tests: traces are built with the aggregation step from hand-made raw counters, the same path
a recorder's counters take.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from seccomp_gen.aggregate import ProcessState, RawRecording, build_trace
from seccomp_gen.errors import TraceFileError
from seccomp_gen.files import traces
from seccomp_gen.formats import tracefile
from seccomp_gen.libseccomp import arch_name, syscall_name
from seccomp_gen.model import ExitStatus, TraceHeader
from seccomp_gen.syscalls.constants import errno_name

X86_64, I386 = 0xC000003E, 0x40000003


def _header() -> TraceHeader:
    return TraceHeader(
        tool_version="0.1.0", command=("prog", "--flag"), kernel="6.18", host_arch="x86_64",
        libseccomp="2.5.4", backend="ptrace", pinned_cpu=1, started="2026-11-23T10:00:00+00:00",
        ended="2026-11-23T10:00:01+00:00", duration_s=1.25, exit=ExitStatus(code=3),
    )


def _raw() -> RawRecording:
    raw = RawRecording()
    t0 = raw.new_token(100, "/usr/bin/prog")
    t1 = raw.new_token(101, "/usr/bin/child")
    raw.processes[100] = ProcessState(pid=100, ppid=1, exes=["/usr/bin/prog"])
    raw.processes[101] = ProcessState(pid=101, ppid=100, exes=["/usr/bin/child"], threads=2,
                                      exit=ExitStatus(signal=9))
    # (arch, nr, token, result): result 0 = ok, N = errno N, -1 = never returned
    raw.calls = {(X86_64, 0, t0, 0): 4, (X86_64, 0, t0, 11): 1, (X86_64, 0, t1, 0): 2,
                 (X86_64, 41, t0, 0): 1, (I386, 20, t1, 0): 3, (I386, 20, t1, -1): 1,
                 (X86_64, 0x40000027, t0, 38): 1}
    raw.args = {(X86_64, 41): {(2, 2), (1, 524289)}}
    raw.first = {(X86_64, 0): t0, (X86_64, 41): t0, (I386, 20): t1, (X86_64, 0x40000027): t0}
    return raw


def test_aggregation_names_each_call_with_its_own_abi() -> None:
    trace = build_trace(_raw(), _header(), arch_name, syscall_name)
    assert trace.syscall_set() == {("x86_64", "read"), ("x86_64", "socket"), ("x86", "getpid"),
                                   ("x32", "getpid")}
    read = trace.find("read", "x86_64")
    assert read is not None
    assert (read.count, read.processes, read.errors) == (7, 2, 1)
    assert dict(read.results) == {"EAGAIN": 1, "ok": 6}
    assert read.exes == ("/usr/bin/child", "/usr/bin/prog")
    sock = trace.find("socket")
    assert sock is not None and sock.args is not None
    assert sock.args.fields == ("domain", "type") and (2, 2) in sock.args.values
    assert trace.find("getpid", "x32") is not None
    assert {p.pid: p.syscalls for p in trace.processes} == {100: 7, 101: 6}
    getpid32 = trace.find("getpid", "x86")
    assert getpid32 is not None and getpid32.count == 4 and dict(getpid32.results) == {"ok": 3}


def test_round_trip_and_byte_stability(tmp_path: Path) -> None:
    trace = build_trace(_raw(), _header(), arch_name, syscall_name)
    path = tmp_path / "t.trace.json"
    traces.dump(trace, path)
    again = traces.load(path)
    assert again == trace
    assert tracefile.dumps(again) == path.read_text()
    # Insertion order of the raw counters does not change the bytes.
    raw = _raw()
    raw.calls = dict(reversed(list(raw.calls.items())))
    assert tracefile.dumps(build_trace(raw, _header(), arch_name, syscall_name)) == \
        path.read_text()


def test_errno_names_include_kernel_restart_codes() -> None:
    assert errno_name(2) == "ENOENT"
    assert errno_name(512) == "ERESTARTSYS"
    assert errno_name(4000) == "E4000"


def _write(tmp_path: Path, text: str | bytes) -> Path:
    p = tmp_path / "bad.trace.json"
    if isinstance(text, bytes):
        p.write_bytes(text)
    else:
        p.write_text(text)
    return p


def _good_text() -> str:
    return tracefile.dumps(build_trace(_raw(), _header(), arch_name, syscall_name))


@pytest.mark.parametrize(
    ("make", "expect"),
    [
        (lambda: _good_text()[: len(_good_text()) // 2], "truncated"),
        # cut inside a string: the decoder's position is the opening quote, not the end
        (lambda: _good_text()[: _good_text().index('"x86_64"') + 4], "truncated"),
        (lambda: _good_text().replace('"count": 7', '"count": 7,,'), "corrupt JSON"),
        (lambda: "", "empty file"),
        (lambda: b"\xff\xfe\x00garbage", "not UTF-8"),
        (lambda: json.dumps({"hello": "world"}), "not a seccomp-gen trace"),
        (lambda: json.dumps([1, 2, 3]), "not a seccomp-gen trace"),
        (lambda: _good_text().replace('"version": 2', '"version": 99'), "version 99"),
        (lambda: _good_text().replace('"count": 7', '"count": "seven"'),
         "syscalls[2].count: expected an integer"),
        (lambda: _good_text().replace('"count": 7', '"count": true'), "found a boolean"),
        (lambda: _good_text().replace('"count": 7', '"count": -7'), "non-negative"),
        (lambda: _good_text().replace('"arch": "x86",', ''), "syscalls[1].arch: missing"),
    ],
)
def test_bad_files_give_one_line_naming_file_and_place(
    tmp_path: Path, make: object, expect: str
) -> None:
    path = _write(tmp_path, make())  # type: ignore[operator]
    with pytest.raises(TraceFileError) as info:
        traces.load(path)
    line = info.value.one_line()
    assert "\n" not in line
    assert line.startswith(str(path))
    assert expect in line


def test_duplicate_records_are_rejected(tmp_path: Path) -> None:
    data = json.loads(_good_text())
    data["syscalls"].append(dict(data["syscalls"][0]))
    with pytest.raises(TraceFileError, match="duplicate record for x32/getpid"):
        traces.load(_write(tmp_path, json.dumps(data)))


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(TraceFileError, match="no such file"):
        traces.load(tmp_path / "nope.json")
    with pytest.raises(TraceFileError, match="is a directory"):
        traces.load(tmp_path)


def test_exit_status_decoding() -> None:
    assert ExitStatus.from_wait_status(3 << 8) == ExitStatus(code=3)
    assert ExitStatus.from_wait_status(9).shell_status == 137
    assert ExitStatus.from_wait_status(0x80 | 11).core_dumped


@pytest.mark.parametrize("duration", [0.0078125, 1e-7, 12345.6789015, 0.1 + 0.2])
def test_a_duration_with_more_digits_than_written_reads_back_equal(duration: float) -> None:
    """The writer keeps six decimals of duration_s; the reader rounds the same way, so a trace
    read, written and read again is equal to the first read (found by the reader fuzz test:
    0.0078125 was written 0.007812 and read back different)."""
    from helpers.paths import LS_TRACE

    doc = json.loads(LS_TRACE.read_text())
    doc["header"]["duration_s"] = duration
    first = tracefile.loads(json.dumps(doc), "first")
    assert tracefile.loads(tracefile.dumps(first), "again") == first


def test_the_readme_example_is_the_ls_sample() -> None:
    """README.md's trace-file example quotes sample_traces/ls.trace.json (its socket record, its
    sites, its process's call count): recorded again, the sample must not leave it stale."""
    import re

    from helpers.paths import LS_TRACE, ROOT

    readme = (ROOT / "README.md").read_text()
    example = readme.split("## The trace file (format version 2)", 1)[1].split("```jsonc", 1)[1]
    example = example.split("```", 1)[0]
    doc = json.loads(LS_TRACE.read_text())
    (process,) = doc["processes"]
    assert f'"syscalls": {process["syscalls"]}, "exit": {{"code": 0}}' in example
    socket = next(r for r in doc["syscalls"] if r["name"] == "socket")
    site = socket["sites"][0]
    quoted = [int(n) for n in re.findall(r'"offset": (\d+)', example)]
    assert quoted == [site["offset"], site["caller"]["offset"]]
    assert f'"count": {socket["count"]}, "processes": 1' in example
    assert json.dumps(socket["args"]["values"]) in example
