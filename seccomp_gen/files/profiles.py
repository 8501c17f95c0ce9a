"""Read any profile-like file as a :class:`~seccomp_gen.profile.Profile`: the one profile reader.

``diff``, ``run``, ``check``, ``record --known``, ``import`` and :func:`seccomp_gen.sandbox` read a
trace, an OCI/Docker JSON profile, an LXC v2 policy or a generated Python table here, so a file
gets one verdict whichever command reads it: read within the input cap, sniffed, every field
checked by its format's reader, and names libseccomp does not know left out and listed as skipped
(:func:`drop_unknown`), as runc ignores them. A trace becomes the profile that allows exactly what
it recorded. Writing (:func:`write_profile`) emits, reads back and compiles before anything is
written. See docs/formats/README.md.
"""

from __future__ import annotations

import os
import re
from dataclasses import replace
from typing import TYPE_CHECKING

from ..errors import SeccompGenError
from ..jsontext import loads_json
from ..model import TRACE_FORMAT
from ..safetext import is_syscall_name
from .inputs import read_data, source_name

if TYPE_CHECKING:
    from ..formats import oci
    from ..profile import Profile
    from ..synthesize import Policy

#: How every trace seccomp-gen writes begins: such a file is read as a trace without first
#: decoding all of it as plain JSON (a big trace's JSON tree is several times its size).
_TRACE_HEAD = re.compile(r'\s*\{\s*"format"\s*:\s*"' + TRACE_FORMAT + '"')


def kind_of(text: str) -> str:
    """``trace`` or a profile format's name (:func:`seccomp_gen.formats.sniff`) from the first
    bytes; raises a one-line error for what is plainly none of them (a JSON array, an LXC policy
    of another version)."""
    if _TRACE_HEAD.match(text):
        return "trace"
    from ..formats import TEXT_NAMES, sniff

    kind = sniff(text)
    # A unit file may begin with "[Service]"; text no format claims (the fallback) may not.
    if kind == TEXT_NAMES[-1] and text.lstrip().startswith("["):
        raise SeccompGenError("a JSON array, not a profile or trace (a profile is a JSON object)")
    return kind


def profile_from_text(text: str, source: str, trace_policy: Policy | None = None, *,
                      arch: str | None = None,
                      caps: frozenset[str] = frozenset()) -> tuple[Profile, str]:
    """The profile in ``text`` (read from ``source``) and its kind; see :func:`load_profile`.
    ``arch``: the host Docker's ``includes.arches`` selectors are resolved for (``import
    --arch``; default: this machine's); ``caps``: capabilities added to Docker's default set."""
    if not text.strip():
        raise SeccompGenError("empty file, not a profile or trace", path=source)
    try:
        kind = kind_of(text)
    except SeccompGenError as exc:
        exc.path = source
        raise
    # Readers are imported by kind, since ``record --known`` pays for them at start-up: a trace
    # needs no emitter, a profile no synthesizer.
    if kind == "oci":
        doc = loads_json(text, source)
        if not isinstance(doc, dict):
            raise SeccompGenError(f"a JSON {type(doc).__name__}, not a profile or trace",
                                  path=source)
        if doc.get("format") != TRACE_FORMAT:
            from ..formats import oci

            return drop_unknown(oci.from_json(doc, source, host=docker_host(arch, caps))), "oci"
        from ..formats import tracefile

        trace = tracefile.from_json(doc, source)  # a trace with its keys in another order
    elif kind == "trace":
        from ..formats import tracefile

        trace = tracefile.loads(text, source)
    else:
        from ..formats import parse

        return drop_unknown(parse(text, kind, source)), kind
    from ..synthesize import Policy, synthesize

    return drop_unknown(synthesize(trace, trace_policy or Policy(args="none"))), "trace"


#: The most of a binary file the profile readers read: 1 MiB, far more than a raw BPF program
#: the kernel loads (4096 instructions of 8 bytes), so that a longer one is named as such.
BINARY_LIMIT = 2**20


