"""``sandbox()``: enforce a profile on the running Python process, and say what it denied.

::

    import seccomp_gen
    box = seccomp_gen.sandbox("app.json")          # OCI, LXC, Python table or trace file
    os.mkdir("/tmp/x")   # not in the profile: fails with PermissionError (EPERM), and stderr says
    # seccomp-gen sandbox: denied mkdir [x86_64 #83] (0x7f.., 0x1ff, 0x0, 0x0, 0x0, 0x0) ...

The profile becomes a filter on every thread (TSYNC) whose default is TRAP (``report``,
``raise``) or KILL_PROCESS (``kill``). A trapped call gets SIGSYS, and a compiled handler
(``_native/sigsys_handler.c``: a signal handler may only do async-signal-safe things, and
Python's ``signal`` sees no siginfo) makes it fail with ``errno``, queues a record on a pipe and
asks CPython to run this module's SIGSYS handler, which reports it (``raise``: and raises
:class:`SyscallDenied` in the main thread, so an ``except OSError`` cannot swallow it). What each
mode means precisely, what the sandbox adds to the profile for itself (:attr:`Sandbox.added`,
:attr:`Sandbox.narrowed`) and the limits: docs/enforce.md, "seccomp_gen.sandbox()".
"""

from __future__ import annotations

import atexit
import contextlib
import errno as errno_mod
import fcntl
import os
import resource
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import SeccompGenError
from ..model import Violation
from ..profile import MAX_ERRNO, ArgCondition, Profile, Rule, normalize
from ..syscalls.arches import family_of

if TYPE_CHECKING:
    from .._native.sigsys_handler import Handler

# libseccomp, the profile readers and the native handler are imported when sandbox() runs, so that
# ``import seccomp_gen`` stays cheap.

ON_VIOLATION: tuple[str, ...] = ("report", "raise", "kill")
REPORT_PREFIX = "seccomp-gen sandbox: "

#: Where the pipe's fds are moved to, to keep them out of the way of code that opens files.
_HIGH_FD = 768

_active: Sandbox | None = None
_lock = threading.Lock()


class SyscallDenied(SeccompGenError):
    """A syscall the sandbox denied (``on_violation="raise"``); ``violation`` says which.

    Deliberately not an ``OSError``: the denied call itself already failed with one, and this
    exception exists so that an ``except OSError`` around that call cannot swallow the violation.
    """

    def __init__(self, violation: Violation) -> None:
        err = violation.errno or errno_mod.EPERM
        code = errno_mod.errorcode.get(err, str(err))
        super().__init__(f"seccomp sandbox denied {violation.name} ({violation.arch} "
                         f"#{violation.nr}) in pid {violation.pid} tid {violation.tid}; "
                         f"the call failed with {code}", pid=violation.pid)
        self.violation = violation


@dataclass(frozen=True)
class AddedRule:
    """A rule the sandbox put in the filter for its own use, and why."""

    name: str
    condition: str
    reason: str

    def __str__(self) -> str:
        cond = f" ({self.condition})" if self.condition else ""
        return f"{self.name}{cond}: {self.reason}"


def format_violation(v: Violation) -> str:
    """One readable line for a violation (without the trailing newline)."""
    args = ", ".join(f"{a:#x}" for a in v.args)
    if v.action == "errno" and v.errno is not None:
        outcome = f"failed with {errno_mod.errorcode.get(v.errno, str(v.errno))}"
    else:
        outcome = v.action
    return (f"{REPORT_PREFIX}denied {v.name} [{v.arch} #{v.nr}] ({args}) pid {v.pid} "
            f"tid {v.tid} exe {v.exe}: {outcome}")


