"""Entries of the per-user cache's keyed store (``seccomp_gen.linux.cachedir``), read and written
here by their documented layout (magic line, key length line, key, value) rather than through the
store, so that tests tamper with them as another program would."""

from __future__ import annotations

from pathlib import Path

from seccomp_gen.linux.cachedir import ENTRY_MAGIC


def the_entry(cache: Path, kind: str) -> Path:
    """The one entry of ``kind`` in the cache directory ``cache``."""
    entries = sorted((cache / kind).iterdir())
    assert len(entries) == 1, entries
    return entries[0]


def split(entry: Path) -> tuple[bytes, bytes]:
    """The key and the value an entry holds."""
    data = entry.read_bytes()
    assert data.startswith(ENTRY_MAGIC), data[:40]
    size, _, rest = data[len(ENTRY_MAGIC):].partition(b"\n")
    return rest[:int(size)], rest[int(size):]


def write(entry: Path, key: bytes, value: bytes) -> None:
    """Replace ``entry`` with one holding ``key`` and ``value`` (mode 0600, as the store writes)."""
    entry.write_bytes(ENTRY_MAGIC + b"%d\n" % len(key) + key + value)
    entry.chmod(0o600)
