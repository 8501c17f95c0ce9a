"""Progress of a long read or parse: a hook the CLI sets to draw a bar on a terminal.

Pure: the library reports (:func:`report_progress`), nobody listens unless a hook is installed
(:func:`set_progress`); the readers call it for inputs of :data:`PROGRESS_MIN_SIZE` and more.
"""

from __future__ import annotations

from collections.abc import Callable

#: Called as ``hook(what, done, total_or_None)`` while a file is read or parsed (``what``:
#: ``reading FILE``, ``parsing FILE``; ``done == total`` once it is finished); the CLI sets one
#: that draws a progress bar on a terminal. None: silent (the library default).
ProgressHook = Callable[[str, int, int | None], None]
_progress: ProgressHook | None = None
#: Inputs smaller than this load too fast to need a progress bar.
PROGRESS_MIN_SIZE = 16 * 2**20


def set_progress(hook: ProgressHook | None) -> ProgressHook | None:
    """Install ``hook`` (None to remove it); returns the previous one."""
    global _progress
    previous, _progress = _progress, hook
    return previous


def report_progress(source: str, done: int, total: int | None) -> None:
    """Tell the installed hook how far a long read or parse is."""
    if _progress is not None:
        _progress(source, done, total)
