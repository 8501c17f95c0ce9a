"""The name-only formats, systemd drop-ins and firejail profiles: what each holds of a profile
(arguments widened, said so), round trips, sniffing, escaping and bad input as one line. The real
systemd and firejail load them in tests/e2e/test_consumers.py."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from helpers.cli import assert_one_error_line, cli
from helpers.paths import SAMPLES
from helpers.synth_helpers import mixed_trace

from seccomp_gen.errors import SeccompGenError
from seccomp_gen.files import traces
from seccomp_gen.formats import as_written, consumer_notes, emit, firejail, parse, sniff, systemd
from seccomp_gen.profile import ArgCondition, Profile, Rule
from seccomp_gen.synthesize import Policy, synthesize

FORMATS = ("systemd", "firejail")


def _profiles() -> list[Profile]:
    out = [synthesize(mixed_trace(), Policy(args=a)) for a in ("none", "safe", "strict")]
    out += [synthesize(traces.load(p), Policy()) for p in sorted(SAMPLES.glob("*.trace.json"))]
    return out


def _expanded(p: Profile) -> set[tuple[object, ...]]:
    """The rules, one per arch, comments aside."""
    return {(r.name, a, r.verdict, r.conditions) for r in p.rules for a in r.arches}


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("p", _profiles())
def test_round_trip_is_the_profile_as_written(p: Profile, fmt: str) -> None:
    if fmt == "firejail" and p.architectures != ("x86_64",):
        with pytest.raises(SeccompGenError, match=r"seccomp\.32\.keep"):
            emit(p, fmt)
        p = replace(p, architectures=("x86_64",))
    text = emit(p, fmt)
    back = parse(text, fmt)
    meant = as_written(p, fmt)
    assert back.default_verdict == meant.default_verdict
    assert back.architectures == meant.architectures
    assert _expanded(back) == _expanded(meant)
    assert back.provenance == p.provenance and back.notes == p.notes
    assert emit(back, fmt) != "" and emit(p, fmt) == text  # deterministic
    assert sniff(text) == fmt
    # Nothing is narrowed: every call the profile allows, the written form allows.
    for r in p.rules:
        if r.action == "allow":
            for arch in r.arches:
                if arch in meant.architectures:
                    assert meant.verdict(arch, r.name, [0] * 6) == ("allow", None) or any(
                        m.name == r.name and m.conditions for m in meant.rules), r


def test_widened_rules_are_named_in_the_file_and_the_notes() -> None:
    p = synthesize(mixed_trace(), Policy(args="strict"))
    p = replace(p, architectures=("x86_64",))  # what firejail can hold
    wide = sorted({r.name for r in p.rules if r.conditions and r.action == "allow"
                   and "x86_64" in r.arches})
    assert wide
    for fmt in FORMATS:
        text = emit(p, fmt)
        notes = consumer_notes(p, fmt)
        line = next(n for n in notes if n.startswith("widened: "))
        assert f"# {line}" in text.splitlines()
        for name in wide:
            if not (fmt == "firejail" and name == "socket"):
                assert name in line.split(": ")[-1].split(), (fmt, name)
    assert any("@default" in n for n in consumer_notes(p, "systemd"))


def test_systemd_text() -> None:
    p = Profile("errno", 1, ("x86_64", "x86"), (
        Rule("read", ("x86_64", "x86")), Rule("clone3", ("x86_64",), "errno", 38),
        Rule("socket", ("x86_64",), conditions=(ArgCondition(0, "EQ", 1),))))
    text = systemd.emit(p)
    assert text.splitlines()[-4:] == [
        "SystemCallArchitectures=x86-64 x86", "SystemCallErrorNumber=EPERM",
        "SystemCallFilter=read socket", "SystemCallFilter=~clone3:ENOSYS"]
    back = systemd.parse(text)
    assert back.verdict("x86", "clone3") == ("errno", 38)  # widened to every listed ABI
    assert back.verdict("x86_64", "socket", [2]) == ("allow", None)
    kill = systemd.emit(replace(p, default_action="kill", default_errno=None))
    assert "SystemCallErrorNumber" not in kill
    assert systemd.parse(kill).default_verdict == ("kill-process", None)
    # A long list continues on more lines, each short.
    many = replace(p, rules=tuple(Rule(f"call_{i}", ("x86_64",)) for i in range(60)))
    lines = [line for line in systemd.emit(many).splitlines()
             if line.startswith("SystemCallFilter=")]
    assert len(lines) >= 5 and all(len(line) <= 120 for line in lines)
    assert len(systemd.parse(systemd.emit(many)).rules) == 60


def test_systemd_reads_units_as_systemd_does() -> None:
    text = ("[Unit]\nDescription=x\nSystemCallFilter=ignored_outside\n[Service]\n"
            "ExecStart=/bin/true\n; a comment\nSystemCallFilter=read write \\\n  openat\n"
            "SystemCallFilter=@default getpid\nSystemCallFilter=~write\n"
            "SystemCallFilter=~getppid:EACCES\nSystemCallArchitectures=x86-64\n"
            "SystemCallErrorNumber=38\n")
    p = systemd.parse(text)
    assert sorted(p.names()) == ["getpid", "openat", "read"]
    assert p.verdict("x86_64", "getppid") == ("errno", 13)
    assert p.default_verdict == ("errno", 38)
    assert sniff(text) == "systemd"
    reset = text.replace("SystemCallFilter=@default", "SystemCallFilter=\nSystemCallFilter=")
    assert sorted(systemd.parse(reset).names()) == ["getpid"]


@pytest.mark.parametrize("text, what", [
    ("[Service]\nSystemCallFilter=~mount\nSystemCallArchitectures=x86-64\n", "deny list"),
    ("[Service]\nSystemCallFilter=@system-service\nSystemCallArchitectures=x86-64\n",
     "@system-service"),
    ("[Service]\nSystemCallFilter=read\nSystemCallArchitectures=native\n", "native"),
    ("[Service]\nSystemCallFilter=read\n", "no SystemCallArchitectures"),
    ("[Service]\nSystemCallFilter=read\nSystemCallArchitectures=vax\n", "vax"),
    ("[Service]\nSystemCallFilter=re\x1bad\nSystemCallArchitectures=x86-64\n", "\\x1b"),
    ("[Service]\nSystemCallFilter=read:EPERM\nSystemCallArchitectures=x86-64\n", "after '~'"),
    ("[Service]\nSystemCallFilter=read\nSystemCallFilter=~a:EWHAT\n"
     "SystemCallArchitectures=x86-64\n", "not an errno"),
    ("[Service]\nSystemCallFilter=read\nSystemCallErrorNumber=0\n"
     "SystemCallArchitectures=x86-64\n", "not an errno"),
    ("[Service]\nExecStart=/bin/true\n", "no SystemCallFilter"),
    ("[Service]\nSystemCallFilter=read\nSystemCallFilter=\nSystemCallArchitectures=x86-64\n",
     "reset"),
])
def test_systemd_bad_input_is_one_line(text: str, what: str) -> None:
    with pytest.raises(SeccompGenError) as exc:
        systemd.parse(text, "d.conf")
    assert what in str(exc.value) and "\n" not in str(exc.value) and "\x1b" not in str(exc.value)


def test_comments_cannot_add_settings() -> None:
    evil = "x\nSystemCallFilter=mount\\\n[Service]\r\u2028"
    p = replace(synthesize(mixed_trace(), Policy()), provenance=(evil, "ends in \\"),
                architectures=("x86_64",))
    for fmt in FORMATS:
        text = emit(p, fmt)
        assert all(line.startswith("#") for line in text.splitlines()[:2]), text
        # A systemd line ending in a backslash would continue on the next.
        assert fmt != "systemd" or not text.splitlines()[1].endswith("\\")
        assert "mount" not in parse(text, fmt).names()
    with pytest.raises(SeccompGenError, match="not a syscall name"):
        systemd.emit(replace(p, rules=(Rule("read write", ("x86_64",)),)))
    with pytest.raises(SeccompGenError, match="not a syscall name"):
        firejail.emit(replace(p, rules=(Rule("read,mount", ("x86_64",)),)))


def test_firejail_text() -> None:
    p = Profile("errno", 1, ("x86_64",), (
        Rule("read", ("x86_64",)), Rule("clone3", ("x86_64",), "errno", 38),
        Rule("socket", ("x86_64",), conditions=(ArgCondition(0, "EQ", 1),)),
        Rule("socket", ("x86_64",), conditions=(ArgCondition(0, "EQ", 10),
                                                ArgCondition(1, "EQ", 2)))))
    text = firejail.emit(p)
    assert text.splitlines() == ["seccomp.keep clone3:ENOSYS,read,socket",
                                 "seccomp.block-secondary", "seccomp-error-action EPERM",
                                 "protocol unix,inet6"]
    back = firejail.parse(text)
    assert back.verdict("x86_64", "socket", [10, 1]) == ("allow", None)
    assert back.verdict("x86_64", "socket", [2]) == ("errno", 1)
    # A domain firejail cannot name: socket is allowed by name, and no protocol line.
    raw = replace(p, rules=(Rule("socket", ("x86_64",), conditions=(ArgCondition(0, "EQ", 3),)),))
    assert "protocol" not in firejail.emit(raw)
    assert any("socket" in n for n in consumer_notes(raw, "firejail"))
    # x86 calls cannot be allowed: firejail 0.9.72's seccomp.32.keep lets every one through.
    both = synthesize(mixed_trace(), Policy())
    assert {"x86_64", "x86"} <= set(both.architectures)
    with pytest.raises(SeccompGenError, match="x86"):
        firejail.emit(both)


@pytest.mark.parametrize("text, what", [
    ("seccomp.keep read\n", "no seccomp.block-secondary"),
    ("seccomp.keep read\nseccomp.32.keep read\n", "seccomp.32.keep is not supported"),
    ("seccomp.keep read,@default\nseccomp.block-secondary\n", "@default"),
    ("seccomp.keep read,!write\nseccomp.block-secondary\n", "!write"),
    ("seccomp.keep read,wr ite\nseccomp.block-secondary\n", "not a syscall name"),
    ("seccomp.keep read:kill\nseccomp.block-secondary\n", "read:kill"),
    ("seccomp.keep read\nseccomp.block-secondary\nseccomp-error-action EWHAT\n", "EWHAT"),
    ("seccomp.keep read\nseccomp.block-secondary\nprotocol unix,ipx\n", "ipx"),
    ("seccomp.keep read\nseccomp.drop mount\nseccomp.block-secondary\n", "seccomp.drop"),
    ("private\nnet none\n", "no seccomp.keep"),
])
def test_firejail_bad_input_is_one_line(text: str, what: str) -> None:
    with pytest.raises(SeccompGenError) as exc:
        firejail.parse(text, "p.profile")
    assert what in str(exc.value) and "\n" not in str(exc.value)


def test_what_cannot_be_written_is_refused() -> None:
    p = Profile("errno", 1, ("x86_64", "x86", "x32"), (Rule("read", ("x86_64",)),))
    with pytest.raises(SeccompGenError, match="x32"):
        firejail.emit(p)
    with pytest.raises(SeccompGenError, match="trap"):
        systemd.emit(replace(p, default_action="trap", default_errno=None))
    with pytest.raises(SeccompGenError, match="'kill' rule"):
        systemd.emit(replace(p, rules=(Rule("mount", ("x86_64",), "kill"),)))


def test_cli_generate_import_diff(tmp_path: Path) -> None:
    sample = SAMPLES / "ls.trace.json"
    for fmt, suffix in (("systemd", "conf"), ("firejail", "profile")):
        out = tmp_path / f"ls.{suffix}"
        res = cli("generate", sample, "--format", fmt, "-o", out)
        assert res.returncode == 0, res.stderr
        err = res.stderr.decode()
        assert f"{fmt} profile written" in err, err
        assert ("widened" in err) == (fmt == "systemd"), err  # firejail's protocol says it
        oci = tmp_path / f"{fmt}.json"
        res = cli("import", out, "--format", "oci", "-o", oci)
        assert res.returncode == 0, res.stderr
        res = cli("diff", out, oci)
        assert res.returncode == 0, res.stderr
    bad = tmp_path / "bad.conf"
    bad.write_text("[Service]\nSystemCallFilter=@system-service\nSystemCallArchitectures=x86-64\n")
    assert "@system-service" in assert_one_error_line(cli("diff", bad, bad))
