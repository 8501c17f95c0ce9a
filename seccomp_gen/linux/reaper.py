"""The workload dies with its recorder: a small reaper process between the two.

The ptrace backends get this from the kernel (PTRACE_O_EXITKILL); the log, notify and ebpf
backends trace nothing, so they start the workload through :func:`spawn`, which puts a reaper R in
between::

    recorder ── R (child subreaper) ── workload ── its children ...
                                    └─ orphans of the tree (re-parented to R)

R relays the workload's pid, pidfd and wait status (``S``), says when it has no child left, which
is exactly when the tree is empty (``E``), and SIGKILLs the whole tree, again and again until none
is left, when the recorder dies or drops its socket. Why this and not PR_SET_PDEATHSIG, a pid
namespace, a cgroup or a watchdog, and what the backends see differently: docs/backends/README.md,
"The reaper".
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import os
import select
import signal
import struct
from _socket import (
    AF_UNIX,
    CMSG_LEN,
    SCM_RIGHTS,
    SOCK_CLOEXEC,
    SOCK_SEQPACKET,
    SOL_SOCKET,
    socketpair,
)
from _socket import socket as Socket
from collections.abc import Iterable

from ..errors import RecordError
from .libc import PR_SET_CHILD_SUBREAPER, prctl
from .procfs import children_of, open_fds
from .ptrace import WALL
from .spawn import default_signals, forward_signal

#: R's messages: a tag and a number (the wait status for ``S``, an errno for ``F``).
_MSG = struct.Struct("=ci")
_PID, _STATUS, _END, _FAILED = b"P", b"S", b"E", b"F"
#: Never acted on in R (blocked there: all that can be); the workload gets the recorder's mask.
_BLOCKED = signal.valid_signals() - {signal.SIGKILL, signal.SIGSTOP}


class Reaper:
    """The recorder's end of R: its pid, the workload's pid and pidfd, and R's messages."""

    def __init__(self, pid: int, sock: Socket, main_pid: int, main_pidfd: int) -> None:
        self.pid = pid
        self.sock = sock
        self.main_pid = main_pid
        self.main_pidfd = main_pidfd
        #: The workload's wait status once R has reaped it.
        self.main_status: int | None = None
        #: Whether R said that the whole tree has ended.
        self.ended = False
        self._closed = False

    def fileno(self) -> int:
        """Readable when R has something to say (or is gone): poll it, then :meth:`read`."""
        return self.sock.fileno()

    def read(self) -> bytes:
        """The next message (:data:`_STATUS` sets ``main_status``, :data:`_END` ``ended``);
        waits for it. Raises RecordError when R is gone without a word (then the workload is
        killed: nothing would reap or relay it any more)."""
        data = self.sock.recv(_MSG.size)
        if len(data) != _MSG.size:
            self.signal_main(signal.SIGKILL)
            raise RecordError("the reaper process of the workload ended unexpectedly",
                              pid=self.pid)
        tag, value = _MSG.unpack(data)
        if tag == _STATUS:
            self.main_status = value
        elif tag == _END:
            self.ended = True
        return bytes(tag)

    def wait_main(self) -> int:
        """The workload's wait status, waiting for it."""
        while self.main_status is None:
            self.read()
        return self.main_status

    def wait_end(self) -> None:
        """Until the whole tree has ended (R has no child left)."""
        while not self.ended:
            self.read()

    def main_alive(self) -> bool:
        """Whether the main process still runs (its pidfd is readable once it has exited, even
        before R has reaped it or told its status)."""
        if self._closed:
            return False
        poller = select.poll()
        poller.register(self.main_pidfd, select.POLLIN)
        return not poller.poll(0)

    def signal_main(self, sig: int) -> None:
        """Send ``sig`` to the workload's main process (through its pidfd: never another)."""
        if not self._closed:
            with contextlib.suppress(OSError):
                signal.pidfd_send_signal(self.main_pidfd, sig)

    def forward(self, sig: int) -> None:
        """Pass a user's signal on to the main process, unless it is already pending there."""
        if not self._closed:
            forward_signal(self.main_pid, sig, pidfd=self.main_pidfd)

    def children(self) -> set[int]:
        """R's live children: the main process (until reaped) and the tree's orphans; none once
        R said the tree has ended or was reaped (its pid may be another process's by then)."""
        if self.ended or self._closed:
            return set()
        return children_of(self.pid)

    def close(self) -> None:
        """Done with R. Before the end of the tree this aborts the run: R sees its socket
        close, kills the whole tree and exits. Either way R is reaped here."""
        if self._closed:
            return
        self._closed = True
        self.sock.close()
        os.close(self.main_pidfd)
        while True:
            try:
                os.waitpid(self.pid, 0)
            except ChildProcessError:
                break
            except InterruptedError:
                continue
            break


def spawn() -> Reaper | None:
    """Fork R, which forks the workload: a :class:`Reaper` in the recorder, ``None`` in the
    workload (which then does its own set-up and execs, with the recorder's fds and signal mask
    and default signal dispositions). Never returns in R.

    The recorder's signals stay blocked until R has said who the workload is, so that a signal
    handler that raises cannot leave R and the workload behind unknown (were it to raise, the
    Reaper is closed: R kills what it started)."""
    ours, theirs = socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC)
    recorder = os.getpid()
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, _BLOCKED)
    try:
        pid = os.fork()
    except BaseException:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        ours.close()
        theirs.close()
        raise
    if pid == 0:
        workload = False
        try:
            ours.close()
            workload = _reaper(theirs, recorder, mask)
        except BaseException:  # R, or a workload whose set-up failed: nothing to tell, exit
            pass
        if not workload:
            os._exit(0)
        return None
    reaper: Reaper | None = None
    try:
        theirs.close()
        reaper = _receive(ours, pid)
    finally:
        try:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)  # runs pending handlers
        except BaseException:
            if reaper is not None:
                reaper.close()
            raise
    return reaper


