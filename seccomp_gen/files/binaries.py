"""Read the ELF objects a traced program runs: which syscalls each function makes, whom it calls
(``seccomp-gen analyze``; the method and its limits are in docs/analyze.md).

pyelftools reads the ELF (symbols, relocations, dynamic section, build id), capstone disassembles
every executable section once, linearly. A function starts at each function symbol (``.symtab``,
else ``.dynsym``), at each direct call target and at each code address the object stores or
computes; it runs to the next start, so code that no symbol names (a stripped binary, libc's
internal functions) is still attributed, to a stretch named after the symbol before it. For each
``syscall`` (x86_64), ``int 0x80`` or ``call *%gs:0x10`` (i386) the number is the value eax holds
there, followed through immediate moves, ``xor eax,eax`` and register copies within the basic
block; none: the site is unresolved. A call to ``syscall(2)`` takes its number from edi the same
way. The per-object result (:class:`~seccomp_gen.reach.ObjectSummary`) depends on the file only
and is cached by build id in the per-user cache directory.

Shared objects are found as the dynamic loader finds them (ld.so(8)): DT_RPATH (when there is
no DT_RUNPATH), DT_RUNPATH, the loader's cache (as ``ldconfig -p`` prints it), then the default
directories; a candidate of another class or machine is skipped, as the loader skips it.
"""

from __future__ import annotations

import bisect
import json
import os
import re
import shutil
import struct
import subprocess
from collections.abc import Iterable
from functools import cache
from typing import Any, BinaryIO

import capstone
from elftools.common.exceptions import ELFError
from elftools.elf.dynamic import DynamicSection
from elftools.elf.elffile import ELFFile
from elftools.elf.relocation import RelocationSection, RelrRelocationSection
from elftools.elf.sections import NoteSection, SymbolTableSection

from ..errors import SeccompGenError
from ..linux import cachedir
from ..reach import (
    COMPAT_BIT,
    Function,
    ObjectSummary,
    Reach,
    Unobserved,
    named,
    reach,
    unobserved,
)

#: Bumped when the scanner's output or its cached form changes: cached summaries of older
#: scanners are not found.
SCAN_VERSION = 10  # 10: entries of the keyed store (linux.cachedir), kind "reach"
#: The largest cached summary read back (libc's is ~0.5 MB).
_CACHE_LIMIT = 1 << 28

_ARCHES = {("ELFCLASS64", "EM_X86_64"): "x86_64", ("ELFCLASS32", "EM_386"): "x86"}
_DEFAULT_DIRS = {
    "x86_64": ("/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/usr/lib64",
               "/lib", "/usr/lib"),
    "x86": ("/lib/i386-linux-gnu", "/usr/lib/i386-linux-gnu", "/lib32", "/usr/lib32", "/lib",
            "/usr/lib"),
}
# Relocation types: (GLOB_DAT, JUMP_SLOT, RELATIVE, IRELATIVE, absolute word).
_RELOCS = {"x86_64": (6, 7, 8, 37, 1), "x86": (6, 7, 8, 42, 1)}

_REG = re.compile(r"^(?:[re]?([abcd])[xlh]|[re]?([sd]i)l?|[re]?([sb]p)l?|r(\d+)[dwb]?)$")
_FULL = re.compile(r"^(?:[re](?:[abcd]x|[sd]i|[sb]p)|r\d+d?)$")
_HEX = re.compile(r"^0x[0-9a-f]+$")
_IMM = re.compile(r"^(-?)(0x[0-9a-f]+|[0-9]+)$")
_RIP = re.compile(r"\[rip ([+-]) (0x[0-9a-f]+)\]")
_EBX = re.compile(r"^dword ptr \[ebx ([+-]) (0x[0-9a-f]+)\]$")
_ABS32 = re.compile(r"^dword ptr \[(0x[0-9a-f]+)\]$")
_EBX_LEA = re.compile(r"\[ebx ([+-]) (0x[0-9a-f]+)\]")
_ENDS = frozenset({"ret", "jmp", "hlt", "ud2", "retf", "iret", "iretd", "iretq", "call"})
# Instructions that write registers their operands do not name: forget every value.
_CLOBBER_ALL = frozenset({"cpuid", "rdtsc", "rdtscp", "cdq", "cqo", "cwd", "mul", "div", "idiv",
                          "xchg", "xadd", "cmpxchg", "lodsb", "lodsd", "lodsq", "lodsw", "in",
                          "rdrand", "rdseed", "xgetbv", "rdpid", "rdpkru", "syscall",
                          "sysenter", "int", "popal", "popad", "lahf", "leave", "cmpxchg8b",
                          "cmpxchg16b", "rep stosq", "repne scasb", "lock cmpxchg",
                          "lock xadd", "lock xchg"})
