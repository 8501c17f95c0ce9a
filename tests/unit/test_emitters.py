"""Emitters: round trips (emit -> parse -> same Profile), byte stability, format details."""

from __future__ import annotations

import importlib.util
import json
import random
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from helpers.paths import DOCKER_DEFAULT as REFERENCE
from helpers.synth_helpers import mixed_trace

from seccomp_gen.errors import SeccompGenError
from seccomp_gen.formats import emit, lxc, oci, parse, python_table, sniff
from seccomp_gen.profile import Profile, widen
from seccomp_gen.synthesize import Policy, synthesize


def _profiles() -> list[Profile]:
    t = mixed_trace()
    return [synthesize(t, Policy(args=a, baseline=b))
            for a, b in (("none", "none"), ("safe", "runc"), ("strict", "lxc"))]


@pytest.mark.parametrize("p", _profiles(), ids=["none", "safe-runc", "strict-lxc"])
def test_round_trips(p: Profile) -> None:
    assert lxc.parse(lxc.emit(p)) == p
    assert python_table.parse(python_table.emit(p)) == p
    # OCI cannot say which arch a rule is for: it round-trips to the widened profile.
    assert oci.parse(oci.emit(p)) == widen(p)
    assert oci.parse(oci.emit(p, docker=True)) == widen(p)
    for fmt in ("oci", "lxc", "python"):
        text = emit(p, fmt)
        assert emit(parse(text, fmt), fmt) == (text if fmt != "oci" else emit(widen(p), fmt))
        assert sniff(text) == fmt


@pytest.mark.parametrize("fmt", ["oci", "lxc", "python"])
def test_byte_stable_under_shuffled_input(fmt: str) -> None:
    p = _profiles()[2]
    rules = list(p.rules)
    random.Random(3).shuffle(rules)
    shuffled = replace(p, rules=tuple(rules), architectures=tuple(reversed(p.architectures)))
    assert emit(p, fmt) == emit(p, fmt) == emit(shuffled, fmt)


def test_oci_shape() -> None:
    p = _profiles()[1]
    doc = json.loads(oci.emit(p))
    assert list(doc) == ["comment", "defaultAction", "defaultErrnoRet", "architectures",
                         "syscalls"]
    # Only the ABIs the trace used: x32 is not listed, so its calls are killed.
    assert doc["architectures"] == ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"]
    assert doc["defaultAction"] == "SCMP_ACT_ERRNO" and doc["defaultErrnoRet"] == 1
    clone = next(e for e in doc["syscalls"] if e["names"] == ["clone"])
    assert clone["args"] == [{"index": 0, "value": 0x7E020000, "valueTwo": 0,
                              "op": "SCMP_CMP_MASKED_EQ"}]
    clone3 = next(e for e in doc["syscalls"] if e["names"] == ["clone3"])
    assert clone3["action"] == "SCMP_ACT_ERRNO" and clone3["errnoRet"] == 38
    base = [e for e in doc["syscalls"] if e.get("comment", "").startswith("baseline: runc: ")]
    assert {n for e in base for n in e["names"]} >= {"fstatfs", "epoll_ctl"}
    assert any(line.startswith("skipped: x86_64 syscall_0x1f4") for line in doc["comment"])
    assert "2026" not in oci.emit(p)  # no timestamps


def test_oci_docker_archmap() -> None:
    doc = json.loads(oci.emit(_profiles()[0], docker=True))
    assert "architectures" not in doc
    assert doc["archMap"] == [{"architecture": "SCMP_ARCH_X86_64",
                               "subArchitectures": ["SCMP_ARCH_X86"]}]


