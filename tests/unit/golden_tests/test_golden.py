"""Every emitter's output for each input trace is pinned in golden/; a change must be deliberate.

Inputs: the hand-built mixed x86_64/i386 trace, and every trace in sample_traces/. Update with
``python -m pytest tests/unit/golden_tests --update-golden`` and review the diff.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.paths import SAMPLES
from helpers.synth_helpers import mixed_trace

from seccomp_gen.files import traces
from seccomp_gen.formats import emit
from seccomp_gen.model import Trace
from seccomp_gen.synthesize import Policy, synthesize

GOLDEN = Path(__file__).parent / "golden"

#: (format, docker, suffix); generated modules are not named .py, so linters leave them alone
FORMATS = (("oci", False, "oci.json"), ("oci", True, "docker.json"), ("lxc", False, "lxc"),
           ("python", False, "py.golden"), ("systemd", False, "systemd.conf"),
           ("firejail", False, "firejail.profile"))
POLICIES = {"safe": Policy(), "strict-runc": Policy(args="strict", baseline="runc")}


def _inputs() -> dict[str, Trace]:
    loaded = {"mixed": mixed_trace()}
    for path in sorted(SAMPLES.glob("*.trace.json")):
        loaded[path.name.removesuffix(".trace.json")] = traces.load(path)
    return loaded


def _writable(name: str, pol: str, fmt: str) -> bool:
    """firejail profiles hold x86_64 calls only (tests/unit/test_name_formats.py)."""
    return fmt != "firejail" or synthesize(_inputs()[name], POLICIES[pol]).architectures == (
        "x86_64",)


CASES = [(name, pol, fmt, docker, suffix) for name in sorted(_inputs()) for pol in POLICIES
         for fmt, docker, suffix in FORMATS if _writable(name, pol, fmt)]


@pytest.mark.parametrize("name, pol, fmt, docker, suffix", CASES,
                         ids=[f"{c[0]}-{c[1]}-{c[4]}" for c in CASES])
def test_golden(name: str, pol: str, fmt: str, docker: bool, suffix: str,
                update_golden: bool) -> None:
    text = emit(synthesize(_inputs()[name], POLICIES[pol]), fmt, docker=docker)
    path = GOLDEN / f"{name}.{pol}.{suffix}"
    if update_golden or not path.exists():
        if not update_golden:
            pytest.fail(f"{path.name} is missing; run pytest tests/unit/golden_tests "
                        "--update-golden")
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
        return
    assert text == path.read_text(), (
        f"{path.name} changed; if intended, run pytest tests/unit/golden_tests --update-golden")
