"""The one way the tests record: ``seccomp_gen.record`` (or ``seccomp-gen record``) in a child.

Why a child: the recorder can be timed out and SIGKILLed with its whole process group like any
other child (:func:`helpers.cli.run`), no tracer or filter ever touches the pytest process, and
the workload gets what a child gets: stdin /dev/null, the test's cwd and environment, stdout and
stderr captured (so a test can compare the workload's output with its output elsewhere).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from helpers.cli import PYTHON, TIMEOUT, cli, run
from seccomp_gen import Trace, load_trace

#: The CPU a recorder with ``pin=True`` (the default) chooses in a process with our mask.
PIN_CPU = max(os.sched_getaffinity(0))

#: argv: OUT OPTIONS-JSON PROC-DIR COMMAND... With PROC-DIR, proc is mounted there first (in a
#: private mount namespace the caller made: a container's /proc, see :func:`record_in_child`).
_RECORD_SCRIPT = (
    "import json, subprocess, sys, seccomp_gen\n"
    "out, options, proc_dir = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]\n"
    "if proc_dir:\n"
    "    subprocess.run(['mount', '-t', 'proc', 'proc', proc_dir], check=True)\n"
    "trace = seccomp_gen.record(sys.argv[4:], **options)\n"
    "seccomp_gen.dump_trace(trace, out)\n"
)


@dataclass(frozen=True)
class Recorded:
    """A finished recording: the trace read back from ``path``, the workload's output (the
    recorder writes nothing to stdout), and how long the recording took."""

    trace: Trace
    path: Path
    stdout: str
    stderr: str
    seconds: float


def record_in_child(cmd: list[str], out: Path, *, backend: str | None = None,
                    pin: bool | None = None, known: str | os.PathLike[str] | None = None,
                    cwd: str | os.PathLike[str] | None = None, env: dict[str, str] | None = None,
                    proc_dir: str | None = None, timeout: float = TIMEOUT) -> Recorded:
    """``seccomp_gen.record(cmd, backend=, pin=, known=)`` in a helper process, the trace
    written to ``out``; the library's defaults for what is not given.

    ``env``: the whole environment of the helper and so of the workload (this interpreter's
    ``PYTHON*`` variables are added, so that the helper imports this seccomp_gen). ``proc_dir``:
    record in a private mount namespace (``unshare -m``) with proc mounted at ``proc_dir``, as a
    container runtime mounts it; the mount goes away with the namespace.
    """
    options = {k: v for k, v in (("backend", backend), ("pin", pin),
                                 ("known", None if known is None else os.fspath(known)))
               if v is not None}
    argv = [PYTHON, "-c", _RECORD_SCRIPT, str(out), json.dumps(options), proc_dir or "", *cmd]
    if proc_dir:
        unshare = shutil.which("unshare")
        assert unshare, "unshare is not installed: apt-get install util-linux"
        argv = [unshare, "-m", "--propagation", "private", *argv]
    if env is not None:
        env = {**{k: v for k, v in os.environ.items() if k.startswith("PYTHON")}, **env}
    start = time.monotonic()
    res = run(argv, cwd=cwd, env=env, timeout=timeout)
    seconds = time.monotonic() - start
    stderr = res.stderr.decode(errors="replace")
    assert res.returncode == 0 and out.exists(), f"recording {cmd} failed:\n{stderr[-3000:]}"
    return Recorded(load_trace(out), out, res.stdout.decode(errors="replace"), stderr, seconds)


def record_api(cmd: list[str], tmp_path: Path, *, name: str = "api", backend: str | None = None,
               pin: bool | None = None, known: str | os.PathLike[str] | None = None) -> Trace:
    """:func:`record_in_child` into ``tmp_path/NAME.trace.json``, run in ``tmp_path``; the
    trace."""
    return record_in_child(cmd, tmp_path / f"{name}.trace.json", backend=backend, pin=pin,
                           known=known, cwd=tmp_path).trace


def record_cli(cmd: list[str], out: Path, *, backend: str,
               known: str | os.PathLike[str] | None = None,
               cwd: str | os.PathLike[str] | None = None) -> subprocess.CompletedProcess[bytes]:
    """``seccomp-gen record -q --backend BACKEND [--known KNOWN] -o OUT -- CMD`` (the CLI, for
    what it adds: argument parsing, the exit status, its one-line errors)."""
    extra = [] if known is None else ["--known", os.fspath(known)]
    return cli("record", "-q", "--backend", backend, *extra, "-o", out, "--", *cmd, cwd=cwd)


def counts_of(trace: Trace) -> Counter[tuple[str, str]]:
    """How often each (arch, name) was called."""
    return Counter({(r.arch, r.name): r.count for r in trace.syscalls})


def comparable(trace: Trace, skip: frozenset[str] = frozenset()) -> dict[str, object]:
    """All of a trace that does not depend on pids or timing (``skip``: syscalls whose count
    depends on thread scheduling): what two loops of one backend must agree on."""
    return {
        "exit": trace.header.exit,
        "syscalls": {(r.arch, r.name): (r.nr, r.count, r.processes, r.first_exe, r.exes, r.args)
                     for r in trace.syscalls if r.name not in skip},
        "args": {(r.arch, r.name): r.args for r in trace.syscalls},
        "sites": {(r.arch, r.name): (r.sites, r.sites_other) for r in trace.syscalls
                  if r.name not in skip},
        "processes": [(p.exes, p.threads, p.exit) for p in trace.processes],
        "exes": {e.exe: (e.processes, {k: v for k, v in e.syscalls.items() if k[1] not in skip})
                 for e in trace.exes},
    }


def drop_syscall(trace_path: Path, out: Path, arch: str, name: str) -> Path:
    """A copy of a trace file without the record of (arch, name), which it must hold: as a
    ``--known`` or ``--profile`` file, a profile lacking that one call."""
    doc = json.loads(trace_path.read_text())
    before = len(doc["syscalls"])
    doc["syscalls"] = [s for s in doc["syscalls"] if (s["arch"], s["name"]) != (arch, name)]
    assert len(doc["syscalls"]) == before - 1, f"{arch} {name} not in {trace_path}"
    for exe in doc["exes"]:
        exe["syscalls"] = [s for s in exe["syscalls"] if (s["arch"], s["name"]) != (arch, name)]
    out.write_text(json.dumps(doc))
    return out


def trace_names(trace_path: Path) -> set[tuple[str, str]]:
    """The (arch, name) pairs a trace file holds, read as plain JSON."""
    doc = json.loads(trace_path.read_text())
    return {(s["arch"], s["name"]) for s in doc["syscalls"]}
