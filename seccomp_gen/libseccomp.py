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
import os
import sys
import types
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, TypeVar

#: libseccomp's soname since 2.0.
SONAME = "libseccomp.so.2"


@contextlib.contextmanager
def _sonames_for_pyseccomp() -> Iterator[None]:
    """While pyseccomp is imported: its ``ctypes.util.find_library("seccomp")`` and ``("c")``
    answer at once (the soname; None for libc, dlopen(NULL), which has libc's ``free``)
    instead of running ``ldconfig -p`` twice and importing subprocess: ~8 ms of every start-up
    here. Only when the soname loads; otherwise pyseccomp searches as usual."""
    try:
        ctypes.CDLL(SONAME)
    except OSError:
        yield
        return
    find = {"seccomp": SONAME}.get
    real = sys.modules.get("ctypes.util")
    if real is not None:
        saved = real.find_library
        real.find_library = find  # type: ignore[attr-defined]
        try:
            yield
        finally:
            real.find_library = saved  # type: ignore[attr-defined]
        return
    stub = types.ModuleType("ctypes.util")
    stub.find_library = find  # type: ignore[attr-defined]
    sys.modules["ctypes.util"] = ctypes.util = stub  # type: ignore[attr-defined]
    try:
        yield
    finally:
        del sys.modules["ctypes.util"], ctypes.util  # type: ignore[attr-defined]


with _sonames_for_pyseccomp():
    import pyseccomp

from .errors import RecordError, SeccompGenError, UnknownSyscall  # noqa: E402
from .linux.seccomp import MAX_INSNS  # noqa: E402
from .syscalls.arches import X32_SYSCALL_BIT  # noqa: E402

if TYPE_CHECKING:  # what only compiling a profile needs is imported there: ``record`` needs none
    from .linux import cbpf
    from .profile import ArgCondition, Profile, Rule
    from .proof import Mismatch

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


def known_name(arch: str, nr: int) -> str | None:
    """Name of syscall ``nr`` in ``arch``'s table, None for a number the table does not name."""
    name = syscall_name(arch, nr)
    return None if name.startswith("syscall_") else name


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
          refused: list[str] | None = None,
          priorities: Callable[[str], Mapping[str, int]] | None = None
          ) -> pyseccomp.SyscallFilter:
    """One libseccomp filter for ``arches``: ``default`` for what no rule matches, each arch's
    ``rules_for(arch)``, ``badarch`` for the ABIs not listed (libseccomp's default: kill).

    ``refused``: when given, a rule whose conditions libseccomp refuses is added by name alone
    and named there (a recorder would rather trace less than fail); otherwise it is an error.
    ``optimize`` asks for the binary tree over syscall numbers (libseccomp 2.5+), which
    ignores ``priorities(arch)``: name -> libseccomp priority (higher is checked earlier; a
    hint libseccomp may not take, so a refusal is ignored). Raises a one-line
    SeccompGenError for anything libseccomp refuses."""
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
        for name, priority in (priorities(arch) if priorities is not None else {}).items():
            with contextlib.suppress(OSError, ValueError, RuntimeError):
                sub.syscall_priority(name, priority)
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


#: Bumped when what :func:`compiled` keeps changes meaning: older entries are then not found.
CACHE_FORMAT = 1


@functools.lru_cache(maxsize=1)
def _compiler_id() -> tuple[object, ...]:
    """What the compiled program depends on besides its inputs: the libseccomp loaded (its
    version, and the file itself: a distribution may patch its tables without a new version),
    the pyseccomp binding and this module (size and mtime: an edited compiler is a new one)."""
    from .linux.procfs import mapped_file

    files = [mapped_file("libseccomp.so"), pyseccomp.__file__, __file__]
    ids: list[object] = [CACHE_FORMAT, version()]
    for path in files:
        try:
            st = os.stat(path) if path else None
        except OSError:
            st = None
        ids.append((path, st.st_ino, st.st_size, st.st_mtime_ns) if st else (path,))
    return tuple(ids)


def _rule_key(rule: Rule) -> tuple[object, ...]:
    return (rule.name, rule.action, rule.errno,
            tuple((c.index, c.op, c.value, c.value_two) for c in rule.conditions))


