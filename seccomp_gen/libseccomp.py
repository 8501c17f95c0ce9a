"""Everything seccomp-gen asks libseccomp: arch and syscall names, and the one compiler.

Names. An arch is identified by its AUDIT_ARCH value, the number the kernel reports in
PTRACE_GET_SYSCALL_INFO, seccomp_data and SIGSYS siginfo. Its name is libseccomp's token
(``x86_64``, ``x86``, ``x32``, ``aarch64``...), and syscall names and numbers are resolved with
that arch's own table, so a 32-bit call on a 64-bit kernel is never named with the 64-bit table.
Nothing here is a hand-typed syscall table.

Compiling. :func:`build` turns rules into a libseccomp filter the one way every caller needs:
one sub-filter per arch (the arch added before its rules, which libseccomp does not copy to an
arch added later), then merged, so each rule applies only to the arches it names. A profile
(:func:`compile_profile`), the recorders' TRACE/LOG/NOTIFY filters (:func:`recording_filter`)
and the sandbox's filter are all built by it; :func:`export` gives the classic BPF the kernel
loads and :class:`Simulator` runs it here, without loading it. libseccomp's errors (OSError,
ValueError, RuntimeError, bytes names) are turned into one-line errors here and nowhere else.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno as errno_mod
import functools
import tempfile
from collections.abc import Callable, Iterable, Sequence

import pyseccomp

from .errors import RecordError, SeccompGenError, UnknownSyscall
from .linux import cbpf
from .linux.seccomp import MAX_INSNS
from .profile import ArgCondition, Profile, Rule
from .proof import Mismatch, check
from .syscalls.arches import X32_SYSCALL_BIT

_AUDIT_ARCH_X86_64 = int(pyseccomp.Arch.X86_64)


def _arch_table() -> dict[int, str]:
    table: dict[int, str] = {}
    for attr in dir(pyseccomp.Arch):
        if attr.isupper() and attr != "NATIVE":
            table[int(getattr(pyseccomp.Arch, attr))] = attr.lower()
    return table


#: AUDIT_ARCH value -> libseccomp arch name (x32 shares x86_64's value and is told by the nr bit).
AUDIT_ARCH_NAMES: dict[int, str] = _arch_table()
ARCH_BY_NAME: dict[str, int] = {name: value for value, name in AUDIT_ARCH_NAMES.items()}
ARCH_BY_NAME["x32"] = int(pyseccomp.Arch.X32)


# --- names ----------------------------------------------------------------------------------------


def arch_name(audit_arch: int, nr: int = 0) -> str:
    """The libseccomp name of the ABI a call used, from the kernel's AUDIT_ARCH and the number."""
    if audit_arch == _AUDIT_ARCH_X86_64 and nr & X32_SYSCALL_BIT:
        return "x32"
    try:
        return AUDIT_ARCH_NAMES[audit_arch]
    except KeyError:
        return f"audit_arch_{audit_arch:#x}"


def arch_token(name: str) -> int:
    """The AUDIT_ARCH value libseccomp uses for an arch name; raises for an unknown name."""
    try:
        return ARCH_BY_NAME[name]
    except KeyError:
        known = ", ".join(sorted(ARCH_BY_NAME))
        raise UnknownSyscall(f"unknown architecture {name!r}", hint=f"known: {known}") from None


def audit_arch(arch: str) -> int:
    """The AUDIT_ARCH value the kernel reports for a call of ``arch`` (x32: x86_64's)."""
    return _AUDIT_ARCH_X86_64 if arch == "x32" else arch_token(arch)


def native_arch() -> str:
    """The arch libseccomp was built for (the host's main arch)."""
    return arch_name(int(pyseccomp.system_arch()))


@functools.lru_cache(maxsize=4096)
def syscall_name(arch: str, nr: int) -> str:
    """Name of syscall ``nr`` in ``arch``'s own table; ``syscall_0x...`` when the table lacks it.

    x32 numbers carry the x32 bit, exactly as the kernel reports them.
    """
    try:
        token = arch_token(arch)
        name = pyseccomp.resolve_syscall(token, nr)
    except (ValueError, OverflowError, UnknownSyscall, ctypes.ArgumentError):
        return f"syscall_{nr:#x}"
    return name.decode() if isinstance(name, bytes) else str(name)


