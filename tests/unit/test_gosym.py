"""Go's pclntab read by :mod:`seccomp_gen.files.gosym`: tables of every supported layout made
here byte by byte, real Go programs built here (named against the ELF symbols of the unstripped
build, read by binutils' readelf), this machine's stripped Go binaries, and hostile bytes.
"""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
from helpers.fuzz import hard_limit, mutated
from helpers.gobuild import build_probe
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seccomp_gen.files.elf import Elf
from seccomp_gen.files.gosym import GoTable, go_table, is_runtime
from seccomp_gen.files.symbols import name_offsets
from seccomp_gen.files.unwind import frame_table

MAGIC = {(1, 2): 0xFFFFFFFB, (1, 16): 0xFFFFFFFA, (1, 18): 0xFFFFFFF0, (1, 20): 0xFFFFFFF1}
#: (name, entry, size) of the functions of the made-up tables; a gap after the second.
FUNCS = [("main.main", 0x1000, 0x40), ("runtime.write1", 0x1040, 0x20),
         ("internal/runtime/syscall.Syscall6", 0x1080, 0x30)]
TEXT = 0x1000
END = 0x10B0


def _pcsp() -> bytes:
    """A pcsp table: delta 0 for 4 bytes, 24 for 0x38, 0 for the last 4 (zig-zag varints)."""
    return bytes([2, 4, 48, 0x38, 47, 4, 0])


def make_table(version: tuple[int, int], ptr: int = 8) -> bytes:
    """A pclntab of ``version``'s layout holding :data:`FUNCS`."""
    word = "<Q" if ptr == 8 else "<I"
    new = version >= (1, 18)
    field = "<I" if new else word
    names = b"".join(n.encode() + b"\0" for n, _, _ in FUNCS)
    name_offs = [names.index(n.encode() + b"\0") for n, _, _ in FUNCS]
    nwords = {(1, 2): 1, (1, 16): 7}.get(version, 8)
    header = 8 + nwords * ptr
    if version == (1, 2):
        # functab right after the header; names, pcsp and records after it, table-relative.
        functab = header
        ftab_size = (2 * len(FUNCS) + 1) * ptr
        names_at = functab + ftab_size
        pcsp_at = names_at + len(names)
        rec_at = pcsp_at + len(_pcsp())
        rec_size = ptr + 16
        ftab = b"".join(struct.pack(word, e) + struct.pack(word, rec_at + i * rec_size)
                        for i, (_, e, _) in enumerate(FUNCS)) + struct.pack(word, END)
        recs = b"".join(struct.pack(word, e) + struct.pack("<iIII", names_at + off, 0, 0,
                                                           pcsp_at)
                        for (_, e, _), off in zip(FUNCS, name_offs, strict=True))
        head = struct.pack("<IBBBB", MAGIC[version], 0, 0, 1, ptr) + struct.pack(word,
                                                                                 len(FUNCS))
        return head + ftab + names + _pcsp() + recs
    names_at = header
    pcsp_at = names_at + len(names)
    pctab = pcsp_at
    functab = pcsp_at + len(_pcsp())
    fsize = struct.calcsize(field)
    ftab_size = (2 * len(FUNCS) + 1) * fsize
    rec_size = (4 if new else ptr) + 16
    base = TEXT if new else 0
    ftab = b"".join(struct.pack(field, e - base) + struct.pack(field, ftab_size + i * rec_size)
                    for i, (_, e, _) in enumerate(FUNCS)) + struct.pack(field, END - base)
    recs = b"".join(struct.pack("<I" if new else word, e - base)
                    + struct.pack("<iIII", off, 0, 0, 0)
                    for (_, e, _), off in zip(FUNCS, name_offs, strict=True))
    fields = [len(FUNCS), 1, *([TEXT] if new else []), names_at, 0, 0, pctab, functab]
    head = struct.pack("<IBBBB", MAGIC[version], 0, 0, 1, ptr) + b"".join(
        struct.pack(word, f) for f in fields)
    assert len(head) == header
    return head + names + _pcsp() + ftab + recs


def _open(data: bytes) -> GoTable:
    return GoTable(lambda at, n: data[at:at + n], len(data))


LAYOUTS = [(v, p) for v in MAGIC for p in (8, 4)]


@pytest.mark.parametrize(("version", "ptr"), LAYOUTS)
def test_every_layout_names_each_function_and_nothing_outside(version: tuple[int, int],
                                                              ptr: int) -> None:
    table = _open(make_table(version, ptr))
    assert table.version == version
    for name, entry, size in FUNCS:
        assert table.lookup(entry) == (name, entry)
        assert table.lookup(entry + size - 1) == (name, entry)
    assert table.lookup(TEXT - 1) is None
    assert table.lookup(END) is None
    # The gap after runtime.write1 belongs to it: Go's table has no ends but the last.
    assert table.lookup(0x1070) == ("runtime.write1", 0x1040)


