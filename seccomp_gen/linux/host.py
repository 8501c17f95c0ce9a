"""Which machine this is: its arch (as libseccomp names it) and kernel release, from uname.

``os.uname().machine`` is exactly what ``platform.machine()`` returns on Linux, without importing
:mod:`platform` (a few ms of every ``record``'s start-up).
"""

from __future__ import annotations

import os

from ..syscalls.arches import arch_of_machine, family_of


def host_arch() -> str:
    """libseccomp's name for the arch this Python runs as."""
    return arch_of_machine(os.uname().machine)


def host_arches() -> tuple[str, ...]:
    """The ABIs this kernel runs (x86_64, x86, x32 on x86_64), main arch first."""
    return family_of(host_arch())


def kernel_release() -> str:
    """``uname -r`` of the running kernel."""
    return os.uname().release
