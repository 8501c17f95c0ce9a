"""Reading input: the size cap, pipes and devices, ``-`` for stdin, limits of the JSON decoder,
one reader and one verdict for profiles (issue 11, items 5, 6 and 9).

Each failure is one line naming the file, never a traceback, a hang or the OOM killer. The same
files given to ``run``, ``check`` and ``record --known``: tests/live/test_inputs_every_command.py.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
from helpers.cli import CLI, cli, one_error_line
from helpers.paths import LS_TRACE

from seccomp_gen.errors import SeccompGenError, TraceFileError
from seccomp_gen.files import traces
from seccomp_gen.files.inputs import MAX_INPUT_ENV, format_size, parse_size, read_text
from seccomp_gen.files.profiles import load_profile
from seccomp_gen.formats import oci

# --- the size cap, pipes and devices -------------------------------------------------------------


def test_sizes() -> None:
    assert parse_size("512M") == 512 * 2**20 and parse_size("2G") == 2**31
    assert parse_size("1.5k") == 1536 and parse_size("100") == 100
    assert parse_size("unlimited") is None and parse_size("4GiB") == 2**32
    with pytest.raises(ValueError):
        parse_size("lots")
    assert format_size(512 * 2**20) == "512 MiB" and format_size(1536) == "1.5 KiB"


def test_dev_zero_is_refused_at_its_first_byte() -> None:
    """``show /dev/zero`` read until the OOM killer came; a NUL byte is binary data."""
    line = one_error_line(cli("show", "/dev/zero", timeout=60))
    assert "/dev/zero: byte 0: a NUL byte: binary data, not a trace" in line


def test_endless_text_from_a_pipe_stops_at_the_cap(tmp_path: Path) -> None:
    """``yes`` never ends and has no NUL: it is read up to the cap, then refused."""
    yes = subprocess.Popen(["yes"], stdout=subprocess.PIPE)
    try:
        res = subprocess.run([*CLI, "show", "-"], stdin=yes.stdout, capture_output=True,
                             timeout=120, check=False,
                             env={**os.environ, MAX_INPUT_ENV: "4M"})
    finally:
        yes.kill()
        yes.wait()
    line = one_error_line(res)
    assert "<stdin>: larger than the input limit of 4 MiB" in line
    assert f"set {MAX_INPUT_ENV}=SIZE" in line


def test_read_text_names_the_first_bad_byte(tmp_path: Path) -> None:
    p = tmp_path / "x"
    p.write_bytes(b"ok\xffthen\x00")
    with pytest.raises(SeccompGenError, match="byte 2: not UTF-8"):
        read_text(p)
    p.write_bytes(b"ok\x00then\xff")
    with pytest.raises(SeccompGenError, match="byte 2: a NUL byte"):
        read_text(p)
    p.write_bytes(b"ends in half a character \xc3")
    with pytest.raises(SeccompGenError, match="truncated UTF-8"):
        read_text(p)


# --- what Python's JSON decoder does not turn into a JSONDecodeError ------------------------------


def _ls_doc() -> dict[str, object]:
    doc: dict[str, object] = json.loads(LS_TRACE.read_text())
    return doc


def _duration(value: str) -> str:
    """The ls trace, its header's duration written as ``value``."""
    return re.sub(r'"duration_s": [0-9.e+-]+', f'"duration_s": {value}',
                  json.dumps(_ls_doc()), count=1)


@pytest.mark.parametrize("text, match", [
    ('{"a": ' + "[" * 100_000, "nested too deeply"),
    ('{"format": "seccomp-gen-trace", "version": ' + "[" * 100_000, "nested too deeply"),
    (json.dumps(_ls_doc()).replace('"count": 2,', '"count": ' + "9" * 5001 + ",", 1),
     "more than 4300 digits"),
    (_duration("NaN"),
     "NaN is not a JSON number"),
    (_duration("Infinity"),
     "Infinity is not a JSON number"),
    (_duration("1e999"),
     "the number 1e999 is out of range"),
    (json.dumps(_ls_doc()).replace('"/usr/bin/ls"', '"\\ud800"', 1), "lone surrogate"),
])
def test_json_limits_are_one_line_errors(tmp_path: Path, text: str, match: str) -> None:
    p = tmp_path / "bad.trace.json"
    p.write_text(text)
    with pytest.raises(TraceFileError, match=match) as info:
        traces.load(p)
    assert "\n" not in info.value.one_line()
    for argv, status in ((["show", p], 125), (["diff", p, LS_TRACE], 2),
                         (["generate", p, "-o", tmp_path / "o.json"], 125),
                         (["merge", p, LS_TRACE, "-o", tmp_path / "m.json"], 125)):
        assert match in one_error_line(cli(*argv), status)
    assert not (tmp_path / "o.json").exists() and not (tmp_path / "m.json").exists()


