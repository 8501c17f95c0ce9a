"""The kernel's audit subsystem: a NETLINK_AUDIT socket, and the seccomp records it carries.

seccomp-gen reads audit records in two places: the log backend, as the registered audit daemon
(records arrive on its netlink socket, none lost), and ``run --mode kill`` and ``import``, from
the kernel log or an audit log (text). One record format serves both, and one pure parser reads
it, :func:`seccomp_gen.auditrecord.parse_seccomp_record` (re-exported here), so that ``import``
(in ``formats/``, which may not import this package) reads it too. The netlink framing
(:func:`unpack_message`, :func:`error_code`) is pure too.
"""

from __future__ import annotations

import contextlib
import os
import socket
import struct
from collections.abc import Callable
from dataclasses import dataclass

from ..auditrecord import AUDIT_SECCOMP as AUDIT_SECCOMP
from ..auditrecord import SeccompRecord as SeccompRecord
from ..auditrecord import exe_field as exe_field
from ..auditrecord import parse_seccomp_record as parse_seccomp_record
from ..errors import RecordError

NETLINK_AUDIT = 9
AUDIT_GET, AUDIT_SET = 1000, 1001
#: Message types from 1100 up are audit records (from the kernel's queue); below, replies.
AUDIT_FIRST_RECORD = 1100
NLMSG_ERROR, NLMSG_DONE = 2, 3
NLM_F_REQUEST, NLM_F_ACK = 0x1, 0x4
SO_RCVBUFFORCE = 33
STATUS_ENABLED, STATUS_PID, STATUS_RATE_LIMIT, STATUS_BACKLOG_LIMIT = 0x1, 0x4, 0x8, 0x10
AUDIT_LOCKED = 2
#: The receive buffer asked for with SO_RCVBUFFORCE.
RCVBUF = 64 << 20

_NLMSGHDR = struct.Struct("=IHHII")
_STATUS_FIELDS = ("mask", "enabled", "failure", "pid", "rate_limit", "backlog_limit", "lost",
                  "backlog")

def unpack_message(data: bytes) -> tuple[int, int, bytes]:
    """(type, seq, payload) of one datagram from the audit socket; RecordError if it is shorter
    than a netlink header.

    Audit records are one per datagram, and their ``nlmsg_len`` is the payload length (a
    long-standing quirk of the kernel; the read-log multicast copies say the whole length), so
    the payload is everything after the header, whatever ``nlmsg_len`` says.
    """
    if len(data) < _NLMSGHDR.size:
        raise RecordError(f"a {len(data)}-byte netlink message from the audit socket, shorter "
                          "than its header")
    _, msg_type, _, seq, _ = _NLMSGHDR.unpack_from(data)
    return msg_type, seq, data[_NLMSGHDR.size:]


def error_code(payload: bytes) -> int:
    """The (negative) errno of an NLMSG_ERROR payload, 0 for an ACK; RecordError if cut short."""
    if len(payload) < 4:
        raise RecordError("a truncated netlink error message from the audit socket")
    return int(struct.unpack_from("=i", payload)[0])


@dataclass(frozen=True)
class AuditStatus:
    """The fields of ``struct audit_status`` this backend reads or changes."""

    enabled: int
    failure: int
    pid: int
    rate_limit: int
    backlog_limit: int
    lost: int
    backlog: int


class AuditSocket:
    """A NETLINK_AUDIT socket: status requests, and the records sent to the audit daemon.

    Records that arrive while a request waits for its reply are passed to ``on_record`` (the
    payload of each AUDIT_SECCOMP message), so nothing is lost in between.
    """

    def __init__(self, on_record: Callable[[bytes], None] | None = None) -> None:
        try:
            self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC,
                                      NETLINK_AUDIT)
        except OSError as exc:
            raise RecordError(f"cannot open the audit netlink socket: {exc.strerror or exc}",
                              hint="the kernel needs CONFIG_AUDIT") from None
        self.sock.bind((0, 0))
        self.on_record = on_record
        #: Audit records received (of any type, anyone's): they came from the kernel's queue.
        self.records = 0
        self._seq = 0

    def close(self) -> None:
        self.sock.close()

    def grow_buffer(self, size: int = RCVBUF) -> int:
        """Raise the receive buffer (SO_RCVBUFFORCE, else SO_RCVBUF); returns what it got."""
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, size)
        except OSError:
            with contextlib.suppress(OSError):
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)
        return int(self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF))

    def _send(self, msg_type: int, payload: bytes, flags: int) -> int:
        self._seq += 1
        self.sock.send(_NLMSGHDR.pack(_NLMSGHDR.size + len(payload), msg_type, flags, self._seq,
                                      0) + payload)
        return self._seq

    def dispatch(self, data: bytes) -> tuple[int, int, bytes]:
        """Hand a record to ``on_record``; return (type, seq, payload) of one datagram."""
        msg_type, seq, payload = unpack_message(data)
        if msg_type >= AUDIT_FIRST_RECORD:
            self.records += 1
            if msg_type == AUDIT_SECCOMP and self.on_record is not None:
                self.on_record(payload)
        return msg_type, seq, payload

    def _wait(self, want: Callable[[int, int, bytes], bool], timeout: float = 5.0) -> bytes:
        self.sock.settimeout(timeout)
        try:
            while True:
                try:
                    data = self.sock.recv(65536)
                except TimeoutError:
                    raise RecordError("the kernel's audit subsystem did not answer") from None
                msg_type, seq, payload = self.dispatch(data)
                if want(msg_type, seq, payload):
                    return payload
        finally:
            self.sock.settimeout(None)

    def status(self) -> AuditStatus:
        """AUDIT_GET. The reply comes from a kernel thread, after any ack, so none is asked for."""
        self._send(AUDIT_GET, b"", NLM_F_REQUEST)

        def want(msg_type: int, _seq: int, payload: bytes) -> bool:
            if msg_type == NLMSG_ERROR:
                err = error_code(payload)
                if err:
                    raise _os_error(-err, "AUDIT_GET")
            return msg_type == AUDIT_GET

        payload = self._wait(want)
        values = struct.unpack_from(f"={len(_STATUS_FIELDS)}I",
                                    payload.ljust(4 * len(_STATUS_FIELDS), b"\0"))
        fields = dict(zip(_STATUS_FIELDS, values, strict=True))
        del fields["mask"]
        return AuditStatus(**fields)

    def set(self, mask: int, *, enabled: int = 0, pid: int = 0, rate_limit: int = 0,
            backlog_limit: int = 0) -> None:
        """AUDIT_SET of the fields in ``mask``; raises OSError with the kernel's errno."""
        payload = struct.pack("=8I", mask, enabled, 0, pid, rate_limit, backlog_limit, 0, 0)
        seq = self._send(AUDIT_SET, payload, NLM_F_REQUEST | NLM_F_ACK)
        result: list[int] = []

        def want(msg_type: int, got: int, body: bytes) -> bool:
            if msg_type == NLMSG_ERROR and got == seq:
                result.append(error_code(body))
                return True
            return False

        self._wait(want)
        if result and result[0]:
            raise _os_error(-result[0], "AUDIT_SET")


def _os_error(err: int, what: str) -> OSError:
    return OSError(err, f"{what}: {os.strerror(err)}")
