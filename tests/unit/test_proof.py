"""The compiled filter equals the profile, bit for bit where it matters.

For every sample trace and every format, the file is emitted, read back as the consumer would
read it, compiled with libseccomp and run in the BPF simulator; its verdict must equal what the
profile model means (:meth:`Profile.verdict`) for thousands of random calls: any ABI of the
family (listed or not, x32 included), numbers past the tables, arguments that differ only in
the upper 32 bits. A deliberately broken emitter and a broken compiler step (test fixtures) must
be caught by the check ``generate`` runs before it writes anything.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from helpers.synth_helpers import mixed_trace
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seccomp_gen import libseccomp, proof
from seccomp_gen.errors import SeccompGenError
from seccomp_gen.files import traces
from seccomp_gen.files.profiles import profile_from_bpf, profile_text
from seccomp_gen.formats import as_written, emit, parse, resolve
from seccomp_gen.libseccomp import Simulator, export_bpf, syscall_name
from seccomp_gen.model import Trace
from seccomp_gen.profile import Profile
from seccomp_gen.synthesize import Policy, synthesize
from seccomp_gen.syscalls.arches import X32_SYSCALL_BIT

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = sorted((ROOT / "sample_traces").glob("*.trace.json"))
FORMATS = (("oci", False), ("oci", True), ("lxc", False), ("python", False), ("systemd", False),
           ("firejail", False), ("bpf", False))
#: Random calls per (trace, format) in the seeded sweep, on top of hypothesis' 1000 examples:
#: over 52 pairs, more than 100,000 tuples in all (a test below counts them).
SWEEP = 2000
POLICY = Policy(args="strict", baseline="runc")
ARCHES = ("x86_64", "x86", "x32")
_U64 = (1 << 64) - 1


def _traces() -> dict[str, Trace]:
    loaded = {"mixed": mixed_trace()}
    for path in SAMPLES:
        loaded[path.name.removesuffix(".trace.json")] = traces.load(path)
    return loaded


TRACES = _traces()
#: (trace, format, Docker's form) to check: every pair but firejail with a trace of i386 calls,
#: which it refuses to hold (firejail 0.9.72 does not filter them: test_name_formats).
CASES = [(name, fmt, docker) for name in sorted(TRACES) for fmt, docker in FORMATS
         if not (fmt == "firejail" and "x86" in synthesize(TRACES[name], POLICY).architectures)]


def _consumed(profile: Profile, fmt: str,
              docker: bool) -> tuple[Profile, Simulator, dict[str, int]]:
    """What the profile means as the format says it, the filter the consumer would load (behind
    its own ENOSYS stub, if it adds one), and where that stub starts answering ENOSYS."""
    f = resolve(fmt, docker)
    if f.compiled:
        back = profile_from_bpf(export_bpf(profile, enosys=f.enosys), "p.bpf")
    else:
        back = parse(emit(profile, fmt, docker=docker), fmt, "p")
    meant = as_written(profile, fmt, docker=docker)
    rule = f.enosys
    return meant, Simulator(export_bpf(back, enosys=rule)), libseccomp.enosys_ends(meant, rule)


def _name(arch: str, nr: int) -> str | None:
    name = syscall_name(arch, nr)
    return None if name.startswith("syscall_") else name


def _values(profile: Profile) -> list[int]:
    """Argument values where conditions change their answer, and near them."""
    out = {0, 1, _U64}
    for r in profile.rules:
        for c in r.conditions:
            out |= {c.value, c.value_two, c.value ^ (1 << 32), (c.value + 1) & _U64,
                    (c.value - 1) & _U64, c.value | (0xFFFFFFFF << 32)}
    return sorted(out)


def _calls(profile: Profile) -> st.SearchStrategy[tuple[str, int, tuple[int, ...]]]:
    observed = sorted({(a, libseccomp.syscall_number(a, r.name)) for r in profile.rules
                       for a in r.arches if libseccomp.knows(a, r.name)})
    interesting = _values(profile)
    arg = st.one_of(st.sampled_from(interesting), st.integers(0, _U64),
                    st.integers(0, 0xFFFFFFFF))
    numbered = st.tuples(st.sampled_from(ARCHES), st.integers(0, 1100))
    tops = st.sampled_from([(a, proof.top_number(a) & ~X32_SYSCALL_BIT) for a in ARCHES])
    numbered = st.one_of(numbered, tops)
    nr = st.one_of(st.sampled_from(observed), numbered) if observed else numbered
    return st.builds(lambda an, args: (an[0], an[1] | (X32_SYSCALL_BIT if an[0] == "x32" else 0),
                                       tuple(args)),
                     nr, st.lists(arg, min_size=6, max_size=6))


@pytest.mark.parametrize(("name", "fmt", "docker"), CASES, ids=lambda v: str(v))
def test_random_calls_get_the_model_verdict(name: str, fmt: str, docker: bool) -> None:
    profile = synthesize(TRACES[name], POLICY)
    meant, sim, ends = _consumed(profile, fmt, docker)

    @settings(max_examples=1000, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow])
    @given(_calls(meant))
    def agree(call: tuple[str, int, tuple[int, ...]]) -> None:
        arch, nr, args = call
        v = sim.evaluate_raw(libseccomp.audit_arch(arch), nr, args)
        assert (v.action, v.errno) == meant.verdict(arch, _name(arch, nr), args, nr=nr,
                                                    enosys_above=ends.get(arch)), call

    agree()


def _sweep(profile: Profile, seed: str) -> list[tuple[str, int, tuple[int, ...]]]:
    """SWEEP random calls, reproducible from ``seed``: the numbers the rules name, any number
    below 1100 and the top of each ABI's range, on every ABI of the family; arguments at the
    rules' edges, differing only in the upper 32 bits, or random 32- and 64-bit values."""
    rnd = random.Random(seed)
    observed = sorted({(a, libseccomp.syscall_number(a, r.name)) for r in profile.rules
                       for a in r.arches if libseccomp.knows(a, r.name)})
    edges = _values(profile)
    tops = [(a, proof.top_number(a) & ~X32_SYSCALL_BIT) for a in ARCHES]
    out = []
    for _ in range(SWEEP):
        pick = rnd.random()
        if observed and pick < 0.5:
            arch, nr = rnd.choice(observed)
        elif pick < 0.95:
            arch, nr = rnd.choice(ARCHES), rnd.randrange(1100)
        else:
            arch, nr = rnd.choice(tops)
        if arch == "x32":
            nr |= X32_SYSCALL_BIT
        args = tuple(rnd.choice((rnd.choice(edges), rnd.getrandbits(64), rnd.getrandbits(32)))
                     for _ in range(6))
        out.append((arch, nr, args))
    return out