#: Registers that may carry a syscall number into a function, and the placeholder value each
#: holds at the function's entry (real values are never negative).
_PARAMS = {"a": -1, "di": -2}
_CALLER_SAVED = ("a", "c", "d", "si", "di", "8", "9", "10", "11")
_READ_ONLY = frozenset({"cmp", "test", "push", "nop", "endbr64", "endbr32", "bt", "prefetcht0",
                        "prefetchw", "ucomisd", "ucomiss", "comisd", "comiss"})


def _imm(text: str) -> int | None:
    """An immediate as capstone prints it (``0x27``, ``1``, ``-0x10``); None if not one."""
    m = _IMM.match(text)
    if not m:
        return None
    value = int(m.group(2), 0)
    return -value if m.group(1) else value


def _canon(reg: str) -> str | None:
    """``eax``/``rax``/``al`` -> ``a``, ``r8d`` -> ``8``: one name per general register."""
    m = _REG.match(reg)
    if not m:
        return None
    return next(g for g in m.groups() if g is not None)


class _Elf:
    """One opened ELF object and what the scanner needs of it."""

    def __init__(self, path: str, f: BinaryIO) -> None:
        self.path = path
        try:
            self.elf = ELFFile(f)
        except ELFError as exc:
            raise SeccompGenError(f"not an ELF object: {exc}", path=path) from None
        key = ((self.elf.elfclass == 64 and "ELFCLASS64") or "ELFCLASS32", self.elf["e_machine"])
        arch = _ARCHES.get(key)
        if arch is None:
            raise SeccompGenError(f"cannot analyze {self.elf['e_machine']} code",
                                  hint="x86_64 and i386 ELF objects only", path=path)
        self.arch = arch
        self.dynamic = next((s for s in self.elf.iter_sections()
                             if isinstance(s, DynamicSection)), None)

    def build_id(self) -> str:
        for sec in self.elf.iter_sections():
            if isinstance(sec, NoteSection):
                for note in sec.iter_notes():
                    if note["n_type"] == "NT_GNU_BUILD_ID":
                        return str(note["n_desc"])
        return ""

    def tags(self, name: str) -> list[Any]:
        if self.dynamic is None:
            return []
        out = []
        for tag in self.dynamic.iter_tags():
            if tag.entry.d_tag == name:
                out.append(getattr(tag, {"DT_NEEDED": "needed", "DT_RPATH": "rpath",
                                         "DT_RUNPATH": "runpath"}.get(name, "_"), tag.entry.d_val))
        return out

    def interp(self) -> str | None:
        for seg in self.elf.iter_segments():
            if seg["p_type"] == "PT_INTERP":
                return str(seg.get_interp_name())  # type: ignore[attr-defined]
        return None


def _dirs(elf: _Elf, origin: str, tag: str) -> list[str]:
    out = []
    for value in elf.tags(tag):
        for d in str(value).split(":"):
            if d:
                out.append(d.replace("$ORIGIN", origin).replace("${ORIGIN}", origin))
    return out


@cache
def _ld_cache() -> tuple[tuple[str, str], ...]:
    """(soname, path) pairs of the loader's cache, in its order (``ldconfig -p``); empty if
    there is no ldconfig."""
    tool = shutil.which("ldconfig") or next(
        (p for p in ("/sbin/ldconfig", "/usr/sbin/ldconfig") if os.path.exists(p)), None)
    if tool is None:
        return ()
    try:
        res = subprocess.run([tool, "-p"], capture_output=True, text=True, timeout=30,
                             check=False)
    except (OSError, subprocess.TimeoutExpired):
        return ()
    pairs = []
    for line in res.stdout.splitlines():
        m = re.match(r"^\s+(\S+) \([^)]*\)(?: OS ABI: [^=]*)? => (\S.*)$", line)
        if m:
            pairs.append((m.group(1), m.group(2)))
    return tuple(pairs)


def _matches(path: str, arch: str) -> bool:
    try:
        with open(path, "rb") as f:
            return _Elf(path, f).arch == arch
    except (OSError, SeccompGenError):
        return False


def find_library(name: str, requester: _Elf, exe: _Elf) -> str | None:
    """Where the dynamic loader finds DT_NEEDED ``name`` of ``requester`` (see the module
    docstring); None if nowhere."""
    if "/" in name:
        return name if _matches(name, requester.arch) else None
    dirs: list[str] = []
    if not requester.tags("DT_RUNPATH"):
        for obj in (requester, exe):
            dirs += _dirs(obj, os.path.dirname(obj.path), "DT_RPATH")
    dirs += _dirs(requester, os.path.dirname(requester.path), "DT_RUNPATH")
    candidates = [os.path.join(d, name) for d in dirs]
    candidates += [p for soname, p in _ld_cache() if soname == name]
    candidates += [os.path.join(d, name) for d in _DEFAULT_DIRS[requester.arch]]
    return next((c for c in candidates if os.path.isfile(c) and _matches(c, requester.arch)),
                None)


