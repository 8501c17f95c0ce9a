"""Reading input: the size cap, pipes and devices, ``-`` for stdin, limits of the JSON decoder,
one reader and one verdict for profiles (issue 11, items 5, 6 and 9).

Each failure is one line naming the file, never a traceback, a hang or the OOM killer.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.paths import DOCKER_DEFAULT as DOCKER
from helpers.paths import LS_TRACE, SAMPLES

from seccomp_gen.errors import SeccompGenError, TraceFileError
from seccomp_gen.files import traces
from seccomp_gen.files.inputs import MAX_INPUT_ENV, format_size, parse_size, read_text
from seccomp_gen.files.profiles import load_profile
from seccomp_gen.formats import oci, python_table
from seccomp_gen.profile import Profile

CLI = [sys.executable, "-m", "seccomp_gen"]


def cli(*args: str | Path, stdin: bytes = b"", env: dict[str, str] | None = None,
        timeout: float = 120) -> subprocess.CompletedProcess[bytes]:
    # subprocess.run SIGKILLs the child when the timeout expires.
    full_env = None
    if env is not None:
        import os

        full_env = {**os.environ, **env}
    return subprocess.run([*CLI, *map(str, args)], capture_output=True, timeout=timeout,
                          check=False, input=stdin, env=full_env)


def one_error_line(res: subprocess.CompletedProcess[bytes], status: int = 125) -> str:
    err = res.stderr.decode()
    lines = err.strip().splitlines()
    assert res.returncode == status, err
    assert len(lines) == 1 and lines[0].startswith("seccomp-gen: error:"), err
    assert "Traceback" not in err
    return lines[0]


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
                             env={**__import__("os").environ, MAX_INPUT_ENV: "4M"})
    finally:
        yes.kill()
        yes.wait()
    line = one_error_line(res)
    assert "<stdin>: larger than the input limit of 4 MiB" in line
    assert f"set {MAX_INPUT_ENV}=SIZE" in line


def test_a_file_over_the_cap_is_refused_before_it_is_read(tmp_path: Path) -> None:
    big = tmp_path / "big.trace.json"
    big.write_text(LS_TRACE.read_text())
    for argv in (["show", big], ["generate", big, "-o", tmp_path / "o.json"],
                 ["diff", big, LS_TRACE], ["run", "--profile", big, "--", "true"]):
        res = cli(*argv, env={MAX_INPUT_ENV: "4K"})
        line = one_error_line(res, 2 if argv[0] == "diff" else 125)
        assert f"{big}: 10.9 KiB, larger than the input limit of 4 KiB" in line
    assert cli("show", big, env={MAX_INPUT_ENV: "unlimited"}).returncode == 0
    line = one_error_line(cli("show", big, env={MAX_INPUT_ENV: "lots"}))
    assert f"{MAX_INPUT_ENV}='lots' is not a size" in line


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


def test_errno_beyond_what_libseccomp_takes(tmp_path: Path) -> None:
    """libseccomp refuses SCMP_ACT_ERRNO(4095) and above: an LXC policy with ``errno 11111``
    (found by the fuzz tests) and ``generate --errno 4095`` were an OSError traceback."""
    lxc_text = "2\nallowlist errno 11111\n[x86_64]\nread\n"
    oci_text = json.dumps({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 5000,
                           "architectures": ["SCMP_ARCH_X86_64"], "syscalls": []})
    for name, text, expect in (("p.lxc", lxc_text, "line 2: errno without a number (0-4094)"),
                               ("p.json", oci_text, "defaultErrnoRet: expected an errno, 0-4094")):
        path = tmp_path / name
        path.write_text(text)
        assert expect in one_error_line(cli("run", "--profile", path, "--", "true"))
        assert expect in one_error_line(cli("diff", path, LS_TRACE), 2)
    line = one_error_line(cli("generate", LS_TRACE, "--errno", "4095", "-o", tmp_path / "g"))
    assert "errno 4095 out of range (use 0-4094)" in line
    assert cli("generate", LS_TRACE, "--errno", "4094", "-o", tmp_path / "g").returncode == 0


def test_python_table_with_wrong_types_is_refused_by_every_command(tmp_path: Path) -> None:
    """``DEFAULT_ERRNO = 'one'`` passed ``check`` and was a TypeError in ``run``."""
    p = tmp_path / "p.py"
    assert cli("generate", LS_TRACE, "--format", "python", "-o", p).returncode == 0
    good = p.read_text()
    p.write_text(good.replace("DEFAULT_ERRNO = 1", "DEFAULT_ERRNO = 'one'"))
    for argv, status in ((["run", "--profile", p, "--", "true"], 125),
                         (["check", "--profile", p, "--", "true"], 125),
                         (["diff", p, LS_TRACE], 2),
                         (["record", "--known", p, "-o", tmp_path / "t.json", "--", "true"], 125)):
        line = one_error_line(cli(*argv), status)
        assert "DEFAULT_ERRNO: expected an integer 0-4094, found 'one'" in line
    with pytest.raises(ValueError, match="default_errno must be an integer"):
        Profile("errno", "one", ("x86_64",), ())  # type: ignore[arg-type]  # the model, too
    for bad, match in ((good.replace("'x86_64', 'x86', 'x32')", "'x86_64', 3, 'x32')", 1),
                        r"ARCHITECTURES\[1\]: expected a string"),
                       (good.replace("('x86_64',), 'access'", "('x86_64',), 'acc\\x00ess'"),
                        r"RULES\[0\]\[1\]: not a syscall name"),
                       (good.replace("DEFAULT_ACTION = 'errno'", "DEFAULT_ACTION = 7"),
                        "DEFAULT_ACTION: unknown action 7")):
        assert bad != good
        with pytest.raises(SeccompGenError, match=match):
            python_table.parse(bad, "p.py")


# --- one reader, one verdict ----------------------------------------------------------------------


def _oci(tmp_path: Path, name: str, **changes: object) -> Path:
    doc: dict[str, object] = {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1,
                              "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86",
                                                "SCMP_ARCH_X32"],
                              "syscalls": [{"names": ["read", "write"],
                                            "action": "SCMP_ACT_ALLOW"}]}
    doc.update(changes)
    path = tmp_path / name
    path.write_text(json.dumps(doc))
    return path


def test_malformed_profiles_get_the_same_verdict_from_every_command(tmp_path: Path) -> None:
    """A NUL in a name, or ``architectures`` that is a string: ``run`` refused, ``diff`` said
    equal. Now every command refuses them with the same line."""
    base = _oci(tmp_path, "base.json")
    cases = {
        "nul": (_oci(tmp_path, "nul.json", syscalls=[{"names": ["read\x00", "write"],
                                                      "action": "SCMP_ACT_ALLOW"}]),
                r"syscalls[0].names[0]: not a syscall name: 'read\x00'"),
        "arches": (_oci(tmp_path, "arches.json", architectures="SCMP_ARCH_X86_64"),
                   "architectures: expected a list, found a string"),
        "bracket": (_oci(tmp_path, "bracket.json", architectures=["SCMP_ARCH_X86_64]\n[ALL"]),
                    "architectures[0]: not an SCMP_ARCH_* name"),
    }
    for path, expect in cases.values():
        with pytest.raises(SeccompGenError) as info:
            load_profile(path)
        assert expect in info.value.one_line()
        for argv, status in ((["diff", path, base], 2), (["diff", base, path], 2),
                             (["run", "--profile", path, "--", "true"], 125),
                             (["check", "--profile", path, "--", "true"], 125),
                             (["import", path, "-o", tmp_path / "i.json"], 125),
                             (["record", "--known", path, "-o", tmp_path / "t.json", "--",
                               "true"], 125)):
            assert expect in one_error_line(cli(*argv), status), argv
    assert not (tmp_path / "i.json").exists() and not (tmp_path / "t.json").exists()


def test_unknown_names_are_one_documented_skip_everywhere(tmp_path: Path) -> None:
    """A name libseccomp does not know (``futex_waitv2``, or Docker's ``getxattrat``): ``run``
    refused the profile while ``diff`` ignored the name; now every reader leaves the rule out,
    lists it as skipped and says so, as ``import`` did, and runc does."""
    base = tmp_path / "base.json"
    assert cli("generate", LS_TRACE, "-o", base).returncode == 0
    doc = json.loads(base.read_text())
    doc["syscalls"][0]["names"].append("futex_waitv2")
    unknown = tmp_path / "unknown.json"
    unknown.write_text(json.dumps(doc))
    profile, _ = load_profile(unknown)
    assert "futex_waitv2" not in profile.names()
    assert {(s.arch, s.name) for s in profile.skipped} == {
        (a, "futex_waitv2") for a in ("x86_64", "x86", "x32")}
    diff = cli("diff", unknown, base)
    assert diff.returncode == 0, diff.stderr
    assert b"note: A: rules for 1 syscall name(s) libseccomp does not know were left out " \
           b"(futex_waitv2)" in diff.stdout
    res = cli("run", "--profile", unknown, "--", "true")
    assert res.returncode == 0, res.stderr
    assert b"futex_waitv2" in res.stderr
    docker, _ = load_profile(DOCKER)
    assert "getxattrat" in {s.name for s in docker.skipped} and "read" in docker.names("x86_64")
    res = cli("run", "--profile", DOCKER, "--", "true")
    assert res.returncode == 0, res.stderr


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
        {"names": ["read"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "9" * 5000}}]}))
    assert p.rules == ()


# --- "-" is standard input -----------------------------------------------------------------------


def test_stdin_everywhere_a_file_is_read(tmp_path: Path) -> None:
    trace = LS_TRACE.read_bytes()
    profile = tmp_path / "ls.json"
    assert cli("generate", LS_TRACE, "-o", profile).returncode == 0
    prof = profile.read_bytes()
    res = cli("show", "-", stdin=trace)
    assert res.returncode == 0 and b"<stdin>" not in res.stderr and b"301 calls" in res.stdout
    assert cli("generate", "-", "-o", tmp_path / "g.json", stdin=trace).returncode == 0
    assert (tmp_path / "g.json").read_bytes() == prof
    assert cli("diff", "-", profile, "--arch", "x86_64", stdin=trace).returncode == 0
    assert cli("diff", profile, "-", "--arch", "x86_64", stdin=trace).returncode == 0
    other = SAMPLES / "shell-pipeline.trace.json"  # another run: not a duplicate
    assert cli("merge", "-", other, "-o", tmp_path / "m.json", stdin=trace).returncode == 0
    res = cli("import", "-", "--format", "lxc", "-o", tmp_path / "d.lxc",
              stdin=DOCKER.read_bytes())
    assert res.returncode == 0 and b"read <stdin> (oci)" in res.stderr
    res = cli("run", "--profile", "-", "--", "true", stdin=prof)
    assert res.returncode == 0 and b"0 violations of <stdin>" in res.stderr, res.stderr
    assert cli("check", "--profile", "-", "--", "true", stdin=prof).returncode == 0
    res = cli("record", "--known", "-", "-q", "-o", tmp_path / "k.json", "--", "true",
              stdin=prof)
    assert res.returncode == 0, res.stderr
    assert "twice" not in one_error_line(cli("diff", "-", "-", stdin=trace), 2)
    assert "more than once" in one_error_line(cli("merge", "-", "-", "-o", tmp_path / "x.json",
                                                  stdin=trace))
    assert "more than once" in one_error_line(cli("generate", "-", "-", "-o",
                                                  tmp_path / "x.json", stdin=trace))
    assert "cannot rewrite standard input" in one_error_line(
        cli("check", "--update", "--profile", "-", "--", "true", stdin=prof))
    assert "<stdin>: empty file" in one_error_line(cli("show", "-"))
    assert not (tmp_path / "x.json").exists()


def test_strace_log_on_stdin(tmp_path: Path) -> None:
    log = ('123 execve("/bin/true", ["true"], 0x7ffd /* 20 vars */) = 0\n'
           "123 brk(NULL)                = 0x55d0c0a4a000\n"
           "123 exit_group(0)            = ?\n"
           "123 +++ exited with 0 +++\n")
    res = cli("import", "-", "-o", tmp_path / "t.json", stdin=log.encode())
    assert res.returncode == 0, res.stderr
    trace = traces.load(tmp_path / "t.json")
    assert trace.names() == {"execve", "brk", "exit_group"}
    assert any("imported from strace output: <stdin>" in n for n in trace.header.notes)
