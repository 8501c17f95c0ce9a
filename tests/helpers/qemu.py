"""What the QEMU tests compare: the guest's kernel messages (normalised for host timing), and what
a profile allows against QEMU's own ``-sandbox on`` deny sets."""

from __future__ import annotations

import json
import re
from collections import Counter
from typing import Any

from helpers.paths import DATA, SAMPLES
from seccomp_gen.libseccomp import simulator, syscall_name, syscall_number
from seccomp_gen.model import Trace
from seccomp_gen.profile import Profile

SAMPLE_TRACE = SAMPLES / "qemu-boot.trace.json"

QEMU_DENY = DATA / "qemu_sandbox_deny.json"

#: glibc's pthread_create clone flags: VM|FS|FILES|SIGHAND|THREAD|SYSVSEM|SETTLS|PARENT_SETTID|
#: CHILD_CLEARTID. QEMU's spawn=deny requires all of them.
CLONE_THREAD_FLAGS = 0x3D0F00

SIGCHLD = 17

CLONE_NEWUSER = 0x10000000

#: The panic that ends the boot, and what the log must end with in every run.
PANIC = "Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0)"

_ANSI = re.compile(r"\x1b(?:\[[0-9;?]*[A-Za-z]|c)")

_STAMP = re.compile(r"\[ *\d+\.\d+\] ?")

#: A number: decimal, hex with or without 0x (addresses), optionally negative, maybe with a unit
#: after it ("202448K"); not digits that end a word ("amd64", "ttyS0", "x86_64" stay).
_NUMBER = re.compile(r"(?<![0-9A-Za-z_])-?(?:0x[0-9a-fA-F]+|[0-9a-fA-F]*[0-9][0-9a-fA-F]*)"
                     r"(?![0-9a-fA-FxX])")

#: Kernel messages that report how fast the host ran the guest, not what the emulated machine
#: is: they come and go with host timing and load, even between two plain QEMU runs, and the
#: recorded boot (QEMU's threads pinned to one CPU, every syscall stopping in the tracer) is the
#: slowest of all. Each pattern was seen to differ between boots on the reference machine:
_TIMING = (
    # TSC calibration against the PIT or the HPET, a late "Refined TSC clocksource calibration",
    # and the clocksource switches that follow it.
    r"^tsc: ", r"^clocksource: ",
    # The APIC timer disagreeing with the PM timer (recorded boots, 2 of 12 on an idle machine).
    r"^APIC calibration not consistent with PM-Timer", r"^APIC delta adjusted to PM-Timer",
    # A PCI fixup that took more than 10 ms prints its duration (recorded boots on a loaded host).
    r"^pci \S+: \S+ took N usecs$",
    # Not seen yet, added with the above: the kernel's other "this took too long" report.
    r"^hrtimer: interrupt took N ns$",
)

_VOLATILE = re.compile("|".join(f"(?:{p})" for p in _TIMING))

#: Wall-clock dates ("setting system clock to 2026-11-23T11:55:48 UTC").
_DATE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d")


def kernel_messages(log: str) -> list[str]:
    """The kernel's console messages, in order, without their ``[    1.234567]`` timestamps.

    The serial stream has CRs, SeaBIOS/kernel terminal escapes and no newline between the
    firmware's last line and the kernel's first message, so a message is found by its timestamp
    anywhere on a CR/LF-separated line, after the escapes are removed.
    """
    out = []
    for raw in re.split(r"[\r\n]+", log):
        line = _ANSI.sub("", raw)
        m = _STAMP.search(line)
        if m:
            out.append(line[m.end():].rstrip())
    return out


def normalised(messages: list[str]) -> Counter[str]:
    """Messages as a multiset: wall-clock dates replaced by ``DATE`` and numbers (decimal and
    hex: addresses, MHz, BogoMIPS, memory sizes) by ``N``; the timer-calibration messages of
    :data:`_TIMING` (matched after that) left out. A multiset, because asynchronous device
    probes print a few lines in either order (rtc_cmos, seen). Everything else must match."""
    out: Counter[str] = Counter()
    for m in messages:
        m = _NUMBER.sub("N", _DATE.sub("DATE", m))
        if not _VOLATILE.search(m):
            out[m] += 1
    return out


def qemu_deny_sets() -> dict[str, dict[str, Any]]:
    sets: dict[str, dict[str, Any]] = json.loads(QEMU_DENY.read_text())["sets"]
    assert set(sets) == {"default", "obsolete", "elevateprivileges", "spawn", "resourcecontrol"}
    return sets


