"""Naming call sites from real ELF files (this machine's libc, a program built here) and refusing
broken ones quietly: the small ELF reader, the symbol choice, the library classes, and the
.eh_frame rules the caller walk uses.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from helpers.cache import split, the_entry, write
from helpers.compiler import needs_cc
from helpers.paths import TESTS

from seccomp_gen.callsites import group_sites
from seccomp_gen.files import symcache
from seccomp_gen.files.elf import BadElf, Elf
from seccomp_gen.files.symbols import SymbolResolver, library_kind, name_offsets
from seccomp_gen.files.unwind import frame_table
from seccomp_gen.model import CallSite, CodeLocation, SyscallRecord


def _libc() -> str:
    """The libc this interpreter runs with (as the maps name it)."""
    with open("/proc/self/maps", encoding="utf-8") as fh:
        for line in fh:
            path = line.split()[-1]
            if os.path.basename(path).startswith("libc.so"):
                return path
    pytest.skip("this Python does not map a glibc libc.so")


def _symbol_offset(path: str, name: str) -> int:
    """The file offset of function ``name`` in ``path``, from binutils' readelf (an oracle
    independent of the reader under test): its value through the PT_LOAD holding it."""
    readelf = shutil.which("readelf")
    if readelf is None:
        pytest.skip("no readelf (binutils) to check against")
    syms = subprocess.run([readelf, "-sW", path], capture_output=True, text=True, timeout=60,
                          check=True).stdout
    value = next(int(f[1], 16) for f in (line.split() for line in syms.splitlines())
                 if len(f) >= 8 and f[3] == "FUNC" and f[7].partition("@")[0] == name)
    segs = subprocess.run([readelf, "-lW", path], capture_output=True, text=True, timeout=60,
                          check=True).stdout
    for f in (line.split() for line in segs.splitlines()):
        if f and f[0] == "LOAD":
            off, vaddr, filesz = int(f[1], 16), int(f[2], 16), int(f[4], 16)
            if vaddr <= value < vaddr + filesz:
                return value - vaddr + off
    raise AssertionError(f"{name} is in no PT_LOAD of {path}")


def test_libc_wrappers_are_named_with_their_public_name() -> None:
    libc = _libc()
    write = _symbol_offset(libc, "write")
    # A site a few bytes into write (the ip after its syscall instruction).
    with open(libc, "rb") as f:
        info, names = name_offsets(f, [write + 0x10], debug_root="")
    assert names[write + 0x10] == ("write", 0x10)
    assert not info.is_go
    resolver = SymbolResolver(debug_root="")
    loc = resolver.resolve(CodeLocation(libc, write + 0x10))
    assert (loc.symbol, loc.symbol_offset, loc.kind) == ("write", 0x10, "libc")
    # Offset 0 and an offset past every load segment: no function.
    assert resolver.resolve(CodeLocation(libc, 0)).symbol == "?"
    assert resolver.resolve(CodeLocation(libc, 1 << 40)).symbol == "?"


def test_unwind_rules_of_libcs_write_wrapper() -> None:
    """At write's syscall the CFA is rsp + 8 or more and the return address is at CFA - 8:
    the rule the caller walk reads the stack with."""
    libc = _libc()
    table = frame_table(libc)
    assert table is not None
    write = _symbol_offset(libc, "write")
    vaddr = table.vaddr(write + 0x10)
    assert vaddr is not None
    rules = table.rules(vaddr - 1)
    assert rules is not None
    assert rules.cfa_reg == 7 and rules.cfa_offset >= 8
    assert rules.saved[16] == -8


@needs_cc
def test_a_static_programs_functions_and_unwind_table(tmp_path: Path) -> None:
    """A static glibc program has .symtab but no .eh_frame_hdr: names come from .symtab and
    the unwind table is indexed from .eh_frame itself."""
    exe = tmp_path / "probe"
    built = subprocess.run([shutil.which("gcc") or "cc", "-O1", "-static", "-o", str(exe),
                            str(TESTS / "c" / "sites_probe.c")], capture_output=True, text=True,
                           timeout=120, check=False)
    if built.returncode != 0 and "cannot find -lc" in built.stderr:
        pytest.skip("no static libc to link with")
    assert built.returncode == 0, built.stderr
    with open(exe, "rb") as f:
        assert Elf(f).section(".eh_frame_hdr") is None
    probe = _symbol_offset(str(exe), "probe_raw_getppid")
    loc = SymbolResolver([str(exe)], debug_root="").resolve(CodeLocation(str(exe), probe + 7))
    assert (loc.symbol, loc.kind) == ("probe_raw_getppid", "program")
    table = frame_table(str(exe))
    assert table is not None
    vaddr = table.vaddr(probe + 7)
    assert vaddr is not None and table.rules(vaddr - 1) is not None


@pytest.mark.parametrize("content", [b"", b"\x7fELF", b"not an elf at all" * 10,
                                     b"\x7fELF\x02\x01\x01" + b"\xff" * 200])
def test_broken_files_are_refused_and_name_nothing(tmp_path: Path, content: bytes) -> None:
    bad = tmp_path / "libbroken.so"
    bad.write_bytes(content)
    with open(bad, "rb") as f, pytest.raises(BadElf):
        Elf(f)
    loc = SymbolResolver(debug_root="").resolve(CodeLocation(str(bad), 0x1234))
    assert (loc.symbol, loc.kind) == ("?", "library")
    assert frame_table(str(bad)) is None


def test_truncated_copies_of_libc_never_raise(tmp_path: Path) -> None:
    """Cut anywhere, libc names write's site correctly or not at all, and its unwind table
    is read or refused, never an exception."""
    libc = _libc()
    data = Path(libc).read_bytes()
    write = _symbol_offset(libc, "write") + 0x10
    for cut in (64, 4096, len(data) // 3, len(data) - 100):
        part = tmp_path / f"libc.so.6-cut-{cut}"
        part.write_bytes(data[:cut])
        loc = SymbolResolver(debug_root="").resolve(CodeLocation(str(part), write))
        assert loc.symbol in ("?", "write")
        frame_table(str(part))


def test_library_classes() -> None:
    exes = frozenset({"/usr/bin/prog"})
    assert library_kind("/usr/bin/prog", exes, None, "main") == "program"
    assert library_kind("/lib64/ld-linux-x86-64.so.2", exes, None, "?") == "ld.so"
    assert library_kind("/usr/lib/x86_64-linux-gnu/libc.so.6", exes, None, "write") == "libc"
    assert library_kind("/lib/ld-musl-x86_64.so.1", exes, None, "write") == "libc"
    assert library_kind("/usr/lib/libpython3.11.so.1.0", exes, None, "_Py_read") == "python"
    assert library_kind("/usr/bin/python3.11", exes, None, "main") == "python"
    assert library_kind("/usr/lib/libglib-2.0.so.0", exes, None, "g_poll") == "library"
    assert library_kind("[vdso]", exes, None, "?") == "vdso"
    assert library_kind("[anon]", exes, None, "?") == "jit"
    assert library_kind("[unknown]", exes, None, "?") == "unknown"


def test_explain_groups_by_class_then_library_then_function() -> None:
    def site(path: str, kind: str, symbol: str, offset: int, count: int) -> CallSite:
        return CallSite(CodeLocation(path, offset, symbol, 4, kind), count)

    rec = SyscallRecord("x86_64", "openat", 257, 13, 1, 1, "/usr/bin/prog", ("/usr/bin/prog",),
                        sites=(site("/lib/libc.so.6", "libc", "__open_nocancel", 0x20, 6),
                               site("/usr/bin/prog", "program", "main", 0x10, 4),
                               site("/lib/libc.so.6", "libc", "open", 0x30, 1),
                               site("/lib/ld-linux-x86-64.so.2", "ld.so", "open", 0x9, 1),
                               site("/lib/libc.so.6", "libc", "__open_nocancel", 0x40, 1)))
    groups = group_sites(rec)
    assert [(g.kind, g.path, g.calls) for g in groups] == [
        ("program", "/usr/bin/prog", 4), ("ld.so", "/lib/ld-linux-x86-64.so.2", 1),
        ("libc", "/lib/libc.so.6", 8)]
    libc = groups[2]
    assert [(f.symbol, f.calls, len(f.sites)) for f in libc.functions] == [
        ("__open_nocancel", 7, 2), ("open", 1, 1)]


def _namer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Callable[[], str], Path]:
    """What a fresh resolver names a site in libc's ``write`` (each call: the next run), and
    the cache entry the first call made, in this test's own cache directory."""
    monkeypatch.setenv("SECCOMP_GEN_CACHE_DIR", str(tmp_path / "cache"))
    libc = _libc()
    site = _symbol_offset(libc, "write") + 0x10

    def name() -> str:
        return SymbolResolver().resolve(CodeLocation(libc, site)).symbol

    assert name() == "write"
    return name, the_entry(tmp_path / "cache", symcache.KIND)


