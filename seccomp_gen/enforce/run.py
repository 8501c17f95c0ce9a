"""Run a workload under a profile and report what the profile denies: ``seccomp-gen run``.

``run(argv, profile, mode=...)`` loads the profile as a real seccomp filter in the workload,
right before its execve, and returns a :class:`RunResult`: the exit status, every denied call as
a :class:`~seccomp_gen.model.Violation` and, in the traced modes, the violations as a trace.
Modes ``enforce`` and ``complain`` trace what the profile does not allow (a RET_TRACE filter; the
verdict is the compiled profile's, run in :func:`seccomp_gen.linux.cbpf.run_bpf`, and
:mod:`.session` carries it out); ``kill`` loads the profile alone and names a SIGSYS death from
the kernel's audit record. This module is the policy: modes, verdicts, what counts as a
violation (``by_rule``). See docs/enforce.md.
"""

from __future__ import annotations

import contextlib
import errno as errno_mod
import os
import signal
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..errors import SeccompGenError
from ..libseccomp import arch_name, syscall_name, syscall_number
from ..model import ExitStatus, Trace, Violation
from ..profile import Profile
from ..syscalls.arches import sort_arches

if TYPE_CHECKING:  # the kernel's audit records (kmsg, auditrecord) are read in kill mode only
    from ..auditrecord import SeccompRecord

MODES: tuple[str, ...] = ("enforce", "complain", "kill")

#: Exit status of ``run --fail-on-violation`` when a violation was seen (documented in the
#: README). Not 125-127 (the tool's own errors, command not runnable/found) and not 128+N
#: (death by signal N).
VIOLATION_EXIT = 3

NOTE_COMPLAIN = ("violations trace from `seccomp-gen run --mode complain`: it holds only the calls "
                 "the profile {source} does not allow (they were let through); merge it with the "
                 "workload's trace in `seccomp-gen generate` to fix the profile")
NOTE_ENFORCE = ("violations trace from `seccomp-gen run --mode enforce`: it holds only the calls "
                "the profile {source} does not allow (they were denied as the profile says)")


@dataclass(frozen=True)
class RunResult:
    """What ``run`` saw: the workload's exit, every denied call, and the violations as a trace.

    ``violations`` holds every denial in order, including those by an explicit rule
    (``by_rule``); :attr:`unexpected` only the ones the profile does not mention. ``trace`` is
    None in kill mode (nothing is traced); there ``violations`` holds the call the kernel logged
    when the workload died of SIGSYS (no arguments: the audit record has none), if it could be
    read, and ``notes`` says so when it could not.
    """

    exit: ExitStatus | None
    violations: tuple[Violation, ...]
    trace: Trace | None
    mode: str
    notes: tuple[str, ...] = ()

    @property
    def unexpected(self) -> tuple[Violation, ...]:
        """Calls the profile does not mention (not answered by an explicit rule)."""
        return tuple(v for v in self.violations if not v.by_rule)

    @property
    def violated(self) -> bool:
        """Whether the profile missed something: a call it does not mention was seen, or (kill
        mode) the workload died of SIGSYS and the audit log does not blame an explicit rule."""
        if self.unexpected:
            return True
        return self.mode == "kill" and self.died_of_sigsys and not self.violations

    @property
    def status(self) -> int:
        """The workload's status as a shell reports it (128+N for death by signal N)."""
        return self.exit.shell_status if self.exit else 0

    @property
    def died_of_sigsys(self) -> bool:
        return self.exit is not None and self.exit.signal == signal.SIGSYS


# --- pure policy --------------------------------------------------------------------------------


def check_mode(mode: str) -> None:
    """Refuse an unknown mode in one line."""
    if mode not in MODES:
        raise SeccompGenError(f"unknown mode {mode!r}", hint=f"use one of {', '.join(MODES)}")


def check_arches(profile: Profile, host: Sequence[str], source: str = "") -> None:
    """Refuse a profile that names none of this machine's ABIs (e.g. an aarch64-only one)."""
    if not set(profile.architectures) & set(host):
        raise SeccompGenError(
            f"the profile is for {', '.join(sort_arches(profile.architectures)) or 'no arch'}, "
            f"not for this machine ({', '.join(host)})", path=source or None,
            hint="generate a profile on (or for) this arch")


