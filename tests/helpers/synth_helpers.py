"""Hand-built traces for the profile tests: x86_64 and i386 calls, recorded arguments, a
syscall libseccomp cannot name, socketcall, clone3. Numbers come from libseccomp."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from seccomp_gen.libseccomp import syscall_number
from seccomp_gen.model import ArgValues, SyscallRecord, Trace, TraceHeader
from seccomp_gen.syscalls.argspec import fields_for

THREAD_FLAGS = 0x3D0F00  # what glibc's pthread_create passes to clone3


def header(host: str = "x86_64", command: Sequence[str] = ("prog",)) -> TraceHeader:
    return TraceHeader(
        tool_version="0.1.0", command=tuple(command), kernel="6.18", host_arch=host,
        libseccomp="2.5.4", backend="ptrace", pinned_cpu=None,
        started="2026-11-23T10:00:00+00:00", ended="2026-11-23T10:00:01+00:00",
        duration_s=1.0, exit=None,
    )


def rec(arch: str, name: str, values: Iterable[tuple[int, ...]] | None = None,
        *, nr: int | None = None, capped: bool = False) -> SyscallRecord:
    args = None
    spec = fields_for(arch, name)
    if values is not None:
        assert spec is not None, name
        args = ArgValues(tuple(f for f, _ in spec), tuple(i for _, i in spec),
                         frozenset(values), capped)
    return SyscallRecord(arch=arch, name=name,
                         nr=syscall_number(arch, name) if nr is None else nr,
                         count=1, processes=1, first_pid=1, first_exe="/prog", exes=("/prog",),
                         results={"ok": 1}, args=args)


def trace(records: Iterable[SyscallRecord], host: str = "x86_64",
          command: Sequence[str] = ("prog",)) -> Trace:
    rs = sorted(records, key=lambda r: (r.arch, r.name))
    return Trace(header=header(host, command), syscalls=tuple(rs), processes=(), exes=())


def mixed_trace() -> Trace:
    """x86_64 and x86 calls with arguments, clone3, socketcall and an unnameable syscall."""
    return trace([
        rec("x86_64", "read"), rec("x86_64", "write"), rec("x86_64", "openat"),
        rec("x86_64", "close"), rec("x86_64", "exit_group"), rec("x86_64", "execve"),
        rec("x86_64", "mmap", {(3,), (5,)}), rec("x86_64", "mprotect", {(1,)}),
        rec("x86_64", "clone", {(0x01200011,)}), rec("x86_64", "clone3", {(THREAD_FLAGS,)}),
        rec("x86_64", "socket", {(1, 0x80001), (2, 1)}), rec("x86_64", "ioctl", {(0x5401,)}),
        rec("x86_64", "personality", {(0xFFFFFFFF,)}), rec("x86_64", "prctl", {(15,)}),
        rec("x86_64", "fcntl", {(1,), (2,)}),
        rec("x86_64", "syscall_0x1f4", nr=0x1F4),
        rec("x86", "read"), rec("x86", "write"), rec("x86", "exit_group"),
        rec("x86", "socketcall", {(1,), (3,)}), rec("x86", "mmap2", {(3,)}),
        rec("x86", "personality", {(8,)}),
    ])


def observed_tuples(t: Trace) -> list[tuple[str, str, list[int]]]:
    """Every (arch, name, register args) the trace observed (one per recorded value set)."""
    out = []
    for r in t.syscalls:
        if r.name.startswith("syscall_"):
            continue
        if r.args is None or not r.args.values:
            out.append((r.arch, r.name, [0] * 6))
            continue
        for values in sorted(r.args.values):
            regs = [0] * 6
            for index, v in zip(r.args.indexes, values, strict=True):
                if index is not None:
                    regs[index] = v
            out.append((r.arch, r.name, regs))
    return out
