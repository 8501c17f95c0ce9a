"""The ``bpf(2)`` calls the ebpf recorder needs: create maps, load programs, attach them to raw
tracepoints, read maps back. Through ctypes, with no library: libbpf is not a dependency.

Why raw tracepoints (``BPF_RAW_TRACEPOINT_OPEN``): one attach per tracepoint for all CPUs, no
tracefs, no per-CPU perf events, and the program gets the tracepoint's C arguments as an array of
u64 (the pointers to ``struct task_struct`` and ``struct pt_regs``), the cheapest kind of
tracepoint program. A program stays attached as long as its attach fd is open: closing it (or our
death) detaches it, so nothing outlives a crashed recorder.

Every failure is a :class:`BPFError` with the kernel's reason; a program the verifier rejects
carries the last lines of the verifier log.
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Iterator

from ..linux.libc import syscall

SYS_BPF = 321  # x86_64
MAP_CREATE, MAP_LOOKUP_ELEM, MAP_UPDATE_ELEM, MAP_DELETE_ELEM, MAP_GET_NEXT_KEY = 0, 1, 2, 3, 4
PROG_LOAD, RAW_TRACEPOINT_OPEN, MAP_LOOKUP_BATCH = 5, 17, 24
MAP_TYPE_HASH, MAP_TYPE_ARRAY = 1, 2
PROG_TYPE_RAW_TRACEPOINT = 17
F_NO_PREALLOC = 1
ANY, NOEXIST = 0, 1
#: Helper function ids (include/uapi/linux/bpf.h ``___BPF_FUNC_MAPPER``).
MAP_LOOKUP, MAP_UPDATE, MAP_DELETE = 1, 2, 3
GET_CURRENT_PID_TGID, GET_CURRENT_TASK = 14, 35
PROBE_READ_KERNEL, PROBE_READ_KERNEL_STR = 113, 115
GET_CURRENT_ANCESTOR_CGROUP_ID = 123
ATTR_SIZE = 128
LOG_SIZE = 1 << 20
#: Entries asked for per BPF_MAP_LOOKUP_BATCH call (a whole map is read in a few calls).
BATCH = 4096
#: ... and at most this many bytes of values per call (exes values are 256 bytes).
BATCH_BYTES = 1 << 18
ENOENT, ENOSPC, EINVAL = 2, 28, 22

class BPFError(Exception):
    """A bpf(2) call failed; ``errno`` is the kernel's answer."""

    def __init__(self, message: str, errno: int = 0) -> None:
        super().__init__(message)
        self.errno = errno


def _bpf(cmd: int, attr: ctypes.Array[ctypes.c_char]) -> int:
    ret = syscall(ctypes.c_long(SYS_BPF), ctypes.c_long(cmd), attr, ctypes.c_long(ATTR_SIZE))
    if ret < 0:
        return -ctypes.get_errno()
    return int(ret)


def _attr(*fields: tuple[int, str, int]) -> ctypes.Array[ctypes.c_char]:
    """A zeroed ``union bpf_attr`` with (offset, ctypes format, value) fields set."""
    buf = ctypes.create_string_buffer(ATTR_SIZE)
    for offset, kind, value in fields:
        ctype = ctypes.c_uint32 if kind == "I" else ctypes.c_uint64
        ctype.from_buffer(buf, offset).value = value
    return buf