def test_oci_parse_splits_same_index_args_like_runc() -> None:
    text = json.dumps({"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86_64"],
                       "syscalls": [{"names": ["personality"], "action": "SCMP_ACT_ALLOW",
                                     "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_EQ"},
                                              {"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]}]})
    p = oci.parse(text)
    assert len(p.rules) == 2 and p.default_errno == 1


def test_oci_parses_docker_reference() -> None:
    p = oci.parse(REFERENCE.read_text(), str(REFERENCE), host=oci.DockerHost("x86_64", "6.18"))
    assert "x86_64" in p.architectures and "read" in p.names("x86_64")
    assert "chroot" in p.names()  # CAP_SYS_CHROOT is a Docker default capability
    assert "bpf" not in p.names()  # CAP_SYS_ADMIN is not


@pytest.mark.parametrize("text, match", [
    ("{", "not JSON"),
    ("[]", "JSON object"),
    ('{"defaultAction": "SCMP_ACT_ALLOW"}', "denylist"),
    ('{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["x"], '
     '"action": "SCMP_ACT_NOTIFY"}]}', "unsupported action"),
    ('{"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["amd64"]}', "SCMP_ARCH"),
    *[('{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": '
       f'"SCMP_ACT_ALLOW", "args": [{{"index": {i}, "value": 1, "op": "SCMP_CMP_EQ"}}]}}]}}',
       r"syscalls\[0\]\.args\[0\]\.index: expected an argument index 0-5")
      for i in ("6", "9", "-1", "true", '"1"')],
])
def test_oci_parse_errors_are_one_line(text: str, match: str) -> None:
    with pytest.raises(SeccompGenError, match=match) as info:
        oci.parse(text, "p.json")
    assert "\n" not in info.value.one_line() and info.value.one_line().startswith("p.json: ")


def test_lxc_grammar_details() -> None:
    text = lxc.emit(_profiles()[2])
    lines = text.splitlines()
    assert lines[:2] == ["2", "allowlist errno 1"]
    assert "" not in lines  # LXC reads an empty line as a syscall named ""
    assert "[x86_64]" in lines and "[x86]" in lines and "[x32]" not in lines
    # MASKED_EQ: the expected value second, the mask fourth; an explicit action before args.
    assert "clone allow [0,0,SCMP_CMP_MASKED_EQ,2114060288]" in lines
    assert "mprotect allow [2,0,SCMP_CMP_MASKED_EQ,6]" in lines  # W^X: write and exec bits
    assert "clone3 errno 38" in lines
    i = lines.index("capget")
    assert lines[i - 1].startswith("# baseline: lxc: ")
    x86 = lines[lines.index("[x86]") + 1:]
    assert "socketcall allow [0,1,SCMP_CMP_EQ]" in x86 and "read" in x86


def test_lxc_refuses_what_lxc_cannot_say() -> None:
    for action in ("kill-process", "log"):
        with pytest.raises(SeccompGenError, match="LXC policies have no"):
            lxc.emit(synthesize(mixed_trace(), Policy(default_action=action)))
    p = synthesize(mixed_trace())
    with pytest.raises(SeccompGenError, match="no policy section for riscv64"):
        lxc.emit(replace(p, architectures=("riscv64",)))
    assert lxc.emit(synthesize(mixed_trace(), Policy(default_action="kill"))).splitlines()[1] \
        == "allowlist kill"


def test_lxc_parse_accepts_lxc_spellings_and_rejects_garbage() -> None:
    p = lxc.parse("2\nwhitelist\n[X86_64]\nread\nwrite allow [0,1,==]\n"
                  "clone allow [0,0,&=,0x7E020000]\n")
    assert p.default_action == "kill" and p.names("x86_64") == {"read", "write", "clone"}
    clone = next(r for r in p.rules if r.name == "clone")
    assert (clone.conditions[0].value, clone.conditions[0].value_two) == (0x7E020000, 0)
    for bad, match in (("1\nallowlist\n", "version 2"), ("2\ndenylist\n", "only allowlist"),
                       ("2\nallowlist\nread\n", "before any"),
                       ("2\nallowlist\n[amd64]\n", "unsupported section"),
                       ("2\nallowlist\n[x86_64]\nread [0,1,SCMP_CMP_EQ]\n", "explicit action")):
        with pytest.raises(SeccompGenError, match=match):
            lxc.parse(bad, "p.seccomp")


def test_python_table_module_runs_and_prints(tmp_path: Path) -> None:
    p = _profiles()[1]
    path = tmp_path / "policy.py"
    path.write_text(python_table.emit(p))
    out = subprocess.run([sys.executable, str(path)], capture_output=True, text=True,
                         check=True).stdout
    assert out.startswith("default: errno 1\narchitectures: x86_64, x86\n")
    assert "clone3" in out and "skipped: x86_64 syscall_0x1f4" in out
    spec = importlib.util.spec_from_file_location("policy", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert p.architectures == mod.ARCHITECTURES and callable(mod.apply)


def test_pure_modules_do_not_import_libseccomp() -> None:
    code = ("import sys; import seccomp_gen.formats, seccomp_gen.synthesize, "
            "seccomp_gen.profile, seccomp_gen.syscalls.baselines; "
            "bad = [m for m in ('pyseccomp', 'rich', 'ptrace') if m in sys.modules]; "
            "print(bad); sys.exit(1 if bad else 0)")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr


def test_unknown_format() -> None:
    with pytest.raises(SeccompGenError, match="unknown format"):
        emit(_profiles()[0], "yaml")
    with pytest.raises(SeccompGenError, match="--docker"):
        emit(_profiles()[0], "lxc", docker=True)
