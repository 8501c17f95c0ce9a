"""``seccomp-gen import``: strace text output -> trace file; any profile -> another format.

* ``import strace.log -o x.trace.json``: ``strace -f [-o FILE]`` output, or the ``FILE.PID``
  files of ``strace -ff -o FILE`` (give them all, or just ``FILE``). With ``--format`` the
  imported trace is turned into a profile right away (as ``generate`` would).
* ``import docker-default.json --format lxc -o x.lxc``: read an OCI/Docker profile (Docker's
  ``includes``/``excludes`` resolved), an LXC policy, a Python table or a trace, and write it in
  another format; e.g. Docker's default as a plain OCI or LXC profile.

Lines of an strace log that are not understood are counted and the first few shown, never dropped
silently; a log in which nothing could be read is an error. Nothing is written on any error.
"""

from __future__ import annotations

import argparse
import os
import re
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from . import __version__, tracefile
from .atomicfile import check_writable
from .errors import SeccompGenError
from .generate_cli import check_format, summary_line, write_profile
from .profile import Profile, Rule, Skipped, family_of, normalize
from .profile_io import read_text
from .synthesize import ARG_POLICIES, Policy, synthesize

#: Unparsed lines shown on the terminal (all are counted).
SHOW_UNPARSED = 5


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``import``."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "import",
        help="read an strace log as a trace, or convert a profile to another format",
        description="Import strace -f text output (strace -f -o FILE, strace -ff -o FILE's "
        "FILE.PID files, or what strace printed on stderr) as a seccomp-gen trace; or read an "
        "OCI/Docker, LXC or Python-table profile and write it in another format. Lines strace "
        "printed that are not understood are reported (count and the first few); nothing is "
        "written on an error.",
    )
    p.add_argument("inputs", nargs="+", metavar="FILE",
                   help="an strace log (several for -ff files; or the -o prefix of -ff files), "
                   "or one profile file")
    p.add_argument("-o", "--output", metavar="OUT", required=True, help="file to write")
    p.add_argument("-f", "--force", action="store_true", help="replace OUT if it exists")
    p.add_argument("--format", choices=("oci", "lxc", "python"),
                   help="write a profile in this format (default: a trace for an strace log, "
                   "oci for a profile)")
    p.add_argument("--docker", action="store_true", help="with --format oci: Docker's form")
    p.add_argument("--arch", help="the arch the strace log was recorded on (default: this "
                   "machine's; 32-bit processes in it use that arch's compat ABI); for a "
                   "profile listing several kernels' arches (Docker's): the one to keep")
    p.add_argument("--args", choices=ARG_POLICIES, default="safe",
                   help="argument pinning when --format turns an strace log into a profile")
    p.add_argument("--strict", action="store_true",
                   help="fail if any line of the strace log is not understood")
    p.add_argument("-q", "--quiet", action="store_true", help="only errors")
    p.set_defaults(func=run)
    return p


_FF_SUFFIX = re.compile(r"\.(\d+)$")


def expand_inputs(inputs: list[str]) -> list[tuple[str, int]]:
    """(path, pid) per strace file: a prefix of ``-ff`` files expands to them; a ``FILE.PID``
    among several files is that process's own file (pid from the name), others have pid 0."""
    out: list[tuple[str, int]] = []
    for spec in inputs:
        p = Path(spec)
        if not p.exists():
            parent = p.parent if str(p.parent) else Path(".")
            found: list[tuple[int, str]] = []
            for q in parent.glob(p.name + ".*"):
                fm = _FF_SUFFIX.search(q.name)
                if fm and q.name[: fm.start()] == p.name:
                    found.append((int(fm.group(1)), str(q)))
            if not found:
                raise SeccompGenError("no such file (nor FILE.PID files of strace -ff)",
                                      path=spec)
            out += [(path, pid) for pid, path in sorted(found)]
            continue
        m = _FF_SUFFIX.search(p.name)
        out.append((spec, int(m.group(1)) if m and len(inputs) > 1 else 0))
    return out


