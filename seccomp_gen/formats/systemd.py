"""A systemd unit drop-in (``[Service]``): ``SystemCallFilter=``, ``SystemCallArchitectures=``
and ``SystemCallErrorNumber=``, as systemd 252 reads them::

    # comment lines
    [Service]
    SystemCallArchitectures=x86-64
    SystemCallErrorNumber=EPERM
    SystemCallFilter=read write openat ...
    SystemCallFilter=~clone3:ENOSYS

The first ``SystemCallFilter=`` is an allow list and sets the mode; a later ``~name:ERRNO``
gives that call the errno (measured: systemd 252 returns it in allow-list mode). systemd applies
the list to every listed ABI (like OCI: the widened profile) and checks no argument (rules that
do are allowed by name, and the file and ``generate`` say which). Without
``SystemCallErrorNumber=`` systemd kills the process with SIGSYS. systemd always allows its own
``@default`` set too. What was measured, and how to load it: docs/formats/systemd.md.
"""

from __future__ import annotations

from dataclasses import replace

from ..errors import SeccompGenError
from ..profile import MAX_ERRNO, Profile, Rule, header_lines, normalize, parse_header_lines
from ..safetext import is_syscall_name, printable
from ..syscalls.arches import SYSTEMD_NAMES
from ..syscalls.constants import errno_name, errno_value
from . import namelist

_ARCH_OF_NAME = {v: k for k, v in SYSTEMD_NAMES.items()}
#: Width at which the allow list is continued on another ``SystemCallFilter=`` line.
_WIDTH = 96
FMT = "systemd"


def expressed(profile: Profile) -> Profile:
    """The profile the drop-in holds: widened to every listed ABI, arguments dropped, and a
    kill default as systemd's (the whole process)."""
    p = namelist.names_only(profile, FMT, per_arch=False)
    if p.default_action == "kill":
        p = replace(p, default_action="kill-process")
    return p


def consumer_notes(profile: Profile) -> tuple[str, ...]:
    """What systemd does differently from what the profile says, one line each."""
    out = list(namelist.notes(profile, FMT))
    if profile.default_action == "kill":
        out.append("systemd kills the whole process (SIGSYS) where the profile says kill "
                   "(the thread)")
    out.append("systemd also allows its own @default set (systemd-analyze syscall-filter "
               "@default lists it)")
    return tuple(out)


def _comment(text: str) -> str:
    # A unit-file line ending in a backslash continues on the next line: never end on one.
    text = printable(text)
    if text.endswith("\\"):
        text = text[:-1] + "\\x5c"
    return f"# {text}" if text else "#"


def _errno_text(errno: int) -> str:
    name = errno_name(errno)
    return name if errno_value(name) == errno and not name.startswith("ERESTART") else str(errno)


def _wrapped(names: list[str]) -> list[str]:
    lines: list[str] = []
    line = ""
    for n in names:
        if line and len(line) + 1 + len(n) > _WIDTH:
            lines.append(line)
            line = ""
        line = f"{line} {n}" if line else n
    return [*lines, line]


def emit(profile: Profile) -> str:
    """The drop-in text; equal profiles give equal bytes."""
    p = expressed(profile)
    missing = [a for a in p.architectures if a not in SYSTEMD_NAMES]
    if missing:
        raise SeccompGenError(f"systemd has no SystemCallArchitectures= name for "
                              f"{', '.join(missing)}")
    if p.default_action not in ("errno", "kill-process"):
        raise SeccompGenError(f"systemd has no {p.default_action!r} default action",
                              hint="use --default-action errno or kill for --format systemd")
    if p.default_errno == 0:
        raise SeccompGenError("systemd's SystemCallErrorNumber= takes 1-4095, not 0")
    lines = [_comment(h) for h in header_lines(profile)]
    lines += [_comment(n) for n in consumer_notes(profile) if n.startswith(
        namelist.WIDENED_PREFIX)]
    lines.append("[Service]")
    lines.append("SystemCallArchitectures=" + " ".join(SYSTEMD_NAMES[a] for a in p.architectures))
    if p.default_errno is not None:
        lines.append(f"SystemCallErrorNumber={_errno_text(p.default_errno)}")
    allowed = sorted({r.name for r in p.rules if r.action == "allow"})
    for r in p.rules:
        if not is_syscall_name(r.name):
            raise SeccompGenError(f"refusing to write {r.name[:80]!r} into a systemd drop-in: "
                                  "not a syscall name")
    # The first SystemCallFilter= must be an allow list (it sets the mode); @default is
    # allowed by systemd anyway, so it stands for an empty list.
    lines += [f"SystemCallFilter={chunk}" for chunk in _wrapped(allowed or ["@default"])]
    lines += [f"SystemCallFilter=~{r.name}:{_errno_text(r.errno)}"
              for r in p.rules if r.action == "errno" and r.errno is not None]
    return "\n".join(lines) + "\n"


# --- parsing ------------------------------------------------------------------------------------


def sniff(text: str) -> bool:
    """Whether ``text`` is a unit file or drop-in with a ``[Service]`` section and a
    ``SystemCallFilter=``."""
    lines = {line.strip().split("=", 1)[0].strip() for line in text.split("\n")}
    return "[Service]" in lines and "SystemCallFilter" in lines


