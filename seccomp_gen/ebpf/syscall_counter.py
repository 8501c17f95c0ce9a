"""The ebpf recorder's kernel side: five raw-tracepoint programs that count the syscalls of one
process tree in BPF maps, and the code that loads them and reads the maps back.

Programs (built with :mod:`.asm`, offsets from the kernel's BTF via :mod:`.btf`) on ``sys_enter``,
``sys_exit``, ``task_newtask``, ``sched_process_exec`` and ``sched_process_exit``: a thread
of ``tree`` adds one to ``calls[tgid, compat, self_exec_id, id]``, where ``compat`` is TS_COMPAT
(an i386 call) and ``(tgid, self_exec_id)`` one program's lifetime in one process. Counting is a
hash lookup and an atomic add per call; a full map counts what it dropped in ``lost``. What each
program does: docs/backends/ebpf.md, "The programs". ``exes`` keys carry the pid-namespace
level of each execve, and a task that execs below a watched cgroup joins the tree: how
``record --container`` tells a container from its runtime (docs/backends/ebpf.md, "Containers").
"""

from __future__ import annotations

import contextlib
import os
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ..syscalls.constants import CLONE_THREAD
from . import fieldcache
from . import kernel as k
from .asm import FP, R0, R1, R2, R3, R4, R6, R7, R8, R9, Program
from .btf import BTFError, Field

TS_COMPAT = 0x0002  # arch/x86/include/asm/thread_info.h
STRLEN = 256
CALLS_MAX = 1 << 18
TREE_MAX = 1 << 16
PROCS_MAX = 1 << 17
#: Indices of the ``lost`` counters.
LOST_CALLS, LOST_TREE, LOST_EXES, LOST_FORKS, LOST_EXITS, LOST_ARGS, LOST_SITES = range(7)
LOST_NAMES = ("calls", "threads followed", "executable names", "process links", "exit statuses",
              "argument values", "call sites")
ARGS_MAX = 1 << 16
#: Probe helper for user memory (clone3's flags live in the caller's struct clone_args).
PROBE_READ_USER = 112
EEXIST = 17
#: ``results`` key's result for a call never seen returning (its thread exited or exec'd in it).
UNRETURNED_KEY = -1
#: x86_64 getpgid: the seed call (harmless with any argument).
SEED_SYSCALL = 121

#: tgid, compat, self_exec_id, syscall number, then the instruction pointer of the call (where
#: it was made: a call site); the first four are the call's key in ``results`` and ``tree``.
_CALL_KEY = struct.Struct("<IIQqQ")
#: ``sites`` key: tgid, 0, self_exec_id, instruction pointer.
_SITE_KEY = struct.Struct("<IIQQ")
#: ``sites`` value: struct bpf_stack_build_id (status, build id, file offset or the address).
_SITE = struct.Struct("<i20sQ")
SITES_MAX = 1 << 16
#: bpf_get_stack: the user stack, its frames as (build id, file offset).
GET_STACK, F_USER_STACK, F_USER_BUILD_ID = 67, 1 << 8, 1 << 11
#: struct bpf_stack_build_id.status: a build id and an offset; only the address (no file, or
#: the mm lock was busy); nothing.
BUILD_ID_VALID, BUILD_ID_IP = 1, 2
_RESULT_KEY = struct.Struct("<IIQqq")  # a call key, then 0 or the errno it returned
#: ``tree`` value: a flag and the key of the call the thread is in (so its exit can be matched).
_THREAD = struct.Struct("<II24x")
_EXE_KEY = struct.Struct("<IIQ")  # tgid, pid namespace level, self_exec_id
#: ``argspec`` value: pt_regs offset of the first and second value, clone3 flag, watched flag.
_SPEC = struct.Struct("<IIII")
#: ``argspec`` is an array indexed by :func:`spec_index`: an array lookup is inlined by the
#: verifier, a hash lookup (made at every call, watched or not) is a helper call.
SPEC_SLOTS = 1 << 12
#: The bits of a syscall number :func:`spec_index` keeps: the low ten and the x32 bit.
_SPEC_NR_BITS = 0x400003FF


def spec_index(compat: int, nr: int) -> int | None:
    """``argspec``'s slot for syscall ``nr`` called with this ``compat`` bit: the number's low
    ten bits, the x32 bit as bit 11, TS_COMPAT as bit 10; None for a number that has no slot."""
    if nr < 0 or nr & ~_SPEC_NR_BITS:
        return None
    return (nr & 0x3FF) | ((nr >> 19) & 0x800) | ((compat & TS_COMPAT) << 9)
