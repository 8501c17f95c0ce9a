"""The raw BPF format (``--format bpf``): deterministic bytes, read back by simulation, sniffed
apart from every text format, bad files refused in one line; the bwrap baseline's place.

Pure except libseccomp's compiler (no filter is loaded here): what bubblewrap does with these
files is tests/e2e/test_bwrap_bpf.py.
"""

from __future__ import annotations

import os
import random
from dataclasses import replace
from pathlib import Path

import pytest
from helpers.cli import assert_one_error_line, cli, cli_text
from hypothesis import given, settings
from hypothesis import strategies as st

from seccomp_gen.errors import SeccompGenError
from seccomp_gen.files import traces
from seccomp_gen.files.inputs import read_data
from seccomp_gen.files.profiles import BINARY_LIMIT, load_profile, profile_from_data, profile_text
from seccomp_gen.formats import FORMATS, claims, emit, sniff_bytes
from seccomp_gen.formats.bpf import ARCH_LOAD, ARGS_NOT_RECOVERABLE
from seccomp_gen.libseccomp import export_bpf
from seccomp_gen.linux import cbpf
from seccomp_gen.profile import ArgCondition, Profile, Rule, normalize
from seccomp_gen.synthesize import Policy, synthesize
from seccomp_gen.syscalls.baselines import BASELINES

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = sorted((ROOT / "sample_traces").glob("*.trace.json"))
LS = ROOT / "sample_traces" / "ls.trace.json"


def _ls_profile(**policy: str) -> Profile:
    return synthesize(traces.load(LS), Policy(**policy))


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: p.name)
def test_emit_is_deterministic_and_reads_back(sample: Path, tmp_path: Path) -> None:
    """Same trace, same bytes (generate twice); the file reads back as the profile's rules,
    the argument rules as skipped, and sniffs as bpf."""
    outs = []
    for name in ("a.bpf", "b.bpf"):
        res = cli_text("generate", sample, "--format", "bpf", "-o", tmp_path / name)
        assert res.returncode == 0, res.stderr
        outs.append((tmp_path / name).read_bytes())
    assert outs[0] == outs[1] and len(outs[0]) % 8 == 0 and outs[0].startswith(ARCH_LOAD)
    for args in ("safe", "strict"):
        profile = synthesize(traces.load(sample), Policy(args=args))
        path = tmp_path / f"{args}.bpf"
        path.write_bytes(profile_text(profile, "bpf", str(path))[1])
        back, kind = load_profile(path)
        assert kind == "bpf" and not back.skipped
        # Everything, argument rules (EQ, MASKED_EQ) included, reads back.
        assert (back.default_verdict, back.architectures) == (profile.default_verdict,
                                                              profile.architectures)
        assert {(a, r.name, r.verdict, r.conditions) for r in back.rules for a in r.arches} == {
            (a, r.name, r.verdict, r.conditions) for r in normalize(profile).rules
            for a in r.arches}


def test_profile_text_gives_the_compiled_bytes() -> None:
    profile = _ls_profile()
    written, data = profile_text(profile, "bpf", "p.bpf")
    assert isinstance(data, bytes) and data == export_bpf(written)
    assert profile_text(profile, "bpf", "p.bpf")[1] == data


