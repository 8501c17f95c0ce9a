"""The compiled filter equals the profile, bit for bit where it matters.

For every sample trace and every format, the file is emitted, read back as the consumer would
read it, compiled with libseccomp and run in the BPF simulator; its verdict must equal what the
profile model means (:meth:`Profile.verdict`) for thousands of random calls: any ABI of the
family (listed or not, x32 included), numbers past the tables, arguments that differ only in
the upper 32 bits. A deliberately broken emitter and a broken compiler step (test fixtures) must
be caught by the check ``generate`` runs before it writes anything.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.synth_helpers import mixed_trace
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seccomp_gen import libseccomp, proof
from seccomp_gen.errors import SeccompGenError
from seccomp_gen.files import traces
from seccomp_gen.files.profiles import profile_text
from seccomp_gen.formats import emit, parse, resolve
from seccomp_gen.libseccomp import Simulator, export_bpf, prove, syscall_name
from seccomp_gen.model import Trace
from seccomp_gen.profile import Profile, normalize, widen
from seccomp_gen.synthesize import Policy, synthesize
from seccomp_gen.syscalls.arches import X32_SYSCALL_BIT

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = sorted((ROOT / "sample_traces").glob("*.trace.json"))
FORMATS = (("oci", False), ("oci", True), ("lxc", False), ("python", False))
POLICY = Policy(args="strict", baseline="runc")
ARCHES = ("x86_64", "x86", "x32")
_U64 = (1 << 64) - 1


def _traces() -> dict[str, Trace]:
    loaded = {"mixed": mixed_trace()}
    for path in SAMPLES:
        loaded[path.name.removesuffix(".trace.json")] = traces.load(path)
    return loaded


TRACES = _traces()


def _consumed(profile: Profile, fmt: str,
              docker: bool) -> tuple[Profile, Simulator, dict[str, int]]:
    """What the profile means as the format says it, the filter the consumer would load (behind
    its own ENOSYS stub, if it adds one), and where that stub starts answering ENOSYS."""
    back = parse(emit(profile, fmt, docker=docker), fmt, "p")
    meant = normalize(profile) if resolve(fmt, docker).per_arch else widen(profile)
    rule = resolve(fmt, docker).enosys
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


@pytest.mark.parametrize(("fmt", "docker"), FORMATS, ids=lambda v: str(v))
@pytest.mark.parametrize("name", sorted(TRACES))
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


@pytest.mark.parametrize("arches", ["observed", "family"])
@pytest.mark.parametrize("name", sorted(TRACES))
def test_the_write_time_check_finds_nothing_wrong(name: str, arches: str) -> None:
    """The deterministic set ``generate`` checks before it writes, for both arch policies."""
    for policy in (Policy(arches=arches), Policy(args="strict", baseline="runc", arches=arches)):
        profile = synthesize(TRACES[name], policy)
        for fmt, docker in FORMATS:
            if docker:
                continue  # Docker's form reads back as the same profile as plain OCI
            meant, _, _ = _consumed(profile, fmt, docker)
            back = parse(emit(profile, fmt, docker=docker), fmt, "p")
            rule = resolve(fmt, docker).enosys
            assert prove(meant, export_bpf(back, enosys=rule), "x86_64",
                         enosys=rule) == [], (fmt, docker)


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


def test_a_broken_compiler_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """A compiler step that turns a masked comparison into a plain one (clone's namespace mask
    then compares all 64 bits) reads back fine but loads another filter: the check on the
    compiled BPF refuses it."""
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