def profile_from_data(data: str | bytes, source: str, trace_policy: Policy | None = None, *,
                      arch: str | None = None,
                      caps: frozenset[str] = frozenset()) -> tuple[Profile, str]:
    """:func:`profile_from_text` for text; for binary data (as :func:`~.inputs.read_data`
    returns it), the compiled format it is (:func:`~seccomp_gen.formats.sniff_bytes`), read
    back by :func:`profile_from_bpf`; a one-line error for any other binary file."""
    if isinstance(data, str):
        return profile_from_text(data, source, trace_policy, arch=arch, caps=caps)
    from ..formats import sniff_bytes

    try:
        kind = sniff_bytes(data)
    except SeccompGenError as exc:
        exc.path = source
        raise
    if kind is None:
        nul = data.find(b"\0")
        try:
            data.decode()
            bad = nul
        except UnicodeDecodeError as exc:
            bad = min(exc.start, nul) if nul >= 0 else exc.start
        what = "a NUL byte" if bad == nul else "not UTF-8"
        raise SeccompGenError(f"byte {bad}: {what}: binary data, and not a seccomp BPF program "
                              "(one begins by loading the arch), not a profile or trace",
                              path=source)
    return profile_from_bpf(data, source), kind


def profile_from_bpf(data: bytes, source: str) -> Profile:
    """The profile a raw BPF program means, found by running it (libseccomp's simulator) on
    every number of every ABI libseccomp knows (below 1024, as the proof does), argument rules
    read from the tests on each path and kept only where the proof agrees with the program:
    see :func:`seccomp_gen.formats.bpf.to_profile`, and docs/formats/bpf.md."""
    from ..formats.bpf import check_size, to_profile
    from ..libseccomp import ARCH_BY_NAME, Simulator, name_table, prove

    check_size(data, source)
    try:
        sim = Simulator(data)
        tables: dict[str, dict[int, str]] = {}
        gaps: dict[str, list[int]] = {}
        for arch in sorted(ARCH_BY_NAME):
            # An ABI the program kills whatever the number is not listed (x32 shares
            # x86_64's AUDIT_ARCH: it is told by its numbers).
            if arch != "x32" and sim.outcomes(arch, None) == {("kill", None)}:
                continue
            table = {nr: name for (_, nr), name in name_table([arch]).items()}
            if not table:
                continue
            tables[arch] = table
            bit = min(table) & ~0x3FF
            gaps[arch] = [nr for nr in range(bit, max(table)) if nr not in table]
        refuse: frozenset[tuple[str, str]] = frozenset()
        while True:
            profile = to_profile(sim.outcomes, tables, gaps, source, len(data) // 8,
                                 sim.paths, refuse)
            read = {(a, r.name) for r in profile.rules if r.conditions for a in r.arches}
            wrong = {(m.call[0], m.name or "") for m in prove(profile, data)} & read
            if not wrong:
                return profile
            refuse |= wrong  # argument rules the program does not bear out: not recoverable
    except SeccompGenError as exc:
        exc.path = exc.path or source
        raise
    except ValueError as exc:  # a rule the model refuses (two verdicts' conditions...)
        raise SeccompGenError(f"the BPF program cannot be read as a profile: {exc}",
                              path=source) from None


def docker_host(arch: str | None = None, caps: frozenset[str] = frozenset()) -> oci.DockerHost:
    """This machine, for Docker's ``includes``/``excludes``: its arch (or ``arch``, for a
    profile meant for another host) and kernel release, as moby resolves them when it starts a
    container here (the formats read nothing from the machine themselves); ``caps``:
    capabilities added to Docker's default set (``--cap-add``)."""
    from ..formats import oci
    from ..linux.host import host_arch, kernel_release

    return oci.DockerHost(arch=arch or host_arch(), release=kernel_release(),
                          caps=oci.DOCKER_DEFAULT_CAPS | caps)


def load_program(path: str | os.PathLike[str], trace_policy: Policy | None = None, *,
                 caps: frozenset[str] = frozenset()) -> tuple[Profile, str, bytes | None]:
    """:func:`load_profile`, and for a raw BPF program its bytes as well: what ``run`` loads
    as it is: a read-back profile may lack argument rules it could not follow."""
    data = read_data(path, "a profile or trace", BINARY_LIMIT)
    profile, kind = profile_from_data(data, source_name(path), trace_policy, caps=caps)
    return profile, kind, data if isinstance(data, bytes) else None


def load_profile(path: str | os.PathLike[str], trace_policy: Policy | None = None, *,
                 caps: frozenset[str] = frozenset()) -> tuple[Profile, str]:
    """Load a trace or profile file (``-``: standard input); returns the profile and what kind
    of file it was (``trace``, ``oci``, ``lxc``, ``python``).

    A trace becomes the profile ``trace_policy`` synthesizes (default: names only, no argument
    conditions); ``diff`` passes generate's policy so that a trace and the profile generated
    from it compare equal on the arches the trace recorded. (An OCI file allows every name on
    every listed arch, so against OCI they differ on the other arches: use ``diff --arch``.)
    ``caps``: Docker's ``includes``/``excludes`` are read for a container with these
    capabilities added to Docker's default set."""
    profile, kind, _ = load_program(path, trace_policy, caps=caps)
    return profile, kind


