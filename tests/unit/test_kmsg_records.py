"""Reading the kernel log after a kill (seccomp_gen/linux/kmsg.py, and ``run --mode kill``'s use
of it), fed bytes instead of /dev/kmsg.

/dev/kmsg hands out one record per read() and EAGAIN when there are no more (it is opened
O_NONBLOCK); a non-blocking SOCK_SEQPACKET socket pair does the same with the records we write
into it: the real records of tests/data/seccomp-audit-records.json, then anything hypothesis
makes up. The reader must give back each record whole, end without waiting, close its fd, and
never raise.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
from helpers.fuzz import hard_limit
from helpers.paths import DATA
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seccomp_gen.enforce.run import _kmsg_kills
from seccomp_gen.linux.audit import SeccompRecord, parse_seccomp_record
from seccomp_gen.linux.kmsg import records_since

SAMPLES: dict[str, Any] = json.loads((DATA / "seccomp-audit-records.json").read_text())
KMSG = {name: rec["kmsg"][0].encode() for name, rec in SAMPLES["records"].items()}
OTHER = SAMPLES["not_a_record"].encode()
#: What records_since reads at once: no record of /dev/kmsg is longer.
READ_SIZE = 8192
HARD_LIMIT_S = 10
EXAMPLES = int(os.environ.get("SECCOMP_GEN_FUZZ_EXAMPLES", "200"))


@contextlib.contextmanager
def kmsg_like(records: list[bytes], *, writer_open: bool = False) -> Iterator[int]:
    """A non-blocking fd that reads back ``records`` one per read, as /dev/kmsg does; then
    EAGAIN (``writer_open``: the other end stays open, as the kernel's does) or end of file."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        for rec in records:
            theirs.send(rec)
        if not writer_open:
            theirs.close()
        ours.setblocking(False)
        yield ours.detach()
    finally:
        ours.close()
        theirs.close()


def read_all(fd: int) -> list[bytes]:
    """records_since(fd) to its end, under the hard alarm; the fd must be closed after."""
    with hard_limit(HARD_LIMIT_S):
        got = list(records_since(fd))
    with pytest.raises(OSError) as info:
        os.fstat(fd)
    assert info.value.errno == errno.EBADF
    return got


@pytest.mark.parametrize("writer_open", [False, True], ids=["eof", "eagain"])
def test_real_records_come_back_whole(writer_open: bool) -> None:
    records = [OTHER, *KMSG.values()]
    with kmsg_like(records, writer_open=writer_open) as fd:
        assert read_all(fd) == records


def test_nothing_to_read() -> None:
    assert list(records_since(-1)) == []  # /dev/kmsg was not readable (not root)
    with kmsg_like([], writer_open=True) as fd:
        assert read_all(fd) == []


def test_kill_mode_finds_the_kill_of_its_pid_only() -> None:
    """``run --mode kill``: among the records logged since the workload started, the SIGSYS kill
    of the workload's pid; not another process's record, not a LOG record of the same pid."""
    killed = SAMPLES["records"]["killed_x86_64"]["expect"]
    audited_same_pid = KMSG["audited_x86_64"].replace(
        b" pid=%d " % SAMPLES["records"]["audited_x86_64"]["expect"]["pid"],
        b" pid=%d " % killed["pid"])
    with kmsg_like([OTHER, *KMSG.values(), audited_same_pid]) as fd, hard_limit(HARD_LIMIT_S):
        found = _kmsg_kills(fd, killed["pid"])
    assert found == [SeccompRecord(**killed)]
    with kmsg_like(list(KMSG.values())) as fd:
        assert _kmsg_kills(fd, killed["pid"] + 1) == []


@settings(max_examples=EXAMPLES, derandomize=bool(os.environ.get("CI")), deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.lists(st.binary(min_size=1, max_size=READ_SIZE)
                | st.sampled_from([*KMSG.values(), OTHER]), max_size=12),
       st.booleans())
def test_any_records_come_back_whole_and_parse_or_not(records: list[bytes],
                                                      writer_open: bool) -> None:
    with kmsg_like(records, writer_open=writer_open) as fd:
        got = read_all(fd)
    assert got == records
    with hard_limit(HARD_LIMIT_S):
        for rec in got:
            parsed = parse_seccomp_record(rec)
            assert parsed is None or isinstance(parsed, SeccompRecord)




def test_a_log_that_never_goes_quiet_still_ends() -> None:
    """The reader stops at its record cap and at its time cap (before: it read on while records
    kept coming, as they do on a machine-wide log while another process logs without pause).
    Deterministic: the log holds far more records than either cap lets through."""
    many = [OTHER] * 200  # a SOCK_SEQPACKET pair holds about 270 such records
    with kmsg_like(many, writer_open=True) as fd, hard_limit(HARD_LIMIT_S):
        assert len(list(records_since(fd, max_records=50, max_seconds=60))) == 50
    with kmsg_like(many, writer_open=True) as fd, hard_limit(HARD_LIMIT_S):
        got = 0
        for _ in records_since(fd, max_seconds=0.2):
            got += 1
            time.sleep(0.01)  # a slow consumer: the cap is on time, not on records
        assert 0 < got < len(many)
