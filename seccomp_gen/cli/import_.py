"""``seccomp-gen import``: strace output or audit records -> a trace; a profile -> another format.

* ``import strace.log -o x.trace.json``: ``strace -f [-o FILE]`` output, or the ``FILE.PID``
  files of ``strace -ff -o FILE`` (give them all, or just ``FILE``). With ``--format`` the
  imported trace is turned into a profile right away (as ``generate`` would).
* ``import /var/log/audit/audit.log -o miss.trace.json``: the kernel's SECCOMP audit records
  (auditd's log, ausearch output, dmesg, journalctl -k, ``/dev/kmsg``), e.g. the calls a
  ``--default-action log`` profile let through (:mod:`seccomp_gen.formats.auditlog`);
  ``--exe``/``--pid`` keep one program's records of a machine-wide log.
* ``import docker-default.json --format lxc -o x.lxc``: read an OCI/Docker profile (Docker's
  ``includes``/``excludes`` resolved), an LXC policy, a Python table or a trace, and write it in
  another format; e.g. Docker's default as a plain OCI or LXC profile.

The kind of input is sniffed (a profile, audit text, else an strace log); ``--from`` forces it.
Lines that are not understood are counted and the first few shown, never dropped silently; an
input in which nothing could be read is an error. Nothing is written on any error.
"""

from __future__ import annotations

import argparse
import os
import re
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._version import __version__
from ..errors import SeccompGenError
from ..files import traces
from ..files.atomic import check_writable
from ..files.inputs import STDIN, check_stdin_once, read_text, source_name
from ..files.profiles import write_profile
from ..formats import NAMES as FORMAT_NAMES
from ..formats import kinds_text, resolve
from ..synthesize import ARG_POLICIES, Policy, synthesize
from ..syscalls.arches import family_of

if TYPE_CHECKING:
    from ..formats.auditlog import AuditLog
    from ..formats.strace import StraceLog
    from ..model import Trace

#: Unparsed lines shown on the terminal (all are counted).
SHOW_UNPARSED = 5
#: What an input should be, for the messages about one that is not.
WHAT = "an strace log, audit records or a profile"
#: The kinds of log ``--from`` can force.
SOURCES = ("strace", "audit")


#: The description ``--help`` shows (the one-line summary is in the command registry).
DESCRIPTION = ("Import strace -f text output (strace -f -o FILE, strace -ff -o FILE's FILE.PID "
               "files, or what strace printed on stderr), or the kernel's SECCOMP audit records "
               "(audit.log, ausearch -m SECCOMP, dmesg, journalctl -k, /dev/kmsg: e.g. what a "
               "--default-action log profile let through), as a seccomp-gen trace; or read a "
               f"profile ({kinds_text()}) and write it in another format. Lines "
               "that are not understood are reported (count and the first few); nothing is "
               "written on an error.")


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options and arguments of ``import``."""
    p.add_argument("inputs", nargs="+", metavar="FILE",
                   help="an strace log (several for -ff files; or the -o prefix of -ff files), "
                   "audit records (several files: read in order), or one profile file; - for "
                   "standard input")
    p.add_argument("-o", "--output", metavar="OUT", required=True, help="file to write")
    p.add_argument("-f", "--force", action="store_true", help="replace OUT if it exists")
    p.add_argument("--format", choices=FORMAT_NAMES,
                   help="write a profile in this format (default: a trace for an strace log or "
                   "audit records, oci for a profile)")
    p.add_argument("--docker", action="store_true", help="with --format oci: Docker's form")
    p.add_argument("--arch", help="the arch the strace log was recorded on (default: this "
                   "machine's; 32-bit processes in it use that arch's compat ABI); for audit "
                   "records of several machines: the one whose records to keep (default: the "
                   "records' own); for a profile listing several kernels' arches (Docker's): "
                   "the one to keep")
    p.add_argument("--args", choices=ARG_POLICIES, default="safe",
                   help="argument pinning when --format turns a log into a profile")
    p.add_argument("--from", dest="source", choices=SOURCES,
                   help="read the input as an strace log or as audit records (default: sniffed)")
    p.add_argument("--exe", action="append", default=[], metavar="PATH",
                   help="audit records: keep only this program's (as the records name it, "
                   "e.g. /usr/bin/python3.11; repeatable)")
    p.add_argument("--pid", action="append", default=[], type=_pid, metavar="N",
                   help="audit records: keep only this process's (repeatable)")
    p.add_argument("--strict", action="store_true",
                   help="fail if any line of the strace log, or any SECCOMP audit record, is "
                   "not understood")
    p.add_argument("-q", "--quiet", action="store_true", help="only errors")


_FF_SUFFIX = re.compile(r"\.(\d+)$")


def _pid(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 0 < value < 2**31:
        raise argparse.ArgumentTypeError(f"not a process id: {text!r}")
    return value


def expand_inputs(inputs: list[str]) -> list[tuple[str, int]]:
    """(path, pid) per strace file: a prefix of ``-ff`` files expands to them; a ``FILE.PID``
    among several files is that process's own file (pid from the name), others have pid 0."""
    out: list[tuple[str, int]] = []
    check_stdin_once(inputs)
    for spec in inputs:
        if spec == STDIN:
            out.append((spec, 0))
            continue
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
    """A trace or a file some profile format recognises (the format registry decides)."""
    from ..formats import claims

    return claims(text)


