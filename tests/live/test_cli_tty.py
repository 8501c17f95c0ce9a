"""``record``'s live status line, in a real terminal: tmux, whose scrollback we read back.

The workload's output must come out on the terminal exactly as without seccomp-gen: every test
runs the same script once directly and once under ``record``, and compares what the terminal
holds (scrollback included). The status line (see seccomp_gen/statusline.py) is drawn only when
the workload's stdout is not the terminal, in a bottom row reserved with a scroll region, and is
gone at the end.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

CLI = [sys.executable, "-m", "seccomp_gen"]
ROWS, COLS = 40, 120
#: Hard cap on any wait for the terminal (a wedged recorder must fail the test, not hang it).
WAIT = 90.0
#: The markers a script prints around its output; numbered per run.
START, END = "==start", "==end"
STATUS = "recording "


class Tmux:
    """One private tmux server (its own socket, no config) with one shell window."""

    def __init__(self, tmp: Path) -> None:
        self.sock = str(tmp / "tmux.sock")
        self.tmp = tmp
        self.n = 0
        self.tmux("-f", "/dev/null", "new-session", "-d", "-x", str(COLS), "-y", str(ROWS),
                  "-s", "t", "env PS1='$ ' bash --norc --noprofile")
        self.tmux("set-option", "-g", "history-limit", "10000")

    def tmux(self, *args: str) -> str:
        res = subprocess.run(["tmux", "-S", self.sock, *args], capture_output=True, text=True,
                             timeout=30, check=True)
        return res.stdout

    def screen(self) -> list[str]:
        """The visible rows, top to bottom."""
        return self.tmux("capture-pane", "-p", "-t", "t").split("\n")[:ROWS]

    def history(self) -> list[str]:
        """Everything the pane holds, scrollback first; wrapped lines joined (-J, which also
        keeps the trailing blanks of rich's padded tables: stripped)."""
        return [ln.rstrip() for ln in self.tmux("capture-pane", "-p", "-J", "-S", "-", "-E", "-",
                                                "-t", "t").split("\n")]

    def wait_for(self, pred: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + WAIT
        while not pred():
            if time.monotonic() > deadline:
                raise AssertionError(f"tmux: {what} not seen in {WAIT:.0f}s; screen:\n"
                                     + "\n".join(self.screen()))
            time.sleep(0.05)

    def run(self, script: str, during: Callable[[Tmux], None] | None = None) -> list[str]:
        """Clear the pane, run ``sh SCRIPT`` (which prints the markers), call ``during`` while
        it runs, wait for its end; return the lines between the markers."""
        self.n += 1
        path = self.tmp / f"script{self.n}.sh"
        start, end = f"{START} {self.n}==", f"{END} {self.n}"
        path.write_text(f"echo '{start}'\n{script}\necho \"{end} $?==\"\n")
        self.tmux("send-keys", "-t", "t", "clear; tmux -S " + shlex.quote(self.sock)
                  + " clear-history -t t", "Enter")
        self.wait_for(lambda: not any(START in ln for ln in self.history()), "a cleared pane")
        self.tmux("send-keys", "-t", "t", f"sh {shlex.quote(str(path))}", "Enter")
        if during is not None:
            during(self)  # waits for what it needs (a pager hides the start on its screen)
        self.wait_for(lambda: any(ln.startswith(end) for ln in self.history()),
                      "the script's end")
        lines = self.history()
        return lines[lines.index(start) + 1:next(i for i, ln in enumerate(lines)
                                                  if ln.startswith(end))]

    def close(self) -> None:
        subprocess.run(["tmux", "-S", self.sock, "kill-server"], capture_output=True,
                       timeout=30, check=False)


@pytest.fixture
def term(tmp_path: Path) -> Iterator[Tmux]:
    if shutil.which("tmux") is None:
        pytest.fail("tmux is missing (apt-get install tmux)")
    t = Tmux(tmp_path)
    try:
        yield t
    finally:
        t.close()


def record(tmp_path: Path, workload: str) -> str:
    """``seccomp-gen record`` of ``workload`` (shell words), as a script line."""
    return shlex.join([*CLI, "record", "-f", "-o", str(tmp_path / "t.json"), "--"]) + " " \
        + workload


def workload_part(lines: list[str]) -> list[str]:
    """The lines before record's summary (which starts with the table title)."""
    assert "syscalls" in lines, lines
    return lines[:lines.index("syscalls")]


def no_status_anywhere(term: Tmux) -> None:
    hist = term.history()
    assert not any(STATUS in ln for ln in hist), "\n".join(hist)


def talker(stream: str, n: int = 150) -> str:
    """A workload that prints ``n`` lines steadily (every 10th one wraps) to ``stream``."""
    code = ("import sys, time\n"
            f"for i in range({n}):\n"
            "    s = f'line {i:03d} of the workload'\n"
            "    s = s + ' ' + 'x' * 140 if i % 10 == 9 else s\n"
            f"    print(s, file=sys.{stream}, flush=True)\n"
            "    time.sleep(0.02)\n")
    return shlex.join([sys.executable, "-c", code])


@pytest.mark.live
def test_output_to_the_terminal_is_untouched(term: Tmux, tmp_path: Path) -> None:
    """The workload's stdout is the terminal: no status line at all, output byte for byte."""
    work = talker("stdout")
    plain = term.run(work)
    assert len(plain) == 150 and plain[0] == "line 000 of the workload"
    seen: list[list[str]] = []

    def watch(t: Tmux) -> None:
        for _ in range(15):  # while it prints: the status line is never drawn
            seen.append(t.screen())
            time.sleep(0.1)

    recorded = term.run(record(tmp_path, work), during=watch)
    assert workload_part(recorded) == plain
    assert not any(STATUS in row for screen in seen for row in screen)
    no_status_anywhere(term)


@pytest.mark.live
def test_stderr_scrolls_above_the_status_line(term: Tmux, tmp_path: Path) -> None:
    """stdout redirected, the workload writes to the terminal through stderr: the status sits in
    the bottom row while the lines scroll above it, and the scrollback is exactly the lines."""
    work = talker("stderr") + " >/dev/null"
    plain = term.run(work)
    assert len(plain) == 150
    bottoms: list[str] = []

    def watch(t: Tmux) -> None:
        t.wait_for(lambda: any(STATUS in ln for ln in t.screen()), "the status line")
        for _ in range(15):
            screen = t.screen()
            if "syscalls" in screen:
                break  # the run is over: its summary is on the screen
            bottoms.append(screen[-1])
            assert not any(STATUS in row for row in screen[:-1]), "\n".join(screen)
            time.sleep(0.1)

    recorded = term.run(record(tmp_path, work), during=watch)
    assert workload_part(recorded) == plain
    assert all(b.startswith(STATUS) or b == "" for b in bottoms), bottoms
    assert any(b.startswith(STATUS) for b in bottoms)
    no_status_anywhere(term)


@pytest.mark.live
def test_status_row_follows_a_resize(term: Tmux, tmp_path: Path) -> None:
    """A resize resets the terminal's scroll region: the status row is reserved again at the new
    bottom, and the output that follows still scrolls above it."""
    code = ("import sys, time\n"
            "for i in range(120):\n"
            "    print(f'line {i:03d}', file=sys.stderr, flush=True)\n"
            "    if i == 59:\n"
            "        open(sys.argv[1], 'w').close()\n"
            "        time.sleep(2)\n")  # quiet while the test resizes the terminal
    flag = tmp_path / "half"
    work = shlex.join([sys.executable, "-c", code, str(flag)]) + " >/dev/null"
    plain = term.run(work)
    flag.unlink()
    bottom: list[str] = []

    def watch(t: Tmux) -> None:
        t.wait_for(flag.exists, "the first half")
        t.tmux("resize-window", "-t", "t", "-x", "100", "-y", str(ROWS - 10))
        t.wait_for(lambda: t.screen()[ROWS - 11].startswith(STATUS), "the status at the bottom")
        bottom.append(t.screen()[ROWS - 11])

    recorded = term.run(record(tmp_path, work), during=watch)
    assert len(bottom[0]) <= 100
    assert workload_part(recorded) == plain
    no_status_anywhere(term)


@pytest.mark.live
def test_quiet_workload_shows_a_transient_status(term: Tmux, tmp_path: Path) -> None:
    """A quiet workload with its output redirected: a status line at the bottom while it runs,
    erased at the end; the summary is printed as usual."""
    status: list[str] = []

    def watch(t: Tmux) -> None:
        t.wait_for(lambda: any(STATUS in ln for ln in t.screen()), "the status line")
        status.append(t.screen()[-1])

    lines = term.run(record(tmp_path, "sleep 2 >/dev/null"), during=watch)
    assert status[0].startswith(STATUS + "sleep 2") and "distinct" in status[0], status
    assert any(ln.startswith("trace written to") for ln in lines), lines
    no_status_anywhere(term)
    assert term.screen()[-1] == ""


@pytest.mark.live
def test_full_screen_program_is_not_drawn_over(term: Tmux, tmp_path: Path) -> None:
    """A pager on the terminal looks exactly as it does without seccomp-gen."""
    text = tmp_path / "text"
    text.write_text("".join(f"row {i}\n" for i in range(200)))
    pager = shlex.join(["less", str(text)])

    def screen_of(t: Tmux, shots: list[list[str]]) -> None:
        t.wait_for(lambda: t.screen()[0] == "row 0", "the pager")
        for _ in range(8):
            time.sleep(0.1)
            shots.append(t.screen())
        t.tmux("send-keys", "-t", "t", "q")

    plain_shots: list[list[str]] = []
    term.run(pager, during=lambda t: screen_of(t, plain_shots))
    shots: list[list[str]] = []
    term.run(record(tmp_path, pager), during=lambda t: screen_of(t, shots))
    assert all(s == plain_shots[-1] for s in shots), "\n".join(shots[-1])


@pytest.mark.live
def test_no_status_while_a_program_owns_the_terminal(term: Tmux, tmp_path: Path) -> None:
    """stdout redirected, but the workload puts the terminal in raw mode and draws on /dev/tty:
    the status line stops until the terminal is back in canonical mode, then comes back."""
    code = ("import os, termios, time, tty\n"
            "fd = os.open('/dev/tty', os.O_RDWR)\n"
            "old = termios.tcgetattr(fd)\n"
            "time.sleep(1)\n"
            "tty.setraw(fd)\n"
            "time.sleep(1)\n"
            f"os.write(fd, b'\\x1b7\\x1b[{ROWS};1H\\x1b[2KRAW MODE DRAWING\\x1b8')\n"
            "open(os.environ['FLAG'], 'w').close()\n"
            "time.sleep(1.5)\n"
            "termios.tcsetattr(fd, termios.TCSANOW, old)\n"
            "os.write(fd, b'\\x1b7\\x1b[r\\x1b8')\n"  # as vim does: the whole screen scrolls
            "time.sleep(1.5)\n")
    flag = tmp_path / "raw"
    work = shlex.join(["env", f"FLAG={flag}", sys.executable, "-c", code]) \
        + " >/dev/null"
    bottoms: dict[str, list[str]] = {"before": [], "raw": [], "after": []}

    def watch(t: Tmux) -> None:
        t.wait_for(lambda: t.screen()[-1].startswith(STATUS), "the status line")
        bottoms["before"].append(t.screen()[-1])
        t.wait_for(flag.exists, "raw mode")
        for _ in range(8):
            bottoms["raw"].append(t.screen()[-1])
            time.sleep(0.1)
        t.wait_for(lambda: t.screen()[-1].startswith(STATUS), "the status line again")
        bottoms["after"].append(t.screen()[-1])

    term.run(record(tmp_path, work), during=watch)
    assert bottoms["raw"] == ["RAW MODE DRAWING"] * 8, bottoms
    no_status_anywhere(term)


@pytest.mark.live
def test_no_status_when_piped(tmp_path: Path) -> None:
    trace = tmp_path / "t.json"
    piped = subprocess.run([*CLI, "record", "-f", "-o", str(trace), "--", "sh", "-c",
                            "sleep 0.6; ls / >/dev/null"],
                           capture_output=True, text=True, timeout=60, check=False)
    assert piped.returncode == 0
    assert "recording" not in piped.stderr and "\x1b[" not in piped.stderr
    assert "trace written to" in piped.stderr
