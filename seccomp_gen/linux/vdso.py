"""The vDSO images of the run's processes, kept to name ``[vdso]`` call sites after the run.

The vDSO is no file on disk but a complete ELF image (symbols, ``.eh_frame``) that the kernel
maps into every process: after the run there is nothing to open, so the image is read from a
traced process's memory while it lives, at the first call site found in its ``[vdso]``
(:meth:`seccomp_gen.linux.codemaps.SiteResolver.site`, a resolver miss, never the hot loop).
One kernel has one image per ABI (x86_64, i386, x32), so images are kept per (ELF class,
machine): the first process of each ABI is read in full (a few KiB), later ones only for the
header that says which ABI theirs is. They are kept in this process (the recorder and the naming
at the end of ``record`` run in it; a trace file does not carry them). The image of this
process's own ABI can always be read from this process, and is the traced processes' when the
kernel is the same. See docs/explain.md.
"""

from __future__ import annotations

import os

from ..syscalls.arches import AUDIT_ARCH_I386, AUDIT_ARCH_X86_64

#: Bytes read of a vDSO at most (the kernel's are 8 KiB; a larger mapping is not a vDSO).
MAX_IMAGE = 1 << 16
_EM_386, _EM_X86_64 = 3, 62
#: The (ELF class, machine) of the vDSO a process of each ABI (libseccomp's arch token) enters
#: the kernel from.
ABI_OF_ARCH = {"x86_64": (64, _EM_X86_64), "x86": (32, _EM_386), "x32": (32, _EM_X86_64)}
#: The arch token of a call's AUDIT_ARCH (x32 calls, AUDIT_ARCH_X86_64 with the x32 bit in
#: their number, are not told apart here: their sites are not walked).
ARCH_OF_AUDIT = {AUDIT_ARCH_X86_64: "x86_64", AUDIT_ARCH_I386: "x86"}

_images: dict[tuple[int, int], bytes] = {}


def _abi(header: bytes) -> tuple[int, int] | None:
    """(ELF class in bits, e_machine) of an ELF header, None if it is none."""
    if len(header) < 20 or header[:4] != b"\x7fELF" or header[4] not in (1, 2):
        return None
    return 64 if header[4] == 2 else 32, int.from_bytes(header[18:20], "little")


def capture(pid: int, start: int, end: int) -> None:
    """Keep the vDSO mapped at [start, end) in process ``pid`` (alive), unless one of its ABI
    is kept already. An unreadable process or a mapping that is no ELF image is skipped."""
    if not 0 < end - start <= MAX_IMAGE:
        return
    try:
        fd = os.open(f"/proc/{pid}/mem", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return
    try:
        abi = _abi(os.pread(fd, 20, start))
        if abi is None or abi in _images:
            return
        image = os.pread(fd, end - start, start)
        if len(image) == end - start:
            _images[abi] = image
    except OSError:
        return
    finally:
        os.close(fd)


def _capture_own() -> None:
    """Keep this process's own vDSO."""
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as fh:
            lines = [line for line in fh if line.rstrip().endswith("[vdso]")]
    except OSError:
        return
    for line in lines:
        lo, _, hi = line.split(None, 1)[0].partition("-")
        capture(os.getpid(), int(lo, 16), int(hi, 16))


def image_for(arch: str, same_kernel: bool = True) -> bytes | None:
    """The vDSO image a process of ``arch`` (libseccomp's token: ``x86_64``, ``x86``) called
    the kernel from, None if none is known. ``same_kernel``: the calls were made on the kernel
    this process runs on, so this process's own vDSO may stand in for its ABI (the ebpf
    backend reads no process memory)."""
    abi = ABI_OF_ARCH.get(arch)
    if abi is None:
        return None
    if abi not in _images and same_kernel:
        _capture_own()
    return _images.get(abi)
