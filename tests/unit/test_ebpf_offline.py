"""The ebpf backend's parts that need no kernel: which ABI a call is from, and the BTF reader on a
hand-built blob (the backend itself, on real tracepoints: tests/live/test_ebpf_backend.py)."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seccomp_gen.ebpf.btf import BTF, BTFError
from seccomp_gen.recorders.ebpf import call_arch


def test_call_arch() -> None:
    assert call_arch(20, 2) == 0x40000003  # TS_COMPAT set: AUDIT_ARCH_I386
    assert call_arch(39, 0) == 0xC000003E  # AUDIT_ARCH_X86_64 (x32 is told by the number)


def _btf_blob() -> bytes:
    """A BTF blob with a typedef, a nested struct and an anonymous union, as C would lay out
    ``struct outer { int x; union { u32 status; }; struct inner { int a; u32 b; } ti; }``."""
    names = b"\0int\0u32\0inner\0a\0b\0outer\0x\0status\0ti\0"

    def off(name: str) -> int:
        return names.index(b"\0" + name.encode() + b"\0") + 1

    def typ(name: int, kind: int, vlen: int, size: int) -> bytes:
        return struct.pack("<III", name, (kind << 24) | vlen, size)

    def member(name: int, tid: int, bits: int) -> bytes:
        return struct.pack("<III", name, tid, bits)

    types = b"".join([
        typ(off("int"), 1, 0, 4) + struct.pack("<I", 32),  # 1: int
        typ(off("u32"), 8, 0, 1),  # 2: typedef u32 -> int
        typ(off("inner"), 4, 2, 8) + member(off("a"), 1, 0) + member(off("b"), 2, 32),  # 3
        typ(0, 5, 1, 4) + member(off("status"), 2, 0),  # 4: anonymous union
        typ(off("outer"), 4, 3, 16) + member(off("x"), 1, 0) + member(0, 4, 32)
        + member(off("ti"), 3, 64),  # 5
    ])
    header = struct.pack("<HBBIIIII", 0xEB9F, 1, 0, 24, 0, len(types), len(types), len(names))
    return header + types + names


def test_btf_member_offsets() -> None:
    btf = BTF(_btf_blob())
    assert (btf.member("outer", "status").offset, btf.member("outer", "status").size) == (4, 4)
    assert (btf.member("outer", "ti.b").offset, btf.member("outer", "ti.b").size) == (12, 4)
    assert btf.member("outer", "ti").size == 8
    with pytest.raises(BTFError, match="no member nope"):
        btf.member("outer", "nope")
    with pytest.raises(BTFError, match="no struct task_struct"):
        btf.member("task_struct", "pid")
    with pytest.raises(BTFError, match="truncated"):
        BTF(_btf_blob()[:-8])
    with pytest.raises(BTFError, match="not BTF"):
        BTF(b"\0" * 64)


@settings(max_examples=400, deadline=None)
@given(st.data())
def test_corrupt_btf_raises_btferror_only(data: st.DataObject) -> None:
    """Any byte of the blob overwritten (a type id pointing past the table, a name offset past
    the strings, a self-referencing typedef or array): BTFError or a result, never another
    exception, so the ebpf backend says one line and falls back."""
    blob = bytearray(_btf_blob())
    for _ in range(data.draw(st.integers(1, 4))):
        blob[data.draw(st.integers(0, len(blob) - 1))] = data.draw(st.integers(0, 255))
    try:
        btf = BTF(bytes(blob))
        for path in ("status", "ti.b", "ti", "x"):
            btf.member("outer", path)
    except BTFError:
        pass


def test_btf_type_id_out_of_range() -> None:
    """The member type of ``ti`` points at type 99, which does not exist (IndexError before)."""
    blob = bytearray(_btf_blob())
    at = blob.index(struct.pack("<I", 3) + struct.pack("<I", 64))  # member ti: type 3, bits 64
    blob[at:at + 4] = struct.pack("<I", 99)
    with pytest.raises(BTFError, match="malformed"):
        BTF(bytes(blob)).member("outer", "ti.b")
