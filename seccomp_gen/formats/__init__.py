"""Profile file formats: one registry, and every command takes its choices from it.

A format is a module in this package with ``emit(profile) -> str``, ``parse(text, source) ->
Profile`` and ``sniff(text) -> bool`` (is this file mine? it may raise a one-line error for a
file that is plainly of another version), and one :class:`Format` line in :data:`FORMATS`. That
is all adding a format takes: ``generate --format``, ``import --format``, ``check --format``,
``record --profile FORMAT:FILE``, their help texts, ``import``'s "is this a profile?", and the
readers of ``diff``, ``run``, ``check`` and ``record --known`` all read this table. Modules are
imported when first used.

Formats are thin and pure: all decisions are in the :class:`~seccomp_gen.profile.Profile`;
they never import libseccomp, rich or ptrace. Traces have their own format module
(:mod:`.tracefile`), and the logs ``import`` reads theirs (:mod:`.strace`, and
:mod:`.auditlog` for the kernel's SECCOMP audit records): they are not profiles. One page per
format, and how to add one: docs/formats/.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, cast

from ..errors import SeccompGenError

if TYPE_CHECKING:  # the registry alone (``record``'s help) needs no profile model
    from ..profile import Profile


@dataclass(frozen=True)
class Format:
    """One profile format: its name, the module that reads and writes it, one line for help,
    the usual file suffix. ``emit`` names the module's emitter (one module may write several
    variants: Docker's form of OCI JSON); ``choice``: offered as ``--format NAME`` (Docker's form
    is ``--format oci --docker``)."""

    name: str
    module: str
    summary: str
    suffix: str
    #: What help texts call a file of this format, in lists of what a command reads.
    noun: str = ""
    emit: str = "emit"
    choice: bool = True
    #: Whether the text names the profile (Kubernetes' ``metadata.name``): the emitter then
    #: takes ``output=``, the path the text will be written to, and derives the name from it.
    named: bool = False
    #: Whether the file can say which arch a rule is for; OCI's cannot (runc and crun apply
    #: every rule to every listed arch), so it holds the :func:`~seccomp_gen.profile.widen`-ed
    #: profile and reads back as that.
    per_arch: bool = True
    #: How the format's consumer answers syscall numbers past the tables (one of
    #: ``libseccomp.ENOSYS_RULES``): ``profile``: runc's stub, ENOSYS above the highest number
    #: the profile names (crun adds none); ``none``: LXC loads libseccomp's program as it is;
    #: ``table``: seccomp-gen's own stub (the Python table's ``apply()``). The proof of a
    #: written file follows it.
    enosys: str = "table"
    #: A binary format compiled by libseccomp (raw BPF): ``files/profiles`` makes its bytes
    #: and reads them back (the module's ``sniff_bytes`` and ``to_profile``), since formats
    #: never import libseccomp; its ``sniff(text)`` is False.
    compiled: bool = False


#: The formats, in the order ``--help`` lists them and files are sniffed (the last text format
#: is the fallback for text no other format claims).
FORMATS: dict[str, Format] = {f.name: f for f in (
    Format("oci", "oci", "OCI runtime-spec linux.seccomp JSON (runc, crun, podman, Docker, "
           "Kubernetes' localhost profiles)", ".json", "OCI/Docker JSON", per_arch=False,
           enosys="profile"),
    Format("docker", "oci", "Docker's form of the OCI JSON, with archMap", ".json",
           emit="emit_docker", choice=False, per_arch=False, enosys="profile"),
    Format("lxc", "lxc", "LXC's version 2 policy (lxc.seccomp.profile)", ".seccomp",
           "LXC v2 policy", enosys="none"),
    Format("kubernetes", "kubernetes", "the security-profiles-operator's SeccompProfile "
           "resource (YAML)", ".yaml", "Kubernetes SeccompProfile", named=True, per_arch=False,
           enosys="profile"),
    Format("systemd", "systemd", "a systemd unit drop-in: SystemCallFilter=, "
           "SystemCallArchitectures=, SystemCallErrorNumber= (names only: argument rules are "
           "allowed by name)", ".conf", "systemd drop-in", per_arch=False, enosys="none"),
    Format("firejail", "firejail", "a firejail profile: seccomp.keep and protocol lines (names "
           "only: argument rules are allowed by name)", ".profile", "firejail profile",
           enosys="none"),
    Format("python", "python_table", "an importable Python module: the table and apply() "
           "(pyseccomp)", ".py", "Python table"),
    Format("bpf", "bpf", "the raw classic-BPF program libseccomp compiles (bwrap --seccomp FD, "
           "systemd-nspawn-style loaders)", ".bpf", "raw BPF program", compiled=True),
)}

#: The ``--format`` choices.
NAMES: tuple[str, ...] = tuple(name for name, f in FORMATS.items() if f.choice)
#: The text formats among the choices, in sniffing order (the last is the fallback).
TEXT_NAMES: tuple[str, ...] = tuple(name for name in NAMES if not FORMATS[name].compiled)


class _Module(Protocol):
    def parse(self, text: str, source: str) -> Profile: ...

    def sniff(self, text: str) -> bool: ...


class _Compiled(Protocol):
    def sniff_bytes(self, data: bytes) -> bool: ...


def _or_list(items: Sequence[str]) -> str:
    *rest, last = items
    return f"{', '.join(rest)} or {last}" if rest else last


def choices_text() -> str:
    """``oci, lxc, kubernetes or python``, for help texts and errors."""
    return _or_list(NAMES)


def kinds_text(*more: str) -> str:
    """What the profile readers accept, for help texts: ``OCI/Docker JSON, ..., Python table``
    and then ``more`` (``trace file``), the last joined with "or"."""
    return _or_list([FORMATS[name].noun or name for name in NAMES] + list(more))


def resolve(name: str, docker: bool = False) -> Format:
    """The format ``--format NAME [--docker]`` asks for; a one-line error for an unknown name
    or ``--docker`` with a format other than OCI."""
    if name not in NAMES:
        raise SeccompGenError(f"unknown format {name!r}", hint=f"use one of {', '.join(NAMES)}")
    if docker:
        if name != "oci":
            raise SeccompGenError("--docker only applies to --format oci")
        return FORMATS["docker"]
    return FORMATS[name]


def _module(fmt: Format) -> _Module:
    return cast(_Module, importlib.import_module(f"{__name__}.{fmt.module}"))


def emit(profile: Profile, fmt: str, *, docker: bool = False, output: str | None = None) -> str:
    """The profile as the text of format ``fmt``; ``output``: the file it is for, which a
    format that names its profile (:attr:`Format.named`) takes the name from."""
    f = resolve(fmt, docker)
    if f.compiled:
        raise SeccompGenError(f"the {fmt} format is compiled, not emitted as text")
    emitter: Callable[..., str] = getattr(_module(f), f.emit)
    return emitter(profile, output=output) if f.named else emitter(profile)


def as_written(profile: Profile, fmt: str, *, docker: bool = False) -> Profile:
    """The profile a file of format ``fmt`` holds, as it reads back: the module's
    ``expressed(profile)`` for a format that cannot say everything (names only: systemd,
    firejail), else the widened profile for a format that is not :attr:`Format.per_arch`."""
    f = resolve(fmt, docker)
    expressed: Callable[[Profile], Profile] | None = getattr(_module(f), "expressed", None)
    if expressed is not None:
        return expressed(profile)
    from ..profile import normalize, widen

    return normalize(profile) if f.per_arch else widen(profile)


def consumer_notes(profile: Profile, fmt: str) -> tuple[str, ...]:
    """What the consumers of format ``fmt`` do differently from what the profile says, or what
    the format cannot write (the module's ``consumer_notes``), one line each."""
    notes: Callable[[Profile], tuple[str, ...]] | None = getattr(
        _module(resolve(fmt)), "consumer_notes", None)
    return notes(profile) if notes is not None else ()


def parse(text: str, fmt: str, source: str = "<profile>") -> Profile:
    """Read a profile written in format ``fmt`` back into the model."""
    return _module(resolve(fmt)).parse(text, source)


def claims(text: str) -> bool:
    """Whether some profile format (the fallback's too) recognises ``text`` as its own; a file
    that one plainly recognises as another version of itself counts (its reader says why)."""
    try:
        return any(_module(FORMATS[name]).sniff(text) for name in NAMES)
    except SeccompGenError:
        return True


def sniff(text: str) -> str:
    """The format of a profile file, from its first bytes (the last format is the fallback);
    a one-line error for a file that is plainly another version of one."""
    for name in TEXT_NAMES[:-1]:
        if _module(FORMATS[name]).sniff(text):
            return name
    return TEXT_NAMES[-1]


def sniff_bytes(data: bytes) -> str | None:
    """The compiled format whose file ``data`` (binary: it has a NUL byte) is, or None; a
    one-line error for one plainly cut short."""
    for name in NAMES:
        fmt = FORMATS[name]
        if fmt.compiled and cast(_Compiled, _module(fmt)).sniff_bytes(data):
            return name
    return None


__all__ = ["FORMATS", "NAMES", "TEXT_NAMES", "Format", "as_written", "choices_text", "claims",
           "consumer_notes", "emit", "kinds_text", "parse", "resolve", "sniff", "sniff_bytes"]
