"""The ebpf recorder: syscalls of the workload's process tree counted in the kernel.

No stops, no filter in the workload: our own BPF programs (:mod:`seccomp_gen.ebpf.syscall_counter`,
assembled in Python with offsets from the kernel's BTF) count every call of the tree, with its
arguments and result, in kernel maps that are read once when the run is over: well under a
microsecond per call and ~15 ms to set up, with nothing but the kernel (bpftrace took ~2.2 s to
start). Root and x86_64 only (a call's ABI is the TS_COMPAT bit); never chosen by ``auto``. The
child is released into the tree by a keyed seed call once the programs are attached. How the arch,
the start, the end, arguments and results are found: docs/backends/ebpf.md.
"""

from __future__ import annotations

import ctypes
import os
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from types import FrameType
from typing import TYPE_CHECKING

from ..ebpf.btf import BTFError
from ..ebpf.kernel import BPFError
from ..ebpf.syscall_counter import (
    CALLS_MAX,
    SEED_SYSCALL,
    STRLEN,
    TS_COMPAT,
    UNRETURNED_KEY,
    Counts,
    SyscallCounter,
    kernel_fields,
)
from ..errors import RecordError
from ..libseccomp import arch_name, syscall_name, syscall_number
from ..linux.host import host_arch
from ..linux.libc import syscall
from ..linux.procfs import status_fields
from ..linux.reaper import Reaper, spawn
from ..linux.spawn import GAVE_UP, ErrorPipe, exec_child, forward_signal
from ..model import ExitStatus, Trace
from ..syscalls.arches import AUDIT_ARCH_I386, AUDIT_ARCH_X86_64
from ..syscalls.argspec import ARG_FIELDS, ARG_VALUE_CAP, fields_for
from . import known_refusal
from . import supports_known as _supports_known
from .base import (
    LiveStats,
    RecordOptions,
    forwarding,
    recording_header,
    resolve_command,
    utc_now,
)

if TYPE_CHECKING:
    from ..aggregate import RawRecording
    from .ebpf_sites import MapsPoller, SitePaths

#: What only the trace building after the run needs: imported once the workload runs, in the
#: time it runs (~4 ms here; before, it delayed the workload's start).
AFTER_RUN = ("seccomp_gen.aggregate", "seccomp_gen.linux.codemaps", "seccomp_gen.recorders.session")

#: Environment variable: how many (process, program, syscall, arch) keys the calls map holds.
KEYS_ENV = "SECCOMP_GEN_EBPF_KEYS"

NOTE_EXE = (
    "executables are named by the path given to execve (ebpf backend): a #! script is named "
    "itself, not its interpreter"
)

def ebpf_unavailable() -> str | None:
    """Why the ebpf backend cannot run here, in one line, or None."""
    if host_arch() != "x86_64":
        return (f"tells 32-bit calls from 64-bit ones only on x86_64 (TS_COMPAT), not on "
                f"{host_arch()}")
    if os.geteuid() != 0:
        return "needs root (loads BPF programs)"
    if not os.path.exists("/sys/kernel/btf/vmlinux"):
        return "the kernel has no BTF (/sys/kernel/btf/vmlinux): a call's ABI cannot be read"
    return None


class EbpfRecorder:
    """Records a command and its descendants with BPF programs counting in the kernel."""

    name = "ebpf"
    supports_known = _supports_known("ebpf")

    def unavailable(self) -> str | None:
        """Why this backend cannot run here, or None."""
        return ebpf_unavailable()

    def record(self, argv: Sequence[str], options: RecordOptions, live: LiveStats) -> Trace:
        """Run ``argv`` with the counting program attached until its whole tree has ended."""
        why = ebpf_unavailable()
        if why is not None:
            raise RecordError(f"backend ebpf is unavailable: {why}")
        if options.known is not None:
            raise known_refusal(self.name)
        path = resolve_command(argv, options.env)
        trace = self._record(argv, path, options, live)
        if options.container:
            from .runtimes import runtime_baseline  # with docker: subprocess, only for containers

            runtime = runtime_baseline(argv, options.cwd)
            trace = replace(trace, header=replace(trace.header, runtime=runtime))
        return trace

    @staticmethod
    def _record(argv: Sequence[str], path: str, options: RecordOptions,
                live: LiveStats) -> Trace:
        if not options.container:
            return _EbpfSession(argv, path, options, live).run()
        from . import docker

        if not (options.container and docker.run_index(argv) is not None):
            return _EbpfSession(argv, path, options, live).run()
        exec_argv, cgroup = docker.prepare(argv)
        session = _EbpfSession(argv, path, options, live, exec_argv=exec_argv,
                               cgroup=(cgroup.id, cgroup.level))
        session.notes.append(f"docker run was given --cgroup-parent=/"
                             f"{os.path.basename(cgroup.path)} to follow its container")
        try:
            trace = session.run()
        finally:
            left = docker.remove_cgroup(cgroup)
        if left is not None:
            trace = replace(trace, header=replace(trace.header,
                                                  notes=(*trace.header.notes, left)))
        return trace