def compiled(arches: Sequence[str], default: int, rules_for: Callable[[str], Iterable[Rule]], *,
             badarch: int | None = None, optimize: bool = False,
             refused: list[str] | None = None,
             priorities: Callable[[str], Mapping[str, int]] | None = None) -> bytes:
    """``export(build(...))`` (same arguments), kept in the per-user cache
    (:func:`seccomp_gen.linux.cachedir.lookup`) under everything the program depends on: the
    inputs, written out in full, and :func:`_compiler_id`. libseccomp compiles Docker's default
    profile in ~10 ms a time and ``run`` compiles three programs from it; the next run of the
    same profile reads them back. What libseccomp refuses is never cached: it raises as
    before."""
    from .linux import cachedir

    rules = {arch: tuple(rules_for(arch)) for arch in arches}
    ranks = {arch: dict(priorities(arch)) if priorities is not None else {} for arch in arches}
    key = repr((_compiler_id(), tuple(arches), default, badarch, optimize, refused is not None,
                tuple((arch, tuple(_rule_key(r) for r in rules[arch]),
                       tuple(sorted(ranks[arch].items()))) for arch in arches))).encode()
    hit = cachedir.lookup("bpf", key)
    if hit is not None:
        names, _, program = hit.partition(b"\n")
        if program and len(program) % 8 == 0 and len(program) // 8 <= MAX_INSNS:
            if refused is not None and names:
                refused.extend(names.decode("ascii", "replace").split("\t"))
            return program
    dropped: list[str] | None = [] if refused is not None else None
    program = export(build(arches, default, rules.__getitem__, badarch=badarch,
                           optimize=optimize, refused=dropped,
                           priorities=ranks.__getitem__))
    if refused is not None and dropped:
        refused.extend(dropped)
    cachedir.keep("bpf", key, "\t".join(dropped or ()).encode() + b"\n" + program)
    return program


def export(filt: pyseccomp.SyscallFilter) -> bytes:
    """The filter as raw classic BPF (``struct sock_filter[]``, native byte order)."""
    # A memfd, not tempfile's file: importing tempfile is ~1.5 ms of record's start-up.
    with os.fdopen(os.memfd_create("seccomp-gen-bpf", os.MFD_CLOEXEC), "w+b") as fh:
        try:
            filt.export_bpf(fh)
        except OSError as exc:
            raise SeccompGenError(f"libseccomp cannot export the filter: {_detail(exc)}"
                                  ) from None
        fh.seek(0)
        return fh.read()


def compile_profile(profile: Profile, optimize: int | None = None) -> pyseccomp.SyscallFilter:
    """The profile as a libseccomp filter; raises a one-line SeccompGenError if it is refused.

    ``optimize`` (else the profile's own, else the faster of the two, :func:`tuned`): 1, the
    rules in :func:`~seccomp_gen.profile.priorities` order, the most frequent first; 2,
    libseccomp's binary tree."""
    return _from_profile(build, profile, optimize or profile.optimize or _fastest(profile))


_Made = TypeVar("_Made")


def _from_profile(make: Callable[..., _Made], profile: Profile, level: int) -> _Made:
    """``make`` (:func:`build` or :func:`compiled`) called with ``profile``'s arches, default,
    rules and priorities at CTL_OPTIMIZE ``level``: the one place a profile becomes compiler
    input, so that a filter object and a cached program of it cannot differ."""
    from .profile import priorities

    if not profile.architectures:
        raise SeccompGenError("the profile lists no architectures")
    return make(profile.architectures,
                action_value(profile.default_action, profile.default_errno),
                profile.rules_for, optimize=level == 2,
                priorities=lambda arch: priorities(profile, arch))


def _costly_calls(profile: Profile) -> list[tuple[str, int, tuple[int, ...], int]]:
    """(arch, number, arguments, weight) of the calls that run the filter
    (:func:`~seccomp_gen.profile.runs_filter`): the recorded ones by their counts, or each
    such rule once when the profile carries no counts. Arguments: those the first conditional
    rule of the name allows (a call that passes), else zeros."""
    from .profile import allowed_outright

    weights = profile.weights or tuple((a, r.name, 1) for r in profile.rules
                                       for a in r.arches)
    outright = allowed_outright(profile)
    seen: dict[tuple[str, str], int] = {}
    for arch, name, count in weights:
        if ((arch, name) not in outright and arch in profile.architectures
                and knows(arch, name)):
            seen[(arch, name)] = seen.get((arch, name), 0) + count
    first_conditional: dict[tuple[str, str], Rule] = {}
    for rule in profile.rules:
        if rule.conditions:
            for arch in rule.arches:
                first_conditional.setdefault((arch, rule.name), rule)
    out = []
    for (arch, name), count in sorted(seen.items()):
        args = [0] * 6
        first = first_conditional.get((arch, name))
        if first is not None:
            for c in first.conditions:
                args[c.index] = c.value_two if c.op == "MASKED_EQ" else c.value
        out.append((arch, syscall_number(arch, name), tuple(args), count))
    return out


