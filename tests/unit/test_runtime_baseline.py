"""Which baseline a container's command line and bundle ask for (``record --container`` keeps it
in the trace header; ``generate --baseline auto`` uses it)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from helpers.synth_helpers import rec, trace

from seccomp_gen.formats import tracefile
from seccomp_gen.merge import merge_traces
from seccomp_gen.recorders.runtimes import runtime_baseline
from seccomp_gen.synthesize import Policy, synthesize


def _reader(nnp: bool | None) -> Any:
    def read(bundle: str) -> dict[str, Any] | None:
        assert bundle == "/b"
        return None if nnp is None else {"process": {"noNewPrivileges": nnp}}
    return read


@pytest.mark.parametrize(("argv", "nnp", "expected"), [
    (["runc", "run", "-b", "/b", "id"], False, "runc"),
    (["runc", "--root", "/r", "run", "--bundle", "/b", "id"], True, "runc-nnp"),
    (["/usr/bin/crun", "run", "--bundle=/b", "id"], True, "crun-nnp"),
    (["unshare", "-m", "sh", "-c", "exec \"$@\"", "crun", "crun", "run", "-b", "/b", "x"],
     False, "crun"),
    (["runc", "run", "-b", "/b", "id"], None, ""),  # no readable config.json
    (["docker", "run", "--rm", "img"], None, "docker"),
    (["docker", "run", "--security-opt", "no-new-privileges", "img"], None, "runc-nnp"),
    (["podman", "run", "img"], None, "crun"),
    (["podman", "--runtime", "/usr/sbin/runc", "run", "img"], None, "podman"),
    (["podman", "--runtime", "runc", "run", "--security-opt=no-new-privileges", "img"], None,
     "runc-nnp"),
    (["podman", "--runtime", "kata", "run", "img"], None, ""),
    (["ls", "-l"], None, ""),
])
def test_runtime_baseline(argv: list[str], nnp: bool | None, expected: str) -> None:
    assert runtime_baseline(argv, "/", _reader(nnp)) == expected


def test_the_bundle_defaults_to_the_working_directory() -> None:
    seen = []

    def read(bundle: str) -> dict[str, Any] | None:
        seen.append(bundle)
        return {"process": {}}

    assert runtime_baseline(["runc", "run", "id"], "/srv/b", read) == "runc"
    assert seen == ["/srv/b"]
    assert runtime_baseline(["runc", "run", "-b", "rel", "id"], "/srv", read) == "runc"
    assert seen[-1] == "/srv/rel"


def test_runtime_in_the_trace_file_and_generate_auto() -> None:
    t = trace([rec("x86_64", "read")])
    assert "runtime" not in tracefile.dumps(t)  # traces of no container are unchanged
    boxed = replace(t, header=replace(t.header, runtime="runc-nnp"))
    back = tracefile.loads(tracefile.dumps(boxed))
    assert back.header.runtime == "runc-nnp"
    assert synthesize(boxed) == synthesize(boxed, Policy(baseline="runc-nnp"))
    assert synthesize(t) == synthesize(t, Policy(baseline="none"))
    # An explicit baseline wins over the header's.
    assert synthesize(boxed, Policy(baseline="none")) == synthesize(t, Policy(baseline="none"))
    # Merged traces keep a runtime only when they agree.
    assert merge_traces([boxed, boxed]).header.runtime == "runc-nnp"
    other = replace(t, header=replace(t.header, runtime="docker", started="later"))
    assert merge_traces([boxed, other]).header.runtime == ""
