"""Fuzzing the readers and parsers: real inputs mutated byte by byte, and a hard stop, so that an
input that makes one loop for ever fails the test instead of hanging the run (hypothesis' own
deadline only reports slowness after the example returns)."""

from __future__ import annotations

import signal
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from hypothesis import strategies as st


@st.composite
def mutated(draw: st.DrawFn, seeds: Sequence[bytes], tokens: Sequence[bytes], *, ops: int = 4,
            delete: int = 64, chunk: int = 200, repeat: int = 50, token_repeat: int = 1) -> bytes:
    """One of ``seeds`` with 1 to ``ops`` byte-level mutations: a byte flipped, a few bytes
    inserted, up to ``delete`` deleted, the rest cut off, a slice of up to ``chunk`` bytes
    repeated up to ``repeat`` times, or one of ``tokens`` (up to ``token_repeat`` times)
    inserted."""
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, ops))):
        op = draw(st.sampled_from(("flip", "insert", "delete", "truncate", "repeat", "token")))
        at = draw(st.integers(0, max(0, len(data) - 1)))
        if op == "flip" and data:
            data[at] = draw(st.integers(0, 255))
        elif op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif op == "delete":
            del data[at:at + draw(st.integers(1, delete))]
        elif op == "truncate":
            del data[at:]
        elif op == "repeat":
            data[at:at] = data[at:at + draw(st.integers(1, chunk))] * draw(st.integers(1, repeat))
        else:
            times = draw(st.integers(1, token_repeat)) if token_repeat > 1 else 1
            data[at:at] = draw(st.sampled_from(tokens)) * times
    return bytes(data)


@contextmanager
def hard_limit(seconds: int) -> Iterator[None]:
    """Fail an example that hangs: SIGALRM raises in the reader, wherever it is looping."""
    def expired(signum: int, frame: object) -> None:
        raise TimeoutError(f"ran for more than {seconds} s on one input")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