def test_nan_duration_is_never_written(tmp_path: Path) -> None:
    """NaN used to be written back as ``NaN``, which is not JSON."""
    from dataclasses import replace

    trace = traces.load(LS_TRACE)
    bad = replace(trace, header=replace(trace.header, duration_s=float("nan")))
    out = tmp_path / "t.json"
    with pytest.raises(TraceFileError, match="duration_s: nan is not a finite number"):
        traces.dump(bad, out)
    assert not out.exists() and list(tmp_path.iterdir()) == []


# --- one reader, one verdict ----------------------------------------------------------------------


def test_what_a_file_is_when_it_is_no_profile(tmp_path: Path) -> None:
    """LXC version 1 or 3, or a JSON list, were all reported as "not Python"."""
    cases = {"v1.seccomp": ("1\nallowlist\n", "line 1: LXC policy version 1 is not supported"),
             "v3.seccomp": ("3\nallowlist\n[x86_64]\nread\n",
                            "line 1: LXC policy version 3 is not supported"),
             "list.json": ("[1, 2]", "a JSON array, not a profile or trace"),
             "number.json": ("7", "LXC policy version 7 is not supported"),
             "text.txt": ("hello world\n", "not Python (invalid syntax), nor JSON or an LXC")}
    for name, (text, expect) in cases.items():
        path = tmp_path / name
        path.write_text(text)
        with pytest.raises(SeccompGenError) as info:
            load_profile(path)
        assert expect in info.value.one_line(), name
        assert expect in one_error_line(cli("diff", path, LS_TRACE), 2)


def test_oci_parse_checks_every_field_type() -> None:
    base = {"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86_64"]}
    cases = [({"syscalls": 5}, "syscalls: expected a list, found a number"),
             ({"archMap": "x"}, "archMap: expected a list"),
             ({"syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW", "includes": []}]},
              "syscalls[0].includes: expected an object, found a list"),
             ({"syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW",
                             "includes": {"caps": "CAP_SYS_ADMIN"}}]},
              "syscalls[0].includes.caps: expected a list"),
             ({"syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW",
                             "includes": {"minKernel": 5}}]}, "minKernel: expected a string"),
             ({"syscalls": [{"names": ["read"], "action": ["SCMP_ACT_ALLOW"]}]},
              "syscalls[0].action: unsupported action ['SCMP_ACT_ALLOW']"),
             ({"linux": {"seccomp": []}}, "linux.seccomp: expected an object")]
    for extra, expect in cases:
        with pytest.raises(SeccompGenError) as info:
            oci.parse(json.dumps({**base, **extra}), "p.json")
        assert expect in info.value.one_line()
    p = oci.parse(json.dumps({**base, "syscalls": [
        {"names": ["read"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "9" * 5000}}]}),
        host=oci.DockerHost("x86_64", "6.18"))
    assert p.rules == ()


# --- "-" is standard input -----------------------------------------------------------------------


def test_strace_log_on_stdin(tmp_path: Path) -> None:
    log = ('123 execve("/bin/true", ["true"], 0x7ffd /* 20 vars */) = 0\n'
           "123 brk(NULL)                = 0x55d0c0a4a000\n"
           "123 exit_group(0)            = ?\n"
           "123 +++ exited with 0 +++\n")
    res = cli("import", "-", "-o", tmp_path / "t.json", input=log.encode())
    assert res.returncode == 0, res.stderr
    trace = traces.load(tmp_path / "t.json")
    assert trace.names() == {"execve", "brk", "exit_group"}
    assert any("imported from strace output: <stdin>" in n for n in trace.header.notes)
