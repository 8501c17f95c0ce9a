"""``seccomp-gen diff A B``: which syscalls each of two profiles (or traces) allows, per arch.

Exit status follows diff(1): 0 when both allow the same names on every arch, 1 when they differ,
2 on an error. Argument conditions are not compared yet, only whether a name is allowed at all.
Names an arch does not have (Docker's profile lists ``chown32`` for every arch) are not counted.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from .arch import syscall_number
from .errors import SeccompGenError
from .profile import Profile, sort_arches
from .profile_io import load_profile

#: Names listed per side and arch in the table view; --json always has them all.
LIST_LIMIT = 24


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``diff`` on an argparse subparsers object."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "diff",
        help="compare the syscalls two profiles or traces allow",
        description="Compare two of: trace, OCI/Docker JSON, LXC v2 policy, Python table. "
        "Shows per arch how many syscalls each allows and which only one does. Exit 0 if the "
        "same names are allowed, 1 if not, 2 on error.",
    )
    p.add_argument("a", metavar="A", help="a trace or profile file")
    p.add_argument("b", metavar="B", help="a trace or profile file")
    p.add_argument("--arch", help="compare only this arch (default: the arches both list, or "
                   "every arch either lists when they share none)")
    p.add_argument("--json", action="store_true", help="machine-readable JSON on stdout")
    p.set_defaults(func=run)
    return p


def exists_on(arch: str, name: str) -> bool:
    """Whether libseccomp knows ``name`` on ``arch``: OCI profiles list names for every arch at
    once, and runc ignores the ones an arch lacks, so those are not counted as allowed there."""
    try:
        return syscall_number(arch, name) >= 0
    except SeccompGenError:
        return True  # an arch libseccomp does not know: count what the profile says


def compare(a: Profile, b: Profile, arches: tuple[str, ...]) -> list[dict[str, Any]]:
    """One row per arch: counts and the names only one side allows."""
    rows = []
    for arch in arches:
        na = sorted(n for n in a.names(arch) if exists_on(arch, n))
        nb = sorted(n for n in b.names(arch) if exists_on(arch, n))
        both = set(na) & set(nb)
        rows.append({"arch": arch, "a_allowed": len(na), "b_allowed": len(nb),
                     "both": len(both), "only_a": [n for n in na if n not in both],
                     "only_b": [n for n in nb if n not in both]})
    return rows


def run(args: argparse.Namespace, out: Any, err: Any) -> int:
    """Do ``diff``; SeccompGenError becomes exit status 2 in the CLI."""
    a, kind_a = load_profile(args.a)
    b, kind_b = load_profile(args.b)
    shared = set(a.architectures) & set(b.architectures)
    arches = (args.arch,) if args.arch else sort_arches(
        shared or {*a.architectures, *b.architectures})
    rows = compare(a, b, arches)
    differ = any(r["only_a"] or r["only_b"] for r in rows)
    if args.json:
        doc = {"a": {"path": args.a, "kind": kind_a}, "b": {"path": args.b, "kind": kind_b},
               "same": not differ, "arches": rows}
        sys.stdout.write(json.dumps(doc, indent=1) + "\n")
        return 1 if differ else 0
    from . import console as ui

    for side, path, kind in (("A", args.a, kind_a), ("B", args.b, kind_b)):
        out.print(f"{side}: {path} ({kind})", soft_wrap=True, highlight=False, markup=False)
    out.print(ui.diff_table(rows))
    for r in rows:
        for side, names in (("A", r["only_a"]), ("B", r["only_b"])):
            if names:
                shown = ", ".join(names[:LIST_LIMIT])
                if len(names) > LIST_LIMIT:
                    shown += f", ... and {len(names) - LIST_LIMIT} more (--json lists all)"
                out.print(f"only {side} allows on {r['arch']} ({len(names)}): {shown}",
                          soft_wrap=True, highlight=False, markup=False)
    out.print("same syscalls allowed" if not differ else "profiles differ", highlight=False)
    return 1 if differ else 0