#: How :func:`drop_unknown` says why it left a rule out.
UNKNOWN_NAME = "does not know this syscall; the rule was left out"


def one_family(profile: Profile, arch: str) -> Profile:
    """A profile for several kernels (Docker's lists every arch it knows, with an archMap that
    picks the host's) restricted to the family of ``arch``, as Docker does on that host: one
    libseccomp filter cannot hold arches of different kernels."""
    from ..profile import normalize
    from ..syscalls.arches import family_of

    family = family_of(arch)
    if all(a in family for a in profile.architectures):
        return profile
    left = [a for a in profile.architectures if a not in family]
    keep = tuple(a for a in profile.architectures if a in family)
    if not keep:
        raise SeccompGenError(f"the profile has no rules for {arch}",
                              hint=f"it lists {', '.join(profile.architectures)}; give --arch")
    rules = tuple(replace(r, arches=tuple(a for a in r.arches if a in family))
                  for r in profile.rules if any(a in family for a in r.arches))
    note = (f"imported for {', '.join(keep)} (the {family[0]} kernel); left out: "
            f"{', '.join(left)}")
    return normalize(replace(profile, architectures=keep, rules=rules,
                             notes=(*profile.notes, note),
                             skipped=tuple(s for s in profile.skipped if s.arch in family)))


def skipped_summary(profile: Profile) -> str | None:
    """One line naming the rules :func:`drop_unknown` left out, or None."""
    names = sorted({s.name for s in profile.skipped if s.reason.endswith(UNKNOWN_NAME)})
    if not names:
        return None
    shown = ", ".join(names[:8]) + (f" and {len(names) - 8} more" if len(names) > 8 else "")
    return (f"rules for {len(names)} syscall name(s) libseccomp does not know were left out "
            f"({shown}), as runc ignores them")


def drop_unknown(profile: Profile) -> Profile:
    """Take out rules for names this libseccomp does not know on an arch (a profile written
    for a newer library, such as Docker's ``getxattrat``), each listed as skipped with the
    reason, and arches it does not know, with a note: libseccomp would refuse the whole
    profile otherwise. This is the one rule for unknown names, for every command."""
    from ..libseccomp import arch_token, syscall_number
    from ..libseccomp import version as libseccomp_version
    from ..profile import Rule, Skipped, normalize

    rules: list[Rule] = []
    skipped: list[Skipped] = []
    notes: list[str] = []
    version = libseccomp_version()
    arches = []
    for arch in profile.architectures:
        try:
            arch_token(arch)
            arches.append(arch)
        except SeccompGenError:
            notes.append(f"architecture {arch} is unknown to libseccomp {version}; left out")
    for r in profile.rules:
        if not is_syscall_name(r.name):
            # Readers refuse these; one that a program built is refused here, not skipped.
            raise SeccompGenError(f"not a syscall name: {r.name[:80]!r}")
        keep = []
        for arch in r.arches:
            if arch not in arches:
                continue
            try:
                known = syscall_number(arch, r.name) != -1
            except (SeccompGenError, ValueError, OSError):
                known = False
            if known:
                keep.append(arch)
            else:
                skipped.append(Skipped(arch, r.name, f"libseccomp {version} {UNKNOWN_NAME}"))
        if keep:
            rules.append(replace(r, arches=tuple(keep)))
    if not skipped and not notes:
        return profile
    return normalize(replace(profile, architectures=tuple(arches), rules=tuple(rules),
                             notes=profile.notes + tuple(notes),
                             skipped=profile.skipped + tuple(skipped)))


# --- writing -------------------------------------------------------------------------------------


def _verdicts(p: Profile) -> tuple[object, ...]:
    """What a filter made from ``p`` does, per arch (comments, provenance and how rules are
    grouped aside: an observed call that is also in the runtime's baseline is two rules in the
    model, with two comments, and one in a file that has no comments per rule)."""
    return (p.default_verdict, p.architectures,
            sorted({(r.name, a, r.action, -1 if r.errno is None else r.errno, r.conditions)
                    for r in p.rules for a in r.arches}))


