"""The kernel's SECCOMP audit record, read from its text: the one parser every reader uses.

The kernel writes one record per logged seccomp action (``audit_seccomp`` in
``kernel/auditsc.c``), in this order::

    auid=4294967295 uid=0 gid=0 ses=4294967295 [subj=...] pid=890 comm="ls" exe="/usr/bin/ls"
    sig=0 arch=c000003e syscall=137 compat=0 ip=0x7fab225cec07 code=0x7ffc0000

The same text arrives as a netlink payload (``audit(1796169114.695:31082036): auid=...``: the log
backend), in the kernel log (``audit: type=1326 audit(...): ...``: dmesg, /dev/kmsg, journalctl
-k, ``run --mode kill``), in auditd's log and ausearch's output (``type=SECCOMP msg=audit(...):
...``, auditd's ENRICHED fields after a 0x1d byte) and in journald's audit transport
(``audit[890]: SECCOMP auid=...``). ``pid`` is the thread group; ``comm`` and ``exe`` are quoted,
or hex when they hold a quote, a space, a control byte or non-ASCII (the kernel's
``audit_log_untrustedstring``); an exe the kernel cannot name is ``(null)``. ``arch`` and ``code``
are hex (``%x``), ``syscall`` is the number in that arch's table (x32 calls carry bit 30), and
``code`` is the filter's action without its data (``0x50000`` for any errno).

Pure (stdlib and the constant tables): the log backend calls :func:`parse_seccomp_record` on
every record, so it is one regular expression, anchored on the fields' fixed order. A field
another kernel adds between ``pid`` and ``exe``, ``exe`` and ``sig`` or ``syscall`` and ``code``
is skipped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .syscalls.constants import action_name

#: The audit message type of a seccomp record (``type=1326`` in the kernel log).
AUDIT_SECCOMP = 1326

_VALUE = r'"[^"]*"|[0-9A-Fa-f]+|\(null\)'
_EXTRA = r"(?: [a-z_]{1,32}=\S{0,4096}){0,8}?"
_RECORD = re.compile(
    r"\bpid=(?P<pid>[0-9]{1,10})(?: comm=(?P<comm>" + _VALUE + r"))?" + _EXTRA + r" "
    r"exe=(?P<exe>" + _VALUE + r"|<too_long>|<no_memory>)" + _EXTRA + r" "
    r"sig=(?P<sig>[0-9]{1,10}) arch=(?P<arch>[0-9a-f]{1,8}) syscall=(?P<nr>[0-9]{1,10})"
    + _EXTRA + r" code=0x(?P<code>[0-9a-f]{1,8})(?![0-9a-f])",
    re.ASCII,
)
#: ``ip=0x...`` between ``syscall=`` and ``code=``: searched for only inside that span.
_IP = re.compile(r" ip=0x(?P<ip>[0-9a-f]{1,16})(?![0-9a-f])", re.ASCII)
_STAMP = re.compile(r"audit\((?P<stamp>[0-9]{1,20}\.[0-9]{1,9}:[0-9]{1,20})\)", re.ASCII)
_U32 = 0xFFFFFFFF
_PID_MAX = 2**31 - 1
#: 10000-01-01T00:00:00Z: a stamp past it is not a time (datetime cannot hold it).
_YEAR_10000 = 253402300800


@dataclass(frozen=True)
class SeccompRecord:
    """One SECCOMP record: who (thread group ``pid``, ``exe``), which call (the kernel's
    AUDIT_ARCH ``arch`` and number ``syscall``), and the filter's return value ``code``; ``sig``
    is the signal that killed it (SIGSYS for a kill), 0 otherwise.

    ``comm``, ``stamp`` (``1796169114.695:31082036``: seconds and the audit serial; empty
    when the text has none) and ``ip`` (the caller's instruction pointer, right after its
    syscall instruction as the kernel's KSTK_EIP gives it; None when the text has none) are
    carried along but not compared: equal records are the same call of the same program,
    wherever they were read."""

    pid: int
    exe: str
    sig: int
    arch: int
    syscall: int
    code: int
    comm: str = field(default="", compare=False)
    stamp: str = field(default="", compare=False)
    ip: int | None = field(default=None, compare=False)

    @property
    def action(self) -> str:
        """What the filter did: ``log``, ``errno``, ``kill-process``, ``kill``, ``trap``..."""
        return action_name(self.code)


def exe_field(raw: str | bytes) -> str:
    """A ``comm=``/``exe=`` value: quoted, or hex when it holds unusual bytes (decoded, bytes
    that are not UTF-8 kept as surrogate escapes); ``?`` for ``(null)``."""
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", "surrogateescape")
    if raw.startswith('"'):
        return raw[1:-1]
    if raw == "(null)":
        return "?"
    if raw.startswith("<"):  # <too_long>, <no_memory>: the kernel could not print the path
        return raw
    try:
        return bytes.fromhex(raw).decode(errors="surrogateescape")
    except ValueError:
        return raw


def parse_seccomp_record(text: bytes | str) -> SeccompRecord | None:
    """The seccomp record in ``text`` (a netlink payload, a kernel log line, a line of
    audit.log or of ausearch's raw output), or None if it holds none. Never raises."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "surrogateescape")
    m = _RECORD.search(text)
    if m is None:
        return None
    pid, nr = int(m["pid"]), int(m["nr"])
    if pid > _PID_MAX or nr > _U32 or int(m["sig"]) > 128:
        return None
    stamp = _STAMP.search(text, 0, m.start())
    ip = _IP.search(text, m.end("nr"), m.start("code") - len(" code=0x"))
    return SeccompRecord(pid=pid, exe=exe_field(m["exe"]), sig=int(m["sig"]),
                         arch=int(m["arch"], 16), syscall=nr, code=int(m["code"], 16),
                         comm=exe_field(m["comm"]) if m["comm"] else "",
                         stamp=stamp["stamp"] if stamp else "",
                         ip=int(ip["ip"], 16) if ip else None)


def stamp_seconds(stamp: str) -> float | None:
    """The time of a record's ``audit(SECONDS.MS:SERIAL)`` stamp, in seconds since the epoch."""
    seconds, _, _serial = stamp.partition(":")
    try:
        value = float(seconds)
    except ValueError:
        return None
    return value if 0 <= value < _YEAR_10000 else None
