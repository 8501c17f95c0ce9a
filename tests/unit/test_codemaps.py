"""The call-site locator: /proc/PID/maps text -> (mapped file, file offset), and the resolver's
cache and id assignment. Maps text below is in the kernel's format (``man 5 proc``)."""

from __future__ import annotations

import ctypes
import os

from seccomp_gen.linux.codemaps import (
    ANON,
    UNKNOWN,
    SiteResolver,
    locate,
    parse_maps,
    read_maps,
)

MAPS = """\
55d0c0a00000-55d0c0a02000 r--p 00000000 fe:01 1234   /usr/bin/prog
55d0c0a02000-55d0c0a08000 r-xp 00002000 fe:01 1234   /usr/bin/prog
7f0000000000-7f0000026000 r--p 00000000 fe:01 99     /usr/lib/x86_64-linux-gnu/libc.so.6
7f0000026000-7f000017c000 r-xp 00026000 fe:01 99     /usr/lib/x86_64-linux-gnu/libc.so.6
7f1000000000-7f1000001000 rwxp 00000000 00:00 0
7ffc00000000-7ffc00002000 r-xp 00000000 00:00 0      [vdso]
7ffd00000000-7ffd00001000 r-xp 00000000 fe:01 77     /tmp/my lib.so (deleted)
"""


def test_parse_keeps_executable_mappings_only_with_their_paths() -> None:
    maps = parse_maps(MAPS)
    assert [m.path for m in maps] == [
        "/usr/bin/prog",
        "/usr/lib/x86_64-linux-gnu/libc.so.6",
        ANON,
        "[vdso]",
        "/tmp/my lib.so (deleted)",
    ]


def test_locate_gives_file_offsets_not_addresses() -> None:
    maps = parse_maps(MAPS)
    starts = [m.start for m in maps]
    assert locate(maps, starts, 0x55D0C0A02010) == ("/usr/bin/prog", 0x2010)
    assert locate(maps, starts, 0x7F00000D54E9) == ("/usr/lib/x86_64-linux-gnu/libc.so.6", 0xD54E9)
    assert locate(maps, starts, 0x7F1000000010) == (ANON, 0x10)
    assert locate(maps, starts, 0x7FFC00000100) == ("[vdso]", 0x100)
    # Outside every executable mapping: below the first, in a gap, in a read-only mapping.
    assert locate(maps, starts, 0x1000) is None
    assert locate(maps, starts, 0x55D0C0A01000) is None
    assert locate(maps, starts, 0x7F000017C000) is None


def test_malformed_lines_are_skipped() -> None:
    assert parse_maps("garbage\nzz-yy r-xp 0 0 0 /x\n\n") == []


def test_resolver_finds_libc_in_this_process_and_caches_per_token() -> None:
    libc = ctypes.CDLL("libc.so.6")
    addr = ctypes.cast(libc.getpid, ctypes.c_void_p).value
    assert addr is not None
    r = SiteResolver()
    sid = r.site(7, os.getpid(), addr)
    path, offset = r.sites[sid]
    assert os.path.basename(path).startswith("libc.so")
    maps = read_maps(os.getpid())
    assert maps is not None
    m = next(m for m in maps if m.start <= addr < m.end)
    assert offset == addr - m.start + m.offset
    assert r.cache[(7, addr)] == sid
    # The same place from another token is the same site id.
    assert r.site(8, os.getpid(), addr) == sid


def test_a_gone_process_is_unknown_and_not_cached() -> None:
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    r = SiteResolver()
    sid = r.site(1, pid, 0x1234)
    assert r.sites[sid] == (UNKNOWN, 0)
    assert (1, 0x1234) not in r.cache
