"""The ``generate`` command: checked profiles in every format, its refusals in one line, and what
it says it wrote."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
from helpers.cli import cli_text
from helpers.paths import SAMPLES
from helpers.synth_helpers import mixed_trace, rec, trace

from seccomp_gen.cli import generate as generate_cli
from seccomp_gen.errors import SeccompGenError
from seccomp_gen.files import traces
from seccomp_gen.files.profiles import load_profile
from seccomp_gen.formats import parse


def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    generate_cli.add_arguments(parser)
    args = parser.parse_args(argv)
    return generate_cli.run(args, None, None)


def test_generate_writes_checked_profiles(tmp_path: Path) -> None:
    tpath = tmp_path / "t.trace.json"
    traces.dump(mixed_trace(), tpath)
    for fmt in ("oci", "lxc", "python"):
        out = tmp_path / f"p.{fmt}"
        assert _run([str(tpath), "--format", fmt, "-o", str(out), "--baseline", "runc"]) == 0
        assert parse(out.read_text(), fmt).names("x86") >= {"socketcall", "read"}
    out = tmp_path / "d.json"
    assert _run([str(tpath), str(tpath), "--docker", "-o", str(out), "--args", "strict",
                 "--default-action", "kill-process"]) == 0
    assert json.loads(out.read_text())["defaultAction"] == "SCMP_ACT_KILL_PROCESS"


def test_generate_errors(tmp_path: Path) -> None:
    tpath = tmp_path / "t.trace.json"
    traces.dump(mixed_trace(), tpath)
    corrupt = tmp_path / "bad.trace.json"
    corrupt.write_text('{"format": "seccomp-gen-trace", "version": 1, "header": {')
    out = tmp_path / "p.json"
    out.write_text("old")
    cases = [
        ([str(tpath), "--format", "yaml", "-o", str(tmp_path / "x")], "unknown format"),
        ([str(tpath), "-o", str(out)], "already exists"),
        (["-o", str(tmp_path / "y")], "at least one trace"),
        ([str(corrupt), "-o", str(tmp_path / "z")], "truncated"),
        ([str(tmp_path / "missing.json"), "-o", str(tmp_path / "z")], "no such file"),
        ([str(tpath), "--format", "lxc", "--default-action", "log", "-o", str(tmp_path / "l")],
         "LXC policies have no"),
        ([str(tpath), "--format", "lxc", "--docker", "-o", str(tmp_path / "l")], "--docker"),
    ]
    for argv, match in cases:
        with pytest.raises(SeccompGenError, match=match) as info:
            _run(argv)
        assert "\n" not in info.value.one_line()
    assert out.read_text() == "old"
    assert _run([str(tpath), "-o", str(out), "--force"]) == 0
    assert out.read_text().startswith("{")
    conflict = tmp_path / "arm.trace.json"
    traces.dump(trace([rec("aarch64", "read")], host="aarch64"), conflict)
    with pytest.raises(SeccompGenError, match="different host arches"):
        _run([str(tpath), str(conflict), "-o", str(tmp_path / "c.json")])


# --- what generate says --------------------------------------------------------------------------


def test_generate_names_only_the_arches_it_allows(tmp_path: Path) -> None:
    """An x86_64-only trace lists x86_64 alone (the other ABIs are killed); with --arches
    family the LXC and Python profiles list x86 and x32 with nothing allowed, and OCI applies
    every name to every listed arch."""
    ls = SAMPLES / "ls.trace.json"
    res = cli_text("generate", ls, "--format", "oci", "-o", tmp_path / "alone.json")
    assert res.returncode == 0, res.stderr
    assert res.stderr.strip().endswith("syscalls allowed on x86_64"), res.stderr
    # LXC cannot leave an ABI out (it adds every rule to all of the host's ABIs): it says so.
    res = cli_text("generate", ls, "--format", "lxc", "-o", tmp_path / "alone.lxc")
    assert res.returncode == 0, res.stderr
    assert res.stderr.strip().endswith(
        "; LXC also applies these rules to x86, x32 (it adds every rule to all of the host's "
        "ABIs, whatever the sections say)"), res.stderr
    said = {}
    for fmt in ("oci", "lxc", "python"):
        res = cli_text("generate", ls, "--format", fmt, "--arches", "family", "-o",
                 tmp_path / f"p.{fmt}")
        assert res.returncode == 0, res.stderr
        said[fmt] = res.stderr.strip()
    n = len(load_profile(str(tmp_path / "p.python"))[0].names("x86_64"))
    assert said["python"] == (
        f"python profile written to {tmp_path / 'p.python'}: {n} syscalls allowed on x86_64; "
        "x86, x32 are listed with no allowed syscalls (deny-all for those ABIs)")
    assert said["lxc"] == (
        f"lxc profile written to {tmp_path / 'p.lxc'}: {n} syscalls allowed on x86_64; "
        "[x86], [x32] are empty sections (LXC adds the other sections' rules to those ABIs, "
        "where the names exist)")
    assert said["oci"].endswith("syscalls allowed on x86_64, x86, x32")
    # An i386 program: counts per arch, one arch without a call.
    res = cli_text("generate", SAMPLES / "hello32.trace.json", "--format", "python", "--arches",
             "family", "-o", tmp_path / "h.py")
    assert res.returncode == 0
    h32 = load_profile(str(tmp_path / "h.py"))[0]
    per = {a: len(h32.names(a)) for a in ("x86_64", "x86")}
    assert res.stderr.strip().endswith(
        f"{per['x86_64']} syscall{'s' if per['x86_64'] != 1 else ''} allowed on x86_64, "
        f"{per['x86']} on x86; x32 is listed with no allowed syscalls (deny-all for that ABI)")
