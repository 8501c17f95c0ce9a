"""``recording()``: record the syscalls this Python process makes inside a ``with`` block.

::

    import seccomp_gen
    with seccomp_gen.recording() as rec:
        os.getppid()
    seccomp_gen.dump_trace(rec.trace, "block.trace.json")    # what `generate` reads

A TRAP filter on every thread (TSYNC) sends each x86_64 call to a compiled SIGSYS handler
(``_native/recording_handler.c``) that records it and performs it itself, so results and errno are
unchanged; the filter lets the handler's own ``syscall`` instruction through by its address, which
libseccomp cannot express, so :func:`build_program` assembles it here. Calls that cannot be
re-issued from a handler (:data:`ALWAYS_ALLOWED`) and other ABIs run unrecorded. The filter stays
after the block (pass-through, a trap per call). Mechanism, limits and costs:
docs/backends/inprocess.md.
"""

from __future__ import annotations

import ctypes
import errno as errno_mod
import os
import sys
import threading
import time
from dataclasses import replace
from datetime import UTC, datetime
from types import TracebackType
from typing import TYPE_CHECKING

from .._native.recording_handler import RING_RECORD, SITE_RECORD, WHAT, RecordingHandler
from ..errors import SeccompGenError
from ..syscalls.arches import AUDIT_ARCH_X86_64

if TYPE_CHECKING:
    from ..aggregate import RawRecording
    from ..model import Trace


_SYS_SECCOMP_X86_64 = 317

#: x86_64 syscalls the filter allows by number (never trapped, never recorded), and why.
ALWAYS_ALLOWED: dict[str, int] = {
    "rt_sigreturn": 15,
    "clone": 56,
    "fork": 57,
    "vfork": 58,
    "execve": 59,
    "exit": 60,
    "exit_group": 231,
    "execveat": 322,
    "clone3": 435,
}


_lock = threading.Lock()
_state: dict[str, object] = {}


def build_program(ret_addr: int) -> bytes:
    """The filter (``struct sock_filter`` array): allow the handler's own syscall instruction
    (``ret_addr`` is the address right after it, as seccomp_data reports it), other ABIs and
    :data:`ALWAYS_ALLOWED`; TRAP everything else."""
    from ..linux import cbpf
    from ..syscalls.arches import X32_SYSCALL_BIT

    lines: list[cbpf.Line] = [
        (cbpf.LD_W_ABS, 0, 0, cbpf.ARCH),
        (cbpf.JEQ_K, 0, "allow", AUDIT_ARCH_X86_64),
        (cbpf.LD_W_ABS, 0, 0, cbpf.NR),
        (cbpf.JSET_K, "allow", 0, X32_SYSCALL_BIT),
        *[(cbpf.JEQ_K, "allow", 0, nr) for nr in sorted(ALWAYS_ALLOWED.values())],
        (cbpf.LD_W_ABS, 0, 0, cbpf.IP),                        # instruction_pointer, low half
        (cbpf.JEQ_K, 0, "trap", ret_addr & 0xFFFFFFFF),
        (cbpf.LD_W_ABS, 0, 0, cbpf.IP + 4),                    # high half
        (cbpf.JEQ_K, "allow", "trap", ret_addr >> 32),
    ]
    trap = len(lines)
    lines += [(cbpf.RET_K, 0, 0, cbpf.RET_TRAP), (cbpf.RET_K, 0, 0, cbpf.RET_ALLOW)]
    return cbpf.assemble(lines, {"trap": trap, "allow": trap + 1})


#: How many calls the ring keeps in full (arguments and result).
RING = 32768