#: compat, syscall number, first and second value, then the program that made the call (tgid,
#: 0, self_exec_id), so that the values of a container and of its runtime stay apart.
_ROW_KEY = struct.Struct("<IIQQIIQ")
_U32, _S32, _U64 = struct.Struct("<I"), struct.Struct("<i"), struct.Struct("<Q")
_FORK = struct.Struct("<II")  # forks value: parent tgid, CLONE_THREAD bit
_NAME = struct.Struct(f"<{STRLEN}s")


def _imm32(value: int) -> int:
    """``value`` as the signed 32-bit immediate the kernel sign-extends back to it."""
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value >= 1 << 31 else value


def _pairs(map_: k.Map, key: struct.Struct, value: struct.Struct
           ) -> Iterator[tuple[tuple[Any, ...], tuple[Any, ...]]]:
    """The unpacked (key, value) tuples of every entry of ``map_``."""
    keys, values = map_.dump()
    return zip(key.iter_unpack(keys), value.iter_unpack(values), strict=True)

#: The struct members the programs read: (struct, member path).
FIELDS = {
    "pid": ("task_struct", "pid"),
    "exec_id": ("task_struct", "self_exec_id"),
    "exit_code": ("task_struct", "exit_code"),
    "status": ("task_struct", "thread_info.status"),
    "filename": ("linux_binprm", "filename"),
    "thread_pid": ("task_struct", "thread_pid"),
    "pid_level": ("pid", "level"),
    **{f"reg_{r}": ("pt_regs", r) for r in ("di", "si", "dx", "r10", "r8", "r9", "bx", "cx", "bp",
                                              "ip")},
    # Where the vDSO is (x86): a call made in it has no file for bpf_get_stack to name.
    "mm": ("task_struct", "mm"),
    "vdso": ("mm_struct", "context.vdso"),
    "vdso_image": ("mm_struct", "context.vdso_image"),
    "vdso_size": ("vdso_image", "size"),
}
#: Members the recorder works without (call sites in the vDSO are then [unknown]).
OPTIONAL = frozenset({"mm", "vdso", "vdso_image", "vdso_size"})
#: The registers that carry syscall arguments 0-5, for 64-bit (and x32) and for 32-bit calls.
ARG_REGISTERS = {0: ("di", "si", "dx", "r10", "r8", "r9"), TS_COMPAT: ("bx", "cx", "dx", "si",
                                                                      "di", "bp")}


@dataclass
class Counts:
    """What the maps held at the end of a run."""

    calls: dict[tuple[int, int, int, int], int] = field(default_factory=dict)
    #: (tgid, self_exec_id, nr, compat, instruction pointer) -> calls made there; they add up
    #: to ``calls``.
    site_calls: dict[tuple[int, int, int, int, int], int] = field(default_factory=dict)
    #: (tgid, self_exec_id, instruction pointer) -> (status, build id, file offset or address),
    #: as the kernel resolved that address when it first saw it (bpf_get_stack).
    sites: dict[tuple[int, int, int], tuple[int, bytes, int]] = field(default_factory=dict)
    exes: dict[tuple[int, int], str] = field(default_factory=dict)
    #: (tgid, self_exec_id) -> the depth of the pid namespace that execve ran in (0: the initial
    #: one).
    levels: dict[tuple[int, int], int] = field(default_factory=dict)
    forks: dict[int, tuple[int, bool]] = field(default_factory=dict)
    exits: dict[int, int] = field(default_factory=dict)
    #: (tgid, self_exec_id, nr, compat, result) -> how many of those calls failed with that
    #: errno, or (result :data:`UNRETURNED_KEY`) never returned (exit, an execve by a thread
    #: other than the leader, a thread killed mid-call); the rest of ``calls`` succeeded.
    results: dict[tuple[int, int, int, int, int], int] = field(default_factory=dict)
    #: (tgid, self_exec_id, syscall number, compat) -> every distinct (first, second) argument
    #: value pair that program made.
    args: dict[tuple[int, int, int, int], set[tuple[int, int]]] = field(default_factory=dict)
    lost: dict[str, int] = field(default_factory=dict)


def kernel_fields(cached: bool = False) -> dict[str, Field]:
    """The offsets of :data:`FIELDS` in the running kernel, parsed from its BTF (when
    ``cached``, once per kernel build: kept in the per-user cache, :mod:`.fieldcache`)."""
    return fieldcache.members(FIELDS, cached, check_fields, OPTIONAL)


