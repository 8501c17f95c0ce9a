"""Whether seccomp-gen finds a C compiler for its helpers (``_native``): tests that build one
are skipped, saying why, where it finds none."""

from __future__ import annotations

import pytest

from seccomp_gen._native import build as _native
from seccomp_gen.errors import SeccompGenError


def _no_compiler() -> str | None:
    try:
        _native.find_compiler()
    except SeccompGenError as exc:
        return exc.message
    return None


NO_CC = _no_compiler()
needs_cc = pytest.mark.skipif(NO_CC is not None, reason=f"no C compiler: {NO_CC}")
