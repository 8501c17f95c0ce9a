"""``seccomp-gen audit``: Docker's default profile, our generated profiles of the sample traces,
the exit status, and the json and github outputs."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from helpers.cli import assert_no_raw_controls, cli_text, one_error_line
from helpers.paths import DOCKER_DEFAULT, SAMPLES

SAMPLE_TRACES = sorted(SAMPLES.glob("*.trace.json"))
#: Findings at or above the default --fail-on (medium) on our default profiles: QEMU probes
#: io_uring, and io_uring_setup is allowed as recorded (a real finding: generate --io-uring
#: enosys answers it, and QEMU then falls back to epoll, which the recording lacks).
KNOWN = {"qemu-boot": {("high", "dangerous-allow", "io_uring_setup")}}


def audit_json(*args: str | Path) -> tuple[int, dict]:
    res = cli_text("audit", *args, "--format", "json")
    assert res.returncode in (0, 1), res.stderr
    return res.returncode, json.loads(res.stdout)


def keys(doc: dict, at_least: tuple[str, ...] = ("high", "medium", "low", "info")
         ) -> set[tuple[str, str, str]]:
    return {(f["level"], f["id"], f["syscall"]) for f in doc["findings"] if f["level"] in at_least}


def test_docker_default_is_flagged_for_what_it_allows() -> None:
    status, doc = audit_json(DOCKER_DEFAULT)
    assert status == 1 and doc["failed"]
    assert doc["profile"]["arches"] == ["x86_64", "x86", "x32"]
    found = keys(doc)
    assert {
        ("high", "dangerous-allow", "ptrace"),  # minKernel 4.8, no capability asked
        ("high", "dangerous-allow", "process_vm_writev"),
        ("medium", "dangerous-allow", "process_vm_readv"),
        ("medium", "alternative-bypass", "socket"),  # socketcall reaches AF_ALG and AF_VSOCK
        ("medium", "x32-unguarded", ""),
        ("low", "abi-unneeded", ""),  # x86
    } <= found
    by = {(f["id"], f["syscall"]): f for f in doc["findings"]}
    assert by[("alternative-bypass", "socket")]["arches"] == ["x86"]
    assert by[("abi-unneeded", "")]["arches"] == ["x86"]
    # Pinned as they should be: clone's namespace flags, personality's personas, clone3 ENOSYS;
    # what only CAP_SYS_ADMIN and other added capabilities enable is not allowed at Docker's
    # default capability set.
    named = {s for _, _, s in found}
    for name in ("clone", "clone3", "personality", "bpf", "mount", "unshare", "setns",
                 "perf_event_open", "open_by_handle_at", "kexec_load", "init_module"):
        assert name not in named


def test_docker_default_with_an_added_capability() -> None:
    # What `docker run --cap-add SYS_ADMIN` gets: the entries under includes.caps.
    _, doc = audit_json(DOCKER_DEFAULT, "--cap", "SYS_ADMIN")
    assert doc["profile"]["caps"] == ["CAP_SYS_ADMIN"]
    assert {
        ("high", "arg-unpinned", "clone"), ("high", "arg-unpinned", "unshare"),
        ("high", "arg-unpinned", "setns"), ("high", "dangerous-allow", "clone3"),
        ("high", "dangerous-allow", "bpf"), ("high", "dangerous-allow", "mount"),
        ("high", "dangerous-allow", "perf_event_open"),
    } <= keys(doc)
    setns = next(f for f in doc["findings"] if f["syscall"] == "setns")
    assert setns["reason"].startswith("allows nstype 0 (any): ")
    _, ptrace = audit_json(DOCKER_DEFAULT, "--cap", "cap_sys_ptrace")
    assert ("medium", "dangerous-allow", "pidfd_getfd") in keys(ptrace)
    one_error_line(cli_text("audit", DOCKER_DEFAULT, "--cap", "SYS ADMIN"), 2)


def test_the_readme_example_is_what_audit_prints() -> None:
    readme = (SAMPLES.parent / "README.md").read_text()
    example = readme.split("$ seccomp-gen audit docker-default.json\n", 1)[1].split("```")[0]
    printed = cli_text("audit", DOCKER_DEFAULT).stdout.splitlines()
    shown = [line for line in example.splitlines()[1:] if line != "..."]
    assert shown and all(line in printed for line in shown), shown


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("audit")
    out = {}
    for trace in SAMPLE_TRACES:
        name = trace.name.removesuffix(".trace.json")
        res = cli_text("generate", trace, "-o", d / f"{name}.json")
        assert res.returncode == 0, res.stderr
        out[name] = d / f"{name}.json"
    return out


@pytest.mark.parametrize("trace", SAMPLE_TRACES, ids=lambda p: p.name.split(".")[0])
def test_our_profiles_of_the_sample_traces_pass(trace: Path, generated: dict[str, Path]) -> None:
    name = trace.name.removesuffix(".trace.json")
    for extra in ((), ("--trace", trace)):
        _, doc = audit_json(generated[name], *extra)
        assert keys(doc, ("high", "medium")) == KNOWN.get(name, set()), doc["findings"]


def test_the_hello32_profile_lists_x86_and_its_trace_says_why(generated: dict[str, Path]) -> None:
    _, guessed = audit_json(generated["hello32"])
    assert keys(guessed) == {("low", "abi-unneeded", "")}
    _, known = audit_json(generated["hello32"], "--trace", SAMPLES / "hello32.trace.json")
    assert not [f for f in known["findings"] if f["id"] == "abi-unneeded"]


def test_exit_status_follows_fail_on(generated: dict[str, Path]) -> None:
    assert cli_text("audit", DOCKER_DEFAULT, "--fail-on", "never").returncode == 0
    assert cli_text("audit", DOCKER_DEFAULT, "--fail-on", "high").returncode == 1
    assert cli_text("audit", generated["hello32"]).returncode == 0
    assert cli_text("audit", generated["hello32"], "--fail-on", "low").returncode == 1
    assert cli_text("audit", generated["ls"], "--fail-on", "info").returncode == 0


def test_text_output(generated: dict[str, Path]) -> None:
    res = cli_text("audit", DOCKER_DEFAULT)
    lines = res.stdout.splitlines()
    assert lines[0] == f"{DOCKER_DEFAULT} (oci, x86_64, x86, x32)"
    assert "high   dangerous-allow [x86_64,x86,x32] ptrace: allowed without argument rules: " \
        "reads and writes other processes' memory and registers" in lines
    assert re.fullmatch(r"\d+ findings \(2 high, 3 medium, \d+ low, 0 info\); FAIL: findings "
                        r"at or above medium", lines[-1]), lines[-1]
    assert res.stdout == cli_text("audit", DOCKER_DEFAULT).stdout
    ls = cli_text("audit", generated["ls"]).stdout.splitlines()
    assert ls[1:] == ["0 findings (0 high, 0 medium, 0 low, 0 info); pass: nothing at or above "
                      "medium"]


def test_text_shows_a_path_as_it_is(generated: dict[str, Path], tmp_path: Path) -> None:
    odd = tmp_path / ":smile: [bold]x\x1b[2J\ny.json"
    odd.write_bytes(generated["ls"].read_bytes())
    out = cli_text("audit", odd).stdout
    assert_no_raw_controls(out)
    first = out.splitlines()[0]
    assert first.startswith(f"{tmp_path}/:smile: [bold]x")  # no emoji, no markup
    assert first.endswith("y.json (oci, x86_64)") and "\\x1b" in first


def test_every_input_format(generated: dict[str, Path], tmp_path: Path) -> None:
    trace = SAMPLES / "ls.trace.json"
    for fmt, suffix in (("lxc", ".seccomp"), ("kubernetes", ".yaml"), ("python", ".py")):
        out = tmp_path / f"ls_{fmt}{suffix}"
        assert cli_text("generate", trace, "--format", fmt, "-o", out).returncode == 0
        status, doc = audit_json(out)
        assert (status, doc["findings"], doc["profile"]["kind"]) == (0, [], fmt)
    status, doc = audit_json(trace)
    assert (status, doc["profile"]["kind"]) == (0, "trace")


def test_a_denylist_is_one_high_finding(tmp_path: Path) -> None:
    oci = tmp_path / "deny.json"
    oci.write_text(json.dumps({"defaultAction": "SCMP_ACT_ALLOW", "architectures":
                               ["SCMP_ARCH_X86_64"], "syscalls": [
                                   {"names": ["ptrace"], "action": "SCMP_ACT_ERRNO"}]}))
    lxc = tmp_path / "deny.seccomp"
    lxc.write_text("2\ndenylist\nptrace\n")
    for path in (oci, lxc):
        status, doc = audit_json(path)
        assert status == 1
        assert keys(doc) == {("high", "default-permissive", "")}
        assert doc["profile"]["kind"] == "denylist"
    log = tmp_path / "log.json"
    log.write_text(json.dumps({"defaultAction": "SCMP_ACT_LOG", "architectures":
                               ["SCMP_ARCH_X86_64"], "syscalls": [
                                   {"names": ["clone3"], "action": "SCMP_ACT_ERRNO",
                                    "errnoRet": 38}]}))
    assert ("high", "default-permissive", "") in keys(audit_json(log)[1])


def test_bad_input_is_one_line_and_exit_2(tmp_path: Path) -> None:
    one_error_line(cli_text("audit", tmp_path / "missing.json"), 2)
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    one_error_line(cli_text("audit", bad), 2)
    one_error_line(cli_text("audit", DOCKER_DEFAULT, "--arch", "vax"), 2)
    one_error_line(cli_text("audit", DOCKER_DEFAULT, "--trace", bad), 2)
    one_error_line(cli_text("audit", "-", "--trace", "-"), 2)


def test_json_schema() -> None:
    _, doc = audit_json(DOCKER_DEFAULT, "--trace", SAMPLES / "ls.trace.json")
    assert list(doc) == ["format", "version", "profile", "fail_on", "failed", "summary",
                         "findings"]
    assert (doc["format"], doc["version"], doc["fail_on"]) == ("seccomp-gen-audit", 1, "medium")
    assert list(doc["profile"]) == ["path", "kind", "arches", "left_out", "traces", "caps"]
    assert list(doc["summary"]) == ["high", "medium", "low", "info"]
    assert sum(doc["summary"].values()) == len(doc["findings"])
    for f in doc["findings"]:
        assert list(f) == ["level", "id", "arches", "syscall", "reason"]
        assert "\n" not in f["reason"]


GITHUB_LINE = re.compile(r"::(error|warning|notice) file=[^,:\r\n]*,title=[^,:\r\n]*::[^\r\n]*")


def test_github_output_is_escaped(tmp_path: Path) -> None:
    # A file name with every character GitHub's properties must escape, and a rule comment
    # that tries to start a workflow command of its own.
    weird = tmp_path / "a,b:c%d\ne.json"
    doc = json.loads(DOCKER_DEFAULT.read_text())
    doc["syscalls"][0]["comment"] = "x\n::error title=pwned::owned\r\n%0A"
    weird.write_text(json.dumps(doc))
    res = cli_text("audit", weird, "--format", "github")
    assert res.returncode == 1, res.stderr
    raw = cli_text("audit", weird, "--format", "github").stdout
    assert_no_raw_controls(raw)
    lines = raw.splitlines()
    assert lines and all(GITHUB_LINE.fullmatch(line) for line in lines), lines
    assert "pwned" not in raw
    assert "file=" + str(tmp_path).replace(":", "%3A") + "/a%2Cb%3Ac%25d%0Ae.json," in lines[0]
    assert lines[0].startswith("::error ") and "title=seccomp audit%3A dangerous-allow" in lines[0]
    kinds = [line.split(" ", 1)[0] for line in lines]
    assert "::warning" in kinds  # the low ones, below --fail-on
