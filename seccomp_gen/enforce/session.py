"""The tracer of ``seccomp-gen run`` (enforce and complain modes): ptrace mechanics only.

The workload runs under a RET_TRACE filter built by the seccomp backend's :func:`build_filter`
from the profile: whatever the profile allows is ALLOWed by the kernel (no stop, native speed),
everything else stops once with PTRACE_EVENT_SECCOMP *before* the call runs. At that stop the
session asks its ``judge`` (the policy, in :mod:`seccomp_gen.enforce`) what to do, and does it:

* ``CONTINUE``: PTRACE_CONT; the call runs (complain mode, a ``log`` verdict).
* ``ERRNO``: the call is skipped and fails with -errno, as SECCOMP_RET_ERRNO would make it:
  orig_rax = -1 (skip) and rax = -errno, set with PTRACE_POKEUSER at the seccomp stop itself
  (seccomp(2): "the system call will appear to return the value that the tracer puts in the
  return value register"). A 64-bit tracer sees the 64-bit ``user_regs_struct`` of every tracee,
  32-bit ones and int 0x80 callers included, so the same two pokes serve every x86 ABI.
* ``KILL_PROCESS``, ``KILL_THREAD``, ``TRAP``: the kernel itself does it. The filter starts with
  three instructions that answer three impossible syscall numbers (:data:`POISON`) with
  KILL_PROCESS, KILL_THREAD and TRAP. The tracer rewrites the call's number to one of them; after
  a RET_TRACE stop the kernel re-runs the filter on a changed number ("recheck"), and so kills
  (SIGSYS, core dump, whole process or one thread) or traps exactly as a real profile would. For
  TRAP the SIGSYS siginfo and registers then name the poison number; at the signal-delivery stop
  the tracer puts the original number back (PTRACE_SETSIGINFO, PTRACE_POKEUSER) before the
  workload's handler sees it.

The recorder's hot loop is untouched: this session has its own loop.
"""

from __future__ import annotations

import ctypes
import errno
import os
import signal
from collections.abc import Callable, Sequence

from ..linux import cbpf
from ..linux import ptrace as pt
from ..linux.ptrace import (
    ENTRY,
    ENTRY_HEAD,
    INFO_SIZE,
    OFF_ORIG_RAX,
    OFF_RAX,
    PTRACE_GET_SYSCALL_INFO,
    SI_SYSCALL,
    SI_SYSCALL_OFF,
    SIGINFO_SIZE,
    WALL,
    poke_user,
    ptrace,
    raise_ptrace,
)
from ..recorders.base import LiveStats, RecordOptions
from ..recorders.seccomp import _SECCOMP_STOP_STATUS, NO_RESULT, _SeccompSession

# What the judge answers.
CONTINUE, ERRNO, KILL_PROCESS, KILL_THREAD, TRAP = range(5)

#: Syscall numbers no ABI has; the filter prefix answers them with KILL_PROCESS, KILL (thread),
#: TRAP. Rewriting a stopped call's number to one of them makes the kernel apply that action.
POISON = {KILL_PROCESS: 0x3FFF5EC1, KILL_THREAD: 0x3FFF5EC2, TRAP: 0x3FFF5EC3}
_RET = {KILL_PROCESS: cbpf.RET_KILL_PROCESS, KILL_THREAD: cbpf.RET_KILL_THREAD,
        TRAP: cbpf.RET_TRAP}

#: judge(tid, tgid, exe, audit, nr, args) -> (answer, errno, record in the trace)
Judge = Callable[[int, int, str, int, int, tuple[int, ...]], tuple[int, int, bool]]


def poison_prefix() -> bytes:
    """The BPF instructions put before libseccomp's program (jumps in cBPF are relative)."""
    lines: list[cbpf.Line] = [(cbpf.LD_W_ABS, 0, 0, cbpf.NR)]
    for answer in (KILL_PROCESS, KILL_THREAD, TRAP):
        lines += [(cbpf.JEQ_K, 0, 1, POISON[answer]), (cbpf.RET_K, 0, 0, _RET[answer])]
    return cbpf.assemble(lines, {})


