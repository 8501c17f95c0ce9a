"""``seccomp-gen diff A B``: what each of two profiles (or traces) allows, per arch, with args.

Compared per arch: the syscall names each side allows; for names both allow, the argument
conditions (``socket`` with ``domain == AF_INET`` only in A); rules with another verdict
(``clone3`` answered with ENOSYS); and the default verdict. Names an arch does not have
(Docker's profile lists ``chown32`` for every arch) are not counted.

A trace is compared as the profile ``generate`` would make from it (``--trace-args``, default
``safe``), so ``diff app.trace.json app.json`` is equal for a profile generated with defaults.

Output: a table (``--format text``), JSON (``--format json`` or ``--json``), or GitHub Actions
annotations (``--format github``: ``::error`` for what B allows and A does not, ``::notice`` for
what only A allows; read A as the committed profile and B as the new one). Exit status follows
diff(1): 0 when equal, 1 when different, 2 on an error.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ..compare import diff
from ..errors import SeccompGenError
from ..files.inputs import check_stdin_once
from ..files.profiles import load_profile, skipped_summary
from ..formats import kinds_text
from ..libseccomp import arch_token, syscall_number
from ..profile import Profile
from ..synthesize import ARG_POLICIES, Policy

#: Names listed per side and arch in the table view; --json always has them all.
LIST_LIMIT = 24
DIFF_FORMATS = ("text", "json", "github")


#: The description ``--help`` shows (the one-line summary is in the command registry).
DESCRIPTION = (f"Compare two of: trace, {kinds_text()}. Shows per "
               "arch how many syscalls each allows, which only one does, and where the argument "
               "conditions, other verdicts or default action differ. Exit 0 if equal, 1 if not, "
               "2 on error.")


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options and arguments of ``diff``."""
    p.add_argument("a", metavar="A", help="a trace or profile file (e.g. the committed one; "
                   "'-': standard input)")
    p.add_argument("b", metavar="B", help="a trace or profile file (e.g. the new one; '-': "
                   "standard input, if A is not)")
    p.add_argument("--arch", help="compare only this arch (default: the arches both list, or "
                   "every arch either lists when they share none)")
    p.add_argument("--format", choices=DIFF_FORMATS, default="text",
                   help="text (a table; default), json, or github (GitHub Actions annotations "
                   "on stdout)")
    p.add_argument("--json", dest="format", action="store_const", const="json",
                   help="same as --format json")
    p.add_argument("--github-file", metavar="PATH",
                   help="with --format github: the file annotations point at (default: A; "
                   "give the repository path when A is a copy)")
    p.add_argument("--trace-args", choices=ARG_POLICIES, default="safe",
                   help="argument pinning with which a trace is compared (as generate --args; "
                   "default: safe)")
    p.add_argument("--names-only", action="store_true",
                   help="compare only which names are allowed, not arguments or verdicts")


def exists_on(arch: str, name: str) -> bool:
    """Whether libseccomp knows ``name`` on ``arch``: OCI profiles list names for every arch at
    once, and runc ignores the ones an arch lacks, so those are not counted as allowed there."""
    try:
        return syscall_number(arch, name) >= 0
    except SeccompGenError:
        return True  # an arch libseccomp does not know: count what the profile says


# --- GitHub annotations -------------------------------------------------------------------------


def _gh_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _gh_prop(text: str) -> str:
    return _gh_data(text).replace(":", "%3A").replace(",", "%2C")


def annotation(level: str, title: str, message: str, file: str | None = None) -> str:
    """One GitHub Actions workflow command (``::error file=...,title=...::message``)."""
    props = []
    if file:
        props.append(f"file={_gh_prop(file)}")
    props.append(f"title={_gh_prop(title)}")
    return f"::{level} {','.join(props)}::{_gh_data(message)}"


def github_lines(doc: dict[str, Any], file: str | None = None) -> list[str]:
    """Annotations for a diff document: errors for what B adds, notices for what it drops;
    each points at ``file`` (default: A)."""
    a, b = doc["a"]["path"], doc["b"]["path"]
    where = file or a
    lines = []
    d = doc["default"]
    if not d["same"]:
        lines.append(annotation("error", "seccomp default action changed",
                                f"default action is {d['a']} in {a} but {d['b']} in {b}", where))
    for r in doc["arches"]:
        arch = r["arch"]
        for n in r["only_b"]:
            lines.append(annotation("error", f"seccomp: new syscall {n}",
                                    f"{arch} {n} is allowed by {b} but not by {a}", where))
        for d_ in r["args"]:
            for c in d_["only_b"]:
                lines.append(annotation(
                    "error", f"seccomp: new arguments for {d_['syscall']}",
                    f"{arch} {d_['syscall']} with {c} is allowed by {b} but not by {a}", where))
            for c in d_["only_a"]:
                lines.append(annotation(
                    "notice", f"seccomp: arguments no longer allowed for {d_['syscall']}",
                    f"{arch} {d_['syscall']} with {c} is allowed by {a} but not by {b}", where))
        for t in r["other_rules_only_b"]:
            lines.append(annotation("error", "seccomp: rule changed",
                                    f"{arch} {t} is in {b} but not in {a}", where))
        for t in r["other_rules_only_a"]:
            lines.append(annotation("notice", "seccomp: rule changed",
                                    f"{arch} {t} is in {a} but not in {b}", where))
        for n in r["only_a"]:
            lines.append(annotation("notice", f"seccomp: syscall no longer allowed: {n}",
                                    f"{arch} {n} is allowed by {a} but not by {b}", where))
    if doc["same"]:
        lines.append(annotation("notice", "seccomp profile unchanged",
                                f"{a} and {b} allow the same syscalls"))
    return lines