def outcome(v: Violation, mode: str) -> str:
    """What happened to the call, in words: ``failed with EPERM``, ``allowed (complain)``..."""
    if v.action == "log":
        return "allowed (log)"
    if v.action == "errno" and (mode == "enforce" or v.by_rule):
        return f"failed with {errno_mod.errorcode.get(v.errno or 0, str(v.errno))}"
    if mode == "complain":
        would = (f"would fail with {errno_mod.errorcode.get(v.errno or 0, str(v.errno))}"
                 if v.action == "errno" else f"would {v.action}")
        return f"allowed (complain; {would})"
    if v.action == "trap":
        return "SIGSYS (trap)"
    if v.action in ("kill", "kill-process"):
        return "killed by SIGSYS" + (" (thread)" if v.action == "kill" else "")
    return v.action


def _answer(action: str, mode: str, by_rule: bool) -> tuple[int, bool]:
    """(what the tracer does, whether the call goes into the violations trace)."""
    from . import session as es

    if action == "allow":
        return es.CONTINUE, False
    record = not by_rule
    if action == "log":
        return es.CONTINUE, record
    if mode == "complain":
        if action == "errno" and by_rule:
            return es.ERRNO, False
        return es.CONTINUE, record
    return {"errno": es.ERRNO, "kill": es.KILL_THREAD, "kill-process": es.KILL_PROCESS,
            "trap": es.TRAP}.get(action, es.ERRNO), record


# --- loading ------------------------------------------------------------------------------------


def load(profile: Profile | str | os.PathLike[str]) -> tuple[Profile, str, bytes | None]:
    """A Profile, the name to show for it (its path, or ``<profile>``) and, for a raw BPF
    program, the program: that is loaded as it is (what bwrap would load), whatever of it could
    be read back as rules."""
    if isinstance(profile, Profile):
        return profile, "<profile>", None
    from ..files.inputs import source_name
    from ..files.profiles import load_program

    prof, _, program = load_program(profile)
    return prof, source_name(profile), program


# --- kill mode: the real filter, no tracing -------------------------------------------------------

def _kmsg_kills(fd: int, pid: int) -> list[SeccompRecord]:
    """The seccomp kill records (sig=SIGSYS) of ``pid`` the kernel logged since ``fd`` was
    opened (:func:`~seccomp_gen.linux.kmsg.open_at_end`); closes ``fd``."""
    from ..linux.kmsg import seccomp_records_since

    return [rec for rec in seccomp_records_since(fd) if rec.sig == signal.SIGSYS and rec.pid == pid]


def _run_killmode(argv: Sequence[str], path: str, program: bytes,
                  env: dict[str, str] | None, cwd: str | None) -> tuple[ExitStatus, int]:
    """Fork, load ``program`` as the only filter, exec; wait. Returns (exit, pid)."""
    from ..linux.ptrace import WALL
    from ..linux.seccomp import Program, needs_no_new_privs
    from ..linux.spawn import FORWARDED_SIGNALS, ErrorPipe, default_signals, exec_child, load_filter

    prog = Program(program)
    nnp = needs_no_new_privs()
    environ = env if env is not None else dict(os.environ)
    pipe = ErrorPipe()

    def steps() -> None:
        default_signals()
        if cwd:
            os.chdir(cwd)
        load_filter(prog, nnp)

    pid = os.fork()
    if pid == 0:  # child
        exec_child(pipe, path, argv, environ, steps)
    pipe.started()
    forwarded: dict[int, signal._HANDLER] = {}

    def forward(sig: int, _frame: object) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)

    try:
        for sig in FORWARDED_SIGNALS:
            if sig != signal.SIGINT:  # Ctrl-C reaches the workload by itself (same pgrp)
                forwarded[sig] = signal.signal(sig, forward)
        while True:
            try:
                _, status = os.waitpid(pid, WALL)
                break
            except InterruptedError:  # pragma: no cover - PEP 475 retries
                continue
            except KeyboardInterrupt:
                continue  # the workload got the Ctrl-C too; wait for it
    finally:
        for signum, handler in forwarded.items():
            signal.signal(signum, handler)
    pipe.check(path, None, denied_hint="the profile may deny execve")
    return ExitStatus.from_wait_status(status), pid


