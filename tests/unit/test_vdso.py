"""The vDSO's image as a symbol and unwind source, and i386 unwind rules, on real images: this
process's own vDSO (read from its memory) and a static i386 program built here.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest
from helpers.paths import LS_TRACE, TESTS

import seccomp_gen
from seccomp_gen.files.elf import Elf
from seccomp_gen.files.symbols import name_vdso_sites
from seccomp_gen.files.unwind import ABIS, Rules, frame_table, image_table
from seccomp_gen.linux import vdso
from seccomp_gen.model import CallSite, CodeLocation, SyscallRecord


def _vdso_trace(kernel: str, offset: int) -> seccomp_gen.Trace:
    """A trace made on ``kernel`` with one clock_gettime site in the vDSO at ``offset``."""
    trace = seccomp_gen.load_trace(LS_TRACE)
    rec = SyscallRecord("x86_64", "clock_gettime", 228, 2, 1, 1, "/usr/bin/prog",
                        ("/usr/bin/prog",), sites=(CallSite(CodeLocation("[vdso]", offset), 2),))
    return replace(trace, header=replace(trace.header, kernel=kernel), syscalls=(rec,))


def _own_clock_gettime() -> int:
    """The address (= offset) of clock_gettime in this process's vDSO image, from its
    .dynsym as this module's ELF reader sees it."""
    image = vdso.image_for("x86_64")
    assert image is not None
    elf = Elf(io.BytesIO(image))
    found = elf.functions_at(list(range(0, len(image))))
    return min(start for syms in found.values() for start, _, name, _ in syms
               if name.partition("@")[0] == "clock_gettime")


def test_own_vdso_names_a_trace_of_this_kernel_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vdso, "_images", {})
    start = _own_clock_gettime()
    named = name_vdso_sites(_vdso_trace(os.uname().release, start + 0x20))
    where = named.syscalls[0].sites[0].where
    assert (where.symbol, where.symbol_offset, where.kind) == ("clock_gettime", 0x20, "vdso")
    # Made on another kernel: this process's vDSO is not that one's; the site stays unnamed.
    monkeypatch.setattr(vdso, "_images", {})
    other = name_vdso_sites(_vdso_trace("0.0.0-elsewhere", start + 0x20))
    assert other.syscalls[0].sites[0].where.symbol == ""
    # No i386 image without an i386 process to read it from.
    assert vdso.image_for("x86") is None


def test_vdso_unwind_table_and_unreadable_captures(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vdso, "_images", {})
    image = vdso.image_for("x86_64")
    assert image is not None
    table = image_table(image)
    assert table is not None and table.abi == ABIS[64]
    # At a function's first instruction the return address is at CFA - 8, CFA = rsp + 8.
    assert table.rules(_own_clock_gettime()) == Rules(7, 8, {16: -8})
    assert image_table(b"\x7fELF" + b"\0" * 60) is None
    # A process that is gone, a range that is no ELF image: nothing kept, nothing raised.
    monkeypatch.setattr(vdso, "_images", {})
    vdso.capture(2**22 + 12345, 0x1000, 0x3000)
    vdso.capture(os.getpid(), 0, 1 << 20)
    assert vdso._images == {}


def test_i386_unwind_rules_of_a_static_program(tmp_path: Path) -> None:
    """i386 CFI: esp (4) is the CFA register, the return address column is eip (8)."""
    exe = tmp_path / "hello32"
    built = subprocess.run([shutil.which("gcc") or "cc", "-m32", "-static", "-O1", "-o",
                            str(exe), str(TESTS / "c" / "hello32.c")], capture_output=True,
                           text=True, timeout=120, check=False)
    if built.returncode != 0:
        pytest.skip(f"no -m32 -static toolchain: {built.stderr.strip()[-200:]}")
    table = frame_table(str(exe))
    assert table is not None and table.abi == ABIS[32]
    with open(exe, "rb") as f:
        elf = Elf(f)
        text = elf.section(".text")
        assert text is not None
        found = elf.functions_at(list(range(text[0], text[0] + len(text[1]))))
    write = min(start for syms in found.values() for start, _, name, _ in syms
                if name == "write")
    assert table.rules(write) == Rules(4, 4, {8: -4})
