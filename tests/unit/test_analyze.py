"""``seccomp-gen analyze``: the call-graph walk (pure, on hand-made summaries) and the scanner on
small programs built from tests/c (reach_probe: dynamic x86_64; hello32: static i386)."""

from __future__ import annotations

import json

import pytest
from helpers.cache import split, the_entry, write
from helpers.cli import cli

from seccomp_gen import libseccomp as lib
from seccomp_gen.errors import SeccompGenError
from seccomp_gen.files.binaries import analyze_exe, load_order, summaries, summarize
from seccomp_gen.reach import Function, ObjectSummary, reach, unobserved


def _objects() -> list[ObjectSummary]:
    exe = ObjectSummary("/bin/prog", "", "x86_64", {
        0x10: Function("main", calls=frozenset({0x20}), imports=frozenset({"open"})),
        0x20: Function("helper", syscalls=frozenset({39}), indirect=True),
        0x30: Function("callback", syscalls=frozenset({101})),  # ptrace
    }, roots=frozenset({0x10}), address_taken=frozenset({0x30}))
    first = ObjectSummary("/lib/liba.so", "", "x86_64", {
        0x100: Function("open", syscalls=frozenset({257}), unresolved=2),
        0x200: Function("unused", syscalls=frozenset({165})),  # mount
    }, exports={"open": 0x100, "unused": 0x200})
    second = ObjectSummary("/lib/libb.so", "", "x86_64", {
        0x100: Function("open", syscalls=frozenset({2})),
    }, exports={"open": 0x100})
    return [exe, first, second]


def test_reach_binds_the_first_exporter_and_follows_function_pointers() -> None:
    r = reach(_objects())
    # open binds to liba (load order), never libb; unused is not reached.
    assert set(r.numbers) == {39, 101, 257}
    assert r.paths[257] == ("prog:main", "liba.so:open")
    assert r.paths[101] == ("prog:main", "prog:helper", "(*)prog:callback")
    assert [(s.function, s.count) for s in r.unresolved] == [("open", 2)]
    assert set(reach(_objects(), indirect=False).numbers) == {39, 257}


def test_unobserved_is_ranked_by_risk_then_name() -> None:
    items = unobserved(reach(_objects()), {("x86_64", "getpid")}, lib.known_name)
    assert [(u.name, u.level) for u in items] == [("ptrace", "high"), ("openat", "")]
    assert items[0].path[-1] == "ptrace"


def test_scanner_finds_direct_wrapper_and_unresolved_sites(cbuild) -> None:
    exe = cbuild["reach_probe"]
    s = summarize(exe, root_all=True, use_cache=False)
    by_name = {f.name: f for f in s.functions.values()}
    assert by_name["direct_personality"].syscalls == {135}
    assert by_name["via_wrapper"].syscalls == {110}  # syscall(SYS_getppid): edi is known
    assert by_name["unknown_number"].unresolved == 1
    assert "syscall@plt" in by_name and by_name["syscall@plt"].unresolved == 0
    assert s.build_id and len(s.build_id) == 40


def test_a_never_taken_libc_path_is_reachable_with_its_path(cbuild) -> None:
    exe = cbuild["reach_probe"]
    assert any(p.endswith("libc.so.6") for p in load_order(exe))
    r, items, missed = analyze_exe(exe, [("x86_64", "getppid")])
    names = {u.name: u for u in items}
    assert "sync" in names and "getppid" not in names and "personality" in names
    assert names["sync"].path[-3:] == ("reach_probe:sync@plt", "libc.so.6:sync", "sync")
    assert missed == ()
    # Far below the ~370 syscalls of the table: the whole of what a tiny C program can reach.
    assert len(r.numbers) < 150


def test_static_i386_uses_the_i386_table(cbuild) -> None:
    exe = cbuild["hello32"]
    objects = summaries(exe, use_cache=False)
    assert [o.path for o in objects] == [exe]  # statically linked: no libraries
    r = reach(objects)
    assert r.arch == "x86"
    names = {lib.known_name("x86", nr) for nr in r.numbers}
    assert {"write", "getpid", "exit_group"} <= names