def looks_like_profile(text: str) -> bool:
    """JSON (OCI/Docker/trace), an LXC v2 policy, or a generated Python table."""
    head = text.lstrip()
    return (head.startswith("{") or head.startswith("2\n") or head.startswith("2\r\n")
            or ("\nRULES = " in text and "\nDEFAULT_ACTION = " in text))


def _resolver() -> Any:
    from .arch import syscall_number

    def resolve(arch: str, name: str) -> int | None:
        try:
            nr = syscall_number(arch, name)
        except (SeccompGenError, ValueError, OSError):
            return None
        return nr if nr >= 0 else None

    return resolve


def import_strace(paths: list[tuple[str, int]], arch: str) -> tuple[Any, Any]:
    """(ImportResult, StraceLog) for the given files; raises on unusable input."""
    from . import strace_import
    from .arch import libseccomp_version
    from .model import TraceHeader

    sources = []
    for path, pid in paths:
        sources.append((path, read_text(path).splitlines(), pid))
    log = strace_import.parse(sources)
    where = paths[0][0] if len(paths) == 1 else f"{paths[0][0]} (+{len(paths) - 1} files)"
    if not log.calls:
        first = (f"; first line not understood: {log.unparsed[0][1]}: "
                 f"{log.unparsed[0][2][:60]!r}" if log.unparsed else "")
        raise SeccompGenError(f"no strace syscall lines found in {log.lines} line(s){first}",
                              path=where, hint="expected strace -f output, e.g. strace -f -o "
                              "FILE COMMAND")
    try:
        stamp = datetime.fromtimestamp(os.path.getmtime(paths[0][0]), UTC)
        started = stamp.isoformat(timespec="seconds")
    except OSError:
        started = ""
    notes = [f"imported from strace output: {', '.join(p for p, _ in paths[:8])}"
             + (f" and {len(paths) - 8} more" if len(paths) > 8 else ""),
             strace_import.NOTE_ARGS]
    if log.unparsed:
        first_bad = ", ".join(f"{s}:{n}" for s, n, _ in log.unparsed[:SHOW_UNPARSED])
        notes.append(f"{len(log.unparsed)} line(s) of the strace output were not understood "
                     f"and not counted (first: {first_bad})")
    header = TraceHeader(
        tool_version=__version__, command=(), kernel="unknown (imported from strace)",
        host_arch=arch, libseccomp=libseccomp_version(), backend="strace-import",
        pinned_cpu=None, started=started, ended=started, duration_s=0.0, exit=None,
        records_args=True, records_results=True, notes=(),
    )
    result = strace_import.to_trace(log, family_of(arch), _resolver(), header)
    if result.unknown_names:
        shown = ", ".join(result.unknown_names[:6])
        more = f" and {len(result.unknown_names) - 6} more" if len(result.unknown_names) > 6 \
            else ""
        raise SeccompGenError(
            f"{len(result.unknown_names)} syscall name(s) are not {arch} syscalls: {shown}{more}",
            path=where, hint="was the log recorded on another architecture? give --arch "
            "(e.g. --arch aarch64)")
    if result.guessed_32bit:
        notes.append("strace -o does not write its 'runs in 32 bit mode' lines; process(es) "
                     f"{', '.join(map(str, result.guessed_32bit))} used syscall names only the "
                     f"{family_of(arch)[1]} ABI has, so their calls were read as "
                     f"{family_of(arch)[1]}")
    if not result.trace.header.command:
        notes.append("the log has no successful execve with a readable argv; the command is "
                     "unknown")
    trace = replace(result.trace, header=replace(
        result.trace.header, notes=tuple(notes),
        command=result.trace.header.command or ("?",)))
    return trace, log


def one_family(profile: Profile, arch: str) -> Profile:
    """A profile for several kernels (Docker's lists every arch it knows, with an archMap that
    picks the host's) restricted to the family of ``arch``, as Docker does on that host: one
    libseccomp filter cannot hold arches of different kernels."""
    family = family_of(arch)
    if all(a in family for a in profile.architectures):
        return profile
    left = [a for a in profile.architectures if a not in family]
    keep = tuple(a for a in profile.architectures if a in family)
    if not keep:
        raise SeccompGenError(f"the profile has no rules for {arch}",
                              hint=f"it lists {', '.join(profile.architectures)}; give --arch")
    rules = tuple(replace(r, arches=tuple(a for a in r.arches if a in family))
                  for r in profile.rules if any(a in family for a in r.arches))
    note = (f"imported for {', '.join(keep)} (the {family[0]} kernel); left out: "
            f"{', '.join(left)}")
    return normalize(replace(profile, architectures=keep, rules=rules,
                             notes=(*profile.notes, note)))


