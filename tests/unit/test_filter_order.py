"""The compiled filter checks first the calls that run it most often: libseccomp priorities from
the recorded counts, and the binary tree where it executes fewer instructions. Counted with the
BPF simulator (instructions executed per call), on the sample traces."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest
from helpers.synth_helpers import mixed_trace

from seccomp_gen import libseccomp
from seccomp_gen.files import traces
from seccomp_gen.files.profiles import load_profile, one_family, profile_text
from seccomp_gen.formats import emit, parse
from seccomp_gen.libseccomp import compile_profile, enosys_ends, enosys_stub, export, filter_cost
from seccomp_gen.linux import cbpf
from seccomp_gen.profile import Profile, normalize, priorities, runs_filter, union
from seccomp_gen.synthesize import Policy, synthesize

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = sorted((ROOT / "sample_traces").glob("*.trace.json"))
STRICT = Policy(args="strict", baseline="runc")


def _program(profile: Profile, level: int, *, weighted: bool = True) -> bytes:
    p = profile if weighted else replace(profile, weights=())
    return enosys_stub(enosys_ends(p)) + export(compile_profile(p, level))


def test_the_simulator_counts_what_it_executes() -> None:
    prog = cbpf.decode(cbpf.assemble([(cbpf.LD_W_ABS, 0, 0, cbpf.NR),
                                      (cbpf.JEQ_K, 0, 1, 7),
                                      (cbpf.RET_K, 0, 0, cbpf.RET_ALLOW),
                                      (cbpf.RET_K, 0, 0, cbpf.RET_KILL_THREAD)], {}))
    assert cbpf.run_counted(prog, cbpf.seccomp_data(0, 7)) == (cbpf.RET_ALLOW, 3)
    assert cbpf.run_counted(prog, cbpf.seccomp_data(0, 8)) == (cbpf.RET_KILL_THREAD, 3)


def test_priorities_rank_the_calls_that_run_the_filter() -> None:
    profile = synthesize(mixed_trace(), STRICT)
    prio = priorities(profile, "x86_64")
    assert prio and max(prio.values()) == 255
    counts = {n: c for a, n, c in profile.weights if a == "x86_64"}
    for name, value in prio.items():
        assert runs_filter(profile, "x86_64", name)
        for other, v in prio.items():
            assert (counts[name] > counts[other]) == (value > v)
    # An unconditional allow is cached by the kernel: no priority.
    assert not runs_filter(profile, "x86_64", "write") and "write" not in prio
    # Ranks of ranks are the same ranks (the Python table carries priorities, not counts).
    again = replace(profile, weights=tuple(("x86_64", n, v) for n, v in prio.items()))
    assert priorities(again, "x86_64") == prio


def test_weights_are_a_hint_not_part_of_the_meaning() -> None:
    profile = synthesize(mixed_trace(), STRICT)
    assert profile.weights
    assert replace(profile, weights=(), optimize=2) == profile
    for fmt in ("oci", "lxc"):  # cannot carry them: dropped, and the round trip still holds
        back = parse(emit(profile, fmt), fmt, "p")
        assert back.weights == ()
    back = parse(emit(profile, "python"), "python", "p")
    assert back == profile and back.optimize == 1
    for arch in profile.architectures:
        assert {n: v for a, n, v in back.weights if a == arch} == priorities(profile, arch)
    both = union(profile, profile)
    assert dict(((a, n), c) for a, n, c in both.weights) == {
        (a, n): 2 * c for a, n, c in profile.weights}
    assert normalize(both).weights == both.weights


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name.removesuffix(".trace.json"))
def test_frequent_calls_are_checked_first(path: Path) -> None:
    """On every sample trace (strict arguments) the chosen program executes no more
    instructions per filtered call than libseccomp's order without priorities, nor than the
    other optimisation level; where the trace has calls that run the filter, fewer."""
    profile = synthesize(traces.load(path), STRICT)
    chosen = libseccomp.tuned(profile)
    assert chosen.optimize in (1, 2)
    best = filter_cost(profile, libseccomp.export_bpf(profile))
    plain = filter_cost(profile, _program(profile, 1, weighted=False))
    other = filter_cost(profile, _program(profile, 3 - chosen.optimize))
    assert best <= other and best <= plain
    if libseccomp._costly_calls(profile):
        assert best < plain, (best, plain)


def test_the_binary_tree_where_it_is_faster() -> None:
    """Docker's default (hundreds of names, argument rules behind them): the tree executes far
    fewer instructions, so it is chosen; and what is written is proven like any profile."""
    docker = one_family(load_profile(ROOT / "tests/data/docker-default-seccomp.json")[0],
                        "x86_64")
    tree = filter_cost(docker, _program(docker, 2))
    linear = filter_cost(docker, _program(docker, 1))
    assert tree < linear / 4
    assert libseccomp.tuned(docker).optimize == 2
    written, text = profile_text(docker, "python", "d.py")
    assert written.optimize == 2 and "\nOPTIMIZE = 2\n" in text


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name.removesuffix(".trace.json"))
def test_names_only_profile_is_compiled_once(path: Path, monkeypatch: pytest.MonkeyPatch,
                                            tmp_path: Path, request: pytest.FixtureRequest
                                            ) -> None:
    """A profile of names without argument conditions has no call that runs the filter (the
    kernel caches every ALLOW): both levels cost 0, so level 1 is taken without compiling
    either to compare them, and exporting it compiles the profile once (run's and check's
    usual profile) -- and, from an empty compiled-program cache, only once."""
    monkeypatch.setenv("SECCOMP_GEN_CACHE_DIR", str(tmp_path / "cache"))
    libseccomp._exported.cache_clear()
    request.addfinalizer(libseccomp._exported.cache_clear)
    profile = synthesize(traces.load(path), Policy(args="none", baseline="none"))
    assert libseccomp._costly_calls(profile) == []
    assert {filter_cost(profile, _program(profile, level)) for level in (1, 2)} == {0.0}
    built: list[bool] = []
    real = libseccomp.build

    def counted(*args: object, **kwargs: object) -> object:
        built.append(bool(kwargs.get("optimize")))
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(libseccomp, "build", counted)
    libseccomp._fastest_cached.cache_clear()
    assert libseccomp.tuned(profile).optimize == 1
    assert built == []
    first = libseccomp.export_bpf(profile)
    assert built == [False]
    libseccomp._exported.cache_clear()  # as the next process: the program is read back
    assert libseccomp.export_bpf(profile) == first
    assert built == [False]


def _readme_row(path: Path, args: str) -> str | None:
    """The README's "Filter order" row of one sample and ``--args`` value, computed: None when
    no recorded call runs the filter (the README says so under the table)."""
    trace = traces.load(path)
    profile = synthesize(trace, STRICT if args == "strict" else Policy(args=args))
    runs = sum(w for *_, w in libseccomp._costly_calls(profile))
    if not runs:
        return None
    costs = (filter_cost(profile, _program(profile, 1, weighted=False)),
             filter_cost(profile, _program(profile, 1)), filter_cost(profile, _program(profile, 2)))
    chosen = {1: "frequency", 2: "tree"}[libseccomp.tuned(profile).optimize]
    return (f"| {path.name.removesuffix('.trace.json')} | {args} | {runs} of {trace.total_calls} | "
            + " | ".join(f"{c:.1f}" for c in costs) + f" | {chosen} |")


def test_the_readme_table_is_the_samples() -> None:
    """README.md's "Filter order" table holds what the committed samples give today: its rows
    are computed here, so a sample recorded again cannot leave stale numbers behind."""
    readme = (ROOT / "README.md").read_text()
    names = "|".join(re.escape(p.name.removesuffix(".trace.json")) for p in SAMPLES)
    written = re.findall(rf"^\| (?:{names}) \|.*\|$", readme, re.M)
    computed = [row for path in SAMPLES for args in ("safe", "strict")
                if (row := _readme_row(path, args)) is not None]
    assert len(computed) >= len(SAMPLES)
    assert written == computed