def _open_elf(path: str) -> tuple[_Elf, BinaryIO]:
    try:
        f = open(path, "rb")  # noqa: SIM115 - closed by the caller
    except OSError as exc:
        raise SeccompGenError(f"cannot read the executable: {exc.strerror or exc}",
                              path=path) from None
    try:
        return _Elf(path, f), f
    except BaseException:
        f.close()
        raise


def load_order(exe_path: str) -> list[str]:
    """The exe, then its shared objects breadth first as the loader maps them, the program
    interpreter included (a statically linked exe: itself alone). A library not found is an
    error: its code would be missing from the answer."""
    order = [exe_path]
    exe, f = _open_elf(exe_path)
    with f:
        queue = [exe_path]
        seen = {os.path.realpath(exe_path)}
        while queue:
            cur = queue.pop(0)
            obj, g = (exe, None) if cur == exe_path else _open_elf(cur)
            try:
                needed = [str(n) for n in obj.tags("DT_NEEDED")]
                if cur == exe_path and obj.interp():
                    needed.append(str(obj.interp()))
                for name in needed:
                    found = find_library(name, obj, exe)
                    if found is None:
                        raise SeccompGenError(f"shared object {name} not found",
                                              path=cur, hint="the loader would not find it "
                                              "either; install it or analyze where it runs")
                    real = os.path.realpath(found)
                    if real not in seen:
                        seen.add(real)
                        order.append(found)
                        queue.append(found)
            finally:
                if g is not None:
                    g.close()
    return order


