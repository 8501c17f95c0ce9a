"""The compiled-program cache (``libseccomp.compiled`` over ``linux.cachedir.lookup``/``keep``):
a program read back is byte for byte the one libseccomp makes, an entry for anything else is
never used, and an entry someone else could have written is refused in one line.

Real compiles of Docker's default profile (tests/data) and of recording filters; each test has
its own empty cache directory."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.paths import DATA

from seccomp_gen import libseccomp
from seccomp_gen.errors import SeccompGenError
from seccomp_gen.files.profiles import load_profile, one_family
from seccomp_gen.linux import cachedir
from seccomp_gen.linux.host import host_arches
from seccomp_gen.profile import ArgCondition, Profile, Rule

DOCKER = DATA / "docker-default-seccomp.json"


@pytest.fixture()
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An empty cache directory, and no program kept in this process from an earlier test."""
    directory = tmp_path / "cache"
    monkeypatch.setenv("SECCOMP_GEN_CACHE_DIR", str(directory))
    libseccomp._exported.cache_clear()
    libseccomp._fastest_cached.cache_clear()
    yield directory
    libseccomp._exported.cache_clear()
    libseccomp._fastest_cached.cache_clear()


@pytest.fixture()
def builds(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts libseccomp builds (the real ones run)."""
    count: list[int] = []
    real = libseccomp.build

    def counted(*args: object, **kwargs: object) -> object:
        count.append(1)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(libseccomp, "build", counted)
    return count


def _docker() -> Profile:
    return one_family(load_profile(DOCKER)[0], host_arches()[0])


def _entries(cache: Path) -> list[Path]:
    return sorted((cache / "bpf").iterdir()) if (cache / "bpf").exists() else []


def test_a_program_read_back_is_the_one_libseccomp_makes(cache: Path, builds: list[int]) -> None:
    profile = _docker()
    first = libseccomp.export_bpf(profile)
    compiled_first = len(builds)
    assert compiled_first >= 1
    entries = _entries(cache)
    assert entries
    for entry in entries:
        assert entry.stat().st_mode & 0o777 == 0o600
    assert (cache / "bpf").stat().st_mode & 0o777 == 0o700
    libseccomp._exported.cache_clear()  # the next process: nothing kept in memory
    libseccomp._fastest_cached.cache_clear()
    assert libseccomp.export_bpf(profile) == first
    assert len(builds) == compiled_first  # nothing compiled again
    # And what was read back is what libseccomp makes now, without any cache.
    level = libseccomp._fastest(profile)
    fresh = libseccomp.export(libseccomp.compile_profile(profile, level))
    assert first.endswith(fresh)


def test_another_profile_is_another_entry(cache: Path, builds: list[int]) -> None:
    profile = _docker()
    libseccomp.export_bpf(profile)
    n = len(builds)
    rules = tuple(r for r in profile.rules if r.name != "getpid")
    other = Profile(architectures=profile.architectures, default_action=profile.default_action,
                    default_errno=profile.default_errno, rules=rules)
    assert libseccomp.export_bpf(other) != libseccomp.export_bpf(profile)
    assert len(builds) > n


def test_recording_filters_are_kept_with_what_libseccomp_dropped(
        cache: Path, builds: list[int], monkeypatch: pytest.MonkeyPatch) -> None:
    """The notes of a recording filter (conditions libseccomp refused) come back with it.
    libseccomp refuses no condition a Rule can hold, so one is made refusable by sending every
    condition of the rule to argument 0: two comparisons of one argument, which libseccomp
    really refuses (a fault a profile cannot produce, made so; the program is real)."""
    real_arg = libseccomp._arg

    def same_index(c: ArgCondition) -> object:
        return real_arg(ArgCondition(0, c.op, c.value, c.value_two))

    monkeypatch.setattr(libseccomp, "_arg", same_index)
    arches = host_arches()
    known = Profile(architectures=arches, default_action="errno", default_errno=1, rules=(
        Rule("read", arches),
        Rule("ioctl", arches, conditions=(ArgCondition(0, "EQ", 1), ArgCondition(1, "EQ", 2))),
    ))
    first = libseccomp.recording_filter(known, arches, "trace")
    assert len(builds) == 1
    assert any("ioctl" in note for note in first[1]), first[1]
    again = libseccomp.recording_filter(known, arches, "trace")
    assert again == first
    assert len(builds) == 1


def _the_entry(cache: Path) -> Path:
    entries = _entries(cache)
    assert len(entries) == 1, entries
    return entries[0]


def test_an_entry_for_another_key_or_damaged_is_compiled_again(cache: Path,
                                                               builds: list[int]) -> None:
    arches = host_arches()
    first, _ = libseccomp.recording_filter(None, arches, "trace")
    entry = _the_entry(cache)
    good = entry.read_bytes()
    # Same file name (as a crc32 collision would give), another key inside: not used.
    head = cachedir.ENTRY_MAGIC
    rest = good[len(head):]
    size, _, tail = rest.partition(b"\n")
    key = bytearray(tail[:int(size)])
    key[-2] ^= 1
    for bad in (head + size + b"\n" + bytes(key) + tail[int(size):],
                good[:len(good) - 3],          # a torn program (not whole instructions)
                good[:len(head) + 5],          # cut inside the key
                b"garbage\n" + good):
        entry.write_bytes(bad)
        entry.chmod(0o600)
        n = len(builds)
        assert libseccomp.recording_filter(None, arches, "trace")[0] == first
        assert len(builds) == n + 1
        assert entry.read_bytes() == good  # rewritten


def test_an_entry_others_could_write_is_refused_in_one_line(cache: Path) -> None:
    arches = host_arches()
    libseccomp.recording_filter(None, arches, "trace")
    entry = _the_entry(cache)
    entry.chmod(0o620)
    with pytest.raises(SeccompGenError, match="refusing to use the cached bpf entry: it is "
                       "writable by others"):
        libseccomp.recording_filter(None, arches, "trace")
    entry.chmod(0o600)
    if os.geteuid() == 0:
        os.chown(entry, 65534, 65534)
        with pytest.raises(SeccompGenError, match="is owned by uid 65534"):
            libseccomp.recording_filter(None, arches, "trace")
        os.chown(entry, 0, 0)
    target = entry.with_name("elsewhere")
    entry.rename(target)
    entry.symlink_to(target)
    with pytest.raises(SeccompGenError, match="refusing to use the cached bpf entry: it is not "
                       "a regular file"):
        libseccomp.recording_filter(None, arches, "trace")


def test_the_cli_says_so_in_one_line(cache: Path, tmp_path: Path) -> None:
    """``run`` with a cache entry others could write: one error line, exit 125, nothing run."""
    env = {**os.environ, "SECCOMP_GEN_CACHE_DIR": str(cache)}
    argv = [sys.executable, "-m", "seccomp_gen", "run", "--profile", str(DOCKER), "--",
            "sh", "-c", f"touch {tmp_path / 'ran'}"]
    ok = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert ok.returncode == 0, ok.stderr
    (tmp_path / "ran").unlink()
    for entry in _entries(cache):
        entry.chmod(0o666)
    bad = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert bad.returncode == 125
    lines = bad.stderr.strip().splitlines()
    assert len(lines) <= 2 and "refusing to use the cached bpf entry" in lines[0], bad.stderr
    assert "Traceback" not in bad.stderr
    assert not (tmp_path / "ran").exists()


def test_a_cache_that_cannot_be_used_costs_only_time(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, builds: list[int]) -> None:
    """A cache directory path that is a file: every program is compiled, nothing fails."""
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("SECCOMP_GEN_CACHE_DIR", str(blocker))
    arches = host_arches()
    first = libseccomp.recording_filter(None, arches, "trace")
    assert libseccomp.recording_filter(None, arches, "trace") == first
    assert len(builds) == 2


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give the directory away")
def test_a_cache_directory_of_another_user_is_neither_read_nor_written(
        cache: Path, builds: list[int]) -> None:
    """``sudo`` with another user's ``$HOME``: ``generate`` and ``run`` compile as they did
    before the cache existed, and leave that user's directory alone."""
    arches = host_arches()
    first = libseccomp.recording_filter(None, arches, "trace")
    entry = _the_entry(cache)
    os.chown(cache, 65534, 65534)
    n = len(builds)
    assert libseccomp.recording_filter(None, arches, "trace") == first
    assert len(builds) == n + 1  # compiled: the entry there was not read
    entry.unlink()
    assert libseccomp.recording_filter(None, arches, "trace") == first
    assert not entry.exists()  # nor written


def test_the_cache_is_bounded(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cachedir, "ENTRIES_PER_KIND", 8)
    for i in range(20):
        cachedir.keep("bpf", b"key %d" % i, b"\n" + bytes(8))
        assert len(_entries(cache)) <= 8 + 1
    assert cachedir.lookup("bpf", b"key 19") == b"\n" + bytes(8)


def test_an_entry_over_the_callers_limit_is_not_read(cache: Path) -> None:
    cachedir.keep("bpf", b"key", bytes(1000))
    assert cachedir.lookup("bpf", b"key", limit=1000) is None  # the entry is more: key, head
    assert cachedir.lookup("bpf", b"key", limit=2000) == bytes(1000)


def test_the_compiler_is_named_by_its_files() -> None:
    """An edited compiler or another libseccomp file is another key: the loaded library's file
    and this module's are in it."""
    ident = libseccomp._compiler_id()
    assert ident[1] == libseccomp.version()
    names = [entry[0] for entry in ident[2:] if isinstance(entry, tuple)]
    assert any(name and "libseccomp.so" in os.path.basename(name) for name in names)
    assert libseccomp.__file__ in names
