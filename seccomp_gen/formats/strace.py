"""Read ``strace -f`` text output (``-o FILE``, ``-ff`` files, or what strace wrote to stderr).

Pure: no ptrace, no rich, no libseccomp. :func:`parse` turns lines into calls (a
:class:`StraceLog`); :func:`to_trace` builds an :class:`ImportResult` from them (the
:class:`~seccomp_gen.model.Trace`, the names it could not resolve, the pids read as 32-bit), with
syscall numbers resolved by a function the caller passes in (``seccomp-gen import`` passes
libseccomp's table for ``--arch``), so a log is named with the table of the arch it was recorded
on. Only arguments strace prints symbolically and a profile pins are read back
(:data:`PARSED_ARGS`); every line that is not understood is kept in ``unparsed``. What is
understood: docs/formats/strace.md.
"""

from __future__ import annotations

import errno as errno_mod
import re
import signal
import socket
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace

from ..aggregate import UNRETURNED, ProcessState, RawRecording, build_trace
from ..model import MAX_ARG_VALUE, ArgValues, ExitStatus, Trace, TraceHeader
from ..syscalls.argspec import ARG_VALUE_CAP, fields_for
from ..syscalls.constants import CLONE_NAMES, CLONE_THREAD, KERNEL_ERRNOS

# Numbers that become ints are at most 10 digits: a pid, an exit status, an errno. (Python
# refuses to convert more than 4300 digits, and no such number is a pid.)

#: strace's ABI labels -> position in the arch family (main arch, compat 32-bit, x32).
MODES = {"64 bit": 0, "32 bit": 1, "x32": 2}

#: Syscalls that create a process or thread: their result is the child's pid.
FORKS = frozenset({"clone", "clone3", "fork", "vfork"})
EXECS = frozenset({"execve", "execveat"})

#: What this importer reads from the argument text (the rest of argspec is not recorded).
PARSED_ARGS = frozenset({"socket", "socketpair", "clone", "clone3", "unshare", "setns"})

NOTE_ARGS = ("imported from strace text: arguments read only for socket/socketpair (domain, "
             "type), clone/clone3/unshare (flags) and setns (nstype); other arguments a live "
             "recording keeps (prctl option, ioctl request, mmap prot, ...) are not recorded")

_PREFIX = re.compile(
    r"^\s*(?:\[pid\s+(?P<bpid>[0-9]{1,10})\]\s+|(?P<pid>[0-9]{1,10})\s+(?=\S))?"
    r"(?:(?:\d{1,2}:\d{2}:\d{2}(?:\.\d+)?|\d+\.\d+)\s+)?"
    r"(?:\[\s*[0-9a-f]{4,16}\]\s+)?"
    r"(?P<body>.*?)\s*$"
)
_CALL = re.compile(r"^(?P<name>[a-z_][a-z0-9_]*)\((?P<rest>.*)$")
_RESUMED = re.compile(r"^<\.\.\.\s+(?P<name>[a-z_][a-z0-9_]*)\s+resumed>\s?(?P<rest>.*)$")
_UNFINISHED = re.compile(r"\s*<unfinished \.\.\.>\)?$")
_RESULT = re.compile(r"\)\s+=\s+")
_RETVAL = re.compile(r"^(?P<val>\?|-?\d+|0x[0-9a-fA-F]+)(?P<rest>(?:\s|<|\().*)?$")
_DURATION = re.compile(r"\s+<\d+\.\d+>$")
_MODE = re.compile(r"^\[\s*Process PID[= ](?P<pid>[0-9]{1,10}) runs in (?P<mode>64 bit|32 bit|x32) "
                   r"mode\.\s*\]$")
_EXIT = re.compile(r"^\+\+\+ (?:exited with (?P<code>[0-9]{1,10})|killed by (?P<sig>SIG[A-Z0-9_+]+)"
                   r"(?P<core> \(core dumped\))?|superseded by execve in pid \d+) \+\+\+$")
_SIGNAL = re.compile(r"^--- .* ---$")
_STRACE_MSG = re.compile(r"^strace: ")
_STACK = re.compile(r"^> ")
_ATTACHED = re.compile(r"^strace: Process (?P<pid>[0-9]{1,10}) attached")


