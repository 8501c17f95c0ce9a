"""Nothing from a trace or profile reaches an output raw (issue 11, item 3).

A syscall name is a word of LXC's grammar: a trace whose name was ``"read\\n[x86_64]\\nptrace"``
made ``generate --format lxc`` write a policy that allows ptrace. Names and arches are checked
where files are read (the trace and profile readers) and again where policies are written; free
text (comments, commands, exe paths, notes) is escaped for its format and for the terminal.
Programs recorded and run at hostile paths: tests/live/test_hostile_exe_paths.py.
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

import pytest
from helpers.cli import assert_no_raw_controls, cli, one_error_line
from helpers.paths import LS_TRACE
from helpers.synth_helpers import mixed_trace

from seccomp_gen.cli.generate import write_profile
from seccomp_gen.errors import SeccompGenError, TraceFileError
from seccomp_gen.files import traces
from seccomp_gen.formats import emit, lxc, parse, python_table, tracefile
from seccomp_gen.profile import Profile, Rule, normalize
from seccomp_gen.safetext import printable
from seccomp_gen.synthesize import synthesize

INJECTED = "read\n[x86_64]\nptrace"
#: What a hostile string may hold: an escape sequence, a NUL, newlines, a bidi override.
HOSTILE = "\x1b[31mred\x1b[0m\x00nul\nnew\rline\u202eevil\u2028sep\x9b"


def _trace_doc() -> dict[str, object]:
    doc: dict[str, object] = json.loads(LS_TRACE.read_text())
    return doc


def _injected_trace(tmp_path: Path) -> Path:
    doc = _trace_doc()
    syscalls = doc["syscalls"]
    assert isinstance(syscalls, list)
    syscalls.append({**syscalls[0], "name": INJECTED, "nr": 999})
    path = tmp_path / "inj.trace.json"
    path.write_text(json.dumps(doc))
    return path


@pytest.mark.parametrize("fmt", ["lxc", "oci", "python"])
def test_injected_name_is_refused_by_generate(tmp_path: Path, fmt: str) -> None:
    out = tmp_path / f"out.{fmt}"
    res = cli("generate", _injected_trace(tmp_path), "--format", fmt, "-o", out)
    line = one_error_line(res)
    assert "syscalls[30].name: not a syscall name: 'read\\n[x86_64]\\nptrace'" in line
    assert not out.exists()


def test_trace_reader_names_the_bad_name_and_arch(tmp_path: Path) -> None:
    with pytest.raises(TraceFileError, match=r"syscalls\[30\]\.name: not a syscall name"):
        traces.load(_injected_trace(tmp_path))
    doc = _trace_doc()
    syscalls = doc["syscalls"]
    assert isinstance(syscalls, list)
    syscalls[0]["arch"] = "x86_64]\n[all"
    with pytest.raises(TraceFileError, match=r"syscalls\[0\]\.arch: not an architecture name"):
        tracefile.loads(json.dumps(doc), "t.json")
    doc = _trace_doc()
    exes = doc["exes"]
    assert isinstance(exes, list)
    exes[0]["syscalls"][0]["name"] = "a b"
    with pytest.raises(TraceFileError, match=r"exes\[0\]\.syscalls\[0\]\.name: not a syscall"):
        tracefile.loads(json.dumps(doc), "t.json")


def test_emitters_refuse_a_name_that_is_not_one() -> None:
    """Defence at emission: a Profile built in code (not read from a file) with a hostile name
    is never written, in any format."""
    p = synthesize(mixed_trace())
    bad = replace(p, rules=(*p.rules, Rule(INJECTED, ("x86_64",))))
    with pytest.raises(SeccompGenError, match="not a syscall name"):
        lxc.emit(bad)
    for fmt in ("oci", "python"):
        with pytest.raises(SeccompGenError, match="not a syscall name"):
            parse(emit(bad, fmt), fmt)


@pytest.mark.parametrize("fmt", ["lxc", "oci", "python"])
def test_write_profile_never_writes_a_hostile_name(tmp_path: Path, fmt: str) -> None:
    p = synthesize(mixed_trace())
    bad = replace(p, rules=(*p.rules, Rule(INJECTED, ("x86_64",))))
    out = tmp_path / "p"
    with pytest.raises(SeccompGenError):
        write_profile(bad, fmt, str(out))
    assert not out.exists()


def test_comments_are_escaped_for_each_format(tmp_path: Path) -> None:
    """Provenance, notes and rule comments with newlines, NUL and escapes: the LXC policy has
    them on one comment line each (no rule appears), the Python module compiles (a NUL in its
    source would not) and keeps the text in its table; OCI JSON round-trips it exactly."""
    p = synthesize(mixed_trace())
    rules = tuple(replace(r, comment=HOSTILE + "\n[x86_64]\nptrace") if i == 0 else r
                  for i, r in enumerate(p.rules))
    hostile = replace(p, provenance=(*p.provenance, HOSTILE + "\n[all]\nptrace"),
                      notes=(*p.notes, HOSTILE), rules=rules)
    text = lxc.emit(hostile)
    for line in text.split("\n"):
        assert_no_raw_controls(line)
    back = lxc.parse(text)
    assert "ptrace" not in back.names() and _verdicts(back) == _verdicts(p)
    assert printable(HOSTILE) in text
    module = python_table.emit(hostile)
    assert "\x00" not in module and "\x1b" not in module.split('"""')[1]
    compile(module, "policy.py", "exec")
    assert python_table.parse(module) == normalize(hostile)
    assert parse(emit(hostile, "oci"), "oci").notes == hostile.notes
    for fmt in ("lxc", "oci", "python"):
        out = tmp_path / f"h.{fmt}"
        assert "ptrace" not in write_profile(hostile, fmt, str(out)).names()
        assert "ptrace" not in parse(out.read_text(), fmt).names()


