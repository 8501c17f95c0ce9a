"""``show`` on files that are not traces: one line, exit 125 (``show`` of a recorded trace, and of
a recorded trace made bad, are live: tests/live/test_record_live.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.cli import assert_one_error_line, cli


def test_show_missing_file(tmp_path: Path) -> None:
    line = assert_one_error_line(cli("show", str(tmp_path / "nope.json")), 125)
    assert "nope.json" in line


def test_show_directory(tmp_path: Path) -> None:
    assert_one_error_line(cli("show", str(tmp_path)), 125)


@pytest.mark.parametrize("doc", ['{"hello": 1}', "[1, 2, 3]", '"seccomp-gen-trace"', "{}", "null"])
def test_show_json_that_is_not_a_trace(doc: str, tmp_path: Path) -> None:
    path = tmp_path / "other.json"
    path.write_text(doc)
    line = assert_one_error_line(cli("show", str(path)), 125)
    assert "not a seccomp-gen trace" in line


def test_show_binary_and_empty_files(tmp_path: Path) -> None:
    binary = tmp_path / "bin.json"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    assert_one_error_line(cli("show", str(binary)), 125)
    empty = tmp_path / "empty.json"
    empty.write_bytes(b"")
    assert_one_error_line(cli("show", str(empty)), 125)