def call_arch(nr: int, compat: int) -> int:
    """AUDIT_ARCH of a call from its number and the TS_COMPAT bit (x32 is told by the number)."""
    return AUDIT_ARCH_I386 if compat & TS_COMPAT else AUDIT_ARCH_X86_64


class _EbpfSession:
    """One run: the held child, the programs, the wait, the maps."""

    def __init__(self, argv: Sequence[str], path: str, options: RecordOptions,
                 live: LiveStats, *, exec_argv: Sequence[str] | None = None,
                 cgroup: tuple[int, int] | None = None) -> None:
        self.argv = list(argv)
        #: What runs: ``argv``, or a rewriting of it (docker run's --cgroup-parent).
        self.exec_argv = list(exec_argv) if exec_argv is not None else self.argv
        #: (id, level) of a cgroup whose tasks join the recording when they exec.
        self.cgroup = cgroup
        self.path = path
        self.options = options
        self.live = live
        self.main_pid = 0
        self.kernel_main = 0
        self.reaper: Reaper | None = None
        #: Signals that arrived before the workload existed, passed on once it does.
        self.pending: list[int] = []
        #: The argument of the seed call that puts our child in the tree (see SyscallCounter).
        self.seed_key = int.from_bytes(os.urandom(8), "little")  # not secrets: ~4 ms to import
        self.main_status: ExitStatus | None = None
        self.pinned_cpu: int | None = None
        self.notes = [NOTE_EXE]
        #: The files the run mapped and the maps read while it ran (call sites); made with the
        #: poller, once the workload runs.
        self.site_paths: SitePaths | None = None

    def run(self) -> Trace:
        started_wall = utc_now()
        if self.options.pin:
            self.pinned_cpu = max(os.sched_getaffinity(0))
        counts, duration = self._run_workload()
        trace = self._build(counts, started_wall, duration)
        return trace

    # -- the child, the programs and the wait -----------------------------------------------------

    def _counter(self) -> SyscallCounter:
        """Maps created and programs attached, or a one-line error saying why not."""
        try:
            counter = SyscallCounter(kernel_fields(cached=True), self.seed_key, _keys(),
                                     cgroup=self.cgroup)
        except (BTFError, BPFError) as exc:
            raise RecordError(f"backend ebpf cannot start: {exc}") from None
        try:
            for compat, nr, registers in _watched_args():
                counter.watch_args(compat, nr, registers)
            counter.attach()
        except BPFError as exc:
            counter.close()
            raise RecordError(f"backend ebpf cannot start: {exc}") from None
        return counter

    def _run_workload(self) -> tuple[Counts, float]:
        gate_r, gate_w = os.pipe2(os.O_CLOEXEC)
        pipe = ErrorPipe()
        counter: SyscallCounter | None = None
        poller: MapsPoller | None = None
        with forwarding(self._on_signal):
            try:
                self.main_pid = self._spawn(gate_r, gate_w, pipe)
                os.close(gate_r)
                gate_r = -1
                pipe.started()
                counter = self._counter()
                self._show_live(counter)
                self.live.processes_alive = 1
                self.live.started = time.monotonic()
                t0 = time.monotonic()
                os.write(gate_w, b"g")  # release the workload
                os.close(gate_w)
                gate_w = -1
                poller = self._poller(counter)  # its start (a thread) overlaps the workload's
                for early in self.pending:
                    self._on_signal(early, None)
                self._wait()
                duration = time.monotonic() - t0
                poller.stop()
                counter.detach()
                counts = counter.read()
                seeded = counter.seeded()
                if seeded is None:
                    raise RecordError("backend ebpf: the BPF programs never saw the workload "
                                      "start (its seed call was not traced)")
                self.kernel_main = seeded[0]
            finally:
                for fd in (gate_r, gate_w):
                    if fd >= 0:
                        os.close(fd)
                if self.reaper is not None:
                    self.reaper.close()  # before the end of the tree: kills it
                if poller is not None:
                    poller.stop()
                if counter is not None:
                    counter.close()
        pipe.check(self.path, "ebpf")
        return counts, duration

    def _poller(self, counter: SyscallCounter) -> MapsPoller:
        """The thread that reads the maps of the processes that made new call sites; and the
        modules of :data:`AFTER_RUN`, imported while the workload runs."""
        import importlib

        from .ebpf_sites import MapsPoller, SitePaths

        self.site_paths = SitePaths()
        counter_sites = counter.read_sites

        def pairs() -> list[tuple[int, int]]:
            return [(tgid, gen) for tgid, gen, _ in counter_sites()]

        poller = MapsPoller(self.site_paths, pairs)
        poller.start()
        for name in AFTER_RUN:
            importlib.import_module(name)
        return poller

    def _spawn(self, gate_r: int, gate_w: int, pipe: ErrorPipe) -> int:
        env = self.options.env if self.options.env is not None else dict(os.environ)

        def steps() -> None:
            os.close(gate_w)
            if self.options.cwd:
                os.chdir(self.options.cwd)
            if self.pinned_cpu is not None:
                os.sched_setaffinity(0, {self.pinned_cpu})
            if os.read(gate_r, 1) != b"g":  # we gave up before attaching
                os._exit(GAVE_UP)
            syscall(SEED_SYSCALL, ctypes.c_ulong(self.seed_key))  # join the tree

        reaper = spawn()
        if reaper is None:  # the workload: nothing here may return or raise into the caller's code
            exec_child(pipe, self.path, self.exec_argv, env, steps)
        self.reaper = reaper
        return reaper.main_pid

    def _show_live(self, counter: SyscallCounter) -> None:
        """Let a status line read the counts, at most twice a second (a map walk), and never
        after the run (the maps are gone then)."""
        cache = {"at": 0.0, "total": 0, "distinct": 0}

        def refresh() -> None:
            now = time.monotonic()
            if now - cache["at"] >= 0.5 and counter.calls.fd >= 0:
                cache["at"] = now
                cache["total"], cache["distinct"] = counter.totals()

        def total() -> int:
            refresh()
            return int(cache["total"])

        def distinct() -> int:
            refresh()
            return int(cache["distinct"])

        self.live.total, self.live.distinct = total, distinct

    def _wait(self) -> None:
        """Until the workload has ended, and every orphan of it (re-parented to the reaper)."""
        assert self.reaper is not None
        self.main_status = ExitStatus.from_wait_status(self.reaper.wait_main())
        self.live.processes_alive = len(self.reaper.children())
        self.reaper.wait_end()
        self.live.processes_alive = 0

    def _on_signal(self, sig: int, _frame: FrameType | None) -> None:
        """Pass a user's Ctrl-C / SIGTERM on to the workload, once (see TraceSession)."""
        reaper = self.reaper
        if reaper is None:
            self.pending.append(sig)  # the workload does not exist yet: it gets it at its start
            return
        if reaper.main_alive():
            reaper.forward(sig)
            return
        # The main process is gone and we wait for its orphans (re-parented to R): they get it.
        for other in reaper.children() - {reaper.main_pid}:
            if status_fields(other).get("State", "Z")[:1] not in ("Z", "X"):
                forward_signal(other, sig)

    # -- the trace --------------------------------------------------------------------------------

    def _build(self, maps: Counts, started_wall: str, duration: float) -> Trace:
        from ..aggregate import ProcessState, RawRecording, build_trace
        from .session import is_exec

        raw = RawRecording()
        main = self.kernel_main
        if main != self.main_pid:
            self.notes.append(f"process ids are those of the initial pid namespace (the recorder "
                              f"runs in another one, where the workload was pid {self.main_pid})")
        parents = {tid: parent for tid, (parent, thread) in maps.forks.items() if not thread}
        threads: dict[int, int] = {}
        for parent, thread in maps.forks.values():
            if thread:
                threads[parent] = threads.get(parent, 0) + 1
        exec_gens: dict[int, list[int]] = {}
        for tgid, gen in maps.exes:
            exec_gens.setdefault(tgid, []).append(gen)
        first_main_exec = min(exec_gens.get(main, [0]))

        def program_of(tgid: int, gen: int, depth: int = 0) -> tuple[int, int] | None:
            """The (process, exec generation) whose execve started what ``tgid`` runs at
            ``gen``: itself, or the parent it was forked from (a fork inherits
            self_exec_id)."""
            if (tgid, gen) in maps.exes:
                return (tgid, gen)
            parent = parents.get(tgid)
            if parent is None or depth > 256:
                return None
            return program_of(parent, gen, depth + 1)

        def exe_of(tgid: int, gen: int, depth: int = 0) -> str:
            program = program_of(tgid, gen)
            if program is None:
                return os.path.realpath(self.path) if tgid == main else "?"
            name = maps.exes[program]
            if _SELF_EXEC.fullmatch(name) and depth < 64:
                # A re-exec of itself (runc init, from /proc/self/exe or a copy of its binary
                # behind an fd): the program that made it, not the path read in this process,
                # where /proc/self/exe is the recorder.
                return exe_of(program[0], program[1] - 1, depth + 1)
            if self.options.container and in_container(tgid, gen):
                return name  # a path in the container's mount namespace, not the host's
            return _exe_path(name)

        base_level = maps.levels.get((main, first_main_exec), 0)

        def in_container(tgid: int, gen: int) -> bool:
            """Whether the program started in a deeper pid namespace than the command's."""
            program = program_of(tgid, gen)
            return program is not None and maps.levels.get(program, 0) > base_level

        def recorded(tgid: int, gen: int) -> bool:
            return not self.options.container or in_container(tgid, gen)

        order = sorted({main, *parents, *(k[0] for k in maps.calls)},
                       key=lambda p: (p != main, p))
        if self.options.container:
            order = [tgid for tgid in order
                     if any(recorded(tgid, g) for g in (*exec_gens.get(tgid, []),
                                                          *(k[1] for k in maps.calls
                                                            if k[0] == tgid)))]
            if not order:
                raise RecordError(
                    "record --container: no container was seen (no program started in a new "
                    "pid namespace below the command)",
                    hint="COMMAND must start the container and wait for it: runc run, crun "
                    "run, podman run (not -d)")
            excluded = sorted({exe_of(k[0], k[1]) for k in maps.calls
                               if not recorded(k[0], k[1])})
            self.notes.append("container only: the runtime's own processes were not recorded "
                              f"({', '.join(excluded) or 'none'})")
        parent_of_main = self.reaper.pid if self.reaper is not None else os.getpid()
        kept = set(order)
        for tgid in order:
            gens = sorted(g for g in exec_gens.get(tgid, []) if recorded(tgid, g))
            ppid = parent_of_main if tgid == main else parents.get(tgid)
            if self.options.container and ppid not in kept:
                ppid = None
            exes = [exe_of(tgid, g) for g in gens]
            inherited = [k[1] for k in maps.calls
                         if k[0] == tgid and k[1] not in gens and recorded(tgid, k[1])]
            if tgid != main and inherited:  # what it ran from fork to its first execve
                exes.insert(0, exe_of(tgid, min(inherited)))
            status = maps.exits.get(tgid)
            raw.processes[tgid] = ProcessState(
                pid=tgid, ppid=ppid, exes=exes, threads=1 + threads.get(tgid, 0),
                exit=None if status is None else ExitStatus.from_wait_status(status & 0xFFFF))
        if main in raw.processes:
            raw.processes[main].exit = self.main_status

        returned: dict[tuple[int, int, int, int], dict[int, int]] = {}
        for (tgid, gen, nr, compat, result), n in maps.results.items():
            returned.setdefault((tgid, gen, nr, compat), {})[result] = n
        tokens: dict[tuple[int, int], int] = {}
        exec_counted: set[tuple[int, int]] = set()
        site_of = self._site_counter(raw, maps, exe_of)
        # Sorted so that the first token of a syscall is the earliest program that made it.
        for (tgid, gen, nr, compat), n in sorted(maps.calls.items()):
            audit = call_arch(nr, compat)
            made_in = gen
            if tgid == main and gen < first_main_exec and not is_exec(audit, nr):
                continue  # our child before its execve
            if not recorded(tgid, gen):
                if not (is_exec(audit, nr) and recorded(tgid, gen + 1)):
                    continue
                # The execve that started a container's program is that program's first call,
                # as every backend records it.
                gen += 1
                exec_counted.add((tgid, gen))
            token = tokens.get((tgid, gen))
            if token is None:
                token = tokens[(tgid, gen)] = raw.new_token(tgid, exe_of(tgid, gen))
            for result, count in _split_by_result(n, returned.get((tgid, gen, nr, compat), {})):
                raw.count(audit, nr, token, result, count)
            site_of(tgid, made_in, nr, compat, audit)
        if self.options.container:
            # A task that joined at its execve (below docker's cgroup) was not seen entering
            # it: its program still began with one successful execve.
            execve = syscall_number("x86_64", "execve")
            for tgid, gen in sorted(maps.exes):
                if (recorded(tgid, gen) and not recorded(tgid, gen - 1)
                        and (tgid, gen) not in exec_counted):
                    token = tokens.get((tgid, gen))
                    if token is None:
                        token = tokens[(tgid, gen)] = raw.new_token(tgid, exe_of(tgid, gen))
                    raw.count(AUDIT_ARCH_X86_64, execve, token, 0, 1)
        self._add_args(raw, maps, recorded)
        self._note_unknown_sites(raw)
        if maps.lost:
            self.notes.append("BPF maps were full; not recorded: " + ", ".join(
                f"{n} {what}" for what, n in sorted(maps.lost.items())))
        if any(len(e) >= STRLEN - 1 for e in maps.exes.values()):
            self.notes.append(f"executable paths longer than {STRLEN - 1} bytes are truncated")
        header = recording_header(
            self.argv, "ebpf", pinned_cpu=self.pinned_cpu,
            started=started_wall, duration_s=duration,
            exit=self.main_status, notes=self.notes,
            records_args=True,
            records_results=True,
        )
        return build_trace(raw, header, arch_name, syscall_name)

    def _site_counter(self, raw: RawRecording, maps: Counts, exe_of: Callable[[int, int], str]
                      ) -> Callable[[int, int, int, int, int], None]:
        """A function that adds the calls of one (process, program, nr, compat) to
        ``raw.site_calls`` by call site (:mod:`.ebpf_sites`)."""
        from ..linux.codemaps import SiteResolver, read_maps

        assert self.site_paths is not None
        site_paths = self.site_paths
        by_key: dict[tuple[int, int, int, int], list[tuple[int, int]]] = {}
        for (tgid, gen, nr, compat, ip), n in sorted(maps.site_calls.items()):
            by_key.setdefault((tgid, gen, nr, compat), []).append((ip, n))
        for tgid, gen in sorted(maps.exes):
            site_paths.add_file(exe_of(tgid, gen))
        for mapping in read_maps(os.getpid()) or ():  # libc and ld.so, as a child has them
            site_paths.add_file(mapping.path)
        resolver = SiteResolver(raw.sites)

        def count(tgid: int, gen: int, nr: int, compat: int, audit: int) -> None:
            for ip, n in by_key.get((tgid, gen, nr, compat), ()):
                sid = resolver.site_id(*site_paths.site(tgid, gen, ip, maps.sites))
                key = (audit, nr, sid)
                raw.site_calls[key] = raw.site_calls.get(key, 0) + n

        return count

    def _note_unknown_sites(self, raw: RawRecording) -> None:
        """Say in the header how many calls have no known site, if any."""
        from ..linux.codemaps import UNKNOWN

        total = sum(raw.site_calls.values())
        unknown = sum(n for (_, _, sid), n in raw.site_calls.items()
                      if raw.sites[sid][0] == UNKNOWN)
        if unknown:
            self.notes.append(
                f"call sites: {unknown} of {total} calls ({100 * unknown / total:.1f}%) are "
                f"{UNKNOWN}: their file could not be found (a process gone before its maps "
                "were read, a file mapped by no process seen)")

    @staticmethod
    def _add_args(raw: RawRecording, maps: Counts,
                  recorded: Callable[[int, int], bool]) -> None:
        """The argument value pairs of the recorded programs as the other backends keep them:
        per (arch, nr), a set of rows of the spec's length, at most ARG_VALUE_CAP of them (the
        lowest, so that the choice is stable), ``capped`` when there were more."""
        counted = {k[:2] for k in raw.calls}
        merged: dict[tuple[int, int], set[tuple[int, int]]] = {}
        for (tgid, gen, nr, compat), pairs in maps.args.items():
            if recorded(tgid, gen):
                merged.setdefault((nr, compat), set()).update(pairs)
        for (nr, compat), pairs in sorted(merged.items()):
            audit = call_arch(nr, compat)
            key = (audit, nr)
            if key not in counted:
                continue  # only calls made before the workload's execve
            arch = arch_name(audit, nr)
            spec = fields_for(arch, syscall_name(arch, nr))
            if spec is None:
                continue
            mask = 0xFFFFFFFF if audit == AUDIT_ARCH_I386 else 0xFFFFFFFFFFFFFFFF
            rows = sorted({tuple(v & mask for v in pair[:len(spec)]) for pair in pairs})
            if len(rows) > ARG_VALUE_CAP:
                raw.capped.add(key)
            raw.args[key] = set(rows[:ARG_VALUE_CAP])


