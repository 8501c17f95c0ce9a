"""Profile <-> file formats: OCI runtime-spec JSON (and Docker's form), LXC v2, a Python table.

Each format module has ``emit(profile) -> str`` and ``parse(text) -> Profile``. Emitters are thin
and pure: all decisions are in the :class:`~seccomp_gen.profile.Profile`; they never import
libseccomp, rich or ptrace (the generated Python module imports pyseccomp inside ``apply()``).
"""

from __future__ import annotations

from collections.abc import Callable

from ..errors import SeccompGenError
from ..profile import Profile
from . import lxc, oci, python_table

FORMATS: tuple[str, ...] = ("oci", "lxc", "python")


def emit(profile: Profile, fmt: str, *, docker: bool = False) -> str:
    """The profile in format ``fmt`` (``oci``, ``lxc`` or ``python``)."""
    if docker and fmt != "oci":
        raise SeccompGenError("--docker only applies to --format oci")
    if fmt == "oci":
        return oci.emit(profile, docker=docker)
    emitters: dict[str, Callable[[Profile], str]] = {
        "lxc": lxc.emit,
        "python": python_table.emit,
    }
    if fmt not in emitters:
        raise SeccompGenError(f"unknown format {fmt!r}", hint=f"use one of {', '.join(FORMATS)}")
    return emitters[fmt](profile)


def parse(text: str, fmt: str, source: str = "<profile>") -> Profile:
    """Read a profile written in format ``fmt`` back into the model."""
    parsers: dict[str, Callable[[str, str], Profile]] = {
        "oci": oci.parse,
        "lxc": lxc.parse,
        "python": python_table.parse,
    }
    if fmt not in parsers:
        raise SeccompGenError(f"unknown format {fmt!r}", hint=f"use one of {', '.join(FORMATS)}")
    return parsers[fmt](text, source)


def sniff(text: str) -> str:
    """Guess the format of a profile file from its first bytes."""
    head = text.lstrip()
    if head.startswith("{"):
        return "oci"
    if head.startswith("2\n") or head.startswith("2\r\n"):
        return "lxc"
    return "python"


__all__ = ["FORMATS", "emit", "lxc", "oci", "parse", "python_table", "sniff"]