def test_cache_round_trip_gives_the_same_summary(cbuild, tmp_path, monkeypatch) -> None:
    from seccomp_gen.files import binaries

    monkeypatch.setenv("SECCOMP_GEN_CACHE_DIR", str(tmp_path / "cache"))
    exe = cbuild["reach_probe"]
    fresh = summarize(exe, root_all=True, use_cache=False)
    monkeypatch.setattr(binaries, "_MEMORY", {})
    written = summarize(exe, root_all=True)
    monkeypatch.setattr(binaries, "_MEMORY", {})
    entry = the_entry(tmp_path / "cache", "reach")
    assert entry.stat().st_mode & 0o777 == 0o600
    again = summarize(exe, root_all=True)
    assert fresh == written == again
    # What is read back is the entry's: an edited one is what the next run gets...
    good = entry.read_bytes()
    key, value = split(entry)
    write(entry, key, value.replace(b'"main"', b'"from_the_cache"'))
    monkeypatch.setattr(binaries, "_MEMORY", {})
    assert "from_the_cache" in {f.name for f in summarize(exe, root_all=True).functions.values()}
    # ... unless it is damaged: then the object is scanned again and the entry rewritten.
    doc = json.loads(value)
    for bad in (value[:-5], b"[1, 2]", json.dumps({**doc, "functions": [[1, "f"]]}).encode(),
                json.dumps({k: v for k, v in doc.items() if k != "exports"}).encode()):
        write(entry, key, bad)
        monkeypatch.setattr(binaries, "_MEMORY", {})
        assert summarize(exe, root_all=True) == fresh
        assert entry.read_bytes() == good