class _Scanner:
    """Disassemble one object into :class:`Function` records."""

    def __init__(self, obj: _Elf, *, root_all: bool) -> None:
        self.obj = obj
        self.elf = obj.elf
        self.root_all = root_all
        self.x64 = obj.arch == "x86_64"
        self.sections = [(s["sh_addr"], s.data(), s.name) for s in self.elf.iter_sections()
                         if s["sh_flags"] & 0x4 and s["sh_type"] == "SHT_PROGBITS"
                         and s["sh_size"]]
        self.ranges = sorted((a, a + len(d)) for a, d, _ in self.sections)
        self.got_plt = next((s["sh_addr"] for s in self.elf.iter_sections()
                             if s.name == ".got.plt"), None) or next(
            (s["sh_addr"] for s in self.elf.iter_sections() if s.name == ".got"), 0)
        self.symbols: dict[int, str] = {}
        self.exports: dict[str, int] = {}
        self.starts: set[int] = {a for a, _ in self.ranges}
        self.slots: dict[int, str] = {}
        self.irelative: dict[int, int] = {}
        self.relative: dict[int, int] = {}
        self.data_ptrs: set[int] = set()
        self.notes: list[str] = []
        self._symbols()
        self._relocations()

    def executable(self, addr: int) -> bool:
        i = bisect.bisect_right(self.ranges, (addr, float("inf"))) - 1
        return i >= 0 and self.ranges[i][0] <= addr < self.ranges[i][1]

    def _symbols(self) -> None:
        tables = [s for s in self.elf.iter_sections() if isinstance(s, SymbolTableSection)]
        have_symtab = any(t.name == ".symtab" for t in tables)
        for table in sorted(tables, key=lambda t: t.name != ".dynsym"):
            for sym in table.iter_symbols():
                kind = sym["st_info"]["type"]
                if kind not in ("STT_FUNC", "STT_GNU_IFUNC") or sym["st_shndx"] == "SHN_UNDEF":
                    continue
                addr, name = sym["st_value"], sym.name.split("@")[0]
                if not self.executable(addr) or not name:
                    continue
                self.starts.add(addr)
                if sym["st_size"]:
                    self.starts.add(addr + sym["st_size"])
                self.symbols.setdefault(addr, name)
                if (table.name == ".dynsym" and sym["st_info"]["bind"] != "STB_LOCAL"
                        and sym["st_other"]["visibility"] in ("STV_DEFAULT", "STV_PROTECTED")):
                    self.exports.setdefault(name, addr)
        if not have_symtab:
            self.notes.append("no .symtab (stripped): code between exported symbols is named "
                              "after the symbol before it")

    def _relocations(self) -> None:
        glob_dat, jump_slot, relative, irelative, absolute = _RELOCS[self.obj.arch]
        self._data = sorted((sec["sh_addr"], sec.data()) for sec in self.elf.iter_sections()
                            if sec["sh_type"] == "SHT_PROGBITS" and sec["sh_addr"])
        self._data_starts = [a for a, _ in self._data]
        for sec in self.elf.iter_sections():
            if isinstance(sec, RelrRelocationSection):
                # Packed RELATIVE relocations: the addend is the word in place.
                for rel in sec.iter_relocations():
                    word = self._word(rel["r_offset"])
                    if word is not None:
                        self.relative[rel["r_offset"]] = word
                        if self.executable(word):
                            self.data_ptrs.add(word)
                continue
            if not isinstance(sec, RelocationSection):
                continue
            symtab = self.elf.get_section(sec["sh_link"]) if sec["sh_link"] else None
            for rel in sec.iter_relocations():
                kind, off = rel["r_info_type"], rel["r_offset"]
                sym = (symtab.get_symbol(rel["r_info_sym"])
                       if rel["r_info_sym"] and isinstance(symtab, SymbolTableSection) else None)
                addend = rel["r_addend"] if rel.is_RELA() else self._word(off)
                if kind in (glob_dat, jump_slot) and sym is not None and sym.name:
                    self.slots[off] = sym.name.split("@")[0]
                    if sym["st_shndx"] != "SHN_UNDEF" and self.executable(sym["st_value"]):
                        self.data_ptrs.add(sym["st_value"])
                elif kind == irelative and addend is not None:
                    self.irelative[off] = addend
                    self.starts.add(addend)
                elif kind == relative and addend is not None:
                    self.relative[off] = addend
                    if self.executable(addend):
                        self.data_ptrs.add(addend)
                elif kind == absolute and sym is not None and sym["st_shndx"] != "SHN_UNDEF":
                    target = sym["st_value"] + (rel["r_addend"] if rel.is_RELA() else 0)
                    if self.executable(target):
                        self.data_ptrs.add(target)
        self.starts |= self.data_ptrs

    def _word(self, addr: int) -> int | None:
        """The word at ``addr``: the implicit addend of a REL or RELR relocation."""
        width = 8 if self.x64 else 4
        i = bisect.bisect_right(self._data_starts, addr) - 1
        if i < 0:
            return None
        start, data = self._data[i]
        word = data[addr - start:addr - start + width]
        return int.from_bytes(word, "little") if len(word) == width else None

    def _md(self) -> capstone.Cs:
        md = capstone.Cs(capstone.CS_ARCH_X86,
                         capstone.CS_MODE_64 if self.x64 else capstone.CS_MODE_32)
        md.skipdata = True
        return md

    def _insns(self, plt_only: bool = False) -> Iterable[tuple[int, int, str, str]]:
        md = self._md()
        for addr, data, name in self.sections:
            if not plt_only or name.startswith(".plt"):
                yield from md.disasm_lite(data, addr)

    def _mem_target(self, op: str, nxt: int) -> int | None:
        """The address a memory operand names: rip-relative, i386 GOT-relative through ebx,
        or absolute."""
        m = _RIP.search(op)
        if m:
            return nxt + int(m.group(2), 16) * (1 if m.group(1) == "+" else -1)
        if not self.x64:
            m = _EBX.match(op) or _EBX_LEA.search(op)
            if m:
                return self.got_plt + int(m.group(2), 16) * (1 if m.group(1) == "+" else -1)
            m = _ABS32.match(op)
            if m:
                return int(m.group(1), 16)
        return None

    def scan(self) -> ObjectSummary:
        # Pass 1: where functions start (call targets, code addresses taken) and where jumps
        # land, from where.
        sources: dict[int, list[int]] = {}
        refs: set[int] = set()
        # i386 PIC code calls __x86.get_pc_thunk.REG (mov REG, [esp]; ret), which changes REG
        # only: a call to it must not forget eax.
        self._thunks: dict[int, str] = {}
        prev: tuple[int, str, str] = (0, "", "")
        for addr, size, mnem, op in self._insns():
            base = mnem.rsplit(" ", 1)[-1]
            if base == "ret" and prev[1] == "mov" and prev[2].endswith(", dword ptr [esp]"):
                self._thunks[prev[0]] = prev[2].split(",")[0]
            prev = (addr, base, op)
            if base == "call" and _HEX.match(op):
                self.starts.add(int(op, 16))
            elif base.startswith("j") and _HEX.match(op):
                sources.setdefault(int(op, 16), []).append(addr)
            elif base == "lea":
                target = self._mem_target(op, addr + size)
                if target is not None and self.executable(target):
                    refs.add(target)
        # A code address computed in code (a callback passed on: pthread_once's routine, a
        # handler) starts a function, named or not; x86 jump tables live outside the code.
        self.starts |= refs
        starts = sorted(self.starts)
        self._starts, self._start_set, self._sources = starts, set(starts), sources
        # PLT stubs by the symbol their GOT slot binds: a call to syscall(2)'s stub takes its
        # number from the caller's edi.
        self._plt: dict[int, str] = {}
        for addr, size, mnem, op in self._insns(plt_only=True):
            if mnem.rsplit(" ", 1)[-1] == "jmp" and "[" in op:
                slot = self._mem_target(op, addr + size)
                owner = self._owner(addr)
                if slot in self.slots and owner is not None:
                    self._plt.setdefault(owner, self.slots[slot])
        raw: dict[int, dict[str, Any]] = {}
        body: list[tuple[int, int, str, str]] = []
        cur: int | None = None
        end = 0
        for insn in self._insns():
            addr = insn[0]
            if cur is None or addr >= end or addr in self._start_set:
                if cur is not None:
                    raw[cur] = self._function(cur, end, body, addr)
                i = bisect.bisect_right(starts, addr)
                cur = starts[i - 1] if i > 0 else addr
                end = starts[i] if i < len(starts) else 1 << 64
                body = []
            body.append(insn)
        if cur is not None:
            raw[cur] = self._function(cur, end, body, None)
        functions = self._resolve_params(raw)
        roots = frozenset(functions) if self.root_all else frozenset(
            a for a in self._init_functions() if a in functions)
        taken = frozenset(a for a in self.data_ptrs if a in functions)
        return ObjectSummary(path=self.obj.path, build_id=self.obj.build_id(),
                             arch=self.obj.arch, functions=functions,
                             exports={n: a for n, a in self.exports.items() if a in functions},
                             roots=roots, address_taken=taken,
                             needed=tuple(str(n) for n in self.obj.tags("DT_NEEDED")),
                             notes=tuple(self.notes))

    def _in_plt(self, addr: int) -> bool:
        return any(a <= addr < a + len(d) and name.startswith(".plt")
                   for a, d, name in self.sections)

    def _owner(self, target: int) -> int | None:
        i = bisect.bisect_right(self._starts, target) - 1
        return self._starts[i] if i >= 0 else None

    def _resolve_params(self, raw: dict[int, dict[str, Any]]) -> dict[int, Function]:
        """Numbers passed in a register to a function whose syscall uses it unchanged (i386's
        ``__libc_do_syscall`` takes eax, ``syscall(2)`` takes edi): each call site with a
        known value makes that syscall; one with an unknown value is an unresolved site.
        Parameters passed on through another call are followed to a fixpoint."""
        changed = True
        while changed:
            changed = False
            for fn in raw.values():
                for dest, values in fn["sites"]:
                    for reg in raw[dest]["param"] if dest in raw else ():
                        sentinel = values.get(reg)
                        for mine, code in _PARAMS.items():
                            if sentinel == code and mine not in fn["param"]:
                                fn["param"].add(mine)
                                changed = True
        entered = self.data_ptrs | set(self.exports.values())
        functions = {}
        for addr, fn in raw.items():
            for dest, values in fn["sites"]:
                for reg in raw[dest]["param"] if dest in raw else ():
                    value = values.get(reg)
                    if value is None:
                        fn["unresolved"] += 1
                    elif value >= 0:
                        fn["syscalls"].add(value)
            if fn["param"] and (self.root_all or addr in entered):
                fn["unresolved"] += 1  # callers this object does not see
            functions[addr] = Function(
                name=fn["name"], syscalls=frozenset(fn["syscalls"]),
                unresolved=fn["unresolved"], calls=frozenset(fn["calls"] - {addr}),
                imports=frozenset(fn["imports"]), indirect=fn["indirect"])
        return functions

    def _function(self, cur: int, end: int, body: list[tuple[int, int, str, str]],
                  following: int | None) -> dict[str, Any]:
        """One function: constant propagation of register values over its blocks (a meet of
        the values all predecessors agree on; a block entered from another function starts
        with nothing known), then each instruction's syscall and call edges."""
        fn: dict[str, Any] = {"syscalls": set(), "unresolved": 0, "calls": set(),
                              "imports": set(), "indirect": False, "param": set(), "sites": []}
        index = {insn[0]: i for i, insn in enumerate(body)}
        leaders = {0}
        succ: dict[int, list[int]] = {}
        for i, (addr, _, mnem, _) in enumerate(body):
            base = mnem.rsplit(" ", 1)[-1]
            if addr in self._sources:
                leaders.add(i)
            if (base.startswith("j") or base in ("ret", "hlt", "ud2", "retf")) and \
                    i + 1 < len(body):
                leaders.add(i + 1)
        order = sorted(leaders)
        block_of = {}
        for k, start in enumerate(order):
            stop = order[k + 1] if k + 1 < len(order) else len(body)
            block_of[start] = stop
            _, _, mnem, op = body[stop - 1]
            base = mnem.rsplit(" ", 1)[-1]
            nexts = []
            if base.startswith("j") and _HEX.match(op) and int(op, 16) in index:
                nexts.append(index[int(op, 16)])
            if base not in ("jmp", "ret", "hlt", "ud2", "retf") and stop < len(body):
                nexts.append(stop)
            succ[start] = nexts
        outside = {i for i in order if any(not cur <= src < end
                                           for src in self._sources.get(body[i][0], ()))}
        state: dict[int, dict[str, int] | None] = dict.fromkeys(order)
        state[0] = dict(_PARAMS)
        for i in outside:
            state[i] = {}
        work = list(order)
        rounds = 0
        while work and rounds < 50 * len(order) + 100:
            rounds += 1
            start = work.pop()
            inn = state[start]
            if inn is None:
                continue
            regs = dict(inn)
            for insn in body[start:block_of[start]]:
                self._step(insn, regs, None, cur, end)
            for nxt in succ[start]:
                old = state[nxt]
                new = regs if old is None else {k: v for k, v in old.items()
                                                if regs.get(k) == v}
                if nxt in outside:
                    new = {}
                if old is None or new != old:
                    state[nxt] = new
                    work.append(nxt)
        for start in order:
            regs = dict(state[start] or {})
            for insn in body[start:block_of[start]]:
                self._step(insn, regs, fn, cur, end)
        # The last instruction that is not padding (a PLT stub's jmp is followed by a nop).
        last = next((m.rsplit(" ", 1)[-1] for _, _, m, _ in reversed(body)
                     if m.rsplit(" ", 1)[-1] not in ("nop", "int3", ".byte")), "ret")
        if following is not None and following == end and last not in _ENDS:
            fn["calls"].add(following)
        name = f"{self._plt[cur]}@plt" if cur in self._plt else self._name(cur)
        fn["name"] = name
        return fn

    def _step(self, insn: tuple[int, int, str, str], regs: dict[str, int],
              fn: dict[str, Any] | None, cur: int, end: int) -> None:
        """One instruction: its effect on ``regs`` and, with ``fn``, what it adds to it."""
        addr, size, mnem, op = insn
        parts = mnem.split(" ")
        base = parts[-1]
        nxt = addr + size
        if base in ("syscall", "sysenter") or (base == "int" and op == "0x80") or (
                base == "call" and op == "dword ptr gs:[0x10]"):
            if fn is not None:
                value = regs.get("a")
                if value is None:
                    fn["unresolved"] += 1
                elif value < 0:
                    fn["param"].add(next(r for r, c in _PARAMS.items() if c == value))
                elif self.x64 and base == "int":
                    fn["syscalls"].add(COMPAT_BIT | value)  # the i386 ABI from 64-bit code
                else:
                    fn["syscalls"].add(value)
            # The kernel returns in eax (and clobbers rcx, r11); other registers survive.
            for r in ("a", "c", "11"):
                regs.pop(r, None)
            return
        if base == "call" or base.startswith("j"):
            if fn is not None:
                self._branch(base, parts, op, nxt, cur, end, fn, regs)
            if base == "call":
                thunk = self._thunks.get(int(op, 16)) if _HEX.match(op) else None
                clobbered = (str(_canon(thunk)),) if thunk else _CALLER_SAVED
                for r in clobbered:
                    regs.pop(r, None)
            return
        if fn is not None and base in ("lea", "mov", "push"):
            target = self._mem_target(op, nxt) if base == "lea" else None
            if target is None and not self.x64 and base != "lea":
                target = _imm(op.rsplit(", ", 1)[-1])
            if target is not None and target in self._start_set and self.executable(target):
                fn["calls"].add(target)
        self._track(mnem, base, op, regs)

    def _branch(self, base: str, parts: list[str], op: str, nxt: int, cur: int | None,
                end: int, fn: dict[str, Any], regs: dict[str, int]) -> None:
        if _HEX.match(op):
            target = int(op, 16)
            if base == "call" or not (cur is not None and cur <= target < end):
                dest = self._owner(target)
                if dest is not None:
                    if (self.symbols.get(dest) or self._plt.get(dest)) == "syscall":
                        self._syscall_call(fn, regs)
                    else:
                        fn["calls"].add(dest)
                        if base == "call":
                            fn["sites"].append((dest, {r: regs[r] for r in _PARAMS
                                                       if r in regs}))
            return
        slot = self._mem_target(op, nxt) if "[" in op else None
        if slot is not None and slot in self.slots:
            name = self.slots[slot]
            if name == "syscall" and cur in self._plt:
                pass  # the stub: its callers account for the number they pass
            elif name == "syscall":
                self._syscall_call(fn, regs)
            else:
                fn["imports"].add(name)
        elif slot is not None and slot in self.irelative:
            fn["calls"].add(self.irelative[slot])
        elif not ("notrack" in parts and base == "jmp"):
            # A function pointer (a switch's jump table is ``notrack jmp``).
            fn["indirect"] = True

    def _syscall_call(self, fn: dict[str, Any], regs: dict[str, int]) -> None:
        """A call to ``syscall(2)``: the number is its first argument (edi; on i386 it is on
        the stack, which is not followed)."""
        if self.x64 and regs.get("di", -1) >= 0:
            fn["syscalls"].add(regs["di"])
        elif self.x64 and "di" in regs:
            fn["param"].add("di")
        else:
            fn["unresolved"] += 1

    def _track(self, mnem: str, base: str, op: str, regs: dict[str, int]) -> None:
        """What a non-branch instruction does to the known register values."""
        if mnem in _CLOBBER_ALL or base in _CLOBBER_ALL:
            regs.clear()
            return
        if base in _READ_ONLY or not op:
            return
        dst, _, src = op.partition(", ")
        d = _canon(dst)
        if d is None:
            return
        full = _FULL.match(dst) is not None
        value = _imm(src)
        if base == "mov" and value is not None and full:
            regs[d] = value & 0xFFFFFFFF
        elif base == "xor" and src == dst and full:
            regs[d] = 0
        elif base == "mov" and full and _canon(src) in regs and src.startswith(("e", "r")):
            regs[d] = regs[str(_canon(src))]
        else:
            regs.pop(d, None)

    def _init_functions(self) -> set[int]:
        """DT_INIT, DT_FINI and the init/fini arrays: code the loader runs uncalled."""
        out: set[int] = set()
        if self.obj.dynamic is not None:
            for tag in self.obj.dynamic.iter_tags():
                if tag.entry.d_tag in ("DT_INIT", "DT_FINI"):
                    out.add(tag.entry.d_val)
        width = 8 if self.x64 else 4
        for sec in self.elf.iter_sections():
            if sec.name in (".init_array", ".fini_array", ".preinit_array"):
                data, at = sec.data(), sec["sh_addr"]
                for i in range(0, len(data) - width + 1, width):
                    # A PIC object's arrays are filled by RELATIVE relocations.
                    out.add(self.relative.get(at + i, int.from_bytes(data[i:i + width],
                                                                     "little")))
        return out

    def _name(self, addr: int) -> str:
        """The symbol at ``addr``, ``entry`` (e_entry of a stripped exe), ``SYMBOL+0xOFF`` after
        the symbol before it, or ``unknown@0xADDR``."""
        name = self.symbols.get(addr)
        if name:
            return name
        if addr == self.elf.header["e_entry"]:
            return "entry"
        if not hasattr(self, "_symbol_addrs"):
            self._symbol_addrs = sorted(self.symbols)
        i = bisect.bisect_left(self._symbol_addrs, addr) - 1
        if i >= 0:
            base = self._symbol_addrs[i]
            return f"{self.symbols[base]}+{addr - base:#x}"
        return f"unknown@{addr:#x}"


