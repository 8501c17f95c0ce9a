"""``generate --default-action log`` (the complain profile of the drift loop) and the note that
Docker 20.10 ignores ``defaultErrnoRet``.

The fact behind the note was measured with Debian's docker.io 20.10.24 and dockerd started by
hand (vfs storage, no bridge): a static program calling getcpu under Docker's default profile
without getcpu saw EPERM with ``defaultErrnoRet`` 1, 38 and absent, and ENOSYS (38) only from a
rule's own ``errnoRet``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LS = ROOT / "sample_traces" / "ls.trace.json"
CLI = [sys.executable, "-m", "seccomp_gen"]


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True, timeout=120,
                          check=False)


def test_generate_complain_profile_and_docker_errno_note(tmp_path: Path) -> None:
    res = run("generate", LS, "--default-action", "log", "-o", tmp_path / "log.json")
    assert res.returncode == 0, res.stderr
    assert json.loads((tmp_path / "log.json").read_text())["defaultAction"] == "SCMP_ACT_LOG"
    assert "defaultErrnoRet" not in res.stderr
    res = run("generate", LS, "--errno", "38", "-o", tmp_path / "enosys.json")
    assert res.returncode == 0, res.stderr
    assert "note: Docker 20.10 ignores defaultErrnoRet" in res.stderr
    assert "EPERM, not ENOSYS (38)" in res.stderr
    for extra in ((), ("--errno", "1"), ("--format", "lxc", "--errno", "38")):
        res = run("generate", LS, *extra, "-o", tmp_path / f"p{len(extra)}")
        assert res.returncode == 0 and "defaultErrnoRet" not in res.stderr, res.stderr


def test_import_to_oci_notes_it_too(tmp_path: Path) -> None:
    assert run("generate", LS, "--errno", "38", "--format", "lxc", "-o",
               tmp_path / "p.lxc").returncode == 0
    res = run("import", tmp_path / "p.lxc", "--format", "oci", "-o", tmp_path / "p.json")
    assert res.returncode == 0, res.stderr
    assert "note: Docker 20.10 ignores defaultErrnoRet" in res.stderr
