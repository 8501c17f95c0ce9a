"""Call sites for the ebpf backend: the kernel's (build id, file offset) of each call's address
turned into the (mapped file, file offset) every backend records.

Why this split: the BPF maps are read when the run is over, when the processes, and with them
their ``/proc/PID/maps``, are gone. So the address is resolved in the kernel, while it is live: at
the first call of each (program, syscall, address), ``bpf_get_stack`` with
``BPF_F_USER_BUILD_ID`` gives the build id of the file mapped there and the offset in it
(:meth:`~seccomp_gen.ebpf.syscall_counter.SyscallCounter._new_site`). What the kernel cannot
give is the file's path; that is found here, by build id, among the files the run is known to
have mapped: the executables it exec'd, their program interpreters (ld.so) and the libraries
they need (DT_NEEDED, looked up in their run paths and the system's library directories), the
files mapped by this process (libc, ld.so), and every file in the maps of the tree's processes,
which :class:`MapsPoller` reads from a thread every :data:`POLL_S` while they live. The maps
read also place the addresses the kernel answered with an address only (anonymous memory such
as a JIT or the vDSO, a file without a build id, the address space lock busy at that moment).
What neither resolves is ``[unknown]``, and the trace header says for how many calls.
"""

from __future__ import annotations

import os
import struct
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from ..ebpf.syscall_counter import BUILD_ID_IP, BUILD_ID_VALID
from ..files.elf import BadElf, Elf
from ..linux import vdso
from ..linux.codemaps import UNKNOWN, VDSO, CodeMapping, locate, read_maps

#: How often the maps of newly seen processes are read during a run (seconds).
POLL_S = 0.02
PT_INTERP = 3
DT_NEEDED, DT_RPATH, DT_RUNPATH = 1, 15, 29
#: Where the dynamic loader looks after a library's own run path, by ELF class (Debian's
#: multiarch directories first).
LIBRARY_DIRS = {64: ("/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64",
                     "/usr/lib64", "/lib", "/usr/lib", "/usr/local/lib"),
                32: ("/lib/i386-linux-gnu", "/usr/lib/i386-linux-gnu", "/lib32", "/usr/lib32",
                     "/lib", "/usr/lib", "/usr/local/lib")}
#: (tgid, self_exec_id, address) -> (status, build id, file offset or the address).
KernelSites = dict[tuple[int, int, int], tuple[int, bytes, int]]


@dataclass
class ElfFacts:
    """What finding a file by build id needs to know of one ELF file."""

    build_id: str = ""
    interp: str = ""
    #: The files the dynamic loader would map for it (DT_NEEDED found in its search path).
    needed: list[str] = field(default_factory=list)


def elf_facts(path: str) -> ElfFacts:
    """The build id, program interpreter and needed libraries of an ELF file (empty where it
    has none or is no ELF file)."""
    facts = ElfFacts()
    try:
        with open(path, "rb") as f:
            elf = Elf(f)
            for ptype, offset, _, size in elf.segments:
                if ptype == PT_INTERP and 0 < size < 4096:
                    facts.interp = elf.read(offset, size).split(b"\0", 1)[0].decode(
                        errors="surrogateescape")
            facts.build_id = elf.build_id()
            dynamic, strings = elf.section(".dynamic"), elf.section(".dynstr")
            if dynamic is not None and strings is not None:
                facts.needed = _needed(path, elf.bits, dynamic[1], strings[1])
    except (OSError, BadElf, ValueError, struct.error):
        pass
    return facts


def _needed(path: str, bits: int, dynamic: bytes, strings: bytes) -> list[str]:
    """The needed libraries of an object, found as the loader would (run path, then the
    system's directories; $ORIGIN is the object's own directory)."""
    entry = struct.Struct("<qQ" if bits == 64 else "<iI")
    names, dirs = [], []
    for tag, value in entry.iter_unpack(dynamic[:len(dynamic) - len(dynamic) % entry.size]):
        if tag == 0:
            break
        if tag in (DT_NEEDED, DT_RPATH, DT_RUNPATH) and 0 <= value < len(strings):
            text = strings[value:strings.find(b"\0", value)].decode(errors="surrogateescape")
            if tag == DT_NEEDED:
                names.append(text)
            else:
                origin = os.path.dirname(path)
                dirs += [d.replace("$ORIGIN", origin).replace("${ORIGIN}", origin)
                         for d in text.split(":") if d]
    found = []
    for name in names:
        for directory in ([] if "/" in name else [*dirs, *LIBRARY_DIRS[bits]]):
            candidate = os.path.join(directory, name)
            if os.path.exists(candidate):
                found.append(os.path.realpath(candidate))
                break
    return found


