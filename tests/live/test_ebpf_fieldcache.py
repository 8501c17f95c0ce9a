"""The ebpf backend's kernel struct offsets, parsed from the running kernel's BTF once per kernel
build and cached (issue 16): a second run does not parse, a corrupt entry or one for another
kernel is never trusted (ignored and rewritten), one not ours is refused in one line, and the
answer and the recording are the same with and without the cache. On the real
``/sys/kernel/btf/vmlinux`` and ``/sys/kernel/notes``. Also the batched map reads
(BPF_MAP_LOOKUP_BATCH) against the key-by-key walk, on real maps."""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path

import pytest
from helpers import cache as entries
from helpers.cli import assert_one_error_line, cli
from helpers.record import counts_of

import seccomp_gen
from seccomp_gen.ebpf import fieldcache
from seccomp_gen.ebpf import kernel as k
from seccomp_gen.ebpf.syscall_counter import FIELDS, kernel_fields
from seccomp_gen.errors import SeccompGenError
from seccomp_gen.linux.seccomp import has_cap
from seccomp_gen.recorders import unavailable_reasons

_BTF = os.path.exists(fieldcache.VMLINUX)
needs_btf = pytest.mark.skipif(not _BTF, reason=f"no kernel BTF ({fieldcache.VMLINUX})")
_WHY = unavailable_reasons()["ebpf"]
needs_ebpf = pytest.mark.skipif(_WHY is not None, reason=f"ebpf backend: {_WHY}")
#: CAP_CHOWN: giving a file to another user.
needs_chown = pytest.mark.skipif(not has_cap(0), reason="chown to another user needs CAP_CHOWN")


def _note(name: bytes, kind: int, desc: bytes) -> bytes:
    pad = lambda b: b + bytes(-len(b) % 4)  # noqa: E731
    return struct.pack("<III", len(name), len(desc), kind) + pad(name) + pad(desc)


def test_build_id_is_found_among_other_notes() -> None:
    notes = (_note(b"Linux\0", 0x101, b"6.1\0") + _note(b"GNU\0", 3, bytes(range(20)))
             + _note(b"Xen\0", 18, b"\0" * 8))
    assert fieldcache.build_id(notes) == bytes(range(20))
    assert fieldcache.build_id(_note(b"Linux\0", 0x101, b"6.1\0")) is None
    assert fieldcache.build_id(notes[:30]) is None  # truncated: no note read past the end
    assert fieldcache.build_id(b"") is None


@needs_btf
def test_kernel_without_build_id_is_keyed_by_its_btf(tmp_path: Path) -> None:
    empty = tmp_path / "notes"
    empty.write_bytes(_note(b"Linux\0", 0x101, b"6.1\0"))
    assert fieldcache.kernel_id(str(empty)).startswith("btf:")
    assert fieldcache.kernel_id(str(empty)) == fieldcache.kernel_id(str(empty))
    if os.path.exists(fieldcache.NOTES):
        assert fieldcache.kernel_id().startswith("build-id:")


@pytest.fixture()
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty per-user cache directory of this test's own."""
    directory = tmp_path / "cache"
    monkeypatch.setenv("SECCOMP_GEN_CACHE_DIR", str(directory))
    return directory


def _cached_file(cache: Path) -> Path:
    return entries.the_entry(cache, fieldcache.KIND)


@needs_btf
def test_second_call_does_not_parse_and_agrees(cache: Path) -> None:
    before = fieldcache.parses
    first = kernel_fields(cached=True)
    assert fieldcache.parses == before + 1
    assert _cached_file(cache).stat().st_mode & 0o777 == 0o600
    second = kernel_fields(cached=True)
    assert fieldcache.parses == before + 1  # read back, not parsed
    assert second == first == kernel_fields()
    assert set(first) == set(FIELDS)


@needs_btf
@pytest.mark.parametrize("damage", ["garbage", "garbage value", "truncated", "other kernel",
                                    "other members", "another member", "bad size",
                                    "bad offset", "not numbers", "not an object"])
