"""Which container runtime, in which mode, a ``record --container`` command runs: the baseline a
profile of that container needs (``syscalls/baselines.py``), kept in the trace header so that
``generate --baseline auto`` picks it. Read from the command line and, for runc and crun, from
the bundle's config.json (``process.noNewPrivileges``)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from typing import Any

#: Reads a bundle's config.json (None when it cannot).
ConfigReader = Callable[[str], "dict[str, Any] | None"]


def read_config(bundle: str) -> dict[str, Any] | None:
    """``bundle``/config.json as JSON, or None."""
    try:
        with open(os.path.join(bundle, "config.json"), encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _value(argv: Sequence[str], i: int, names: tuple[str, ...]) -> str | None:
    """The value of option ``names`` at ``argv[i]`` (``-b X``, ``--bundle X``, ``--bundle=X``)."""
    word = argv[i]
    if word in names:
        return argv[i + 1] if i + 1 < len(argv) else None
    for name in names:
        if name.startswith("--") and word.startswith(name + "="):
            return word[len(name) + 1:]
    return None


def _bundle_nnp(rest: Sequence[str], cwd: str, read: ConfigReader) -> bool | None:
    """``process.noNewPrivileges`` of the bundle a runc/crun command line runs."""
    bundle = cwd
    for i in range(len(rest)):
        value = _value(rest, i, ("-b", "--bundle"))
        if value is not None:
            bundle = value if os.path.isabs(value) else os.path.join(cwd, value)
    config = read(bundle)
    if config is None:
        return None
    process = config.get("process")
    return bool(process.get("noNewPrivileges", False)) if isinstance(process, dict) else False


def _security_nnp(rest: Sequence[str]) -> bool:
    """``--security-opt no-new-privileges[=true]`` (docker, podman)."""
    for i in range(len(rest)):
        value = _value(rest, i, ("--security-opt",))
        if value in ("no-new-privileges", "no-new-privileges=true", "no-new-privileges:true"):
            return True
    return False


def runtime_baseline(argv: Sequence[str], cwd: str | None = None,
                     read: ConfigReader = read_config) -> str:
    """The baseline name for the runtime ``argv`` runs (a wrapper such as ``unshare ...``
    before it is looked through), or "" when it is none we know."""
    cwd = cwd or os.getcwd()
    for i, word in enumerate(argv):
        name = os.path.basename(word)
        rest = argv[i + 1:]
        if name in ("runc", "crun"):
            nnp = _bundle_nnp(rest, cwd, read)
            if nnp is None:
                return ""
            return f"{name}-nnp" if nnp else name
        if name == "docker":
            return "runc-nnp" if _security_nnp(rest) else "docker"
        if name == "podman":
            runtime = "crun"
            for j in range(len(rest)):
                value = _value(rest, j, ("--runtime",))
                if value is not None:
                    runtime = os.path.basename(value)
            if runtime not in ("runc", "crun"):
                return ""
            if _security_nnp(rest):
                return f"{runtime}-nnp"
            return "podman" if runtime == "runc" else "crun"
    return ""
