"""Callers of call sites: one stack sample per (arch, syscall, site), walked after the run.

Shared by the recorders that can read a waiting thread's stack: the ptrace-based ones (their
thread is in a ptrace stop, :func:`seccomp_gen.linux.stacks.take_sample`) and the notify one
(its thread waits for the answer, :func:`seccomp_gen.linux.stacks.take_blocked_sample`). The
samples are kept raw while the workload runs; :meth:`CallerSamples.find_callers` reads the
files' unwind tables once it has ended (docs/explain.md, "The caller").
"""

from __future__ import annotations

from ..aggregate import RawRecording
from ..linux import vdso
from ..linux.codemaps import VDSO, CodeMapping, SiteResolver, locate
from ..linux.stacks import StackSample

#: Stack samples kept at most (one per new call site; a site beyond this has no caller).
MAX_SAMPLES = 4096


class CallerSamples:
    """The samples of one recording, keyed (AUDIT_ARCH, nr, site id) as ``raw.site_calls``."""

    def __init__(self, raw: RawRecording, sites: SiteResolver) -> None:
        self.raw = raw
        self.sites = sites
        self.samples: dict[tuple[int, int, int], tuple[StackSample, str]] = {}

    def wanted(self) -> bool:
        """Whether another sample would be kept (fewer than :data:`MAX_SAMPLES` so far)."""
        return len(self.samples) < MAX_SAMPLES

    def maps_for(self, key: tuple[int, int, int], tgid: int) -> list[CodeMapping] | None:
        """The mappings a sample of ``key`` in ``tgid`` reuses (None: read them again). A
        [vdso] site is placed from maps that may predate the libraries (an i386 program's ld.so
        makes its first calls): its caller needs the maps of now."""
        return None if self.raw.sites[key[2]][0] == VDSO else self.sites.mappings(tgid)

    def add(self, key: tuple[int, int, int], sample: StackSample | None, token: int) -> None:
        """Keep ``sample`` (None: none could be taken) of ``key``, made by process ``token``."""
        if sample is not None:
            self.samples[key] = (sample, self.raw.tokens[token][1])

    def find_callers(self) -> None:
        """Walk each site's stack sample for its caller into ``raw.site_callers`` (after the
        run: the files are read then, not while the workload waits)."""
        if not self.samples:
            return
        from ..files.unwind import FrameTable, caller_of, frame_table, image_table

        tables: dict[tuple[str, str], FrameTable | None] = {}

        def table(path: str, arch: str) -> FrameTable | None:
            """The unwind table of a file, or of the vDSO image of ``arch``'s processes."""
            key = (path, arch if path == VDSO else "")
            if key not in tables:
                image = vdso.image_for(arch) if path == VDSO else None
                tables[key] = frame_table(path) if image is None else image_table(image)
            return tables[key]

        for key, (sample, exe) in sorted(self.samples.items()):
            maps = list(sample.maps)
            starts = [m.start for m in maps]
            arch = vdso.ARCH_OF_AUDIT.get(key[0], "")

            def where(ip: int, maps: list[CodeMapping] = maps, starts: list[int] = starts
                      ) -> tuple[str, int] | None:
                return locate(maps, starts, ip)

            def tables_of(path: str, arch: str = arch) -> FrameTable | None:
                return table(path, arch)

            found = caller_of(sample.ip, sample.sp, sample.bp, sample.stack, where, tables_of,
                              leave=self.raw.sites[key[2]][0] != exe)
            if found is not None:
                self.raw.site_callers[key] = found
