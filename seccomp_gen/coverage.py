"""Does a profile cover a run? The calls of a trace that no rule of the profile allows.

Pure. ``check`` records a command with the profile as known (what it allows runs untraced) and
asks :func:`new_syscalls` which of the recorded calls the profile lacks, per arch, with their
argument values; :func:`updated_profile` is the profile that also allows them (``--update``).

Calls the profile answers with an explicit verdict other than allow are not new: in particular
clone3, which generated profiles answer with ENOSYS so that glibc falls back to clone(2), is
covered when the clone rules allow the flags clone3 was called with.
"""

from __future__ import annotations

import shlex
from dataclasses import replace
from typing import Any

from .model import SyscallRecord, Trace
from .profile import ERRNO_EPERM, Profile, Rule, union
from .synthesize import Policy, synthesize
from .syscalls.constants import value_name

#: Argument value combinations shown per syscall (the trace has them all).
SHOW_VALUES = 6



def _matches(rule: Rule, rec: SyscallRecord, values: tuple[int, ...]) -> bool:
    """Whether ``rule`` allows a call with these recorded values (conditions on registers the
    recorder did not keep cannot be evaluated: such a rule does not count as a match)."""
    if not rule.conditions:
        return True
    if rec.args is None:
        return False
    by_index = {i: v for i, v in zip(rec.args.indexes, values, strict=True) if i is not None}
    return all(c.index in by_index and c.matches(by_index[c.index]) for c in rule.conditions)


def _uncovered(rules: list[Rule], rec: SyscallRecord) -> list[tuple[int, ...]] | None:
    """Recorded value combinations no rule allows; None when the rules allow every call."""
    if any(not r.conditions for r in rules):
        return None
    if rec.args is None or not rec.args.values:
        return []
    left = sorted(v for v in rec.args.values if not any(_matches(r, rec, v) for r in rules))
    return left or None


def new_syscalls(profile: Profile, trace: Trace) -> tuple[list[dict[str, Any]], list[str]]:
    """(rows of syscalls the profile does not allow, lines about calls it handles otherwise)."""
    rows: list[dict[str, Any]] = []
    handled: list[str] = []
    for rec in trace.syscalls:
        rules = profile.rules_for(rec.arch)
        allow = [r for r in rules if r.name == rec.name and r.action == "allow"]
        other = [r for r in rules if r.name == rec.name and r.action != "allow"
                 and not r.conditions]
        values: list[tuple[int, ...]] | None
        if rec.name == "clone3" and other and rec.args is not None:
            # The filter answers clone3 (ENOSYS): glibc then calls clone(2) with the same flags.
            clone_rules = [r for r in rules if r.name == "clone" and r.action == "allow"]
            fallback = replace(rec, name="clone", args=replace(rec.args, indexes=(0,)))
            values = _uncovered(clone_rules, fallback)
            if values is None:
                handled.append(f"{rec.arch} clone3: answered {other[0].action} "
                               f"{other[0].errno or ''}".rstrip()
                               + "; the clone(2) fallback is allowed with its flags")
                continue
        elif other:
            handled.append(f"{rec.arch} {rec.name}: answered {other[0].action} "
                           f"{other[0].errno or ''}".rstrip() + " by an explicit rule")
            continue
        else:
            values = _uncovered(allow, rec)
            if values is None:
                continue
        rows.append({
            "arch": rec.arch,
            "syscall": rec.name,
            "nr": rec.nr,
            "count": rec.count,
            "args": _describe_values(rec, values),
            "values": [list(v) for v in values],
            "exes": list(rec.exes),
            "first_pid": rec.first_pid,
            "first_exe": rec.first_exe,
        })
    return rows, handled


def _describe_values(rec: SyscallRecord, values: list[tuple[int, ...]]) -> list[str]:
    if rec.args is None:
        return []
    out = [", ".join(f"{f}={value_name(rec.name, f, v)}"
                     for f, v in zip(rec.args.fields, vals, strict=True))
           for vals in values[:SHOW_VALUES]]
    if len(values) > SHOW_VALUES:
        out.append(f"... {len(values) - SHOW_VALUES} more")
    return out


def updated_profile(profile: Profile, trace: Trace, args_policy: str,
                    command: list[str]) -> Profile:
    """``profile`` plus what the new-syscalls ``trace`` needs, with ``profile``'s default."""
    policy = Policy(args=args_policy, default_action=profile.default_action,
                    errno=profile.default_errno if profile.default_errno is not None
                    else ERRNO_EPERM)
    added = synthesize(trace, policy)
    line = f"updated by seccomp-gen check: {shlex.join(command)}"
    return union(profile, replace(added, provenance=(line.replace("\n", "\\n"),)))