def _install() -> RecordingHandler:
    """Build, load and install handler and filter once per process; return the helper."""
    native = _state.get("native")
    if isinstance(native, RecordingHandler):
        return native
    # libseccomp's names are needed when the block ends, and importing pyseccomp runs
    # ldconfig (fork + exec): a child exec'd under the filter has no SIGSYS handler and dies,
    # so the import happens now, before the filter exists.
    from .. import libseccomp  # noqa: F401
    from .._native.recording_handler import load as load_handler
    from ..linux.host import host_arch
    from ..linux.libc import syscall
    from ..linux.seccomp import (
        SECCOMP_FILTER_FLAG_TSYNC,
        SECCOMP_SET_MODE_FILTER,
        Program,
        needs_no_new_privs,
        set_no_new_privs,
    )

    if host_arch() != "x86_64":
        raise SeccompGenError(f"recording() supports x86_64 only, not {host_arch()}")
    helper = load_handler()
    program = Program(build_program(helper.ret_addr))
    nnp = needs_no_new_privs()
    if nnp and (err := set_no_new_privs()):
        raise SeccompGenError(f"cannot set no_new_privs: {os.strerror(err)}")
    rc = helper.lib.sgen_rec_install()
    if rc < 0:
        raise SeccompGenError(f"cannot install {WHAT}: {os.strerror(-rc)}")
    res = syscall(ctypes.c_long(_SYS_SECCOMP_X86_64), ctypes.c_long(SECCOMP_SET_MODE_FILTER),
                  ctypes.c_long(SECCOMP_FILTER_FLAG_TSYNC), ctypes.c_void_p(program.address))
    if res != 0:
        err = ctypes.get_errno() if res < 0 else errno_mod.ESRCH
        helper.lib.sgen_rec_uninstall()
        hint = (f"thread {res} has a different seccomp filter (TSYNC)" if res > 0 else None)
        raise SeccompGenError(f"the kernel refused the recording filter: {os.strerror(err)}",
                              hint=hint)
    _state["native"] = helper
    _state["nnp"] = nnp
    _state["keep"] = program
    return helper


class Recording:
    """A ``with`` block whose syscalls are recorded; :attr:`trace` is set when it ends."""

    def __init__(self) -> None:
        self.trace: Trace | None = None
        self._native: RecordingHandler | None = None
        self._t0 = 0.0
        self._started = ""

    def __enter__(self) -> Recording:
        if not _lock.acquire(blocking=False):
            raise SeccompGenError("recording() blocks cannot be nested or run concurrently")
        try:
            native = _install()
        except BaseException:
            _lock.release()
            raise
        self._native = native
        self._started = datetime.now(UTC).isoformat(timespec="seconds")
        self._t0 = time.monotonic()
        native.lib.sgen_rec_start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        native = self._native
        assert native is not None
        native.lib.sgen_rec_stop()
        try:
            self.trace = self._build(native, time.monotonic() - self._t0)
        finally:
            _lock.release()

    def _build(self, native: RecordingHandler, duration: float) -> Trace:
        from .._version import __version__
        from ..aggregate import ProcessState, RawRecording, build_trace
        from ..libseccomp import arch_name, syscall_name
        from ..libseccomp import version as libseccomp_version
        from ..linux.host import host_arch, kernel_release
        from ..model import TraceHeader
        from ..syscalls.argspec import fields_for

        head = int(native.lib.sgen_rec_head())
        kept = min(head, native.ring_size)
        size = RING_RECORD.size
        ring = ctypes.string_at(native.lib.sgen_rec_ring(), kept * size)
        counts = (ctypes.c_ulong * native.nr_max).from_address(native.lib.sgen_rec_counts())
        exact = {nr: int(n) for nr, n in enumerate(counts) if n}
        pid = os.getpid()
        try:
            exe = os.readlink("/proc/self/exe")
        except OSError:
            exe = sys.executable
        raw = RawRecording()
        token = raw.new_token(pid, exe)
        tids: set[int] = set()
        results: dict[tuple[int, int], int] = {}
        arch = AUDIT_ARCH_X86_64
        spec_cache: dict[int, tuple[tuple[str, int | None], ...] | None] = {}
        for off in range(0, kept * size, size):
            ready, audit, nr, tid, ret, *args = RING_RECORD.unpack_from(ring, off)
            if not ready:
                continue
            tids.add(tid)
            res = -ret if -4096 < ret < 0 else 0
            results[(nr, res)] = results.get((nr, res), 0) + 1
            if nr not in spec_cache:
                spec_cache[nr] = fields_for(arch_name(audit, nr), syscall_name(arch_name(audit,
                                                                                       nr), nr))
            spec = spec_cache[nr]
            if spec is None or any(idx is None for _, idx in spec):
                continue
            row = tuple(args[idx] for _, idx in spec if idx is not None)
            raw.add_args((audit, nr), row)
        complete = head <= native.ring_size
        for nr, n in exact.items():
            if complete:
                for (rnr, res), m in results.items():
                    if rnr == nr:
                        raw.calls[(arch, nr, token, res)] = m
                seen = sum(m for (rnr, _), m in results.items() if rnr == nr)
                if n > seen:  # a slot reserved but not yet written when we read: no result
                    raw.calls[(arch, nr, token, -1)] = n - seen
            else:
                raw.calls[(arch, nr, token, -1)] = n
                raw.capped.add((arch, nr))
            raw.first[(arch, nr)] = token
        raw.processes[pid] = ProcessState(pid=pid, ppid=os.getppid(), exes=[exe],
                                          threads=max(1, len(tids)))
        unsited = _add_sites(native, raw, token, pid)
        always = ", ".join(sorted(ALWAYS_ALLOWED))
        notes = [
            "recorded in-process by recording(): a TRAP filter and a SIGSYS handler that "
            "performs each call; x86_64 calls only (int $0x80 and x32 calls are not recorded)",
            f"always allowed by the recording filter, so never recorded even if the block made "
            f"them: {always}",
        ]
        if not complete:
            notes.append(f"only the first {native.ring_size} of {head} calls were kept in full: "
                         "counts are exact, but results and arguments of later calls are "
                         "missing (argument sets are marked capped)")
        if native.lib.sgen_rec_other():
            notes.append(f"{native.lib.sgen_rec_other()} call(s) with a number above "
                         f"{native.nr_max} were performed but not counted")
        if unsited:
            notes.append(f"{unsited} call(s) found the call-site table "
                         f"({native.sites_size} slots) full: their call site is [unknown]")
        if _state.get("nnp"):
            notes.append("no_new_privs was set in this process (needed to load the filter "
                         "without CAP_SYS_ADMIN)")
        now = datetime.now(UTC).isoformat(timespec="seconds")
        header = TraceHeader(
            tool_version=__version__,
            command=tuple(getattr(sys, "orig_argv", sys.argv)),
            kernel=kernel_release(),
            host_arch=host_arch(),
            libseccomp=libseccomp_version(),
            backend="inprocess",
            pinned_cpu=None,
            started=self._started,
            ended=now,
            duration_s=duration,
            exit=None,
            records_args=True,
            records_results=complete,
            notes=tuple(notes),
        )
        trace = build_trace(raw, header, arch_name, syscall_name)
        if not complete:
            trace = replace(trace, syscalls=tuple(replace(r, results={})
                                                  for r in trace.syscalls))
        from ..files.symbols import name_sites  # as record() does: sites named from the files

        return name_sites(trace)