def filter_cost(profile: Profile, program: bytes) -> float:
    """The average number of BPF instructions ``program`` (as exported) executes for a call
    that runs the filter, weighted by how often the trace made it (:func:`_costly_calls`);
    0 when every recorded call is cached by the kernel."""
    from .linux import cbpf

    insns = cbpf.decode(program)
    calls = _costly_calls(profile)
    total = sum(w for *_, w in calls)
    if not total:
        return 0.0
    return sum(w * cbpf.run_counted(insns, cbpf.seccomp_data(audit_arch(a), nr, args))[1]
               for a, nr, args, w in calls) / total


def _fastest(profile: Profile) -> int:
    """The CTL_OPTIMIZE level whose program costs less (:func:`filter_cost`); 1 on a tie,
    and without compiling either when no call runs the filter (both cost 0: a profile of names
    without argument conditions, ``run``'s and ``check``'s usual case)."""
    if not _costly_calls(profile):
        return 1
    return _fastest_cached(profile, profile.weights)


@functools.lru_cache(maxsize=64)
def _fastest_cached(profile: Profile, weights: tuple[tuple[str, str, int], ...]) -> int:
    # The weights are not part of a profile's equality, so they are part of the key.
    stub = enosys_stub(enosys_ends(profile))
    costs = {level: filter_cost(profile, stub + _exported(profile, weights, level))
             for level in (1, 2)}
    return 2 if costs[2] < costs[1] else 1


@functools.lru_cache(maxsize=16)
def _exported(profile: Profile, _weights: tuple[tuple[str, str, int], ...], level: int) -> bytes:
    """libseccomp's program for ``profile`` at CTL_OPTIMIZE ``level`` (:func:`compiled`), once
    per process: choosing the level compiles both, and the chosen one is then what is loaded.
    The weights set the priorities, hence the key."""
    return _from_profile(compiled, profile, level)


def tuned(profile: Profile) -> Profile:
    """``profile`` with the faster CTL_OPTIMIZE level chosen and recorded in it (the Python
    table writes it, so that its ``build()`` makes the same program)."""
    if profile.optimize is not None or not profile.architectures:
        return profile
    return replace(profile, optimize=_fastest(profile))


#: How a consumer answers a syscall number past the tables (see README, "Unknown and future
#: syscalls"): ``table``: ENOSYS above the highest number this libseccomp knows on the arch (our
#: compiler: ``run``, ``check``, ``sandbox()``, the Python table's ``apply()``); ``profile``:
#: ENOSYS above the highest number the profile names on the arch (runc's patchbpf stub); ``none``:
#: the default action (crun, LXC: libseccomp's program as it is).
ENOSYS_RULES: tuple[str, ...] = ("table", "profile", "none")


@functools.lru_cache(maxsize=64)
def table_end(arch: str) -> int:
    """The highest syscall number libseccomp names on ``arch``, as the kernel reports it (x32
    with its bit); -1 for an arch it names nothing on."""
    bit = X32_SYSCALL_BIT if arch == "x32" else 0
    for nr in range(1023, -1, -1):  # from the top: the first named is the end (~560 lookups)
        if not syscall_name(arch, nr | bit).startswith("syscall_"):
            return nr | bit
    return -1


def enosys_ends(profile: Profile, rule: str = "table") -> dict[str, int]:
    """Per listed arch, the highest number a consumer following ``rule`` (:data:`ENOSYS_RULES`)
    lets reach the profile's rules; it answers every higher number with ENOSYS. Empty when the
    consumer adds no stub, or the profile's default does not deny (``log``: runc skips its stub
    then too)."""
    if rule not in ENOSYS_RULES:
        raise SeccompGenError(f"unknown ENOSYS rule {rule!r}")
    if rule == "none" or not profile.denies_by_default:
        return {}
    ends: dict[str, int] = {}
    for arch in profile.architectures:
        if rule == "table":
            end = table_end(arch)
        else:  # runc: the largest number any rule names on this arch (unknown names ignored)
            end = max((n for r in profile.rules if knows(arch, r.name)
                       for n in [syscall_number(arch, r.name)]), default=-1)
        if end >= 0:
            ends[arch] = end
    return ends