def test_names_are_cached_by_build_id_and_trusted_only_when_private(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    name, entry = _namer(tmp_path, monkeypatch)
    good = entry.read_bytes()
    key, value = split(entry)
    # The next run takes the name from the entry: one edited there is what it reports...
    write(entry, key, value.replace(b'"write"', b'"from_the_cache"'))
    assert name() == "from_the_cache"
    # ... unless anyone else could have written it: a miss (the run has happened by the time
    # sites are named: no error), the file read again and the entry replaced by our own.
    os.chmod(entry, 0o666)
    assert name() == "write"
    assert entry.read_bytes() == good and entry.stat().st_mode & 0o777 == 0o600
    os.chmod(tmp_path / "cache" / symcache.KIND, 0o777)
    write(entry, key, value.replace(b'"write"', b'"from_the_cache"'))
    assert name() == "write"
    os.chmod(tmp_path / "cache" / symcache.KIND, 0o700)
    target = tmp_path / "elsewhere"
    entry.rename(target)
    entry.symlink_to(target)
    assert name() == "write"
    assert not entry.is_symlink()  # replaced, not followed


@pytest.mark.parametrize("damage", ["not an entry", "torn", "not an object", "address",
                                    "start", "short"])
def test_a_damaged_names_entry_is_read_again_and_rewritten(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, damage: str) -> None:
    name, entry = _namer(tmp_path, monkeypatch)
    good = entry.read_bytes()
    key, value = split(entry)
    [(vaddr, (symbol, start))] = json.loads(value).items()
    bad = {"torn": value[:-3], "not an object": b"[1, 2]",
           "address": json.dumps({"x": [symbol, start]}).encode(),
           "start": json.dumps({vaddr: [symbol, hex(start)]}).encode(),
           "short": json.dumps({vaddr: [symbol]}).encode()}
    if damage == "not an entry":
        entry.write_bytes(os.urandom(200))
    else:
        write(entry, key, bad[damage])
    assert name() == "write"
    assert entry.read_bytes() == good