# --- the API ------------------------------------------------------------------------------------


@dataclass
class _Collector:
    """Turns stops into Violations, in the tracer's loop."""

    profile: Profile
    simulate: Callable[[int, int, tuple[int, ...]], tuple[str, int | None]]
    mode: str
    on_violation: Callable[[Violation], None] | None
    seen: list[Violation] = field(default_factory=list)

    def judge(self, tid: int, tgid: int, exe: str, audit: int, nr: int,
              args: tuple[int, ...]) -> tuple[int, int, bool]:
        action, err = self.simulate(audit, nr, args)
        if action == "allow":  # e.g. a rule libseccomp let the recording filter express less
            return 0, 0, False
        arch = arch_name(audit, nr)
        by_rule = (arch in self.profile.architectures
                   and (action, err) != self.profile.default_verdict)
        answer, record = _answer(action, self.mode, by_rule)
        v = Violation(arch=arch, name=syscall_name(arch, nr), nr=nr, args=tuple(args), pid=tgid,
                      tid=tid, exe=exe, action=action, errno=err, by_rule=by_rule)
        self.seen.append(v)
        if self.on_violation is not None:
            self.on_violation(v)
        return answer, err or 0, record


def run(
    argv: Sequence[str],
    profile: Profile | str | os.PathLike[str],
    *,
    mode: str = "enforce",
    on_violation: Callable[[Violation], None] | None = None,
    env: dict[str, str] | None = None,
    cwd: str | None = None,
    source: str | None = None,
) -> RunResult:
    """Run ``argv`` under ``profile`` (a Profile or any profile/trace file) until every process
    it started has ended.

    ``on_violation`` is called with each denied call as it happens (in the tracer, while the
    calling thread is stopped: keep it short). Raises a one-line :class:`SeccompGenError` before
    anything runs for an unknown mode, a missing or unreadable profile, a profile libseccomp
    rejects, a profile for another arch, a command that cannot be found, or (enforce and kill
    modes) a profile that denies the execve that would start the command (exit status 126).
    """
    from ..libseccomp import export_bpf, recording_filter
    from ..linux.cbpf import decode, run_bpf, seccomp_data, to_verdict
    from ..linux.host import host_arches
    from ..recorders.base import LiveStats, RecordOptions, resolve_command
    from ..recorders.seccomp import seccomp_unavailable

    check_mode(mode)
    prof, name, raw = load(profile)
    name = source or name
    from ..files.profiles import one_family, skipped_summary

    host = host_arches()
    check_arches(prof, host, name)
    # A profile for several kernels (Docker's) is loaded as Docker loads it on this host: one
    # filter cannot hold the arches of another kernel.
    prof = one_family(prof, host[0])
    skip = skipped_summary(prof)
    load_notes = [f"{name}: {skip}"] if skip else []
    try:
        # raises if libseccomp rejects it; a raw BPF program is what runs, as it is
        original = raw if raw is not None else export_bpf(prof)
    except SeccompGenError as exc:
        if exc.path is None and name != "<profile>":
            exc.path = name
        raise
    path = resolve_command(argv, env)
    if mode != "complain":
        _refuse_denied_execve(prof, original, name)
    if mode == "kill":
        from ..linux.kmsg import open_at_end

        kmsg = open_at_end()
        status, pid = _run_killmode(argv, path, original, env, cwd)
        violations: list[Violation] = []
        notes: list[str] = []
        if status.signal == signal.SIGSYS:
            for rec in _kmsg_kills(kmsg, pid):
                arch, nr = arch_name(rec.arch, rec.syscall), rec.syscall
                action = rec.action
                v = Violation(arch=arch, name=syscall_name(arch, nr), nr=nr, args=(),
                              pid=rec.pid, tid=rec.pid, exe=rec.exe, action=action, errno=None,
                              by_rule=(arch in prof.architectures
                                       and (action, None) != prof.default_verdict))
                violations.append(v)
                if on_violation is not None:
                    on_violation(v)
            if not violations:
                notes.append("the kernel's audit record of the kill could not be read; run with "
                             "--mode enforce or complain to see which syscall it was")
        elif kmsg >= 0:
            os.close(kmsg)
        return RunResult(exit=status, violations=tuple(violations), trace=None, mode=mode,
                         notes=tuple(load_notes + notes))

    why = seccomp_unavailable()
    if why is not None:
        raise SeccompGenError(f"run --mode {mode} is unavailable here: {why}",
                              hint="--mode kill needs no tracing")
    program, filter_notes = recording_filter(prof, host, "trace")
    insns = decode(original)
    cache: dict[tuple[int, int], tuple[str, int | None]] = {}
    conditional = _conditional_numbers(prof, host)

    def simulate(audit: int, nr: int, args: tuple[int, ...]) -> tuple[str, int | None]:
        key = (audit, nr)
        hit = cache.get(key)
        if hit is not None:
            return hit
        verdict = to_verdict(run_bpf(insns, seccomp_data(audit, nr, args)))
        result = (verdict.action, verdict.errno)
        if key not in conditional:
            cache[key] = result
        return result

    collector = _Collector(prof, simulate, mode, on_violation)
    from .session import EnforceSession

    session = EnforceSession(argv, path, RecordOptions(pin=False, env=env, cwd=cwd),
                             LiveStats(), program, collector.judge)
    session.notes.append((NOTE_COMPLAIN if mode == "complain" else NOTE_ENFORCE)
                         .format(source=name))
    session.notes += filter_notes
    trace = session.run()
    return RunResult(exit=trace.header.exit, violations=tuple(collector.seen), trace=trace,
                     mode=mode, notes=tuple(load_notes))