@pytest.mark.parametrize(("name", "fmt", "docker"), CASES, ids=lambda v: str(v))
def test_seeded_sweep_gets_the_model_verdict(name: str, fmt: str, docker: bool) -> None:
    """The same agreement over SWEEP more calls per (trace, format), drawn without hypothesis'
    overhead: 0 mismatches over every one."""
    profile = synthesize(TRACES[name], POLICY)
    meant, sim, ends = _consumed(profile, fmt, docker)
    wrong = []
    for arch, nr, args in _sweep(meant, f"{name}-{fmt}-{docker}"):
        v = sim.evaluate_raw(libseccomp.audit_arch(arch), nr, args)
        want = meant.verdict(arch, _name(arch, nr), args, nr=nr, enosys_above=ends.get(arch))
        if (v.action, v.errno) != want:
            wrong.append((arch, nr, args, (v.action, v.errno), want))
    assert not wrong, wrong[:3]


@pytest.mark.parametrize("arches", ["observed", "family"])
@pytest.mark.parametrize("name", sorted(TRACES))
def test_the_write_time_check_finds_nothing_wrong(name: str, arches: str) -> None:
    """The deterministic set ``generate`` checks before it writes (:func:`profile_text`: read
    back, compiled behind the consumer's ENOSYS rule, proven), for both arch policies and every
    format; firejail refuses what lists i386 (it cannot filter it)."""
    for policy in (Policy(arches=arches), Policy(args="strict", baseline="runc", arches=arches)):
        profile = synthesize(TRACES[name], policy)
        for fmt, docker in FORMATS:
            if docker:
                continue  # Docker's form reads back as the same profile as plain OCI
            try:
                profile_text(profile, fmt, "p" + resolve(fmt).suffix)
            except SeccompGenError as exc:
                if fmt == "firejail" and "x86" in profile.architectures:
                    continue
                raise AssertionError(f"{fmt}: {exc.one_line()}") from None