def _summary_to_json(s: ObjectSummary) -> dict[str, Any]:
    return {"build_id": s.build_id, "arch": s.arch,
            "functions": [[a, f.name, sorted(f.syscalls), f.unresolved, sorted(f.calls),
                           sorted(f.imports), f.indirect] for a, f in sorted(s.functions.items())],
            "exports": s.exports, "roots": sorted(s.roots),
            "address_taken": sorted(s.address_taken), "needed": list(s.needed),
            "notes": list(s.notes)}


def _summary_of_json(d: dict[str, Any], path: str) -> ObjectSummary:
    functions = {int(a): Function(str(n), frozenset(sc), int(u), frozenset(c), frozenset(i),
                                  bool(ind)) for a, n, sc, u, c, i, ind in d["functions"]}
    return ObjectSummary(path=path, build_id=d["build_id"], arch=d["arch"], functions=functions,
                         exports={str(k): int(v) for k, v in d["exports"].items()},
                         roots=frozenset(d["roots"]), address_taken=frozenset(d["address_taken"]),
                         needed=tuple(d["needed"]), notes=tuple(d["notes"]))


_MEMORY: dict[tuple[str, str, bool], ObjectSummary] = {}


def _cache_key(build_id: str, root_all: bool) -> bytes:
    return repr((SCAN_VERSION, build_id, root_all)).encode()


