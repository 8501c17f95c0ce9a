"""What several commands parse alike: the command to run, ``--top N``, the synthesis policy."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from ..errors import SeccompGenError

if TYPE_CHECKING:
    from ..synthesize import Policy


def add_command(p: argparse.ArgumentParser) -> None:
    """``-- COMMAND [ARGS...]``: everything after the options is the command to run."""
    p.add_argument("command", nargs=argparse.REMAINDER, metavar="-- COMMAND [ARGS...]",
                   help="the command to run")


def command_of(args: argparse.Namespace, name: str, usage: str) -> list[str]:
    """The command after ``--``; a one-line error (with ``usage``) when there is none."""
    command: list[str] = list(args.command)
    if command and command[0] == "--":
        command = command[1:]
    if not command:
        raise SeccompGenError(f"{name} needs a command", hint=f"usage: seccomp-gen {usage}")
    return command


def top_count(text: str) -> int:
    """``--top N``: a positive number of rows."""
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {n}")
    return n


def policy_of(args: argparse.Namespace) -> Policy:
    """The synthesis policy the command line asks for (generate's defaults where it has none,
    as for ``record --profile``). Imported here: ``record`` without ``--profile`` needs no
    synthesizer."""
    from ..profile import ERRNO_EPERM
    from ..synthesize import Policy

    return Policy(args=getattr(args, "args", "safe"),
                  default_action=getattr(args, "default_action", "errno"),
                  errno=getattr(args, "errno", ERRNO_EPERM),
                  baseline=getattr(args, "baseline", "auto"),
                  arches=getattr(args, "arches", "observed"),
                  io_uring=getattr(args, "io_uring", "allow"))