@functools.lru_cache(maxsize=4096)
def syscall_number(arch: str, name: str) -> int:
    """Number of ``name`` in ``arch``'s table (negative pseudo-numbers mean it has none)."""
    nr = pyseccomp.resolve_syscall(arch_token(arch), name)
    return int(nr)


def knows(arch: str, name: str) -> bool:
    """Whether libseccomp knows ``name`` on ``arch`` (an unknown arch knows nothing)."""
    try:
        return syscall_number(arch, name) >= 0
    except (SeccompGenError, ValueError, OSError):
        return False


def name_table(arches: Iterable[str], highest: int = 1024) -> dict[tuple[str, int], str]:
    """(arch, number as the kernel reports it) -> name for every number below ``highest``."""
    table: dict[tuple[str, int], str] = {}
    for a in arches:
        bit = X32_SYSCALL_BIT if a == "x32" else 0
        for nr in range(highest):
            name = syscall_name(a, nr | bit)
            if not name.startswith("syscall_"):
                table[(a, nr | bit)] = name
    return table


def version() -> str:
    """The libseccomp library version pyseccomp loaded, e.g. ``2.5.4``."""
    try:
        api = pyseccomp._libseccomp
        func = api.seccomp_version
        func.restype = ctypes.POINTER(ctypes.c_uint * 3)
        major, minor, micro = func().contents
        return f"{major}.{minor}.{micro}"
    except (AttributeError, ValueError, OSError):
        return "unknown"


# --- the compiler ---------------------------------------------------------------------------------

_OPS = {
    "NE": pyseccomp.NE, "LT": pyseccomp.LT, "LE": pyseccomp.LE, "EQ": pyseccomp.EQ,
    "GE": pyseccomp.GE, "GT": pyseccomp.GT, "MASKED_EQ": pyseccomp.MASKED_EQ,
}

#: The actions a recorder's filter takes for what it records.
RECORDING_ACTIONS: dict[str, int] = {
    "trace": int(pyseccomp.TRACE(0)),
    "log": int(pyseccomp.LOG),
    "notify": int(pyseccomp.NOTIFY),
}


def action_value(action: str, errno: int | None = None) -> int:
    """libseccomp's value of one of our actions (``errno`` with its number)."""
    if action == "errno":
        return int(pyseccomp.ERRNO(errno or 0))
    return int({
        "allow": pyseccomp.ALLOW,
        "kill": pyseccomp.KILL_THREAD,
        "kill-process": pyseccomp.KILL_PROCESS,
        "trap": pyseccomp.TRAP,
        "log": pyseccomp.LOG,
        **RECORDING_ACTIONS,
    }[action])


def _arg(c: ArgCondition) -> pyseccomp.Arg:
    return pyseccomp.Arg(c.index, _OPS[c.op], c.value, c.value_two)


def _cond_text(conds: Sequence[ArgCondition]) -> str | None:
    if not conds:
        return None
    return " && ".join(f"arg{c.index} {c.op} {c.value:#x}/{c.value_two:#x}" for c in conds)


def _detail(exc: BaseException) -> str:
    return str(getattr(exc, "strerror", None) or exc)


