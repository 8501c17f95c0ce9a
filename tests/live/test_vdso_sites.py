"""Call sites in the vDSO, named from its image read out of the traced process: a 64-bit
program's ``clock_gettime`` fallback syscall, and every call of a static i386 program, which
enters the kernel through ``__kernel_vsyscall``, with the program function that called it.

The 64-bit vDSO is checked against binutils' readelf on this process's own vDSO image (the same
kernel, so the same image); the recorder runs as the CLI in a child.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from helpers.backends import needs
from helpers.cli import cli
from helpers.compiler import needs_cc
from helpers.paths import TESTS

import seccomp_gen

#: (None: the default backend) and the ptrace-based and notify recorders.
BACKENDS = (None, "ptrace", "notify")
CALLS = 3


def _own_vdso(tmp: Path) -> Path:
    """This process's vDSO image as a file, for readelf."""
    with open("/proc/self/maps", encoding="utf-8") as fh:
        line = next(line for line in fh if line.rstrip().endswith("[vdso]"))
    lo, hi = (int(x, 16) for x in line.split()[0].split("-"))
    with open("/proc/self/mem", "rb") as mem:
        mem.seek(lo)
        image = mem.read(hi - lo)
    out = tmp / "vdso64.so"
    out.write_bytes(image)
    return out


def _function_range(path: Path, name: str) -> tuple[int, int]:
    """[value, value + size) of function ``name`` in ``path``, by readelf (the vDSO is linked at
    0 with one PT_LOAD at offset 0: its addresses are its offsets)."""
    readelf = shutil.which("readelf")
    if readelf is None:
        pytest.skip("no readelf (binutils) to check against")
    syms = subprocess.run([readelf, "-sW", str(path)], capture_output=True, text=True,
                          timeout=60, check=True).stdout
    for f in (line.split() for line in syms.splitlines()):
        if len(f) >= 8 and f[3] == "FUNC" and f[7].partition("@")[0] == name:
            return int(f[1], 16), int(f[1], 16) + int(f[2])
    raise AssertionError(f"no {name} in {path}")


def _record(exe: str, out: Path, backend: str | None, *args: str) -> seccomp_gen.Trace:
    chosen = ["--backend", backend] if backend else []
    res = cli("record", "-q", *chosen, "-o", str(out), "--", exe, *args)
    assert res.returncode == 0, res.stderr
    return seccomp_gen.load_trace(out)


def _explain(trace: Path) -> dict[str, Any]:
    res = cli("explain", "--json", str(trace))
    assert res.returncode == 0, res.stderr
    doc: dict[str, Any] = json.loads(res.stdout)
    return doc


@needs_cc
@needs("ptrace", "notify")
@pytest.mark.live
@pytest.mark.parametrize("backend", BACKENDS)
def test_clock_gettime_fallback_is_named_in_the_vdso(cbuild, tmp_path: Path,
                                                     backend: str | None) -> None:
    trace = _record(cbuild["vdso_clock"], tmp_path / "clock.json", backend, str(CALLS))
    rec = trace.find("clock_gettime", "x86_64")
    assert rec is not None and rec.count == CALLS
    (site,) = rec.sites
    where = site.where
    assert (where.path, where.kind) == ("[vdso]", "vdso")
    assert where.symbol in ("clock_gettime", "__vdso_clock_gettime")
    start, end = _function_range(_own_vdso(tmp_path), where.symbol)
    assert start <= where.offset - 1 < end
    assert where.symbol_offset == where.offset - start
    if backend != "notify":  # the ptrace-based recorders sample the stack: libc called it
        assert site.caller is not None
        assert (os.path.basename(site.caller.path), site.caller.symbol) == (
            "libc.so.6", "clock_gettime")
    else:  # no rbp in notify's sample, and the 64-bit vDSO's CFA is rbp-based (explain.md)
        assert site.caller is None
    doc = _explain(tmp_path / "clock.json")
    assert doc["named_calls"] == doc["calls"]


@needs_cc
@needs("ptrace", "notify")
@pytest.mark.live
@pytest.mark.parametrize("backend", BACKENDS)
def test_static_i386_calls_are_kernel_vsyscall_called_from_the_program(
        cbuild, tmp_path: Path, backend: str | None) -> None:
    exe = cbuild["hello32"]
    out = tmp_path / "hello32.json"
    trace = _record(exe, out, backend)
    write = trace.find("write", "x86")
    assert write is not None
    (site,) = write.sites
    assert (site.where.path, site.where.symbol, site.where.kind) == (
        "[vdso]", "__kernel_vsyscall", "vdso")
    # Walked with the vDSO's own .eh_frame, then the program's (i386 CFI); notify's sample has
    # esp and eip from /proc/TID/syscall and needs no ebp for these frames.
    assert site.caller is not None
    assert (site.caller.path, site.caller.symbol) == (os.path.realpath(exe), "write")
    getpid = trace.find("getpid", "x86")
    assert getpid is not None and getpid.sites[0].caller is not None
    assert getpid.sites[0].caller.symbol == "getpid"
    doc = _explain(out)
    assert doc["named_calls"] >= 0.9 * doc["calls"]
    vdso_calls = sum(lib["count"] for rec in doc["syscalls"] for lib in rec["libraries"]
                     if lib["kind"] == "vdso")
    assert vdso_calls >= 5  # most of its calls go through the vDSO
    text = cli("explain", str(out), "write")
    assert text.returncode == 0, text.stderr
    assert b"__kernel_vsyscall (+0x" in text.stdout
    assert b"e.g. called from hello32:write+0x" in text.stdout


@needs_cc
@needs("ebpf")
@pytest.mark.live
def test_ebpf_names_the_vdso_of_an_i386_process_its_poller_read(cbuild, tmp_path: Path) -> None:
    """The ebpf backend reads no memory at the call: the i386 vDSO comes from the maps poller,
    which reaches a process that lives past its 20 ms interval."""
    trace = _record(cbuild["sleep32"], tmp_path / "sleep32.json", "ebpf")
    write = trace.find("write", "x86")
    assert write is not None
    assert [(s.where.path, s.where.symbol) for s in write.sites] == [
        ("[vdso]", "__kernel_vsyscall")]


@needs_cc
@needs("ptrace")
@pytest.mark.live
@pytest.mark.parametrize("backend", (None, "ptrace"))
def test_dynamic_i386_vdso_calls_are_called_from_i386_libc(tmp_path: Path,
                                                           backend: str | None) -> None:
    """A dynamic i386 program: ld.so's first calls place the maps before libc is mapped; the
    stack sample of a [vdso] site reads them afresh, so the caller is found in libc."""
    exe = tmp_path / "hello32dyn"
    built = subprocess.run([shutil.which("gcc") or "cc", "-m32", "-O1", "-o", str(exe),
                            str(TESTS / "c" / "hello32.c")], capture_output=True, text=True,
                           timeout=120, check=False)
    if built.returncode != 0:
        pytest.skip(f"no dynamic -m32 toolchain: {built.stderr.strip()[-200:]}")
    trace = _record(str(exe), tmp_path / "dyn32.json", backend)
    for name in ("write", "getpid"):
        rec = trace.find(name, "x86")
        assert rec is not None
        (site,) = rec.sites
        assert (site.where.path, site.where.symbol) == ("[vdso]", "__kernel_vsyscall")
        assert site.caller is not None
        assert (os.path.basename(site.caller.path), site.caller.symbol) == ("libc.so.6", name)