def enosys_stub(ends: dict[str, int]) -> bytes:
    """Classic BPF to put in front of libseccomp's program: for a call of an arch in ``ends``
    whose number is above that arch's end, return ERRNO(ENOSYS) (glibc then falls back, as it
    does on a kernel without the syscall); every other call falls through, unchanged, to the
    program that follows (the bad-arch action included). x86_64 and x32 share one AUDIT_ARCH:
    a number with the x32 bit is compared with x32's end when x32 is listed, and otherwise
    falls through to the bad-arch kill. About 4 instructions per arch, run once per call that
    is not cached."""
    if not ends:
        return b""
    from .linux import cbpf
    from .profile import ERRNO_ENOSYS

    x86 = {a: ends[a] for a in ("x86_64", "x32") if a in ends}
    others = [a for a in ends if a not in x86]
    groups: list[tuple[int, list[cbpf.Line]]] = []
    if x86:
        body: list[cbpf.Line] = [(cbpf.LD_W_ABS, 0, 0, cbpf.NR)]
        if "x86_64" in x86 and "x32" in x86:
            body += [(cbpf.JSET_K, 1, 0, X32_SYSCALL_BIT),
                     (cbpf.JGT_K, "enosys", "done", x86["x86_64"]),
                     (cbpf.JGT_K, "enosys", "done", x86["x32"])]
        elif "x86_64" in x86:
            body += [(cbpf.JSET_K, "done", 0, X32_SYSCALL_BIT),
                     (cbpf.JGT_K, "enosys", "done", x86["x86_64"])]
        else:
            body += [(cbpf.JSET_K, 0, "done", X32_SYSCALL_BIT),
                     (cbpf.JGT_K, "enosys", "done", x86["x32"])]
        groups.append((_AUDIT_ARCH_X86_64, body))
    for arch in others:
        groups.append((audit_arch(arch), [(cbpf.LD_W_ABS, 0, 0, cbpf.NR),
                                          (cbpf.JGT_K, "enosys", "done", ends[arch])]))
    lines: list[cbpf.Line] = [(cbpf.LD_W_ABS, 0, 0, cbpf.ARCH)]
    labels: dict[str, int] = {}
    for i, (audit, _) in enumerate(groups):
        last = i == len(groups) - 1
        lines.append((cbpf.JEQ_K, f"arch{i}", "done" if last else 0, audit))
    for i, (_, body) in enumerate(groups):
        labels[f"arch{i}"] = len(lines)
        lines += body
    labels["enosys"] = len(lines)
    lines.append((cbpf.RET_K, 0, 0, cbpf.RET_ERRNO | ERRNO_ENOSYS))
    labels["done"] = len(lines)
    return cbpf.assemble(lines, labels)


def export_bpf(profile: Profile, *, enosys: str = "table") -> bytes:
    """The compiled profile as raw classic BPF, as the consumer following ``enosys``
    (:data:`ENOSYS_RULES`) loads it: libseccomp's program behind :func:`enosys_stub`. The
    default, ``table``, is what seccomp-gen itself loads."""
    stub = enosys_stub(enosys_ends(profile, enosys))
    program = stub + _exported(profile, profile.weights, profile.optimize or _fastest(profile))
    if stub and len(program) // 8 > MAX_INSNS:
        raise SeccompGenError(f"the filter has {len(program) // 8} BPF instructions with its "
                              f"ENOSYS stub, more than the kernel's limit of {MAX_INSNS}")
    return program


def validate(profile: Profile) -> None:
    """Raise a one-line SeccompGenError unless libseccomp compiles and exports the profile."""
    export_bpf(profile)


def recording_filter(known: Profile | None, arches: Sequence[str],
                     action: str, *, answer: bool = False) -> tuple[bytes, list[str]]:
    """The BPF program a recorder loads: ``action`` (``trace``, ``log`` or ``notify``, also for
    the ABIs not listed) for every call on every arch of ``arches``, except what ``known``
    allows (its allow rules, with their conditions) and, with ``answer``, what it answers with
    an errno (``run`` answers those itself, and lists them). Returns the program and notes on
    how ``known`` was applied. Raises RecordError when libseccomp cannot build it or it is too
    long to load."""
    value = RECORDING_ACTIONS[action]
    refused: list[str] = []

    def allowed(arch: str) -> Iterable[Rule]:
        # With ``answer``, what ``known`` answers with an errno (clone3 -> ENOSYS) is answered
        # so while recording, so that the workload takes the path it takes under the profile
        # (glibc's clone(2) fallback, QEMU's epoll without io_uring) and ``check`` sees it.
        if known is None:
            return ()
        actions = ("allow", "errno") if answer else ("allow",)
        return [r for r in known.rules_for(arch) if r.action in actions]

    try:
        program = compiled(arches, value, allowed, badarch=value, optimize=True,
                           refused=refused)
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