@dataclass
class Sandbox:
    """An installed sandbox: what it enforces, what it added, and what it has seen.

    The filter cannot be removed (seccomp filters last for the life of the process).
    """

    mode: str
    errno: int | None
    profile: Profile
    added: tuple[AddedRule, ...]
    narrowed: tuple[str, ...]
    violations: list[Violation] = field(default_factory=list)
    report_to: Callable[[Violation], object] | None = None
    handler_path: Path | None = None
    _handler: Handler | None = field(default=None, repr=False)
    _rfd: int = field(default=-1, repr=False)
    _exe: str = field(default="", repr=False)
    _names: dict[tuple[str, int], str] = field(default_factory=dict, repr=False)
    _pending: bytes = field(default=b"", repr=False)
    _draining: bool = field(default=False, repr=False)
    _dropped_seen: int = field(default=0, repr=False)
    _replaced_said: bool = field(default=False, repr=False)

    @property
    def dropped(self) -> int:
        """Violations the handler could not queue because the pipe was full."""
        return self._handler.dropped if self._handler else 0

    def handler_installed(self) -> bool:
        """Whether the SIGSYS handler is still in place (``kill`` mode has none)."""
        return self._handler.installed() if self._handler else False

    def drain(self) -> list[Violation]:
        """Read and report every queued violation now; returns the new ones."""
        if self._handler is None or self._draining:
            return []
        self._draining = True
        try:
            return self._drain()
        finally:
            self._draining = False

    def _drain(self) -> list[Violation]:
        from .._native.sigsys_handler import RECORD, RECORD_MAGIC
        from ..libseccomp import arch_name, syscall_name

        size = RECORD.size
        data = self._pending
        while True:
            try:
                chunk = os.read(self._rfd, size * 64)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                break
            if not chunk:
                break
            data += chunk
        whole = len(data) - len(data) % size
        self._pending = data[whole:]
        new: list[Violation] = []
        for off in range(0, whole, size):
            magic, audit, nr, pid, tid, err, _ip, *args = RECORD.unpack_from(data, off)
            if magic != RECORD_MAGIC:
                continue
            arch = arch_name(audit, nr)
            name = self._names.get((arch, nr)) or syscall_name(arch, nr)
            v = Violation(arch=arch, name=name, nr=nr, args=tuple(args), pid=pid, tid=tid,
                          exe=self._exe, action="errno", errno=err)
            new.append(v)
            self._report(v)
        self.violations.extend(new)
        assert self._handler is not None
        dropped = self._handler.dropped
        if dropped > self._dropped_seen:
            self._say(f"{REPORT_PREFIX}{dropped - self._dropped_seen} violation(s) not reported: "
                      "the report pipe was full")
            self._dropped_seen = dropped
        if not self._replaced_said and not self._handler.installed():
            self._replaced_said = True
            self._say(f"{REPORT_PREFIX}the SIGSYS handler was replaced; later violations "
                      "are not reported and may kill the process")
        return new

    def _report(self, v: Violation) -> None:
        if self.report_to is not None:
            self.report_to(v)
        else:
            self._say(format_violation(v))

    @staticmethod
    def _say(line: str) -> None:
        with contextlib.suppress(OSError):
            os.write(2, (line + "\n").encode("utf-8", "backslashreplace"))

    def check(self) -> list[Violation]:
        """:meth:`drain`, and in ``raise`` mode raise :class:`SyscallDenied` for the first new
        violation of this process. CPython calls this as the SIGSYS handler; call it yourself for
        a deterministic point (e.g. before a thread's result is used)."""
        new = self.drain()
        if self.mode == "raise":
            me = os.getpid()
            for v in new:
                if v.pid == me:
                    raise SyscallDenied(v)
        return new

    def _on_sigsys(self, signum: int, frame: object) -> None:
        self.check()

    def _at_exit(self) -> None:
        # The last chance to report: after atexit, CPython's finalization clears Python-level
        # signal handlers (and tries to reset SIGSYS, which the filter denies), so stop notifying.
        self.drain()
        if self._handler is not None:
            self._handler.set_notify(None)