@pytest.mark.parametrize(("version", "ptr"), LAYOUTS)
def test_sp_delta_follows_the_pcsp_table(version: tuple[int, int], ptr: int) -> None:
    table = _open(make_table(version, ptr))
    entry = FUNCS[0][1]
    assert [table.sp_delta(entry + d) for d in (0, 3, 4, 0x3B, 0x3C, 0x3F)] == \
        [0, 0, 24, 24, 0, 0]
    assert table.sp_delta(END + 1) is None


def test_a_record_that_disagrees_with_the_function_table_names_nothing() -> None:
    data = bytearray(make_table((1, 20)))
    table = _open(bytes(data))
    rec = table.funcbase + struct.unpack_from("<I", data, table.functab + 4)[0]
    struct.pack_into("<I", data, rec, 0x7777)  # main.main's record claims another entry
    table = _open(bytes(data))
    assert table.lookup(FUNCS[0][1]) is None
    assert table.lookup(FUNCS[1][1]) == (FUNCS[1][0], FUNCS[1][1])


@pytest.mark.parametrize("data", [b"", b"\xf1\xff\xff\xff", b"\xf1\xff\xff\xff\0\0\3\x08" * 20,
                                  b"\xf0\xff\xff\xff\0\1\1\x08" + bytes(80),
                                  b"\xfa\xff\xff\xff\0\0\1\x06" + bytes(80)])
def test_bad_headers_are_refused(data: bytes) -> None:
    with pytest.raises(ValueError):
        _open(data)


def test_runtime_packages() -> None:
    assert is_runtime("runtime.futex") and is_runtime("runtime/internal/syscall.Syscall6")
    assert is_runtime("internal/poll.(*FD).Write") and is_runtime("syscall.RawSyscall6")
    assert not is_runtime("os.(*File).Write") and not is_runtime("main.main")


SEEDS = [make_table(v, p) for v, p in LAYOUTS]
TOKENS = [b"\xff" * 4, b"\0" * 8, b"\x80" * 8, b"\xf1\xff\xff\xff\0\0\1\x08", b"\x7f" * 4]
settings.register_profile("gosym", max_examples=300, deadline=timedelta(seconds=5),
                          suppress_health_check=[HealthCheck.too_slow])


@settings(settings.get_profile("gosym"))
@given(mutated(SEEDS, TOKENS, ops=6, chunk=40, repeat=40), st.integers(0, 0x2000))
def test_hostile_tables_give_no_name_never_an_exception(data: bytes, pc: int) -> None:
    with hard_limit(20):
        try:
            table = _open(data)
        except ValueError:
            return  # refused at the header: no names
        for at in (pc, *(e for _, e, _ in FUNCS)):
            hit = table.lookup(at)
            assert hit is None or (isinstance(hit[0], str) and hit[1] <= at)
            delta = table.sp_delta(at)
            assert delta is None or isinstance(delta, int)


# -- real Go programs -------------------------------------------------------------------------

def _readelf_functions(path: Path) -> dict[str, tuple[int, int]]:
    """name -> (value, size) of the FUNC symbols of ``path``, from binutils' readelf."""
    readelf = shutil.which("readelf")
    if readelf is None:
        pytest.skip("no readelf (binutils) to check against")
    out = subprocess.run([readelf, "-sW", str(path)], capture_output=True, text=True,
                         timeout=60, check=True).stdout
    funcs = {}
    for f in (line.split(None, 7) for line in out.splitlines()):
        if len(f) >= 8 and f[3] == "FUNC" and int(f[2], 0):
            funcs[f[7]] = (int(f[1], 16), int(f[2], 0))
    return funcs


def _go_name(symbol: str) -> str:
    """The pclntab's name for an ELF symbol of Go's linker: without the ABI suffix of an
    assembly function, array lengths in the names of generated type functions as ``[...]``."""
    symbol = symbol.removesuffix(".abi0")
    return re.sub(r"\[[0-9]+\]", "[...]", symbol) if symbol.startswith("type..") else symbol