def summarize(path: str, *, root_all: bool = False, use_cache: bool = True) -> ObjectSummary:
    """The :class:`ObjectSummary` of the ELF object at ``path``. ``root_all``: every function
    is a root (the program itself, the interpreter); otherwise its init and fini functions and
    the code whose address its data holds. Cached by build id (in memory, and in the per-user
    cache's keyed store, trusted only when private, as the compiled programs are)."""
    obj, f = _open_elf(path)
    with f:
        build_id = obj.build_id()
        key = (build_id or f"{os.path.realpath(path)}:{os.stat(f.fileno()).st_mtime_ns}",
               path, root_all)
        if key in _MEMORY:
            return _MEMORY[key]
        cached = None
        if build_id and use_cache:
            cached = _read_cache(build_id, root_all, path)
        if cached is None:
            summary = _Scanner(obj, root_all=root_all).scan()
            if obj.elf.get_section_by_name(".gopclntab") is not None:
                summary = ObjectSummary(**{**summary.__dict__, "notes": (
                    *summary.notes, "a Go binary: its runtime makes syscalls through "
                    "syscall.Syscall(trap, ...) with the number in a variable; those sites "
                    "are unresolved")})
            if build_id and use_cache:
                _write_cache(build_id, root_all, summary)
        else:
            summary = cached
    _MEMORY[key] = summary
    return summary


