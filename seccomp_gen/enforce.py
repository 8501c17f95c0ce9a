"""Run a workload under a profile and report what the profile denies: ``seccomp-gen run``.

``run(argv, profile, mode=...)`` loads the profile as a real seccomp filter in the workload,
right before its execve, and returns a :class:`RunResult`: the workload's exit status, every
denied call as a :class:`~seccomp_gen.model.Violation` (in the order they happened) and, in the
traced modes, the violations as a :class:`~seccomp_gen.model.Trace` that ``generate`` can merge.

Modes:

* ``enforce``: every call the profile denies fails (or kills, or traps) exactly as the profile
  says, and is reported.
* ``complain``: calls that fall to the profile's *default* action are reported and let through,
  so one run finds every missing syscall. Calls an explicit rule of the profile answers with an
  errno (``clone3 -> ENOSYS``) are still answered so: they are the profile's intent, and glibc's
  fallback to ``clone`` is what the profile must allow. Explicit kill/trap rules are reported and
  let through (complain mode never kills).
* ``kill``: the profile is the workload's only filter, as in production; nothing is traced. A
  workload killed by SIGSYS is reported, with the syscall the kernel logged (audit records in
  ``/dev/kmsg``) when it can be read.

Mechanism (enforce, complain): a SECCOMP_RET_TRACE filter that ALLOWs what the profile allows
(per arch, with its argument conditions) and TRACEs everything else, so allowed calls never stop
and run at native speed. At a stop the *original* profile's verdict for (arch, nr, args) is
computed by running its compiled BPF in :mod:`seccomp_gen.validate`'s simulator, so the verdict
is libseccomp's, not ours; see :mod:`seccomp_gen.recorders.enforce_session` for how a verdict is
carried out.

Violations vs. rule denials: a *violation* is a call the profile does not mention (it hits the
default action, or the call's ABI is not in the profile). A call an explicit non-allow rule
answers is reported too, with ``by_rule=True``, but it does not count for
``--fail-on-violation`` and is not written to the complain-mode trace.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno as errno_mod
import os
import re
import signal
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .arch import arch_name, syscall_name, syscall_number
from .errors import SeccompGenError
from .model import ExitStatus, Trace, Violation
from .profile import Profile
from .syscalls.arches import sort_arches

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
    from .recorders import enforce_session as es

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


def load(profile: Profile | str | os.PathLike[str]) -> tuple[Profile, str]:
    """A Profile and the name to show for it (its path, or ``<profile>``)."""
    if isinstance(profile, Profile):
        return profile, "<profile>"
    from .inputs import source_name
    from .profile_io import load_profile

    prof, _ = load_profile(profile)
    return prof, source_name(profile)


# --- kill mode: the real filter, no tracing -------------------------------------------------------

_AUDIT_LINE = re.compile(r"type=1326 .*?\bpid=(\d+) .*?\bexe=\"?([^\" ]*)\"? .*?\bsig=(\d+) "
                         r"arch=([0-9a-f]+) syscall=(\d+) .*?code=(0x[0-9a-f]+)")


def _kmsg_open() -> int:
    """/dev/kmsg positioned at its end, or -1 (not readable, e.g. not root)."""
    try:
        fd = os.open("/dev/kmsg", os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return -1
    try:
        os.lseek(fd, 0, os.SEEK_END)
    except OSError:
        os.close(fd)
        return -1
    return fd


def _kmsg_kills(fd: int, pid: int) -> list[tuple[int, str, int, int, int]]:
    """Seccomp kill records (type=1326, sig=SIGSYS) of ``pid`` since ``fd`` was opened:
    (pid, exe, audit arch, nr, seccomp return code). Closes ``fd``."""
    found: list[tuple[int, str, int, int, int]] = []
    if fd < 0:
        return found
    while True:
        try:
            rec = os.read(fd, 8192)
        except BlockingIOError:
            break
        except OSError as exc:
            if exc.errno == errno_mod.EPIPE:  # records overwritten while we read: go on
                continue
            break
        if not rec:
            break
        m = _AUDIT_LINE.search(rec.decode(errors="replace"))
        if m and int(m.group(3)) == signal.SIGSYS and int(m.group(1)) == pid:
            found.append((int(m.group(1)), m.group(2), int(m.group(4), 16), int(m.group(5)),
                          int(m.group(6), 16)))
    os.close(fd)
    return found


def _run_killmode(argv: Sequence[str], path: str, program: bytes,
                  env: dict[str, str] | None, cwd: str | None) -> tuple[ExitStatus, int]:
    """Fork, load ``program`` as the only filter, exec; wait. Returns (exit, pid)."""
    from .recorders.seccomp_backend import (
        PR_SET_NO_NEW_PRIVS,
        PR_SET_SECCOMP,
        SECCOMP_MODE_FILTER,
        _has_cap_sys_admin,
        _prctl,
        _SockFprog,
    )
    from .recorders.session import FORWARDED_SIGNALS, WALL

    prog = ctypes.create_string_buffer(program, len(program))
    fprog = _SockFprog(len(program) // 8, ctypes.addressof(prog))
    nnp = not _has_cap_sys_admin()
    environ = env if env is not None else dict(os.environ)
    err_r, err_w = os.pipe2(os.O_CLOEXEC)
    pid = os.fork()
    if pid == 0:  # child
        try:
            for sig in (signal.SIGPIPE, signal.SIGXFSZ, *FORWARDED_SIGNALS):
                signal.signal(sig, signal.SIG_DFL)
            os.close(err_r)
            if cwd:
                os.chdir(cwd)
            if nnp and _prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
                os.write(err_w, b"S%d:set no_new_privs" % ctypes.get_errno())
                os._exit(127)
            if _prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(fprog), 0, 0) != 0:
                os.write(err_w, b"S%d:load the seccomp filter" % ctypes.get_errno())
                os._exit(127)
            os.execve(path, list(argv), environ)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.write(err_w, b"E%d" % (exc.errno or 0))
        except BaseException:  # nothing may escape a forked child
            pass
        os._exit(127)
    os.close(err_w)
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
    failure = os.read(err_r, 256)
    os.close(err_r)
    if failure:
        from .errors import CommandNotExecutable, RecordError

        tag, rest = failure[:1], failure[1:].decode(errors="replace")
        code_text, _, what = rest.partition(":")
        code = int(code_text) if code_text.isdigit() else 0
        if tag == b"S":
            raise RecordError(f"could not {what}: {os.strerror(code)}")
        hint = "the profile may deny execve" if code == errno_mod.EPERM else None
        raise CommandNotExecutable(f"{path}: cannot execute: {os.strerror(code)}", hint=hint)
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
    from .recorders.base import LiveStats, RecordOptions, resolve_command
    from .recorders.seccomp_backend import build_filter, host_arches, seccomp_unavailable
    from .validate import decode, export_bpf, run_bpf, seccomp_data, to_verdict

    check_mode(mode)
    prof, name = load(profile)
    name = source or name
    from .profile_io import one_family, skipped_summary

    host = host_arches()
    check_arches(prof, host, name)
    # A profile for several kernels (Docker's) is loaded as Docker loads it on this host: one
    # filter cannot hold the arches of another kernel.
    prof = one_family(prof, host[0])
    skip = skipped_summary(prof)
    load_notes = [f"{name}: {skip}"] if skip else []
    try:
        original = export_bpf(prof)  # raises if libseccomp rejects it
    except SeccompGenError as exc:
        if exc.path is None and name != "<profile>":
            exc.path = name
        raise
    path = resolve_command(argv, env)
    if mode != "complain":
        _refuse_denied_execve(prof, original, name)
    if mode == "kill":
        kmsg = _kmsg_open()
        status, pid = _run_killmode(argv, path, original, env, cwd)
        violations: list[Violation] = []
        notes: list[str] = []
        if status.signal == signal.SIGSYS:
            for kpid, exe, audit, nr, code in _kmsg_kills(kmsg, pid):
                arch = arch_name(audit, nr)
                action = to_verdict(code).action
                v = Violation(arch=arch, name=syscall_name(arch, nr), nr=nr, args=(), pid=kpid,
                              tid=kpid, exe=exe, action=action, errno=None,
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
    program, filter_notes = build_filter(prof, host)
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
    from .recorders.enforce_session import EnforceSession

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
    from .arch import host_arch
    from .errors import CommandNotExecutable
    from .validate import Simulator

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
    from .arch import arch_token
    from .syscalls.arches import X32_SYSCALL_BIT

    out = set()
    names = {(a, r.name) for r in profile.rules if r.conditions for a in r.arches}
    names |= {("x86", "socketcall"), ("x86", "ipc")}
    for arch, name in names:
        if arch not in host:
            continue
        token = arch_token("x86_64") if arch == "x32" else arch_token(arch)
        nr = syscall_number(arch, name)
        if nr >= 0:
            out.add((token, nr | (X32_SYSCALL_BIT if arch == "x32" else 0)))
    return frozenset(out)


def write_trace(result: RunResult, output: str | os.PathLike[str]) -> None:
    """Write the violations trace of a traced run."""
    from . import tracefile

    if result.trace is None:
        raise SeccompGenError("kill mode traces nothing; there is no violations trace to write")
    tracefile.dump(result.trace, Path(output))


__all__ = ["MODES", "VIOLATION_EXIT", "RunResult", "check_mode", "outcome", "run", "write_trace"]