def test_a_cached_summary_not_ours_is_refused_in_one_line(cbuild, tmp_path, monkeypatch) -> None:
    from seccomp_gen.files import binaries

    monkeypatch.setenv("SECCOMP_GEN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(binaries, "_MEMORY", {})
    exe = cbuild["reach_probe"]
    summarize(exe, root_all=True)
    entry = the_entry(tmp_path / "cache", "reach")
    entry.chmod(0o620)
    monkeypatch.setattr(binaries, "_MEMORY", {})
    with pytest.raises(SeccompGenError, match="refusing to use a cached reachability summary: "
                       "it is writable by others") as info:
        summarize(exe, root_all=True)
    assert str(entry) in info.value.one_line() and "\n" not in info.value.one_line()


@pytest.mark.parametrize(("path", "message"), [
    ("/etc/passwd", "not an ELF object"),
    ("/nonexistent/prog", "cannot read the executable"),
])
def test_bad_exe_is_one_error_line(path, message) -> None:
    with pytest.raises(SeccompGenError, match=message):
        analyze_exe(path, [])


def _trace(tmp_path, exe: str) -> str:
    from seccomp_gen.files.traces import dump
    from seccomp_gen.model import ExeRecord, Trace, TraceHeader

    header = TraceHeader("0", ("prog",), "6", "x86_64", "2.5", "ptrace", None, "", "", 0.0,
                         None)
    path = tmp_path / "t.trace.json"
    dump(Trace(header, (), (), (ExeRecord(exe, 1, {("x86_64", "getppid"): 1}),)), path)
    return str(path)


def test_cli_text_json_and_errors(cbuild, tmp_path) -> None:
    exe = cbuild["reach_probe"]
    trace = _trace(tmp_path, exe)
    text = cli("analyze", trace)
    out = text.stdout.decode()
    assert text.returncode == 0, text.stderr
    assert "sync" in out and "reachable, 1 observed" in out
    doc = json.loads(cli("analyze", trace, "--json").stdout)
    assert doc["format"] == "seccomp-gen-analyze" and doc["exes"][0]["exe"] == exe
    objects = doc["exes"][0]["objects"]
    assert objects[0]["path"] == exe and all(len(o["build_id"]) == 40 for o in objects)
    assert cli("analyze", trace, "--json").stdout == cli("analyze", trace, "--json").stdout
    bad = cli("analyze", trace, "--exe", "/bin/other")
    assert bad.returncode == 125 and len(bad.stderr.decode().strip().splitlines()) == 1
    gone = cli("analyze", _trace(tmp_path, "/etc/passwd"))
    assert gone.returncode == 125 and b"not an ELF object" in gone.stderr


def test_dynamic_i386_finds_lib32_and_the_eax_passed_numbers(tmp_path) -> None:
    import shutil
    import subprocess

    from helpers.paths import TESTS

    gcc = shutil.which("gcc")
    exe = tmp_path / "hello32dyn"
    res = subprocess.run([gcc or "gcc", "-m32", "-O1", "-o", str(exe), str(TESTS / "c" /
                          "hello32.c")], capture_output=True, text=True, timeout=120) \
        if gcc else None
    if res is None or res.returncode != 0:
        pytest.skip("gcc cannot build dynamic i386 programs (install gcc-multilib)")
    objects = summaries(str(exe))
    assert [o.arch for o in objects] == ["x86"] * len(objects)
    assert any(o.path.endswith("libc.so.6") for o in objects)
    r = reach(objects)
    names = {lib.known_name("x86", nr) for nr in r.numbers}
    # mmap2 is made by __libc_do_syscall with the number its callers put in eax.
    assert {"write", "mmap2", "exit_group", "set_thread_area"} <= names
    assert sum(s.count for s in r.unresolved) < 10  # pc thunks keep eax (21 sites without)


def test_widen_adds_the_unflagged_ones_only_with_safe() -> None:
    from seccomp_gen.profile import Profile, Rule
    from seccomp_gen.reach import widen

    base = Profile("errno", 1, ("x86_64",), (Rule("read", ("x86_64",)),))
    additions = {("x86_64", "sync"): "/bin/prog", ("x86_64", "ptrace"): "/bin/prog",
                 ("x86", "write"): "/bin/prog"}  # an arch the profile lacks: left out
    safe = widen(base, additions, "safe")
    assert [r.name for r in safe.rules] == ["read", "sync"]
    assert "reachable in prog's code" in safe.rules[1].comment
    assert [r.name for r in widen(base, additions, "all").rules] == ["ptrace", "read", "sync"]
    assert "--with-reachable safe: 1 syscalls" in safe.notes[-1]


def test_generate_with_reachable(cbuild, tmp_path) -> None:
    trace = _trace(tmp_path, cbuild["reach_probe"])
    plain, wide = tmp_path / "p.json", tmp_path / "w.json"
    assert cli("generate", trace, "-o", plain).returncode == 0
    res = cli("generate", trace, "-o", wide, "--with-reachable", "safe")
    assert res.returncode == 0, res.stderr
    names = {n for s in json.loads(wide.read_text())["syscalls"] for n in s["names"]}
    # The trace's exe record says getppid was observed: not added; the rest is.
    assert {"sync", "personality"} <= names and "getppid" not in names
    assert "ptrace" not in names and "clone3" not in names
    plain_names = {n for s in json.loads(plain.read_text())["syscalls"] for n in s["names"]}
    assert plain_names < names


def test_truncated_exe_is_one_error_line(tmp_path) -> None:
    cut = tmp_path / "cut"
    with open("/bin/sh", "rb") as f:
        cut.write_bytes(f.read(3000))
    with pytest.raises(SeccompGenError, match="malformed ELF object"):
        analyze_exe(str(cut), [])


def test_int80_in_64_bit_code_is_named_with_the_i386_table(cbuild) -> None:
    exe = cbuild["int80"]
    _, items, missed = analyze_exe(exe, [("x86", "getpid"), ("x32", "getpid")])
    found = {(u.arch, u.name) for u in items}
    assert ("x86", "getuid32") in found  # i386 199 (x86_64 199 would be fremovexattr)
    assert ("x86_64", "fremovexattr") not in found
    assert missed == ()  # the i386 and x32 getpid calls are in the static set
