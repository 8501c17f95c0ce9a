"""Call sites recorded by the ebpf backend (issue 15): the kernel resolves each new address to
(build id, file offset) while the process lives, the recorder finds the file by build id after the
run. Checked against the ptrace backend, which reads /proc/PID/maps at a stop: the same
(path, offset) for every call of real programs (libc's write wrapper, a static program's own
function, ld.so, a shell and its short-lived children, a Python start-up). The parts that find
files (DT_NEEDED, the maps poller) are checked on real files and a real process.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from helpers.cli import cli
from helpers.paths import TESTS

from seccomp_gen.ebpf.syscall_counter import BUILD_ID_VALID
from seccomp_gen.files.elf import Elf
from seccomp_gen.linux.codemaps import UNKNOWN, read_maps
from seccomp_gen.recorders import unavailable_reasons
from seccomp_gen.recorders.ebpf_sites import MapsPoller, SitePaths, elf_facts

_WHY = unavailable_reasons()["ebpf"]
needs_ebpf = pytest.mark.skipif(_WHY is not None, reason=f"ebpf backend: {_WHY}")
_PTRACE_WHY = unavailable_reasons()["ptrace"]
needs_ptrace = pytest.mark.skipif(_PTRACE_WHY is not None, reason=f"ptrace: {_PTRACE_WHY}")
SOURCE = TESTS / "c" / "sites_probe.c"

Sites = dict[tuple[str, str], list[tuple[str, int, int]]]


def _static(tmp: Path) -> Path:
    """tests/c/sites_probe.c linked statically (cbuild links it dynamically)."""
    exe = tmp / "sites_static"
    cc = [shutil.which("gcc") or "cc", "-O1", "-static", "-o", str(exe), str(SOURCE)]
    res = subprocess.run(cc, capture_output=True, text=True, timeout=120, check=False)
    if "cannot find -lc" in res.stderr:
        pytest.skip("no static libc (libc.a) to link with")
    assert res.returncode == 0, res.stderr
    return exe


def _vdso_fallback(tmp: Path) -> Path:
    """A program whose clock_gettime(CLOCK_PROCESS_CPUTIME_ID) the vDSO passes to the kernel:
    a syscall made in the vDSO, which has no file."""
    src, exe = tmp / "vdso.c", tmp / "vdso"
    src.write_text("#include <time.h>\nint main(void) { struct timespec t;\n"
                   "  for (int i = 0; i < 3; i++) clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);\n"
                   "  return 0; }\n")
    res = subprocess.run([shutil.which("gcc") or "cc", "-O1", "-o", str(exe), str(src)],
                         capture_output=True, text=True, timeout=120, check=False)
    assert res.returncode == 0, res.stderr
    return exe


def _sites(cmd: list[str], out: Path, backend: str) -> tuple[Sites, list[str]]:
    """(arch, name) -> sorted (path, offset, calls) of a recording, and its header notes."""
    res = cli("record", "-q", "--backend", backend, "-o", out, "--", *cmd)
    assert res.returncode == 0, res.stderr.decode(errors="replace")
    doc = json.loads(out.read_text())
    sites = {(r["arch"], r["name"]): sorted((s["path"], s["offset"], s["count"])
                                           for s in r.get("sites") or [])
             for r in doc["syscalls"]}
    return sites, doc["header"]["notes"]


@needs_ebpf
@needs_ptrace
@pytest.mark.live
@pytest.mark.parametrize("workload", ["dyn", "static", "ls", "sh", "python", "i386", "vdso"])
def test_same_sites_as_ptrace(workload: str, tmp_path: Path, cbuild) -> None:
    commands = {
        "ls": ["ls", "-la", "/"],
        "sh": ["sh", "-c", "ls / >/dev/null; cat /etc/hostname; true"],
        "python": [shutil.which("python3") or "python3", "-S", "-c", "pass"],
    }
    if workload == "dyn":
        commands["dyn"] = [str(cbuild["sites_probe"])]
    elif workload == "static":
        commands["static"] = [str(_static(tmp_path))]
    elif workload == "i386":  # static i386: every call goes through the vDSO's sysenter
        commands["i386"] = [str(cbuild["hello32"])]
    elif workload == "vdso":
        commands["vdso"] = [str(_vdso_fallback(tmp_path))]
    cmd = commands[workload]
    ptrace, _ = _sites(cmd, tmp_path / "p.json", "ptrace")
    ebpf, notes = _sites(cmd, tmp_path / "e.json", "ebpf")
    assert not [n for n in notes if n.startswith("call sites:")], notes
    if workload == "python":  # its start-up reads a varying amount: the sites, not the counts
        assert {k: {s[:2] for s in v} for k, v in ebpf.items()} == {
            k: {s[:2] for s in v} for k, v in ptrace.items()}
    else:
        assert ebpf == ptrace
    if workload in ("i386", "vdso"):
        vdso = ("x86", "write") if workload == "i386" else ("x86_64", "clock_gettime")
        assert [site[0] for site in ebpf[vdso]] == ["[vdso]"]
    if workload in ("dyn", "static"):
        (path, _, calls), = ebpf[("x86_64", "write")]
        assert calls == 1
        if workload == "dyn":
            assert os.path.basename(path) == "libc.so.6"
        else:
            assert path == str(cmd[0])
            (own, _, three), = ebpf[("x86_64", "getppid")]
            assert (own, three) == (str(cmd[0]), 3)  # probe_raw_getppid, in the program itself


def _build_id(path: str) -> str:
    with open(path, "rb") as f:
        return Elf(f).build_id()


def test_libraries_found_by_build_id_from_the_executable_alone() -> None:
    """A process gone before its maps were read: its exe's interpreter and DT_NEEDED libraries
    are found from the file."""
    ls = os.path.realpath(shutil.which("ls") or "/bin/ls")
    facts = elf_facts(ls)
    libc = next(p for p in facts.needed if os.path.basename(p) == "libc.so.6")
    paths = SitePaths()
    paths.add_file(ls)
    assert paths.path_of(_build_id(libc)) == libc
    assert paths.path_of(_build_id(os.path.realpath(facts.interp))) == os.path.realpath(
        facts.interp)
    assert paths.path_of(_build_id(ls)) == ls
    assert paths.path_of("00" * 20) is None
    # An unknown build id and no maps: [unknown]; a known one: the file and the kernel's offset.
    kernel = {(1, 0, 0x1000): (BUILD_ID_VALID, bytes(20), 5),
              (1, 0, 0x2000): (BUILD_ID_VALID, bytes.fromhex(_build_id(libc)), 0x1234)}
    assert paths.site(1, 0, 0x1000, kernel) == (UNKNOWN, 0)
    assert paths.site(1, 0, 0x2000, kernel) == (libc, 0x1234)
    assert paths.site(1, 0, 0x3000, kernel) == (UNKNOWN, 0)


def test_elf_facts_of_a_file_that_is_not_elf(tmp_path: Path) -> None:
    junk = tmp_path / "junk"
    junk.write_bytes(b"\x7fELF" + os.urandom(200))
    assert elf_facts(str(junk)).build_id == ""
    assert elf_facts(str(tmp_path / "missing")).needed == []


@pytest.mark.live
def test_poller_reads_a_live_process_and_places_addresses() -> None:
    """The poller reads the maps of the (process, program) pairs the kernel reported, once;
    an address the kernel could not place in a file is placed with them."""
    proc = subprocess.Popen(["sleep", "30"])
    sleep = os.path.realpath(shutil.which("sleep") or "")
    try:
        # Popen returns once the child is forked; its maps are ours until it has exec'd sleep.
        deadline = time.monotonic() + 10
        while os.path.realpath(f"/proc/{proc.pid}/exe") != sleep or not any(
                m.path == sleep for m in read_maps(proc.pid) or ()):
            assert time.monotonic() < deadline, "sleep did not start within 10 s"
            time.sleep(0.01)
        gen = 7
        reported = [(proc.pid, gen), (proc.pid, gen - 1)]  # an older program: not re-read
        paths = SitePaths()
        poller = MapsPoller(paths, lambda: reported)
        poller.poll()
        assert set(paths.maps) == {(proc.pid, gen)}
        mappings = read_maps(proc.pid)
        assert mappings
        m = mappings[0]
        assert paths.site(proc.pid, gen, m.start + 16, {}) == (m.path, m.offset + 16)
        assert paths.site(proc.pid, gen - 1, m.start + 16, {}) == (UNKNOWN, 0)
        assert sleep in paths.candidates
    finally:
        proc.kill()
        proc.wait()
    poller.poll()  # gone: nothing new, no error
    assert set(paths.maps) == {(proc.pid, gen)}


_DELETED_LIB = r"""
long lib_getppid(void)
{
    long ret;
    __asm__ volatile("syscall" : "=a"(ret) : "a"(110L) : "rcx", "r11", "memory");
    return ret;
}
"""
_DELETED_MAIN = r"""
#include <dlfcn.h>
#include <unistd.h>
int main(int argc, char **argv)
{
    void *lib = dlopen(argv[1], RTLD_NOW);
    if (!lib || unlink(argv[1]) != 0)
        return 2;
    long (*f)(void) = (long (*)(void))dlsym(lib, "lib_getppid");
    return f && f() > 0 ? 0 : 3;
}
"""


@needs_ebpf
@pytest.mark.live
def test_a_site_in_no_file_that_can_be_found_is_unknown_and_counted(tmp_path: Path) -> None:
    """A library deleted once loaded: the kernel knows its build id, but no file on disk has
    it, so its call is [unknown] and the header says how many calls are."""
    cc = shutil.which("gcc") or "cc"
    (tmp_path / "lib.c").write_text(_DELETED_LIB)
    (tmp_path / "main.c").write_text(_DELETED_MAIN)
    for argv in ([cc, "-O1", "-shared", "-fPIC", "-o", "libgone.so", "lib.c"],
                 [cc, "-O1", "-o", "main", "main.c", "-ldl"]):
        res = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=120,
                             check=False)
        assert res.returncode == 0, res.stderr
    sites, notes = _sites([str(tmp_path / "main"), str(tmp_path / "libgone.so")],
                          tmp_path / "e.json", "ebpf")
    assert sites[("x86_64", "getppid")] == [(UNKNOWN, 0, 1)]
    total = sum(n for v in sites.values() for _, _, n in v)
    assert f"call sites: 1 of {total} calls (" in "\n".join(notes), notes
    assert all(path != UNKNOWN for key, v in sites.items() if key[1] != "getppid"
               for path, _, _ in v)
