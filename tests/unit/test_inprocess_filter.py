"""The in-process recorder's filter, as bytes: it allows the recorder's own syscall instruction
and the calls it must always make, and traps the rest (loaded for real in
tests/live/test_inprocess_recording.py)."""

from __future__ import annotations

from seccomp_gen.recorders.inprocess import ALWAYS_ALLOWED, build_program


def test_filter_allows_own_instruction_and_always_allowed() -> None:
    prog = build_program(0x7F0011223344)
    assert len(prog) % 8 == 0
    ks = [int.from_bytes(prog[i + 4:i + 8], "little") for i in range(0, len(prog), 8)]
    assert 0x11223344 in ks and 0x7F00 in ks
    for nr in ALWAYS_ALLOWED.values():
        assert nr in ks
    assert ks[-2:] == [0x00030000, 0x7FFF0000]  # TRAP, ALLOW