def check_fields(fields: dict[str, Field]) -> None:
    """Refuse offsets whose sizes the programs cannot read with (BTFError)."""
    for name in ("pid", "exit_code", "status"):
        if fields[name].size != 4:
            raise BTFError(f"task_struct member for {name} is {fields[name].size} bytes, not 4")
    if fields["filename"].size != 8 or fields["exec_id"].size not in (4, 8):
        raise BTFError("unexpected sizes of linux_binprm.filename or task_struct.self_exec_id")
    if fields["thread_pid"].size != 8 or fields["pid_level"].size != 4:
        raise BTFError("unexpected sizes of task_struct.thread_pid or struct pid.level")
    if any(fields[f"reg_{r}"].size != 8 for r in (*ARG_REGISTERS[0], *ARG_REGISTERS[TS_COMPAT],
                                                  "ip")):
        raise BTFError("unexpected sizes of struct pt_regs members")
    if any(fields[name].size not in (0, 8) for name in OPTIONAL):
        raise BTFError("unexpected sizes of the vDSO's members (task_struct.mm, mm_struct.context)")


class SyscallCounter:
    """The maps and attached programs of one recording. Use as a context manager: leaving it
    detaches the programs and frees the maps."""

    def __init__(self, fields: dict[str, Field], seed_key: int,
                 calls_max: int = CALLS_MAX, cgroup: tuple[int, int] | None = None) -> None:
        self.fields = fields
        self.seed_key = seed_key
        #: (id, level) of a cgroup v2 directory: a task below it that execs joins the tree
        #: (how ``record --container`` finds a container a daemon starts, not the command).
        self.cgroup = cgroup
        self._maps: list[k.Map] = []
        self._fds: list[int] = []
        try:
            self.tree = self._map("sg_tree", k.MAP_TYPE_HASH, 4, _THREAD.size, TREE_MAX)
            self.calls = self._map("sg_calls", k.MAP_TYPE_HASH, _CALL_KEY.size, 8, calls_max)
            self.results = self._map("sg_results", k.MAP_TYPE_HASH, _RESULT_KEY.size, 8,
                                     calls_max)
            self.exes = self._map("sg_exes", k.MAP_TYPE_HASH, _EXE_KEY.size, STRLEN, PROCS_MAX)
            self.forks = self._map("sg_forks", k.MAP_TYPE_HASH, 4, 8, PROCS_MAX)
            self.exits = self._map("sg_exits", k.MAP_TYPE_HASH, 4, 4, PROCS_MAX)
            self.lost = self._map("sg_lost", k.MAP_TYPE_ARRAY, 4, 8, len(LOST_NAMES))
            self.seed = self._map("sg_seed", k.MAP_TYPE_ARRAY, 4, 8, 1)
            self.argspec = self._map("sg_argspec", k.MAP_TYPE_ARRAY, 4, _SPEC.size, SPEC_SLOTS)
            self.argrows = self._map("sg_args", k.MAP_TYPE_HASH, _ROW_KEY.size, 4, ARGS_MAX)
            self.sites = self._map("sg_sites", k.MAP_TYPE_HASH, _SITE_KEY.size, _SITE.size,
                                   SITES_MAX)
        except BaseException:
            self.close()
            raise

    def _map(self, name: str, map_type: int, key: int, value: int, entries: int) -> k.Map:
        flags = k.F_NO_PREALLOC if map_type == k.MAP_TYPE_HASH else 0
        created = k.Map(name, map_type, key, value, entries, flags)
        self._maps.append(created)
        return created

    def __enter__(self) -> SyscallCounter:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def attach(self) -> None:
        """Load and attach the programs. When this returns, every probe is live."""
        # Exit and exec first, sys_enter last: nothing is counted for a thread we cannot follow.
        for tracepoint, program in (("sched_process_exit", self._on_exit()),
                                    ("sched_process_exec", self._on_exec()),
                                    ("task_newtask", self._on_newtask()),
                                    ("sys_exit", self._on_sys_exit()),
                                    ("sys_enter", self._on_sys_enter())):
            prog = k.load_program(f"sg_{tracepoint}"[:15], program.code())
            self._fds.append(prog)
            self._fds.append(k.attach_raw_tracepoint(tracepoint, prog))

    def watch_args(self, compat: int, nr: int, registers: tuple[int | None, ...]) -> None:
        """Record the distinct values of up to two argument registers (indexes 0-5) of syscall
        ``nr`` called with this ``compat`` bit; ``None`` (clone3) means the u64 that argument 0
        points to. Best before :meth:`attach`; the map is read at every call, so later works too."""
        if not 1 <= len(registers) <= 2:
            raise ValueError(f"between one and two registers, not {len(registers)}")
        names = ARG_REGISTERS[compat]
        offsets = [self.fields[f"reg_{names[r if r is not None else 0]}"].offset
                   for r in registers]
        clone3 = registers[0] is None
        index = spec_index(compat, nr)
        if index is None:
            raise ValueError(f"syscall number {nr:#x} has no argspec slot")
        self.argspec.update(_U32.pack(index), _SPEC.pack(offsets[0], offsets[-1], int(clone3), 1))

    def totals(self) -> tuple[int, int]:
        """(calls, distinct (nr, compat) pairs) counted so far: for a live status line."""
        total, distinct = 0, set()
        for (_, compat, _, nr, _), (n,) in _pairs(self.calls, _CALL_KEY, _U64):
            total += n
            distinct.add((nr, compat))
        return total, len(distinct)

    def seeded(self) -> tuple[int, int] | None:
        """(tgid, tid) of the thread that made the seed call, as the kernel's initial pid namespace
        numbers them, or None if none did."""
        value = self.seed.lookup(_U32.pack(0))
        if value is None or value == bytes(8):
            return None
        both = _U64.unpack(value)[0]
        return both >> 32, both & 0xFFFFFFFF

    def detach(self) -> None:
        """Stop counting; the maps stay readable."""
        for fd in self._fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        self._fds = []

    def read(self) -> Counts:
        """Everything the maps hold (each map read in a few batches)."""
        counts = Counts()
        for (tgid, compat, gen, nr, ip), (n,) in _pairs(self.calls, _CALL_KEY, _U64):
            counts.site_calls[(tgid, gen, nr, compat, ip)] = n
            key = (tgid, gen, nr, compat)
            counts.calls[key] = counts.calls.get(key, 0) + n
        counts.sites = self.read_sites()
        counts.results = {(tgid, gen, nr, compat, result): n
                          for (tgid, compat, gen, nr, result), (n,)
                          in _pairs(self.results, _RESULT_KEY, _U64)}
        for (tgid, level, gen), (name,) in _pairs(self.exes, _EXE_KEY, _NAME):
            counts.exes[(tgid, gen)] = name.split(b"\0", 1)[0].decode(errors="surrogateescape")
            counts.levels[(tgid, gen)] = level
        counts.forks = {tid: (parent, thread != 0)
                        for (tid,), (parent, thread) in _pairs(self.forks, _U32, _FORK)}
        counts.exits = {tid: status for (tid,), (status,) in _pairs(self.exits, _U32, _S32)}
        for (compat, nr, first, second, tgid, _, gen), _ in _pairs(self.argrows, _ROW_KEY, _U32):
            counts.args.setdefault((tgid, gen, nr, compat), set()).add((first, second))
        lost = dict(_pairs(self.lost, _U32, _U64))
        for index, name in enumerate(LOST_NAMES):
            n = lost.get((index,), (0,))[0]
            if n:
                counts.lost[name] = n
        return counts

    def read_sites(self) -> dict[tuple[int, int, int], tuple[int, bytes, int]]:
        """What ``sites`` holds (see :attr:`Counts.sites`); cheap enough to poll during a run."""
        return {(tgid, gen, ip): site
                for (tgid, _, gen, ip), site in _pairs(self.sites, _SITE_KEY, _SITE)}

    def close(self) -> None:
        """Detach and free everything."""
        self.detach()
        for created in self._maps:
            created.close()
        self._maps = []

    # -- the programs -----------------------------------------------------------------------------
    # Stack layout is per program; every byte handed to a helper as a key or value is written
    # first, as the verifier demands.

    @staticmethod
    def _lookup(p: Program, map_: k.Map, key_slot: int, helper: int = k.MAP_LOOKUP) -> None:
        """r0 = map[FP+key_slot] (a pointer to the value, or 0), or another one-key helper."""
        p.ld_map(R1, map_.fd)
        p.stack_addr(R2, key_slot)
        p.call(helper)

    def _in_tree(self, p: Program, tid_reg: int, slot: int, miss: str = "out") -> None:
        """Store the low half of ``tid_reg`` at ``FP+slot``; go to ``miss`` unless it is in the
        tree."""
        p.store(FP, slot, tid_reg, 4)
        self._lookup(p, self.tree, slot)
        p.jeq_imm(R0, 0, miss)

    def _current_in_tree(self, p: Program, miss: str = "out") -> None:
        """r6 = ctx, r7 = tgid << 32 | tid of the caller, r0 = its ``tree`` entry; exit unless the
        caller is in the tree."""
        p.mov(R6, R1)
        p.call(k.GET_CURRENT_PID_TGID)
        p.mov(R7, R0)
        self._in_tree(p, R7, -4, miss)

    def _read_kernel(self, p: Program, slot: int, size: int, base: int, offset: int) -> None:
        """FP+slot = the ``size`` bytes at kernel address ``base + offset`` (zeros on a fault)."""
        p.stack_addr(R1, slot)
        p.mov_imm(R2, size)
        p.mov(R3, base)
        p.add_imm(R3, offset)
        p.call(k.PROBE_READ_KERNEL)

    def _exec_id(self, p: Program, slot: int, task: int) -> None:
        """FP+slot (8 bytes) = ``task->self_exec_id``, zero-extended when it is a u32."""
        size = self.fields["exec_id"].size
        if size == 4:
            p.store_imm(FP, slot + 4, 0, 4)
        self._read_kernel(p, slot, size, task, self.fields["exec_id"].offset)

    def _update(self, p: Program, map_: k.Map, key_slot: int, value_slot: int, lost: int,
                flags: int = k.ANY) -> None:
        """map[FP+key_slot] = FP+value_slot; a failure adds one to ``lost[lost]``."""
        p.ld_map(R1, map_.fd)
        p.stack_addr(R2, key_slot)
        p.stack_addr(R3, value_slot)
        p.mov_imm(R4, flags)
        p.call(k.MAP_UPDATE)
        skip = f"ok{len(p.insns)}"
        p.jeq_imm(R0, 0, skip)
        p.jeq_imm(R0, -EEXIST, skip)  # NOEXIST lost a race to another CPU: the key is there
        self._count_lost(p, lost)
        p.label(skip)

    def _count_lost(self, p: Program, index: int) -> None:
        p.store_imm(FP, -4, index, 4)  # slot -4 is free again once membership was checked
        self._lookup(p, self.lost, -4)
        skip = f"nolost{len(p.insns)}"
        p.jeq_imm(R0, 0, skip)
        p.mov_imm(R1, 1)
        p.atomic_add64(R0, 0, R1)
        p.label(skip)

    @staticmethod
    def _finish(p: Program) -> Program:
        p.label("out")
        p.mov_imm(R0, 0)
        p.exit()
        return p

    def _on_sys_enter(self) -> Program:
        # ctx: u64[2] = {struct pt_regs *regs, long id}. Key at FP-32: tgid, compat, gen, id.
        p = Program()
        self._current_in_tree(p, miss="seed")
        p.mov(R9, R0)
        p.rsh_imm(R7, 32)
        p.store(FP, -32, R7, 4)
        p.call(k.GET_CURRENT_TASK)
        p.mov(R8, R0)
        self._read_kernel(p, -40, 4, R8, self.fields["status"].offset)
        p.load(R1, FP, -40, 4)
        p.and_imm(R1, TS_COMPAT)
        p.store(FP, -28, R1, 4)
        self._exec_id(p, -24, R8)
        p.load(R1, R6, 8, 8)
        p.store(FP, -16, R1, 8)
        p.load(R3, R6, 0, 8)  # struct pt_regs *: the call's instruction pointer at FP-8
        self._read_kernel(p, -8, 8, R3, self.fields["reg_ip"].offset)
        for off in (0, 8, 16):  # the thread's entry: this call is in flight
            p.load(R1, FP, -32 + off, 8)
            p.store(R9, 8 + off, R1, 8)
        p.store_imm(R9, 0, 1, 4)
        self._increment(p, self.calls, -32, LOST_CALLS, self._new_site)
        self._record_args(p)
        p.ja("out")
        self._seed(p)
        return self._finish(p)

    def _seed(self, p: Program) -> None:
        """A thread outside the tree that calls ``getpgid(seed_key)`` joins it, and its ids go to
        ``seed``: that is how the workload's first process is found, whatever pid namespace we
        run in (the programs see the initial namespace's numbers, we may not)."""
        p.label("seed")
        p.load(R1, R6, 8, 8)
        p.jne_imm(R1, SEED_SYSCALL, "out")
        p.load(R8, R6, 0, 8)
        self._read_kernel(p, -16, 8, R8, self.fields["reg_di"].offset)
        p.load(R1, FP, -16, 8)
        p.ld_imm64(R2, self.seed_key)
        p.jne(R1, R2, "out")
        self._zero(p, -64, _THREAD.size)
        self._update(p, self.tree, -4, -64, LOST_TREE)
        p.store(FP, -72, R7, 8)
        p.store_imm(FP, -76, 0, 4)
        self._update(p, self.seed, -76, -72, LOST_TREE)

    def _increment(self, p: Program, map_: k.Map, key_slot: int, lost: int,
                   inserted: Callable[[Program], None] | None = None) -> None:
        """map[FP+key_slot] += 1, inserting 1 for a new key (FP-48 is used for the value);
        ``inserted`` emits what runs after this CPU inserted a new key."""
        done, add, insert, raced = (f"{name}{len(p.insns)}"
                                    for name in ("done", "add", "insert", "raced"))
        # The common case: the key exists, add one.
        self._lookup(p, map_, key_slot)
        p.jeq_imm(R0, 0, insert)
        p.label(add)
        p.mov_imm(R1, 1)
        p.atomic_add64(R0, 0, R1)
        p.ja(done)
        # First call with this key: insert 1. If another CPU inserted it meanwhile, add to that.
        p.label(insert)
        p.store_imm(FP, -48, 1, 8)
        p.ld_map(R1, map_.fd)
        p.stack_addr(R2, key_slot)
        p.stack_addr(R3, -48)
        p.mov_imm(R4, k.NOEXIST)
        p.call(k.MAP_UPDATE)
        p.jne_imm(R0, 0, raced)
        if inserted is not None:
            inserted(p)
        p.ja(done)
        p.label(raced)
        self._lookup(p, map_, key_slot)
        p.jne_imm(R0, 0, add)
        self._count_lost(p, lost)
        p.label(done)

    def _new_site(self, p: Program) -> None:
        """The first call of a key in ``calls``: unless ``sites`` knows its (program, address),
        ask the kernel where the address is, as (build id, file offset) of the mapped file
        (bpf_get_stack's first user frame is the caller's instruction pointer), and keep that.
        Done here, while the address space is alive; the maps are read after it has gone.

        Site key at FP-128: tgid (FP-32), 0, self_exec_id (FP-24), ip (FP-8); the answer at
        FP-160 (zeroed by the kernel when it has none).
        """
        known = f"site{len(p.insns)}"
        p.load(R1, FP, -32, 4)
        p.store(FP, -128, R1, 4)
        p.store_imm(FP, -124, 0, 4)
        p.load(R1, FP, -24, 8)
        p.store(FP, -120, R1, 8)
        p.load(R1, FP, -8, 8)
        p.store(FP, -112, R1, 8)
        self._lookup(p, self.sites, -128)
        p.jne_imm(R0, 0, known)
        p.mov(R1, R6)
        p.stack_addr(R2, -160)
        p.mov_imm(R3, _SITE.size)
        p.mov_imm(R4, F_USER_STACK | F_USER_BUILD_ID)
        p.call(GET_STACK)
        if all(self.fields[name].size == 8 for name in OPTIONAL):
            self._vdso(p)
        self._update(p, self.sites, -128, -160, LOST_SITES, k.NOEXIST)
        p.label(known)

    def _vdso(self, p: Program) -> None:
        """When the kernel gave only the address (no file: anonymous memory, the vDSO), put
        where this process's vDSO is, ``mm->context.vdso`` and ``vdso_image->size``, in the
        first 16 bytes of the answer's (unused) build id, so that a call made in the vDSO is
        placed after the run as ``[vdso]`` and its offset, as the other backends place it."""
        done = f"vdso{len(p.insns)}"
        f = self.fields
        p.load(R1, FP, -160, 4)
        p.jne_imm(R1, BUILD_ID_IP, done)
        p.call(k.GET_CURRENT_TASK)
        p.mov(R8, R0)
        self._read_kernel(p, -168, 8, R8, f["mm"].offset)
        p.load(R8, FP, -168, 8)
        p.jeq_imm(R8, 0, done)
        self._read_kernel(p, -156, 8, R8, f["vdso"].offset)
        self._read_kernel(p, -176, 8, R8, f["vdso_image"].offset)
        p.load(R3, FP, -176, 8)
        p.jeq_imm(R3, 0, done)
        self._read_kernel(p, -148, 8, R3, f["vdso_size"].offset)
        p.label(done)

    def _on_sys_exit(self) -> Program:
        # ctx: u64[2] = {struct pt_regs *regs, long ret}. The thread's entry holds the key of the
        # call it entered; a failure counts (key, errno) once; then the flag is cleared. A
        # success counts nothing: successes are the calls less the failures and the unreturned,
        # which saves a hash update on most calls.
        p = Program()
        self._current_in_tree(p)
        p.mov(R9, R0)
        p.load(R1, R9, 0, 4)
        p.jeq_imm(R1, 0, "out")
        p.store_imm(R9, 0, 0, 4)
        p.load(R1, R6, 8, 8)
        p.mov(R2, R1)
        p.add_imm(R2, 4095)
        p.jgt_imm(R2, 4094, "out")  # not in -4095..-1: success
        p.neg(R1)
        p.store(FP, -16, R1, 8)
        self._count_call(p, R9, -40)
        return self._finish(p)

    def _count_call(self, p: Program, entry: int, slot: int, result: int | None = None) -> None:
        """results[the call in ``entry``'s key, result] += 1, with the key at FP+slot (32 bytes)
        and the result already at FP+slot+24, or ``result`` stored there."""
        for off in (0, 8, 16):
            p.load(R1, entry, 8 + off, 8)
            p.store(FP, slot + off, R1, 8)
        if result is not None:
            p.store_imm(FP, slot + 24, result, 8)
        self._increment(p, self.results, slot, LOST_CALLS)

    @staticmethod
    def _zero(p: Program, slot: int, size: int) -> None:
        """FP+slot .. +size = 0 (size a multiple of 8)."""
        for off in range(0, size, 8):
            p.store_imm(FP, slot + off, 0, 8)

    def _record_args(self, p: Program) -> None:
        """If ``argspec`` names this call, add its argument values to ``argrows``.

        Row key at FP-88: compat (from FP-28), nr (low half of FP-16), two u64 values, read from
        the ``struct pt_regs`` the tracepoint hands us at the offsets the spec gives, then tgid
        (FP-32), a zero and self_exec_id (FP-24) at FP-64.
        """
        p.load(R1, FP, -16, 8)  # argspec[spec_index(compat, nr)] at FP-96
        p.mov(R2, R1)
        p.and_imm(R2, _imm32(~_SPEC_NR_BITS))
        p.jne_imm(R2, 0, "out")
        p.mov(R2, R1)
        p.rsh_imm(R2, 19)
        p.and_imm(R2, 0x800)
        p.and_imm(R1, 0x3FF)
        p.or_(R1, R2)
        p.load(R2, FP, -28, 4)
        p.lsh_imm(R2, 9)
        p.or_(R1, R2)
        p.store(FP, -96, R1, 4)
        self._lookup(p, self.argspec, -96)
        p.jeq_imm(R0, 0, "out")
        p.load(R1, R0, 12, 4)
        p.jeq_imm(R1, 0, "out")  # not watched
        p.mov(R9, R0)
        p.load(R1, FP, -28, 4)
        p.store(FP, -88, R1, 4)
        p.load(R1, FP, -16, 4)
        p.store(FP, -84, R1, 4)
        for slot, spec_off in ((-80, 0), (-72, 4)):
            p.load(R3, R9, spec_off, 4)
            p.load(R1, R6, 0, 8)  # struct pt_regs *
            p.add(R3, R1)
            p.stack_addr(R1, slot)
            p.mov_imm(R2, 8)
            p.call(k.PROBE_READ_KERNEL)
        p.load(R1, R9, 8, 4)
        p.jeq_imm(R1, 0, "row")
        p.stack_addr(R1, -80)  # clone3: the flags are the first u64 of struct clone_args
        p.mov_imm(R2, 8)
        p.load(R3, FP, -80, 8)
        p.call(PROBE_READ_USER)
        p.jeq_imm(R0, 0, "copied")
        p.store_imm(FP, -80, -1, 8)  # unreadable: all bits set, as the other backends record
        p.label("copied")
        p.load(R1, FP, -80, 8)
        p.store(FP, -72, R1, 8)  # one value: the second slot repeats it
        p.label("row")
        p.load(R1, FP, -32, 4)
        p.store(FP, -64, R1, 4)
        p.store_imm(FP, -60, 0, 4)
        p.load(R1, FP, -24, 8)
        p.store(FP, -56, R1, 8)
        self._lookup(p, self.argrows, -88)
        p.jne_imm(R0, 0, "out")  # a pair seen before: nothing to do
        p.store_imm(FP, -92, 1, 4)
        self._update(p, self.argrows, -88, -92, LOST_ARGS, k.NOEXIST)

    def _on_newtask(self) -> Program:
        # ctx: {struct task_struct *task, u64 clone_flags}; runs in the parent.
        p = Program()
        self._current_in_tree(p)
        p.load(R8, R6, 0, 8)
        self._read_kernel(p, -8, 4, R8, self.fields["pid"].offset)  # the child's tid
        p.jne_imm(R0, 0, "out")
        self._zero(p, -40, _THREAD.size)
        self._update(p, self.tree, -8, -40, LOST_TREE)
        p.rsh_imm(R7, 32)
        p.store(FP, -24, R7, 4)  # forks value: parent tgid, is_thread
        p.load(R1, R6, 8, 8)
        p.and_imm(R1, CLONE_THREAD)
        p.store(FP, -20, R1, 4)
        self._update(p, self.forks, -8, -24, LOST_FORKS)
        return self._finish(p)

    def _on_exec(self) -> Program:
        # ctx: {struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm}; p is current.
        p = Program()
        p.mov(R6, R1)
        p.load(R7, R6, 8, 8)
        self._in_tree(p, R7, -4, "cgroup" if self.cgroup is not None else "out")
        # A thread other than the leader that execs takes the leader's tid (whose entry went
        # with the leader's exit): its entry, with the execve in flight, moves to that tid, so
        # that the execve's return is counted, as ptrace sees it.
        p.mov(R9, R0)
        p.call(k.GET_CURRENT_PID_TGID)
        p.mov32(R1, R0)
        p.jne(R1, R7, "moved")
        p.ja("member")
        p.label("moved")
        p.store(FP, -8, R1, 4)
        p.ld_map(R1, self.tree.fd)
        p.stack_addr(R2, -8)
        p.mov(R3, R9)
        p.mov_imm(R4, k.ANY)
        p.call(k.MAP_UPDATE)
        p.store(FP, -4, R7, 4)
        self._lookup(p, self.tree, -4, k.MAP_DELETE)
        p.label("member")
        p.call(k.GET_CURRENT_PID_TGID)
        p.mov(R7, R0)
        p.store(FP, -8, R7, 4)
        # NOEXIST: the usual exec keeps its tid, and its entry holds the execve in flight.
        self._zero(p, -320, _THREAD.size)
        self._update(p, self.tree, -8, -320, LOST_TREE, k.NOEXIST)
        p.rsh_imm(R7, 32)
        p.store(FP, -24, R7, 4)  # exes key: tgid, pid namespace level, gen
        p.call(k.GET_CURRENT_TASK)
        p.mov(R8, R0)
        self._exec_id(p, -16, R8)
        # level = current->thread_pid->level (FP-32 holds the pointer until the filename's).
        self._read_kernel(p, -32, 8, R8, self.fields["thread_pid"].offset)
        p.load(R9, FP, -32, 8)
        self._read_kernel(p, -20, 4, R9, self.fields["pid_level"].offset)
        p.load(R8, R6, 16, 8)
        self._read_kernel(p, -32, 8, R8, self.fields["filename"].offset)
        p.jne_imm(R0, 0, "out")
        p.stack_addr(R1, -32 - STRLEN)
        p.mov_imm(R2, STRLEN)
        p.load(R3, FP, -32, 8)
        p.call(k.PROBE_READ_KERNEL_STR)
        self._update(p, self.exes, -24, -32 - STRLEN, LOST_EXES)
        if self.cgroup is not None:
            cgroup_id, level = self.cgroup
            p.ja("out")
            p.label("cgroup")  # not in the tree: below the watched cgroup, it joins it now
            p.mov_imm(R1, level)
            p.call(k.GET_CURRENT_ANCESTOR_CGROUP_ID)
            p.ld_imm64(R2, cgroup_id)
            p.jne(R0, R2, "out")
            p.ja("member")
        return self._finish(p)

    def _on_exit(self) -> Program:
        # ctx: {struct task_struct *p, ...}; p is current. A call it is in never returns.
        p = Program()
        self._current_in_tree(p)
        p.mov(R9, R0)
        p.load(R1, R9, 0, 4)
        p.jeq_imm(R1, 0, "idle")
        self._count_call(p, R9, -40, UNRETURNED_KEY)
        p.store(FP, -4, R7, 4)  # the tree key again (a full results map uses the slot)
        p.label("idle")
        self._lookup(p, self.tree, -4, k.MAP_DELETE)
        p.mov(R1, R7)
        p.rsh_imm(R1, 32)
        p.mov32(R2, R7)
        p.jne(R1, R2, "out")  # only a leader's exit code is the process's
        p.store(FP, -8, R1, 4)
        p.call(k.GET_CURRENT_TASK)
        p.mov(R8, R0)
        self._read_kernel(p, -12, 4, R8, self.fields["exit_code"].offset)
        self._update(p, self.exits, -8, -12, LOST_EXITS)
        return self._finish(p)