def _read_cache(build_id: str, root_all: bool, path: str) -> ObjectSummary | None:
    """The cached summary, None when there is none or it does not parse; an entry that is not
    ours raises in one line (:func:`~seccomp_gen.linux.cachedir.lookup`)."""
    data = cachedir.lookup("reach", _cache_key(build_id, root_all), _CACHE_LIMIT,
                           "a cached reachability summary")
    if data is None:
        return None
    try:
        return _summary_of_json(json.loads(data), path)
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def _write_cache(build_id: str, root_all: bool, summary: ObjectSummary) -> None:
    """Keep the summary (best effort: a cache that cannot be written costs time only)."""
    cachedir.keep("reach", _cache_key(build_id, root_all),
                  json.dumps(_summary_to_json(summary), sort_keys=True).encode())


def summaries(exe: str, *, use_cache: bool = True) -> list[ObjectSummary]:
    """The summaries of ``exe`` and every object it loads, in load order: the exe and the
    program interpreter rooted at every function, the libraries at their init functions. A
    malformed object (truncated, corrupt tables) is a one-line error."""
    try:
        return _summaries(exe, use_cache)
    except (ELFError, struct.error, ValueError, IndexError, KeyError) as exc:
        raise SeccompGenError(f"malformed ELF object (the exe or a library it loads): {exc}",
                              path=exe) from None


