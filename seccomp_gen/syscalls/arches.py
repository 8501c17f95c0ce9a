"""Which ABIs (libseccomp arch tokens) one kernel runs, in one table for every stage.

The recorders watch the ABIs of the host's family, synthesis lists them in a profile, and the
formats group them (Docker's ``archMap``): they must agree, so the table is here and nowhere
else. Pure data: this is not a syscall table, only which ABIs share a kernel, main arch first.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Final

#: main arch -> every ABI a kernel of that arch runs, main first.
FAMILIES: Final[dict[str, tuple[str, ...]]] = {
    "x86_64": ("x86_64", "x86", "x32"),
    "aarch64": ("aarch64", "arm"),
    "ppc64le": ("ppc64le",),
    "ppc64": ("ppc64", "ppc"),
    "s390x": ("s390x", "s390"),
    "riscv64": ("riscv64",),
    "loongarch64": ("loongarch64",),
    "mips64": ("mips64", "mips64n32", "mips"),
    "mipsel64": ("mipsel64", "mipsel64n32", "mipsel"),
}

#: libseccomp arch token -> systemd's name for it (``SystemCallArchitectures=``, as systemd's
#: ``seccomp_arch_to_string`` spells them; loongarch64 needs systemd 253 or later).
SYSTEMD_NAMES: Final[dict[str, str]] = {
    "x86_64": "x86-64", "x86": "x86", "x32": "x32", "aarch64": "arm64", "arm": "arm",
    "ppc64le": "ppc64-le", "ppc64": "ppc64", "ppc": "ppc", "s390x": "s390x", "s390": "s390",
    "riscv64": "riscv64", "loongarch64": "loongarch64", "mips64": "mips64",
    "mips64n32": "mips64-n32", "mips": "mips", "mipsel64": "mips64-le",
    "mipsel64n32": "mips64-le-n32", "mipsel": "mips-le",
}

#: The ``AUDIT_ARCH_*`` values (``linux/audit.h``) of the x86 ABIs, for the code that reads
#: ``seccomp_data.arch`` without libseccomp (the eBPF program, the in-process handler).
AUDIT_ARCH_X86_64: Final = 0xC000003E
AUDIT_ARCH_I386: Final = 0x40000003

#: x32 calls arrive with AUDIT_ARCH_X86_64 and this bit set in the syscall number.
X32_SYSCALL_BIT: Final = 0x40000000

#: ``uname -m`` spellings that are not libseccomp's arch token.
_MACHINES: Final[dict[str, str]] = {"amd64": "x86_64", "i686": "x86", "i386": "x86",
                                    "arm64": "aarch64"}

#: ABIs whose registers are 64 bits wide (the rest: 32-bit callers).
WIDE: Final = frozenset({"x86_64", "aarch64", "ppc64le", "ppc64", "s390x", "riscv64",
                         "loongarch64", "mips64", "mipsel64"})


def arch_of_machine(machine: str) -> str:
    """libseccomp's token for a ``uname -m`` machine name."""
    return _MACHINES.get(machine, machine)


@functools.lru_cache(maxsize=64)
def family_of(arch: str) -> tuple[str, ...]:
    """The arches that run on the same kernel as ``arch`` (``arch`` alone if unknown)."""
    for members in FAMILIES.values():
        if arch in members:
            return members
    return (arch,)


@functools.lru_cache(maxsize=64)
def arch_sort_key(arch: str) -> tuple[str, int, str]:
    """Order arches by family (main arch's name), then main arch first, then the family order."""
    members = family_of(arch)
    return (members[0], members.index(arch) if arch in members else 0, arch)


def sort_arches(arches: Iterable[str]) -> tuple[str, ...]:
    """Distinct arches in the canonical order (``x86_64, x86, x32``)."""
    return tuple(sorted(set(arches), key=arch_sort_key))