def profile_text(profile: Profile, fmt: str, output: str, *,
                 docker: bool = False) -> tuple[Profile, str | bytes]:
    """Emit and prove: the profile that will be written and the text of its file (the bytes,
    for a compiled format).

    Names libseccomp does not know are left out and listed as skipped (the one rule of
    :func:`drop_unknown`), never written raw; the text must read back
    as exactly the rules of the profile (a defence against anything that could add a rule
    through a name or a comment), and libseccomp must accept what it says."""
    from ..formats import as_written, emit, parse, resolve
    from ..libseccomp import export_bpf, prove, tuned, validate

    profile = tuned(drop_unknown(profile))
    f = resolve(fmt, docker)
    meant = as_written(profile, fmt, docker=docker)
    text: str | bytes
    if f.compiled:
        program = text = export_bpf(profile, enosys=f.enosys)
        _check_compiled_read_back(meant, profile_from_bpf(program, output), fmt, output)
    else:
        text = emit(profile, fmt, docker=docker, output=output)
        # Check what the file says, read back, not the model: that also proves the emitter.
        back = parse(text, fmt, output)
        if _verdicts(back) != _verdicts(meant):
            raise SeccompGenError(f"the {fmt} text does not read back as the profile it was "
                                  "made from; nothing was written", path=output,
                                  hint="this is a bug in seccomp-gen: please report it")
        validate(back)
        program = export_bpf(back, enosys=f.enosys)
    # What the consumer will load (the file, compiled, behind the consumer's own ENOSYS stub
    # if it adds one) must do what the profile means.
    wrong = prove(meant, program, enosys=f.enosys)
    if wrong:
        raise SeccompGenError(f"the compiled {fmt} filter does not do what the profile says "
                              f"({len(wrong)} call{'s' if len(wrong) != 1 else ''}, e.g. "
                              f"{wrong[0].text()}); nothing was written", path=output,
                              hint="this is a bug in seccomp-gen or libseccomp: please report it")
    return profile, text


def _check_compiled_read_back(meant: Profile, back: Profile, fmt: str, output: str) -> None:
    """A compiled file read back (:func:`profile_from_bpf`) must say what ``meant`` says; a
    call whose argument rules could not be read back comes back as skipped, and only a call
    that has argument rules may."""
    from ..formats.bpf import ARGS_NOT_RECOVERABLE
    from ..profile import normalize

    conditional = {(a, r.name) for r in meant.rules if r.conditions for a in r.arches}
    opaque = {(s.arch, s.name) for s in back.skipped if s.reason.endswith(ARGS_NOT_RECOVERABLE)}
    plain = normalize(replace(meant, rules=tuple(
        replace(r, arches=tuple(a for a in r.arches if (a, r.name) not in opaque))
        for r in meant.rules if any((a, r.name) not in opaque for a in r.arches))))
    if _verdicts(back) != _verdicts(plain) or not opaque <= conditional:
        raise SeccompGenError(f"the compiled {fmt} program does not read back as the profile "
                              "it was made from; nothing was written", path=output,
                              hint="this is a bug in seccomp-gen or libseccomp: please report it")


def oci_form(text: str, source: str, *, rewrite: bool = False) -> tuple[bool, bool]:
    """For the text of an OCI file: (Docker's form, with ``archMap``; a runtime's whole
    config.json), the form ``check --update`` writes back. ``rewrite``: a config.json is to be
    rewritten, so a key given twice in it (one would be lost) is refused now, before any work."""
    from ..formats import oci

    doc = loads_json(text, source)
    config = oci.is_runtime_config(doc)
    if config and rewrite:
        loads_json(text, source, unique_keys=True)
    seccomp = oci.seccomp_object(doc)
    return isinstance(seccomp, dict) and "archMap" in seccomp, config


def write_profile(profile: Profile, fmt: str, output: str, *, docker: bool = False,
                  config: str | None = None) -> Profile:
    """Emit, prove (:func:`profile_text`) and write atomically; nothing is written if any
    step fails. Returns the profile written.

    ``config``: the text of the runtime's config.json that ``output`` holds (``fmt`` is then
    ``oci``): only its ``linux.seccomp`` is replaced, the rest written back as it was
    (:func:`~seccomp_gen.formats.oci.with_seccomp`), and the whole file must read back as the
    profile."""
    written, text = profile_text(profile, fmt, output, docker=docker)
    if config is not None:
        import json

        from ..formats import oci

        seccomp = json.loads(text)  # our own output, just proven
        text = oci.with_seccomp(config, seccomp, output)
        if _verdicts(oci.parse(text, output)) != _verdicts(oci.from_json(seccomp, output)):
            raise SeccompGenError("the config.json does not read back as the profile; nothing "
                                  "was written", path=output,
                                  hint="this is a bug in seccomp-gen: please report it")
    from .atomic import write_atomic

    write_atomic(output, text)
    return written
