"""Static reachability as data: which syscalls the code of a program and its libraries can reach,
and by which path (``seccomp-gen analyze``, docs/analyze.md).

Pure: the ELF objects are read and disassembled by :mod:`seccomp_gen.files.binaries`, which
hands over one :class:`ObjectSummary` per object (its functions, the syscall numbers each makes
itself, and whom each calls). This module links them (an imported symbol goes to the first
object in load order that exports it, as the dynamic loader binds it), walks the call graph
from the roots breadth first (so each syscall's path is a shortest one) and ranks what was
reachable but not observed.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from .profile import Profile, Rule, normalize
from .syscalls.risks import DANGEROUS, LEVELS


@dataclass(frozen=True)
class Function:
    """One function (or, in stripped code, one stretch of code that a call lands on).

    ``syscalls``: the numbers its own syscall instructions load (or that it passes to
    ``syscall(2)``). ``unresolved``: how many of its syscall sites load a number no static
    reading can know. ``calls``: the local functions (their start addresses) it calls, jumps to
    or falls into; ``imports``: the imported symbols it calls through the PLT or GOT.
    ``indirect``: it makes a call or jump through a register or memory that is not a GOT slot
    (a function pointer), which may reach any address-taken function of its object.
    """

    name: str
    syscalls: frozenset[int] = frozenset()
    unresolved: int = 0
    calls: frozenset[int] = frozenset()
    imports: frozenset[str] = frozenset()
    indirect: bool = False


@dataclass(frozen=True)
class ObjectSummary:
    """One ELF object as the scanner read it.

    ``arch``: libseccomp's name of the syscall table its code uses (``x86_64``, ``x86``).
    ``exports``: defined dynamic symbols (functions) -> start address. ``roots``: the functions
    that run without being called from another object (entry point, init and fini functions,
    or every function, see :func:`reach`). ``address_taken``: functions whose address the object
    stores or computes (vtables, callbacks, signal restorers): the targets an indirect call may
    reach. ``notes``: what the scanner could not read (a Go binary, no symbols).
    """

    path: str
    build_id: str
    arch: str
    functions: Mapping[int, Function]
    exports: Mapping[str, int] = field(default_factory=dict)
    roots: frozenset[int] = frozenset()
    address_taken: frozenset[int] = frozenset()
    needed: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Site:
    """A place an unresolved syscall number is loaded: object, function, and how many sites."""

    path: str
    function: str
    count: int


@dataclass(frozen=True)
class Reach:
    """What one executable can reach: per syscall number, the path (``obj:function`` steps,
    from a root to the function making the call; a step marked ``(*)`` is reached through a
    function pointer: the caller makes an indirect call and the step's address is stored in
    its object's data), and the unresolved sites reached."""

    exe: str
    arch: str
    paths: Mapping[int, tuple[str, ...]]
    unresolved: tuple[Site, ...]
    notes: tuple[str, ...]
    objects: tuple[str, ...]
    build_ids: tuple[str, ...] = ()

    @property
    def numbers(self) -> frozenset[int]:
        return frozenset(self.paths)


def _short(path: str) -> str:
    return path.rsplit("/", 1)[-1]


def reach(objects: Sequence[ObjectSummary], *, indirect: bool = True) -> Reach:
    """The syscalls reachable from the roots of ``objects`` (the exe first, then its libraries
    in load order). ``indirect``: follow a function-pointer call to every address-taken function
    of the caller's object (sound for calls within an object; without it the result is the
    direct-call graph only)."""
    by_symbol: dict[str, tuple[int, int]] = {}
    for i, obj in enumerate(objects):
        for name, addr in obj.exports.items():
            by_symbol.setdefault(name, (i, addr))
    parent: dict[tuple[int, int], tuple[int, int] | None] = {}
    via_pointer: set[tuple[int, int]] = set()
    queue: deque[tuple[int, int]] = deque()
    # Roots no function of their object calls go first, so that a path starts where the
    # code is entered (main, not the PLT stub main calls); the rest follow once those are done.
    called = [set().union(*(f.calls for f in o.functions.values())) for o in objects]
    later = [(i, a) for i, o in enumerate(objects) for a in sorted(o.roots)
             if a in o.functions and a in called[i]]
    for i, obj in enumerate(objects):
        for addr in sorted(obj.roots):
            if addr in obj.functions and addr not in called[i] and (i, addr) not in parent:
                parent[(i, addr)] = None
                queue.append((i, addr))
    found: dict[int, tuple[int, int]] = {}
    unresolved: list[Site] = []
    taken_done: set[int] = set()
    while queue or later:
        if not queue:
            root = later.pop(0)
            if root not in parent:
                parent[root] = None
                queue.append(root)
            continue
        node = queue.popleft()
        i, addr = node
        obj = objects[i]
        fn = obj.functions[addr]
        for nr in sorted(fn.syscalls):
            found.setdefault(nr, node)
        if fn.unresolved:
            unresolved.append(Site(obj.path, fn.name, fn.unresolved))
        nexts = [(i, a) for a in sorted(fn.calls) if a in obj.functions]
        nexts += [by_symbol[s] for s in sorted(fn.imports) if s in by_symbol]
        for nxt in nexts:
            if nxt not in parent:
                parent[nxt] = node
                queue.append(nxt)
        if fn.indirect and indirect and i not in taken_done:
            taken_done.add(i)
            for a in sorted(obj.address_taken):
                if a in obj.functions and (i, a) not in parent:
                    parent[(i, a)] = node
                    via_pointer.add((i, a))
                    queue.append((i, a))

    def path_to(node: tuple[int, int]) -> tuple[str, ...]:
        steps: list[str] = []
        cur: tuple[int, int] | None = node
        while cur is not None:
            o = objects[cur[0]]
            mark = "(*)" if cur in via_pointer else ""
            steps.append(f"{mark}{_short(o.path)}:{o.functions[cur[1]].name}")
            cur = parent[cur]
        return tuple(reversed(steps))

    notes = tuple(f"{_short(o.path)}: {n}" for o in objects for n in o.notes)
    return Reach(exe=objects[0].path, arch=objects[0].arch,
                 paths={nr: path_to(node) for nr, node in sorted(found.items())},
                 unresolved=tuple(unresolved), notes=notes,
                 objects=tuple(o.path for o in objects),
                 build_ids=tuple(o.build_id for o in objects))


@dataclass(frozen=True)
class Unobserved:
    """A syscall reachable but never observed: its risk level (``LEVELS``, or ``""`` when
    the audit table does not list it), why, and one path that reaches it."""

    name: str
    nr: int
    level: str
    why: str
    path: tuple[str, ...]
    arch: str = ""

    def as_dict(self) -> dict[str, object]:
        return {"arch": self.arch, "name": self.name, "nr": self.nr, "risk": self.level or None,
                "why": self.why or None, "path": list(self.path)}


def risk_of(name: str) -> tuple[str, str]:
    """The audit table's level and reason for ``name``; ``("", "")`` if it lists none."""
    return DANGEROUS.get(name, ("", ""))


def rank_key(u: Unobserved) -> tuple[int, str]:
    """Most dangerous first, then by name."""
    return (-(LEVELS.index(u.level) + 1) if u.level else 0, u.name)


#: A syscall number of a 64-bit object made through ``int 0x80`` carries this bit: the i386
#: table names it (:func:`abi_of`).
COMPAT_BIT = 1 << 32
_X32_BIT = 0x40000000


def abi_of(arch: str, nr: int) -> tuple[str, int]:
    """The table that names ``nr`` found in an ``arch`` object: x86_64 code reaches the i386
    table through ``int 0x80`` (:data:`COMPAT_BIT`) and the x32 one with the x32 bit set."""
    if arch == "x86_64" and nr & COMPAT_BIT:
        return "x86", nr & 0xFFFFFFFF
    if arch == "x86_64" and nr & _X32_BIT:
        return "x32", nr
    return arch, nr


def named(r: Reach, name_of: Callable[[str, int], str | None]) -> dict[tuple[str, str], int]:
    """(arch, name) -> number of every syscall ``r`` reaches that a table names (``name_of``
    returns None for a number no syscall of the arch has: left out)."""
    out = {}
    for nr in r.paths:
        arch, n = abi_of(r.arch, nr)
        name = name_of(arch, n)
        if name is not None:
            out[(arch, name)] = nr
    return out


def unobserved(r: Reach, observed: Iterable[tuple[str, str]],
               name_of: Callable[[str, int], str | None]) -> tuple[Unobserved, ...]:
    """The syscalls of ``r`` (named by :func:`named`) not in ``observed`` ((arch, name)
    pairs), ranked by :func:`rank_key`."""
    seen = set(observed)
    out = []
    for (arch, name), nr in named(r, name_of).items():
        if (arch, name) in seen:
            continue
        level, why = risk_of(name)
        label = name if arch == r.arch else f"{name} ({arch})"
        out.append(Unobserved(name, abi_of(r.arch, nr)[1], level, why,
                              (*r.paths[nr], label), arch))
    return tuple(sorted(out, key=rank_key))


def risky(items: Iterable[Unobserved]) -> tuple[Unobserved, ...]:
    """Those the audit table lists as dangerous (any level above info)."""
    return tuple(u for u in items if u.level and u.level != "info")


#: ``generate --with-reachable``: ``safe`` adds what the audit does not flag (levels low and
#: up stay out), ``all`` adds everything reachable.
WIDEN_POLICIES = ("safe", "all")


def widen(profile: Profile, additions: Mapping[tuple[str, str], str], policy: str) -> Profile:
    """``profile`` with an allow rule for each reachable-but-unobserved (arch, name) in
    ``additions`` (value: the exe whose code reaches it) that ``policy`` takes, for the
    profile's arches only."""
    if policy not in WIDEN_POLICIES:
        raise ValueError(f"unknown widening policy {policy!r}")
    rules = list(profile.rules)
    added = 0
    for (arch, name), exe in sorted(additions.items()):
        if arch not in profile.architectures:
            continue
        level, _ = risk_of(name)
        if policy == "safe" and level and level != "info":
            continue
        rules.append(Rule(name, (arch,), comment=f"reachable in {_short(exe)}'s code, never "
                          "observed (seccomp-gen analyze)"))
        added += 1
    note = (f"--with-reachable {policy}: {added} syscalls reachable in the traced programs' "
            "code but never observed are allowed too")
    return normalize(replace(profile, rules=tuple(rules), notes=(*profile.notes, note)))


__all__ = ["WIDEN_POLICIES", "Function", "ObjectSummary", "Reach", "Site", "Unobserved",
           "abi_of", "named", "rank_key", "reach", "risk_of", "risky", "unobserved", "widen"]
