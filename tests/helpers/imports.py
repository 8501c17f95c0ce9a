"""Which modules a fresh interpreter has imported after some code: what a command loads before it
runs a workload (no timings, only ``sys.modules``)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from seccomp_gen import cli
from seccomp_gen.recorders import _IMPLEMENTATIONS

PYTHON = sys.executable
TIMEOUT = 60

#: Imported by no command before it needs them.
HEAVY = ("rich", "pyseccomp", "ptrace", "seccomp_gen.enforce", "seccomp_gen.libseccomp",
         "seccomp_gen.formats.strace", "seccomp_gen.formats.oci", "seccomp_gen.formats.lxc",
         "seccomp_gen.formats.python_table", "seccomp_gen.synthesize")

#: Every command module but ``record``'s own.
OTHER_COMMANDS = tuple(f"seccomp_gen.cli.{c.module}" for c in cli.COMMANDS if c.name != "record")

#: Backends other than the default one (the seccomp backend shares the ptrace backend's check
#: and session, so that one may be imported), and the modules only they use.
OTHER_BACKENDS = (*(f"seccomp_gen.recorders.{impl.module}" for name, impl in
                    _IMPLEMENTATIONS.items() if name not in ("seccomp", "ptrace")),
                  "seccomp_gen.linux.reaper", "seccomp_gen.recorders.audit_state")

_SEEN = """
import json, sys
{code}
print(json.dumps(sorted(sys.modules)))
"""


def modules_after(code: str, cwd: Path | None = None) -> set[str]:
    """The modules a fresh interpreter has imported after running ``code``."""
    res = subprocess.run([PYTHON, "-c", _SEEN.format(code=code)], capture_output=True,
                         timeout=TIMEOUT, check=False, cwd=cwd)
    assert res.returncode == 0, res.stderr.decode(errors="replace")
    return set(json.loads(res.stdout.decode().splitlines()[-1]))


def imported(modules: set[str], names: tuple[str, ...]) -> list[str]:
    """Which of ``names`` (or their submodules) are in ``modules``."""
    return sorted(m for m in modules if any(m == n or m.startswith(n + ".") for n in names))