def _resolver() -> Any:
    from ..libseccomp import syscall_number

    def resolve(arch: str, name: str) -> int | None:
        try:
            nr = syscall_number(arch, name)
        except (SeccompGenError, ValueError, OSError):
            return None
        return nr if nr >= 0 else None

    return resolve


def import_strace(paths: list[tuple[str, int]], arch: str,
                  first_text: str | None = None) -> tuple[Trace, StraceLog]:
    """(Trace, StraceLog) for the given files (``first_text``: the first one's text, already
    read): the imported trace, with the notes of the import in its header; raises on unusable
    input (no syscall lines, names that are not syscalls of ``arch``)."""
    from ..formats import strace as strace_import
    from ..libseccomp import version as libseccomp_version
    from ..model import TraceHeader

    sources = []
    for i, (path, pid) in enumerate(paths):
        text = first_text if i == 0 and first_text is not None else read_text(path, WHAT)
        sources.append((source_name(path), text.splitlines(), pid))
    del first_text
    log = strace_import.parse(sources)
    first = source_name(paths[0][0])
    where = first if len(paths) == 1 else f"{first} (+{len(paths) - 1} files)"
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
    if paths[0][0] == STDIN:
        started = ""
    notes = [f"imported from strace output: {', '.join(source_name(p) for p, _ in paths[:8])}"
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


def read_input(path: str) -> str:
    """The text of one input: ``/dev/kmsg`` read up to its end without waiting for more (a
    plain read would block there), anything else through the size-capped reader."""
    from ..linux.kmsg import is_kmsg, read_all

    if path != STDIN and is_kmsg(path):
        try:
            return read_all(path)
        except OSError as exc:
            raise SeccompGenError(f"cannot read the kernel log: {exc.strerror or exc}",
                                  path=path, hint="reading it needs root (CAP_SYSLOG)") from None
    return read_text(path, WHAT)


def read_first(path: str, source: str | None) -> str | bytes:
    """The first input: its text (:func:`read_input`), or the bytes of a binary file (a raw BPF
    program) unless ``--from`` says it is a log."""
    from ..files.inputs import read_data
    from ..files.profiles import BINARY_LIMIT
    from ..linux.kmsg import is_kmsg

    if source is not None or (path != STDIN and is_kmsg(path)):
        return read_input(path)
    return read_data(path, WHAT, BINARY_LIMIT)


def input_kind(text: str) -> str:
    """``profile``, ``audit`` or ``strace``, by sniffing (in that order)."""
    from ..formats import auditlog

    if looks_like_profile(text):
        return "profile"
    return "audit" if auditlog.sniff(text) else "strace"


def import_audit(paths: list[str], first_text: str, *, arch: str | None,
                 exes: list[str], pids: list[int]) -> tuple[Trace, AuditLog]:
    """(Trace, AuditLog) of the SECCOMP records in the given files (``first_text``: the first
    one's text, already read); raises on unusable input."""
    from ..formats import auditlog
    from ..libseccomp import arch_name, syscall_name
    from ..libseccomp import version as libseccomp_version
    from ..model import TraceHeader

    sources = []
    for i, path in enumerate(paths):
        text = first_text if i == 0 else read_input(path)
        sources.append((source_name(path), text.splitlines()))
    del first_text
    log = auditlog.parse(sources)
    first = source_name(paths[0])
    where = first if len(paths) == 1 else f"{first} (+{len(paths) - 1} files)"
    names = ", ".join(source_name(p) for p in paths[:8])
    header = TraceHeader(
        tool_version=__version__, command=(), kernel="unknown (imported from audit records)",
        host_arch="", libseccomp=libseccomp_version(), backend="audit-import",
        pinned_cpu=None, started="", ended="", duration_s=0.0, exit=None,
        records_args=False, records_results=False,
        notes=(f"imported from SECCOMP audit records: {names}"
               + (f" and {len(paths) - 8} more" if len(paths) > 8 else ""),),
    )
    trace = auditlog.to_trace(log, header, arch_name, syscall_name, where=where, arch=arch,
                              exes=exes, pids=pids)
    return trace, log


def run(args: argparse.Namespace, out: Any, err: Any) -> int:
    """Do ``import``."""
    from ..linux.host import host_arch

    if args.format:
        resolve(args.format, args.docker)
    elif args.docker:
        raise SeccompGenError("--docker needs --format oci")
    check_writable(args.output, force=args.force)
    if args.source == "audit":
        check_stdin_once(args.inputs)
        paths = [(spec, 0) for spec in args.inputs]
    else:
        paths = expand_inputs(list(args.inputs))
    first = source_name(paths[0][0])
    data = read_first(paths[0][0], args.source)
    if not (data.strip() if isinstance(data, str) else data):
        raise SeccompGenError("empty file, nothing to import", path=first)
    # Binary input can only be a compiled profile (a raw BPF program): the profile reader says
    # what it is, or why not.
    kind = "profile" if isinstance(data, bytes) else args.source or input_kind(data)
    first_text = data if isinstance(data, str) else ""
    if (args.exe or args.pid) and kind != "audit":
        what = "a profile" if kind == "profile" else "an strace log"
        raise SeccompGenError(f"--exe and --pid select SECCOMP audit records; this is {what}",
                              path=first)
    if kind == "profile":
        if len(paths) > 1:
            raise SeccompGenError("import converts one profile at a time",
                                  hint="to combine traces use merge")
        from ..files.profiles import one_family, profile_from_data

        profile, what = profile_from_data(data, first, arch=args.arch)
        profile = one_family(profile, args.arch or host_arch())
        fmt = args.format or "oci"
        write_profile(profile, fmt, args.output, docker=args.docker)
        if not args.quiet:
            from . import console as ui

            err.print(f"read {first} ({what}); " + ui.profile_summary(profile, fmt, args.output),
                      soft_wrap=True, highlight=False, markup=False)
            ui.consumer_notes(err, profile, fmt)
        return 0
    from ..libseccomp import arch_token

    if args.arch:
        arch_token(args.arch)  # an unknown arch name is a one-line error
    read: list[str] = []
    if kind == "audit":
        trace, audit_log = import_audit([p for p, _ in paths], first_text, arch=args.arch,
                                        exes=args.exe, pids=args.pid)
        unparsed = audit_log.unparsed
        from ..formats.auditlog import summary

        read.append(f"read {summary(audit_log)}")
        if audit_log.suppressed:
            read.append(f"warning: the kernel log's rate limit dropped {audit_log.suppressed} "
                        "message(s) (kauditd_printk_skb: callbacks suppressed): calls may be "
                        "missing")
    else:
        trace, log = import_strace(paths, args.arch or host_arch(), first_text)
        unparsed = log.unparsed
    del first_text
    if args.strict and unparsed:
        s, n, text = unparsed[0]
        raise SeccompGenError(f"{len(unparsed)} line(s) not understood (--strict); first "
                              f"{s}:{n}: {text[:80]!r}")
    made = None
    if args.format:
        made = synthesize(trace, Policy(args=args.args))
        write_profile(made, args.format, args.output, docker=args.docker)
        from . import console as ui

        written = ui.profile_summary(made, args.format, args.output)
    else:
        traces.dump(trace, args.output)
        written = (f"trace written to {args.output}: {trace.total_calls} calls, "
                   f"{len(trace.syscalls)} distinct syscalls, {len(trace.processes)} process(es)")
    if not args.quiet:
        from . import console as ui

        if unparsed:
            ui.unparsed_lines(err, unparsed, SHOW_UNPARSED)
        for line in read:
            err.print(line, soft_wrap=True, highlight=False, markup=False)
        err.print(written, soft_wrap=True, highlight=False, markup=False)
        if made is not None:
            ui.consumer_notes(err, made, args.format)
    return 0