def drop_unknown(profile: Profile) -> Profile:
    """Take out rules for names this libseccomp does not know on an arch (a profile written
    for a newer library, such as Docker's ``getxattrat``), each listed as skipped with the
    reason: libseccomp would refuse the whole profile otherwise."""
    from .arch import arch_token, libseccomp_version, syscall_number

    rules: list[Rule] = []
    skipped: list[Skipped] = []
    notes: list[str] = []
    version = libseccomp_version()
    arches = []
    for arch in profile.architectures:
        try:
            arch_token(arch)
            arches.append(arch)
        except SeccompGenError:
            notes.append(f"architecture {arch} is unknown to libseccomp {version}; left out")
    for r in profile.rules:
        keep = []
        for arch in r.arches:
            if arch not in arches:
                continue
            try:
                known = syscall_number(arch, r.name) != -1
            except (SeccompGenError, ValueError, OSError):
                known = False
            if known:
                keep.append(arch)
            else:
                skipped.append(Skipped(arch, r.name, f"libseccomp {version} does not know this "
                                       "syscall; the rule was left out"))
        if keep:
            rules.append(replace(r, arches=tuple(keep)))
    if not skipped and not notes:
        return profile
    return normalize(replace(profile, architectures=tuple(arches), rules=tuple(rules),
                             notes=profile.notes + tuple(notes),
                             skipped=profile.skipped + tuple(skipped)))


def run(args: argparse.Namespace, out: Any, err: Any) -> int:
    """Do ``import``."""
    from .arch import host_arch

    if args.format:
        check_format(args.format, args.docker)
    elif args.docker:
        raise SeccompGenError("--docker needs --format oci")
    check_writable(args.output, force=args.force)
    paths = expand_inputs(list(args.inputs))
    first_text = read_text(paths[0][0])
    if not first_text.strip():
        raise SeccompGenError("empty file, nothing to import", path=paths[0][0])
    if looks_like_profile(first_text):
        if len(paths) > 1:
            raise SeccompGenError("import converts one profile at a time",
                                  hint="to combine traces use merge")
        from .profile_io import load_profile

        profile, kind = load_profile(paths[0][0])
        profile = drop_unknown(one_family(profile, args.arch or host_arch()))
        fmt = args.format or "oci"
        write_profile(profile, fmt, args.output, docker=args.docker)
        if not args.quiet:
            err.print(f"read {paths[0][0]} ({kind}); " + summary_line(profile, fmt, args.output),
                      soft_wrap=True, highlight=False, markup=False)
        return 0
    arch = args.arch or host_arch()
    from .arch import arch_token

    arch_token(arch)  # an unknown arch name is a one-line error
    trace, log = import_strace(paths, arch)
    if args.strict and log.unparsed:
        s, n, text = log.unparsed[0]
        raise SeccompGenError(f"{len(log.unparsed)} line(s) not understood (--strict); first "
                              f"{s}:{n}: {text[:80]!r}")
    if args.format:
        profile = synthesize(trace, Policy(args=args.args))
        write_profile(profile, args.format, args.output, docker=args.docker)
        written = summary_line(profile, args.format, args.output)
    else:
        tracefile.dump(trace, args.output)
        written = (f"trace written to {args.output}: {trace.total_calls} calls, "
                   f"{len(trace.syscalls)} distinct syscalls, {len(trace.processes)} process(es)")
    if not args.quiet:
        if log.unparsed:
            from . import console as ui

            ui.unparsed_lines(err, log.unparsed, SHOW_UNPARSED)
        err.print(written, soft_wrap=True, highlight=False, markup=False)
    return 0
