"""The live status line of ``record``: one row reserved at the bottom of the terminal.

The recorder and the workload share the terminal, and seccomp-gen cannot see what the workload
writes to it. A status line redrawn at the cursor (rich's ``Live``) is glued into the workload's
output, and every redraw stays in the scrollback. So:

- It is shown only when the workload's stdout is not a terminal (``record -- make > log``). A
  program that writes its output to the terminal shows its own progress, and a full-screen
  program (editor, pager, top), which needs every row, cannot be told apart from one that just
  prints lines: with stdout on the terminal there is no status line at all.
- It lives in the bottom row, below a scroll region (DECSTBM) that covers the rows above it.
  Whatever reaches the terminal meanwhile (the workload's stderr, a password prompt on
  /dev/tty, the echo of typed keys) scrolls inside that region, and on into the scrollback,
  never mixed with the status. apt's progress bar (``Dpkg::Progress-Fancy``) works the same way.
- Each redraw is one write(2) (save the cursor, draw the bottom row, restore the cursor). The
  tty layer does not interleave one write with another process's write.
- While the terminal is out of canonical mode (a program reads keys one at a time, or draws full
  screen on /dev/tty) nothing is drawn. When the terminal is resized (SIGWINCH) the row is
  reserved again at once: the resize has reset the scroll region, and until then a line the
  workload writes could push the status row into the scrollback.
- There is none on a terminal without a known size (a pty nobody sized) or with TERM unset or
  ``dumb``.
- At the end the row is erased and the scroll region reset, so nothing of it stays on the screen
  or in the scrollback.

Nothing is drawn unless the process is in the terminal's foreground process group: a background
``record &`` must not draw over the shell.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import termios
import threading
import unicodedata
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any

#: (text, SGR parameters such as "1;36" or "") pieces of one status line.
Segments = Sequence[tuple[str, str]]

#: Seconds between two checks of the terminal (size, mode) and redraws.
INTERVAL = 0.1
#: The smallest terminal that gets a status row: it must leave rows for the workload.
MIN_ROWS, MIN_COLS = 4, 20

_SAVE, _RESTORE = b"\x1b7", b"\x1b8"  # DECSC / DECRC: cursor, attributes
_WRAP_OFF, _WRAP_ON = b"\x1b[?7l", b"\x1b[?7h"


def _drawable(fd: int) -> tuple[int, int] | None:
    """(rows, cols) of terminal ``fd`` if we may draw on it now: we are in its foreground process
    group, it is in canonical mode (no program reads it key by key or draws full screen on it),
    and its size is known and leaves rows for the workload."""
    try:
        if os.tcgetpgrp(fd) != os.getpgrp():
            return None
        if not termios.tcgetattr(fd)[3] & termios.ICANON:
            return None
        cols, rows = os.get_terminal_size(fd)
    except OSError:
        return None
    return (rows, cols) if rows >= MIN_ROWS and cols >= MIN_COLS else None


def wanted(fd: int = 2, stdout_fd: int = 1, env: dict[str, str] | None = None) -> bool:
    """Whether a status line may be drawn on ``fd`` while a workload with our stdout runs: the
    workload's stdout is not a terminal, ``fd`` is one that understands VT100 controls (TERM
    set, not dumb) and we may draw on it now."""
    term = (os.environ if env is None else env).get("TERM", "")
    if term in ("", "dumb", "unknown") or not os.isatty(fd) or os.isatty(stdout_fd):
        return False
    return _drawable(fd) is not None


def _cells(ch: str) -> tuple[str, int]:
    """The character to draw for ``ch`` and the columns it takes."""
    cat = unicodedata.category(ch)
    if cat.startswith("C"):
        return "?", 1  # escapes, newlines, NUL from a command line: never raw to the terminal
    if cat in ("Mn", "Me"):
        return ch, 0
    return ch, 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


def fit(text: str, width: int) -> tuple[str, int]:
    """``text`` made safe for a terminal row (control characters become ``?``) and cut to
    ``width`` columns; and the columns it takes."""
    out: list[str] = []
    used = 0
    for ch in text:
        shown, w = _cells(ch)
        if used + w > width:
            break
        out.append(shown)
        used += w
    return "".join(out), used


def paint(segments: Segments, width: int) -> bytes:
    """The bytes that draw ``segments`` in at most ``width`` columns."""
    parts: list[str] = []
    left = width
    for text, sgr in segments:
        piece, used = fit(text, left)
        left -= used
        parts.append(f"\x1b[0;{sgr}m{piece}\x1b[0m" if sgr else piece)
    return "".join(parts).encode("utf-8", "replace")


class StatusLine:
    """A status row at the bottom of terminal ``fd``, redrawn from ``render()`` every
    :data:`INTERVAL` seconds by a daemon thread; a context manager (erased on exit)."""

    def __init__(self, render: Callable[[], Segments], fd: int = 2) -> None:
        self._render = render
        self._fd = fd
        self._stop = False
        self._thread: threading.Thread | None = None
        #: Wakes the thread early: a resize (SIGWINCH) or the end. A pipe, not an Event: a
        #: signal handler may write to it whatever the main thread is doing.
        self._wake_r, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._old_winch: Any = None
        #: (rows, cols) the scroll region was last set for; None: set it again before drawing.
        self._size: tuple[int, int] | None = None
        #: Whether a scroll region was ever set (then it is reset at the end).
        self._reserved = False

    def __enter__(self) -> StatusLine:
        self._tick()  # drawn at once, not a tick later
        # A resize resets the terminal's scroll region: until the row is reserved again, what
        # the workload writes scrolls the whole screen and can push the status row into the
        # scrollback. Redraw at once on SIGWINCH rather than at the next tick.
        with contextlib.suppress(ValueError, OSError):  # not the main thread: ticks only
            if signal.getsignal(signal.SIGWINCH) in (signal.SIG_DFL, None):
                self._old_winch = signal.signal(signal.SIGWINCH, self._on_winch)
        self._thread = threading.Thread(target=self._loop, name="seccomp-gen-status",
                                        daemon=True)
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._old_winch is not None:
            signal.signal(signal.SIGWINCH, self._old_winch)
        self._stop = True
        self._poke()
        if self._thread is not None:
            self._thread.join()
        os.close(self._wake_r)
        os.close(self._wake_w)
        self._release()

    def _on_winch(self, signum: int, frame: object) -> None:
        self._poke()

    def _poke(self) -> None:
        with contextlib.suppress(OSError):  # full: a wake-up is pending anyway
            os.write(self._wake_w, b"w")

    def _loop(self) -> None:
        while not self._stop:
            ready, _, _ = select.select([self._wake_r], [], [], INTERVAL)
            if ready:
                with contextlib.suppress(OSError):
                    os.read(self._wake_r, 64)
            if not self._stop:
                self._tick()

    def _tick(self) -> None:
        size = _drawable(self._fd)
        if size is None:
            # Someone else owns the terminal for now (a full-screen or key-reading program
            # may also have moved the scroll region): reserve the row again when we resume.
            self._size = None
            return
        rows, cols = size
        head = b""
        if size != self._size:
            # First draw, back from a pause, or resized (a resize resets the scroll region).
            # IND makes the bottom row free (it scrolls only when the cursor is on that row,
            # and keeps the column), CUU goes back up; then scrolling stops above that row.
            head = b"\x1bD\x1b[1A" + _SAVE + f"\x1b[1;{rows - 1}r".encode() + _RESTORE
            self._size = size
            self._reserved = True
        body = paint(self._render(), cols - 1)
        try:
            # One write: the tty layer never interleaves it with another process's write.
            os.write(self._fd, head + _SAVE + _WRAP_OFF + f"\x1b[{rows};1H\x1b[2K".encode()
                     + body + _WRAP_ON + _RESTORE)
        except OSError:
            self._stop = True  # the terminal went away (hangup): nothing more to draw

    def _release(self) -> None:
        """Erase the status row and give the whole screen back to scrolling."""
        if not self._reserved:
            return
        try:
            rows = os.get_terminal_size(self._fd).lines
            if os.tcgetpgrp(self._fd) != os.getpgrp() and \
                    termios.tcgetattr(self._fd)[3] & termios.TOSTOP:
                return  # from the background, a write would stop us with SIGTTOU
        except OSError:
            return
        with contextlib.suppress(OSError):
            os.write(self._fd, _SAVE + f"\x1b[{rows};1H\x1b[2K".encode() + b"\x1b[r" + _RESTORE)
        self._reserved = False
