"""A per-user cache of named addresses, by build id: the next ``record`` of the same program
names its call sites without reading libc's debug symbols again.

One entry per (build id, debug file present) in the cache directory's keyed store
(:func:`seccomp_gen.linux.cachedir.lookup`, kind ``symbols``), beside the compiled programs and
the ebpf field cache, and trusted as they are only when private: the directories and the entry
owned by this user and writable by no one else, the entry regular and not a link. Unlike theirs,
an entry not ours is a miss, not a one-line error: names are looked up at the end of ``record``,
after the workload has run, and refusing there would throw the recording away, while a name only
labels a site (nothing seccomp-gen loads or runs depends on it), so not using the entry is
enough. The names are then read from the file again and the entry replaced. A missing or
damaged entry is a miss too; an entry that cannot be written costs time only.
"""

from __future__ import annotations

import json

from ..errors import SeccompGenError
from ..linux import cachedir

#: Bumped when what an entry means changes (how symbols are chosen, the entry's layout): older
#: entries are not found.
VERSION = 3  # 2: Go code named from its pclntab; 3: an entry of the keyed store
#: The store's kind (its subdirectory of the cache directory).
KIND = "symbols"


def _key(key: str) -> bytes:
    return f"{VERSION} {key}".encode()


def load(key: str) -> dict[int, tuple[str, int] | None]:
    """The cached names of one object's addresses (vaddr -> (function, start) or None)."""
    try:
        data = cachedir.lookup(KIND, _key(key), what="the cached symbol names")
    except SeccompGenError:
        return {}  # not ours: a miss (see the module docstring)
    if data is None:
        return {}
    try:
        out: dict[int, tuple[str, int] | None] = {}
        for vaddr, value in json.loads(data).items():
            out[int(vaddr)] = None if value is None else (str(value[0]), int(value[1]))
        return out
    except (ValueError, KeyError, TypeError, IndexError, AttributeError):
        return {}


def save(key: str, names: dict[int, tuple[str, int] | None]) -> None:
    """Keep one object's names (all of them: what :func:`load` gave plus the new ones)."""
    doc = {str(v): None if n is None else [n[0], n[1]] for v, n in sorted(names.items())}
    cachedir.keep(KIND, _key(key), json.dumps(doc, separators=(",", ":")).encode())