@dataclass(frozen=True)
class Call:
    """One completed (or never completed) syscall as strace printed it.

    ``result``: 0 for success, an errno for a failure, :data:`UNRETURNED` when it never returned
    (``= ?`` or a call still unfinished when its process ended). ``args``: the recorded argument
    values (argspec's fields) or None when not read; ``args_unread`` when they should have been
    read but strace printed something this parser does not understand.
    """

    tid: int
    mode: int | None
    epoch: int
    name: str
    result: int
    args: tuple[int, ...] | None = None
    args_unread: bool = False
    child: int | None = None
    exec_path: str | None = None
    argv: tuple[str, ...] | None = None


@dataclass
class StraceLog:
    """What :func:`parse` read: calls in completion order, processes, and unparsed lines."""

    calls: list[Call] = field(default_factory=list)
    #: tid -> (parent tid, parent's exec epoch at the fork, is a thread)
    children: dict[int, tuple[int, int, bool]] = field(default_factory=dict)
    exits: dict[int, ExitStatus] = field(default_factory=dict)
    exec_paths: dict[tuple[int, int], str] = field(default_factory=dict)
    explicit_modes: bool = False
    unparsed: list[tuple[str, int, str]] = field(default_factory=list)
    lines: int = 0
    tids: list[int] = field(default_factory=list)


# --- argument text ------------------------------------------------------------------------------


def _split_args(text: str) -> list[str]:
    """Split strace's argument text at top-level commas (quotes, brackets and braces nest)."""
    out: list[str] = []
    depth = 0
    cur: list[str] = []
    quoted = False
    i = 0
    while i < len(text):
        ch = text[i]
        if quoted:
            cur.append(ch)
            if ch == "\\" and i + 1 < len(text):
                cur.append(text[i + 1])
                i += 1
            elif ch == '"':
                quoted = False
        elif ch == '"':
            quoted = True
            cur.append(ch)
        elif ch in "([{":
            depth += 1
            cur.append(ch)
        elif ch in ")]}":
            depth -= 1
            cur.append(ch)
        elif ch == "," and depth == 0:
            out.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
        i += 1
    if cur or out:
        out.append("".join(cur).strip())
    return out


def _number(token: str) -> int | None:
    token = re.sub(r"\s*/\*.*?\*/", "", token).strip()
    try:
        return int(token, 0)
    except ValueError:
        return None


def _symbol(token: str, lookup: Callable[[str], int | None]) -> int | None:
    """``A|B|0x10`` -> the OR of the parts, or None if one part is unknown or the value is not
    what a 64-bit register holds (``-1``: which register bits were set is not known)."""
    total = 0
    for part in token.split("|"):
        part = part.strip()
        value = _number(part)
        if value is None:
            value = lookup(part)
        if value is None:
            return None
        total |= value
    return total if 0 <= total <= MAX_ARG_VALUE else None


def _socket_const(prefix: str) -> Callable[[str], int | None]:
    def lookup(name: str) -> int | None:
        if not name.startswith(prefix):
            return None
        value = getattr(socket, name, None)
        if value is None and prefix == "AF_":
            value = getattr(socket, "PF_" + name[3:], None)
        return int(value) if isinstance(value, int) else None
    return lookup


def _clone_const(name: str) -> int | None:
    if name in CLONE_NAMES:
        return CLONE_NAMES[name]
    if name.startswith("SIG"):
        try:
            return int(signal.Signals[name])
        except KeyError:
            return None
    return None


def _field(args: list[str], key: str) -> str | None:
    """``flags=...`` inside a struct or a named argument."""
    for a in args:
        a = a.strip("{} ")
        for part in _split_args(a):
            if part.startswith(key + "="):
                return part[len(key) + 1:]
    return None


def parse_args(name: str, text: str) -> tuple[int, ...] | None:
    """The argspec fields of ``name`` from strace's argument text, or None if not understood."""
    args = _split_args(text)
    if name in ("socket", "socketpair"):
        if len(args) < 2:
            return None
        domain = _symbol(args[0], _socket_const("AF_"))
        kind = _symbol(args[1], _socket_const("SOCK_"))
        return None if domain is None or kind is None else (domain, kind)
    if name in ("clone", "clone3"):
        flags = _field(args, "flags")
        if flags is None:
            return None
        value = _symbol(flags, _clone_const)
        return None if value is None else (value,)
    if name == "unshare":
        value = _symbol(args[0], _clone_const) if args else None
        return None if value is None else (value,)
    if name == "setns":
        value = _symbol(args[1], _clone_const) if len(args) > 1 else None
        return None if value is None else (value,)
    return None


