"""``seccomp-gen audit PROFILE``: what a reviewer wants to know before deploying a profile.

The findings (:mod:`seccomp_gen.review`) of any profile the one reader takes (OCI/Docker JSON,
LXC, Kubernetes, Python table, a trace), checked on the model and, for the ABI guards, on the
filter libseccomp compiles from it. ``--trace`` says what the workload really needs. Output: one
line per finding (``--format text``), a JSON document (``json``, schema in docs/audit.md) or
GitHub Actions workflow commands (``github``). Exit 1 when a finding is at or above
``--fail-on`` (default ``medium``), 0 otherwise, 2 on bad input.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ..errors import PermissiveDefault, SeccompGenError
from ..files.inputs import check_stdin_once
from ..files.profiles import load_profile, one_family, skipped_summary
from ..formats import kinds_text
from ..review import Finding, Needs, at_least, default_allow, review, summary
from ..safetext import printable
from ..syscalls.arches import family_of
from ..syscalls.risks import LEVELS
from .diff import annotation

if TYPE_CHECKING:
    from ..profile import Profile

AUDIT_FORMATS = ("text", "json", "github")
#: The level at or above which a finding fails the audit unless --fail-on says otherwise.
DEFAULT_FAIL_ON = "medium"
#: ``--format json``'s schema name and version (docs/audit.md).
JSON_FORMAT = "seccomp-gen-audit"
JSON_VERSION = 1

DESCRIPTION = (f"Review a profile ({kinds_text()}, or a trace) before deploying it: ABIs it "
               "need not allow, x32 let through, denied syscalls whose alternative is allowed, "
               "dangerous syscalls allowed without argument rules, a permissive default, clone3 "
               "not answered with ENOSYS. Exit 1 if a finding is at or above --fail-on, 0 if "
               "not, 2 on error.")


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options and arguments of ``audit``."""
    p.add_argument("profile", metavar="PROFILE", help="the profile (or trace) to review; '-': "
                   "standard input")
    p.add_argument("--trace", action="append", default=[], metavar="TRACE",
                   help="a trace of the workload (repeatable): ABIs and syscalls no trace used "
                   "are reported as not needed")
    p.add_argument("--cap", action="append", default=[], metavar="CAP",
                   help="read Docker's includes/excludes for a container with this capability "
                   "added (repeatable; SYS_ADMIN or CAP_SYS_ADMIN, as docker run --cap-add)")
    p.add_argument("--arch", help="the host arch whose ABIs to review when the profile lists "
                   "several kernels' (Docker's; default: this machine's)")
    p.add_argument("--format", choices=AUDIT_FORMATS, default="text",
                   help="text (one line per finding and a summary; default), json, or github "
                   "(GitHub Actions workflow commands on stdout)")
    p.add_argument("--fail-on", choices=(*LEVELS, "never"), default=DEFAULT_FAIL_ON,
                   help=f"exit 1 when a finding is at or above this level (default: "
                   f"{DEFAULT_FAIL_ON}; never: always exit 0)")
    p.add_argument("--github-file", metavar="PATH",
                   help="with --format github: the file annotations point at (default: PROFILE)")


def capability(name: str) -> str:
    """``SYS_ADMIN`` or ``cap_sys_admin`` as Docker's profile spells it, ``CAP_SYS_ADMIN``."""
    cap = name.upper()
    cap = cap if cap.startswith("CAP_") else "CAP_" + cap
    if not re.fullmatch(r"CAP_[A-Z_]{1,40}", cap):
        raise SeccompGenError(f"not a capability name: {name[:60]!r}",
                              hint="e.g. SYS_ADMIN or CAP_SYS_ADMIN")
    return cap


def audit(path: str, traces: list[str], arch: str | None = None,
          caps: Iterable[str] = ()) -> tuple[tuple[Finding, ...], dict[str, Any]]:
    """The findings for the profile at ``path`` and what the report says about its input."""
    from .. import libseccomp as lib
    from ..files.traces import load as load_trace

    check_stdin_once((path, *traces))
    needs = Needs.of([load_trace(t) for t in traces]) if traces else None
    added = frozenset(capability(c) for c in caps)
    about: dict[str, Any] = {"path": path, "kind": None, "arches": [], "left_out": None,
                             "traces": list(traces), "caps": sorted(added)}
    try:
        profile, kind = load_profile(path, caps=added)
    except PermissiveDefault as exc:
        about["kind"] = "denylist"
        return (default_allow(exc.message.partition(":")[0]),), about
    if arch:
        lib.arch_token(arch)  # an unknown arch is an error, not an empty review
    profile = one_family(profile, arch or lib.native_arch())
    about.update(kind=kind, arches=list(profile.architectures),
                 left_out=skipped_summary(profile))
    return review_compiled(profile, needs), about


