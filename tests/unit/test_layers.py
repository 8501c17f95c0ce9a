"""The import layers of ``pyproject.toml`` (``[tool.importlinter]``) hold, and can fail.

``.ci/run`` runs ``lint-imports`` too; these tests also plant one forbidden import of each kind
in a copy of the package and expect the linter to name it, so a contract that silently stopped
matching anything (a renamed package, a typo in a module name) fails here.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.paths import ROOT

LINT = Path(sys.executable).parent / "lint-imports"
TIMEOUT = 120

pytestmark = pytest.mark.skipif(not LINT.exists(), reason=f"import-linter not installed ({LINT})")


def _lint(cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(LINT), "--no-cache", "--no-logo"], cwd=cwd, capture_output=True,
                          text=True, timeout=TIMEOUT, check=False)


def test_the_package_keeps_every_contract() -> None:
    res = _lint(ROOT)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "BROKEN" not in res.stdout and "KEPT" in res.stdout


@pytest.mark.parametrize(("module", "line", "contract"), [
    ("merge.py", "from .cli import main", "One way down"),
    ("linux/procfs.py", "from ..formats import oci", "One way down"),
    ("formats/oci.py", "from ..libseccomp import version", "touch no kernel"),
    ("syscalls/argdecode.py", "import ctypes", "touch no kernel"),
    ("profile.py", "import rich", "touch no kernel"),
    ("files/atomic.py", "import seccomp_gen", "imports the public facade"),
    ("recorders/ptrace.py", "import pyseccomp", "only libseccomp imports pyseccomp"),
    ("cli/show.py", "import rich.text", "Only cli.console imports rich"),
], ids=lambda v: str(v).replace("/", "."))
def test_a_planted_import_breaks_its_contract(tmp_path: Path, module: str, line: str,
                                              contract: str) -> None:
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    shutil.copytree(ROOT / "seccomp_gen", tmp_path / "seccomp_gen",
                    ignore=shutil.ignore_patterns("__pycache__", "*.so"))
    target = tmp_path / "seccomp_gen" / module
    target.write_text(target.read_text() + f"\n{line}  # planted by the test\n")
    res = _lint(tmp_path)
    assert res.returncode != 0, res.stdout
    broken = res.stdout.split("Broken contracts", 1)[-1]
    assert contract.lower() in broken.lower(), res.stdout