def _c_string(token: str) -> str | None:
    """Decode one strace string literal (``"a\\tb"``); a truncated one (``"abc"...``) keeps
    what strace printed, with ``...``; None for anything else."""
    token = token.strip()
    suffix = ""
    if token.endswith('"...'):  # strace -s truncated it: keep what there is, marked
        token, suffix = token[:-3], "..."
    if len(token) < 2 or token[0] != '"' or not token.endswith('"'):
        return None
    body = token[1:-1]
    try:
        with warnings.catch_warnings():  # "\h" and friends: kept as written, without a warning
            warnings.simplefilter("ignore", DeprecationWarning)
            raw = body.encode("latin-1", "backslashreplace").decode("unicode_escape")
        return raw.encode("latin-1").decode("utf-8", "replace") + suffix
    except (UnicodeDecodeError, UnicodeEncodeError):
        return body + suffix


def _exec_info(text: str) -> tuple[str | None, tuple[str, ...] | None]:
    args = _split_args(text)
    if not args:
        return None, None
    path = _c_string(args[0])
    argv: tuple[str, ...] | None = None
    if len(args) > 1 and args[1].startswith("[") and args[1].endswith("]"):
        items = _split_args(args[1][1:-1])
        decoded = [_c_string(i) for i in items if i]
        if decoded and all(d is not None for d in decoded):
            argv = tuple(d for d in decoded if d is not None)
    return path, argv


def _result(text: str) -> int | None:
    """0 / errno / UNRETURNED from the text after ``= ``; None if not understood."""
    text = _DURATION.sub("", text.strip())
    m = _RETVAL.match(text)
    if not m:
        return None
    val, rest = m.group("val"), (m.group("rest") or "").strip()
    ename = rest.split(" ", 1)[0] if rest.startswith("E") else ""
    if val == "?":
        return KERNEL_ERRNOS.get(ename, UNRETURNED) if ename else UNRETURNED
    if val == "-1" and ename:
        code = getattr(errno_mod, ename, None) or KERNEL_ERRNOS.get(ename)
        if code is None:
            unknown = re.search(r"Unknown error ([0-9]{1,10})", rest)
            code = int(unknown.group(1)) if unknown else None
        return code
    return 0


# --- lines --------------------------------------------------------------------------------------


@dataclass
class _Pending:
    """A call strace printed ``<unfinished ...>``, kept until its ``resumed>`` line."""

    name: str
    text: str
    mode: int | None
    epoch: int