class Map:
    """A BPF map we created; the fd is closed by :meth:`close`."""

    def __init__(self, name: str, map_type: int, key_size: int, value_size: int,
                 max_entries: int, flags: int = 0) -> None:
        attr = _attr((0, "I", map_type), (4, "I", key_size), (8, "I", value_size),
                     (12, "I", max_entries), (16, "I", flags))
        encoded = name.encode()[:15]
        ctypes.memmove(ctypes.addressof(attr) + 28, encoded, len(encoded))
        fd = _bpf(MAP_CREATE, attr)
        if fd < 0:
            raise BPFError(f"cannot create BPF map {name}: {os.strerror(-fd)}", -fd)
        self.fd, self.name = fd, name
        self.key_size, self.value_size, self.max_entries = key_size, value_size, max_entries

    def _elem(self, key: bytes, value: ctypes.Array[ctypes.c_char] | None,
              flags: int = 0) -> ctypes.Array[ctypes.c_char]:
        kbuf = ctypes.create_string_buffer(key, self.key_size)
        attr = _attr((0, "I", self.fd), (8, "Q", ctypes.addressof(kbuf)),
                     (16, "Q", ctypes.addressof(value) if value is not None else 0),
                     (24, "Q", flags))
        attr._keep = kbuf  # type: ignore[attr-defined]  # alive as long as attr
        return attr

    def update(self, key: bytes, value: bytes, flags: int = ANY) -> None:
        """Set ``key`` to ``value``."""
        vbuf = ctypes.create_string_buffer(value, self.value_size)
        ret = _bpf(MAP_UPDATE_ELEM, self._elem(key, vbuf, flags))
        if ret < 0:
            raise BPFError(f"cannot update BPF map {self.name}: {os.strerror(-ret)}", -ret)

    def lookup(self, key: bytes) -> bytes | None:
        """The value of ``key``, or None."""
        vbuf = ctypes.create_string_buffer(self.value_size)
        ret = _bpf(MAP_LOOKUP_ELEM, self._elem(key, vbuf))
        return None if ret < 0 else vbuf.raw

    def dump(self) -> tuple[bytes, bytes]:
        """Every key and every value, each list concatenated in the same order (unpack them with
        ``struct.iter_unpack``). Read with BPF_MAP_LOOKUP_BATCH: one call per :data:`BATCH`
        entries instead of two per entry (kernel 5.6+; an older kernel is walked key by key)."""
        batched = self._batched()
        if batched is not None:
            return batched
        pairs = list(self._walk())
        return b"".join(k for k, _ in pairs), b"".join(v for _, v in pairs)

    def items(self) -> Iterator[tuple[bytes, bytes]]:
        """Every (key, value)."""
        keys, values = self.dump()
        ks, vs = self.key_size, self.value_size
        for i in range(len(keys) // ks):
            yield keys[i * ks:(i + 1) * ks], values[i * vs:(i + 1) * vs]

    def _batched(self) -> tuple[bytes, bytes] | None:
        """:meth:`dump` by batches, or None if the kernel has no batch lookup."""
        count = max(1, min(self.max_entries, BATCH, BATCH_BYTES // self.value_size))
        keys_out: list[bytes] = []
        values_out: list[bytes] = []
        token = ctypes.create_string_buffer(8)
        keys = values = ctypes.create_string_buffer(0)
        started = False
        while True:
            if len(values) < count * self.value_size:
                keys = ctypes.create_string_buffer(count * self.key_size)
                values = ctypes.create_string_buffer(count * self.value_size)
            attr = _attr((0, "Q", ctypes.addressof(token) if started else 0),
                         (8, "Q", ctypes.addressof(token)), (16, "Q", ctypes.addressof(keys)),
                         (24, "Q", ctypes.addressof(values)), (32, "I", count),
                         (36, "I", self.fd))
            ret = _bpf(MAP_LOOKUP_BATCH, attr)
            if ret == -ENOSPC:  # a hash bucket holds more than count entries: ask for more
                count *= 2
                continue
            if ret < 0 and ret != -ENOENT:
                if not started and ret == -EINVAL:
                    return None
                raise BPFError(f"cannot read BPF map {self.name}: {os.strerror(-ret)}", -ret)
            got = ctypes.c_uint32.from_buffer(attr, 32).value
            keys_out.append(ctypes.string_at(keys, got * self.key_size))
            values_out.append(ctypes.string_at(values, got * self.value_size))
            if ret == -ENOENT or got == 0:  # that was the last batch (none: never loop on it)
                return b"".join(keys_out), b"".join(values_out)
            started = True

    def _walk(self) -> Iterator[tuple[bytes, bytes]]:
        """Every (key, value), key by key; a key deleted while we walk is skipped."""
        key: bytes | None = None
        nbuf = ctypes.create_string_buffer(self.key_size)
        while True:
            attr = self._elem(key or b"", nbuf)
            if key is None:  # a NULL key asks for the first one
                ctypes.c_uint64.from_buffer(attr, 8).value = 0
            if _bpf(MAP_GET_NEXT_KEY, attr) < 0:
                return
            key = nbuf.raw
            value = self.lookup(key)
            if value is not None:
                yield key, value

    def close(self) -> None:
        """Release the map (the kernel frees it when no program holds it either)."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def load_program(name: str, code: bytes) -> int:
    """Load a raw-tracepoint program; its fd. A verifier refusal carries the log's last lines."""
    insns = ctypes.create_string_buffer(code, len(code))
    license_ = ctypes.create_string_buffer(b"GPL")  # probe_read_kernel is GPL-only
    log = ctypes.create_string_buffer(LOG_SIZE)
    fields = [(0, "I", PROG_TYPE_RAW_TRACEPOINT), (4, "I", len(code) // 8),
              (8, "Q", ctypes.addressof(insns)), (16, "Q", ctypes.addressof(license_))]
    fd = _bpf(PROG_LOAD, _attr(*fields))
    if fd == -13 or fd == -22:  # EACCES / EINVAL: load again with the verifier's log
        attr = _attr(*fields, (24, "I", 1), (28, "I", LOG_SIZE), (32, "Q", ctypes.addressof(log)))
        fd = _bpf(PROG_LOAD, attr)
    if fd < 0:
        lines = [ln for ln in log.value.decode(errors="replace").splitlines() if ln.strip()]
        detail = f" ({' | '.join(lines[-3:])})" if lines else ""
        raise BPFError(f"the kernel refused BPF program {name}: {os.strerror(-fd)}{detail}", -fd)
    return fd


def attach_raw_tracepoint(tracepoint: str, prog_fd: int) -> int:
    """Attach a loaded program to ``tracepoint`` (e.g. ``sys_enter``); the attach fd."""
    name = ctypes.create_string_buffer(tracepoint.encode())
    fd = _bpf(RAW_TRACEPOINT_OPEN, _attr((0, "Q", ctypes.addressof(name)), (8, "I", prog_fd)))
    if fd < 0:
        raise BPFError(f"cannot attach to raw tracepoint {tracepoint}: {os.strerror(-fd)}", -fd)
    return fd