def test_a_corrupt_or_foreign_cache_entry_is_ignored_and_rewritten(cache: Path,
                                                                   damage: str) -> None:
    good = kernel_fields(cached=True)
    path = _cached_file(cache)
    saved = path.read_bytes()
    key, value = entries.split(path)
    doc = json.loads(value)
    if damage == "garbage":
        path.write_bytes(os.urandom(300))
    elif damage == "garbage value":
        entries.write(path, key, os.urandom(300))
    elif damage == "truncated":
        entries.write(path, key, value[:len(value) // 2])
    elif damage == "other kernel":
        # An entry for another kernel at this one's name (as a crc32 collision would give).
        kernel = fieldcache.kernel_id().encode()
        assert kernel in key
        entries.write(path, key.replace(kernel, b"build-id:" + b"00" * 20), value)
    elif damage == "other members":
        del doc["pid"]
        entries.write(path, key, json.dumps(doc).encode())
    elif damage == "another member":
        doc["pid"][1] = "tgid"  # an offset, but of another member
        entries.write(path, key, json.dumps(doc).encode())
    elif damage == "bad size":
        doc["pid"][3] = 2  # the programs read 4 bytes: refused by check_fields
        entries.write(path, key, json.dumps(doc).encode())
    elif damage == "bad offset":
        doc["pid"][2] = -8  # a valid size, an offset no struct has: refused by the cache
        entries.write(path, key, json.dumps(doc).encode())
    elif damage == "not numbers":
        doc["pid"][2] = str(doc["pid"][2])
        entries.write(path, key, json.dumps(doc).encode())
    else:
        entries.write(path, key, b"[1, 2]")
    before = fieldcache.parses
    assert kernel_fields(cached=True) == good
    assert fieldcache.parses == before + 1  # not trusted: parsed again
    assert path.read_bytes() == saved  # and the entry rewritten
    assert kernel_fields(cached=True) == good
    assert fieldcache.parses == before + 1  # which is good again


@needs_btf
@pytest.mark.parametrize("how", ["writable by others", "a link", "its directory writable",
                                 pytest.param("another owner", marks=needs_chown)])
def test_a_cache_entry_not_ours_is_refused_in_one_line(cache: Path, tmp_path: Path,
                                                       how: str) -> None:
    kernel_fields(cached=True)
    path = _cached_file(cache)
    named = path
    if how == "writable by others":
        path.chmod(0o666)
        expected = "the cached kernel struct offsets: it is writable by others"
    elif how == "a link":
        target = tmp_path / "elsewhere"
        path.rename(target)
        path.symlink_to(target)
        expected = "the cached kernel struct offsets: it is not a regular file"
    elif how == "its directory writable":
        path.parent.chmod(0o777)
        named = path.parent
        expected = "the btf-fields cache directory: it is writable by others"
    else:
        os.chown(path, 12345, 12345)
        expected = "owned by uid 12345"
    with pytest.raises(SeccompGenError, match=expected) as info:
        kernel_fields(cached=True)
    assert str(named) in info.value.one_line()
    assert "\n" not in info.value.one_line()


@needs_ebpf
def test_recording_with_and_without_the_cache(tmp_path: Path) -> None:
    """The CLI fills the cache, reads it back, heals a corrupt file, refuses one not its own;
    the counts are the same each time."""
    env = {**os.environ, "SECCOMP_GEN_CACHE_DIR": str(tmp_path / "cache")}
    cmd = ["ls", "-la", "/"]

    def record(name: str) -> seccomp_gen.Trace:
        out = tmp_path / f"{name}.json"
        res = cli("record", "-q", "--backend", "ebpf", "-o", out, "--", *cmd, env=env)
        assert res.returncode == 0, res.stderr.decode(errors="replace")
        return seccomp_gen.load_trace(out)

    cold = counts_of(record("cold"))
    path = _cached_file(tmp_path / "cache")
    saved = path.read_bytes()
    assert counts_of(record("warm")) == cold
    assert path.read_bytes() == saved
    path.write_bytes(b"{not json")  # not even an entry's first line
    assert counts_of(record("healed")) == cold
    assert path.read_bytes() == saved
    path.chmod(0o646)
    res = cli("record", "-q", "--backend", "ebpf", "-o", tmp_path / "no.json", "--", *cmd, env=env)
    assert "refusing to use the cached kernel struct offsets" in assert_one_error_line(res, 125)
    assert not (tmp_path / "no.json").exists()


@needs_ebpf
@pytest.mark.parametrize("batch", [k.BATCH, 1])
def test_batched_reads_match_the_key_walk(batch: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every entry, once, as the key-by-key walk sees it; a batch smaller than a hash bucket
    (ENOSPC) is grown, not an error."""
    monkeypatch.setattr(k, "BATCH", batch)
    maps = [k.Map("t_hash", k.MAP_TYPE_HASH, 12, 8, 1 << 10, k.F_NO_PREALLOC),
            k.Map("t_array", k.MAP_TYPE_ARRAY, 4, 16, 37)]
    try:
        hashed, array = maps
        for i in range(900):
            hashed.update(struct.pack("<IQ", i, i * 7), struct.pack("<Q", i * i))
        for i in range(0, 37, 3):
            array.update(struct.pack("<I", i), struct.pack("<QQ", i, ~i & 0xFFFF))
        for m in maps:
            walked = sorted(m._walk())
            assert sorted(m.items()) == walked
            keys, values = m.dump()
            assert len(keys) == len(walked) * m.key_size
            assert len(values) == len(walked) * m.value_size
        assert len(list(hashed.items())) == 900
        assert len(list(array.items())) == 37  # an array has every index
    finally:
        for m in maps:
            m.close()


@needs_btf
def test_an_optional_member_the_kernel_lacks_is_absent(cache: Path) -> None:
    """The vDSO's members are optional: a kernel without them still records (its vDSO call
    sites are then [unknown]); a required member missing is a BTFError. Cached alike."""
    from seccomp_gen.ebpf.btf import BTFError

    spec = {"pid": ("task_struct", "pid"), "gone": ("task_struct", "no_such_member")}
    optional = frozenset({"gone"})
    fields = fieldcache.parse(spec, optional=optional)
    assert fields["gone"] == fieldcache.ABSENT
    assert fields["pid"] == kernel_fields()["pid"]
    with pytest.raises(BTFError, match="no member no_such_member"):
        fieldcache.parse(spec)
    assert fieldcache.members(spec, True, lambda f: None, optional) == fields
    before = fieldcache.parses
    assert fieldcache.members(spec, True, lambda f: None, optional) == fields
    assert fieldcache.parses == before