def build(arches: Sequence[str], default: int, rules_for: Callable[[str], Iterable[Rule]], *,
          badarch: int | None = None, optimize: bool = False,
          refused: list[str] | None = None) -> pyseccomp.SyscallFilter:
    """One libseccomp filter for ``arches``: ``default`` for what no rule matches, each arch's
    ``rules_for(arch)``, ``badarch`` for the ABIs not listed (libseccomp's default: kill).

    ``refused``: when given, a rule whose conditions libseccomp refuses is added by name alone
    and named there (a recorder would rather trace less than fail); otherwise it is an error.
    ``optimize`` asks for the binary tree over syscall numbers (libseccomp 2.5+). Raises a
    one-line SeccompGenError for anything libseccomp refuses."""
    if not arches:
        raise SeccompGenError("the filter lists no architectures")
    native = int(pyseccomp.system_arch())
    merged: pyseccomp.SyscallFilter | None = None
    for arch in arches:
        try:
            token = arch_token(arch)
        except SeccompGenError as exc:
            raise SeccompGenError(f"libseccomp rejects the profile: {exc.message}") from None
        try:
            sub = pyseccomp.SyscallFilter(default)
        except OSError as exc:
            raise SeccompGenError(f"libseccomp rejects the default action: {_detail(exc)}"
                                  ) from None
        try:
            if token != native:
                sub.add_arch(token)
                sub.remove_arch(pyseccomp.Arch.NATIVE)
            if badarch is not None:
                sub.set_attr(pyseccomp.Attr.ACT_BADARCH, badarch)
        except OSError as exc:
            raise SeccompGenError(f"libseccomp cannot add arch {arch}: {_detail(exc)}") from None
        if optimize:
            with contextlib.suppress(OSError):
                sub.set_attr(pyseccomp.Attr.CTL_OPTIMIZE, 2)
        for rule in rules_for(arch):
            what = f"{arch}/{rule.name}"
            nr = syscall_number(arch, rule.name)
            if nr < 0 and refused is not None:
                continue  # not a real syscall of this arch (a recorder traces it instead)
            if nr == -1:  # unknown; other negative numbers are libseccomp's pseudo-syscalls
                raise SeccompGenError(f"libseccomp does not know the syscall {what}")
            args = [_arg(c) for c in rule.conditions]
            action = action_value(rule.action, rule.errno)
            try:
                sub.add_rule(action, rule.name, *args)
            except (OSError, ValueError, RuntimeError) as exc:
                if refused is None or not args:
                    raise SeccompGenError(f"libseccomp rejects the rule for {what}: "
                                          f"{_detail(exc)}",
                                          hint=_cond_text(rule.conditions)) from None
                try:
                    sub.add_rule(action, rule.name)
                except (OSError, ValueError, RuntimeError) as again:
                    raise SeccompGenError(f"libseccomp rejects the rule for {what}: "
                                          f"{_detail(again)}") from None
                refused.append(f"{arch} {rule.name}")
        if merged is None:
            merged = sub
        else:
            try:
                merged.merge(sub)
            except OSError as exc:
                raise SeccompGenError(f"libseccomp cannot merge arch {arch}: {_detail(exc)}"
                                      ) from None
    assert merged is not None
    return merged


def export(filt: pyseccomp.SyscallFilter) -> bytes:
    """The filter as raw classic BPF (``struct sock_filter[]``, native byte order)."""
    with tempfile.TemporaryFile() as fh:
        try:
            filt.export_bpf(fh)
        except OSError as exc:
            raise SeccompGenError(f"libseccomp cannot export the filter: {_detail(exc)}"
                                  ) from None
        fh.seek(0)
        return fh.read()


def compile_profile(profile: Profile) -> pyseccomp.SyscallFilter:
    """The profile as a libseccomp filter; raises a one-line SeccompGenError if it is refused."""
    if not profile.architectures:
        raise SeccompGenError("the profile lists no architectures")
    return build(profile.architectures,
                 action_value(profile.default_action, profile.default_errno),
                 profile.rules_for)


def export_bpf(profile: Profile) -> bytes:
    """The compiled profile as raw classic BPF."""
    return export(compile_profile(profile))


def validate(profile: Profile) -> None:
    """Raise a one-line SeccompGenError unless libseccomp compiles and exports the profile."""
    export_bpf(profile)


def recording_filter(known: Profile | None, arches: Sequence[str],
                     action: str) -> tuple[bytes, list[str]]:
    """The BPF program a recorder loads: ``action`` (``trace``, ``log`` or ``notify``, also for
    the ABIs not listed) for every call on every arch of ``arches``, except what ``known``
    allows (its allow rules, with their conditions). Returns the program and notes on how
    ``known`` was applied. Raises RecordError when libseccomp cannot build it or it is too
    long to load."""
    value = RECORDING_ACTIONS[action]
    refused: list[str] = []

    def allowed(arch: str) -> Iterable[Rule]:
        if known is None:
            return ()
        return [r for r in known.rules_for(arch) if r.action == "allow"]

    try:
        program = export(build(arches, value, allowed, badarch=value, optimize=True,
                               refused=refused))
    except SeccompGenError as exc:
        raise RecordError(f"libseccomp could not build the recording filter: {exc.message}",
                          hint="check the --known profile" if known is not None else None
                          ) from None
    if len(program) // 8 > MAX_INSNS:
        raise RecordError(f"the recording filter has {len(program) // 8} BPF instructions, more "
                          f"than the kernel's limit of {MAX_INSNS}",
                          hint="the --known profile has too many argument rules")
    notes = []
    if refused:
        notes.append("argument conditions libseccomp refused were dropped (allowed by name): "
                     + ", ".join(sorted(set(refused))))
    return program, notes


