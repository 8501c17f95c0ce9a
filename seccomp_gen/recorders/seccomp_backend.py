"""The seccomp recorder: a SECCOMP_RET_TRACE filter in the workload, PTRACE_CONT in the tracer.

The child loads a classic BPF filter whose default action is RET_TRACE, right before it execs the
workload. Every syscall then stops the calling thread once, *before* the call runs, with a
PTRACE_EVENT_SECCOMP stop; PTRACE_GET_SYSCALL_INFO (op SECCOMP) gives its arch, number and
arguments, and PTRACE_CONT lets it go on. The ptrace backend stops twice per call (entry and
exit), so this one costs about half as much per call -- and it never sees a call's result. The
trace says so in its header and leaves ``results`` empty (a stop at the exit as well would make
it exactly as dear as the ptrace backend; use that one when results matter).

With ``known`` (``record --known PROFILE``) the filter ALLOWs what the profile allows, per arch and
with its argument conditions, so those calls never stop: a workload the profile covers runs at
nearly native speed and only the calls the profile lacks are recorded.

Details that matter:

* RET_TRACE needs PTRACE_O_TRACESECCOMP set before the filter is loaded (else the calls fail with
  ENOSYS): the parent sets it while the child waits in its SIGSTOP, before the child loads it.
* The filter is built and exported by libseccomp in the parent (so a profile libseccomp rejects
  fails before anything is forked); the child only runs two ``prctl`` calls on the ready program.
* The filter names every ABI of the host's kernel (x86_64, x86 and x32 here) and its bad-arch
  action is TRACE too, so no call of any ABI is killed or missed.
* The filter is inherited across fork, clone and execve, so every descendant is covered. It is
  loaded after our own pre-exec code, and like the ptrace backend we start counting at the
  workload's execve.
* Without CAP_SYS_ADMIN the kernel requires no_new_privs before a filter can be loaded; with it
  (root) we do not set it, so setuid programs and LSM transitions in the workload behave as they
  do natively. The header says when it was set.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import signal
import struct
import tempfile
from collections.abc import Sequence
from typing import TYPE_CHECKING

import pyseccomp

from ..aggregate import UNRETURNED
from ..arch import arch_token, host_arch
from ..errors import RecordError
from ..model import Trace
from ..syscalls.arches import family_of
from . import ptrace_abi as pt
from . import supports_known as _supports_known
from .base import LiveStats, RecordOptions, resolve_command
from .ptrace_backend import ptrace_unavailable
from .session import (
    ARCH,
    BASE_OPTIONS,
    ENTRY,
    ENTRY_HEAD,
    INFO_SIZE,
    PTRACE_GET_SYSCALL_INFO,
    WALL,
    ChildSetupError,
    TraceSession,
    is_exec,
    libc,
    ptrace,
    ptrace_fast,
    raise_ptrace,
)

if TYPE_CHECKING:  # a plain record (no --known) never needs the profile model
    from ..profile import Profile

PTRACE_O_TRACESECCOMP = pt.PTRACE_O_TRACESECCOMP
PTRACE_EVENT_SECCOMP = pt.PTRACE_EVENT_SECCOMP
#: waitpid status of a PTRACE_EVENT_SECCOMP stop.
_SECCOMP_STOP_STATUS = ((signal.SIGTRAP | (PTRACE_EVENT_SECCOMP << 8)) << 8) | 0x7F
_EXEC_EVENT = pt.PTRACE_EVENT_EXEC

PR_SET_SECCOMP, PR_SET_NO_NEW_PRIVS = 22, 38
SECCOMP_MODE_FILTER = 2
#: The kernel's limit on one classic BPF program (BPF_MAXINSNS).
MAX_INSNS = 4096
SECCOMP_RET_ALLOW, SECCOMP_RET_LOG = 0x7FFF0000, 0x7FFC0000
#: BPF: ld [k] (absolute), jeq #k jt jf, ret #k.
_BPF_LD_W_ABS, _BPF_JEQ_K, _BPF_RET_K = 0x20, 0x15, 0x06
_INSN = struct.Struct("=HBBI")
_CAP_SYS_ADMIN = 21

#: What a call recorded at a seccomp stop has for a result: none seen. aggregate counts such
#: calls in ``count`` but not in ``results``, like calls that never returned.
NO_RESULT = UNRETURNED

NOTE_NO_RESULTS = (
    "return values not recorded by the seccomp backend (one stop per call, before it runs): "
    "results are empty; record with --backend ptrace to see them"
)
NOTE_NNP = (
    "no_new_privs was set in the workload (needed to load the filter without CAP_SYS_ADMIN): "
    "setuid/setgid bits and file capabilities had no effect"
)

_OPS = {
    "NE": pyseccomp.NE,
    "LT": pyseccomp.LT,
    "LE": pyseccomp.LE,
    "EQ": pyseccomp.EQ,
    "GE": pyseccomp.GE,
    "GT": pyseccomp.GT,
    "MASKED_EQ": pyseccomp.MASKED_EQ,
}

_prctl = libc.prctl
_prctl.argtypes = (ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong)
_prctl.restype = ctypes.c_int


class _SockFprog(ctypes.Structure):
    _fields_ = (("len", ctypes.c_ushort), ("filter", ctypes.c_void_p))


def host_arches() -> tuple[str, ...]:
    """The ABIs this kernel runs (x86_64, x86, x32 on x86_64), main arch first."""
    arch = host_arch()
    return family_of(arch)


def seccomp_unavailable() -> str | None:
    """Why a RET_TRACE filter cannot be used here, or None."""
    why = ptrace_unavailable()
    if why is not None:
        return why
    path = "/proc/sys/kernel/seccomp/actions_avail"
    try:
        with open(path, encoding="ascii") as fh:
            actions = fh.read().split()
    except OSError:
        return f"the kernel has no seccomp filters ({path} is missing)"
    if "trace" not in actions:
        return f"the kernel does not offer SECCOMP_RET_TRACE ({path}: {' '.join(actions)})"
    return None


def _has_cap_sys_admin() -> bool:
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("CapEff:"):
                    return bool(int(line.split()[1], 16) >> _CAP_SYS_ADMIN & 1)
    except (OSError, ValueError):
        pass
    return False


def build_filter(
    known: Profile | None, arches: Sequence[str] | None = None, action: int | None = None
) -> tuple[bytes, list[str]]:
    """The BPF program (``struct sock_filter`` array) that TRACEs every call on every arch of
    ``arches`` (default: the host's) except those ``known`` allows, and notes on how ``known``
    was applied. Raises RecordError when libseccomp cannot build it or it is too long to load.

    ``action`` replaces TRACE as the default (and bad-arch) action: the log backend passes
    SECCOMP_RET_LOG (``pyseccomp.LOG``) to build the same filter with LOG for what it records."""
    arches = tuple(arches or host_arches())
    notes: list[str] = []
    by_name: list[str] = []
    trace_action = pyseccomp.TRACE(0) if action is None else action
    native = pyseccomp.system_arch()
    filters = []
    try:
        for arch in arches:
            token = arch_token(arch)
            flt = pyseccomp.SyscallFilter(trace_action)
            if token != native:
                flt.add_arch(token)
                flt.remove_arch(native)
            flt.set_attr(pyseccomp.Attr.ACT_BADARCH, trace_action)
            with contextlib.suppress(OSError):  # binary search over numbers (libseccomp 2.5+)
                flt.set_attr(pyseccomp.Attr.CTL_OPTIMIZE, 2)
            for rule in known.rules_for(arch) if known is not None else ():
                if rule.action != "allow" or pyseccomp.resolve_syscall(token, rule.name) < 0:
                    continue
                args = [pyseccomp.Arg(c.index, _OPS[c.op], c.value, c.value_two)
                        for c in rule.conditions]
                try:
                    flt.add_rule(pyseccomp.ALLOW, rule.name, *args)
                except (OSError, ValueError, RuntimeError):
                    if not args:
                        raise
                    flt.add_rule(pyseccomp.ALLOW, rule.name)  # conditions libseccomp refused
                    by_name.append(f"{arch} {rule.name}")
            filters.append(flt)
        merged = filters[0]
        for flt in filters[1:]:
            merged.merge(flt)
        with tempfile.TemporaryFile() as fh:
            merged.export_bpf(fh)
            fh.seek(0)
            program = fh.read()
    except (OSError, ValueError, RuntimeError) as exc:
        raise RecordError(f"libseccomp could not build the recording filter: {exc}",
                          hint="check the --known profile" if known is not None else None) from None
    if len(program) // 8 > MAX_INSNS:
        raise RecordError(f"the recording filter has {len(program) // 8} BPF instructions, more "
                          f"than the kernel's limit of {MAX_INSNS}",
                          hint="the --known profile has too many argument rules")
    if by_name:
        notes.append("argument conditions libseccomp refused were dropped (allowed by name): "
                     + ", ".join(sorted(set(by_name))))
    return program, notes


def known_notes(options: RecordOptions, arches: Sequence[str], how: str) -> list[str]:
    """Refuse a --known profile for another arch family, and say in the trace header what ran
    unrecorded (``how``: "ran untraced", "ran unlogged", ...). Empty without --known."""
    known = options.known
    if known is None:
        return []
    if not set(known.architectures) & set(arches):
        raise RecordError(
            f"the --known profile is for {', '.join(known.architectures) or 'no arch'}, "
            f"not for this machine ({', '.join(arches)})",
            path=options.known_source or None)
    from ..syscalls.arches import sort_arches

    allowed = sum(len(known.names(a)) for a in arches)
    source = options.known_source or "the known profile"
    return [f"known syscalls were not recorded: the {allowed} (arch, syscall) pairs that "
            f"{source} allows on {', '.join(sort_arches(known.architectures))} {how} "
            "(argument conditions honoured); this trace holds only the rest"]


def recording_filter(options: RecordOptions, how: str,
                     action: int | None = None) -> tuple[bytes, list[str]]:
    """The filter a filter-based recorder loads (:func:`build_filter` for the host's arches,
    with ``action`` for what it records) and the notes on what ran unrecorded (``how``, see
    :func:`known_notes`) and on how ``--known`` was applied."""
    arches = host_arches()
    notes = known_notes(options, arches, how)
    program, filter_notes = build_filter(options.known, arches, action=action)
    return program, notes + filter_notes


def key_prefix(audit_arch: int, key: tuple[int, int, int], exclude: Sequence[int] = (),
               only: int | None = None, action: int = SECCOMP_RET_ALLOW) -> bytes:
    """BPF that returns ``action`` (default ALLOW) for a call of ``audit_arch`` whose args 3-5
    are ``key``, whose number is ``only`` (when given) and not in ``exclude``; every other call
    falls through to the instructions that follow. The recorder's own child makes such calls
    (the key is random, 192 bits, per run: a workload never does)."""
    skip = "skip"
    code: list[tuple[int, int, int | str, int | str]] = [(_BPF_LD_W_ABS, 4, 0, 0),  # arch
                                                         (_BPF_JEQ_K, audit_arch, 0, skip)]
    if exclude or only is not None:
        code.append((_BPF_LD_W_ABS, 0, 0, 0))  # nr
        if only is not None:
            code.append((_BPF_JEQ_K, only, 0, skip))
        code += [(_BPF_JEQ_K, nr, skip, 0) for nr in exclude]
    for i, value in enumerate(key):
        base = 16 + 8 * (3 + i)  # args[3 + i], low then high half (little-endian)
        code += [(_BPF_LD_W_ABS, base, 0, 0), (_BPF_JEQ_K, value & 0xFFFFFFFF, 0, skip),
                 (_BPF_LD_W_ABS, base + 4, 0, 0), (_BPF_JEQ_K, value >> 32, 0, skip)]
    code.append((_BPF_RET_K, action, 0, 0))
    end = len(code)
    out = []
    for i, (op, k, jt, jf) in enumerate(code):
        out.append(_INSN.pack(op, end - i - 1 if jt == skip else jt,
                              end - i - 1 if jf == skip else jf, k))
    return b"".join(out)


class SeccompRecorder:
    """Records a command and all its descendants with a RET_TRACE seccomp filter."""

    name = "seccomp"
    supports_known = _supports_known("seccomp")

    def unavailable(self) -> str | None:
        """Why this backend cannot run here, or None."""
        return seccomp_unavailable()

    def record(self, argv: Sequence[str], options: RecordOptions, live: LiveStats) -> Trace:
        """Run ``argv`` under the filter until every traced process has ended."""
        path = resolve_command(argv, options.env)
        program, notes = recording_filter(options, "ran untraced")
        session = _SeccompSession(argv, path, options, live, program)
        session.notes += [NOTE_NO_RESULTS, *notes]
        if session.set_nnp:
            session.notes.append(NOTE_NNP)
        return session.run()


class _SeccompSession(TraceSession):
    """A session whose tracees stop only where the seccomp filter says TRACE."""

    backend = "seccomp"
    records_results = False
    ptrace_options = BASE_OPTIONS | PTRACE_O_TRACESECCOMP
    resume = pt.PTRACE_CONT

    def __init__(self, argv: Sequence[str], path: str, options: RecordOptions,
                 live: LiveStats, program: bytes) -> None:
        super().__init__(argv, path, options, live)
        # Built before the fork: the child only passes pointers to the kernel.
        self._program = ctypes.create_string_buffer(program, len(program))
        self._fprog = _SockFprog(len(program) // 8, ctypes.addressof(self._program))
        self.set_nnp = not _has_cap_sys_admin()

    def _before_exec(self) -> None:
        if self.set_nnp and _prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            raise ChildSetupError("set no_new_privs", ctypes.get_errno())
        if _prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(self._fprog), 0, 0) != 0:
            raise ChildSetupError("load the seccomp filter", ctypes.get_errno())

    def _wait_for_exec(self) -> tuple[int, int]:
        """Let the child run up to its execve and return that stop for the loop to count: the
        seccomp stop of the execve, or the exec event if the filter allows execve (``known``).

        The filter is loaded by our own child code, a few calls before execve; those calls are
        not the workload's, just as the ptrace backend and strace do not show them.
        """
        pid = self.main_pid
        buf = ctypes.create_string_buffer(INFO_SIZE)
        addr = ctypes.addressof(buf)
        sig = 0
        while True:
            if ptrace(pt.PTRACE_CONT, pid, 0, sig) == -1:
                raise_ptrace("CONT", pid)
            _, status = os.waitpid(pid, WALL)
            if not os.WIFSTOPPED(status):
                return pid, status
            sig = os.WSTOPSIG(status)
            if status == _SECCOMP_STOP_STATUS:
                if ptrace(PTRACE_GET_SYSCALL_INFO, pid, INFO_SIZE, addr) > 0 and is_exec(
                    ARCH.unpack_from(buf, 4)[0], ENTRY.unpack_from(buf, 24)[0]
                ):
                    return pid, status
                sig = 0
            elif status >> 16 == _EXEC_EVENT:
                return pid, status
            elif sig in (signal.SIGTRAP, signal.SIGSTOP):  # other events; our own SIGSTOP
                sig = 0

    def _loop(self, start: tuple[int, int]) -> None:
        """The hot loop: every stop of every traced thread comes through here, starting with
        ``start``, the workload's execve (or its exec event, or its exit).

        A seccomp stop is counted at once, in a single dict keyed (arch, nr, token, NO_RESULT),
        and the thread resumed with PTRACE_CONT; ctypes arguments are prebuilt as in the ptrace
        backend. The PTRACE_GET_SYSCALL_INFO return value (bytes written, 0 or -1 if the thread
        is gone) guards against counting a stale buffer.
        """
        buf = ctypes.create_string_buffer(INFO_SIZE)
        view = memoryview(buf).cast("B")
        c_info, c_size = ctypes.c_long(PTRACE_GET_SYSCALL_INFO), ctypes.c_long(INFO_SIZE)
        c_addr, c_cont = ctypes.c_void_p(ctypes.addressof(buf)), ctypes.c_long(pt.PTRACE_CONT)
        c_zero = ctypes.c_long(0)
        ptrace_, waitpid = ptrace_fast, os.waitpid
        unpack_head = ENTRY_HEAD.unpack_from
        calls, first = self.raw.calls, self.raw.first
        tid_token, no_args = self.tid_token, self.no_args
        record_args = self._record_args
        deferred, main_pid = self.deferred_forward, self.main_pid
        tid, status = start
        while True:
            if status == _SECCOMP_STOP_STATUS:
                if ptrace_(c_info, tid, c_size, c_addr) > 0:
                    audit, nr = unpack_head(view, 0)
                    try:
                        token = tid_token[tid]
                    except KeyError:
                        token = self._adopt(tid)
                    key = (audit, nr, token, NO_RESULT)
                    n = calls.get(key, 0)
                    calls[key] = n + 1
                    if not n:
                        first.setdefault((audit, nr), token)
                    if (audit, nr) not in no_args:
                        record_args(tid, (audit, nr), buf)
                if ptrace_(c_cont, tid, c_zero, c_zero) == -1 and (
                    ctypes.get_errno() != errno.ESRCH
                ):
                    raise_ptrace("CONT", tid)
                if deferred and tid == main_pid:
                    self._settle_deferred(tid, 0)
            elif status & 0xFF == 0x7F:
                self._on_other_stop(tid, status)
            else:
                self._on_exit(tid, status)
            try:
                tid, status = waitpid(-1, WALL)
            except ChildProcessError:
                return