def _watched_args() -> list[tuple[int, int, tuple[int | None, ...]]]:
    """(compat bit, syscall number, argument registers) of every call whose arguments the other
    backends record (:data:`~seccomp_gen.syscalls.argspec.ARG_FIELDS`), for x86_64, x32 and i386."""
    watched = []
    for arch, compat in (("x86_64", 0), ("x32", 0), ("x86", TS_COMPAT)):
        for name in sorted(ARG_FIELDS):
            spec = fields_for(arch, name)
            nr = syscall_number(arch, name)
            if spec is not None and nr >= 0:
                watched.append((compat, nr, tuple(index for _, index in spec)))
    return watched


def _split_by_result(calls: int, failed: dict[int, int]) -> list[tuple[int, int]]:
    """(result, count) pairs for ``calls`` calls of which ``failed`` counts the errnos and, as
    :data:`UNRETURNED_KEY`, those never seen returning (``aggregate.UNRETURNED``); the rest
    returned 0."""
    from ..aggregate import UNRETURNED

    unreturned = failed.get(UNRETURNED_KEY, 0)
    pairs = sorted((errno, n) for errno, n in failed.items() if errno > 0)
    ok = calls - unreturned - sum(n for _, n in pairs)
    if ok > 0:
        pairs.insert(0, (0, ok))
    if unreturned:
        pairs.append((UNRETURNED, unreturned))
    return pairs


def _keys() -> int:
    """The calls map's size: :data:`KEYS_ENV`, else :data:`CALLS_MAX`."""
    text = os.environ.get(KEYS_ENV, "").strip()
    if not text:
        return CALLS_MAX
    if not text.isdigit() or not 1 <= int(text) <= 1 << 24:
        raise RecordError(f"{KEYS_ENV}={text!r} is not a number of keys between 1 and {1 << 24}")
    return int(text)


#: execve paths that run the calling program's own binary again (execveat of an fd shows as
#: /dev/fd/N).
_SELF_EXEC = re.compile(r"/proc/(self|[0-9]+)/(exe|fd/[0-9]+)|/dev/fd/[0-9]+")


def _exe_path(name: str) -> str:
    return os.path.realpath(name) if name.startswith("/") else name
