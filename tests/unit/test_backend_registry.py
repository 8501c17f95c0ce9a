"""Choosing a recording backend: the registry, what ``auto`` picks, each backend's one-line reason
where it cannot run, and ``record --help`` naming them (no workload runs here)."""

from __future__ import annotations

import pytest
from helpers.backends import needs
from helpers.cli import cli

import seccomp_gen
from seccomp_gen.libseccomp import recording_filter
from seccomp_gen.linux.host import host_arches
from seccomp_gen.recorders import AUTO_ORDER, BACKENDS, get_backend, unavailable_reasons

_REASONS = unavailable_reasons()


def test_each_backend_says_why_it_is_unavailable() -> None:
    assert set(_REASONS) == set(BACKENDS) >= {"seccomp", "ptrace", "log", "notify"}
    for why in _REASONS.values():
        assert why is None or (why and "\n" not in why)


@needs("seccomp")
def test_auto_prefers_seccomp() -> None:
    assert get_backend("auto").name == "seccomp"
    assert get_backend("auto", known=True).name == "seccomp"
    with pytest.raises(seccomp_gen.SeccompGenError, match="cannot skip known"):
        get_backend("ptrace", known=True)


@needs("seccomp")
def test_filter_covers_every_x86_abi() -> None:
    program, notes = recording_filter(None, host_arches(), "trace")
    assert len(program) % 8 == 0 and 0 < len(program) // 8 < 64
    assert notes == []


def test_backend_choices_in_help() -> None:
    res = cli("record", "--help")
    assert res.returncode == 0
    text = res.stdout.decode()
    assert "seccomp" in text and "ptrace" in text and "--known" in text


@pytest.mark.parametrize("name", ["log", "notify", "ebpf"])
def test_backend_is_registered_but_not_auto(name: str) -> None:
    assert name in BACKENDS and name not in AUTO_ORDER
    assert AUTO_ORDER == ("seccomp", "ptrace")
    why = _REASONS[name]
    assert why is None or (why and "\n" not in why)
    if _REASONS["seccomp"] is None:
        assert get_backend("auto").name == "seccomp"
        assert get_backend("auto", known=True).name == "seccomp"


@pytest.mark.parametrize("name", ["log", "notify"])
def test_backend_help_lists(name: str) -> None:
    res = cli("record", "--help")
    assert res.returncode == 0
    assert name in res.stdout.decode()
