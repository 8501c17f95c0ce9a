"""Struct member offsets from the kernel's BTF, parsed once per kernel build and cached.

Why: reading and walking ``/sys/kernel/btf/vmlinux`` (5.5 MB, ~150k types) took ~13 ms of every
ebpf recording here, for a dozen numbers that change only with the kernel. So the answer is kept
in the private cache directory (:mod:`seccomp_gen.linux.cachedir`) under a name made of the
kernel's build id (the GNU build-id note of ``/sys/kernel/notes``, 164 bytes to read) and the
members asked for. A kernel without a build-id note is keyed by a hash of its BTF blob instead.

What is read back steers what our BPF programs read in the kernel, so it is never trusted blindly:
a cached file not owned by us, writable by others or a link is refused in one line (as a cached
compiled helper is); one whose content does not parse, names another kernel or other members, or
holds offsets the caller's check rejects is ignored, and the BTF parsed again and the file
rewritten. ``parses`` counts BTF walks in this process (tests read it to see the cache work).
"""

from __future__ import annotations

import contextlib
import json
import os
import struct
import zlib
from collections.abc import Callable, Mapping

from ..linux.cachedir import check_private
from .btf import BTF, VMLINUX, BTFError, Field

NOTES = "/sys/kernel/notes"
NT_GNU_BUILD_ID = 3
#: Bumped when the file's layout or meaning changes: old files are then simply not found.
VERSION = 1
#: Struct members wanted: name -> (struct, member path).
Spec = Mapping[str, tuple[str, str]]
#: An optional member the kernel does not have.
ABSENT = Field(0, 0)
#: BTF walks made by this process (see the module docstring).
parses = 0


def build_id(notes: bytes) -> bytes | None:
    """The GNU build id in an ELF note section (``/sys/kernel/notes``), or None."""
    pos = 0
    while pos + 12 <= len(notes):
        namesz, descsz, kind = struct.unpack_from("<III", notes, pos)
        name_at = pos + 12
        desc_at = name_at + (namesz + 3) // 4 * 4
        end = desc_at + (descsz + 3) // 4 * 4
        if end > len(notes):
            return None
        if kind == NT_GNU_BUILD_ID and notes[name_at:name_at + namesz] == b"GNU\0" and descsz:
            return notes[desc_at:desc_at + descsz]
        pos = end
    return None


def kernel_id(notes_path: str = NOTES, btf_path: str = VMLINUX) -> str:
    """What names the running kernel's build: ``build-id:HEX``, else ``btf:HASH`` of its BTF."""
    with contextlib.suppress(OSError):
        with open(notes_path, "rb") as fh:
            found = build_id(fh.read())
        if found is not None:
            return f"build-id:{found.hex()}"
    import hashlib  # only here: importing it costs ~2 ms, more than reading the notes

    return f"btf:{hashlib.blake2b(_read_btf(btf_path), digest_size=16).hexdigest()}"


def _read_btf(path: str) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError as exc:
        raise BTFError(f"cannot read {path}: {exc.strerror}") from None


def cache_path(cache: str, kernel: str, spec: Spec, optional: frozenset[str] = frozenset()
               ) -> str:
    """The file that holds ``spec``'s offsets for ``kernel``: named by both (a CRC of the spec
    is enough to tell specs apart; the file itself says which kernel and members it holds)."""
    wanted = zlib.crc32(repr((VERSION, sorted(spec.items()), sorted(optional))).encode())
    return os.path.join(cache, f"btf-fields-{kernel.replace(':', '-')}-{wanted:08x}.json")


def parse(spec: Spec, btf_path: str = VMLINUX, optional: frozenset[str] = frozenset()
          ) -> dict[str, Field]:
    """``spec``'s members looked up in the BTF at ``btf_path`` (no cache); a member named in
    ``optional`` that the kernel lacks is ``Field(0, 0)``."""
    global parses
    parses += 1
    btf = BTF(_read_btf(btf_path))
    fields = {}
    for name, (struct_name, member) in spec.items():
        try:
            fields[name] = btf.member(struct_name, member)
        except BTFError:
            if name not in optional:
                raise
            fields[name] = ABSENT
    return fields


def _load(path: str, kernel: str, spec: Spec, optional: frozenset[str]
          ) -> dict[str, Field] | None:
    """The cached offsets, None when the file is absent or its content is not a valid answer for
    this kernel and ``spec``; a file that is not ours raises (:func:`check_private`)."""
    if not os.path.lexists(path):
        return None
    check_private(path, "the cached kernel struct offsets", directory=False)
    try:
        with open(path, "rb") as fh:
            saved = json.loads(fh.read(1 << 16))
        if saved.get("kernel") != kernel or saved.get("version") != VERSION:
            return None
        members = saved["fields"]
        if set(members) != set(spec):
            return None
        fields = {}
        for name, (struct_name, member) in spec.items():
            s_name, m_name, offset, size = members[name]
            if (s_name, m_name) != (struct_name, member) or not all(
                    type(v) is int for v in (offset, size)) or not (
                    (0 <= offset < 1 << 20 and size in (1, 2, 4, 8, 16))
                    or ((offset, size) == (0, 0) and name in optional)):
                return None
            fields[name] = Field(offset, size)
        return fields
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return None


def _store(path: str, kernel: str, spec: Spec, fields: dict[str, Field]) -> None:
    """Write the answer under a fresh temporary name and rename it into place (best effort: a
    read-only cache only costs the next run a parse)."""
    text = json.dumps({"version": VERSION, "kernel": kernel, "fields": {
        name: [*spec[name], f.offset, f.size] for name, f in sorted(fields.items())}},
        sort_keys=True)
    head, name = os.path.split(path)
    tmp = os.path.join(head, f".{name}.{os.getpid()}.tmp")
    with contextlib.suppress(OSError):
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                     0o600)
        try:
            with os.fdopen(fd, "w") as fh:
                fh.write(text)
            os.replace(tmp, path)
        finally:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def members(spec: Spec, cache: str | None, check: Callable[[dict[str, Field]], None],
            optional: frozenset[str] = frozenset()) -> dict[str, Field]:
    """``spec``'s offsets in the running kernel: from ``cache`` (a private directory) when it
    holds a valid answer that passes ``check``, else parsed from the BTF (and cached). ``check``
    raises BTFError for offsets the caller cannot use."""
    if cache is None:
        fields = parse(spec, optional=optional)
        check(fields)
        return fields
    kernel = kernel_id()
    path = cache_path(cache, kernel, spec, optional)
    fields_or_none = _load(path, kernel, spec, optional)
    if fields_or_none is not None:
        with contextlib.suppress(BTFError):
            check(fields_or_none)
            return fields_or_none
    fields = parse(spec, optional=optional)
    check(fields)
    _store(path, kernel, spec, fields)
    return fields
