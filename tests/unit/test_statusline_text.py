"""The text of ``record``'s status line, before any terminal sees it (drawn in a real terminal:
tests/live/test_cli_tty.py)."""

from __future__ import annotations

from seccomp_gen.cli.statusline import fit, paint


def test_status_text_is_safe_for_the_terminal() -> None:
    """A command line's control characters never reach the terminal raw; wide characters
    count two columns, so the row never wraps."""
    assert fit("a\x1b[2Jb\nc", 80) == ("a?[2Jb?c", 8)
    assert fit("日本語", 5) == ("日本", 4)
    assert paint([("rec ", "1"), ("x" * 50, "")], 10) == b"\x1b[0;1mrec \x1b[0mxxxxxx"
