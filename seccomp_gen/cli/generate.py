"""``seccomp-gen generate``: trace files -> merged trace -> profile -> checked file.

One small module, as every command: ``add_arguments`` declares its options, ``run`` does the
work. Everything that can fail cheaply (format, output path, trace files) is checked
before anything is written; libseccomp must accept the profile before it reaches the disk.
"""

from __future__ import annotations

import argparse
from typing import Any

from ..errors import SeccompGenError
from ..files import traces
from ..files.atomic import check_writable
from ..files.inputs import check_stdin_once
from ..files.profiles import write_profile
from ..formats import NAMES as FORMATS
from ..formats import kinds_text, resolve
from ..merge import merge_traces
from ..profile import ACTIONS, ERRNO_EPERM, Profile
from ..reach import WIDEN_POLICIES, widen
from ..synthesize import (
    ARCH_POLICIES,
    ARG_POLICIES,
    AUTO_BASELINE,
    IO_URING_POLICIES,
    synthesize,
)
from ..syscalls.baselines import NAMES as BASELINE_NAMES
from .options import policy_of

DEFAULT_ACTIONS = tuple(a for a in ACTIONS if a != "allow")


#: The description ``--help`` shows (the one-line summary is in the command registry).
DESCRIPTION = ("Build the minimal seccomp profile that allows what the traces observed (the "
               f"union of all runs), check it with libseccomp, and write it as {kinds_text()}.")


def add_arguments(gen: argparse.ArgumentParser) -> None:
    """The options and arguments of ``generate``."""
    gen.add_argument("traces", nargs="*", metavar="TRACE", help="trace files written by record")
    gen.add_argument("--format", default="oci", help=f"one of {', '.join(FORMATS)} "
                     "(default: oci)")
    gen.add_argument("--docker", action="store_true",
                     help="with --format oci: Docker's form, with archMap")
    gen.add_argument("-o", "--output", metavar="FILE", required=True,
                     help="profile file to write")
    gen.add_argument("-f", "--force", action="store_true", help="replace FILE if it exists")
    gen.add_argument("--args", choices=ARG_POLICIES, default="safe",
                     help="argument pinning: none, safe (namespaces, socket domain, "
                     "personality, prctl option; default) or strict (also ioctl, fcntl, "
                     "W^X in mmap/mprotect and every other recorded argument)")
    gen.add_argument("--default-action", choices=DEFAULT_ACTIONS, default="errno",
                     help="what unlisted syscalls get (default: errno)")
    gen.add_argument("--errno", type=int, default=ERRNO_EPERM, metavar="N",
                     help=f"errno for --default-action errno (default: {ERRNO_EPERM}, EPERM; "
                     "clone3 always gets ENOSYS so that glibc falls back to clone)")
    gen.add_argument("--arches", choices=ARCH_POLICIES, default="observed",
                     help="which ABIs the profile lists: observed (those the traces used; "
                     "calls of the others are killed; default) or family (every ABI of the "
                     "host's family)")
    gen.add_argument("--io-uring", choices=IO_URING_POLICIES, default="allow",
                     help="recorded io_uring calls: allowed (default) or answered with ENOSYS "
                     "(io_uring runs its operations where no filter sees them; programs fall "
                     "back to plain calls, which check --update then adds)")
    gen.add_argument("--with-reachable", choices=WIDEN_POLICIES, metavar="safe|all",
                     help="also allow the syscalls the traced programs' code can reach but the "
                     "runs never made (seccomp-gen analyze): safe, those the audit does not "
                     "rate low or above; all, every one")
    gen.add_argument("--baseline", choices=(AUTO_BASELINE, *BASELINE_NAMES),
                     default=AUTO_BASELINE,
                     help="also allow what this runtime does after loading the filter (default: "
                     "auto: the runtime record --container saw, else none)")


def build_profile(args: argparse.Namespace) -> Profile:
    """Load, merge and synthesize, without writing anything."""
    if not args.traces:
        raise SeccompGenError("generate needs at least one trace file",
                              hint="usage: seccomp-gen generate TRACE... -o FILE")
    check_stdin_once(args.traces)
    trace = merge_traces([traces.load(t) for t in args.traces])
    profile = synthesize(trace, policy_of(args))
    if getattr(args, "with_reachable", None):
        from ..files.binaries import analyze_exe

        additions: dict[tuple[str, str], str] = {}
        for exe in trace.exes:
            _, items, _ = analyze_exe(exe.exe, exe.syscalls)
            for u in items:
                additions.setdefault((u.arch, u.name), exe.exe)
        profile = widen(profile, additions, args.with_reachable)
    return profile


def run(args: argparse.Namespace, out: Any = None, err: Any = None) -> int:
    """Do ``generate``; raises SeccompGenError (one line) on any user-fixable problem."""
    resolve(args.format, args.docker)
    check_writable(args.output, force=args.force)
    profile = write_profile(build_profile(args), args.format, args.output, docker=args.docker)
    if err is not None:
        from . import console as ui

        err.print(ui.profile_summary(profile, args.format, args.output), soft_wrap=True,
                  highlight=False, markup=False)
        ui.consumer_notes(err, profile, args.format)
    return 0
