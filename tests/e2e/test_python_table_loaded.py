"""A generated Python table, loaded with pyseccomp in a forked child, runs the recorded work and
kills it (SIGSYS) once one recorded syscall is taken out (the same table under an EPERM default:
tests/e2e/test_consumers.py)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from helpers.record import record_api

from seccomp_gen.formats import python_table
from seccomp_gen.profile import Profile
from seccomp_gen.synthesize import Policy, synthesize


def _load_and_exec(policy_py: Path, argv: list[str]) -> int:
    """Fork; in the child apply the generated module's filter and exec argv; wait status."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            ns: dict[str, Any] = {"__name__": "policy"}
            exec(compile(policy_py.read_text(), str(policy_py), "exec"), ns)
            ns["apply"]()
            os.execv(argv[0], argv)
        finally:
            os._exit(127)
    _, status = os.waitpid(pid, 0)
    return status


@pytest.mark.live
def test_generated_python_filter_runs_the_recorded_work(tmp_path: Path) -> None:
    argv = ["/bin/ls", "-la", "/"]
    t = record_api(argv, tmp_path)
    p = synthesize(t, Policy(default_action="kill-process"))
    path = tmp_path / "policy.py"
    path.write_text(python_table.emit(p))
    status = _load_and_exec(path, argv)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status
    # Drop one recorded syscall and the same work dies of SIGSYS.
    dropped = Profile(p.default_action, p.default_errno, p.architectures,
                      tuple(r for r in p.rules if r.name != "getdents64"))
    path.write_text(python_table.emit(dropped))
    status = _load_and_exec(path, argv)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == 31, status
