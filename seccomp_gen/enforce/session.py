"""The tracer of ``seccomp-gen run`` (enforce and complain modes): ptrace mechanics only.

The workload runs under the RET_TRACE filter of :func:`seccomp_gen.libseccomp.recording_filter`
(what the profile allows never stops); at each seccomp stop, *before* the call runs, the session
asks its ``judge`` (the policy, in :mod:`.run`) and does what it says: ``CONTINUE``; ``ERRNO`` by
poking orig_rax = -1 and rax = -errno; ``KILL_PROCESS``, ``KILL_THREAD`` or ``TRAP`` by rewriting
the call's number to one of :data:`POISON`, which the filter's prefix answers with that action
when the kernel rechecks the call. The recorder's hot loop is untouched: this session has its own
loop. Why and how: docs/enforce.md, "Mechanism".
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
from ..recorders.seccomp import _SECCOMP_STOP_STATUS, NO_RESULT, WaitPid, _SeccompSession

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

    def _loop(self, start: tuple[int, int], waitpid: WaitPid | None = None) -> None:
        """Every stop, answered as the judge says (never the recorder's C stop loop: this
        session has no ``c_loop``, and ``waitpid`` is always os.waitpid)."""
        del waitpid
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