class _Parser:
    def __init__(self, log: StraceLog) -> None:
        self.log = log
        self.pending: dict[int, _Pending] = {}
        self.mode: dict[int, int] = {}
        self.epoch: dict[int, int] = {}
        self.tgid: dict[int, int] = {}

    def group(self, tid: int) -> int:
        seen = set()
        while tid in self.tgid and tid not in seen:
            seen.add(tid)
            tid = self.tgid[tid]
        return tid

    def touch(self, tid: int) -> None:
        if tid not in self.epoch and tid not in self.tgid:
            self.log.tids.append(tid)
            self.epoch[tid] = 0

    def feed(self, source: str, lineno: int, line: str, default_pid: int) -> None:
        if not line.strip():
            return
        self.log.lines += 1
        m = _PREFIX.match(line)
        assert m is not None  # the pattern matches every string
        pid_text = m.group("bpid") or m.group("pid")
        body = m.group("body")
        tid = int(pid_text) if pid_text else default_pid
        if not self.line(tid, body):
            # "123 " may have been a pid-less line starting with a number: try it whole.
            if pid_text and m.group("pid") and self.line(default_pid, line.strip()):
                return
            self.log.unparsed.append((source, lineno, line.rstrip("\n")))

    def line(self, tid: int, body: str) -> bool:
        if mm := _MODE.match(body):
            pid = int(mm.group("pid"))
            self.touch(pid)
            self.mode[self.group(pid)] = MODES[mm.group("mode")]
            self.log.explicit_modes = True
            return True
        if am := _ATTACHED.match(body):
            self.touch(int(am.group("pid")))
            return True
        if _STRACE_MSG.match(body) or _SIGNAL.match(body) or _STACK.match(body):
            return True
        if em := _EXIT.match(body):
            self.touch(tid)
            if em.group("code") is not None:
                self.log.exits[tid] = ExitStatus(code=int(em.group("code")))
            elif em.group("sig"):
                try:
                    sig = int(signal.Signals[em.group("sig")])
                except KeyError:
                    sig = 0
                self.log.exits[tid] = ExitStatus(signal=sig, core_dumped=bool(em.group("core")))
            self.finish_pending(tid)
            return True
        if rm := _RESUMED.match(body):
            self.touch(tid)
            pend = self.pending.pop(tid, None)
            name = rm.group("name")
            rest = rm.group("rest")
            if pend is not None and pend.name == name:
                return self.complete(tid, name, pend.text + rest, pend.mode, pend.epoch)
            # A resumed call whose start is not in this log (it began before strace attached).
            if pend is not None:
                self.emit(tid, pend.name, pend.text, UNRETURNED, pend.mode, pend.epoch)
            return self.complete(tid, name, rest, None, None, args_known=False)
        if cm := _CALL.match(body):
            self.touch(tid)
            name, rest = cm.group("name"), cm.group("rest")
            um = _UNFINISHED.search(rest)
            if um and not _RESULT.search(rest[um.start():]):
                old = self.pending.pop(tid, None)
                if old is not None:
                    self.emit(tid, old.name, old.text, UNRETURNED, old.mode, old.epoch)
                g = self.group(tid)
                self.pending[tid] = _Pending(name, rest[: um.start()], self.mode.get(g),
                                             self.epoch.get(g, 0))
                return True
            return self.complete(tid, name, rest, None, None)
        return False

    def complete(self, tid: int, name: str, rest: str, mode: int | None, epoch: int | None,
                 args_known: bool = True) -> bool:
        # The last ") = " separates the arguments from the result.
        matches = list(_RESULT.finditer(rest))
        if not matches:
            return False
        cut = matches[-1]
        args_text, result_text = rest[: cut.start()], rest[cut.end():]
        result = _result(result_text)
        if result is None:
            return False
        g = self.group(tid)
        if mode is None:
            mode = self.mode.get(g)
        if epoch is None:
            epoch = self.epoch.get(g, 0)
        self.emit(tid, name, args_text if args_known else None, result, mode, epoch,
                  result_text=result_text)
        return True

    def emit(self, tid: int, name: str, args_text: str | None, result: int, mode: int | None,
             epoch: int, result_text: str = "") -> None:
        args: tuple[int, ...] | None = None
        unread = False
        if name in PARSED_ARGS:
            args = parse_args(name, args_text) if args_text is not None else None
            unread = args is None
        child = None
        exec_path = argv = None
        g = self.group(tid)
        if name in FORKS and result == 0:
            value = _number(result_text.split(" ", 1)[0]) if result_text else None
            if value is not None and value > 0:
                child = value
                flags = args[0] if args and name in ("clone", "clone3") else 0
                is_thread = bool(flags & CLONE_THREAD)
                self.log.children[child] = (g, epoch, is_thread)
                if is_thread:
                    self.tgid[child] = g
                if child in self.epoch and is_thread:
                    # Its own lines came first: they belong to the thread group.
                    self.epoch.pop(child, None)
                if not is_thread and g in self.mode:
                    self.mode.setdefault(child, self.mode[g])
        if name in EXECS and args_text is not None:
            exec_path, argv = _exec_info(args_text)
        if name in EXECS and result == 0:
            new = self.epoch.get(g, 0) + 1
            self.epoch[g] = new
            if exec_path:
                self.log.exec_paths[(g, new)] = exec_path
        self.log.calls.append(Call(tid=tid, mode=mode, epoch=epoch, name=name, result=result,
                                   args=args, args_unread=unread, child=child,
                                   exec_path=exec_path, argv=argv))

    def finish_pending(self, tid: int) -> None:
        pend = self.pending.pop(tid, None)
        if pend is not None:
            self.emit(tid, pend.name, pend.text, UNRETURNED, pend.mode, pend.epoch)

    def close(self) -> None:
        for tid in list(self.pending):
            self.finish_pending(tid)


