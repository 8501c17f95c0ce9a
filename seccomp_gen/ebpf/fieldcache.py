"""Struct member offsets from the kernel's BTF, parsed once per kernel build and cached.

Why: reading and walking ``/sys/kernel/btf/vmlinux`` (5.5 MB, ~150k types) took ~13 ms of every
ebpf recording here, for a dozen numbers that change only with the kernel. So the answer is kept
in the per-user cache's keyed store (:func:`seccomp_gen.linux.cachedir.lookup`, kind
``btf-fields``) under the kernel's build id (the GNU build-id note of ``/sys/kernel/notes``, 164
bytes to read) and the members asked for. A kernel without a build-id note is keyed by a hash of
its BTF blob instead.

What is read back steers what our BPF programs read in the kernel, so it is never trusted blindly:
an entry not owned by us, writable by others or a link is refused in one line (as a cached
compiled program is); one kept for another kernel or other members is not found (the key is
compared in full); one whose content does not parse, names other members or holds offsets the
caller's check rejects is ignored, and the BTF parsed again and the entry rewritten. ``parses``
counts BTF walks in this process (tests read it to see the cache work).
"""

from __future__ import annotations

import contextlib
import json
import struct
from collections.abc import Callable, Mapping

from ..linux import cachedir
from .btf import BTF, VMLINUX, BTFError, Field

NOTES = "/sys/kernel/notes"
NT_GNU_BUILD_ID = 3
#: Bumped when the entry's layout or meaning changes: old entries are then simply not found.
VERSION = 2  # 2: an entry of the keyed store (linux.cachedir), no longer a file of its own
#: The store's kind (its subdirectory of the cache directory).
KIND = "btf-fields"
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


def _key(kernel: str, spec: Spec, optional: frozenset[str]) -> bytes:
    """What an answer is kept under: the layout, the kernel and the members asked for."""
    return repr((VERSION, kernel, sorted(spec.items()), sorted(optional))).encode()


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


def _load(key: bytes, spec: Spec, optional: frozenset[str]) -> dict[str, Field] | None:
    """The cached offsets, None when there is no entry or its content is not a valid answer for
    ``spec``; an entry that is not ours raises (:func:`~seccomp_gen.linux.cachedir.lookup`)."""
    data = cachedir.lookup(KIND, key, 1 << 16, "the cached kernel struct offsets")
    if data is None:
        return None
    try:
        members = json.loads(data)
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
    except (ValueError, TypeError, KeyError, AttributeError):
        return None


def _store(key: bytes, spec: Spec, fields: dict[str, Field]) -> None:
    """Keep the answer (best effort: a cache that cannot be written costs the next run a
    parse)."""
    cachedir.keep(KIND, key, json.dumps({name: [*spec[name], f.offset, f.size]
                                         for name, f in sorted(fields.items())}).encode())


def members(spec: Spec, cached: bool, check: Callable[[dict[str, Field]], None],
            optional: frozenset[str] = frozenset()) -> dict[str, Field]:
    """``spec``'s offsets in the running kernel: when ``cached``, from the cache when it holds a
    valid answer that passes ``check``, else parsed from the BTF (and cached). ``check`` raises
    BTFError for offsets the caller cannot use."""
    if not cached:
        fields = parse(spec, optional=optional)
        check(fields)
        return fields
    key = _key(kernel_id(), spec, optional)
    fields_or_none = _load(key, spec, optional)
    if fields_or_none is not None:
        with contextlib.suppress(BTFError):
            check(fields_or_none)
            return fields_or_none
    fields = parse(spec, optional=optional)
    check(fields)
    _store(key, spec, fields)
    return fields
