"""Trace -> Profile: the minimal allowlist for what was recorded.

Pure: no I/O, no libseccomp. The profile allows exactly the (arch, syscall) pairs observed, with
argument conditions chosen by an argument policy, plus the named runtime baseline; everything
else gets the default action. What cannot be expressed (syscalls libseccomp has no name for,
argument sets that hit the recorder's cap, multiplexed socket calls) is said in the profile's
``skipped`` entries and notes, never dropped silently.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from dataclasses import dataclass, replace

from .errors import SeccompGenError
from .model import MAX_ARG_VALUE, RUN_PREFIX, ArgValues, SyscallRecord, Trace
from .profile import (
    ACTIONS,
    ERRNO_ENOSYS,
    ERRNO_EPERM,
    MAX_ERRNO,
    ArgCondition,
    Profile,
    Rule,
    Skipped,
    normalize,
)
from .syscalls.arches import family_of, sort_arches
from .syscalls.baselines import BASELINES, PINNED
from .syscalls.constants import CLONE_NEWTIME, CLONE_NS_MASK, PROT_EXEC, PROT_WRITE

ARG_POLICIES: tuple[str, ...] = ("none", "safe", "strict")



#: ``--arches``: only the ABIs the traces used (the default), or every ABI of the host's family.
ARCH_POLICIES: tuple[str, ...] = ("observed", "family")

#: ``--baseline auto``: the runtime the trace's header names (``record --container``), else none.
AUTO_BASELINE = "auto"

#: io_uring's calls. A ring runs reads, writes, opens, connects... inside the kernel, where no
#: seccomp filter sees them, so allowing io_uring_setup lets a program past every other rule.
IO_URING: tuple[str, ...] = ("io_uring_setup", "io_uring_enter", "io_uring_register")
#: ``--io-uring``: allow recorded io_uring calls (the default: the profile must run what was
#: recorded), or answer them with ENOSYS: programs then fall back to plain calls, as on kernels
#: built without io_uring, which the profile sees, but that path was not recorded (QEMU then
#: uses epoll): run ``check --update`` on the workload to add it.
IO_URING_POLICIES: tuple[str, ...] = ("allow", "enosys")


@dataclass(frozen=True)
class Policy:
    """How to turn a trace into a profile: argument pinning, default verdict, runtime baseline."""

    args: str = "safe"
    default_action: str = "errno"
    errno: int = ERRNO_EPERM
    baseline: str = AUTO_BASELINE
    arches: str = "observed"
    io_uring: str = "allow"

    def __post_init__(self) -> None:
        if self.io_uring not in IO_URING_POLICIES:
            raise SeccompGenError(f"unknown io_uring policy {self.io_uring!r}",
                                  hint=f"use one of {', '.join(IO_URING_POLICIES)}")
        if self.arches not in ARCH_POLICIES:
            raise SeccompGenError(f"unknown arch policy {self.arches!r}",
                                  hint=f"use one of {', '.join(ARCH_POLICIES)}")
        if self.args not in ARG_POLICIES:
            raise SeccompGenError(f"unknown argument policy {self.args!r}",
                                  hint=f"use one of {', '.join(ARG_POLICIES)}")
        if self.default_action not in ACTIONS or self.default_action == "allow":
            raise SeccompGenError(f"unknown default action {self.default_action!r}",
                                  hint="use errno, kill, kill-process, trap or log")
        if not 0 <= self.errno <= MAX_ERRNO:
            raise SeccompGenError(f"errno {self.errno} out of range", hint=f"use 0-{MAX_ERRNO}")
        if self.baseline not in BASELINES and self.baseline != AUTO_BASELINE:
            raise SeccompGenError(f"unknown baseline {self.baseline!r}",
                                  hint=f"use one of {AUTO_BASELINE}, "
                                  f"{', '.join(sorted(BASELINES))}")


# --- argument shaping ---------------------------------------------------------------------------

#: (field value, register index) -> the condition that pins it.
_Shaper = Callable[[int, int], ArgCondition]


def _register(value: int) -> int:
    """A recorded value as it is: masking one no register holds would pin another value
    (2**70 would become 0). The trace reader refuses them; this catches a Trace built in code."""
    if not 0 <= value <= MAX_ARG_VALUE:
        raise ValueError(f"argument value {value!r:.40} is not a 64-bit register value")
    return value


def _eq(value: int, index: int) -> ArgCondition:
    return ArgCondition(index, "EQ", _register(value))


def _masked(mask: int) -> _Shaper:
    def shape(value: int, index: int) -> ArgCondition:
        return ArgCondition(index, "MASKED_EQ", mask, _register(value) & mask)
    return shape


_NS = _masked(CLONE_NS_MASK)

#: Pinned under ``safe`` (and ``strict``): a wider value here is a known escape.
_SAFE: dict[tuple[str, str], _Shaper] = {
    ("clone", "flags"): _NS,
    ("unshare", "flags"): _masked(CLONE_NS_MASK | CLONE_NEWTIME),
    ("setns", "nstype"): _eq,
    ("socket", "domain"): _eq,
    ("socketpair", "domain"): _eq,
    ("personality", "persona"): _eq,
    ("prctl", "option"): _eq,
    ("socketcall", "call"): _eq,
    ("ipc", "call"): _eq,
}

#: W^X: the write and exec bits of a mapping's protection, pinned together, so that a profile
#: allows PROT_WRITE|PROT_EXEC only if a recorded call asked for both.
_WX = _masked(PROT_WRITE | PROT_EXEC)

#: Shapes ``strict`` uses instead of plain equality; every other recorded field is pinned EQ.
_STRICT_SPECIAL: dict[tuple[str, str], _Shaper] = {
    ("mmap", "prot"): _WX,
    ("mmap2", "prot"): _WX,
    ("mprotect", "prot"): _WX,
    ("pkey_mprotect", "prot"): _WX,
}


def _shaper(policy: str, name: str, field_name: str) -> _Shaper | None:
    key = (name, field_name)
    if policy == "none":
        return None
    if key in _SAFE:
        return _SAFE[key]
    if policy == "strict":
        return _STRICT_SPECIAL.get(key, _eq)
    return None


def _condition_sets(policy: str, name: str, args: ArgValues) -> set[tuple[ArgCondition, ...]]:
    """One AND-ed condition tuple per distinct recorded value combination (empty: unpinned)."""
    out: set[tuple[ArgCondition, ...]] = set()
    for values in args.values:
        conds: list[ArgCondition] = []
        for fname, index, value in zip(args.fields, args.indexes, values, strict=True):
            if index is None:
                continue
            shaper = _shaper(policy, name, fname)
            if shaper is not None:
                conds.append(shaper(value, index))
        out.add(tuple(sorted(conds)))
    return out


def _covers_everything(sets: set[tuple[ArgCondition, ...]]) -> bool:
    """True for {arg & m == v for every v}: e.g. PROT_EXEC seen both set and clear."""
    conds = [c[0] for c in sets if len(c) == 1]
    if len(conds) != len(sets) or not conds:
        return False
    first = conds[0]
    if first.op != "MASKED_EQ" or first.value.bit_count() > 4:
        return False
    if any((c.index, c.op, c.value) != (first.index, first.op, first.value) for c in conds):
        return False
    combos: int = 2 ** first.value.bit_count()
    return len({c.value_two for c in conds}) == combos


def _rules_for_record(rec: SyscallRecord, policy: Policy, runs: int = 1) -> list[Rule]:
    """The allow rules for one observed (arch, syscall); of ``runs`` merged runs, a call not
    made in all of them says in how many it was (the first suspect when a profile breaks)."""
    arches = (rec.arch,)
    seen = f"seen in {len(rec.runs)} of {runs} runs" if rec.runs else ""
    if rec.args is None or policy.args == "none":
        return [Rule(rec.name, arches, comment=seen)]
    if rec.args.capped:
        return [Rule(rec.name, arches, comment=(
            "argument values incomplete (over the recorder's cap, or not in an imported log); "
            "not pinned" + (f"; {seen}" if seen else "")))]
    sets = _condition_sets(policy.args, rec.name, rec.args)
    if not sets or () in sets or _covers_everything(sets):
        return [Rule(rec.name, arches, comment=seen)]
    return [Rule(rec.name, arches, conditions=c, comment=seen) for c in sorted(sets)]


def _clone3_rules(trace: Trace, policy: Policy, notes: list[str]) -> list[Rule]:
    """clone3's flags are in memory, out of a filter's reach: answer ENOSYS, pin clone instead."""
    rules: list[Rule] = []
    enosys_is_default = policy.default_action == "errno" and policy.errno == ERRNO_ENOSYS
    observed = {r.arch: r for r in trace.syscalls if r.name == "clone3"}
    arches = sort_arches(r.arch for r in trace.syscalls if _nameable(r))
    for arch in arches:
        rec = observed.get(arch)
        if rec is not None and policy.args == "none":
            rules.append(Rule("clone3", (arch,)))
            continue
        if not enosys_is_default:
            why = ("observed, but its flags live in memory where no filter can check them"
                   if rec is not None else "not observed")
            rules.append(Rule("clone3", (arch,), action="errno", errno=ERRNO_ENOSYS,
                              comment=f"{why}; ENOSYS makes glibc fall back to clone(2)"))
        if rec is None:
            continue
        if rec.args is not None and not rec.args.capped and rec.args.values:
            # Shape clone3's in-memory flags as clone's register 0, as glibc's fallback passes.
            for conds in sorted({(_NS(v[0], 0),) for v in rec.args.values}):
                rules.append(Rule("clone", (arch,), conditions=conds,
                                  comment="clone(2) fallback for the clone3 calls observed"))
        else:
            rules.append(Rule("clone", (arch,), comment="clone(2) fallback for clone3; its "
                              "flags were not recorded, so they are not pinned"))
    if observed and policy.args != "none":
        notes.append("clone3 is answered with ENOSYS (its flags are out of a filter's reach); "
                     "glibc then uses clone(2), whose namespace flags are pinned")
    return rules


def _arches(observed: set[str], host: str, rules: list[Rule], policy: Policy,
            notes: list[str]) -> tuple[str, ...]:
    """The ABIs the profile lists: those the traces used (and the host's, where the runtime's
    baseline runs), or with ``--arches family`` every ABI of the host's family. An ABI not
    listed is killed by the filter: with runc and crun, which apply every name to every listed
    ABI, listing one the workload never used would let any allowed name through it."""
    used = set(observed)
    if not used or any(r.baseline for r in rules):
        used.add(host)
    family = set(family_of(host))
    if policy.arches == "family":
        added = sort_arches(family - used)
        if added:
            notes.append(f"--arches family: {', '.join(added)} listed although the traces did "
                         "not use them; name-based consumers (OCI) allow every name there too")
        return sort_arches(used | family)
    unused = sort_arches(family - used)
    if unused:
        notes.append(f"{', '.join(unused)} not used by the traces: calls of "
                     f"{'that ABI' if len(unused) == 1 else 'those ABIs'} are killed "
                     "(--arches family lists them)")
    return sort_arches(used)


def _nameable(rec: SyscallRecord) -> bool:
    return not rec.name.startswith("syscall_") and not rec.arch.startswith("audit_arch_")


def _skip_reason(rec: SyscallRecord, libseccomp: str) -> str:
    if rec.arch.startswith("audit_arch_"):
        return (f"libseccomp {libseccomp} does not know this architecture; "
                f"{rec.count} call(s) of nr {rec.nr} cannot be allowed")
    return (f"libseccomp {libseccomp} has no name for nr {rec.nr:#x} on {rec.arch}; "
            f"{rec.count} call(s) cannot be allowed by name")


def _provenance(trace: Trace, policy: Policy) -> list[str]:
    h = trace.header
    default = policy.default_action + (f" {policy.errno}" if policy.default_action == "errno"
                                       else "")
    lines = [
        f"seccomp-gen profile: args={policy.args} default={default} baseline={policy.baseline} "
        f"arches={policy.arches}" + (" io_uring=enosys" if policy.io_uring == "enosys" else ""),
        f"host {h.host_arch}, kernel {h.kernel}, libseccomp {h.libseccomp}, backend {h.backend}"
        + (f", pinned to cpu {h.pinned_cpu}" if h.pinned_cpu is not None else ""),
    ]
    # Merged before runs were kept in the header: the runs are in its notes.
    runs = h.runs or tuple(n[len(RUN_PREFIX):] for n in h.notes if n.startswith(RUN_PREFIX))
    lines += [f"recorded: {r}" for r in runs] or [f"recorded: {shlex.join(h.command)}"]
    # One line each: text formats write these as comment lines.
    return [line.replace("\r", "\\r").replace("\n", "\\n") for line in lines]


def _baseline_rules(rules: list[Rule], host: str, policy: Policy) -> list[Rule]:
    """Add the runtime's own syscalls on the host arch; widen observed conditional ones.

    A baseline call listed in ``PINNED`` keeps its measured argument values (unless the policy
    pins no arguments), so that e.g. LXC's fork does not open clone(2) to namespace flags.
    """
    extra = BASELINES[policy.baseline]
    out = list(rules)
    for name, reason in sorted(extra.items()):
        mine = [r for r in out if r.name == name and host in r.arches and r.action == "allow"]
        if any(not r.conditions for r in mine):
            continue
        comment = f"{policy.baseline}: {reason}"
        pinned = PINNED.get((policy.baseline, name)) if policy.args != "none" else None
        if pinned:
            have = {r.conditions for r in mine}
            for index, op, value, value_two in pinned:
                conds = (ArgCondition(index, op, value, value_two),)
                if conds not in have:
                    out.append(Rule(name, (host,), conditions=conds, comment=comment,
                                    baseline=True))
            continue
        if mine:
            comment += " (observed with pinned arguments; widened)"
        out.append(Rule(name, (host,), comment=comment, baseline=True))
    return out


def _io_uring_rules(recorded: list[SyscallRecord], policy: Policy, notes: list[str]
                    ) -> list[Rule]:
    """ENOSYS for the io_uring calls the trace made (``--io-uring enosys``), so that the
    program falls back to calls the profile sees; the note says so."""
    if not recorded:
        return []
    names = ", ".join(sorted({r.name for r in recorded}))
    notes.append(f"{names} answered with ENOSYS though recorded (--io-uring enosys): io_uring "
                 "runs its operations where no seccomp filter sees them; programs fall back to "
                 "plain calls the recording may lack: run seccomp-gen check --update on the "
                 "workload")
    if policy.default_action == "errno" and policy.errno == ERRNO_ENOSYS:
        return []
    return [Rule(r.name, (r.arch,), action="errno", errno=ERRNO_ENOSYS,
                 comment="observed; io_uring's operations are out of a filter's sight: ENOSYS "
                 "makes programs fall back to plain calls")
            for r in recorded]


def synthesize(trace: Trace, policy: Policy | None = None) -> Profile:
    """The minimal profile that allows everything ``trace`` observed, under ``policy``."""
    policy = policy or Policy()
    h = trace.header
    if policy.baseline == AUTO_BASELINE:
        policy = replace(policy, baseline=h.runtime if h.runtime in BASELINES else "none")
    notes: list[str] = []
    skipped: list[Skipped] = []
    rules: list[Rule] = []
    uring: list[SyscallRecord] = []
    for rec in trace.syscalls:
        if not _nameable(rec):
            skipped.append(Skipped(rec.arch, rec.name, _skip_reason(rec, h.libseccomp)))
            continue
        if rec.name == "clone3":
            continue
        if rec.name in IO_URING and policy.io_uring == "enosys":
            uring.append(rec)
            continue
        rules.extend(_rules_for_record(rec, policy, len(h.run_names)))
    rules.extend(_clone3_rules(trace, policy, notes))
    rules.extend(_io_uring_rules(uring, policy, notes))
    observed_arches = {r.arch for r in trace.syscalls if _nameable(r)}
    host = h.host_arch
    rules = _baseline_rules(rules, host, policy)
    arches = _arches(observed_arches, host, rules, policy, notes)
    if policy.args != "none" and not h.records_args:
        notes.append("the trace did not record arguments, so none are pinned")
    if any(r.name in ("socketcall", "ipc") for r in trace.syscalls):
        notes.append("x86 socketcall(2)/ipc(2) multiplex socket and SysV IPC calls; their real "
                     "arguments are in memory, so socket/socketpair argument rules do not cover "
                     "them; only the sub-call number is pinned")
    if any(r.args is not None and r.args.capped for r in trace.syscalls):
        notes.append("some argument sets are incomplete (over the recorder's cap, or not in an "
                     "imported log) and are left unpinned")
    profile = Profile(
        default_action=policy.default_action,
        default_errno=policy.errno if policy.default_action == "errno" else None,
        architectures=arches,
        rules=tuple(rules),
        provenance=tuple(_provenance(trace, policy)),
        notes=tuple(notes),
        skipped=tuple(skipped),
        weights=tuple((r.arch, r.name, r.count) for r in trace.syscalls if _nameable(r)),
    )
    return normalize(profile)
