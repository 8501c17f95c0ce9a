"""The one error type the library raises for anything a user can cause or fix.

The CLI turns a :class:`SeccompGenError` into a single line and an exit status; library users get
the same fields as attributes. Anything else escaping the library is a bug, not a user error.
"""

from __future__ import annotations

from .safetext import printable


class SeccompGenError(Exception):
    """A failure with a human message, an optional hint, and the context we know about.

    ``exit_status`` is the status the CLI exits with; it follows the convention of ``env`` and
    ``timeout``: 127 for a command that cannot be found, 126 for one that cannot be run, and 125
    for every other failure of the tool itself, so it never collides with a workload's own status.
    """

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        path: str | None = None,
        pid: int | None = None,
        exit_status: int = 125,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.path = path
        self.pid = pid
        self.exit_status = exit_status

    def one_line(self) -> str:
        """The message and hint as the single line the CLI prints: whitespace runs (newlines
        too) become one space, and other non-printable characters visible escapes, since paths
        and names in a message may come from the file being read."""
        text = f"{self.path}: {self.message}" if self.path else self.message
        if self.hint:
            text += f" ({self.hint})"
        return printable(" ".join(text.split()))


class PermissiveDefault(SeccompGenError):
    """A profile whose default action is allow (a denylist): the profile model holds
    allowlists only, and ``seccomp-gen audit`` reports such a file as its finding."""


class TraceFileError(SeccompGenError):
    """A trace file that is missing, truncated, corrupt, of another version, or not a trace."""


class RecordError(SeccompGenError):
    """The workload could not be started or traced."""


class CommandNotFound(RecordError):
    """The command to record does not exist."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message, hint=hint, exit_status=127)


class CommandNotExecutable(RecordError):
    """The command exists but cannot be executed."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message, hint=hint, exit_status=126)


class UnknownSyscall(SeccompGenError):
    """A syscall or architecture name that libseccomp does not know."""
