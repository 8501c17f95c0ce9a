"""The compiled helpers' cache is trusted only when it is the user's own (issue 12): a library
another user could have put there, or replaced, would run inside seccomp-gen (as root, for the
log and ebpf backends). Each case builds the real helper, then tampers with the cache for real."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from seccomp_gen._native.build import build, find_compiler
from seccomp_gen._native.sigsys_handler import SOURCE_NAME, WHAT
from seccomp_gen.errors import SeccompGenError
from seccomp_gen.linux.seccomp import has_cap

CAP_CHOWN = 0

needs_cc = pytest.mark.skipif(shutil.which(os.environ.get("CC", "gcc")) is None
                              and shutil.which("cc") is None, reason="no C compiler")
#: CAP_CHOWN, not uid 0: root without capabilities cannot give a file away either.
needs_root = pytest.mark.skipif(not has_cap(CAP_CHOWN), reason="chown to another user needs root "
                                "(CAP_CHOWN)")


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    find_compiler()
    directory = tmp_path / "cache"
    monkeypatch.setenv("SECCOMP_GEN_CACHE_DIR", str(directory))
    return directory


@needs_cc
def test_a_fresh_cache_is_private_and_reused(cache: Path) -> None:
    first = build(SOURCE_NAME, WHAT)
    assert (cache.stat().st_mode & 0o777) == 0o700
    assert build(SOURCE_NAME, WHAT) == first


@needs_cc
def test_a_cache_others_can_write_is_refused(cache: Path) -> None:
    build(SOURCE_NAME, WHAT)
    cache.chmod(0o777)
    with pytest.raises(SeccompGenError, match="writable by others"):
        build(SOURCE_NAME, WHAT)


@needs_cc
def test_a_cached_library_others_can_write_is_refused(cache: Path) -> None:
    lib = build(SOURCE_NAME, WHAT)
    lib.chmod(0o777)
    with pytest.raises(SeccompGenError, match="writable by others") as info:
        build(SOURCE_NAME, WHAT)
    assert str(lib) in info.value.one_line()


@needs_cc
def test_a_link_in_the_cache_is_refused(cache: Path, tmp_path: Path) -> None:
    lib = build(SOURCE_NAME, WHAT)
    planted = tmp_path / "planted.so"
    shutil.copy(lib, planted)
    lib.unlink()
    lib.symlink_to(planted)
    with pytest.raises(SeccompGenError, match="not a regular file"):
        build(SOURCE_NAME, WHAT)


@needs_cc
@needs_root
def test_a_cached_library_of_another_user_is_refused(cache: Path) -> None:
    lib = build(SOURCE_NAME, WHAT)
    os.chown(lib, 65534, 65534)  # nobody
    with pytest.raises(SeccompGenError, match="owned by uid 65534"):
        build(SOURCE_NAME, WHAT)
