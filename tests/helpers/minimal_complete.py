"""Minimal and Complete, checked on the compiled filter (libseccomp's BPF, run in the simulator):
every recorded call gets the verdict the profile means, and what was not recorded gets the
default verdict."""

from __future__ import annotations

from helpers.synth_helpers import observed_tuples
from seccomp_gen.libseccomp import Simulator, syscall_number
from seccomp_gen.model import Trace
from seccomp_gen.profile import Profile

#: Names no test workload makes; each must be denied on every arch that has it.
UNOBSERVED = ("mount", "ptrace", "kexec_load", "init_module", "bpf", "unshare", "setns",
              "reboot", "swapon", "pivot_root", "uname", "chroot")


def _expected(p: Profile, arch: str, name: str) -> tuple[str, int | None]:
    """The verdict the profile means for an observed call (clone3 may be answered ENOSYS)."""
    for r in p.rules_for(arch):
        if r.name == name and r.action != "allow":
            return r.verdict
    return ("allow", None)


def assert_complete(p: Profile, t: Trace, sim: Simulator) -> None:
    for arch, name, regs in observed_tuples(t):
        v = sim.check(arch, name, regs)
        assert (v.action, v.errno) == _expected(p, arch, name), (arch, name, regs, v)


def assert_minimal(p: Profile, t: Trace, sim: Simulator, *, by_name: bool = False) -> None:
    """Unobserved syscalls get the default verdict; with ``by_name`` False, per arch too."""
    observed = {(r.arch, r.name) for r in t.syscalls}
    for arch in p.architectures:
        for name in UNOBSERVED:
            nr = syscall_number(arch, name)
            if nr < 0 or (arch, name) in observed or name in p.names(arch):
                continue
            v = sim.evaluate(arch, nr)
            assert (v.action, v.errno) == p.default_verdict, (arch, name, v)
        if by_name:
            continue
        # Nothing observed only on another arch is allowed on this one.
        for r in t.syscalls:
            if (arch, r.name) in observed or r.name.startswith("syscall_"):
                continue
            nr = syscall_number(arch, r.name)
            if nr >= 0 and r.name not in p.names(arch):
                assert not sim.evaluate(arch, nr).allowed, (arch, r.name)
