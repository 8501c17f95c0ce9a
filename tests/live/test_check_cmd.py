"""``check``: drift of a real workload against its profile, the CI gate (exit 1 names what the
profile lacks; ``--update`` adds it), and its refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers.cli import cli_text, one_error_line
from helpers.record import trace_names

from seccomp_gen.recorders import KNOWN_BACKENDS

CHECKED = ["sh", "-c", "cat /etc/hostname >/dev/null; exit 0"]


@pytest.fixture
def profile(tmp_path: Path) -> Path:
    oci = tmp_path / "app.json"
    res = cli_text("record", "-q", "-o", tmp_path / "app.trace.json", "--profile", f"oci:{oci}",
                   "--", *CHECKED)
    assert res.returncode == 0, res.stderr
    return oci


def _drop(oci: Path, name: str) -> None:
    doc = json.loads(oci.read_text())
    for entry in doc["syscalls"]:
        if name in entry["names"]:
            entry["names"].remove(name)
    doc["syscalls"] = [e for e in doc["syscalls"] if e["names"]]
    oci.write_text(json.dumps(doc, indent=1))


@pytest.mark.live
def test_check_passes_on_covered_workload(profile: Path) -> None:
    res = cli_text("check", "--profile", profile, "--", *CHECKED)
    assert res.returncode == 0, res.stderr
    assert "covers every syscall" in res.stderr


@pytest.mark.live
def test_check_names_the_missing_syscall_and_update_fixes_it(profile: Path,
                                                            tmp_path: Path) -> None:
    _drop(profile, "openat")
    before = profile.read_text()
    committed = tmp_path / "committed.json"
    committed.write_text(before)
    res = cli_text("check", "--profile", profile, "--", *CHECKED)
    assert res.returncode == 1, res.stderr
    assert "1 syscall(s) the profile does not allow" in res.stderr
    assert "x86_64 openat" in res.stderr and "/usr/bin/cat" in res.stderr
    assert profile.read_text() == before
    js = cli_text("check", "--profile", profile, "--json", "--", *CHECKED)
    doc = json.loads(js.stdout)
    assert js.returncode == 1 and [r["syscall"] for r in doc["new"]] == ["openat"]
    assert "/usr/bin/cat" in doc["new"][0]["exes"]
    upd = cli_text("check", "--profile", profile, "--update", "--trace-out", tmp_path / "new.json",
                   "--", *CHECKED)
    assert upd.returncode == 1, upd.stderr
    assert "updated" in upd.stderr
    assert trace_names(tmp_path / "new.json") == {("x86_64", "openat")}
    assert "openat" in json.loads(profile.read_text())["syscalls"][0]["names"] or any(
        "openat" in e["names"] for e in json.loads(profile.read_text())["syscalls"])
    again = cli_text("check", "--profile", profile, "--", *CHECKED)
    assert again.returncode == 0, again.stderr
    gh = cli_text("diff", "--format", "github", committed, profile, "--arch", "x86_64")
    assert gh.returncode == 1
    assert gh.stdout.splitlines() == [
        f"::error file={committed},title=seccomp%3A new syscall openat::"
        f"x86_64 openat is allowed by {profile} but not by {committed}"]


@pytest.mark.live
def test_check_update_keeps_lxc_format(tmp_path: Path) -> None:
    lxc = tmp_path / "app.lxc"
    res = cli_text("record", "-q", "-o", tmp_path / "t.json", "--profile", f"lxc:{lxc}", "--",
                   "true")
    assert res.returncode == 0, res.stderr
    upd = cli_text("check", "--profile", lxc, "--update", "--", *CHECKED)
    assert upd.returncode == 1
    assert lxc.read_text().startswith("2\n")
    assert cli_text("check", "--profile", lxc, "--", *CHECKED).returncode == 0


@pytest.mark.live
def test_check_errors_write_nothing(profile: Path, tmp_path: Path) -> None:
    before = profile.read_text()
    marker = tmp_path / "ran"
    cases = [
        (["check", "--profile", profile, "--update"], "needs a command"),
        (["check", "--profile", profile, "--update", "--trace-out", tmp_path / "no" / "t.json",
          "--", "touch", marker], "directory does not exist"),
        (["check", "--profile", profile, "--format", "lxc", "--", "touch", marker],
         "only applies with --update"),
    ]
    for args, what in cases:
        res = cli_text(*args)
        assert res.returncode == 125 and what in one_error_line(res)
    truncated = tmp_path / "trunc.json"
    truncated.write_text(before[: len(before) // 2])
    res = cli_text("check", "--profile", truncated, "--update", "--", "touch", marker)
    assert res.returncode == 125
    one_error_line(res)
    assert truncated.read_text() == before[: len(before) // 2]
    assert not marker.exists() and profile.read_text() == before
    missing = cli_text("check", "--profile", profile, "--", "no-such-command-xyz")
    assert missing.returncode == 127


@pytest.mark.live
def test_check_command_failure_without_drift(profile: Path) -> None:
    res = cli_text("check", "--profile", profile, "--", "sh", "-c", "cat /etc/hostname >/dev/null; "
                   "exit 5")
    assert res.returncode == 3, res.stderr
    assert "exited with status 5" in res.stderr


@pytest.mark.live
def test_check_names_the_signal_that_killed_the_command(profile: Path) -> None:
    res = cli_text("check", "--profile", profile, "--", "sh", "-c", "kill -SEGV $$")
    assert res.returncode == 1, res.stderr  # kill(2) is new to the profile
    assert "the command was killed by SIGSEGV" in res.stderr
    assert "status 139" not in res.stderr  # the old wording (a pid may hold the digits 139)


@pytest.mark.live
def test_check_quiet_prints_only_the_result_line(profile: Path, tmp_path: Path) -> None:
    covered = cli_text("check", "-q", "--profile", profile, "--", *CHECKED)
    assert covered.returncode == 0
    assert covered.stderr.splitlines() == [f"{profile} covers every syscall of: "
                                           "sh -c 'cat /etc/hostname >/dev/null; exit 0'"]
    failed = cli_text("check", "-q", "--profile", profile, "--", "sh", "-c",
                      "cat /etc/hostname >/dev/null; exit 5")
    assert failed.returncode == 3
    assert len(failed.stderr.splitlines()) == 1
    assert failed.stderr.rstrip().endswith("; the command exited with status 5")
    _drop(profile, "openat")
    _drop(profile, "read")
    drift = cli_text("check", "-q", "--profile", profile, "--trace-out", tmp_path / "new.json",
                     "--", *CHECKED)
    assert drift.returncode == 1
    assert drift.stderr.splitlines() == [
        f"{profile}: 2 syscall(s) the profile does not allow were needed by: sh -c 'cat "
        "/etc/hostname >/dev/null; exit 0' (x86_64 openat, x86_64 read)"]
    assert (tmp_path / "new.json").exists()
    loud = cli_text("check", "--profile", profile, "--", *CHECKED).stderr.splitlines()
    assert loud[0].startswith(f"{profile}: 2 syscall(s)")  # then one line per syscall
    assert loud[1].startswith("  x86_64 openat (") and loud[2].startswith("  x86_64 read (")


@pytest.mark.live
@pytest.mark.parametrize("backend", KNOWN_BACKENDS)
def test_check_runs_the_path_the_profile_makes(backend: str, cbuild, tmp_path: Path) -> None:
    """A profile answering the recorded io_uring_setup with ENOSYS (generate --io-uring enosys):
    the program falls back to epoll, which its recording never made. check answers what the
    profile answers with an errno while it records, so it sees that path and names
    epoll_create1 (before, io_uring_setup ran while check recorded: exit 0, "covers every
    syscall", a false green; the workload then failed under the profile)."""
    prog = cbuild["uring_fallback"]
    trace, oci = tmp_path / "u.trace.json", tmp_path / "u.json"
    rec = cli_text("record", "-q", "-o", trace, "--", prog)
    assert rec.returncode == 0, rec.stderr
    if "io_uring" not in rec.stdout:
        pytest.skip("io_uring is disabled on this kernel (the program fell back by itself)")
    assert ("x86_64", "io_uring_setup") in trace_names(trace)
    gen = cli_text("generate", trace, "--io-uring", "enosys", "-o", oci)
    assert gen.returncode == 0, gen.stderr
    res = cli_text("check", "--profile", oci, "--backend", backend, "--", prog)
    assert res.returncode == 1, res.stdout + res.stderr
    assert "epoll" in res.stdout and "x86_64 epoll_create1" in res.stderr, res.stderr
    upd = cli_text("check", "--profile", oci, "--backend", backend, "--update", "--", prog)
    assert upd.returncode == 1 and "updated" in upd.stderr, upd.stderr
    again = cli_text("check", "--profile", oci, "--backend", backend, "--", prog)
    assert again.returncode == 0, again.stderr