def test_unlisted_abis_and_x32_are_killed() -> None:
    """An x86_64-only profile: an i386 ``write`` (int $0x80) and an x32 ``write`` (bit 30) are
    killed by the filter, whatever names the profile allows."""
    profile = synthesize(TRACES["ls"])
    assert profile.architectures == ("x86_64",)
    for fmt, docker in FORMATS:
        meant, sim, _ = _consumed(profile, fmt, docker)
        assert sim.evaluate("x86_64", libseccomp.syscall_number("x86_64", "write")).allowed
        for arch in ("x86", "x32"):
            nr = libseccomp.syscall_number(arch, "write")
            assert sim.evaluate(arch, nr).action == "kill", (fmt, arch)
            assert meant.verdict(arch, "write", ()) == ("kill", None)


def test_a_broken_emitter_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """An OCI emitter that drops the argument conditions of clone (a real escape: namespace
    flags) writes a file that is not the profile: nothing is written."""
    from seccomp_gen.formats import oci

    real = oci.emit

    def broken(profile: Profile, **kwargs: object) -> str:
        text = real(profile, **kwargs)  # type: ignore[arg-type]
        return text.replace('"SCMP_CMP_MASKED_EQ"', '"SCMP_CMP_NE"')

    monkeypatch.setattr(oci, "emit", broken)
    profile = synthesize(TRACES["mixed"], POLICY)
    with pytest.raises(SeccompGenError, match="nothing was written"):
        profile_text(profile, "oci", "p.json")


def test_a_broken_compiler_is_caught(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                     request: pytest.FixtureRequest) -> None:
    """A compiler step that turns a masked comparison into a plain one (clone's namespace mask
    then compares all 64 bits) reads back fine but loads another filter: the check on the
    compiled BPF refuses it. (An empty cache: a program cached from the real compiler would
    hide the broken one, which no installed seccomp-gen can become without a new file.)"""
    monkeypatch.setenv("SECCOMP_GEN_CACHE_DIR", str(tmp_path / "cache"))
    for kept in (libseccomp._exported, libseccomp._fastest_cached):
        kept.cache_clear()
        request.addfinalizer(kept.cache_clear)  # no later test gets the broken program
    import pyseccomp

    from seccomp_gen.profile import ArgCondition

    def unmasked(c: ArgCondition) -> object:
        if c.op == "MASKED_EQ":
            return pyseccomp.Arg(c.index, pyseccomp.EQ, c.value_two)
        return pyseccomp.Arg(c.index, libseccomp._OPS[c.op], c.value, c.value_two)

    monkeypatch.setattr(libseccomp, "_arg", unmasked)
    profile = synthesize(TRACES["mixed"], POLICY)
    assert any(c.op == "MASKED_EQ" for r in profile.rules for c in r.conditions)
    with pytest.raises(SeccompGenError, match="compiled lxc filter does not do what"):
        profile_text(profile, "lxc", "p.seccomp")


def test_the_sweeps_cover_more_than_100k_calls() -> None:
    """The bar of the property tests: at least 100,000 random calls compared, model against
    the compiled filter, over every (trace, format) pair."""
    assert len(CASES) * (SWEEP + 1000) >= 100_000, len(CASES)
