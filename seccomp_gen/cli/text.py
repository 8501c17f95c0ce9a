"""Plain pieces of the CLI's output that need no rich: how a command ended, in words.

``run`` and ``check`` report in one line when nothing was denied; importing rich to print it
was a fifth of their start-up (README, "Start-up"), so these live apart from
:mod:`seccomp_gen.cli.console` (which re-exports them) and are printed with
:meth:`seccomp_gen.cli.LazyConsole.plain`.
"""

from __future__ import annotations

import signal

from ..model import ExitStatus


def describe_exit(status: ExitStatus | None) -> str:
    """``exit 0`` / ``killed by SIGTERM`` / ``unknown``."""
    if status is None:
        return "unknown"
    if status.signal is not None:
        try:
            name = signal.Signals(status.signal).name
        except ValueError:
            name = f"signal {status.signal}"
        return f"killed by {name}" + (" (core dumped)" if status.core_dumped else "")
    return f"exit {status.code}"


def exit_sentence(status: ExitStatus | None) -> str:
    """``exited with status 3`` / ``was killed by SIGSEGV (core dumped)``, after "the command"."""
    if status is None:
        return "ended in an unknown way"
    if status.signal is not None:
        return f"was {describe_exit(status)}"
    return f"exited with status {status.code}"
