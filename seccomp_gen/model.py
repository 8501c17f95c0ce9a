"""The trace model: what one or more recorded runs asked of the kernel.

Frozen dataclasses and nothing else: no I/O, no formatting, no ptrace, no libseccomp. Recorders
produce these, the trace file stores them, and profile generation reads them, so every stage
agrees on one shape.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field

TRACE_FORMAT = "seccomp-gen-trace"
TRACE_VERSION = 2
#: Trace format versions this seccomp-gen reads (version 1 has no call sites).
TRACE_VERSIONS = (1, 2)
#: A header note of a merged trace naming one of its runs: ``run: COMMAND``.
RUN_PREFIX = "run: "


@dataclass(frozen=True, slots=True)
class ExitStatus:
    """How a process ended: ``code`` for a normal exit, ``signal`` when a signal killed it."""

    code: int | None = None
    signal: int | None = None
    core_dumped: bool = False

    @property
    def shell_status(self) -> int:
        """The status a shell would report: the exit code, or 128 + N for death by signal N."""
        if self.signal is not None:
            return 128 + self.signal
        return self.code if self.code is not None else 0

    @classmethod
    def from_wait_status(cls, status: int) -> ExitStatus:
        """Decode a ``waitpid`` status of a process that has ended."""
        if status & 0x7F == 0:
            return cls(code=(status >> 8) & 0xFF)
        return cls(signal=status & 0x7F, core_dumped=bool(status & 0x80))


#: The largest argument value: values are what a 64-bit register holds, unsigned.
MAX_ARG_VALUE = 2**64 - 1


@dataclass(frozen=True)
class ArgValues:
    """Distinct values of the arguments a profile can filter on, for one (arch, syscall).

    ``fields`` name the arguments (``("domain", "type")`` for socket), ``indexes`` give their
    positions in the syscall's argument registers (``None`` for a value read from tracee memory,
    such as clone3's ``clone_args.flags``, which no seccomp filter can see). ``values`` holds one
    tuple per distinct combination seen. ``capped`` says the recorder stopped collecting after
    ``ARG_VALUE_CAP`` combinations, so the set is incomplete. ``value_runs``: in a merged trace,
    the runs (indexes into :attr:`TraceHeader.run_names`) that made each combination not made
    in every run; a combination it does not list was made in all of them.
    """

    fields: tuple[str, ...]
    indexes: tuple[int | None, ...]
    values: frozenset[tuple[int, ...]]
    capped: bool = False
    value_runs: Mapping[tuple[int, ...], tuple[int, ...]] = field(default_factory=dict)


#: Distinct call sites kept per (arch, syscall): the most frequent ones (see :class:`CallSite`).
SITE_CAP = 16

#: Library classes of a call site, in the order ``explain`` groups them.
SITE_KINDS = ("program", "ld.so", "libc", "python", "go", "library", "vdso", "jit", "unknown")


@dataclass(frozen=True, slots=True)
class CodeLocation:
    """A place in code as (mapped file, file offset), and the function holding it.

    ``path`` is the file as the process mapped it, or ``[anon]`` (anonymous executable memory,
    a JIT), ``[vdso]``, ``[unknown]`` (the process was gone before its maps were read).
    ``symbol`` is the enclosing function from the file's ELF symbol tables, ``"?"`` when no
    symbol covers the offset, ``""`` when not resolved (yet); ``symbol_offset`` is the offset
    from the function's start. ``kind`` is the library class, one of :data:`SITE_KINDS`
    (``""`` when not resolved).
    """

    path: str
    offset: int
    symbol: str = ""
    symbol_offset: int = 0
    kind: str = ""


@dataclass(frozen=True, slots=True)
class CallSite:
    """Where a syscall was made: ``where`` is the instruction after the syscall instruction
    (the instruction pointer the kernel reports), ``count`` the calls made there. ``caller``:
    the function that called the one holding the syscall, e.g. the program function that
    called a libc wrapper, seen at the first call from this site (a sample, not every
    caller); None when unknown."""

    where: CodeLocation
    count: int
    caller: CodeLocation | None = None


@dataclass(frozen=True)
class SyscallRecord:
    """Everything recorded about one syscall of one architecture, aggregated over a run.

    ``results`` counts how calls returned: ``"ok"`` or an errno name (``"ENOENT"``). Calls that
    never return (``exit_group``, a process killed mid-call) are in ``count`` but not in
    ``results``. ``runs``: in a merged trace, the runs (indexes into
    :attr:`TraceHeader.run_names`) that made this call, when not all of them did; empty: every
    run did. ``sites``: the most frequent call sites (at most :data:`SITE_CAP`), most calls
    first; ``sites_other`` counts the calls made at sites beyond the cap.
    """

    arch: str
    name: str
    nr: int
    count: int
    processes: int
    first_pid: int
    first_exe: str
    exes: tuple[str, ...]
    results: Mapping[str, int] = field(default_factory=dict)
    args: ArgValues | None = None
    runs: tuple[int, ...] = ()
    sites: tuple[CallSite, ...] = ()
    sites_other: int = 0

    @property
    def errors(self) -> int:
        """How many calls failed with an errno."""
        return sum(n for k, n in self.results.items() if k != "ok")


@dataclass(frozen=True, slots=True)
class ProcessRecord:
    """One traced process (thread group): where it came from and what it ran.

    Slotted: a trace can hold millions of them."""

    pid: int
    ppid: int | None
    exes: tuple[str, ...]
    threads: int
    syscalls: int
    exit: ExitStatus | None


@dataclass(frozen=True)
class ExeRecord:
    """Per executable: how often each (arch, syscall) was made while that program was running."""

    exe: str
    processes: int
    syscalls: Mapping[tuple[str, str], int]


@dataclass(frozen=True)
class TraceHeader:
    """Provenance of a recording: what ran, where, with which tool, and how it ended.

    ``records_args`` / ``records_results`` / ``records_sites`` say whether the backend could see
    arguments, return values and call sites at all: an empty ``results`` then means "not seen",
    not "never returned".
    ``runs``: the commands of the runs a merged trace holds, in order, one per run (the same
    command twice is two runs); empty for one recording.
    """

    tool_version: str
    command: tuple[str, ...]
    kernel: str
    host_arch: str
    libseccomp: str
    backend: str
    pinned_cpu: int | None
    started: str
    ended: str
    duration_s: float
    exit: ExitStatus | None
    records_args: bool = True
    records_results: bool = True
    #: The backend saw the instruction pointer of each call, so records carry call sites.
    records_sites: bool = False
    notes: tuple[str, ...] = ()
    #: The runtime baseline (``runc``, ``runc-nnp``, ``docker``, ...) of the container
    #: ``record --container`` recorded, read from its command line and bundle; "" otherwise.
    runtime: str = ""
    runs: tuple[str, ...] = ()

    @property
    def run_names(self) -> tuple[str, ...]:
        """The runs the trace holds: :attr:`runs`, or the one recording's command."""
        if self.runs:
            return self.runs
        return (shlex.join(self.command),)