class EnforceSession(_SeccompSession):
    """A session that answers every stop of the filter as ``judge`` says."""

    def __init__(self, argv: Sequence[str], path: str, options: RecordOptions,
                 live: LiveStats, program: bytes, judge: Judge) -> None:
        super().__init__(argv, path, options, live, poison_prefix() + program)
        self.judge = judge
        #: tid -> the original syscall number of a call turned into a TRAP, until its SIGSYS.
        self.pending_trap: dict[int, int] = {}

    def _loop(self, start: tuple[int, int]) -> None:
        buf = ctypes.create_string_buffer(INFO_SIZE)
        addr = ctypes.addressof(buf)
        tid, status = start
        while True:
            if status == _SECCOMP_STOP_STATUS:
                self._on_seccomp_stop(tid, buf, addr)
                if self.deferred_forward and tid == self.main_pid:
                    self._settle_deferred(tid, 0)
            elif status & 0xFF == 0x7F:
                self._on_other_stop(tid, status)
            else:
                self._on_exit(tid, status)
            try:
                tid, status = os.waitpid(-1, WALL)
            except ChildProcessError:
                return

    def _on_seccomp_stop(self, tid: int, buf: ctypes.Array[ctypes.c_char], addr: int) -> None:
        answer, err = CONTINUE, 0
        if ptrace(PTRACE_GET_SYSCALL_INFO, tid, INFO_SIZE, addr) > 0:
            audit, nr = ENTRY_HEAD.unpack_from(buf, 0)
            args = ENTRY.unpack_from(buf, 24)[1:]
            token = self.tid_token.get(tid)
            if token is None:
                token = self._adopt(tid)
            tgid, exe = self.raw.tokens[token]
            answer, err, record = self.judge(tid, tgid, exe, audit, nr, args)
            if record:
                key = (audit, nr, token, NO_RESULT)
                n = self.raw.calls.get(key, 0)
                self.raw.calls[key] = n + 1
                if not n:
                    self.raw.first.setdefault((audit, nr), token)
                if (audit, nr) not in self.no_args:
                    self._record_args(tid, (audit, nr), buf)
            if answer == ERRNO:
                if not (poke_user(tid, OFF_ORIG_RAX, -1) and poke_user(tid, OFF_RAX, -err)):
                    self._gone_or_raise("POKEUSER", tid)
            elif answer in POISON:
                if not poke_user(tid, OFF_ORIG_RAX, POISON[answer]):
                    self._gone_or_raise("POKEUSER", tid)
                if answer == TRAP:
                    self.pending_trap[tid] = nr
        if ptrace(pt.PTRACE_CONT, tid, 0, 0) == -1:
            self._gone_or_raise("CONT", tid)

    @staticmethod
    def _gone_or_raise(what: str, tid: int) -> None:
        if ctypes.get_errno() != errno.ESRCH:
            raise_ptrace(what, tid)

    def _on_other_stop(self, tid: int, status: int) -> None:
        if (status >> 16 == 0 and (status >> 8) & 0xFF == signal.SIGSYS
                and tid in self.pending_trap):
            self._unpoison_trap(tid, self.pending_trap.pop(tid))
        super()._on_other_stop(tid, status)

    @staticmethod
    def _unpoison_trap(tid: int, nr: int) -> None:
        """At the SIGSYS delivery stop of a poisoned call: show the handler the real number, in
        the siginfo and in the registers (the kernel rolls rax back to the syscall number)."""
        info = ctypes.create_string_buffer(SIGINFO_SIZE)
        if ptrace(pt.PTRACE_GETSIGINFO, tid, 0, ctypes.addressof(info)) == -1:
            return
        SI_SYSCALL.pack_into(info, SI_SYSCALL_OFF, nr)
        ptrace(pt.PTRACE_SETSIGINFO, tid, 0, ctypes.addressof(info))
        poke_user(tid, OFF_ORIG_RAX, nr)
        poke_user(tid, OFF_RAX, nr)


__all__ = ["CONTINUE", "ERRNO", "KILL_PROCESS", "KILL_THREAD", "POISON", "TRAP",
           "EnforceSession", "Judge", "poison_prefix"]
