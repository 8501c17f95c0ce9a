"""Every command reads a profile the same way, ``run``, ``check`` and ``record --known`` included:
the input cap, errno limits, wrong types and malformed profiles get the same one-line verdict,
unknown names the same documented skip, and ``-`` is stdin everywhere (issue 11, items 5, 6 and
9). These start ``run``/``check``/``record`` (most of them refuse before anything runs); the
readers alone, and the commands that only read files: tests/unit/test_inputs.py."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from helpers.cli import cli, one_error_line
from helpers.paths import DOCKER_DEFAULT as DOCKER
from helpers.paths import LS_TRACE, SAMPLES

from seccomp_gen.errors import SeccompGenError
from seccomp_gen.files.inputs import MAX_INPUT_ENV
from seccomp_gen.files.profiles import load_profile
from seccomp_gen.formats import python_table
from seccomp_gen.profile import Profile


def test_a_file_over_the_cap_is_refused_before_it_is_read(tmp_path: Path) -> None:
    big = tmp_path / "big.trace.json"
    big.write_text(LS_TRACE.read_text())
    assert 4 * 1024 < big.stat().st_size < 100 * 1024  # over the cap, and written "N.N KiB"
    size = f"{big.stat().st_size / 1024:.1f} KiB"
    for argv in (["show", big], ["generate", big, "-o", tmp_path / "o.json"],
                 ["diff", big, LS_TRACE], ["run", "--profile", big, "--", "true"]):
        res = cli(*argv, env={**os.environ, MAX_INPUT_ENV: "4K"})
        line = one_error_line(res, 2 if argv[0] == "diff" else 125)
        assert f"{big}: {size}, larger than the input limit of 4 KiB" in line
    assert cli("show", big, env={**os.environ, MAX_INPUT_ENV: "unlimited"}).returncode == 0
    line = one_error_line(cli("show", big, env={**os.environ, MAX_INPUT_ENV: "lots"}))
    assert f"{MAX_INPUT_ENV}='lots' is not a size" in line


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
    for bad, match in ((good.replace("ARCHITECTURES = ('x86_64',)",
                                     "ARCHITECTURES = ('x86_64', 3)", 1),
                        r"ARCHITECTURES\[1\]: expected a string"),
                       (good.replace("('x86_64',), 'access'", "('x86_64',), 'acc\\x00ess'"),
                        r"RULES\[0\]\[1\]: not a syscall name"),
                       (good.replace("DEFAULT_ACTION = 'errno'", "DEFAULT_ACTION = 7"),
                        "DEFAULT_ACTION: unknown action 7")):
        assert bad != good
        with pytest.raises(SeccompGenError, match=match):
            python_table.parse(bad, "p.py")


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
    assert {(s.arch, s.name) for s in profile.skipped} == {("x86_64", "futex_waitv2")}
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


def test_stdin_everywhere_a_file_is_read(tmp_path: Path) -> None:
    trace = LS_TRACE.read_bytes()
    profile = tmp_path / "ls.json"
    assert cli("generate", LS_TRACE, "-o", profile).returncode == 0
    prof = profile.read_bytes()
    res = cli("show", "-", input=trace)
    calls = f"{sum(r['count'] for r in json.loads(trace)['syscalls'])} calls".encode()
    assert res.returncode == 0 and b"<stdin>" not in res.stderr and calls in res.stdout
    assert cli("generate", "-", "-o", tmp_path / "g.json", input=trace).returncode == 0
    assert (tmp_path / "g.json").read_bytes() == prof
    assert cli("diff", "-", profile, "--arch", "x86_64", input=trace).returncode == 0
    assert cli("diff", profile, "-", "--arch", "x86_64", input=trace).returncode == 0
    other = SAMPLES / "shell-pipeline.trace.json"  # another run: not a duplicate
    assert cli("merge", "-", other, "-o", tmp_path / "m.json", input=trace).returncode == 0
    res = cli("import", "-", "--format", "lxc", "-o", tmp_path / "d.lxc",
              input=DOCKER.read_bytes())
    assert res.returncode == 0 and b"read <stdin> (oci)" in res.stderr
    res = cli("run", "--profile", "-", "--", "true", input=prof)
    assert res.returncode == 0 and b"0 violations of <stdin>" in res.stderr, res.stderr
    assert cli("check", "--profile", "-", "--", "true", input=prof).returncode == 0
    res = cli("record", "--known", "-", "-q", "-o", tmp_path / "k.json", "--", "true",
              input=prof)
    assert res.returncode == 0, res.stderr
    assert "twice" not in one_error_line(cli("diff", "-", "-", input=trace), 2)
    assert "more than once" in one_error_line(cli("merge", "-", "-", "-o", tmp_path / "x.json",
                                                  input=trace))
    assert "more than once" in one_error_line(cli("generate", "-", "-", "-o",
                                                  tmp_path / "x.json", input=trace))
    assert "cannot rewrite standard input" in one_error_line(
        cli("check", "--update", "--profile", "-", "--", "true", input=prof))
    assert "<stdin>: empty file" in one_error_line(cli("show", "-"))
    assert not (tmp_path / "x.json").exists()