def _logical_lines(text: str) -> list[tuple[int, str]]:
    """(line number, line) with systemd's continuation lines (a trailing backslash) joined."""
    out: list[tuple[int, str]] = []
    pending: tuple[int, str] | None = None
    for n, raw in enumerate(text.split("\n"), start=1):
        line = raw.removesuffix("\r").strip()
        if pending is not None:
            if line.startswith(("#", ";")):
                continue  # systemd skips comment lines inside a continuation
            start, head = pending
            line = head + " " + line
            n = start
            pending = None
        elif line.startswith(("#", ";")):
            out.append((n, line))
            continue
        if line.endswith("\\"):
            pending = (n, line[:-1])
            continue
        out.append((n, line))
    if pending is not None:
        out.append(pending)
    return out


def _errno(word: str, where: str, source: str, *, low: int) -> int:
    value = int(word) if word.isdecimal() and len(word) < 6 else errno_value(word)
    if value is None or not low <= value <= MAX_ERRNO:
        raise SeccompGenError(f"{where}: not an errno ({low}-{MAX_ERRNO} or a name such as "
                              f"EPERM): {printable(word[:40])!r}", path=source)
    return value


def parse(text: str, source: str = "<systemd drop-in>") -> Profile:
    """Read the seccomp settings of a unit file or drop-in's ``[Service]`` section back into a
    Profile (other settings and sections are ignored)."""
    header: list[str] = []
    section = ""
    mode: bool | None = None  # True: allow list
    allowed: dict[str, None] = {}
    errnos: dict[str, int] = {}
    arches: list[str] | None = None
    default: tuple[str, int | None] = ("kill-process", None)
    seen_filter = False
    for n, line in _logical_lines(text):
        where = f"line {n}"
        if line.startswith(("#", ";")):
            body = line[1:].removeprefix(" ")
            if section == "" and not body.startswith(namelist.WIDENED_PREFIX):
                header.append(body)
            continue
        if not line:
            continue
        if line.startswith("["):
            if not line.endswith("]"):
                raise SeccompGenError(f"{where}: malformed section header", path=source)
            section = line[1:-1]
            continue
        key, eq, value = line.partition("=")
        key, value = key.strip(), value.strip()
        if not eq:
            raise SeccompGenError(f"{where}: expected KEY=VALUE", path=source)
        if section != "Service":
            continue
        if key == "SystemCallFilter":
            seen_filter = True
            if not value:  # an empty assignment resets the filter
                mode, allowed, errnos = None, {}, {}
                continue
            invert = value.startswith("~")
            if mode is None:
                if invert:
                    raise SeccompGenError(f"{where}: a deny list (SystemCallFilter=~...) is not "
                                          "supported: seccomp-gen reads allow lists",
                                          path=source)
                mode = True
            for word in value.removeprefix("~").split():
                name, colon, err = word.partition(":")
                if name == "@default":
                    continue  # systemd allows it in every allow list anyway
                if name.startswith("@"):
                    raise SeccompGenError(
                        f"{where}: systemd's group {printable(name[:40])} is not expanded: name "
                        "its syscalls (systemd-analyze syscall-filter GROUP lists them)",
                        path=source)
                if not is_syscall_name(name):
                    raise SeccompGenError(f"{where}: not a syscall name: "
                                          f"{printable(name[:80])!r}", path=source)
                if not invert:
                    if colon:
                        raise SeccompGenError(f"{where}: {name}:{printable(err[:20])} in an "
                                              "allow list (systemd takes ':ERRNO' only after "
                                              "'~')", path=source)
                    allowed[name] = None
                    errnos.pop(name, None)
                    continue
                allowed.pop(name, None)
                if colon:
                    if err == "kill":
                        raise SeccompGenError(f"{where}: {name}:kill is not supported",
                                              path=source)
                    errnos[name] = _errno(err, where, source, low=0)
                else:
                    errnos.pop(name, None)
        elif key == "SystemCallArchitectures":
            if not value:
                arches = None
                continue
            arches = arches or []
            for word in value.split():
                if word == "native":
                    raise SeccompGenError(f"{where}: SystemCallArchitectures=native depends on "
                                          "the host: name the ABIs (x86-64)", path=source)
                if word not in _ARCH_OF_NAME:
                    raise SeccompGenError(f"{where}: unknown architecture "
                                          f"{printable(word[:40])!r}", path=source)
                arches.append(_ARCH_OF_NAME[word])
        elif key == "SystemCallErrorNumber":
            if value in ("", "kill"):
                default = ("kill-process", None)
            else:
                default = ("errno", _errno(value, where, source, low=1))
    if not seen_filter:
        raise SeccompGenError("no SystemCallFilter= in a [Service] section", path=source)
    if mode is None:
        raise SeccompGenError("SystemCallFilter= is reset and never set again: no filter",
                              path=source)
    if not arches:
        raise SeccompGenError("no SystemCallArchitectures=: systemd then filters every ABI it "
                              "was built for; name them (x86-64)", path=source)
    listed = tuple(dict.fromkeys(arches))
    rules = [Rule(name, listed) for name in allowed]
    rules += [Rule(name, listed, "errno", e) for name, e in errnos.items()]
    provenance, notes, skipped = parse_header_lines(header)
    return normalize(Profile(default[0], default[1], listed, tuple(rules), provenance, notes,
                             skipped))