@pytest.fixture(scope="module")
def go_builds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The probe as an executable and a PIE, each also stripped (same code, no ELF symbols)."""
    tmp = tmp_path_factory.mktemp("gosym")
    out = {}
    for mode in ("exe", "pie"):
        out[mode], out[f"{mode}_stripped"] = build_probe(tmp, mode)
    return out


@pytest.mark.parametrize("kind", ["exe", "pie"])
def test_every_go_function_named_as_the_symbol_table_names_it(go_builds: dict[str, Path],
                                                              kind: str) -> None:
    funcs = {n: v for n, v in _readelf_functions(go_builds[kind]).items() if "." in n}
    assert len(funcs) > 500
    with open(go_builds[f"{kind}_stripped"], "rb") as f:
        elf = Elf(f)
        assert not any(s[0] == ".symtab" for s in elf.sections)
        table = go_table(elf)
        assert table is not None
        wrong = {name: table.lookup(value + size // 2)
                 for name, (value, size) in funcs.items()
                 if table.lookup(value + size // 2) != (_go_name(name), value)}
    assert not wrong, list(wrong.items())[:5]


def test_stripped_go_sites_are_named_and_classed_go(go_builds: dict[str, Path]) -> None:
    funcs = _readelf_functions(go_builds["exe"])
    with open(go_builds["exe_stripped"], "rb") as f:
        elf = Elf(f)
        loads = [s for s in elf.segments if s[0] == 1]
    value, _ = funcs["internal/runtime/syscall.Syscall6"] if \
        "internal/runtime/syscall.Syscall6" in funcs else funcs["runtime/internal/syscall.Syscall6"]
    p_offset, p_vaddr = next((s[1], s[2]) for s in loads if s[2] <= value < s[2] + s[3])
    offset = value - p_vaddr + p_offset + 0x10
    with open(go_builds["exe_stripped"], "rb") as f:
        info, names = name_offsets(f, [offset], debug_root="", use_cache=False)
    assert info.is_go
    assert names[offset][0].endswith("/syscall.Syscall6") and names[offset][1] == 0x10


def test_go_frames_unwind_from_the_sp_delta_table(go_builds: dict[str, Path]) -> None:
    table = frame_table(str(go_builds["exe_stripped"]))
    assert table is not None and table.go is not None
    value, size = _readelf_functions(go_builds["exe"])["main.main"]
    rules = table.rules(value + size // 2)
    assert rules is not None and rules.cfa_offset > 8 and rules.saved[16] == -8


@pytest.mark.parametrize("path", ["/usr/sbin/runc", "/usr/bin/docker", "/usr/local/bin/docker"])
def test_this_machines_stripped_go_binaries(path: str) -> None:
    """Debian's runc (externally linked) and docker (a PIE whose table has no section and whose
    text address is a relocation), and a Go 1.24 docker where one is installed (the 1.20+
    layout, no section): the first function starts at the text address, the runtime's."""
    if not os.path.exists(path):
        pytest.skip(f"{path} is not installed (.ci/run installs runc and docker.io)")
    with open(path, "rb") as f:
        table = go_table(Elf(f))
        assert table is not None
        first = table.lookup(table.text)
        assert first is not None and first[1] == table.text
        assert is_runtime(first[0])  # internal/cpu.Initialize, 1.24: internal/abi.


@pytest.mark.parametrize("damage", ["nfunc", "functab", "names"])
def test_a_damaged_table_in_a_real_binary_names_nothing_quietly(go_builds: dict[str, Path],
                                                                tmp_path: Path,
                                                                damage: str) -> None:
    """A Go binary whose pclntab is overwritten: its sites are ``?`` (class program), the
    caller walk finds no Go rules; nothing raises."""
    data = bytearray(go_builds["exe_stripped"].read_bytes())
    with open(go_builds["exe_stripped"], "rb") as f:
        elf = Elf(f)
        _, _, _, offset, size, _, _ = next(s for s in elf.sections if s[0] == ".gopclntab")
        table = go_table(elf)
        assert table is not None
        value, _ = _readelf_functions(go_builds["exe"])["main.main"]
        loads = [s for s in elf.segments if s[0] == 1]
    if damage == "nfunc":
        data[offset + 8:offset + 16] = b"\xff" * 8
    elif damage == "functab":
        data[offset + table.functab:offset + size] = b"\xfe" * (size - table.functab)
    else:
        data[offset + table.names:offset + table.pctab] = b"\xff" * (table.pctab - table.names)
    bad = tmp_path / "damaged"
    bad.write_bytes(bytes(data))
    p_offset, p_vaddr = next((s[1], s[2]) for s in loads if s[2] <= value < s[2] + s[3])
    site = value - p_vaddr + p_offset + 4
    with open(bad, "rb") as f:
        info, names = name_offsets(f, [site], debug_root="", use_cache=False)
    assert info.is_go
    assert site not in names or not names[site][0].startswith("main.")
    frames = frame_table(str(bad))
    assert frames is None or frames.rules(value + 4) is None or damage == "names"
