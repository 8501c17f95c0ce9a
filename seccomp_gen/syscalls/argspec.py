"""Which syscall arguments are worth recording, because profiles can filter on them.

Pure data. A seccomp filter sees only the six argument registers, so only scalar arguments are
useful; pointers are not recorded. The exception is clone3, whose flags live in memory: we still
record them (index ``None``) so a reviewer can see which namespaces a program creates, even though
no filter can check them (runtimes answer clone3 with ENOSYS so that glibc falls back to clone).
"""

from __future__ import annotations

from typing import Final

#: Distinct argument combinations kept per (arch, syscall) before recording stops growing the set.
ARG_VALUE_CAP: Final = 256

#: field name and register index (``None``: read from memory by the recorder) per syscall name.
ARG_FIELDS: Final[dict[str, tuple[tuple[str, int | None], ...]]] = {
    "clone": (("flags", 0),),
    "clone3": (("flags", None),),
    "unshare": (("flags", 0),),
    "setns": (("nstype", 1),),
    "socket": (("domain", 0), ("type", 1)),
    "socketpair": (("domain", 0), ("type", 1)),
    "socketcall": (("call", 0),),
    "ipc": (("call", 0),),
    "personality": (("persona", 0),),
    "prctl": (("option", 0),),
    "arch_prctl": (("code", 0),),
    "ioctl": (("request", 1),),
    "fcntl": (("cmd", 1),),
    "fcntl64": (("cmd", 1),),
    "mmap": (("prot", 2),),
    "mmap2": (("prot", 2),),
    "mprotect": (("prot", 2),),
    "pkey_mprotect": (("prot", 2),),
    "setsockopt": (("level", 1), ("optname", 2)),
    "futex": (("op", 1),),
}

#: (arch, name) pairs whose registers do not hold the arguments above. i386's ``mmap`` is the
#: old one-argument form that takes a pointer to a struct.
ARG_EXCEPTIONS: Final = frozenset({("x86", "mmap")})


def fields_for(arch: str, name: str) -> tuple[tuple[str, int | None], ...] | None:
    """The (field, register index) pairs to record for this syscall on this arch, if any."""
    if (arch, name) in ARG_EXCEPTIONS:
        return None
    return ARG_FIELDS.get(name)