def _resolve_profile(profile: Profile | str | os.PathLike[str]) -> Profile:
    if isinstance(profile, Profile):
        return profile
    if isinstance(profile, str | os.PathLike):
        from ..files.profiles import load_profile

        return load_profile(os.fspath(profile))[0]
    raise SeccompGenError(f"sandbox() needs a Profile or a path, not {type(profile).__name__}")


def _allows(profile: Profile, name: str, arch: str) -> bool:
    """Whether the profile allows ``name`` on ``arch`` whatever the arguments."""
    return any(r.name == name and r.action == "allow" and not r.conditions and arch in r.arches
               for r in profile.rules)


def _own_rules(profile: Profile, arch: str, rfd: int, wfd: int,
               to_stderr: bool) -> tuple[list[Rule], list[AddedRule]]:
    wanted: list[tuple[str, ArgCondition | None, str]] = [
        ("rt_sigreturn", None, "return from the SIGSYS handler"),
        ("getpid", None, "the SIGSYS handler records the caller's pid"),
        ("gettid", None, "the SIGSYS handler records the caller's tid"),
        ("write", ArgCondition(0, "EQ", wfd), "the SIGSYS handler queues the record"),
        ("read", ArgCondition(0, "EQ", rfd), "the report drain reads the queue"),
    ]
    if to_stderr:
        wanted.append(("write", ArgCondition(0, "EQ", 2), "reports go to stderr"))
    rules: list[Rule] = []
    added: list[AddedRule] = []
    for name, cond, reason in wanted:
        if _allows(profile, name, arch):
            continue
        conds = (cond,) if cond else ()
        rules.append(Rule(name, (arch,), conditions=conds, comment=f"sandbox: {reason}"))
        added.append(AddedRule(name, f"fd == {cond.value}" if cond else "", reason))
    return rules, added


def _guard_sigsys(profile: Profile, arch: str) -> tuple[list[Rule], list[str]]:
    """Rules with an unconditional rt_sigaction on ``arch`` split so SIGSYS cannot be set."""
    rules: list[Rule] = []
    narrowed: list[str] = []
    sigsys = int(signal.SIGSYS)
    for r in profile.rules:
        if r.name == "rt_sigaction" and r.action == "allow" and not r.conditions \
                and arch in r.arches:
            others = tuple(a for a in r.arches if a != arch)
            if others:
                rules.append(replace(r, arches=others))
            why = "sandbox: the SIGSYS handler must stay"
            rules.append(replace(r, arches=(arch,), comment=why,
                                 conditions=(ArgCondition(0, "NE", sigsys),)))
            rules.append(replace(r, arches=(arch,), comment=why,
                                 conditions=(ArgCondition(0, "EQ", sigsys),
                                             ArgCondition(1, "EQ", 0))))
            narrowed.append("rt_sigaction: setting a SIGSYS action is denied (querying works)")
        else:
            rules.append(r)
    return rules, narrowed


def _move_high(fd: int) -> int:
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    limit = soft if soft >= 0 else _HIGH_FD * 2
    floor = min(_HIGH_FD, max(3, limit - 64))
    try:
        new = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, floor)
    except OSError:
        return fd
    os.close(fd)
    return new


