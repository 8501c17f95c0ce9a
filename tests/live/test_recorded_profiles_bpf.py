"""Profiles synthesized from real recordings are Minimal and Complete in their compiled BPF
(the simulated checks of tests/unit/test_profile_bpf.py, on recordings of ls, threads and a
static i386 program)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from helpers.minimal_complete import assert_complete, assert_minimal
from helpers.record import record_api

from seccomp_gen.libseccomp import simulator
from seccomp_gen.synthesize import Policy, synthesize


@pytest.mark.live
@pytest.mark.parametrize("args", ["none", "safe", "strict"])
def test_recorded_ls_minimal_and_complete(args: str, tmp_path: Path) -> None:
    t = record_api(["ls", "-la", "/"], tmp_path)
    p = synthesize(t, Policy(args=args))
    sim = simulator(p)
    assert_complete(p, t, sim)
    assert_minimal(p, t, sim)


@pytest.mark.live
def test_recorded_threads_and_i386(cbuild: Any, tmp_path: Path) -> None:
    threads = record_api([cbuild["threads"]], tmp_path, name="threads")
    p = synthesize(threads, Policy(args="safe"))
    sim = simulator(p)
    assert_complete(p, threads, sim)
    assert_minimal(p, threads, sim)
    t32 = record_api([cbuild["hello32"]], tmp_path, name="hello32")
    assert any(r.arch == "x86" for r in t32.syscalls)
    p32 = synthesize(t32, Policy(args="strict"))
    sim32 = simulator(p32)
    assert_complete(p32, t32, sim32)
    assert_minimal(p32, t32, sim32)
