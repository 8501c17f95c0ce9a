"""Every reader, fuzzed (issue 11, item 5): only a one-line SeccompGenError or a valid model.

Seeds are real files (``sample_traces/``, ``tests/data``, and the profiles ``generate`` makes
from them); hypothesis mutates their bytes (flips, inserts, deletes, truncation, repeated
slices, tokens that have broken readers before: NUL, invalid UTF-8, deep nesting, 5001-digit
numbers, NaN, lone surrogates) and their decoded JSON (any value replaced by a value of another
type). Each input goes through the whole read path (the file is read with the size cap, sniffed,
parsed, validated); a model that comes back must be usable: a trace writes and reads back equal
and renders in every view, a profile normalizes, compiles with libseccomp or refuses in one line,
and emits in every format. Any other exception fails the test; so does an example that runs
longer than its deadline, and a hard alarm catches a hang.

In CI (``CI`` set) the examples are derandomized so that a run is reproducible; locally they are
random, and ``SECCOMP_GEN_FUZZ_EXAMPLES`` raises their number.
"""

from __future__ import annotations

import atexit
import contextlib
import io
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from helpers.fuzz import hard_limit, mutated
from helpers.paths import DATA, SAMPLES
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rich.console import Console

from seccomp_gen.cli import console as ui
from seccomp_gen.cli.import_ import import_strace
from seccomp_gen.errors import SeccompGenError
from seccomp_gen.files import traces
from seccomp_gen.files.profiles import load_profile
from seccomp_gen.formats import TEXT_NAMES as FORMATS
from seccomp_gen.formats import emit, parse, tracefile
from seccomp_gen.libseccomp import compile_profile
from seccomp_gen.model import Trace
from seccomp_gen.profile import Profile, normalize
from seccomp_gen.synthesize import Policy, synthesize

TRACES = sorted(SAMPLES.glob("*.trace.json"))
EXAMPLES = int(os.environ.get("SECCOMP_GEN_FUZZ_EXAMPLES", "120"))
#: An example that takes longer than this is a hang, whatever hypothesis' deadline says.
HARD_LIMIT_S = 30

settings.register_profile(
    "readers", max_examples=EXAMPLES, deadline=timedelta(seconds=10),
    derandomize=bool(os.environ.get("CI")),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                           HealthCheck.large_base_example])


def _seeds() -> dict[str, list[bytes]]:
    """Real files of each kind: traces, the profiles generated from them, Docker's default,
    an strace log."""
    seeds = [p.read_bytes() for p in TRACES]
    profiles: dict[str, list[bytes]] = {fmt: [] for fmt in FORMATS}
    for p in TRACES[:3]:
        profile = synthesize(traces.load(p), Policy(args="strict", baseline="runc"))
        for fmt in FORMATS:
            with contextlib.suppress(SeccompGenError):  # firejail: x86_64 profiles only
                profiles[fmt].append(emit(profile, fmt).encode())
    profiles["oci"].append((DATA / "docker-default-seccomp.json").read_bytes())
    return {"trace": seeds, **profiles, "strace": [(DATA / "sh-ls.strace.log").read_bytes()]}


SEEDS = _seeds()

#: Byte strings that broke a reader before, or could.
TOKENS = [b"\x00", b"\xff", b"\xc3", b"\n", b"\r\n", b"\x1b[2J", b"\xe2\x80\xa8", b"[" * 3000,
          b"{" * 3000, b"9" * 5001, b"NaN", b"Infinity", b"-Infinity", b"1e999", b'"\\ud800"',
          b'"', b"\\", b",", b":", b"]", b"}", b"null", b"true", b"[x86_64]", b"# ",
          b"errno 99999999999", b"[0,1,SCMP_CMP_EQ]", b"2\n", b"3\n", b"RULES = ",
          b"DEFAULT_ERRNO = 'one'", b"(" * 500, b"0x" + b"f" * 40, b"SCMP_ARCH_", b"\t"]


_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False)
    | st.text(max_size=12) | st.sampled_from(["read", "SCMP_ARCH_X86_64", "SCMP_ACT_ALLOW",
                                               "x86_64", "read\n[x86_64]\nptrace", "\x00"]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=8)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value[:8]):
            yield from _paths(v, (*prefix, i))


@st.composite
def json_mutated(draw: st.DrawFn, kind: str) -> bytes:
    """A JSON seed with one to three values (anywhere in the tree) replaced by other values."""
    doc = json.loads(draw(st.sampled_from(SEEDS[kind])))
    for _ in range(draw(st.integers(1, 3))):
        paths = list(_paths(doc))
        path = draw(st.sampled_from(paths[1:] or paths))
        value = draw(_JSON_VALUES)
        if not path:
            doc = value
            continue
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        parent[path[-1]] = value
    return json.dumps(doc, ensure_ascii=draw(st.booleans())).encode("utf-8", "surrogatepass")


_DIR = Path(tempfile.mkdtemp(prefix="seccomp-gen-fuzz-"))
atexit.register(shutil.rmtree, _DIR, True)


