"""A table of bad files, and the check that a command refuses each one in one line and writes
nothing (issue 11, item 5). The commands run as a user runs them, in a fresh interpreter each (two
at a time, each with a timeout after which its process group is SIGKILLed)."""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from helpers.cli import cli_text
from helpers.paths import LS_TRACE


def _ls() -> dict[str, object]:
    doc: dict[str, object] = json.loads(LS_TRACE.read_text())
    return doc


def _edited(**header: object) -> str:
    doc = _ls()
    assert isinstance(doc["header"], dict)
    doc["header"].update(header)
    return json.dumps(doc)


def _injected() -> str:
    doc = _ls()
    syscalls = doc["syscalls"]
    assert isinstance(syscalls, list)
    syscalls.append({**syscalls[0], "name": "read\n[x86_64]\nptrace", "nr": 999})
    return json.dumps(doc)

#: name -> file content (bytes or text); None: the file does not exist; "DIR": a directory.
BAD: dict[str, bytes | str | None] = {
    "missing": None,
    "directory": "DIR",
    "empty": "",
    "binary": b"\x7fELF\x02\x01\x01\x00" + bytes(64),
    "not-utf8": b'{"format": "seccomp-gen-trace", "x": "\xff\xfe"}',
    "truncated": LS_TRACE.read_text()[:700],
    "deep": '{"a": ' + "[" * 100_000,
    "digits": LS_TRACE.read_text().replace('"count": 2,', '"count": ' + "9" * 5001 + ",", 1),
    "nan": _edited(duration_s=float("nan")),
    "json-array": "[1, 2, 3]",
    "lxc-v3": "3\nallowlist\n[x86_64]\nread\n",
    "wrong-type": _edited(command="ls -la"),
    "injected-name": _injected(),
    "python-errno": "DEFAULT_ACTION = 'errno'\nDEFAULT_ERRNO = 'one'\nARCHITECTURES = "
                    "('x86_64',)\nRULES = ()\n",
    "too-big": LS_TRACE.read_text(),  # with SECCOMP_GEN_MAX_INPUT=1K
    # a raw BPF program (``ld [4]`` first) cut short in its second instruction
    "bpf-truncated": b"\x20\x00\x00\x00\x04\x00\x00\x00\x15\x00\x01",
}


def make(tmp: Path, name: str) -> Path:
    """The bad file ``name`` of :data:`BAD`, made in ``tmp``."""
    path = tmp / f"bad-{name}"
    content = BAD[name]
    if content == "DIR":
        path.mkdir()
    elif isinstance(content, bytes):
        path.write_bytes(content)
    elif isinstance(content, str):
        path.write_text(content)
    return path


def assert_bad_files_refused(tmp_path: Path, argv_template: list[str], status: int) -> None:
    """Run ``argv_template`` ({} the bad file, {out} an output path) on every file of
    :data:`BAD`: one ``seccomp-gen: error:`` line, exit ``status``, no traceback, nothing
    written."""
    jobs = []
    for name in BAD:
        bad = make(tmp_path, name)
        out = tmp_path / f"out-{name}"
        argv = [a.replace("{}", str(bad)).replace("{out}", str(out)) for a in argv_template]
        env = dict(os.environ)
        if name == "too-big":
            env["SECCOMP_GEN_MAX_INPUT"] = "1K"
        jobs.append((name, out, argv, env))
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda j: cli_text(*j[2], env=j[3]), jobs))
    problems = []
    for (name, out, _argv, _env), res in zip(jobs, results, strict=True):
        lines = res.stderr.strip().splitlines()
        if (res.returncode != status or len(lines) != 1
                or not lines[0].startswith("seccomp-gen: error:") or "Traceback" in res.stderr
                or out.exists()):
            problems.append(f"{name}: exit {res.returncode}, output written: {out.exists()}, "
                            f"stderr: {res.stderr[-600:]!r}")
    assert not problems, "\n".join(problems)