def _summaries(exe: str, use_cache: bool) -> list[ObjectSummary]:
    order = load_order(exe)
    interp = None
    obj, f = _open_elf(exe)
    with f:
        interp = obj.interp()
    real_interp = os.path.realpath(interp) if interp else None
    return [summarize(p, root_all=(i == 0 or os.path.realpath(p) == real_interp),
                      use_cache=use_cache) for i, p in enumerate(order)]




def analyze_exe(exe: str, observed: Iterable[tuple[str, str]], *, use_cache: bool = True,
                indirect: bool = True) -> tuple[Reach, tuple[Unobserved, ...], tuple[str, ...]]:
    """What ``exe`` can reach (:func:`~seccomp_gen.reach.reach`), the reachable syscalls not in
    ``observed`` ((arch, name) pairs) ranked by risk, and the observed names of its arch that
    the static set lacks (each a soundness miss to explain, docs/analyze.md)."""
    from .. import libseccomp as lib

    r = reach(summaries(exe, use_cache=use_cache), indirect=indirect)
    seen = set(observed)
    static = set(named(r, lib.known_name))
    # Calls of another ABI family (a 64-bit exe's i386 ones) are misses only if it has that
    # ABI's code at all: x32 and i386 numbers are found where their instructions are.
    abis = {a for a, _ in static} | {r.arch}
    misses = sorted(f"{name}" if arch == r.arch else f"{name} ({arch})"
                    for arch, name in seen - static if arch in abis)
    return r, unobserved(r, seen, lib.known_name), tuple(misses)


__all__ = ["SCAN_VERSION", "analyze_exe", "find_library", "load_order", "summaries",
           "summarize"]