def read_as_file(data: bytes, reader: Callable[[Path], Any]) -> Any:
    """Run ``reader`` on ``data`` written to a file; None when it refused it in one line."""
    path = _DIR / "input"
    path.write_bytes(data)
    try:
        with hard_limit(HARD_LIMIT_S):
            return reader(path)
    except SeccompGenError as exc:
        line = exc.one_line()
        assert "\n" not in line and line.isprintable(), repr(line)
        return None


def usable_trace(trace: Trace) -> None:
    """A trace the reader returned: writes and reads back equal, renders, synthesizes."""
    assert isinstance(trace, Trace)
    text = tracefile.dumps(trace)
    assert tracefile.loads(text, "again") == trace
    out = Console(file=io.StringIO(), width=100)
    for table in (ui.summary_table(trace, top=5), ui.process_table(trace), ui.exe_table(trace)):
        out.print(table)
    ui.print_totals(out, trace)
    try:
        usable_profile(synthesize(trace, Policy(args="strict")))
    except SeccompGenError as exc:
        assert "\n" not in exc.one_line()


def usable_profile(profile: Profile) -> None:
    """A profile a reader returned: normal, compiles or is refused in one line, emits."""
    assert isinstance(profile, Profile)
    assert normalize(profile) == profile
    for step in (lambda: compile_profile(profile), *(
            (lambda f=fmt: parse(emit(profile, f), f)) for fmt in FORMATS)):
        try:
            step()
        except SeccompGenError as exc:
            assert "\n" not in exc.one_line()


def _trace_reader(path: Path) -> None:
    trace = traces.load(path)
    usable_trace(trace)


def _profile_reader(path: Path) -> None:
    profile, _kind = load_profile(path)
    usable_profile(profile)


def _strace_reader(path: Path) -> None:
    trace, _log = import_strace([(str(path), 0)], "x86_64")
    usable_trace(trace)


READERS: dict[str, Callable[[Path], None]] = {
    "trace": _trace_reader, "oci": _profile_reader, "lxc": _profile_reader,
    "kubernetes": _profile_reader,
    "python": _profile_reader, "strace": _strace_reader,
}


@pytest.mark.parametrize("kind", sorted(READERS))
def test_seeds_are_read(kind: str) -> None:
    """The unmutated seeds are valid: the fuzz tests start from files the readers accept."""
    for seed in SEEDS[kind]:
        path = _DIR / "seed"
        path.write_bytes(seed)
        READERS[kind](path)


@pytest.mark.parametrize("kind", sorted(READERS))
@settings(settings.get_profile("readers"))
@given(data=st.data())
def test_mutated_bytes(kind: str, data: st.DataObject) -> None:
    read_as_file(data.draw(mutated(SEEDS[kind], TOKENS)), READERS[kind])


@pytest.mark.parametrize("kind", ["trace", "oci"])
@settings(settings.get_profile("readers"))
@given(data=st.data())
def test_mutated_json_values(kind: str, data: st.DataObject) -> None:
    read_as_file(data.draw(json_mutated(kind)), READERS[kind])


@pytest.mark.parametrize("kind", sorted(READERS))
@settings(settings.get_profile("readers"))
@given(blob=st.binary(max_size=2048) | st.text(max_size=512).map(str.encode))
def test_random_bytes(kind: str, blob: bytes) -> None:
    read_as_file(blob, READERS[kind])


@pytest.mark.parametrize("kind", ["trace", "oci", "python"])
@pytest.mark.parametrize("depth", [50, 2_000, 200_000])
def test_deep_nesting(kind: str, depth: int) -> None:
    """Nesting at any depth: JSON arrays and objects, Python tuples."""
    if kind == "python":
        blob = b"RULES = " + b"(" * depth + b")" * depth + b"\n"
    else:
        opener = b'{"format": "seccomp-gen-trace", "version": 1, "header": ' if kind == "trace" \
            else b'{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": '
        blob = opener + b"[" * depth + b"]" * depth + b"}"
    read_as_file(blob, READERS[kind])


def _outcome(text: str) -> object:
    try:
        return tracefile.loads(text, "t.json")
    except SeccompGenError as exc:
        return exc.one_line()


@settings(settings.get_profile("readers"))
@given(data=st.data())
def test_streaming_and_plain_trace_readers_agree(data: st.DataObject) -> None:
    """A trace laid out as seccomp-gen writes it is read one record at a time; the same
    document with its keys in another order is decoded whole. Both give the same trace, or both
    refuse it (a file with several problems may be refused for a different one first: the
    streaming reader checks ``format`` before it decodes the rest)."""
    doc = json.loads(data.draw(json_mutated("trace")))
    if not isinstance(doc, dict) or "format" not in doc:
        return
    text = json.dumps(doc)
    moved = json.dumps({**{k: v for k, v in doc.items() if k != "format"},
                        "format": doc["format"]})
    with hard_limit(HARD_LIMIT_S):
        streamed, plain = _outcome(text), _outcome(moved)
    assert type(streamed) is type(plain), (streamed, plain)
    if isinstance(streamed, Trace):
        assert streamed == plain
