"""Every command that only reads files, on a table of bad files (issue 11, item 5).

For each: one line on stderr starting ``seccomp-gen: error:``, exit 125 (``diff``: 2, as
diff(1)), no traceback, and nothing written (:mod:`helpers.bad_files`). The same table given to
``run``, ``check`` and ``record --known``: tests/live/test_bad_files_run_check_record.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.bad_files import assert_bad_files_refused
from helpers.paths import LS_TRACE

#: (name, argv with {} for the bad file and {out} for an output path).
COMMANDS: list[tuple[str, list[str]]] = [
    ("show", ["show", "{}"]),
    ("show-json", ["show", "{}", "--json", "--by", "process"]),
    ("generate", ["generate", "{}", "-o", "{out}"]),
    ("diff-a", ["diff", "{}", str(LS_TRACE)]),
    ("diff-b", ["diff", str(LS_TRACE), "{}"]),
    ("merge", ["merge", str(LS_TRACE), "{}", "-o", "{out}"]),
    ("import", ["import", "{}", "-o", "{out}"]),
    ("import-lxc", ["import", "{}", "--format", "lxc", "-o", "{out}"]),
    ("audit", ["audit", "{}"]),
    ("audit-trace", ["audit", str(LS_TRACE), "--trace", "{}"]),
    ("analyze", ["analyze", "{}"]),
    ("explain", ["explain", "{}"]),
    ("explain-json", ["explain", "{}", "openat", "--json"]),
]


@pytest.mark.parametrize("command", [c for c, _ in COMMANDS])
def test_bad_files_one_line_and_nothing_written(tmp_path: Path, command: str) -> None:
    assert_bad_files_refused(tmp_path, dict(COMMANDS)[command],
                             2 if command.startswith(("diff", "audit")) else 125)
