"""Where the project's files are, from any clone path and any test folder."""

from __future__ import annotations

from pathlib import Path

#: The repository: README.md, pyproject.toml, seccomp_gen/, sample_traces/, tests/.
ROOT = Path(__file__).resolve().parents[2]
TESTS = ROOT / "tests"
#: Files the tests read, each named with its source in tests/data/README.md.
DATA = TESTS / "data"
SAMPLES = ROOT / "sample_traces"
LS_TRACE = SAMPLES / "ls.trace.json"
HELLO32_TRACE = SAMPLES / "hello32.trace.json"
#: The first recordings of those two, in trace format version 1 (no call sites), kept so that the
#: tests that read version 1 still have a real one (tests/data/README.md).
LS_V1_TRACE = DATA / "ls.v1.trace.json"
HELLO32_V1_TRACE = DATA / "hello32.v1.trace.json"
#: moby's default profile (profiles/seccomp/default.json); see tests/data/README.md.
DOCKER_DEFAULT = DATA / "docker-default-seccomp.json"