def _receive(sock: Socket, pid: int) -> Reaper:
    """R's first message: the workload's pid and pidfd (or why it could not fork it)."""
    try:
        msg, fds = _recv_fds(sock, _MSG.size, 1)
    except BaseException:
        sock.close()
        _wait_exited(pid)
        raise
    tag, value = _MSG.unpack(msg) if len(msg) == _MSG.size else (b"", 0)
    if tag != _PID or len(fds) != 1:
        for fd in fds:
            os.close(fd)
        sock.close()
        _wait_exited(pid)
        why = os.strerror(value) if tag == _FAILED else "it ended first"
        raise RecordError(f"could not start the workload's reaper process: {why}")
    return Reaper(pid, sock, value, fds[0])


def _recv_fds(sock: Socket, size: int, maxfds: int) -> tuple[bytes, list[int]]:
    """One message and the fds passed with it (socket.recv_fds, without importing the socket
    module: ~2 ms of enums at start-up, for two calls)."""
    msg, ancillary, _, _ = sock.recvmsg(size, CMSG_LEN(maxfds * 4))
    fds: list[int] = []
    for level, kind, data in ancillary:
        if level == SOL_SOCKET and kind == SCM_RIGHTS:
            fds += struct.unpack(f"{len(data) // 4}i", data[:len(data) // 4 * 4])
    return msg, fds


def _wait_exited(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)


def _reaper(sock: Socket, recorder: int, mask: Iterable[int]) -> bool:
    """R, from the fork on: True in the workload (forked here), never returns in R itself."""
    gc.disable()  # nothing of the recorder's is freed (or finalized) here
    if prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        _send(sock, _FAILED, ctypes.get_errno())
        return False
    watch = os.pidfd_open(recorder)
    if os.getppid() != recorder:  # the recorder died before the pidfd was open
        return False
    try:
        main = os.fork()
    except OSError as exc:
        _send(sock, _FAILED, exc.errno or 0)
        return False
    if main == 0:
        try:
            sock.close()
            os.close(watch)
            default_signals()
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        except BaseException:
            os._exit(127)
        return True
    try:
        main_fd = os.pidfd_open(main)  # the workload cannot be reaped before: only R reaps it
        _close_all_but({sock.fileno(), watch, main_fd})
        if _send(sock, _PID, main, [main_fd]):
            _watch(sock, watch, main, main_fd)
            return False
    except BaseException:
        pass  # R cannot go on: nobody would relay or reap, so nothing of the tree may live
    _kill_tree()
    return False


class _RecorderGone(Exception):
    """The recorder died or let go of R: time to kill the tree."""


def _close_all_but(keep: set[int]) -> None:
    """Close every fd of R but ``keep``; stdin, stdout and stderr become /dev/null."""
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)
    for fd in open_fds():
        if fd > 2 and fd not in keep:
            with contextlib.suppress(OSError):
                os.close(fd)


def _send(sock: Socket, tag: bytes, value: int, fds: list[int] | None = None) -> bool:
    """One message to the recorder; False if it cannot hear it any more."""
    try:
        if fds:
            sock.sendmsg([_MSG.pack(tag, value)],
                         [(SOL_SOCKET, SCM_RIGHTS, struct.pack(f"{len(fds)}i", *fds))])
        else:
            sock.send(_MSG.pack(tag, value))
    except OSError:
        return False
    return True


def _watch(sock: Socket, watch: int, main: int, main_fd: int) -> None:
    """R's loop while the recorder lives: reap, relay, say when the tree is empty. Raises
    :class:`_RecorderGone` when the recorder is gone."""
    poller = select.poll()
    poller.register(watch, select.POLLIN)
    poller.register(sock.fileno(), 0)  # POLLHUP (the recorder let go) is always reported
    watched = {main: main_fd}
    poller.register(main_fd, select.POLLIN)
    while True:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG | WALL)
            except ChildProcessError:
                break
            if pid == 0:
                break
            fd = watched.pop(pid, None)
            if fd is not None:
                poller.unregister(fd)
                os.close(fd)
            if pid == main and not _send(sock, _STATUS, status):
                raise _RecorderGone
        kids = children_of(os.getpid())
        if not kids:
            _send(sock, _END, 0)
            return
        for kid in kids - watched.keys():
            try:
                fd = os.pidfd_open(kid)
            except OSError:
                continue  # gone in between: reaped at the next turn
            watched[kid] = fd
            poller.register(fd, select.POLLIN)
        for fd, _ in poller.poll():
            if fd in (watch, sock.fileno()):
                raise _RecorderGone


def _kill_tree() -> None:
    """SIGKILL every child of R until none is left (orphans of the killed keep arriving)."""
    while True:
        for kid in children_of(os.getpid()):
            with contextlib.suppress(ProcessLookupError):
                os.kill(kid, signal.SIGKILL)
        try:
            os.waitpid(-1, WALL)
        except ChildProcessError:
            return
        except InterruptedError:
            continue
