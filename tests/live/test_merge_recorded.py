"""``merge`` of real recordings (the merge command on files: tests/unit/test_merge_import.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers.cli import cli_text


@pytest.mark.live
def test_merge_keeps_that_results_were_not_recorded(tmp_path: Path) -> None:
    """Two seccomp-backend traces (no return values): the merged header still says so, and
    ``show`` prints n/a in the errors column, not 0."""
    a, b, out = (tmp_path / f"{n}.trace.json" for n in ("a", "b", "out"))
    for path, cmd in ((a, ["true"]), (b, ["sh", "-c", "exit 0"])):
        res = cli_text("record", "-q", "--backend", "seccomp", "-o", path, "--", *cmd)
        assert res.returncode == 0, res.stderr
        assert json.loads(path.read_text())["header"]["records_results"] is False
    assert cli_text("merge", a, b, "-o", out).returncode == 0
    assert json.loads(out.read_text())["header"]["records_results"] is False
    shown = cli_text("show", out, "--json")
    rows = json.loads(shown.stdout)["rows"]
    assert rows and all(r["errors"] is None for r in rows)