def _add_sites(native: RecordingHandler, raw: RawRecording, token: int, pid: int) -> int:
    """Fold the handler's per-(nr, ip) counts into ``raw.site_calls``, resolving each ip in
    this process's mappings as they are now (a library unloaded inside the block is
    ``[anon]``). Calls that found the handler's table full are counted at ``[unknown]``;
    returns how many."""
    from ..linux.codemaps import UNKNOWN, SiteResolver

    table = ctypes.string_at(native.lib.sgen_rec_sites(), native.sites_size * SITE_RECORD.size)
    resolver = SiteResolver(raw.sites)
    site_calls = raw.site_calls
    for ip, nr, state, count in SITE_RECORD.iter_unpack(table):
        if state != 2 or not count:
            continue
        sid = resolver.cache.get((token, ip))
        if sid is None:
            sid = resolver.site(token, pid, ip)
        key = (AUDIT_ARCH_X86_64, nr, sid)
        site_calls[key] = site_calls.get(key, 0) + count
    unsited = (ctypes.c_ulong * native.nr_max).from_address(native.lib.sgen_rec_unsited())
    for nr, n in enumerate(unsited):
        if n:
            key = (AUDIT_ARCH_X86_64, nr, resolver.site_id(UNKNOWN, 0))
            site_calls[key] = site_calls.get(key, 0) + int(n)
    return sum(int(n) for n in unsited)


def recording() -> Recording:
    """Record the syscalls this process (all its threads) makes inside the ``with`` block (see
    docs/backends/inprocess.md). ``rec.trace`` is the :class:`~seccomp_gen.model.Trace` afterwards.

    Raises a one-line :class:`SeccompGenError` (and changes nothing) when there is no C compiler,
    the arch is not x86_64 or the kernel refuses the filter. After the first block the process
    keeps a filter whose handler performs every syscall (pass-through), at a small cost per call.
    """
    return Recording()


__all__ = ["ALWAYS_ALLOWED", "Recording", "build_program", "recording"]