def sandbox(
    profile: Profile | str | os.PathLike[str],
    on_violation: str = "report",
    errno: int = errno_mod.EPERM,
    report_to: Callable[[Violation], object] | None = None,
) -> Sandbox:
    """Enforce ``profile`` on this process (all threads) from now on (see docs/enforce.md).

    ``profile`` is a :class:`~seccomp_gen.profile.Profile` or a path to any file
    :func:`~seccomp_gen.files.profiles.load_profile` reads. Denied calls fail with ``errno``
    (``report``/``raise``) or kill the process (``kill``); ``report_to`` receives each
    :class:`~seccomp_gen.model.Violation` instead of a line on stderr. It runs in the main thread
    and may only use syscalls the profile allows.

    Every check (profile, arch, compiler) happens before anything is installed; any failure is a
    one-line :class:`SeccompGenError` and leaves the process as it was. The profile's own
    ``errno``/``kill`` rules keep their action and are not reported; only calls that would get the
    profile's default verdict are trapped. The filter also allows what :attr:`Sandbox.added` lists.
    """
    from ..libseccomp import action_value, compile_profile, load
    from ..linux.host import host_arch

    global _active
    if on_violation not in ON_VIOLATION:
        raise SeccompGenError(f"unknown on_violation {on_violation!r}",
                              hint=f"use one of {', '.join(ON_VIOLATION)}")
    # The profile model's range (libseccomp 2.5 refuses 4095); 0 would make a denied call succeed.
    if not isinstance(errno, int) or isinstance(errno, bool) or not 1 <= errno <= MAX_ERRNO:
        raise SeccompGenError(f"errno {errno!r} out of range", hint=f"use 1-{MAX_ERRNO}")
    prof = _resolve_profile(profile)
    host = host_arch()
    if host not in prof.architectures:
        raise SeccompGenError(f"the profile is for {', '.join(prof.architectures) or 'no arch'}, "
                              f"not this machine's {host}")
    with _lock:
        if _active is not None:
            raise SeccompGenError("a sandbox is already installed in this process")
        if on_violation == "kill":
            final = normalize(replace(prof, default_action="kill-process", default_errno=None))
            filt = compile_profile(final)
            load(filt, action_value("kill-process"), profile=final)
            _active = Sandbox(mode="kill", errno=None, profile=final, added=(), narrowed=())
            return _active
        if host != "x86_64":
            raise SeccompGenError(f"sandbox(on_violation={on_violation!r}) supports x86_64 only, "
                                  f"not {host}", hint="use on_violation='kill'")
        if threading.current_thread() is not threading.main_thread():
            raise SeccompGenError("sandbox() must be called from the main thread",
                                  hint="Python runs signal handlers only there")
        return _install(prof, host, on_violation, errno, report_to)


def _install(prof: Profile, host: str, mode: str, err: int,
             report_to: Callable[[Violation], object] | None) -> Sandbox:
    import ctypes

    from .._native.sigsys_handler import load as load_handler
    from ..libseccomp import action_value, compile_profile, load, name_table

    global _active
    rfd, wfd = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    rfd, wfd = _move_high(rfd), _move_high(wfd)
    try:
        guarded, narrowed = _guard_sigsys(prof, host)
        own, added = _own_rules(prof, host, rfd, wfd, report_to is None)
        final = normalize(replace(prof, default_action="trap", default_errno=None,
                                  rules=(*guarded, *own)))
        filt = compile_profile(final)
        handler = load_handler()
        box = Sandbox(mode=mode, errno=err, profile=final, added=tuple(added),
                      narrowed=tuple(narrowed), report_to=report_to, handler_path=handler.path,
                      _handler=handler, _rfd=rfd, _exe=os.readlink("/proc/self/exe"),
                      _names=name_table(family_of(host)))
        notify = ctypes.cast(ctypes.pythonapi.PyErr_SetInterruptEx, ctypes.c_void_p).value
        previous = signal.signal(signal.SIGSYS, box._on_sigsys)
    except BaseException:
        os.close(rfd)
        os.close(wfd)
        raise
    try:
        handler.install(wfd, err, notify)
        load(filt, action_value("trap"), profile=final)
    except BaseException:
        handler.restore()
        signal.signal(signal.SIGSYS, previous if previous is not None else signal.SIG_DFL)
        os.close(rfd)
        os.close(wfd)
        raise
    atexit.register(box._at_exit)
    _active = box
    return box


__all__ = [
    "ON_VIOLATION",
    "AddedRule",
    "Sandbox",
    "SyscallDenied",
    "format_violation",
    "sandbox",
]