def _verdicts(p: Profile) -> set[tuple[object, ...]]:
    return {(r.name, r.arches, r.action, r.errno, r.conditions) for r in p.rules}


def _hostile_trace(tmp_path: Path) -> Path:
    doc = _trace_doc()
    header = doc["header"]
    assert isinstance(header, dict)
    header["command"] = ["ls", HOSTILE]
    header["kernel"] = HOSTILE
    header["backend"] = HOSTILE
    header["notes"] = [HOSTILE]
    processes = doc["processes"]
    assert isinstance(processes, list)
    processes[0]["exes"] = [f"/tmp/{HOSTILE}"]
    exes = doc["exes"]
    assert isinstance(exes, list)
    exes[0]["exe"] = f"/tmp/{HOSTILE}"
    path = tmp_path / "hostile.trace.json"
    path.write_text(json.dumps(doc))
    return path


@pytest.mark.parametrize("view", [[], ["--by", "process"], ["--by", "exe"]])
def test_show_prints_no_terminal_escapes(tmp_path: Path, view: list[str]) -> None:
    res = cli("show", _hostile_trace(tmp_path), *view)
    assert res.returncode == 0, res.stderr
    out = res.stdout.decode()
    assert_no_raw_controls(out)
    assert "\\x1b[31mred" in out
    if not view:
        assert "note: \\x1b[31mred" in out and f"on {printable(HOSTILE)}" in out


def test_show_json_and_trace_round_trip_keep_the_text(tmp_path: Path) -> None:
    """JSON escapes by construction: the same strings come back, and the trace written again
    is read back equal."""
    path = _hostile_trace(tmp_path)
    res = cli("show", path, "--json", "--by", "process")
    assert res.returncode == 0
    doc = json.loads(res.stdout)
    assert doc["header"]["kernel"] == HOSTILE and doc["rows"][0]["exes"] == [f"/tmp/{HOSTILE}"]
    trace = traces.load(path)
    again = tmp_path / "again.trace.json"
    traces.dump(trace, again)
    assert traces.load(again) == trace


def test_trace_writer_makes_non_utf8_exe_paths_visible(tmp_path: Path) -> None:
    """``os.readlink`` gives a path whose bytes are not UTF-8 as lone surrogates, which no JSON
    file can hold: the writer shows those bytes as ``\\xff`` (it used to fail to write)."""
    trace = traces.load(LS_TRACE)
    name = os.fsdecode(b"/tmp/bin\xff/ls")
    trace = replace(trace, processes=(replace(trace.processes[0], exes=(name,)),))
    out = tmp_path / "t.trace.json"
    traces.dump(trace, out)
    assert traces.load(out).processes[0].exes == ("/tmp/bin\\xff/ls",)