def test_read_back_mismatch_writes_nothing(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """A program that does not say what the profile says is refused before it is written
    (a deliberately wrong compiler: the reader's own check, not the proof, must catch it)."""
    from seccomp_gen.files import profiles

    real = profiles.profile_from_bpf

    def lose_a_rule(data: bytes, source: str) -> Profile:
        back = real(data, source)
        return replace(back, rules=back.rules[1:])

    monkeypatch.setattr(profiles, "profile_from_bpf", lose_a_rule)
    with pytest.raises(SeccompGenError, match="does not read back"):
        profiles.write_profile(_ls_profile(), "bpf", str(tmp_path / "p.bpf"))
    assert not (tmp_path / "p.bpf").exists()


def test_argument_rules_read_back_or_are_skipped_not_guessed() -> None:
    """EQ and MASKED_EQ rules read back as they were; a range compare (GT) cannot be followed:
    that call is listed as skipped, never as a rule."""
    profile = normalize(Profile("errno", 1, ("x86_64",), (
        Rule("read", ("x86_64",)),
        Rule("socket", ("x86_64",), conditions=(ArgCondition(0, "EQ", 1),
                                                ArgCondition(1, "MASKED_EQ", 0xF, 1))),
        Rule("socket", ("x86_64",), conditions=(ArgCondition(0, "EQ", 1 << 33),)),
        Rule("write", ("x86_64",), conditions=(ArgCondition(0, "GT", 2),)),
        Rule("kill", ("x86_64",), "kill-process"),
    )))
    back, kind = profile_from_data(export_bpf(profile), "p.bpf")
    assert kind == "bpf"
    assert {(r.name, r.verdict, r.conditions) for r in back.rules} == {
        (r.name, r.verdict, r.conditions) for r in profile.rules if r.name != "write"}
    [skipped] = back.skipped
    assert skipped.name == "write" and "allow or errno 1" in skipped.reason
    assert ARGS_NOT_RECOVERABLE in skipped.reason
    assert any(ARGS_NOT_RECOVERABLE in n for n in back.notes)


def test_paths_of_a_masked_test() -> None:
    data = export_bpf(normalize(Profile("errno", 1, ("x86_64",), (
        Rule("mmap", ("x86_64",), conditions=(ArgCondition(2, "MASKED_EQ", 6, 2),)),))))
    found = cbpf.paths(cbpf.decode(data), 0xC000003E, 9)
    assert found is not None
    allowed = [tests for value, tests in found if value == cbpf.RET_ALLOW]
    assert allowed == [((2, 6, 2, True),)]


def test_outcomes_follow_both_ways_of_an_argument_jump() -> None:
    prog = cbpf.decode(cbpf.assemble([
        (cbpf.LD_W_ABS, 0, 0, cbpf.ARCH), (cbpf.JEQ_K, 1, 0, 0xC000003E),
        (cbpf.RET_K, 0, 0, cbpf.RET_KILL_THREAD),
        (cbpf.LD_W_ABS, 0, 0, cbpf.NR), (cbpf.JEQ_K, 0, 3, 41),
        (cbpf.LD_W_ABS, 0, 0, cbpf.ARGS), (cbpf.JEQ_K, 0, 1, 1),
        (cbpf.RET_K, 0, 0, cbpf.RET_ALLOW),
        (cbpf.RET_K, 0, 0, cbpf.RET_ERRNO | 1)], {}))
    assert cbpf.outcomes(prog, 0xC000003E, 41) == {cbpf.RET_ALLOW, cbpf.RET_ERRNO | 1}
    assert cbpf.outcomes(prog, 0xC000003E, 0) == {cbpf.RET_ERRNO | 1}
    assert cbpf.outcomes(prog, 0x40000003, None) == {cbpf.RET_KILL_THREAD}


def test_sniffing_keeps_binary_and_text_apart() -> None:
    data = export_bpf(_ls_profile())
    assert sniff_bytes(data) == "bpf"
    assert sniff_bytes(os.urandom(64).replace(ARCH_LOAD[:1], b"\x21")) is None
    profile = _ls_profile()
    for name, fmt in FORMATS.items():
        if not fmt.compiled and fmt.choice:
            text = emit(profile, name)
            assert claims(text) and sniff_bytes(text.encode()) is None, name
    assert FORMATS["bpf"].compiled


def test_read_data_returns_text_or_bytes(tmp_path: Path) -> None:
    text, binary = tmp_path / "t.json", tmp_path / "b.bpf"
    text.write_text('{"a": 1}')
    binary.write_bytes(export_bpf(_ls_profile()))
    assert read_data(text, "x", BINARY_LIMIT) == '{"a": 1}'
    assert read_data(binary, "x", BINARY_LIMIT) == binary.read_bytes()
    big = tmp_path / "big.bin"
    big.write_bytes(b"\0" * (BINARY_LIMIT + 2**20))
    with pytest.raises(SeccompGenError, match="binary data"):
        read_data(big, "x", BINARY_LIMIT)


def _bad_files(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    data = export_bpf(_ls_profile())
    rng = random.Random(14)
    files = {
        "truncated": (data[:-3], "cut short"),
        "no-return": (data + ARCH_LOAD, "cut short: its last instruction is not a return"),
        "random": (bytes([0x7F]) + rng.randbytes(255), "not a seccomp BPF program"),
        "empty": (b"", "empty file"),
        "too-long": (data[:8] + data[8:16] * 4200 + data[-8:], "kernel's limit of 4096"),
    }
    out = {}
    for name, (content, message) in files.items():
        path = tmp_path / f"{name}.bpf"
        path.write_bytes(content)
        out[name] = (path, message)
    return out


@pytest.mark.parametrize("case", ["truncated", "no-return", "random", "empty", "too-long"])
def test_bad_bpf_files_are_one_line_errors(case: str, tmp_path: Path) -> None:
    path, message = _bad_files(tmp_path)[case]
    good = tmp_path / "good.json"
    assert cli("generate", LS, "-o", good).returncode == 0
    for argv in (("diff", path, good), ("import", path, "-o", tmp_path / "out.json")):
        line = assert_one_error_line(cli(*argv), 2 if argv[0] == "diff" else None)
        assert message in line and str(path) in line, line
    assert not (tmp_path / "out.json").exists()


@settings(max_examples=50, deadline=None)
@given(st.binary(max_size=600))
def test_any_bytes_after_the_arch_load_read_or_refuse_in_one_line(tail: bytes) -> None:
    data = ARCH_LOAD + tail
    try:
        profile, kind = profile_from_data(data, "fuzz.bpf")
    except SeccompGenError as exc:
        assert "\n" not in exc.one_line()
        return
    assert kind == "bpf" and normalize(profile) == profile


def test_bwrap_baseline_is_explicit_only() -> None:
    assert {"execve", "wait4", "write", "exit_group"} <= set(BASELINES["bwrap"])
    assert all("(measured" in why for why in BASELINES["bwrap"].values())
    trace = traces.load(LS)
    assert trace.header.runtime != "bwrap"
    auto = synthesize(trace, Policy())
    assert not any(r.baseline for r in auto.rules)
    explicit = synthesize(trace, Policy(baseline="bwrap"))
    assert {r.name for r in explicit.rules if r.baseline} >= {"wait4"}
