"""Parametrizing a test over the recording backends, each skipped with its own reason where it
cannot run on this machine."""

from __future__ import annotations

from typing import Any

import pytest

from seccomp_gen.recorders import BACKENDS, supports_known, unavailable_reasons


def backend_params(known_too: bool = False) -> list[Any]:
    """One parameter (backend, known) per recording backend (and, with ``known_too``, per
    backend that honours ``--known`` with a covering profile)."""
    reasons = unavailable_reasons()
    params = []
    for name in BACKENDS:
        skip = pytest.mark.skipif(reasons[name] is not None, reason=f"{name}: {reasons[name]}")
        params.append(pytest.param(name, False, marks=skip, id=name))
        if known_too and supports_known(name):
            params.append(pytest.param(name, True, marks=skip, id=f"{name}-known"))
    return params


def backend_variants(known_only: bool = False) -> list[Any]:
    """(backend, notify supervisor) for every recording backend (``known_only``: every one that
    honours a known profile, so also ``check``), notify once per supervisor loop (``c``,
    ``python``; "" for the others)."""
    reasons = unavailable_reasons()
    params = []
    for name in BACKENDS:
        if known_only and not supports_known(name):
            continue
        skip = pytest.mark.skipif(reasons[name] is not None, reason=f"{name}: {reasons[name]}")
        for supervisor in (("c", "python") if name == "notify" else ("",)):
            params.append(pytest.param(name, supervisor, marks=skip,
                                       id=f"{name}-{supervisor}" if supervisor else name))
    return params


def needs(*backends: str) -> pytest.MarkDecorator:
    """Skip where one of ``backends`` cannot run on this machine, with the backend's own
    reason (the kernel or machine lacks what it needs)."""
    reasons = unavailable_reasons()
    missing = [f"{b}: {reasons[b]}" for b in backends if reasons[b] is not None]
    return pytest.mark.skipif(bool(missing), reason="; ".join(missing) or "available")
