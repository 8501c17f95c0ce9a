"""``run``, ``check`` and ``record --known`` on the table of bad files of :mod:`helpers.bad_files`
(issue 11, item 5): one line, exit 125, no traceback, nothing written (the commands that only
read files: tests/unit/test_bad_inputs_cli.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.bad_files import assert_bad_files_refused

#: (name, argv with {} for the bad file and {out} for an output path).
COMMANDS: list[tuple[str, list[str]]] = [
    ("run", ["run", "--profile", "{}", "-o", "{out}", "--", "true"]),
    ("check", ["check", "--profile", "{}", "--trace-out", "{out}", "--", "true"]),
    ("record", ["record", "--known", "{}", "-o", "{out}", "--", "true"]),
]


@pytest.mark.parametrize("command", [c for c, _ in COMMANDS])
def test_bad_files_one_line_and_nothing_written(tmp_path: Path, command: str) -> None:
    assert_bad_files_refused(tmp_path, dict(COMMANDS)[command], 125)
