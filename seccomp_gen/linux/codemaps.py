"""Where an instruction pointer lies in a traced process: the mapped file and the offset in it.

A call site is recorded as (mapped file, file offset), not as an address: addresses differ from
run to run (ASLR) and between the processes of one run, while (file, offset) is the same place in
the same code, so sites of many processes and runs aggregate, and can be resolved to a symbol
after the run from the file alone. ``/proc/PID/maps`` is read once per process (and again when an
address falls outside every mapping read so far, after a dlopen), and only while the process is
alive and stopped, which is where the recorders call :meth:`SiteResolver.site`.

Limits: a library unmapped and another mapped at the same address during one process's life is
attributed to the first; anonymous executable memory (a JIT) is ``[anon]``; an address read after
its process is gone is ``[unknown]``. See docs/explain.md.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

from . import vdso

#: The site of an address in anonymous executable memory (a JIT, a trampoline).
ANON = "[anon]"
#: The site of an address whose process could no longer be read.
UNKNOWN = "[unknown]"
#: The site of an address in the vDSO (named from its image, :mod:`seccomp_gen.linux.vdso`).
VDSO = "[vdso]"


@dataclass(frozen=True, slots=True)
class CodeMapping:
    """One executable mapping of ``/proc/PID/maps``: [start, end) maps ``path`` from ``offset``."""

    start: int
    end: int
    offset: int
    path: str


def parse_maps(text: str) -> list[CodeMapping]:
    """The executable mappings of ``/proc/PID/maps`` text, sorted by start address.

    A mapping with no path is anonymous (:data:`ANON`); ``[vdso]`` and ``[vsyscall]`` keep their
    names. A path the kernel marks ``(deleted)`` keeps the mark: the file on disk is not the one
    that ran.
    """
    out: list[CodeMapping] = []
    for line in text.splitlines():
        parts = line.split(None, 5)
        if len(parts) < 5 or "x" not in parts[1]:
            continue
        lo, _, hi = parts[0].partition("-")
        try:
            start, end, offset = int(lo, 16), int(hi, 16), int(parts[2], 16)
        except ValueError:
            continue
        path = parts[5].strip() if len(parts) == 6 else ""
        out.append(CodeMapping(start, end, offset, path or ANON))
    out.sort(key=lambda m: m.start)
    return out


def read_maps(pid: int) -> list[CodeMapping] | None:
    """The executable mappings of a live process, None when it is gone or unreadable."""
    try:
        with open(f"/proc/{pid}/maps", encoding="utf-8", errors="surrogateescape") as fh:
            return parse_maps(fh.read())
    except OSError:
        return None


def locate(mappings: list[CodeMapping], starts: list[int], ip: int) -> tuple[str, int] | None:
    """(path, file offset) of ``ip`` in ``mappings`` (``starts`` are their start addresses),
    None if no mapping holds it. Anonymous and special mappings give offset from their start."""
    i = bisect.bisect_right(starts, ip) - 1
    if i < 0:
        return None
    m = mappings[i]
    if not m.start <= ip < m.end:
        return None
    if m.path.startswith("[") or m.path == ANON:
        return m.path, ip - m.start
    return m.path, ip - m.start + m.offset


class SiteResolver:
    """Turns (process, instruction pointer) into a site id, one id per distinct (path, offset).

    ``cache`` maps (token, ip) to a site id and is what a hot loop reads first (a dict lookup per
    call); only a miss calls :meth:`site`. Tokens are the recorders' per-(process, executable)
    lifetimes, so an exec, which changes the token, never reuses a stale entry. ``sites[id]`` is
    the (path, offset) of a site id; pass a recording's ``RawRecording.sites`` to fill it.
    """

    def __init__(self, sites: list[tuple[str, int]] | None = None) -> None:
        self.cache: dict[tuple[int, int], int] = {}
        self.sites: list[tuple[str, int]] = sites if sites is not None else []
        self._ids: dict[tuple[str, int], int] = {}
        self._maps: dict[int, tuple[list[CodeMapping], list[int]]] = {}
        self._vdso_read: set[int] = set()

    def site_id(self, path: str, offset: int) -> int:
        """The id of the site (path, offset), made on first use."""
        key = (path, offset)
        sid = self._ids.get(key)
        if sid is None:
            sid = self._ids[key] = len(self.sites)
            self.sites.append(key)
        return sid

    def site(self, token: int, tgid: int, ip: int) -> int:
        """The site id of ``ip`` in process ``tgid`` (alive and stopped), cached for ``token``."""
        found = None
        cached = self._maps.get(tgid)
        if cached is not None:
            found = locate(cached[0], cached[1], ip)
        if found is None:
            maps = read_maps(tgid)
            if maps is not None:
                self._maps[tgid] = (maps, [m.start for m in maps])
                found = locate(maps, self._maps[tgid][1], ip)
                if found is None:
                    found = (ANON, 0)
            else:
                found = (UNKNOWN, 0)
        if found[0] == VDSO and tgid not in self._vdso_read:
            self._keep_vdso(tgid, ip - found[1])
        sid = self.site_id(*found)
        if found[0] != UNKNOWN:
            self.cache[(token, ip)] = sid
        return sid

    def _keep_vdso(self, tgid: int, start: int) -> None:
        """Read the vDSO image of ``tgid`` (stopped at its first ``[vdso]`` site), to name
        the vDSO's sites after the run."""
        self._vdso_read.add(tgid)
        for m in self._maps[tgid][0]:
            if m.start == start and m.path == VDSO:
                vdso.capture(tgid, m.start, m.end)

    def mappings(self, tgid: int) -> list[CodeMapping] | None:
        """The mappings of ``tgid`` last read (None if none are held): a stack sample of a
        stopped thread reuses them instead of reading the maps again."""
        cached = self._maps.get(tgid)
        return None if cached is None else cached[0]

    def forget(self, tgid: int) -> None:
        """Drop what is known of ``tgid``'s mappings (at its exec or exit)."""
        self._maps.pop(tgid, None)
        self._vdso_read.discard(tgid)
