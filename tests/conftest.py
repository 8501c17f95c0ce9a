"""For every tier (unit, live, e2e): the small C workloads in tests/c, compiled once per session,
and the ``live`` marker on every test under tests/live and tests/e2e."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
C_DIR = TESTS / "c"
#: Where every test is live: it traces real processes, loads real filters, runs ``record``,
#: ``run``, ``check``, the sandbox or ``recording()``, or a real consumer of a profile (root, or
#: CAP_SYS_PTRACE for the ptrace backends). tests/unit holds the rest: ``-m 'not live'`` or
#: ``pytest tests/unit`` runs only those.
LIVE_DIRS = (TESTS / "live", TESTS / "e2e")

#: Programs built as static i386 binaries (-m32 -static); every other one is a native build.
I386_PROGRAMS = frozenset({"hello32", "sleep32", "socketcall32"})
#: Programs built statically with musl (musl-gcc): a container's libc, not the host's glibc.
MUSL_PROGRAMS = frozenset({"container_probe", "syscall_probe"})

COMPILE_TIMEOUT = 120


def _gcc(args: list[str]) -> subprocess.CompletedProcess[str]:
    # subprocess.run kills the child with SIGKILL when the timeout expires.
    return subprocess.run(
        args, capture_output=True, text=True, timeout=COMPILE_TIMEOUT, check=False
    )


@pytest.fixture(autouse=True, scope="session")
def _session_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """seccomp-gen's per-user cache (compiled helpers, compiled filters, symbols, kernel
    offsets) in a directory of this session: what a developer's ~/.cache holds never answers
    for the code under test, and the tests leave nothing there. Tests of the cache itself set
    their own directory."""
    patch = pytest.MonkeyPatch()
    patch.setenv("SECCOMP_GEN_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    yield
    patch.undo()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test collected below :data:`LIVE_DIRS` ``live``."""
    for item in items:
        if any(item.path.is_relative_to(d) for d in LIVE_DIRS):
            item.add_marker(pytest.mark.live)


class CPrograms:
    """Compiled test programs by name (``cbuild["forker"]``).

    A program that could not be built because the toolchain lacks something (no gcc, no -m32
    support) skips the test that asks for it, with the reason; any other compile error fails.
    """

    def __init__(self, paths: dict[str, Path], missing: dict[str, str]) -> None:
        self.paths = paths
        self.missing = missing

    def __getitem__(self, name: str) -> str:
        if name in self.missing:
            pytest.skip(self.missing[name])
        return str(self.paths[name])


@pytest.fixture(scope="session")
def cbuild(tmp_path_factory: pytest.TempPathFactory) -> CPrograms:
    """Compile tests/c/*.c with gcc -O1 (-pthread; the i386 ones -m32 -static; the musl ones
    with musl-gcc -static)."""
    gcc = shutil.which("gcc")
    sources = sorted(C_DIR.glob("*.c"))
    assert sources, f"no C sources in {C_DIR}"
    if gcc is None:
        reason = "gcc is not installed; cannot build the C test programs"
        print(f"SKIP: {reason}")
        return CPrograms({}, {s.stem: reason for s in sources})
    out = tmp_path_factory.mktemp("cbuild")

    # Is -m32 -static support there at all? Probe with a program that cannot fail to compile,
    # so that a genuine error in one of our sources is reported as an error, never a skip.
    probe_src = out / "probe32.c"
    probe_src.write_text("int main(void) { return 0; }\n")
    probe = _gcc([gcc, "-m32", "-static", "-o", str(out / "probe32"), str(probe_src)])
    m32_missing = None
    if probe.returncode != 0:
        m32_missing = (
            "gcc cannot build static i386 programs (install gcc-multilib): "
            + (probe.stderr.strip().splitlines() or ["?"])[-1]
        )
        print(f"SKIP: {m32_missing}")

    musl = shutil.which("musl-gcc")
    paths: dict[str, Path] = {}
    missing: dict[str, str] = {}
    for src in sources:
        name = src.stem
        exe = out / name
        args = [gcc, "-O1", "-Wall", "-pthread", "-o", str(exe), str(src)]
        if name in MUSL_PROGRAMS:
            if musl is None:
                missing[name] = "musl-gcc is not installed (install musl-tools)"
                print(f"SKIP: {missing[name]}")
                continue
            args = [musl, "-O1", "-Wall", "-static", "-o", str(exe), str(src)]
        if name in I386_PROGRAMS:
            if m32_missing:
                missing[name] = m32_missing
                continue
            args[1:1] = ["-m32", "-static"]
        res = _gcc(args)
        assert res.returncode == 0, f"compiling {src.name} failed:\n{res.stderr}"
        paths[name] = exe
    return CPrograms(paths, missing)
