"""The seccomp audit record and its netlink framing, fed bytes (seccomp_gen/linux/audit.py).

Real samples first: records this machine's kernel wrote for workloads under a LOG or KILL_PROCESS
filter, read from /dev/kmsg and from NETLINK_AUDIT, with what the capture knew without any parser
(pid, exe, arch, syscall, signal, the filter's return value): tests/data/seccomp-audit-records.json
and the script that made it. Then what no kernel writes: hypothesis mutates the real records and
makes up bytes; the parser returns a record or None and nothing else, and never hangs (a hard
alarm fails an input that takes more than :data:`HARD_LIMIT_S`).
"""

from __future__ import annotations

import json
import os
import struct
from typing import Any

import pytest
from helpers.fuzz import hard_limit, mutated
from helpers.paths import DATA
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seccomp_gen.errors import RecordError
from seccomp_gen.linux.audit import (
    AUDIT_GET,
    AUDIT_SECCOMP,
    NLMSG_ERROR,
    AuditSocket,
    SeccompRecord,
    error_code,
    parse_seccomp_record,
    unpack_message,
)

SAMPLES: dict[str, Any] = json.loads((DATA / "seccomp-audit-records.json").read_text())
RECORDS: dict[str, dict[str, Any]] = SAMPLES["records"]
#: Every real record as bytes: the kmsg reads (prefix and newline included) and the payloads of
#: the netlink datagrams.
REAL = [r.encode() for rec in RECORDS.values() for r in rec["kmsg"]] + [
    bytes.fromhex(d)[16:] for rec in RECORDS.values() for d in rec["netlink"]]
#: An input that takes longer than this is a hang; a linear parser needs microseconds.
HARD_LIMIT_S = 10
EXAMPLES = int(os.environ.get("SECCOMP_GEN_FUZZ_EXAMPLES", "300"))

