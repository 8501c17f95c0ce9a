"""The QEMU comparison on committed data: the boot-log normaliser on a captured snippet, and the
profile ``generate`` makes from the committed boot trace (sample_traces/qemu-boot.trace.json)
against QEMU's ``-sandbox on`` deny list (tests/data/qemu_sandbox_deny.json). The live boot, under
the generated profiles: tests/e2e/test_qemu_e2e.py."""

from __future__ import annotations

from collections import Counter

from helpers.qemu import SAMPLE_TRACE, compare_with_qemu_sandbox, kernel_messages, normalised

import seccomp_gen
from seccomp_gen.synthesize import Policy, synthesize


def test_boot_log_normalisation() -> None:
    """The normaliser on a captured snippet: the first message glued to the firmware's line,
    escapes, CRs, timestamps, addresses and a volatile TSC line."""
    log = ("Booting from ROM...\r\nProbing EDD (edd=off to disable)... o\x1bc\x1b[?7l\x1b[2J"
           "\x1b[0mk\r[    0.000000] Linux version 6.1.0-56-amd64 (x)\r\n"
           "[    0.000000] Command line: console=ttyS0 panic=-1\r\n"
           "[    1.998141] tsc: Detected 2443.200 MHz processor\r\n"
           "[    2.31] rtc_cmos 00:05: setting system clock to 2026-11-23T11:55:48 UTC (1795)\r\n"
           "[    2.395128] Kernel Offset: 0x2d600000 from 0xffffffff81000000\r\n")
    msgs = kernel_messages(log)
    assert msgs == ["Linux version 6.1.0-56-amd64 (x)", "Command line: console=ttyS0 panic=-1",
                    "tsc: Detected 2443.200 MHz processor",
                    "rtc_cmos 00:05: setting system clock to 2026-11-23T11:55:48 UTC (1795)",
                    "Kernel Offset: 0x2d600000 from 0xffffffff81000000"]
    assert normalised(msgs) == Counter({"Linux version N.N.N-N-amd64 (x)": 1,
                                        "Command line: console=ttyS0 panic=N": 1,
                                        "rtc_cmos N:N: setting system clock to DATE UTC (N)": 1,
                                        "Kernel Offset: N from N": 1})


def test_sample_profile_vs_qemu_sandbox() -> None:
    """Pure: the profile ``generate`` makes from the committed QEMU trace, against QEMU's sets."""
    trace = seccomp_gen.load_trace(SAMPLE_TRACE)
    assert trace.header.exit is not None and trace.header.exit.code == 0
    profile = synthesize(trace, Policy())  # generate's defaults: --args safe, errno EPERM
    report = compare_with_qemu_sandbox(profile, trace, "sample trace")
    # The committed sample (46 recorded pairs): 45 allowed as recorded, clone3 -> ENOSYS, plus
    # clone as its fallback. Pinned so that a synthesis change shows up here with the numbers.
    assert report["allowed_x86_64"] == 46
    assert report["groups"]["spawn"]["used"] == ["clone3", "execve"]
    assert report["groups"]["spawn"]["allowed"] == ["clone", "execve"]
    for group in ("default", "obsolete", "elevateprivileges", "resourcecontrol"):
        assert report["groups"][group] == {"used": [], "allowed": []}, group