def parse(sources: Sequence[tuple[str, Iterable[str], int]]) -> StraceLog:
    """Parse strace output. ``sources``: (name, lines, pid) per file; ``pid`` is the pid of an
    ``-ff`` file (every line is that process's), or 0 for a file with pid prefixes, whose
    unprefixed lines belong to the first process."""
    log = StraceLog()
    p = _Parser(log)
    for name, lines, pid in sources:
        for lineno, line in enumerate(lines, 1):
            p.feed(name, lineno, line, pid)
        if pid:
            p.finish_pending(pid)
    p.close()
    _resolve_unprefixed(log, p)
    return log


def _resolve_unprefixed(log: StraceLog, p: _Parser) -> None:
    """Lines without a pid (strace -f to stderr prints none until a second process exists)
    belong to the first process: pid 0 becomes the one traced pid that is nobody's child."""
    if 0 not in p.epoch and not any(c.tid == 0 for c in log.calls):
        return
    roots = [t for t in log.tids if t != 0 and t not in log.children]
    if len(roots) != 1:
        return
    root = roots[0]
    log.calls = [c if c.tid != 0 else Call(root, c.mode, c.epoch, c.name, c.result, c.args,
                                          c.args_unread, c.child, c.exec_path, c.argv)
                 for c in log.calls]
    log.children = {k: ((root if v[0] == 0 else v[0]), v[1], v[2])
                    for k, v in log.children.items()}
    log.exec_paths = {((root if g == 0 else g), e): path for (g, e), path in
                      log.exec_paths.items()}
    if 0 in log.exits:
        log.exits.setdefault(root, log.exits.pop(0))
    log.tids = list(dict.fromkeys(root if t == 0 else t for t in log.tids))


# --- building the trace -------------------------------------------------------------------------

#: resolve(arch, name) -> syscall number, or None when the arch has no such syscall.
Resolver = Callable[[str, str], int | None]


@dataclass(frozen=True)
class ImportResult:
    """The trace, and what the importer had to guess or could not name."""

    trace: Trace
    unknown_names: tuple[str, ...]
    guessed_32bit: tuple[int, ...]


