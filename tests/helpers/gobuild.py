"""Building tests/go/gosym_probe.go with Go's toolchain (.ci/run installs golang-go): a Go
program without cgo, as an executable or a PIE, and a copy stripped by binutils."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from helpers.paths import TESTS

PROBE = TESTS / "go" / "gosym_probe.go"


def build_probe(tmp: Path, mode: str = "exe") -> tuple[Path, Path]:
    """(the probe built with ``-buildmode=mode``, the same file stripped of its ELF symbols)."""
    go = shutil.which("go")
    if go is None:
        pytest.skip("no Go toolchain (golang-go) to build the probe")
    env = {**os.environ, "CGO_ENABLED": "0", "GOFLAGS": "", "GO111MODULE": "off"}
    env.setdefault("GOCACHE", str(tmp / "gocache"))
    exe = tmp / f"probe_{mode}"
    built = subprocess.run([go, "build", f"-buildmode={mode}", "-o", str(exe), str(PROBE)],
                           capture_output=True, text=True, timeout=600, env=env, check=False)
    assert built.returncode == 0, built.stderr
    stripped = tmp / f"probe_{mode}_stripped"
    subprocess.run(["strip", "-o", str(stripped), str(exe)], check=True, timeout=60)
    return exe, stripped
