"""What two profiles allow, compared per arch: names, argument conditions, other verdicts.

Pure. Compared per arch: the syscall names each side allows; for names both allow, the argument
conditions (``socket`` with ``domain == AF_INET`` only in A); rules with another verdict
(``clone3`` answered with ENOSYS); and the default verdict. ``exists(arch, name)`` says whether
an arch has a name at all (the caller asks libseccomp): Docker's profile lists ``chown32`` for
every arch, and a name an arch does not have is not counted as allowed there.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .profile import ArgCondition, Profile, Rule
from .syscalls.arches import sort_arches
from .syscalls.argspec import fields_for
from .syscalls.constants import value_name

#: Whether libseccomp knows a name on an arch.
Exists = Callable[[str, str], bool]



def describe_condition(arch: str, name: str, c: ArgCondition) -> str:
    """``domain == AF_INET (2)``, ``flags & 0x7e020000 == 0``; fields named after argspec."""
    fields = {i: f for f, i in (fields_for(arch, name) or ()) if i is not None}
    field = fields.get(c.index, f"arg{c.index}")
    if c.op == "MASKED_EQ":
        return f"{field} & {c.value:#x} == {value_name(name, field, c.value_two)}"
    ops = {"EQ": "==", "NE": "!=", "LT": "<", "LE": "<=", "GE": ">=", "GT": ">"}
    return f"{field} {ops[c.op]} {value_name(name, field, c.value)}"


def describe_conditions(arch: str, name: str, conds: tuple[ArgCondition, ...]) -> str:
    """An AND of conditions, or ``any arguments``."""
    if not conds:
        return "any arguments"
    return " && ".join(describe_condition(arch, name, c) for c in conds)


def verdict_text(action: str, errno: int | None) -> str:
    return f"{action} {errno}" if errno is not None else action


# --- comparing ----------------------------------------------------------------------------------


def _allowed_conditions(p: Profile, arch: str,
                        exists: Exists) -> dict[str, set[tuple[ArgCondition, ...]]]:
    out: dict[str, set[tuple[ArgCondition, ...]]] = {}
    for r in p.rules_for(arch):
        if r.action == "allow" and exists(arch, r.name):
            out.setdefault(r.name, set()).add(r.conditions)
    # An unconditional rule allows every argument: the conditional ones add nothing.
    return {n: ({()} if () in s else s) for n, s in out.items()}


def _other_rules(p: Profile, arch: str, exists: Exists) -> dict[str, str]:
    out: dict[str, str] = {}
    for r in p.rules_for(arch):
        if r.action != "allow" and exists(arch, r.name):
            out[_rule_text(arch, r)] = r.name
    return out


def _rule_text(arch: str, r: Rule) -> str:
    text = f"{r.name} -> {verdict_text(r.action, r.errno)}"
    if r.conditions:
        text += f" when {describe_conditions(arch, r.name, r.conditions)}"
    return text


def compare(a: Profile, b: Profile, arches: tuple[str, ...], names_only: bool = False,
            exists: Exists = lambda arch, name: True) -> list[dict[str, Any]]:
    """One row per arch: counts, names only one side allows, argument and verdict differences."""
    rows = []
    for arch in arches:
        ca, cb = _allowed_conditions(a, arch, exists), _allowed_conditions(b, arch, exists)
        na, nb = sorted(ca), sorted(cb)
        both = set(na) & set(nb)
        args = []
        other_a: list[str] = []
        other_b: list[str] = []
        if not names_only:
            for name in sorted(both):
                if ca[name] == cb[name]:
                    continue
                args.append({
                    "syscall": name,
                    "only_a": [describe_conditions(arch, name, c)
                               for c in sorted(ca[name] - cb[name])],
                    "only_b": [describe_conditions(arch, name, c)
                               for c in sorted(cb[name] - ca[name])],
                })
            oa, ob = _other_rules(a, arch, exists), _other_rules(b, arch, exists)
            other_a = sorted(set(oa) - set(ob))
            other_b = sorted(set(ob) - set(oa))
        rows.append({"arch": arch, "a_allowed": len(na), "b_allowed": len(nb),
                     "both": len(both), "only_a": [n for n in na if n not in both],
                     "only_b": [n for n in nb if n not in both], "args": args,
                     "other_rules_only_a": other_a, "other_rules_only_b": other_b})
    return rows


def row_differs(r: dict[str, Any]) -> bool:
    return bool(r["only_a"] or r["only_b"] or r["args"] or r["other_rules_only_a"]
                or r["other_rules_only_b"])


def diff(a: Profile, b: Profile, arch: str | None = None, names_only: bool = False,
         exists: Exists = lambda arch, name: True) -> dict[str, Any]:
    """Compare two profiles on ``arch``, or on the arches both list (every arch either lists when
    they share none): per-arch rows, the default verdicts, and whether they differ at all."""
    shared = set(a.architectures) & set(b.architectures)
    arches = (arch,) if arch else sort_arches(shared or {*a.architectures, *b.architectures})
    rows = compare(a, b, arches, names_only, exists)
    va = verdict_text(a.default_action, a.default_errno)
    vb = verdict_text(b.default_action, b.default_errno)
    same_default = names_only or va == vb
    differ = any(row_differs(r) for r in rows) or not same_default
    return {"same": not differ, "default": {"a": va, "b": vb, "same": same_default},
            "arches": rows}