def review_compiled(profile: Profile, needs: Needs | None = None) -> tuple[Finding, ...]:
    """:func:`~seccomp_gen.review.review` with the filter libseccomp compiles from
    ``profile``, run in the simulator, and libseccomp's name tables."""
    from .. import libseccomp as lib

    # What an arch has, from its number table: libseccomp resolves i386's socket to a
    # pseudo-number (it compiles it as both socketcall and the direct call).
    names = {(a, name) for (a, _), name in lib.name_table(
        {x for m in profile.architectures for x in family_of(m)}).items()}
    return review(profile, needs=needs, compiled=lib.Simulator(lib.export_bpf(profile)).answer,
                  name_of=lib.known_name, exists=lambda a, name: (a, name) in names)


def document(findings: tuple[Finding, ...], about: dict[str, Any],
             fail_on: str) -> dict[str, Any]:
    """The JSON document ``--format json`` prints (docs/audit.md)."""
    return {"format": JSON_FORMAT, "version": JSON_VERSION, "profile": about,
            "fail_on": fail_on, "failed": failed(findings, fail_on),
            "summary": summary(findings), "findings": [f.as_dict() for f in findings]}


def failed(findings: tuple[Finding, ...], fail_on: str) -> bool:
    """Whether a finding is at or above ``fail_on`` (``never``: none is)."""
    return fail_on != "never" and any(at_least(f.level, fail_on) for f in findings)


def github_lines(findings: tuple[Finding, ...], file: str, fail_on: str) -> list[str]:
    """One workflow command per finding: ``::error`` at or above ``fail_on``, ``::warning``
    below it down to low, ``::notice`` for info."""
    lines = []
    for f in findings:
        if fail_on != "never" and at_least(f.level, fail_on):
            kind = "error"
        else:
            kind = "notice" if f.level == "info" else "warning"
        title = f"seccomp audit: {f.id}" + (f" {f.syscall}" if f.syscall else "")
        lines.append(annotation(kind, title, f"{f.level}: {f.text_body()}", file))
    return lines


def summary_line(findings: tuple[Finding, ...], fail_on: str) -> str:
    counts = summary(findings)
    shown = ", ".join(f"{n} {level}" for level, n in counts.items())
    if fail_on == "never":
        verdict = "not failing (--fail-on never)"
    elif failed(findings, fail_on):
        verdict = f"FAIL: findings at or above {fail_on}"
    else:
        verdict = f"pass: nothing at or above {fail_on}"
    return f"{len(findings)} finding{'s' if len(findings) != 1 else ''} ({shown}); {verdict}"


def run(args: argparse.Namespace, out: Any, err: Any) -> int:
    """Do ``audit``; SeccompGenError becomes exit status 2 in the CLI."""
    findings, about = audit(args.profile, args.trace, args.arch, args.cap)
    status = 1 if failed(findings, args.fail_on) else 0
    if args.format == "json":
        sys.stdout.write(json.dumps(document(findings, about, args.fail_on), indent=1) + "\n")
    elif args.format == "github":
        lines = github_lines(findings, args.github_file or args.profile, args.fail_on)
        sys.stdout.write("".join(line + "\n" for line in lines))
    else:
        head = f"{printable(about['path'])} ({about['kind']}"
        head += f", {', '.join(about['arches'])})" if about["arches"] else ")"
        lines = [head]
        if about["left_out"]:
            lines.append(f"note: {about['left_out']}")
        lines += [f.text() for f in findings]
        lines.append(summary_line(findings, args.fail_on))
        # Plain text, not rich: it would turn ":smile:" in a path into an emoji.
        sys.stdout.write("".join(line + "\n" for line in lines))
    return status
