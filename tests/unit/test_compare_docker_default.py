"""The profile generated from a recorded ``ls`` against Docker's default profile: a small subset of
it (Docker's default itself is the data file of tests/data/README.md)."""

from __future__ import annotations

from helpers.paths import DOCKER_DEFAULT, LS_TRACE

import seccomp_gen
from seccomp_gen.formats import oci
from seccomp_gen.profile import compare_counts
from seccomp_gen.synthesize import Policy, synthesize


def test_compare_with_docker_default() -> None:
    docker = oci.parse(DOCKER_DEFAULT.read_text(), str(DOCKER_DEFAULT),
                       host=oci.DockerHost("x86_64", "6.18"))
    trace = seccomp_gen.load_trace(LS_TRACE)
    mine = synthesize(trace, Policy())
    cmp = compare_counts(mine, docker, "x86_64")
    print(f"\nx86_64: generated profile for ls allows {cmp.a_allowed} syscalls, "
          f"Docker's default {cmp.b_allowed}; {cmp.both} in both")
    assert cmp.b_allowed > 250
    assert cmp.a_allowed * 5 < cmp.b_allowed
    assert cmp.only_a == (), f"ls needs what Docker's default refuses: {cmp.only_a}"
    # clone3 is answered ENOSYS by both (Docker: unless CAP_SYS_ADMIN), so glibc falls back.
    for p in (mine, docker):
        assert any(r.name == "clone3" and r.verdict == ("errno", 38) for r in p.rules)
