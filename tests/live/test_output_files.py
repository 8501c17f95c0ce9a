"""What the commands write: never through a symlink, never over an entry without --force, and a
recording that survives a full disk (a real, tiny tmpfs). What ``generate`` says it wrote:
tests/unit/test_generate_cmd.py."""

from __future__ import annotations

import errno
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.cli import cli_text
from helpers.paths import SAMPLES

from seccomp_gen.files import traces
from seccomp_gen.files.profiles import load_profile


def sg(*args: str | Path, env: dict[str, str] | None = None,
       cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """seccomp-gen in its own session (:func:`helpers.cli.run`), ``env`` added to ours."""
    return cli_text(*args, cwd=cwd, env=None if env is None else {**os.environ, **env})


def error_lines(res: subprocess.CompletedProcess[str]) -> list[str]:
    assert "Traceback" not in res.stderr, res.stderr
    return [ln for ln in res.stderr.splitlines() if ln.startswith("seccomp-gen: error:")]


# --- symlinks ------------------------------------------------------------------------------------


@pytest.mark.live
def test_a_dangling_symlink_is_an_existing_output(tmp_path: Path) -> None:
    """A symlink at the output path, even one pointing nowhere, needs --force; with it the link
    itself is replaced, and nothing is written where it pointed."""
    nowhere = tmp_path / "elsewhere" / "target.json"
    link = tmp_path / "out.json"
    link.symlink_to(nowhere)
    ran = tmp_path / "ran"
    res = sg("record", "-q", "-o", link, "--", "touch", ran)
    assert res.returncode == 125, res.stderr
    assert error_lines(res) == [f"seccomp-gen: error: {link}: already exists as a symbolic link "
                                "(use --force to replace it)"]
    assert not ran.exists() and link.is_symlink() and os.readlink(link) == str(nowhere)
    gen = sg("generate", SAMPLES / "ls.trace.json", "-o", link)
    assert gen.returncode == 125 and "symbolic link" in error_lines(gen)[0]
    assert link.is_symlink()

    nowhere.parent.mkdir()
    forced = sg("record", "-q", "-f", "-o", link, "--", "touch", ran)
    assert forced.returncode == 0, forced.stderr
    assert ran.exists() and not link.is_symlink() and traces.load(link).header.command
    assert not nowhere.exists()

    # A link to a file the user has: --force replaces the link, the file stays as it was.
    kept = tmp_path / "kept.json"
    kept.write_text("mine\n")
    link.unlink()
    link.symlink_to(kept)
    gen = sg("generate", SAMPLES / "ls.trace.json", "-o", link, "--force")
    assert gen.returncode == 0, gen.stderr
    assert not link.is_symlink() and '"defaultAction"' in link.read_text()
    assert kept.read_text() == "mine\n"


# --- a full disk ---------------------------------------------------------------------------------


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[Path]:
    """A 64 KiB tmpfs, filled up: creating a file works, writing to it fails with ENOSPC."""
    mnt = tmp_path / "full"
    mnt.mkdir()
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mnt)],
                         capture_output=True, text=True, timeout=30, check=False)
    if res.returncode != 0:
        reason = f"cannot mount a tmpfs here: {res.stderr.strip()}"
        print(f"SKIP: {reason}")
        pytest.skip(reason)
    try:
        with open(mnt / "fill", "wb", buffering=0) as fh:
            try:
                while True:
                    fh.write(b"\0" * 4096)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
        yield mnt
    finally:
        if subprocess.run(["umount", str(mnt)], capture_output=True, timeout=30,
                          check=False).returncode != 0:
            subprocess.run(["umount", "-l", str(mnt)], capture_output=True, timeout=30,
                           check=False)


def left_on(mnt: Path) -> list[str]:
    return sorted(p.name for p in mnt.iterdir())


@pytest.mark.live
def test_full_disk_saves_the_trace_elsewhere(full_disk: Path, tmp_path: Path) -> None:
    rescue = tmp_path / "rescue"
    rescue.mkdir()
    out, prof = full_disk / "t.json", full_disk / "p.json"
    res = sg("record", "-o", out, "--profile", f"oci:{prof}", "--", "sh", "-c", "exit 7",
             env={"TMPDIR": str(rescue)})
    assert res.returncode == 7, res.stderr  # the command's status, not 125
    lines = error_lines(res)
    assert len(lines) == 2, res.stderr
    saved = sorted(rescue.iterdir())
    assert len(saved) == 2, saved
    trace_file = next(p for p in saved if p.name.startswith("seccomp-gen-t-"))
    profile_file = next(p for p in saved if p.name.startswith("seccomp-gen-p-"))
    assert lines[0] == (f"seccomp-gen: error: {out}: cannot write: No space left on device; "
                        f"the trace was saved to {trace_file} instead")
    assert lines[1] == (f"seccomp-gen: error: {prof}: cannot write: No space left on device; "
                        f"the oci profile was saved to {profile_file} instead")
    assert "trace written to" not in res.stderr and "syscalls" in res.stderr  # summary kept
    trace = traces.load(trace_file)
    assert trace.header.command == ("sh", "-c", "exit 7") and trace.header.exit
    assert trace.header.exit.code == 7
    assert load_profile(str(profile_file))[1] == "oci"
    assert trace_file.stat().st_mode & 0o077 == 0  # maybe in a shared /tmp: only ours
    assert left_on(full_disk) == ["fill"]  # no partial file, no temp file


@pytest.mark.live
def test_full_disk_with_nowhere_else_says_the_trace_is_lost(full_disk: Path,
                                                             tmp_path: Path) -> None:
    missing = tmp_path / "no-such-dir"
    res = sg("record", "-q", "-o", "t.json", "--", "sh", "-c", "exit 3",
             env={"TMPDIR": str(missing)}, cwd=full_disk)
    assert res.returncode == 3, res.stderr
    assert error_lines(res) == [
        "seccomp-gen: error: t.json: cannot write: No space left on device; the trace is lost "
        f"({missing}: No such file or directory)"]
    assert res.stderr.count("\n") == 1
    assert left_on(full_disk) == ["fill"]


@pytest.mark.live
def test_full_disk_run_keeps_the_command_status(full_disk: Path, tmp_path: Path) -> None:
    """``run -o``: the violations trace is saved elsewhere, the status stays the command's."""
    rescue = tmp_path / "rescue"
    rescue.mkdir()
    base = tmp_path / "true.trace.json"
    assert sg("record", "-q", "-o", base, "--", "true").returncode == 0
    res = sg("run", "-q", "--mode", "complain", "--profile", base, "-o", full_disk / "v.json",
             "--", "sh", "-c", "ls / >/dev/null; exit 4", env={"TMPDIR": str(rescue)})
    assert res.returncode == 4, res.stderr
    (saved,) = rescue.iterdir()
    assert error_lines(res) == [
        f"seccomp-gen: error: {full_disk / 'v.json'}: cannot write: No space left on device; "
        f"the violations trace was saved to {saved} instead"]
    assert traces.load(saved).syscalls
    assert left_on(full_disk) == ["fill"]