# --- the command --------------------------------------------------------------------------------


def diff_document(path_a: str, path_b: str, arch: str | None = None,
                  trace_args: str = "safe", names_only: bool = False) -> dict[str, Any]:
    """Load both sides and compare them; the JSON document ``--format json`` prints."""
    if arch:
        arch_token(arch)  # an unknown arch is an error, not an empty comparison
    check_stdin_once((path_a, path_b))
    policy = Policy(args=trace_args)
    a, kind_a = load_profile(path_a, policy)
    b, kind_b = load_profile(path_b, policy)
    side_a = {"path": path_a, "kind": kind_a, "left_out": skipped_summary(a)}
    side_b = {"path": path_b, "kind": kind_b, "left_out": skipped_summary(b)}
    opaque = _opaque(a, b, (kind_a == "bpf", kind_b == "bpf"), arch)
    doc = diff(a, b, arch, names_only, lambda ar, name: (ar, name) not in opaque
               and exists_on(ar, name))
    doc["args_not_recoverable"] = list(opaque.values())
    doc["same"] = doc["same"] and all(o["other"] == "argument rules" for o in opaque.values())
    return {"a": side_a, "b": side_b, **doc}


def _opaque(a: Profile, b: Profile, bpf: tuple[bool, bool],
            arch: str | None) -> dict[tuple[str, str], dict[str, str]]:
    """The calls a side that is a raw BPF program (``bpf``: whether A, B is one) answers by
    arguments it tests in ways not read back as rules
    (:data:`~seccomp_gen.formats.bpf.ARGS_NOT_RECOVERABLE`): they are not compared by name;
    each says what the other side has for it (equal only when that is argument rules too)."""
    from ..formats.bpf import ARGS_NOT_RECOVERABLE

    def by_args(p: Profile, is_bpf: bool) -> set[tuple[str, str]]:
        return {(s.arch, s.name) for s in p.skipped
                if is_bpf and s.reason.endswith(ARGS_NOT_RECOVERABLE)}

    opaque_a, opaque_b = by_args(a, bpf[0]), by_args(b, bpf[1])
    out: dict[tuple[str, str], dict[str, str]] = {}
    for side, mine, other, theirs in (("A", opaque_a, b, opaque_b), ("B", opaque_b, a, opaque_a)):
        for key in sorted(mine):
            where, name = key
            if arch and where != arch:
                continue
            rules = [r for r in other.rules_for(where) if r.name == name]
            if key in theirs or any(r.conditions for r in rules):
                what = "argument rules"
            elif rules:
                what = "; ".join(sorted({r.action for r in rules})) + " for any arguments"
            else:
                what = "no rule"
            out.setdefault(key, {"arch": where, "syscall": name, "side": side, "other": what})
    return dict(sorted(out.items()))


def run(args: argparse.Namespace, out: Any, err: Any) -> int:
    """Do ``diff``; SeccompGenError becomes exit status 2 in the CLI."""
    doc = diff_document(args.a, args.b, args.arch, args.trace_args, args.names_only)
    status = 0 if doc["same"] else 1
    if args.format == "json":
        sys.stdout.write(json.dumps(doc, indent=1) + "\n")
        return status
    if args.format == "github":
        sys.stdout.write("".join(line + "\n" for line in github_lines(doc, args.github_file)))
        return status
    from . import console as ui

    for side, key in (("A", "a"), ("B", "b")):
        out.print(f"{side}: {doc[key]['path']} ({doc[key]['kind']})", soft_wrap=True,
                  highlight=False, markup=False)
        if doc[key]["left_out"]:
            out.print(f"note: {side}: {doc[key]['left_out']}", soft_wrap=True, highlight=False,
                      markup=False)
    rows = doc["arches"]
    out.print(ui.diff_table(rows))
    for r in rows:
        for side, names in (("A", r["only_a"]), ("B", r["only_b"])):
            if names:
                shown = ", ".join(names[:LIST_LIMIT])
                if len(names) > LIST_LIMIT:
                    shown += f", ... and {len(names) - LIST_LIMIT} more (--json lists all)"
                out.print(f"only {side} allows on {r['arch']} ({len(names)}): {shown}",
                          soft_wrap=True, highlight=False, markup=False)
    arg_lines = ui.diff_args_lines(rows)
    for line in arg_lines[:LIST_LIMIT]:
        out.print(f"arguments differ on {line}", soft_wrap=True, highlight=False, markup=False)
    if len(arg_lines) > LIST_LIMIT:
        out.print(f"... and {len(arg_lines) - LIST_LIMIT} more argument differences "
                  "(--json lists all)", highlight=False, markup=False)
    for r in rows:
        for side, texts in (("A", r["other_rules_only_a"]), ("B", r["other_rules_only_b"])):
            for t in texts:
                out.print(f"only {side} has on {r['arch']}: {t}", soft_wrap=True,
                          highlight=False, markup=False)
    for o in doc["args_not_recoverable"]:
        other = "B" if o["side"] == "A" else "A"
        out.print(f"not compared on {o['arch']}: {o['syscall']}: {o['side']} (raw BPF) answers "
                  f"it by its arguments, and argument rules are not recoverable from BPF; "
                  f"{other} has {o['other']}", soft_wrap=True, highlight=False, markup=False)
    if not doc["default"]["same"]:
        out.print(f"default action: A {doc['default']['a']}, B {doc['default']['b']}",
                  soft_wrap=True, highlight=False, markup=False)
    if doc["same"]:
        out.print("same syscalls allowed", highlight=False)
    else:
        out.print("profiles differ", highlight=False)
    return status