def load(filt: pyseccomp.SyscallFilter, badarch: int, *, tsync: bool = True) -> None:
    """Load ``filt`` into this process (every thread with ``tsync``), no_new_privs set."""
    try:
        filt.set_attr(pyseccomp.Attr.CTL_NNP, 1)
        if tsync:
            filt.set_attr(pyseccomp.Attr.CTL_TSYNC, 1)
        filt.set_attr(pyseccomp.Attr.ACT_BADARCH, badarch)
    except OSError as exc:
        raise SeccompGenError(f"libseccomp cannot set the filter attributes: {_detail(exc)}"
                              ) from None
    try:
        filt.load()
    except OSError as exc:
        raise SeccompGenError(f"the kernel refused the filter: {_detail(exc)}",
                              hint="TSYNC fails when another thread has a different filter"
                              if exc.errno == errno_mod.ESRCH else None) from None


# --- running a compiled filter here ---------------------------------------------------------


class Simulator:
    """A compiled filter, evaluated in Python for any (arch, syscall, args)."""

    def __init__(self, program: bytes) -> None:
        self.program = cbpf.decode(program)

    def evaluate(self, arch: str, nr: int, args: Sequence[int] = ()) -> cbpf.Verdict:
        """The filter's verdict for syscall number ``nr`` made with ``arch``'s ABI."""
        if arch == "x32":
            nr |= X32_SYSCALL_BIT
        return self.evaluate_raw(audit_arch(arch), nr, args)

    def evaluate_raw(self, audit: int, nr: int, args: Sequence[int] = ()) -> cbpf.Verdict:
        """The verdict for a call as the kernel reports it (AUDIT_ARCH, number with the x32 bit)."""
        return cbpf.to_verdict(cbpf.run_bpf(self.program, cbpf.seccomp_data(audit, nr, args)))

    def outcomes(self, arch: str, nr: int | None) -> frozenset[tuple[str, int | None] | None]:
        """Every (action, errno) the filter can answer for syscall ``nr`` of ``arch`` (None:
        any number) over all arguments; None among them: a verdict it computes from them."""
        if arch == "x32" and nr is not None:
            nr |= X32_SYSCALL_BIT
        found = cbpf.outcomes(self.program, audit_arch(arch), nr)
        verdicts = [None if v is None else cbpf.to_verdict(v) for v in found]
        return frozenset(None if v is None else (v.action, v.errno) for v in verdicts)

    def paths(self, arch: str, nr: int
              ) -> list[tuple[tuple[str, int | None], tuple[cbpf.Test, ...]]] | None:
        """Every way through the filter for syscall ``nr`` of ``arch``: its verdict and the
        argument tests it passed (:func:`seccomp_gen.linux.cbpf.paths`); None when the filter
        tests the arguments otherwise than by masked equality."""
        if arch == "x32":
            nr |= X32_SYSCALL_BIT
        found = cbpf.paths(self.program, audit_arch(arch), nr)
        if found is None:
            return None
        out = []
        for value, tests in found:
            v = cbpf.to_verdict(value)
            out.append(((v.action, v.errno), tests))
        return out

    def check(self, arch: str, name: str, args: Sequence[int] = ()) -> cbpf.Verdict:
        """The verdict for a syscall by name; ``args`` are register values by index."""
        nr = syscall_number(arch, name)
        if nr < 0:
            raise SeccompGenError(f"{name} does not exist on {arch}")
        return self.evaluate(arch, nr, args)


def prove(profile: Profile, program: bytes, host: str | None = None) -> list[Mismatch]:
    """Where the filter ``program`` (BPF, as exported) and ``profile``'s meaning disagree, over
    the calls :mod:`seccomp_gen.proof` picks; empty when they agree everywhere it looked."""
    sim = Simulator(program)

    def compiled(arch: str, nr: int, args: tuple[int, ...]) -> tuple[str, int | None]:
        v = sim.evaluate_raw(audit_arch(arch), nr, args)
        return (v.action, v.errno)

    def name_of(arch: str, nr: int) -> str | None:
        name = syscall_name(arch, nr)
        return None if name.startswith("syscall_") else name

    return check(profile, compiled, name_of, host or native_arch())


def simulator(profile: Profile) -> Simulator:
    """Compile ``profile`` with libseccomp and return a simulator for its BPF."""
    return Simulator(export_bpf(profile))
