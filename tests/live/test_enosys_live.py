"""Numbers past libseccomp's tables get ENOSYS under a real filter (``seccomp-gen run``), so
that glibc falls back as on an older kernel; a number inside the table that the run did not
record still gets the profile's EPERM. The probe makes raw syscalls by number and prints the
errno each got."""

from __future__ import annotations

import errno
import sys
from pathlib import Path
from typing import Any

import pytest
from helpers.cli import cli_text, run
from helpers.record import record_cli

from seccomp_gen.libseccomp import syscall_name, syscall_number, table_end

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="Linux only")


def _errnos(stdout: str) -> dict[int, int]:
    out = {}
    for line in stdout.splitlines():
        nr, _, err = line.partition(" ")
        out[int(nr, 0)] = int(err)
    return out


@pytest.mark.parametrize("mode", ["kill", "enforce"])
def test_past_the_table_is_enosys_and_in_the_table_is_eperm(cbuild: Any, tmp_path: Path,
                                                             mode: str) -> None:
    """``--mode kill`` loads the compiled filter itself; ``enforce`` answers from it in the
    tracer: both give ENOSYS past the table and EPERM for an unrecorded call in it."""
    probe = str(cbuild["syscall_probe"])
    getpid = syscall_number("x86_64", "getpid")
    trace = tmp_path / "probe.trace.json"
    res = record_cli([probe, str(getpid)], trace, backend="seccomp", cwd=tmp_path)
    assert trace.exists(), res.stderr.decode(errors="replace")
    end = table_end("x86_64")
    gap = 400  # in x86_64's table, a number no syscall has
    assert syscall_name("x86_64", gap).startswith("syscall_") and gap < end
    mount = syscall_number("x86_64", "mount")
    numbers = [getpid, end + 1, 1000, 0x3FFFFFFF, gap, mount]
    native = _errnos(run([probe, *map(str, numbers)]).stdout.decode())
    # The kernel here knows end + 1 (a syscall newer than this libseccomp): it is not ENOSYS
    # natively, so the ENOSYS below comes from the filter.
    assert native[end + 1] != errno.ENOSYS, native
    res = cli_text("run", "--mode", mode, "--profile", trace, "--", probe, *map(str, numbers),
                   cwd=tmp_path)
    got = _errnos(res.stdout)
    assert got == {getpid: 0, end + 1: errno.ENOSYS, 1000: errno.ENOSYS,
                   0x3FFFFFFF: errno.ENOSYS, gap: errno.EPERM, mount: errno.EPERM}, res.stderr
