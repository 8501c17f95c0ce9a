"""What ``record`` imports before it runs a workload, in a fresh interpreter that records for real
(what the other commands import: tests/unit/test_startup.py)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from helpers.backends import needs
from helpers.cli import PYTHON
from helpers.imports import OTHER_BACKENDS, OTHER_COMMANDS, TIMEOUT, imported, modules_after

_RECORD = """
from seccomp_gen import cli
status = cli.main({argv!r})
assert status == 0, status
"""


@pytest.mark.live
@needs("seccomp")
@pytest.mark.parametrize("known", ["", "trace", "oci"])
def test_record_imports_only_what_it_uses(known: str, tmp_path: Path) -> None:
    """``record -q`` (default backend) imports no other backend and no rich; with --known a
    trace needs no emitter and an OCI profile no synthesizer."""
    base = tmp_path / "base.json"
    subprocess.run([PYTHON, "-m", "seccomp_gen", "record", "-q", "-o", str(base), "--",
                    "/bin/true"], check=True, timeout=TIMEOUT)
    argv = ["record", "-q", "-o", str(tmp_path / "x.json")]
    if known == "trace":
        argv += ["--known", str(base)]
    elif known == "oci":
        oci = tmp_path / "base.oci.json"
        subprocess.run([PYTHON, "-m", "seccomp_gen", "generate", str(base), "-o", str(oci)],
                       check=True, timeout=TIMEOUT, capture_output=True)
        argv += ["--known", str(oci)]
    argv += ["--", "/bin/true"]
    seen = modules_after(_RECORD.format(argv=argv))
    never = ["rich", *OTHER_BACKENDS, *OTHER_COMMANDS, "seccomp_gen.enforce",
             "seccomp_gen.recorders.inprocess", "seccomp_gen.formats.strace"]
    if known != "oci":
        never.append("seccomp_gen.formats.oci")
    if known != "trace":
        never.append("seccomp_gen.synthesize")
    assert imported(seen, tuple(never)) == []
    assert "seccomp_gen.recorders.seccomp" in seen
    trace = json.loads((tmp_path / "x.json").read_text())
    assert trace["header"]["backend"] == "seccomp"
    if known:
        assert any("known syscalls were not recorded" in n for n in trace["header"]["notes"])


#: What ``seccomp-gen record -q`` (the command as started, through ``cli.entry``) no longer
#: imports at all: each cost a millisecond or more of every start-up (README, "Start-up").
NOT_AT_START = ("inspect", "ast", "dis", "tokenize", "pathlib", "tempfile", "shutil", "socket",
                "datetime", "subprocess", "ctypes.util", "rich", "seccomp_gen.profile",
                "seccomp_gen.proof", "seccomp_gen.linux.cbpf")


def _timed_imports(*args: str) -> set[str]:
    """The modules ``python -X importtime ARGS`` names (it exits 0)."""
    res = subprocess.run([PYTHON, "-X", "importtime", *args], capture_output=True, text=True,
                         timeout=TIMEOUT, check=False)
    assert res.returncode == 0, res.stderr[-2000:]
    return {line.split("|")[-1].strip() for line in res.stderr.splitlines()
            if line.startswith("import time:")}


@pytest.mark.live
@needs("seccomp")
def test_record_command_skips_the_costly_modules(tmp_path: Path) -> None:
    """Every module ``python -X importtime -m seccomp_gen record -q`` imports is named on
    stderr; none of :data:`NOT_AT_START` is among them, and the trace is written."""
    out = tmp_path / "t.json"
    seen = _timed_imports("-m", "seccomp_gen", "record", "-q", "-o", str(out), "--", "/bin/true")
    seen -= _timed_imports("-c", "pass")  # the interpreter's own (an editable install's finder)
    # (importlib.import_module, which imports the backend, is not timed; its imports are.)
    assert {"seccomp_gen.recorders.session", "seccomp_gen.linux.host"} <= seen
    assert imported(seen, NOT_AT_START) == []
    assert json.loads(out.read_text())["header"]["exit"] == {"code": 0}


_RUN_OR_CHECK = """
from seccomp_gen import cli
status = cli.main({argv!r})
assert status in {statuses!r}, status
"""


@pytest.mark.live
@needs("seccomp")
@pytest.mark.parametrize("command", ["run", "check"])
def test_run_and_check_report_a_covered_workload_without_rich(command: str,
                                                              tmp_path: Path) -> None:
    """Nothing denied, nothing new: ``run`` and ``check`` print their one-line report without
    importing rich (~15 ms of their start-up); with something denied or new they still print
    their rich table / lines, and the report is the same line either way."""
    base, profile = tmp_path / "base.json", tmp_path / "p.json"
    subprocess.run([PYTHON, "-m", "seccomp_gen", "record", "-q", "-o", str(base), "--",
                    "/bin/true"], check=True, timeout=TIMEOUT)
    subprocess.run([PYTHON, "-m", "seccomp_gen", "generate", str(base), "-o", str(profile)],
                   check=True, timeout=TIMEOUT, capture_output=True)
    argv = [command, "--profile", str(profile), "--", "/bin/true"]
    seen = modules_after(_RUN_OR_CHECK.format(argv=argv, statuses=(0,)))
    assert imported(seen, ("rich",)) == []
    res = subprocess.run([PYTHON, "-m", "seccomp_gen", *argv], capture_output=True, text=True,
                         timeout=TIMEOUT, check=False)
    line = (f"0 violations of {profile} (enforce mode); command exit 0" if command == "run"
            else f"{profile} covers every syscall of: /bin/true")
    assert (res.returncode, res.stderr) == (0, line + "\n")
    # /bin/ls needs what /bin/true did not: a denial (run) or a new syscall (check), in rich.
    argv[-1] = "/bin/ls"
    # (run: ls dies of the denials, SIGSEGV here; check: exit 1, new syscalls)
    statuses = (1,) if command == "check" else tuple(range(1, 256))
    seen = modules_after(_RUN_OR_CHECK.format(argv=argv, statuses=statuses))
    assert "rich.console" in seen
