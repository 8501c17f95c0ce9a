"""Run coverage: a merged trace keeps, for every call and argument value, which of its runs made
it (``merge``, multi-trace ``generate``); ``show --runs`` lists what only some runs made, and
profiles say "seen in k of N runs". Checked against the inputs themselves."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers.cli import cli_text, one_error_line
from helpers.paths import SAMPLES

from seccomp_gen.errors import SeccompGenError
from seccomp_gen.files.traces import load
from seccomp_gen.formats import tracefile
from seccomp_gen.merge import merge_traces, rare_calls
from seccomp_gen.synthesize import synthesize

RUNS = [SAMPLES / "ls.trace.json", SAMPLES / "python-wordcount.trace.json",
        SAMPLES / "shell-pipeline.trace.json"]


def _expected(traces: list) -> dict[tuple[str, str], set[int]]:
    made: dict[tuple[str, str], set[int]] = {}
    for i, t in enumerate(traces):
        for r in t.syscalls:
            made.setdefault((r.arch, r.name), set()).add(i)
    return made


def test_three_workloads_give_k_of_3_for_every_call() -> None:
    traces = [load(p) for p in RUNS]
    m = merge_traces(traces)
    assert m.header.run_names == tuple(t.header.run_names[0] for t in traces)
    expected = _expected(traces)
    assert {(r.arch, r.name) for r in m.syscalls} == set(expected)
    for r in m.syscalls:
        runs = set(r.runs) if r.runs else {0, 1, 2}
        assert runs == expected[(r.arch, r.name)], r.name
        if r.args is None:
            continue
        for v in r.args.values:  # each value: exactly the inputs whose record has it
            want = {i for i, t in enumerate(traces)
                    if (x := t.find(r.name, r.arch)) is not None and x.args is not None
                    and v in x.args.values}
            assert set(r.args.value_runs.get(v, (0, 1, 2))) == want, (r.name, v)
    rare = rare_calls(m)
    assert rare and all(len(c.runs) < 3 for c in rare)
    assert [len(c.runs) for c in rare] == sorted(len(c.runs) for c in rare)
    # Read back equal; a merged trace merged again keeps counting runs.
    assert tracefile.loads(tracefile.dumps(m)) == m
    again = merge_traces([m, traces[0]])
    assert len(again.header.run_names) == 4
    clone = again.find("clone")
    assert clone is not None and clone.runs == (2,)


def test_profile_says_in_how_many_runs() -> None:
    m = merge_traces([load(p) for p in RUNS])
    p = synthesize(m)
    comments = {r.name: r.comment for r in p.rules if r.arches == ("x86_64",)}
    assert comments["clone"] == "seen in 1 of 3 runs"
    assert comments["execve"] == ""  # every run: core
    one = synthesize(load(RUNS[0]))
    assert not any("runs" in r.comment for r in one.rules)


def test_show_runs_text_and_json(tmp_path: Path) -> None:
    out = tmp_path / "all.json"
    assert cli_text("merge", *RUNS, "-o", out).returncode == 0
    res = cli_text("show", out, "--runs")
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0] == "3 run(s):" and lines[1] == "  [1] ls -la /"
    assert any(line.split()[:2] == ["x86_64", "clone"] and "1 of 3" in line and "[3]" in line
               for line in lines)
    doc = json.loads(cli_text("show", out, "--runs", "--json").stdout)
    assert len(doc["runs"]) == 3
    clone = next(r for r in doc["rows"] if r["name"] == "clone" and "values" not in r)
    assert (clone["seen"], clone["of"], clone["runs"]) == (1, 3, [2])
    single = cli_text("show", RUNS[0], "--runs")
    assert "every call and argument value was made in every run" in single.stdout


@pytest.mark.parametrize("runs", [[3], [1, 0], [0, 0], [-1], ["x"]])
def test_bad_run_indexes_are_one_line(tmp_path: Path, runs: list) -> None:
    m = merge_traces([load(p) for p in RUNS])
    doc = json.loads(tracefile.dumps(m))
    doc["syscalls"][0]["runs"] = runs
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc))
    with pytest.raises(SeccompGenError):
        load(bad)
    res = cli_text("show", bad, "--runs")
    assert res.returncode != 0
    one_error_line(res)
