"""Field offsets in kernel structs, read from the kernel's own BTF (``/sys/kernel/btf/vmlinux``).

Why: the ebpf recorder's programs read a few fields of ``struct task_struct`` (``pid``,
``self_exec_id``, ``exit_code``, ``thread_info.status``) and ``struct linux_binprm``
(``filename``). Their offsets change with every kernel build and configuration; the kernel
describes its own types in BTF, so we read the offsets from there at run time instead of guessing
or compiling against headers (this machine has none). Only the type section is walked, once per
run (~0.1 s for the ~150k types of a distribution kernel), and only the structs asked for are
decoded.

Format (Documentation/bpf/btf.rst): a header, then a type section of variable-length records
(``name_off``, ``info`` -- kind in bits 24-28, vlen in 0-15, kind_flag in bit 31 -- and
``size``/``type``, followed by kind-specific data), then a string section. Type ids count from 1
in the order of the type section.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

VMLINUX = "/sys/kernel/btf/vmlinux"
BTF_MAGIC = 0xEB9F

KIND_INT, KIND_PTR, KIND_ARRAY, KIND_STRUCT, KIND_UNION, KIND_ENUM = 1, 2, 3, 4, 5, 6
KIND_TYPEDEF, KIND_VOLATILE, KIND_CONST, KIND_RESTRICT, KIND_TYPE_TAG = 8, 9, 10, 11, 18
KIND_FUNC_PROTO, KIND_VAR, KIND_DATASEC, KIND_DECL_TAG, KIND_ENUM64 = 13, 14, 15, 17, 19
#: Bytes of kind-specific data after the 12-byte common record, per member (vlen) and fixed.
_PER_MEMBER = {KIND_STRUCT: 12, KIND_UNION: 12, KIND_ENUM: 8, KIND_FUNC_PROTO: 8,
               KIND_DATASEC: 12, KIND_ENUM64: 12}
_FIXED = {KIND_INT: 4, KIND_ARRAY: 12, KIND_VAR: 4, KIND_DECL_TAG: 4}
_MODIFIERS = (KIND_TYPEDEF, KIND_VOLATILE, KIND_CONST, KIND_RESTRICT, KIND_TYPE_TAG)
_TYPE = struct.Struct("<III")
_MEMBER = struct.Struct("<III")


class BTFError(Exception):
    """The BTF blob is missing, malformed, or lacks a type or member we need."""


@dataclass(frozen=True)
class Field:
    """Where a member lives: byte offset from the start of its struct, and its size in bytes."""

    offset: int
    size: int


class BTF:
    """The types of one BTF blob, indexed lazily: just enough to resolve struct members."""

    def __init__(self, data: bytes) -> None:
        if len(data) < 24:
            raise BTFError("BTF blob too short")
        magic, _version, _flags, hdr_len = struct.unpack_from("<HBBI", data, 0)
        if magic != BTF_MAGIC:
            raise BTFError(f"not BTF (magic {magic:#x})")
        type_off, type_len, str_off, str_len = struct.unpack_from("<IIII", data, 8)
        self._data = data
        self._types_start = hdr_len + type_off
        self._types_end = self._types_start + type_len
        self._strs = data[hdr_len + str_off:hdr_len + str_off + str_len]
        if self._types_end > len(data) or len(self._strs) != str_len:
            raise BTFError("BTF blob truncated")
        self._offsets: list[int] | None = None

    @classmethod
    def from_file(cls, path: str = VMLINUX) -> BTF:
        """The BTF of the running kernel (or another blob)."""
        try:
            with open(path, "rb") as fh:
                return cls(fh.read())
        except OSError as exc:
            raise BTFError(f"cannot read {path}: {exc.strerror}") from None

    def _index(self) -> list[int]:
        """Byte offset of every type record (index = type id; id 0 is void)."""
        if self._offsets is not None:
            return self._offsets
        offsets = [0]
        data, pos, end = self._data, self._types_start, self._types_end
        unpack, per_member, fixed = _TYPE.unpack_from, _PER_MEMBER, _FIXED
        while pos < end:
            offsets.append(pos)
            info = unpack(data, pos)[1]
            kind = (info >> 24) & 0x1F
            pos += 12 + fixed.get(kind, 0) + per_member.get(kind, 0) * (info & 0xFFFF)
        if pos != end:
            raise BTFError("BTF type section is malformed")
        self._offsets = offsets
        return offsets

    def _name(self, off: int) -> str:
        end = self._strs.index(b"\0", off)
        return self._strs[off:end].decode()

    def _name_offsets(self, name: str) -> set[int]:
        """Every string-section offset where ``name`` starts as a whole string."""
        needle, found, start = name.encode() + b"\0", set(), 0
        while (at := self._strs.find(needle, start)) >= 0:
            if at == 0 or self._strs[at - 1] == 0:
                found.add(at)
            start = at + 1
        return found

    def struct_id(self, name: str) -> int:
        """The id of the complete (non-forward) struct called ``name``."""
        wanted = self._name_offsets(name)
        if wanted:
            offsets = self._index()
            for tid in range(1, len(offsets)):
                name_off, info, _ = _TYPE.unpack_from(self._data, offsets[tid])
                if name_off in wanted and (info >> 24) & 0x1F == KIND_STRUCT:
                    return tid
        raise BTFError(f"the kernel's BTF has no struct {name}")

    def _resolve(self, tid: int) -> int:
        """Strip typedefs and qualifiers."""
        offsets = self._index()
        for _ in range(64):
            _, info, ref = _TYPE.unpack_from(self._data, offsets[tid])
            if (info >> 24) & 0x1F not in _MODIFIERS:
                return tid
            tid = ref
        raise BTFError("BTF type chain too long")

    def _size(self, tid: int) -> int:
        offsets = self._index()
        tid = self._resolve(tid)
        _, info, size = _TYPE.unpack_from(self._data, offsets[tid])
        kind = (info >> 24) & 0x1F
        if kind == KIND_PTR:
            return 8
        if kind == KIND_ARRAY:
            elem, _index_type, nelems = struct.unpack_from("<III", self._data, offsets[tid] + 12)
            return self._size(int(elem)) * int(nelems)
        return int(size)

    def member(self, struct_name: str, path: str) -> Field:
        """Offset and size of ``path`` (``"thread_info.status"``) inside ``struct struct_name``,
        looking through anonymous struct/union members as C does. A blob whose records point
        outside it (a corrupt or foreign file) raises BTFError, never IndexError."""
        try:
            return self._member(struct_name, path)
        except (IndexError, ValueError, struct.error, RecursionError) as exc:
            raise BTFError(f"BTF blob is malformed ({type(exc).__name__} while looking up "
                           f"{struct_name}.{path})") from None

    def _member(self, struct_name: str, path: str) -> Field:
        tid = self.struct_id(struct_name)
        offset = 0
        for part in path.split("."):
            found = self._find_member(tid, part)
            if found is None:
                raise BTFError(f"the kernel's struct {struct_name} has no member {path}")
            tid, bit_offset = found
            if bit_offset % 8:
                raise BTFError(f"{struct_name}.{path} is a bit-field")
            offset += bit_offset // 8
            tid = self._resolve(tid)
        return Field(offset, self._size(tid))

    def _find_member(self, tid: int, name: str, depth: int = 0) -> tuple[int, int] | None:
        """(type id, bit offset) of member ``name`` of struct/union ``tid``, or None."""
        offsets = self._index()
        pos = offsets[self._resolve(tid)]
        _, info, _ = _TYPE.unpack_from(self._data, pos)
        kind, vlen, kind_flag = (info >> 24) & 0x1F, info & 0xFFFF, info >> 31
        if kind not in (KIND_STRUCT, KIND_UNION) or depth > 8:
            return None
        for i in range(vlen):
            name_off, mtype, moff = _MEMBER.unpack_from(self._data, pos + 12 + 12 * i)
            bits = moff & 0xFFFFFF if kind_flag else moff
            if name_off and self._name(name_off) == name:
                return mtype, bits
            if not name_off:  # anonymous struct or union: its members are ours
                inner = self._find_member(mtype, name, depth + 1)
                if inner is not None:
                    return inner[0], bits + inner[1]
        return None