def compare_with_qemu_sandbox(profile: Profile, trace: Trace, label: str) -> dict[str, Any]:
    """What ``profile`` (generated from ``trace``) allows against QEMU's deny sets; prints a
    report, asserts, and returns the numbers.

    A deny-list syscall the profile allows must be one the boot used: recorded in the trace, or
    ``clone``, which the profile allows (thread flags, namespace flags pinned to zero) as glibc's
    fallback for the recorded ``clone3`` that it answers with ENOSYS. The model's verdicts are
    checked against libseccomp's compiled filter (run in validate's BPF simulator).
    """
    sets = qemu_deny_sets()
    sim = simulator(profile)
    deny_names = sorted({n for s in sets.values() for n in s["syscalls"]})
    all_x86_64 = {syscall_name("x86_64", nr) for nr in range(1024)}
    all_x86_64 = {n for n in all_x86_64 if not n.startswith("syscall_")}
    allowed_x86_64 = profile.names("x86_64")
    print(f"\n[{label}] profile allows {len(allowed_x86_64)} of the {len(all_x86_64)} x86_64 "
          "syscalls libseccomp knows; names allowed per ABI in the filter: "
          f"{', '.join(a + '=' + str(len(profile.names(a))) for a in profile.architectures)}")

    report: dict[str, Any] = {"allowed_x86_64": len(allowed_x86_64),
                              "x86_64_known": len(all_x86_64), "groups": {},
                              "allowed_per_arch": {a: len(profile.names(a))
                                                   for a in profile.architectures}}
    used_any = {r.name for r in trace.syscalls}
    # clone: the profile's fallback for clone3 (answered ENOSYS), so "used" through glibc.
    # Names, not (arch, name) pairs: an OCI file cannot say which ABI a rule is for (runc and crun
    # add every rule to every listed arch), so the OCI form of an x86_64-only profile allows the
    # same names on x86 and x32 too (emitters/oci.py, documented); the Python table does not.
    needed = used_any | ({"clone"} if "clone3" in used_any else set())
    for arch in profile.architectures:
        allowed = profile.names(arch)
        for name in deny_names:
            nr = syscall_number(arch, name)
            if nr < 0:
                continue  # not on this ABI: QEMU's rule for it is a no-op there too
            verdict = sim.evaluate(arch, nr, [0] * 6)
            conditional = any(r.conditions for r in profile.rules
                              if r.name == name and arch in r.arches and r.action == "allow")
            if name not in allowed:
                assert not verdict.allowed, f"{arch} {name}: model denies, filter allows"
            elif not conditional:
                assert verdict.allowed, f"{arch} {name}: model allows, filter denies"
            assert name not in allowed or name in needed, (
                f"{label}: the profile allows {name} ({arch}), on QEMU's deny list, but the "
                "boot never used it")

    used64 = {r.name for r in trace.syscalls if r.arch == "x86_64"}
    on = set(sets["default"]["syscalls"]) | set(sets["obsolete"]["syscalls"])
    on64 = {n for n in on if syscall_number("x86_64", n) >= 0}
    # The sets `-sandbox on` always enables: QEMU boots under them (DESIGN.md), so the recorded
    # boot made none of them and the profile allows none of them.
    assert not (allowed_x86_64 & on), f"profile allows -sandbox on syscalls: {allowed_x86_64 & on}"
    assert not (used64 & on), f"the boot used -sandbox on syscalls: {used64 & on}"
    report["sandbox_on_x86_64"] = len(on64)
    print(f"[{label}] QEMU -sandbox on (default+obsolete sets) denies {len(on64)} x86_64 "
          f"syscalls ({len(on) - len(on64)} of its {len(on)} names do not exist on x86_64) and "
          f"allows the other {len(all_x86_64) - len(on64)}; the profile allows none of the "
          f"{len(on64)} and denies {len(all_x86_64) - len(allowed_x86_64)}")
    for group, spec in sets.items():
        names = set(spec["syscalls"])
        hit = sorted(names & used64)
        allowed = sorted(names & allowed_x86_64)
        report["groups"][group] = {"used": hit, "allowed": allowed}
        print(f"[{label}]   {group:18} {len(names):2} names; boot used: {', '.join(hit) or '-'}"
              f"; profile allows: {', '.join(allowed) or '-'}")

    # What the boot needed from QEMU's (opt-in) spawn set, and how each side answers it.
    clone3 = sim.check("x86_64", "clone3")
    thread = sim.check("x86_64", "clone", [CLONE_THREAD_FLAGS])
    forkish = sim.check("x86_64", "clone", [SIGCHLD])
    userns = sim.check("x86_64", "clone", [CLONE_NEWUSER | SIGCHLD])
    if "clone3" in used64:
        assert (clone3.action, clone3.errno) == ("errno", 38), clone3  # as QEMU's spawn=deny
        assert thread.allowed, "QEMU's threads need clone with pthread flags"
    assert not userns.allowed, "namespace flags must stay pinned"
    report["clone_fork_like_allowed"] = forkish.allowed
    print(f"[{label}] clone3 -> {clone3.action} {clone3.errno or ''} (QEMU spawn=deny: ENOSYS); "
          f"clone(thread flags) -> {thread.action}; clone(SIGCHLD, fork-like) -> "
          f"{forkish.action} (QEMU spawn=deny: trap); clone(NEWUSER) -> {userns.action}")
    if "execve" in used64:
        print(f"[{label}] execve is allowed: the recorded execve is the launch of QEMU itself "
              "(the filter is loaded before it); QEMU installs its own sandbox after it started, "
              "so spawn=deny never sees that call")
    return report
