"""The pure parts of ``record --container``: finding ``docker run`` in a command line, the
cgroup v2 mount in mountinfo, the paths that re-exec a program's own binary."""

from __future__ import annotations

import pytest

from seccomp_gen.linux.cgroups import unified_mount
from seccomp_gen.recorders.docker import run_index
from seccomp_gen.recorders.ebpf import _SELF_EXEC


@pytest.mark.parametrize(("argv", "index"), [
    (["docker", "run", "img"], 1),
    (["/usr/bin/docker", "-H", "unix:///x.sock", "run", "--rm", "img"], 3),
    (["docker", "--debug", "--context", "ctx", "container", "run", "img"], 5),
    (["docker", "-l", "run", "run", "img"], 3),  # the -l value is not the command
    (["docker", "ps"], None),
    (["docker", "container", "ls"], None),
    (["podman", "run", "img"], None),
    (["docker"], None),
    ([], None),
])
def test_run_index(argv: list[str], index: int | None) -> None:
    assert run_index(argv) == index


def test_unified_mount_in_mountinfo() -> None:
    hybrid = (
        "25 30 0:22 / /sys/fs/cgroup ro,nosuid shared:9 - tmpfs tmpfs ro,mode=755\n"
        "26 25 0:23 / /sys/fs/cgroup/unified rw,nosuid shared:10 - cgroup2 cgroup2 rw\n"
        "27 25 0:24 / /sys/fs/cgroup/memory rw shared:11 - cgroup cgroup rw,memory\n"
    )
    assert unified_mount(hybrid) == ("/sys/fs/cgroup/unified", "/")
    # In a cgroup namespace the root field is the namespace's root; escapes are undone.
    nested = "40 1 0:30 /kube\\040pods /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n"
    assert unified_mount(nested) == ("/sys/fs/cgroup", "/kube pods")
    assert unified_mount("27 25 0:24 / /sys/fs/cgroup/memory rw - cgroup cgroup rw\n") is None
    assert unified_mount("garbage\n\n - \n") is None


@pytest.mark.parametrize(("path", "own"), [
    ("/proc/self/exe", True), ("/proc/123/exe", True), ("/proc/self/fd/6", True),
    ("/dev/fd/6", True), ("/usr/sbin/runc", False), ("/proc/self/exe2", False),
    ("/proc/self/fd/x", False), ("/bin/busybox", False),
])
def test_self_exec_paths(path: str, own: bool) -> None:
    assert bool(_SELF_EXEC.fullmatch(path)) is own
