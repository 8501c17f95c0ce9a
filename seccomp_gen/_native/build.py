"""Compile a C helper of this package with the machine's compiler into the per-user cache.

Finding, trusting and loading a cached build is :mod:`.loader`'s (it runs at every start and
imports nothing costly); this module is imported only to compile. The build is written under a
temporary name and renamed into place, so concurrent first uses cannot load a half-written file.
A missing compiler or a failed build is a one-line :class:`SeccompGenError`.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from ..errors import SeccompGenError
from . import loader
from .loader import CFLAGS, Signature, find_compiler, load_library, source_text

__all__ = ["CFLAGS", "Signature", "build", "compile_into", "find_compiler", "load_library",
           "source_text"]

COMPILE_TIMEOUT = 120


def build(name: str, what: str, headers: Sequence[str] = ()) -> Path:
    """:func:`.loader.compiled` as a Path: the helper ``name`` (with the package ``headers`` it
    includes), compiled first if the cache lacks it."""
    return Path(loader.compiled(name, what, headers))


def compile_into(target: str, name: str, files: Sequence[tuple[str, str]], cc: Sequence[str],
                 what: str) -> None:
    """Compile ``name`` (``files``: it and its headers, as (file name, text)) with ``cc`` into
    ``target``, atomically."""
    directory = os.path.dirname(target)
    with tempfile.TemporaryDirectory(dir=directory, prefix=".build-") as tmp:
        for file_name, text in files:
            Path(tmp, file_name).write_text(text, encoding="utf-8")
        src = Path(tmp) / name
        out = Path(tmp) / os.path.basename(target)
        try:
            res = subprocess.run([*cc, *CFLAGS, "-o", str(out), str(src)], capture_output=True,
                                 text=True, timeout=COMPILE_TIMEOUT, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise SeccompGenError(f"cannot build {what}: {exc}") from None
        if res.returncode != 0 or not out.is_file():
            first = next((ln for ln in res.stderr.splitlines() if "error" in ln),
                         res.stderr.strip().splitlines()[0] if res.stderr.strip() else "")
            raise SeccompGenError(f"cannot build {what} with {cc[0]}: "
                                  f"{first or f'exit status {res.returncode}'}")
        os.chmod(out, 0o755)
        os.replace(out, target)