def load(filt: pyseccomp.SyscallFilter, badarch: int, *, tsync: bool = True,
         profile: Profile | None = None) -> None:
    """Load ``filt`` into this process (every thread with ``tsync``), no_new_privs set.
    ``profile``: what ``filt`` was compiled from; its ENOSYS stub (:func:`enosys_stub`) is put
    in front, as :func:`export_bpf` does."""
    try:
        filt.set_attr(pyseccomp.Attr.CTL_NNP, 1)
        if tsync:
            filt.set_attr(pyseccomp.Attr.CTL_TSYNC, 1)
        filt.set_attr(pyseccomp.Attr.ACT_BADARCH, badarch)
    except OSError as exc:
        raise SeccompGenError(f"libseccomp cannot set the filter attributes: {_detail(exc)}"
                              ) from None
    stub = enosys_stub(enosys_ends(profile)) if profile is not None else b""
    if stub:
        _load_program(stub + export(filt), tsync)
        return
    try:
        filt.load()
    except OSError as exc:
        raise SeccompGenError(f"the kernel refused the filter: {_detail(exc)}",
                              hint="TSYNC fails when another thread has a different filter"
                              if exc.errno == errno_mod.ESRCH else None) from None


def _load_program(program: bytes, tsync: bool) -> None:
    """Load raw BPF the way libseccomp's ``load`` would: no_new_privs, then seccomp(2)."""
    from .linux.seccomp import Program, load_synced, set_no_new_privs

    if len(program) // 8 > MAX_INSNS:
        raise SeccompGenError(f"the filter has {len(program) // 8} BPF instructions, more than "
                              f"the kernel's limit of {MAX_INSNS}")
    err = set_no_new_privs()
    if err:
        raise SeccompGenError(f"cannot set no_new_privs: {os.strerror(err)}")
    res = load_synced(Program(program), syscall_number(native_arch(), "seccomp"), tsync)
    if res < 0:
        raise SeccompGenError(f"the kernel refused the filter: thread {-res} has a different "
                              "filter", hint="TSYNC fails when another thread has a different "
                              "filter")
    if res:
        raise SeccompGenError(f"the kernel refused the filter: {os.strerror(res)}")


# --- running a compiled filter here ---------------------------------------------------------


class Simulator:
    """A compiled filter, evaluated in Python for any (arch, syscall, args)."""

    def __init__(self, program: bytes) -> None:
        from .linux import cbpf

        self.program = cbpf.decode(program)

    def evaluate(self, arch: str, nr: int, args: Sequence[int] = ()) -> cbpf.Verdict:
        """The filter's verdict for syscall number ``nr`` made with ``arch``'s ABI."""
        if arch == "x32":
            nr |= X32_SYSCALL_BIT
        return self.evaluate_raw(audit_arch(arch), nr, args)

    def evaluate_raw(self, audit: int, nr: int, args: Sequence[int] = ()) -> cbpf.Verdict:
        """The verdict for a call as the kernel reports it (AUDIT_ARCH, number with the x32 bit)."""
        from .linux import cbpf

        return cbpf.to_verdict(cbpf.run_bpf(self.program, cbpf.seccomp_data(audit, nr, args)))

    def answer(self, arch: str, nr: int, args: Sequence[int] = ()) -> tuple[str, int | None]:
        """(action, errno) for a call as the kernel reports it (x32 numbers with their bit),
        the form :mod:`seccomp_gen.proof` and :mod:`seccomp_gen.review` take."""
        v = self.evaluate_raw(audit_arch(arch), nr, args)
        return (v.action, v.errno)

    def outcomes(self, arch: str, nr: int | None) -> frozenset[tuple[str, int | None] | None]:
        """Every (action, errno) the filter can answer for syscall ``nr`` of ``arch`` (None:
        any number) over all arguments; None among them: a verdict it computes from them."""
        if arch == "x32" and nr is not None:
            nr |= X32_SYSCALL_BIT
        from .linux import cbpf

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
        from .linux import cbpf

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


def prove(profile: Profile, program: bytes, host: str | None = None, *,
          enosys: str = "table") -> list[Mismatch]:
    """Where the filter ``program`` (BPF, as exported) and ``profile``'s meaning disagree, over
    the calls :mod:`seccomp_gen.proof` picks; empty when they agree everywhere it looked.
    ``enosys``: the consumer's rule for numbers past the tables (:data:`ENOSYS_RULES`), which
    the profile's meaning follows."""
    from .proof import check

    return check(profile, Simulator(program).answer, known_name, host or native_arch(),
                 ends=enosys_ends(profile, enosys))


def simulator(profile: Profile) -> Simulator:
    """Compile ``profile`` with libseccomp and return a simulator for its BPF."""
    return Simulator(export_bpf(profile))