def _refuse_denied_execve(profile: Profile, program: bytes, source: str) -> None:
    """Refuse a profile that denies the execve starting the command (the filter is loaded
    right before it). Otherwise the command never starts, and what the failed start does next is
    reported instead. Under an errno verdict the child cannot even exit: glibc's ``_exit`` ends
    in an instruction that dies of SIGSEGV, which looked like the command's own crash."""
    from ..errors import CommandNotExecutable
    from ..libseccomp import Simulator
    from ..linux.host import host_arch

    arch = host_arch()
    if any(r.name == "execve" and r.conditions and arch in r.arches for r in profile.rules):
        return  # the verdict depends on the arguments: let the kernel decide
    verdict = Simulator(program).check(arch, "execve")
    if verdict.action == "allow":
        return
    what = verdict.action
    if verdict.errno is not None:
        what = f"errno {errno_mod.errorcode.get(verdict.errno, verdict.errno)}"
    raise CommandNotExecutable(
        f"{source}: the profile denies execve on {arch} ({what}): the command never started",
        hint="a profile must allow execve, the call that starts the command; --mode complain "
        "lists everything it lacks")


def _conditional_numbers(profile: Profile, host: Sequence[str]) -> frozenset[tuple[int, int]]:
    """(AUDIT_ARCH, nr) pairs whose verdict may depend on the arguments: a rule for that name on
    that arch has conditions, or it is x86's ``socketcall``/``ipc`` (libseccomp may rewrite
    socket rules to them). Every other verdict is computed once per (arch, nr)."""
    from ..libseccomp import audit_arch
    from ..syscalls.arches import X32_SYSCALL_BIT

    out = set()
    names = {(a, r.name) for r in profile.rules if r.conditions for a in r.arches}
    names |= {(s.arch, s.name) for s in profile.skipped}  # a raw BPF program's, among them
    names |= {("x86", "socketcall"), ("x86", "ipc")}
    for arch, name in names:
        if arch not in host:
            continue
        nr = syscall_number(arch, name)
        if nr >= 0:
            out.add((audit_arch(arch), nr | (X32_SYSCALL_BIT if arch == "x32" else 0)))
    return frozenset(out)


def write_trace(result: RunResult, output: str | os.PathLike[str]) -> None:
    """Write the violations trace of a traced run."""
    from ..files import traces

    if result.trace is None:
        raise SeccompGenError("kill mode traces nothing; there is no violations trace to write")
    traces.dump(result.trace, output)


__all__ = ["MODES", "VIOLATION_EXIT", "RunResult", "check_mode", "outcome", "run", "write_trace"]
