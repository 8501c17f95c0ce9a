"""Generated profiles in the real consumers: runc, crun, LXC, Docker, podman, the Python table
(compared with Docker's default profile: tests/unit/test_compare_docker_default.py).

No mocks: every profile here comes from a real recording (``seccomp_gen.record``), is written by
the real emitters, and is loaded by the real runtime (Debian 12: runc 1.1, crun 1.8, LXC 5.0,
Docker 20.10 with a dockerd the tests start, podman 4.3), at the runtime's defaults
(noNewPrivileges false) and with no_new_privs.
Each runtime must run the recorded work with the profile, and must fail visibly when one syscall
the work needs is left out, so that a profile the runtime silently ignored cannot pass.

Every child (recorder, runc, crun, lxc-execute) runs in its own session with a timeout; on overrun
its whole process group gets SIGKILL, and any container left behind is deleted. A missing runtime
is a failure (CI installs runc, crun, lxc, docker.io, podman and busybox-static), never a skip;
only a kernel without seccomp filters, cgroup2 or (for record --container) the ebpf backend's
needs skips, and says so.

What is recorded, and why it matches what runs in the container: the bundle's rootfs holds a copy
of Debian's static busybox. The recorder runs that same file as ``busybox chroot ROOTFS
/bin/busybox sh -c SCRIPT`` with the environment of config.json, in a private mount namespace
with /proc mounted in the rootfs as runc mounts it, so that the shell sees the same files, the
same /proc/self/exe (busybox runs its applets through it) and the same PATH as in the container.
The chroot applet itself adds only ``chroot`` and ``chdir`` (its startup is the workload's own,
the same static binary); the recorded output must equal the container's output.
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from helpers.record import record_in_child

import seccomp_gen
from seccomp_gen import Trace
from seccomp_gen.formats import lxc, oci, python_table
from seccomp_gen.profile import Profile
from seccomp_gen.synthesize import Policy, synthesize
from seccomp_gen.syscalls.baselines import BASELINES

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="Linux only")

#: Seconds any single child may run before its process group is SIGKILLed.
TIMEOUT = 60
PYTHON = sys.executable

#: Where Debian's busybox-static puts the binary.
BUSYBOX = "/usr/bin/busybox"
#: The bundle's work: a builtin, an applet that lists a directory, one that copies a file.
SCRIPT = "echo hello; ls /; cat /etc/hostname"
HOSTNAME = "seccomp-gen-box"
EXPECTED = f"hello\nbin\ndev\netc\nproc\nsys\n{HOSTNAME}\n"
APPLETS = ("sh", "ls", "cat", "echo", "true", "chroot")
#: A syscall the work needs and no runtime makes after loading the filter: busybox cat copies
#: with sendfile(2) and reports its EPERM ("cat: read error: Operation not permitted").
WORK_ONLY = "sendfile"
EPERM_TEXT = "Operation not permitted"

_ids = itertools.count()

# --- running children ----------------------------------------------------------------------------


def run(cmd: Sequence[str], *, timeout: float = TIMEOUT, cwd: str | os.PathLike[str] | None = None,
        env: dict[str, str] | None = None,
        hang_fails: bool = True) -> subprocess.CompletedProcess[str]:
    """Run ``cmd`` in a new session; SIGKILL its process group if it overruns, which fails the
    test unless ``hang_fails`` is False (then the result has returncode -SIGKILL)."""
    proc = subprocess.Popen(list(cmd), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, cwd=cwd, env=env, text=True,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        if hang_fails:
            pytest.fail(f"timed out after {timeout}s and was killed: {list(cmd)}")
        return subprocess.CompletedProcess(list(cmd), -signal.SIGKILL, out, err)
    return subprocess.CompletedProcess(list(cmd), proc.returncode, out, err)


def need(tool: str, package: str) -> str:
    """The path of ``tool``; its absence is a failure (CI installs ``package``)."""
    path = shutil.which(tool) or next(
        (p for d in ("/usr/sbin", "/sbin", "/usr/bin") if os.access(p := f"{d}/{tool}", os.X_OK)),
        None)
    assert path, f"{tool} is not installed: apt-get install {package}"
    return path


@pytest.fixture(autouse=True)
def _needs_root_and_seccomp(request: pytest.FixtureRequest) -> None:
    if request.node.get_closest_marker("live") is None:
        return
    if os.geteuid() != 0:
        pytest.skip("containers need root")
    status = Path("/proc/self/status").read_text()
    m = re.search(r"^Seccomp:\s*(\d+)", status, re.M)
    if m is None:
        msg = "the kernel has no seccomp (no Seccomp: line in /proc/self/status)"
        print(f"SKIP: {msg}")
        pytest.skip(msg)
    # Runtimes refuse (LXC) or stack filters when already confined; that would prove nothing.
    assert m.group(1) == "0", "the test process already runs under a seccomp filter"


def record(cmd: Sequence[str], tmp_path: Path, *, env: dict[str, str] | None = None,
           proc_dir: str = "", name: str = "work") -> tuple[Trace, str]:
    """Record ``cmd`` with the public API in a helper process (:mod:`helpers.record`; the
    workload gets exactly ``env``, with ``proc_dir`` a private /proc as runc mounts one);
    (trace, the workload's stdout)."""
    rec = record_in_child(list(cmd), tmp_path / f"{name}.trace.json", env=env,
                          proc_dir=proc_dir or None, timeout=TIMEOUT)
    return rec.trace, rec.stdout


def without(profile: Profile, name: str) -> Profile:
    """The profile with every rule for ``name`` removed."""
    assert name in profile.names(), f"{name} is not in the profile"
    return replace(profile, rules=tuple(r for r in profile.rules if r.name != name))


# --- OCI bundles ---------------------------------------------------------------------------------


@dataclass
class Bundle:
    """An OCI bundle: busybox-static rootfs and a config.json made by ``runc spec``."""

    path: Path
    rootfs: Path
    env: dict[str, str]
    #: ``process.noNewPrivileges``: ``runc spec``'s default is true; Docker's, podman's and
    #: Kubernetes' is false.
    nnp: bool = True

    def configure(self, args: Sequence[str], profile: Profile | None) -> None:
        config_path = self.path / "config.json"
        config = json.loads(config_path.read_text())
        config["process"]["args"] = list(args)
        config["process"]["noNewPrivileges"] = self.nnp
        if profile is None:
            config["linux"].pop("seccomp", None)
        else:
            config["linux"]["seccomp"] = json.loads(oci.emit(profile))
        config_path.write_text(json.dumps(config, indent=1))


@pytest.fixture
def bundle(tmp_path: Path) -> Bundle:
    runc = need("runc", "runc")
    need("busybox", "busybox-static")
    res = run(["file", "-L", BUSYBOX]) if shutil.which("file") else None
    assert res is None or "statically linked" in res.stdout, \
        f"{BUSYBOX} is not static: apt-get install busybox-static ({res and res.stdout})"
    path = tmp_path / "bundle"
    rootfs = path / "rootfs"
    for d in ("bin", "etc", "dev", "proc", "sys"):
        (rootfs / d).mkdir(parents=True)
    shutil.copy2(BUSYBOX, rootfs / "bin" / "busybox")
    for applet in APPLETS:
        (rootfs / "bin" / applet).symlink_to("busybox")
    (rootfs / "etc" / "hostname").write_text(HOSTNAME + "\n")
    res = run([runc, "spec"], cwd=path)
    assert res.returncode == 0, res.stderr
    config = json.loads((path / "config.json").read_text())
    config["process"]["terminal"] = False
    config["process"]["noNewPrivileges"] = True
    (path / "config.json").write_text(json.dumps(config, indent=1))
    env = dict(e.split("=", 1) for e in config["process"]["env"])
    return Bundle(path, rootfs, env)


def record_in_bundle(bundle: Bundle, tmp_path: Path, argv: Sequence[str]) -> tuple[Trace, str]:
    """Record ``argv`` as the container would run it (see the module docstring)."""
    busybox = str(bundle.rootfs / "bin" / "busybox")
    return record([busybox, "chroot", str(bundle.rootfs), *argv], tmp_path, env=bundle.env,
                  proc_dir=str(bundle.rootfs / "proc"), name="bundle")


@contextlib.contextmanager
def container_id(runtime: Sequence[str], prefix: str) -> Iterator[str]:
    """A fresh container id; whatever is left of the container is deleted afterwards."""
    cid = f"sg-{prefix}-{os.getpid()}-{next(_ids)}"
    try:
        yield cid
    finally:
        run([*runtime, "delete", "--force", cid])


def runc_run(bundle: Bundle, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    runtime = [need("runc", "runc"), "--root", str(tmp_path / "runc-state")]
    with container_id(runtime, "runc") as cid:
        return run([*runtime, "run", "--bundle", str(bundle.path), cid])


def _crun_usable() -> None:
    if "cgroup2" not in Path("/proc/filesystems").read_text():
        msg = "the kernel has no cgroup2, which crun needs"
        print(f"SKIP: {msg}")
        pytest.skip(msg)


# crun 1.8 refuses a hybrid cgroup v1/v2 host ("cgroups in hybrid mode not supported"), so it
# runs in a private mount namespace with cgroup2 mounted on /sys/fs/cgroup, and with the cgroup
# manager disabled (the cgroupfs one fails on setrlimit(RLIMIT_MEMLOCK) here).
_CRUN_WRAPPER = 'mount -t cgroup2 none /sys/fs/cgroup && exec "$@"'


def crun_run(bundle: Bundle, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    _crun_usable()
    crun = [need("crun", "crun"), "--root", str(tmp_path / "crun-state")]
    wrap = [need("unshare", "util-linux"), "-m", "--propagation", "private",
            "sh", "-c", _CRUN_WRAPPER, "crun"]
    with container_id(crun, "crun") as cid:
        res = run([*wrap, *crun, "--cgroup-manager=disabled", "run", "--bundle",
                   str(bundle.path), cid])
    return res


# --- runc ----------------------------------------------------------------------------------------


def _work(bundle: Bundle, tmp_path: Path, baseline: str) -> Profile:
    """The bundle's work, recorded; its profile with ``baseline``; the bundle configured."""
    argv = ["/bin/busybox", "sh", "-c", SCRIPT]
    trace, stdout = record_in_bundle(bundle, tmp_path, argv)
    assert stdout == EXPECTED, "the recording did not see the container's files"
    assert trace.header.exit is not None and trace.header.exit.shell_status == 0
    names = {r.name for r in trace.syscalls}
    assert {WORK_ONLY, "chroot", "chdir"} <= names
    assert WORK_ONLY not in BASELINES[baseline]
    profile = synthesize(trace, Policy(baseline=baseline))
    bundle.configure(argv, profile)
    return profile


#: (baseline, noNewPrivileges): each runtime at its own defaults and with no_new_privs.
RUNC_MODES = [("runc-nnp", True), ("runc", False)]
CRUN_MODES = [("crun-nnp", True), ("crun", False)]


@pytest.mark.live
@pytest.mark.parametrize(("baseline", "nnp"), RUNC_MODES)
def test_runc_runs_the_recorded_work_and_refuses_without_it(bundle: Bundle, tmp_path: Path,
                                                             baseline: str, nnp: bool) -> None:
    bundle.nnp = nnp
    profile = _work(bundle, tmp_path, baseline)
    res = runc_run(bundle, tmp_path)
    assert res.returncode == 0, res.stderr
    assert res.stdout == EXPECTED
    # The profile is really loaded: leave out what the work needs and it gets EPERM. With
    # noNewPrivileges false the baseline allows read, and busybox cat falls back to read when
    # sendfile fails, so there the call left out is sh's fork (clone), which no runtime makes.
    if nnp:
        bundle.configure(["/bin/busybox", "sh", "-c", SCRIPT], without(profile, WORK_ONLY))
        res = runc_run(bundle, tmp_path)
        assert res.returncode != 0
        assert f"cat: read error: {EPERM_TEXT}" in res.stderr, res.stderr
        assert res.stdout == EXPECTED.replace(HOSTNAME + "\n", "")
    else:
        assert "clone" not in BASELINES[baseline]
        bundle.configure(["/bin/busybox", "sh", "-c", SCRIPT], without(profile, "clone"))
        res = runc_run(bundle, tmp_path)
        assert res.returncode != 0
        assert f"can't fork: {EPERM_TEXT}" in res.stderr, res.stderr
        assert res.stdout == "hello\n"


def _true_profile(tmp_path: Path, baseline: str, default: str = "kill-process") -> Profile:
    """``busybox true``: hardly any syscalls of its own, so the baseline must carry the runtime.

    It does not depend on files, so it is recorded directly (same static binary). The default
    action kills, so any call the runtime makes that the profile lacks is fatal (LXC has no
    kill-process; its ``kill`` kills the thread, which for these single-threaded processes is the
    same).
    """
    trace, _ = record([BUSYBOX, "true"], tmp_path, name="true")
    return synthesize(trace, Policy(baseline=baseline, default_action=default))


def _measured_only(baseline: str, profile: Profile, trace_names: set[str]) -> list[str]:
    """Baseline entries measured every run (not "some runs"), not made by the work itself."""
    return sorted(n for n, why in BASELINES[baseline].items()
                  if re.search(r"\(measured(;[^)]*)?\)$", why) and n not in trace_names
                  and n in profile.names())


@pytest.mark.live
@pytest.mark.parametrize(("baseline", "nnp"), RUNC_MODES)
def test_runc_baseline_is_needed_and_each_measured_entry_is_true(bundle: Bundle, tmp_path: Path,
                                                                  baseline: str,
                                                                  nnp: bool) -> None:
    bundle.nnp = nnp
    profile = _true_profile(tmp_path, baseline)
    work = {r.name for r in profile.rules if not r.baseline}
    for attempt in range(3):  # the Go runtime's calls vary from run to run
        bundle.configure(["/bin/busybox", "true"], profile)
        res = runc_run(bundle, tmp_path)
        assert res.returncode == 0, f"run {attempt}: {res.stderr}"
    # Without the baseline runc init dies after loading the filter.
    none = replace(profile, rules=tuple(r for r in profile.rules if not r.baseline))
    bundle.configure(["/bin/busybox", "true"], none)
    res = runc_run(bundle, tmp_path)
    assert res.returncode != 0, "runc ran without its baseline"
    # Each "(measured)" entry: leave it out and runc fails.
    measured = _measured_only(baseline, profile, work)
    expected = {"close", "epoll_ctl", "fstatfs", "getdents64", "getpid", "openat", "write"}
    if not nnp:
        expected |= {"capget", "capset", "prctl", "setgroups", "setgid", "setuid", "chdir",
                     "faccessat2", "fcntl", "getcwd", "getppid"}
    assert expected - work <= set(measured), measured
    for name in measured:
        bundle.configure(["/bin/busybox", "true"], without(profile, name))
        res = runc_run(bundle, tmp_path)
        assert res.returncode != 0, f"runc did not need {name}: {BASELINES[baseline][name]}"
    if not nnp:
        # runc-nnp's smaller set does not start a container at the runtimes' defaults.
        bundle.configure(["/bin/busybox", "true"], _true_profile(tmp_path, "runc-nnp"))
        res = runc_run(bundle, tmp_path)
        assert res.returncode != 0, "runc-nnp was enough with noNewPrivileges false"


# --- crun ----------------------------------------------------------------------------------------


@pytest.mark.live
@pytest.mark.parametrize(("baseline", "nnp"), CRUN_MODES)
def test_crun_runs_the_recorded_work_and_refuses_without_it(bundle: Bundle, tmp_path: Path,
                                                             baseline: str, nnp: bool) -> None:
    bundle.nnp = nnp
    profile = _work(bundle, tmp_path, baseline)
    res = crun_run(bundle, tmp_path)
    assert res.returncode == 0, res.stderr
    assert res.stdout == EXPECTED
    bundle.configure(["/bin/busybox", "sh", "-c", SCRIPT], without(profile, WORK_ONLY))
    res = crun_run(bundle, tmp_path)
    assert res.returncode != 0
    assert f"cat: read error: {EPERM_TEXT}" in res.stderr, res.stderr


@pytest.mark.live
@pytest.mark.parametrize(("baseline", "nnp"), CRUN_MODES)
def test_crun_baseline_is_complete_and_each_entry_is_true(bundle: Bundle, tmp_path: Path,
                                                          baseline: str, nnp: bool) -> None:
    """With no_new_privs crun loads the filter, closes its fd and execs: nothing else, even
    under kill-process; without, it also drops capabilities and switches user."""
    bundle.nnp = nnp
    profile = _true_profile(tmp_path, baseline)
    for attempt in range(3):
        bundle.configure(["/bin/busybox", "true"], profile)
        res = crun_run(bundle, tmp_path)
        assert res.returncode == 0, f"run {attempt}: {res.stderr}"
    # execve is always recorded (the work starts with it), close is not.
    work = {r.name for r in profile.rules if not r.baseline}
    measured = _measured_only(baseline, profile, work)
    if nnp:
        assert measured == ["close"]
    else:
        assert {"capset", "close", "prctl", "rt_sigaction", "setresgid",
                "setresuid"} - work <= set(measured), measured
    for name in {*measured, "execve"}:
        bundle.configure(["/bin/busybox", "true"], without(profile, name))
        res = crun_run(bundle, tmp_path)
        assert res.returncode != 0, f"crun did not need {name}: {BASELINES[baseline][name]}"


# --- LXC -----------------------------------------------------------------------------------------

#: AUDIT_ARCH_I386, as LXC logs the arch of a rule it adds for i386.
AUDIT_I386 = 0x40000003


#: How long an lxc-execute that is expected to fail may take before it counts as hung (LXC
#: waits forever for a child its filter killed, ignoring SIGTERM; it is SIGKILLed).
LXC_HANG_TIMEOUT = 15


@dataclass
class LxcRun:
    result: subprocess.CompletedProcess[str]
    log: str


def lxc_execute(tmp_path: Path, policy_text: str, argv: Sequence[str], *,
                net: bool = False, may_hang: bool = False) -> LxcRun:
    """``lxc-execute`` on the host rootfs with ``policy_text`` as lxc.seccomp.profile; with
    ``net``, in its own network namespace (``lxc.net.0.type = empty``)."""
    tool = need("lxc-execute", "lxc")
    n = next(_ids)
    lxcpath = tmp_path / "lxc"
    lxcpath.mkdir(exist_ok=True)
    policy = tmp_path / f"policy-{n}.seccomp"
    policy.write_text(policy_text)
    log = tmp_path / f"lxc-{n}.log"
    conf = tmp_path / f"lxc-{n}.conf"
    conf.write_text("\n".join([
        f"lxc.seccomp.profile = {policy}",
        "lxc.console.path = none",
        "lxc.tty.max = 0",
        "lxc.pty.max = 0",
        # Without a proc mount LXC 5.0.2 fails on a host rootfs: "Failed to mount temporary
        # procfs" (it tries to mount one on the container's /proc itself).
        "lxc.mount.auto = proc:mixed",
        f"lxc.log.file = {log}",
        # DEBUG, not TRACE: TRACE also exports the filter, which libseccomp 2.5.4 fails to do
        # (a WARN that has nothing to do with the policy).
        "lxc.log.level = DEBUG",
        *(["lxc.net.0.type = empty"] if net else []),
        "",
    ]))
    name = f"sg-{os.getpid()}-{n}"
    cmd = [tool, "-P", str(lxcpath), "-n", name, "-f", str(conf), "--", *argv]
    res = run(cmd, timeout=LXC_HANG_TIMEOUT, hang_fails=False) if may_hang else run(cmd)
    return LxcRun(res, log.read_text(errors="replace") if log.exists() else "")


def assert_lxc_parsed_cleanly(log: str) -> None:
    """LXC read every line: no parse errors, no unknown names, the filter loaded."""
    seccomp_lines = [ln for ln in log.splitlines() if " seccomp - " in ln]
    assert seccomp_lines, "LXC logged nothing about seccomp; was the policy read?"
    bad = [ln for ln in seccomp_lines
           if re.search(r"\b(ERROR|WARN)\b|undefined|Unsupported|Failed|Unrecognized", ln)]
    assert not bad, "\n".join(bad)
    assert "Merging compat seccomp contexts into main context" in log


@pytest.mark.live
def test_lxc_runs_the_recorded_work_and_refuses_without_it(tmp_path: Path) -> None:
    argv = ["/bin/ls", "-a", "/"]
    trace, stdout = record(argv, tmp_path, name="ls")
    profile = synthesize(trace, Policy(baseline="lxc"))
    text = lxc.emit(profile)
    lines = text.splitlines()
    assert lines[:2] == ["2", "allowlist errno 1"]
    run_ = lxc_execute(tmp_path, text, argv)
    assert run_.result.returncode == 0, run_.result.stderr + run_.log[-3000:]
    assert run_.result.stdout.split() == stdout.split()
    assert_lxc_parsed_cleanly(run_.log)
    # Every rule of [x86_64] was added for the host arch.
    for name in profile.names("x86_64"):
        assert f":{name}] action[" in run_.log, f"LXC did not add {name}"
    # Drop what ls needs to read a directory: the default "errno 1" answers it.
    assert "getdents64" not in BASELINES["lxc"]
    run_ = lxc_execute(tmp_path, lxc.emit(without(profile, "getdents64")), argv)
    assert run_.result.returncode != 0
    assert EPERM_TEXT in run_.result.stderr, run_.result.stderr


@pytest.mark.live
def test_lxc_baseline_is_needed_and_each_measured_entry_is_true(tmp_path: Path) -> None:
    profile = _true_profile(tmp_path, "lxc", "kill")
    assert lxc.emit(profile).splitlines()[1] == "allowlist kill"
    argv = [BUSYBOX, "true"]
    for attempt in range(3):
        run_ = lxc_execute(tmp_path, lxc.emit(profile), argv)
        assert run_.result.returncode == 0, f"run {attempt}: {run_.log[-3000:]}"
        assert_lxc_parsed_cleanly(run_.log)
    none = replace(profile, rules=tuple(r for r in profile.rules if not r.baseline))
    assert lxc_execute(tmp_path, lxc.emit(none), argv).result.returncode != 0
    work = {r.name for r in profile.rules if not r.baseline}
    measured = _measured_only("lxc", profile, work)
    assert {"capget", "clone", "close", "close_range", "ioctl", "setgroups", "setsid",
            "umount2", "wait4", "write"} <= set(measured), measured
    for name in measured:
        res = lxc_execute(tmp_path, lxc.emit(without(profile, name)), argv).result
        assert res.returncode != 0, f"LXC did not need {name}: {BASELINES['lxc'][name]}"


@pytest.mark.live
def test_lxc_baseline_holds_with_a_network_namespace(tmp_path: Path) -> None:
    """With a network namespace LXC sends the devices it set up to its parent with sendto
    after loading the filter: without it lxc-execute hangs (measured: its child dies on
    EPERM and the parent waits on; SIGKILL ends it)."""
    profile = _true_profile(tmp_path, "lxc", "kill")
    argv = [BUSYBOX, "true"]
    run_ = lxc_execute(tmp_path, lxc.emit(profile), argv, net=True)
    assert run_.result.returncode == 0, run_.log[-3000:]
    assert_lxc_parsed_cleanly(run_.log)
    if "sendto" not in {r.name for r in profile.rules if not r.baseline}:
        res = lxc_execute(tmp_path, lxc.emit(without(profile, "sendto")), argv, net=True,
                          may_hang=True).result
        assert res.returncode != 0, "LXC did not need sendto with a network namespace"


@pytest.mark.live
def test_lxc_grammar_as_lxc_reads_it(tmp_path: Path) -> None:
    """Argument tuples, MASKED_EQ's field order and the x86 sections, as LXC 5.0.2 parses them.

    The only clone rule is the baseline's ``clone allow [0,0,SCMP_CMP_MASKED_EQ,2114060288]``
    (LXC init forks with plain fork flags): LXC logs it as SCMP_CMP(index, op, mask, value)
    with our mask as the mask, and the fork works under a kill default.
    """
    profile = _true_profile(tmp_path, "lxc", "kill")
    text = lxc.emit(profile)
    assert "clone allow [0,0,SCMP_CMP_MASKED_EQ,2114060288]" in text.splitlines()
    assert "prctl allow [0,35,SCMP_CMP_EQ]" in text.splitlines()
    # busybox true is x86_64 only: one section (the other ABIs are not listed).
    assert "[x86_64]" in text.splitlines() and "[x86]" not in text.splitlines()
    argv = [BUSYBOX, "true"]
    good = lxc_execute(tmp_path, text, argv)
    assert good.result.returncode == 0, good.log[-3000:]
    assert_lxc_parsed_cleanly(good.log)
    assert "arg_cmp[0]: SCMP_CMP(0, 7, 2114060288, 0)" in good.log  # op 7: MASKED_EQ
    assert "arg_cmp[0]: SCMP_CMP(0, 4, 0, 35)" in good.log  # op 4: EQ, value 35
    # In OCI's order LXC would read mask 0, and libseccomp keeps only value & mask: the rule
    # would match every flag, namespaces included, and nothing would fail to show it.
    swapped = text.replace("[0,0,SCMP_CMP_MASKED_EQ,2114060288]",
                           "[0,2114060288,SCMP_CMP_MASKED_EQ,0]")
    bad = lxc_execute(tmp_path, swapped, argv)
    assert "arg_cmp[0]: SCMP_CMP(0, 7, 0, 2114060288)" in bad.log
    # LXC 5.0 adds every rule it reads to all of the host's ABIs, whatever its section says:
    # on x86_64 an [x86_64] rule also allows the i386 and x32 calls of that name. LXC
    # policies are name-based like OCI ones (formats/lxc.py and generate's summary say so).
    assert re.search(rf":getuid\] action\[\d+:allow\] arch\[{AUDIT_I386}\]", good.log), \
        "LXC no longer copies [x86_64] rules to i386; update the LXC emitter's docstring"


@pytest.mark.live
def test_lxc_runs_an_i386_program_from_the_x86_section(tmp_path: Path, cbuild: Any) -> None:
    """i386-only names (ugetrlimit, set_thread_area) in [x86] reach LXC's i386 filter."""
    argv = [cbuild["hello32"]]
    trace, stdout = record(argv, tmp_path, name="hello32")
    assert stdout == "hello from i386\n"
    profile = synthesize(trace, Policy(baseline="lxc"))
    assert {"ugetrlimit", "set_thread_area"} <= profile.names("x86")
    text = lxc.emit(profile)
    good = lxc_execute(tmp_path, text, argv)
    assert good.result.returncode == 0, good.log[-3000:]
    assert good.result.stdout == stdout
    assert_lxc_parsed_cleanly(good.log)
    for name in ("ugetrlimit", "set_thread_area"):
        assert re.search(rf":{name}\] action\[\d+:allow\] arch\[{AUDIT_I386}\]", good.log), name
    # Without set_thread_area the i386 C library cannot set up TLS: the program dies.
    bad = lxc_execute(tmp_path, lxc.emit(without(profile, "set_thread_area")), argv)
    assert bad.result.returncode != 0
    assert bad.result.stdout == ""


# --- the Python table ----------------------------------------------------------------------------

_APPLY_AND_EXEC = (
    "import os, sys\n"
    "ns = {'__name__': 'policy'}\n"
    "exec(compile(open(sys.argv[1]).read(), sys.argv[1], 'exec'), ns)\n"
    "ns['apply']()\n"
    "os.execv(sys.argv[2], sys.argv[2:])\n"
)


@pytest.mark.live
def test_python_table_same_output_under_the_filter(tmp_path: Path) -> None:
    """tests/test_validate.py kills on violation; here the default is EPERM and the work's output
    under the filter must be byte for byte the unfiltered output."""
    argv = ["/bin/ls", "-la", "/etc"]  # not /: /proc's link count changes with every process
    trace, stdout = record(argv, tmp_path, name="ls")
    profile = synthesize(trace, Policy())
    path = tmp_path / "policy.py"
    path.write_text(python_table.emit(profile))
    # The helper interpreter's own calls after apply() are part of "the work" only via execv:
    # apply() is the last thing it does before exec, as a runtime would.
    res = run([PYTHON, "-c", _APPLY_AND_EXEC, str(path), *argv])
    assert res.returncode == 0, res.stderr
    assert res.stdout == stdout
    assert res.stderr == ""
    path.write_text(python_table.emit(without(profile, "getdents64")))
    res = run([PYTHON, "-c", _APPLY_AND_EXEC, str(path), *argv])
    assert res.returncode != 0
    assert EPERM_TEXT in res.stderr, res.stderr


# --- Docker and podman, at their defaults --------------------------------------------------------

#: The work under Docker and podman: their /etc/hostname is the container's id and their / holds
#: more than the image, so the work reads a file of its own.
IMAGE_SCRIPT = "echo hello; ls /srv; cat /srv/greeting"
IMAGE_EXPECTED = "hello\ngreeting\nhi from the image\n"


def _image_work(bundle: Bundle, tmp_path: Path, baseline: str) -> tuple[Profile, Path, Path]:
    """The image's work recorded in the bundle's rootfs; (profile, its OCI file, the rootfs
    tarball to import as an image)."""
    (bundle.rootfs / "srv").mkdir()
    (bundle.rootfs / "srv" / "greeting").write_text("hi from the image\n")
    argv = ["/bin/busybox", "sh", "-c", IMAGE_SCRIPT]
    trace, stdout = record_in_bundle(bundle, tmp_path, argv)
    assert stdout == IMAGE_EXPECTED
    profile = synthesize(trace, Policy(baseline=baseline))
    path = tmp_path / f"{baseline}.json"
    path.write_text(oci.emit(profile))
    tarball = tmp_path / "rootfs.tar"
    res = run(["tar", "-C", str(bundle.rootfs), "-cf", str(tarball), "."])
    assert res.returncode == 0, res.stderr
    return profile, path, tarball


def _assert_runs_and_refuses(start: Any, profile: Profile, path: Path, tmp_path: Path) -> None:
    """``start(profile_file)`` runs the work: it succeeds under ``profile``; without sh's fork
    (clone: no runtime makes it) the work sees EPERM exactly there."""
    res = start(path)
    assert res.returncode == 0, res.stderr
    assert res.stdout == IMAGE_EXPECTED
    lacking = tmp_path / "lacking.json"
    lacking.write_text(oci.emit(without(profile, "clone")))
    res = start(lacking)
    assert res.returncode != 0
    assert f"can't fork: {EPERM_TEXT}" in res.stderr, res.stderr
    assert res.stdout == "hello\n"


def _docker_client() -> str:
    """Debian's docker client: a newer client elsewhere on PATH may not speak to dockerd 20.10."""
    return "/usr/bin/docker" if os.path.exists("/usr/bin/docker") else need("docker", "docker.io")


@pytest.fixture(scope="module")
def dockerd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[str]]:
    """A dockerd of our own (vfs storage, no bridge, no iptables) on a private socket, stopped
    after the module; yields the client command line that talks to it."""
    daemon = need("dockerd", "docker.io")
    root = tmp_path_factory.mktemp("dockerd")
    sock = root / "docker.sock"
    log = (root / "dockerd.log").open("w")
    proc = subprocess.Popen(
        [daemon, "--storage-driver", "vfs", "--bridge=none", "--iptables=false",
         "--exec-opt", "native.cgroupdriver=cgroupfs",
         "-H", f"unix://{sock}", "--data-root", str(root / "data"), "--exec-root",
         str(root / "exec"), "--pidfile", str(root / "docker.pid")],
        stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    client = [_docker_client(), "-H", f"unix://{sock}"]
    try:
        for _ in range(60):
            if proc.poll() is not None:
                pytest.fail(f"dockerd exited with {proc.returncode}: "
                            f"{(root / 'dockerd.log').read_text()[-2000:]}")
            if run([*client, "version"], hang_fails=False).returncode == 0:
                break
            subprocess.run(["sleep", "0.5"], check=False)
        else:
            pytest.fail(f"dockerd did not answer: {(root / 'dockerd.log').read_text()[-2000:]}")
        yield client
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=30)
        # dockerd's containerd and shims are in its session: none may outlive the test.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        log.close()
        # dockerd bind-mounts its data root onto itself and leaves it mounted.
        for point in sorted(_mounts_below(root), key=len, reverse=True):
            run(["umount", "-l", point], hang_fails=False)


def _mounts_below(root: Path) -> list[str]:
    """The mount points at or below ``root`` (mountinfo's fifth field)."""
    prefix = str(root)
    return [fields[4] for fields in (line.split() for line in
                                     Path("/proc/self/mountinfo").read_text().splitlines())
            if len(fields) > 4 and (fields[4] == prefix or fields[4].startswith(prefix + "/"))]


@pytest.mark.live
def test_docker_runs_the_work_at_its_defaults(bundle: Bundle, tmp_path: Path,
                                              dockerd: list[str]) -> None:
    """``--baseline docker``: the container starts with Docker's defaults (no
    --security-opt no-new-privileges), runs the work, and a call left out gets EPERM."""
    profile, path, tarball = _image_work(bundle, tmp_path, "docker")
    image = f"sg-img-{os.getpid()}-{next(_ids)}"
    res = run([*dockerd, "import", str(tarball), image])
    assert res.returncode == 0, res.stderr
    try:
        def start(p: Path) -> subprocess.CompletedProcess[str]:
            return run([*dockerd, "run", "--rm", "--network", "none", "--security-opt",
                        f"seccomp={p}", image, "/bin/busybox", "sh", "-c", IMAGE_SCRIPT])

        _assert_runs_and_refuses(start, profile, path, tmp_path)
        # runc-nnp's set is not enough at Docker's defaults.
        small = tmp_path / "nnp.json"
        small.write_text(oci.emit(synthesize(record_in_bundle(
            bundle, tmp_path, ["/bin/busybox", "sh", "-c", IMAGE_SCRIPT])[0],
            Policy(baseline="runc-nnp"))))
        res = start(small)
        assert res.returncode != 0 and "operation not permitted" in res.stderr, res.stderr
    finally:
        run([*dockerd, "rmi", "-f", image])


@pytest.fixture
def podman_run_root() -> Iterator[Path]:
    """podman's run root: a short path of its own (podman refuses one over 50 characters)."""
    path = Path(tempfile.mkdtemp(prefix="sgp-", dir="/tmp"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _podman(tmp_path: Path, run_root: Path) -> list[str]:
    """podman with storage of its own. runc, not crun: crun 1.8 refuses this host's hybrid
    cgroup layout."""
    return [need("podman", "podman"), "--root", str(tmp_path / "podman-root"), "--runroot",
            str(run_root), "--storage-driver", "vfs", "--runtime",
            need("runc", "runc"), "--cgroup-manager", "cgroupfs", "--events-backend", "none"]


def _podman_limits() -> list[str]:
    """``--ulimit`` options no higher than this process's hard limits: without
    CAP_SYS_RESOURCE (as here) podman cannot raise them to its defaults."""

    def capped(limit: int, most: int) -> int:
        hard = resource.getrlimit(limit)[1]
        return most if hard == resource.RLIM_INFINITY else min(hard, most)

    nofile = capped(resource.RLIMIT_NOFILE, 1024)
    nproc = capped(resource.RLIMIT_NPROC, 4096)
    return ["--ulimit", f"nofile={nofile}:{nofile}", "--ulimit", f"nproc={nproc}:{nproc}"]


@pytest.mark.live
def test_podman_runs_the_work_at_its_defaults(bundle: Bundle, tmp_path: Path,
                                              podman_run_root: Path) -> None:
    profile, path, tarball = _image_work(bundle, tmp_path, "podman")
    podman = _podman(tmp_path, podman_run_root)
    image = "localhost/sg-img:latest"
    res = run([*podman, "import", str(tarball), image])
    assert res.returncode == 0, res.stderr
    limits = _podman_limits()

    def start(p: Path) -> subprocess.CompletedProcess[str]:
        return run([*podman, "run", "--rm", "--network", "none", *limits, "--security-opt",
                    f"seccomp={p}", image, "/bin/busybox", "sh", "-c", IMAGE_SCRIPT])

    try:
        _assert_runs_and_refuses(start, profile, path, tmp_path)
    finally:
        run([*podman, "rmi", "-f", image])


# --- record --container: the container alone, not its runtime -----------------------------------


def _needs_ebpf() -> None:
    from seccomp_gen.recorders.ebpf import ebpf_unavailable

    why = ebpf_unavailable()
    if why is not None:
        print(f"SKIP: record --container needs the ebpf backend: {why}")
        pytest.skip(f"record --container needs the ebpf backend: {why}")


def record_container(tmp_path: Path, cmd: Sequence[str],
                     name: str = "container") -> tuple[Trace, subprocess.CompletedProcess[str]]:
    """``seccomp-gen record --container -- CMD``; (its trace, the run)."""
    _needs_ebpf()
    out = tmp_path / f"{name}.trace.json"
    res = run([PYTHON, "-m", "seccomp_gen", "record", "--container", "-q", "-o", str(out), "--",
               *cmd])
    assert res.returncode == 0, res.stderr
    return seccomp_gen.load_trace(out), res


def _observed(profile: Profile) -> set[str]:
    """The names a profile allows because its traces made them (not its baseline)."""
    return {r.name for r in profile.rules if not r.baseline and r.action == "allow"}


def _assert_container_only(trace: Trace, runtime: str, host_names: set[str]) -> None:
    """Only the container's own programs, and about what the work makes when recorded on the
    host in the same rootfs (that recording's busybox chroot adds chroot and chdir)."""
    exes = {e for p in trace.processes for e in p.exes}
    assert exes == {"/bin/busybox"}, exes
    assert any(runtime in n for n in trace.header.notes if n.startswith("container only")), \
        trace.header.notes
    names = {r.name for r in trace.syscalls}
    assert "execve" in names
    # The host recording adds its chroot applet's own calls; the container adds nothing but
    # what its environment changes (none here).
    assert names <= host_names, sorted(names - host_names)
    assert len(host_names - names) <= 4, sorted(host_names - names)


@pytest.mark.live
@pytest.mark.parametrize(("baseline", "nnp"), RUNC_MODES)
def test_record_container_under_runc(bundle: Bundle, tmp_path: Path, baseline: str,
                                     nnp: bool) -> None:
    """The container's processes only (not runc, runc init or their netlink and setuid calls);
    its profile starts the container at that mode's defaults."""
    bundle.nnp = nnp
    argv = ["/bin/busybox", "sh", "-c", SCRIPT]
    host, _ = record_in_bundle(bundle, tmp_path, argv)
    bundle.configure(argv, None)
    runtime = [need("runc", "runc"), "--root", str(tmp_path / "runc-state")]
    with container_id(runtime, "rec") as cid:
        trace, res = record_container(tmp_path, [*runtime, "run", "--bundle", str(bundle.path),
                                                 cid])
    assert res.stdout == EXPECTED
    _assert_container_only(trace, "runc", {r.name for r in host.syscalls})
    names = {r.name for r in trace.syscalls}
    assert not {"socket", "setuid", "setgid", "capset", "mount", "pivot_root", "sethostname",
                "keyctl", "unshare"} & names, names
    # The runtime and its mode are read from the command line and the bundle.
    assert trace.header.runtime == baseline
    profile = synthesize(trace, Policy())  # --baseline auto
    assert profile == synthesize(trace, Policy(baseline=baseline))
    if nnp:
        assert "setuid" not in profile.names() and "socket" not in profile.names()
    bundle.configure(argv, profile)
    res = runc_run(bundle, tmp_path)
    assert res.returncode == 0, res.stderr
    assert res.stdout == EXPECTED


@pytest.mark.live
def test_record_container_under_crun(bundle: Bundle, tmp_path: Path) -> None:
    bundle.nnp = False
    argv = ["/bin/busybox", "sh", "-c", SCRIPT]
    host, _ = record_in_bundle(bundle, tmp_path, argv)
    bundle.configure(argv, None)
    _crun_usable()
    crun = [need("crun", "crun"), "--root", str(tmp_path / "crun-state")]
    wrap = [need("unshare", "util-linux"), "-m", "--propagation", "private",
            "sh", "-c", _CRUN_WRAPPER, "crun"]
    with container_id(crun, "rec") as cid:
        trace, res = record_container(tmp_path, [*wrap, *crun, "--cgroup-manager=disabled",
                                                 "run", "--bundle", str(bundle.path), cid])
    assert res.stdout == EXPECTED
    _assert_container_only(trace, "crun", {r.name for r in host.syscalls})
    assert trace.header.runtime == "crun"
    bundle.configure(argv, synthesize(trace, Policy()))
    res = crun_run(bundle, tmp_path)
    assert res.returncode == 0, res.stderr
    assert res.stdout == EXPECTED


@pytest.mark.live
def test_record_container_under_podman(bundle: Bundle, tmp_path: Path,
                                       podman_run_root: Path) -> None:
    """podman, conmon, runc and the CNI plugins are left out; the profile starts the image."""
    profile_host, path, tarball = _image_work(bundle, tmp_path, "podman")
    podman = _podman(tmp_path, podman_run_root)
    image = "localhost/sg-img:latest"
    res = run([*podman, "import", str(tarball), image])
    assert res.returncode == 0, res.stderr
    limits = _podman_limits()
    cmd = [*podman, "run", "--rm", "--network", "none", *limits, image, "/bin/busybox", "sh",
           "-c", IMAGE_SCRIPT]
    try:
        trace, res = record_container(tmp_path, cmd)
        assert res.stdout == IMAGE_EXPECTED
        _assert_container_only(trace, "podman", _observed(profile_host))
        assert trace.header.runtime == "podman"
        path.write_text(oci.emit(synthesize(trace, Policy(baseline="podman"))))

        def start(p: Path) -> subprocess.CompletedProcess[str]:
            return run([*podman, "run", "--rm", "--network", "none", *limits, "--security-opt",
                        f"seccomp={p}", image, "/bin/busybox", "sh", "-c", IMAGE_SCRIPT])

        _assert_runs_and_refuses(start, synthesize(trace, Policy(baseline="podman")), path,
                                 tmp_path)
    finally:
        run([*podman, "rmi", "-f", image])


@pytest.mark.live
def test_record_container_under_docker(bundle: Bundle, tmp_path: Path,
                                       dockerd: list[str]) -> None:
    """The container is dockerd's, not the command's: it is followed by its cgroup."""
    profile_host, path, tarball = _image_work(bundle, tmp_path, "docker")
    image = f"sg-img-{os.getpid()}-{next(_ids)}"
    res = run([*dockerd, "import", str(tarball), image])
    assert res.returncode == 0, res.stderr
    try:
        trace, res = record_container(tmp_path, [*dockerd, "run", "--rm", "--network", "none",
                                                 image, "/bin/busybox", "sh", "-c",
                                                 IMAGE_SCRIPT])
        assert res.stdout == IMAGE_EXPECTED
        _assert_container_only(trace, "docker", _observed(profile_host))
        assert any("--cgroup-parent" in n for n in trace.header.notes)
        assert trace.header.runtime == "docker"
        # The run's cgroup is gone from every hierarchy (a walk of /sys/fs/cgroup would race
        # with other cgroups coming and going).
        name = next(re.search(r"--cgroup-parent=/(\S+)", n) for n in trace.header.notes
                    if "--cgroup-parent" in n)
        assert name is not None
        leftovers = [p for p in (Path("/sys/fs/cgroup"), *Path("/sys/fs/cgroup").iterdir())
                     if (p / name.group(1).split(" ")[0]).exists()]
        assert leftovers == [], leftovers
        profile = synthesize(trace, Policy(baseline="docker"))
        path.write_text(oci.emit(profile))

        def start(p: Path) -> subprocess.CompletedProcess[str]:
            return run([*dockerd, "run", "--rm", "--network", "none", "--security-opt",
                        f"seccomp={p}", image, "/bin/busybox", "sh", "-c", IMAGE_SCRIPT])

        _assert_runs_and_refuses(start, profile, path, tmp_path)
    finally:
        run([*dockerd, "rmi", "-f", image])


@pytest.mark.live
def test_record_container_bad_input(tmp_path: Path) -> None:
    """No container, another backend, no daemon, a detached run: one line each, nothing
    written."""
    _needs_ebpf()
    out = tmp_path / "x.trace.json"
    cases = [
        (["--", "true"], "no container was seen"),
        (["--backend", "seccomp", "--", "true"], "ebpf backend only"),
        (["--", _docker_client(), "-H", f"unix://{tmp_path}/none.sock", "run", "--rm", "img",
          "true"], "docker does not answer: Cannot connect"),
        (["--", _docker_client(), "run", "-d", "img", "true"], "cannot follow docker run -d"),
    ]
    for argv, message in cases:
        res = run([PYTHON, "-m", "seccomp_gen", "record", "--container", "-q", "-o", str(out),
                   *argv])
        assert res.returncode != 0, argv
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and message in lines[0], (argv, res.stderr)
        assert "Traceback" not in res.stderr
        assert not out.exists()


@pytest.mark.live
def test_plain_record_of_docker_run_warns(tmp_path: Path) -> None:
    """Without --container, recording ``docker ...`` records the client: it says so."""
    out = tmp_path / "client.trace.json"
    res = run([PYTHON, "-m", "seccomp_gen", "record", "-q", "-o", str(out), "--",
               _docker_client(), "--version"])
    assert res.returncode == 0, res.stderr
    assert "warning: recorded the docker client only" in res.stderr
    notes = seccomp_gen.load_trace(out).header.notes
    assert any("docker client only" in n for n in notes)


@pytest.mark.live
@pytest.mark.parametrize(("baseline", "nnp"), RUNC_MODES)
def test_record_container_with_its_own_libc(bundle: Bundle, tmp_path: Path, cbuild: Any,
                                            baseline: str, nnp: bool) -> None:
    """A musl program in the container: its own calls are recorded (not the host's glibc's),
    the profile runs it, and what a container must not do is denied inside it (setuid(0):
    with no_new_privs only, since runc itself needs setuid at the defaults)."""
    probe = cbuild["container_probe"]
    (bundle.rootfs / "srv").mkdir()
    (bundle.rootfs / "srv" / "greeting").write_text("hello from musl\n")
    shutil.copy2(probe, bundle.rootfs / "bin" / "probe")
    bundle.nnp = nnp
    work = ["/bin/probe", "work"]
    expected = "hello from musl\nentry greeting\n"
    bundle.configure(work, None)
    runtime = [need("runc", "runc"), "--root", str(tmp_path / "runc-state")]
    with container_id(runtime, "musl") as cid:
        trace, res = record_container(tmp_path, [*runtime, "run", "--bundle", str(bundle.path),
                                                 cid])
    assert res.stdout == expected
    assert {e for p in trace.processes for e in p.exes} == {"/bin/probe"}
    profile = synthesize(trace, Policy(baseline=baseline))
    bundle.configure(work, profile)
    res = runc_run(bundle, tmp_path)
    assert res.returncode == 0, res.stderr
    assert res.stdout == expected
    bundle.configure(["/bin/probe", "escape"], profile)
    res = runc_run(bundle, tmp_path)
    assert res.returncode == 0, res.stderr
    assert "netlink: 1\n" in res.stdout, res.stdout  # EPERM
    if nnp:
        assert "setuid: 1\n" in res.stdout, res.stdout


# --- systemd and firejail: name-only formats -------------------------------------------------

SYSTEMD_IGNORED = re.compile(r"ignoring|Unknown|Failed", re.I)


def systemd_verify(tmp_path: Path, dropin: str) -> str:
    """``systemd-analyze verify`` of a unit with the drop-in: its stderr (systemd names there
    every syscall, group or arch it could not parse, and goes on)."""
    unit = tmp_path / "verify" / "work.service"
    (unit.parent / "work.service.d").mkdir(parents=True, exist_ok=True)
    unit.write_text("[Service]\nType=oneshot\nExecStart=/bin/true\n")
    (unit.parent / "work.service.d" / "seccomp.conf").write_text(dropin)
    res = run([need("systemd-analyze", "systemd"), "verify", str(unit)])
    assert res.returncode == 0, res.stderr
    return res.stderr


def systemd_user_run(tmp_path: Path, dropin: str, argv: Sequence[str]) -> tuple[str, str]:
    """Run ``argv`` as a service of a private systemd user manager with the drop-in, and return
    its (stdout, stderr). PID 1 here is not systemd, so ``systemd-run`` cannot start a unit; a
    user manager (``systemd --user``) can, once it believes the system was booted with systemd:
    in a private mount namespace, a tmpfs on /run holds the /run/systemd/system it looks for.
    The unit exits the manager when it ends (SuccessAction=/FailureAction=exit-force)."""
    systemd = need("/lib/systemd/systemd", "systemd")
    assert all(" " not in a and "%" not in a for a in argv), argv
    base = tmp_path / "systemd"
    units = base / "cfg" / "systemd" / "user"
    (units / "work.service.d").mkdir(parents=True, exist_ok=True)
    (base / "runtime").mkdir(mode=0o700, exist_ok=True)
    out, err = base / "out.txt", base / "err.txt"
    for f in (out, err):
        f.unlink(missing_ok=True)
    (units / "work.service").write_text(
        "[Unit]\nSuccessAction=exit-force\nFailureAction=exit-force\n[Service]\nType=oneshot\n"
        f"ExecStart={' '.join(argv)}\nStandardOutput=file:{out}\nStandardError=file:{err}\n")
    (units / "work.service.d" / "seccomp.conf").write_text(dropin)
    script = ("set -e; mount --make-rprivate /; mount -t tmpfs tmpfs /run; "
              "mkdir -p /run/systemd/system; exec \"$0\" --user --unit=work.service")
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(base),
           "XDG_RUNTIME_DIR": str(base / "runtime"), "XDG_CONFIG_HOME": str(base / "cfg")}
    res = run(["unshare", "-m", "sh", "-c", script, systemd], env=env)
    assert out.exists(), f"the user manager did not start the unit: {res.stderr[-2000:]}"
    return out.read_text(), err.read_text()


@pytest.mark.live
def test_systemd_knows_every_name_and_arch_we_write(tmp_path: Path) -> None:
    """Every drop-in of the sample traces (both ABIs of hello32) goes through systemd's own
    parser without one name or arch it skips."""
    from helpers.paths import SAMPLES

    from seccomp_gen.files import traces
    from seccomp_gen.formats import systemd
    from seccomp_gen.safetext import is_syscall_name

    listed = run([need("systemd-analyze", "systemd"), "syscall-filter", "@known"])
    assert listed.returncode == 0, listed.stderr
    known = {w for w in listed.stdout.split() if is_syscall_name(w)}
    assert {"read", "openat", "clone3"} <= known
    for path in sorted(SAMPLES.glob("*.trace.json")):
        for policy in (Policy(), Policy(args="strict", arches="family")):
            profile = synthesize(traces.load(path), policy)
            text = systemd.emit(profile)
            warnings = [line for line in systemd_verify(tmp_path, text).splitlines()
                        if SYSTEMD_IGNORED.search(line)]
            assert not warnings, f"{path.name}: {warnings}"
            # systemd's own list of the syscalls it knows holds every name we write.
            assert profile.names() - known == set(), path.name
    # The test can fail: systemd names what it skips.
    bad = systemd_verify(tmp_path, "[Service]\nSystemCallFilter=read no_such_call\n"
                         "SystemCallArchitectures=x86-64 no-such-arch\n")
    assert "no_such_call" in bad and "no-such-arch" in bad, bad


@pytest.mark.live
def test_systemd_runs_the_recorded_work_and_refuses_without_it(tmp_path: Path) -> None:
    from seccomp_gen.formats import systemd

    argv = ["/bin/ls", "-a", "/"]
    trace, stdout = record(argv, tmp_path, name="ls")
    profile = synthesize(trace, Policy())
    out, err = systemd_user_run(tmp_path, systemd.emit(profile), argv)
    assert out.split() == stdout.split(), err
    out, err = systemd_user_run(tmp_path, systemd.emit(without(profile, "getdents64")), argv)
    assert EPERM_TEXT in err, (out, err)
    # Without SystemCallErrorNumber= systemd kills the process (SIGSYS): no listing at all.
    kill = systemd.emit(replace(without(profile, "getdents64"), default_action="kill",
                                default_errno=None))
    assert "SystemCallErrorNumber" not in kill
    out, err = systemd_user_run(tmp_path, kill, argv)
    assert out == "" and EPERM_TEXT not in err, (out, err)


def firejail(profile_text: str, tmp_path: Path,
             argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
    """``argv`` under firejail with the profile (no ``--``: with it firejail 0.9.72 runs the
    command through ``/bin/bash -c``, whose own calls the profile does not hold)."""
    path = tmp_path / "work.profile"
    path.write_text(profile_text)
    return run([need("firejail", "firejail"), "--quiet", f"--profile={path}", *argv])


@pytest.mark.live
def test_firejail_runs_the_recorded_work_and_refuses_without_it(tmp_path: Path) -> None:
    from seccomp_gen.formats import firejail as fj

    argv = ["/bin/ls", "-a", "/"]
    trace, stdout = record(argv, tmp_path, name="ls")
    profile = synthesize(trace, Policy())
    text = fj.emit(profile)
    assert "seccomp.block-secondary" in text.splitlines()
    res = firejail(text, tmp_path, argv)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == stdout.split()
    res = firejail(fj.emit(without(profile, "getdents64")), tmp_path, argv)
    assert res.returncode != 0 and EPERM_TEXT in res.stderr, res.stderr


@pytest.mark.live
def test_firejail_kill_default_and_the_x86_abi(tmp_path: Path, cbuild: Any) -> None:
    """``seccomp-error-action kill`` kills (SIGSYS); ``seccomp.block-secondary`` refuses an i386
    program; ``seccomp.32.keep`` does not filter i386 calls in this firejail (why the firejail
    format cannot write x86 rules: if this ever fails, firejail filters them and it could)."""
    from seccomp_gen.formats import firejail as fj

    argv = ["/bin/ls", "-a", "/"]
    trace, _ = record(argv, tmp_path, name="ls")
    profile = without(synthesize(trace, Policy(default_action="kill")), "getdents64")
    text = fj.emit(profile)
    assert "seccomp-error-action kill" in text.splitlines()
    res = firejail(text, tmp_path, argv)
    assert res.stdout == "" and res.returncode == 128 + signal.SIGSYS, (res.returncode, res.stderr)
    hello32 = cbuild["hello32"]
    keep = "seccomp.keep execve,exit_group\n"
    res = firejail(keep + "seccomp.block-secondary\n", tmp_path, [hello32])
    assert res.returncode != 0 and "hello" not in res.stdout, res.stdout
    res = firejail(keep + "seccomp.32.keep exit_group\n", tmp_path, [hello32])
    assert res.returncode == 0 and res.stdout == "hello from i386\n", (res.returncode, res.stderr)


@pytest.mark.live
def test_run_reads_systemd_and_firejail_files(tmp_path: Path) -> None:
    """``seccomp-gen run --profile`` loads what generate wrote, in either format."""
    argv = ["/bin/ls", "-a", "/"]
    trace_path = tmp_path / "ls.trace.json"
    record(argv, tmp_path, name="ls")
    for fmt in ("systemd", "firejail"):
        out = tmp_path / f"ls.{fmt}"
        res = run([PYTHON, "-m", "seccomp_gen", "generate", str(trace_path), "--format", fmt,
                   "-o", str(out)])
        assert res.returncode == 0, res.stderr
        res = run([PYTHON, "-m", "seccomp_gen", "run", "--profile", str(out), "--", *argv])
        assert res.returncode == 0, res.stderr
        assert "0 violations" in res.stderr or "no violation" in res.stderr.lower(), res.stderr


@pytest.mark.live
@pytest.mark.parametrize("consumer", ["runc", "crun", "lxc", "python"])
def test_numbers_past_the_table_as_each_consumer_answers_them(
        bundle: Bundle, tmp_path: Path, cbuild: Any, consumer: str) -> None:
    """What the model says each consumer does with a number the profile does not allow, in the
    real consumer: runc answers ENOSYS above the highest number the profile names (its patchbpf
    stub), crun and LXC add no stub (EPERM), the Python table's apply() answers ENOSYS above
    libseccomp's table (our stub). The numbers asked are the boundaries of each rule, and the
    answers must be the model's verdicts."""
    from seccomp_gen.libseccomp import enosys_ends, syscall_name, syscall_number, table_end
    from seccomp_gen.profile import normalize, widen

    probe = cbuild["syscall_probe"]
    getpid = syscall_number("x86_64", "getpid")
    if consumer in ("runc", "crun"):
        shutil.copy2(probe, bundle.rootfs / "bin" / "probe")
        trace, _ = record_in_bundle(bundle, tmp_path, ["/bin/probe", str(getpid)])
        profile = synthesize(trace, Policy(baseline=f"{consumer}-nnp"))
        meant = widen(profile)  # as OCI says it
    else:
        trace, _ = record([str(probe), str(getpid)], tmp_path, name="probe")
        profile = synthesize(trace, Policy(baseline="lxc" if consumer == "lxc" else "none"))
        meant = normalize(profile)
    rule = {"runc": "profile", "python": "table"}.get(consumer, "none")
    named = enosys_ends(meant, "profile")["x86_64"]
    end = enosys_ends(meant, rule).get("x86_64")
    numbers = [getpid, named, named + 1, table_end("x86_64") + 1, 1000, 0x3FFFFFFF]
    args = [str(n) for n in numbers]
    if consumer == "runc":
        bundle.configure(["/bin/probe", *args], profile)
        res = runc_run(bundle, tmp_path)
    elif consumer == "crun":
        bundle.configure(["/bin/probe", *args], profile)
        res = crun_run(bundle, tmp_path)
    elif consumer == "lxc":
        res = lxc_execute(tmp_path, lxc.emit(profile), [str(probe), *args]).result
    else:
        path = tmp_path / "policy.py"
        path.write_text(python_table.emit(profile))
        res = run([sys.executable, "-c", _APPLY_AND_EXEC, str(path), str(probe), *args])
    assert res.returncode == 0, res.stderr
    got = {int(nr, 0): int(err) for nr, err in (ln.split() for ln in res.stdout.splitlines())}
    for nr in numbers[1:]:
        name = syscall_name("x86_64", nr)
        action, err = meant.verdict("x86_64", None if name.startswith("syscall_") else name,
                                    nr=nr, enosys_above=end)
        if action == "allow":
            continue  # the named call itself may be allowed: its answer is the kernel's
        assert (action, got[nr]) == ("errno", err), (nr, got)
    stub = consumer in ("runc", "python")
    assert got[1000] == got[0x3FFFFFFF] == (errno.ENOSYS if stub else errno.EPERM)
    assert got[named + 1] == (errno.ENOSYS if consumer == "runc" else errno.EPERM) or (
        consumer == "python" and named + 1 > table_end("x86_64"))
