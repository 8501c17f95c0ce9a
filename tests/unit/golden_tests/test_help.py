"""Every command's ``--help`` is pinned in golden/help/: flags, choices and wording change only
on purpose (``python -m pytest tests/unit/golden_tests --update-golden``, then review the diff).

Run in-process with a fixed width (argparse wraps to ``$COLUMNS``), so the text does not depend
on the terminal the tests run in.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest

from seccomp_gen.cli import main

GOLDEN = Path(__file__).parent / "golden" / "help"
COMMANDS = ("", "record", "show", "generate", "diff", "merge", "import", "run", "check",
            "audit", "analyze", "explain")


def _help(command: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("COLUMNS", "100")
    out = io.StringIO()
    argv = [command, "--help"] if command else ["--help"]
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as ended:
        main(argv)
    assert ended.value.code == 0
    return out.getvalue()


@pytest.mark.parametrize("command", COMMANDS, ids=[c or "seccomp-gen" for c in COMMANDS])
def test_help_is_unchanged(command: str, update_golden: bool,
                           monkeypatch: pytest.MonkeyPatch) -> None:
    text = _help(command, monkeypatch)
    path = GOLDEN / f"{command or 'seccomp-gen'}.txt"
    if update_golden:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return
    assert path.exists(), (
        f"{path.name} is missing; run pytest tests/unit/golden_tests --update-golden")
    assert text == path.read_text(), (
        f"{path.name} changed; if intended, run pytest tests/unit/golden_tests --update-golden")