class SitePaths:
    """The files the run mapped, by build id, and the maps read of each (process, program)."""

    def __init__(self) -> None:
        #: Files to look in, in the order they are read: those added first are the likelier.
        self.candidates: list[str] = []
        self._seen: set[str] = set()
        self._by_id: dict[str, str] = {}
        self._read = 0  # how many candidates have been read
        #: (tgid, self_exec_id) -> its executable mappings and their start addresses.
        self.maps: dict[tuple[int, int], tuple[list[CodeMapping], list[int]]] = {}

    def add_file(self, path: str) -> None:
        """A file some process of the run mapped (or exec'd)."""
        if path and path not in self._seen and path.startswith("/") \
                and not path.endswith(" (deleted)"):
            self._seen.add(path)
            self.candidates.append(path)

    def add_maps(self, tgid: int, gen: int, mappings: list[CodeMapping]) -> None:
        """The maps of a live (process, program)."""
        self.maps.setdefault((tgid, gen), (mappings, [m.start for m in mappings]))
        for m in mappings:
            self.add_file(m.path)

    def path_of(self, build_id: str) -> str | None:
        """The path of a file the run mapped with this build id, or None. Candidates are read
        in order, each once, only as far as needed (a run's few build ids are usually found in
        its executable, ld.so and libc); the first with the id wins."""
        while build_id not in self._by_id and self._read < len(self.candidates):
            path = self.candidates[self._read]
            self._read += 1
            facts = elf_facts(path)
            if facts.build_id:
                self._by_id.setdefault(facts.build_id, path)
            # What this file loads is read next: an executable's ld.so and libc before the
            # files of other processes.
            interp = [os.path.realpath(facts.interp)] if facts.interp.startswith("/") else []
            self._insert(self._read, [*interp, *facts.needed])
        return self._by_id.get(build_id)

    def _insert(self, at: int, paths: list[str]) -> None:
        """Make ``paths`` the next candidates read (those not read yet)."""
        unread = self.candidates[at:]
        wanted = [p for p in dict.fromkeys(paths) if p not in self._seen or p in unread]
        self._seen.update(wanted)
        rest = [p for p in unread if p not in set(wanted)]
        self.candidates[at:] = [*wanted, *rest]

    def site(self, tgid: int, gen: int, ip: int, kernel: KernelSites) -> tuple[str, int]:
        """(path, file offset) of the call at ``ip`` in that process and program, or
        (``[unknown]``, 0)."""
        status, build_id, offset = kernel.get((tgid, gen, ip), (0, b"", 0))
        if status == BUILD_ID_VALID:
            path = self.path_of(build_id.hex())
            if path is not None:
                return path, offset
        elif status == BUILD_ID_IP:  # the kernel put the vDSO's base and size in the id
            base, size = struct.unpack_from("<QQ", build_id.ljust(16, b"\0"))
            if base and 0 <= ip - base < size:
                return VDSO, ip - base
        maps = self.maps.get((tgid, gen))
        if maps is not None:
            found = locate(maps[0], maps[1], ip)
            if found is not None:
                return found
        return UNKNOWN, 0


class MapsPoller:
    """Reads the maps of each (process, program) that made a new call site, while it lives: a
    thread that asks ``poll_sites`` (a read of the small ``sites`` map) every :data:`POLL_S`."""

    def __init__(self, paths: SitePaths, poll_sites: Callable[[], Iterable[tuple[int, int]]],
                 interval: float = POLL_S) -> None:
        self.paths = paths
        self.poll_sites = poll_sites
        self.interval = interval
        self._done: set[tuple[int, int]] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="ebpf-maps", daemon=True)

    def start(self) -> None:
        """Start polling."""
        self._thread.start()

    def stop(self) -> None:
        """Stop polling and wait for the thread (before the maps are closed)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.poll()

    def poll(self) -> None:
        """Read the maps of the (process, program) pairs not read yet. A process that exec'd
        since its site was made is read as its new program: only the newest generation of each
        process is read, and the older ones keep what the kernel resolved."""
        try:
            pairs = set(self.poll_sites())
        except OSError:
            return
        newest: dict[int, int] = {}
        for tgid, gen in pairs:
            newest[tgid] = max(gen, newest.get(tgid, gen))
        for tgid, gen in sorted(newest.items()):
            if (tgid, gen) in self._done:
                continue
            self._done.add((tgid, gen))
            mappings = read_maps(tgid)
            if mappings is not None:
                self.paths.add_maps(tgid, gen, mappings)
                for m in mappings:  # its vDSO's image, to name the [vdso] sites after the run
                    if m.path == VDSO:
                        vdso.capture(tgid, m.start, m.end)