settings.register_profile(
    "parsers", max_examples=EXAMPLES, derandomize=bool(os.environ.get("CI")), deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def expected(name: str) -> SeccompRecord:
    """What the capture of sample ``name`` knew about its workload."""
    return SeccompRecord(**RECORDS[name]["expect"])


def parse(text: bytes) -> SeccompRecord | None:
    """:func:`parse_seccomp_record` under the hard alarm; its result must be of its type."""
    with hard_limit(HARD_LIMIT_S):
        rec = parse_seccomp_record(text)
    assert rec is None or isinstance(rec, SeccompRecord)
    return rec


# --- real records ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(RECORDS))
def test_records_read_from_kmsg(name: str) -> None:
    """As ``run --mode kill`` reads them: one /dev/kmsg read per record, its ``5,SEQ,TS,-;``
    prefix and trailing newline included; a LOG and a KILL_PROCESS verdict, an i386 caller, and
    an exe path with spaces (which the kernel writes in hex)."""
    (text,) = RECORDS[name]["kmsg"]
    assert parse(text.encode()) == expected(name)


def test_netlink_record_and_its_framing() -> None:
    """As the log backend reads them: a whole AUDIT_SECCOMP datagram, header then text."""
    (hexdata,) = RECORDS["audited_x86_64"]["netlink"]
    data = bytes.fromhex(hexdata)
    msg_type, seq, payload = unpack_message(data)
    assert (msg_type, seq) == (AUDIT_SECCOMP, 0)
    assert payload.startswith(b"audit(") and b"\0" not in payload
    assert parse(payload) == expected("audited_x86_64")
    # The copy sent to the registered audit daemon differs in nlmsg_len only (the kernel writes
    # the payload's length there, not the message's); the payload is found the same way.
    unicast = struct.pack("=I", len(payload)) + data[4:]
    assert unpack_message(unicast) == (msg_type, seq, payload)


def test_replies_to_requests() -> None:
    """A real AUDIT_GET reply and a real ACK (NLMSG_ERROR carrying errno 0)."""
    get = unpack_message(bytes.fromhex(SAMPLES["replies"]["audit_get_reply"]))
    assert get[:2] == (AUDIT_GET, 1) and len(get[2]) >= 32
    msg_type, seq, payload = unpack_message(bytes.fromhex(SAMPLES["replies"]["ack"]))
    assert (msg_type, seq) == (NLMSG_ERROR, 2)
    assert error_code(payload) == 0
    assert struct.unpack_from("=IH", payload, 4) == (16, AUDIT_GET)  # the request it answers


def test_text_the_code_documents() -> None:
    """The record as the module docstring shows it, and as audit.log writes it (``type=SECCOMP
    msg=audit(...)``: the same fields after another prefix)."""
    doc = (b'audit(...): auid=... uid=0 ... pid=1234 comm="ls" exe="/usr/bin/ls" sig=0 '
           b"arch=c000003e syscall=39 compat=0 ip=0x7f... code=0x7ffc0000")
    assert parse(doc) == SeccompRecord(pid=1234, exe="/usr/bin/ls", sig=0, arch=0xC000003E,
                                       syscall=39, code=0x7FFC0000)
    (hexdata,) = RECORDS["audited_x86_64"]["netlink"]
    line = b"type=SECCOMP msg=" + bytes.fromhex(hexdata)[16:] + b"\n"
    assert parse(line) == expected("audited_x86_64")
    assert parse(b'pid=7 comm="k" exe=(null) sig=0 arch=c000003e syscall=1 code=0x7ffc0000') \
        == SeccompRecord(pid=7, exe="?", sig=0, arch=0xC000003E, syscall=1, code=0x7FFC0000)


def test_the_callers_instruction_pointer() -> None:
    """``ip=`` of every real record, as its text has it; None where a text has no ``ip=``, and
    an ``ip=`` outside the span between ``syscall=`` and ``code=`` is not taken for it."""
    import re

    for real in REAL:
        rec = parse(real)
        assert rec is not None
        (want,) = re.findall(rb" ip=0x([0-9a-f]+) ", real)
        assert rec.ip == int(want, 16) and rec.ip > 0
    base = b'pid=7 comm="k" exe="/bin/k" sig=0 arch=c000003e syscall=1 compat=0 %s code=0x7ffc0000'
    rec = parse(base % b"ip=0x7fab225cec07")
    assert rec is not None and rec.ip == 0x7FAB225CEC07
    rec = parse(base.replace(b"%s ", b"") + b" ip=0x10")
    assert rec is not None and rec.ip is None
    rec = parse(b"ip=0x10 " + base.replace(b"%s ", b""))
    assert rec is not None and rec.ip is None


def test_what_holds_no_record() -> None:
    """Another kernel message (a real one), nothing, a record cut before its code."""
    assert parse(SAMPLES["not_a_record"].encode()) is None
    assert parse(b"") is None
    (text,) = RECORDS["killed_x86_64"]["kmsg"]
    assert parse(text.encode()[: text.index(" code=")]) is None


# --- what no kernel writes ------------------------------------------------------------------------


#: Each repeated a thousand times (tens of kilobytes: a netlink payload may be up to 64 KiB): a
#: record's fields again and again with the one that completes it missing. A backtracking match
#: took minutes on these (more than 300 s for 11 KB), which froze the log backend's reader.
_NEAR_MISSES = [b'pid=1 exe="a" ', b'pid=1 exe="a" sig=1 ', b"pid=1 exe=ab ",
                b'pid=1 exe="a" sig=1 arch=c syscall=1 ', b"pid=1 ", b'exe="', b"exe=",
                b" sig=1 arch=c syscall=1 "]


@pytest.mark.parametrize("unit", _NEAR_MISSES, ids=lambda u: u.decode().strip())
def test_near_misses_end_quickly(unit: bytes) -> None:
    assert parse(unit * 1000) is None
    # ... and a real record after them (on the next line, as in a log) is still found.
    real = bytes.fromhex(RECORDS["audited_x86_64"]["netlink"][0])[16:]
    assert parse(unit * 1000 + b"\n" + real) == expected("audited_x86_64")


def test_numbers_too_long_for_int() -> None:
    """Decimal fields of 5,000 digits (more than int() converts) are not a record's."""
    real = bytes.fromhex(RECORDS["audited_x86_64"]["netlink"][0])[16:]
    for field in (b"pid=", b"sig=", b"syscall="):
        at = real.index(b" " + field) + len(field) + 1
        end = real.index(b" ", at)
        assert parse(real[:at] + b"9" * 5000 + real[end:]) is None, field


#: Byte strings that break parsers: field names, quotes, hex, NUL, invalid UTF-8, long digits.
TOKENS = [b"pid=", b" exe=", b'"', b" sig=", b" arch=", b" syscall=", b" code=0x", b"(null)",
          b"9" * 30, b"f" * 30, b"\x00", b"\xff", b"\n", b" ", b"audit(", b"type=1326 "]


@settings(settings.get_profile("parsers"))
@given(mutated(REAL, TOKENS, ops=6, delete=32, chunk=80, repeat=200, token_repeat=300))
def test_mutated_records(data: bytes) -> None:
    parse(data)


@settings(settings.get_profile("parsers"))
@given(st.binary(max_size=4096) | st.lists(st.sampled_from(TOKENS)).map(b"".join))
def test_made_up_bytes(data: bytes) -> None:
    parse(data)


@settings(settings.get_profile("parsers"))
@given(st.sampled_from(REAL), st.binary(max_size=200).filter(lambda b: b"\n" not in b))
def test_a_record_on_its_own_line_is_found_whatever_surrounds_it(real: bytes,
                                                                 noise: bytes) -> None:
    """Lines before and after a record do not change what is read from it."""
    alone = parse(real)
    assert alone is not None
    assert parse(noise + b"\n" + real.rstrip(b"\n") + b"\n" + noise) == alone


# --- netlink framing -----------------------------------------------------------------------------


@settings(settings.get_profile("parsers"))
@given(st.binary(max_size=64))
def test_any_datagram_is_framed_or_refused_in_one_line(data: bytes) -> None:
    """Shorter than the 16-byte header: a RecordError (the log backend reports it in one line),
    never a struct.error."""
    try:
        msg_type, seq, payload = unpack_message(data)
    except RecordError as exc:
        assert len(data) < 16 and "\n" not in exc.one_line()
        return
    assert payload == data[16:] and 0 <= msg_type < 2**16 and 0 <= seq < 2**32


@given(st.binary(max_size=8))
def test_any_error_payload_is_read_or_refused_in_one_line(payload: bytes) -> None:
    try:
        err = error_code(payload)
    except RecordError as exc:
        assert len(payload) < 4 and "\n" not in exc.one_line()
        return
    assert err == struct.unpack_from("=i", payload)[0]


def test_the_socket_hands_on_records_and_counts_them() -> None:
    """``AuditSocket.dispatch`` on real datagrams (no request is sent, nothing registered):
    AUDIT_SECCOMP payloads go to ``on_record``, replies only come back; a datagram shorter than
    its header is a RecordError, not a struct.error."""
    seen: list[bytes] = []
    try:
        conn = AuditSocket(on_record=seen.append)
    except RecordError as exc:
        pytest.skip(f"no audit netlink socket here: {exc.one_line()}")
    try:
        record = bytes.fromhex(RECORDS["audited_x86_64"]["netlink"][0])
        reply = bytes.fromhex(SAMPLES["replies"]["audit_get_reply"])
        assert conn.dispatch(reply)[:2] == (AUDIT_GET, 1)
        assert (conn.records, seen) == (0, [])
        assert conn.dispatch(record)[0] == AUDIT_SECCOMP
        assert (conn.records, seen) == (1, [record[16:]])
        with pytest.raises(RecordError, match="shorter than its header"):
            conn.dispatch(record[:10])
    finally:
        conn.close()