@dataclass(frozen=True)
class Trace:
    """A recorded run: header, per-(arch, syscall) records, processes and executables.

    ``syscalls`` is sorted by (arch, name), ``processes`` in the order they appeared, ``exes`` by
    path, so that equal runs serialise to equal bytes.
    """

    header: TraceHeader
    syscalls: tuple[SyscallRecord, ...]
    processes: tuple[ProcessRecord, ...]
    exes: tuple[ExeRecord, ...]

    @property
    def total_calls(self) -> int:
        """All syscalls recorded, over every arch and process."""
        return sum(r.count for r in self.syscalls)

    def syscall_set(self) -> frozenset[tuple[str, str]]:
        """The distinct (arch, name) pairs recorded."""
        return frozenset((r.arch, r.name) for r in self.syscalls)

    def names(self, arch: str | None = None) -> frozenset[str]:
        """Distinct syscall names, of one arch or of all."""
        return frozenset(r.name for r in self.syscalls if arch is None or r.arch == arch)

    def find(self, name: str, arch: str | None = None) -> SyscallRecord | None:
        """The record of one syscall (of the given arch, or the first arch that has it)."""
        for r in self.syscalls:
            if r.name == name and (arch is None or r.arch == arch):
                return r
        return None


@dataclass(frozen=True)
class Violation:
    """One syscall a filter denied, as the kernel reported it.

    ``arch`` is libseccomp's name for the ABI the call used (``x86`` for ``int $0x80`` from a
    64-bit process), ``name`` is resolved with that ABI's own table, ``args`` holds the six
    argument registers (zero-extended to 64 bits for 32-bit callers). ``action`` is what happened
    to the call: ``errno`` (it failed with ``errno``), or ``kill-process``.
    ``by_rule``: an explicit non-allow rule of the profile answered the call (``clone3 ->
    ENOSYS``), rather than its default action (see :mod:`seccomp_gen.enforce`).
    """

    arch: str
    name: str
    nr: int
    args: tuple[int, ...]
    pid: int
    tid: int
    exe: str
    action: str
    errno: int | None = None
    by_rule: bool = False