def to_trace(log: StraceLog, arches: Sequence[str], resolve: Resolver,
             header: TraceHeader) -> ImportResult:
    """Build the trace, returned in an :class:`ImportResult`. ``arches``: the arch family
    (main, compat 32-bit, x32), e.g. ``("x86_64", "x86", "x32")``; ``header``: provenance (its
    ``exit`` and ``command`` are replaced by the log's when the log has them)."""
    tgid_of: dict[int, int] = {}

    def tgid(tid: int) -> int:
        seen = set()
        while tid in log.children and log.children[tid][2] and tid not in seen:
            seen.add(tid)
            tid = log.children[tid][0]
        return tid

    for c in log.calls:
        tgid_of.setdefault(c.tid, tgid(c.tid))
    for t in log.tids:
        tgid_of.setdefault(t, tgid(t))

    def valid(arch_i: int, name: str) -> bool:
        return arch_i < len(arches) and (name.startswith("syscall_0x")
                                          or resolve(arches[arch_i], name) is not None)

    # Which ABI each (tgid, epoch) ran in: explicit mode lines, else the names' evidence.
    lifetimes: dict[tuple[int, int], set[str]] = {}
    for c in log.calls:
        lifetimes.setdefault((tgid_of[c.tid], c.epoch), set()).add(c.name)
    guessed: dict[tuple[int, int], int] = {}
    if not log.explicit_modes and len(arches) > 1:
        for key, names in lifetimes.items():
            if any(not valid(0, n) for n in names) and all(valid(1, n) for n in names
                                                           if n not in EXECS):
                guessed[key] = 1

    def mode_of(c: Call) -> int:
        if c.mode is not None:
            return c.mode
        key = (tgid_of[c.tid], c.epoch)
        if key in guessed and not (c.name in EXECS and c.result == 0):
            return guessed[key]
        # A child before its first exec runs in its parent's ABI.
        g, e = key
        while e == 0 and g in log.children:
            g, e = log.children[g][0], log.children[g][1]
            if (g, e) in guessed:
                return guessed[(g, e)]
        return 0

    unknown: set[str] = set()
    numbered: list[tuple[Call, int, int]] = []
    for c in log.calls:
        m = mode_of(c)
        if m >= len(arches):
            unknown.add(f"{c.name} (mode {m})")
            continue
        if c.name.startswith("syscall_0x"):
            nr: int | None = int(c.name[len("syscall_"):], 16)
        else:
            nr = resolve(arches[m], c.name)
        if nr is None:
            unknown.add(c.name if m == 0 else f"{arches[m]}/{c.name}")
            continue
        numbered.append((c, m, nr))
    if unknown:
        return ImportResult(trace=build_trace(RawRecording(), header, lambda a, n: "",
                                              lambda a, n: ""),
                            unknown_names=tuple(sorted(unknown)), guessed_32bit=())

    # Executables per (tgid, epoch).
    def exe(g: int, e: int, depth: int = 0) -> str:
        if (g, e) in log.exec_paths:
            return log.exec_paths[(g, e)]
        if depth > 1000:
            return "?"
        if e > 0:
            return exe(g, e - 1, depth + 1)
        if g in log.children:
            parent, pe, _ = log.children[g]
            return exe(tgid_of.get(parent, parent), pe, depth + 1)
        # The first process before its first execve: name it after what it execs, as a live
        # recording does (counting starts at that execve).
        return log.exec_paths.get((g, 1), "?")

    raw = RawRecording()
    tokens: dict[tuple[int, int], int] = {}
    nr_names: dict[tuple[int, int], str] = {}
    unread: set[tuple[int, int]] = set()
    order = list(dict.fromkeys([tgid_of[t] for t in log.tids]
                               + [tgid_of[c.tid] for c in log.calls]))
    threads: dict[int, set[int]] = {g: set() for g in order}
    for t, g in tgid_of.items():
        threads.setdefault(g, set()).add(t)
    for g in order:
        parent = log.children.get(g)
        raw.processes[g] = ProcessState(
            pid=g, ppid=tgid_of.get(parent[0], parent[0]) if parent else None, exes=[],
            threads=max(1, len(threads.get(g, ()))), exit=log.exits.get(g))
    for c, m, nr in numbered:
        g = tgid_of[c.tid]
        key = (g, c.epoch)
        if key not in tokens:
            tokens[key] = raw.new_token(g, exe(g, c.epoch))
        token = tokens[key]
        proc = raw.processes[g]
        path = raw.tokens[token][1]
        if not proc.exes or proc.exes[-1] != path:
            proc.exes.append(path)
        ck = (m, nr)
        nr_names[ck] = c.name
        raw.first.setdefault(ck, token)
        calls_key = (m, nr, token, c.result)
        raw.calls[calls_key] = raw.calls.get(calls_key, 0) + 1
        if fields_for(arches[m], c.name) is not None and c.name in PARSED_ARGS:
            if c.args is not None and len(c.args) == len(fields_for(arches[m], c.name) or ()):
                values = raw.args.setdefault(ck, set())
                if len(values) < ARG_VALUE_CAP:
                    values.add(c.args)
                else:
                    raw.capped.add(ck)
            else:
                unread.add(ck)
    # Calls whose arguments could not be read make the recorded set incomplete: say so
    # with ``capped`` (synthesis then leaves the syscall unpinned), never pin to a partial set.
    raw.capped |= unread
    for g, proc in raw.processes.items():
        if not proc.exes:
            proc.exes.append(exe(g, 0))
    root = order[0] if order else None
    first_exec = next((c.argv for c in log.calls if c.argv and c.result == 0
                       and root is not None and tgid_of[c.tid] == root), None)
    hdr = replace(header,
                  command=first_exec or header.command,
                  exit=log.exits.get(root) if root is not None else header.exit)
    trace = build_trace(raw, hdr, lambda a, nr: arches[a],
                        lambda arch, nr: nr_names[(arches.index(arch), nr)])
    # Syscalls whose arguments this importer does not read: no ArgValues at all.
    fixed = tuple(r if r.name in PARSED_ARGS or r.args is None else replace(r, args=None)
                  for r in trace.syscalls)
    fixed = tuple(r if r.args is None or r.args.values or r.args.capped
                  else replace(r, args=ArgValues(r.args.fields, r.args.indexes, r.args.values,
                                                 capped=True))
                  for r in fixed)
    guessed_pids = tuple(sorted({g for (g, _e) in guessed}))
    return ImportResult(trace=replace(trace, syscalls=fixed), unknown_names=(),
                        guessed_32bit=guessed_pids)
