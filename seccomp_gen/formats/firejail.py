"""A firejail profile snippet (firejail 0.9.72): ``seccomp.keep`` allow lists and ``protocol``::

    # comment lines
    seccomp.keep read,write,openat,...,clone3:ENOSYS
    seccomp.block-secondary
    seccomp-error-action EPERM
    protocol unix,inet

``seccomp.keep`` lists the x86_64 syscalls (``name:ERRNO`` gives that call the errno, measured)
and ``seccomp.block-secondary`` refuses every x86 (32-bit) call (measured: with EPERM, not kill);
firejail's 64-bit filter always refuses x32 calls. A profile that allows x86 calls cannot be
written: firejail 0.9.72 builds its ``seccomp.32.keep`` filter with the x86_64 builder (measured:
``fseccomp keep``, not ``keep32``), which lets every x86 call through. No argument can be
checked, except the socket domain through ``protocol`` (unix, inet, inet6, netlink, packet,
bluetooth: other domains get EOPNOTSUPP, measured): the rest is allowed by name, and the file and
``generate`` say which. Run it with ``firejail --profile=FILE CMD`` (no ``--``: with it firejail
0.9.72 runs CMD through ``/bin/bash -c``). docs/formats/firejail.md.
"""

from __future__ import annotations

from dataclasses import replace

from ..errors import SeccompGenError
from ..profile import ArgCondition, Profile, Rule, header_lines, normalize, parse_header_lines
from ..safetext import is_syscall_name, printable
from ..syscalls.constants import errno_name, errno_value
from . import namelist

FMT = "firejail"
#: firejail's ``protocol`` names -> the socket domain (AF_*) each allows.
PROTOCOLS: dict[str, int] = {"unix": 1, "inet": 2, "inet6": 10, "netlink": 16, "packet": 17,
                             "bluetooth": 31}
_PROTOCOL_OF = {v: k for k, v in PROTOCOLS.items()}
#: The one ABI firejail's profiles can allow calls of.
MAIN = "x86_64"
#: Why no other: what was measured with firejail 0.9.72.
_NO_X86 = ("firejail 0.9.72 does not filter x86 (32-bit) calls with seccomp.32.keep (it builds "
           "that filter for x86_64, so every x86 call is allowed)")
_ACTIONS = {"kill": "kill", "log": "log"}


def _domains(profile: Profile) -> tuple[int, ...] | None:
    """The socket domains ``protocol`` can allow: those of the socket rules if every one pins
    argument 0 to a domain firejail names, else None (socket is then allowed by name)."""
    rules = [r for r in profile.rules_for(MAIN) if r.name == "socket" and r.action == "allow"]
    out = []
    for r in rules:
        pins = [c for c in r.conditions if c.index == 0 and c.op == "EQ"]
        if not pins or pins[0].value not in _PROTOCOL_OF:
            return None
        out.append(pins[0].value)
    return tuple(sorted(set(out))) or None


def _check(profile: Profile) -> None:
    if profile.architectures != (MAIN,):
        raise SeccompGenError(f"firejail profiles can allow x86_64 calls only, not "
                              f"{', '.join(a for a in profile.architectures if a != MAIN)}: "
                              f"{_NO_X86}", hint="use a profile of x86_64 alone (generate --arches "
                              "observed, an x86_64 program) or another --format")
    if profile.default_action not in ("errno", "kill", "kill-process", "log"):
        raise SeccompGenError(f"firejail has no {profile.default_action!r} default action",
                              hint="use --default-action errno, kill or log for --format firejail")


def expressed(profile: Profile) -> Profile:
    """The profile the snippet holds: argument rules allowed by name, except the socket rules
    that ``protocol`` can say; a kill-process default as firejail's kill."""
    _check(profile)
    domains = _domains(profile)
    p = namelist.names_only(profile, FMT, per_arch=True)
    p = replace(p, rules=tuple(replace(r, arches=(MAIN,)) for r in p.rules_for(MAIN)))
    if domains is not None:
        rules = [r for r in p.rules if not (r.name == "socket" and r.action == "allow")]
        socket = next(r for r in p.rules if r.name == "socket" and r.action == "allow")
        rules += [Rule("socket", (MAIN,), conditions=(ArgCondition(0, "EQ", d),),
                       comment=socket.comment, baseline=socket.baseline) for d in domains]
        p = normalize(replace(p, rules=tuple(rules)))
    if p.default_action == "kill-process":
        p = replace(p, default_action="kill")
    return p


def consumer_notes(profile: Profile) -> tuple[str, ...]:
    """What firejail does differently from what the profile says, one line each."""
    _check(profile)
    domains = _domains(profile)
    wide = [n for n in namelist.widened(profile) if not (n == "socket" and domains)]
    out = []
    if wide:
        out.append(f"{namelist.WIDENED_PREFIX}{FMT} cannot check arguments: allowed with any "
                   "arguments: " + " ".join(wide))
    out += [n for n in namelist.notes(profile, FMT) if "errno rules" in n]
    if domains:
        out.append("firejail's protocol filter answers other socket domains with EOPNOTSUPP")
    out.append("firejail answers x86 (32-bit) calls with EPERM, not kill "
               "(seccomp.block-secondary)")
    if profile.default_action == "kill-process":
        out.append("firejail's kill is the profile's kill-process")
    return tuple(out)


def _comment(text: str) -> str:
    text = printable(text)
    return f"# {text}" if text else "#"


def _errno_text(errno: int) -> str:
    name = errno_name(errno)
    if errno_value(name) != errno or name.startswith("ERESTART") or errno > 133:
        raise SeccompGenError(f"firejail takes errno names only, and errno {errno} has none "
                              "it knows")
    return name


def _keep(p: Profile) -> str:
    items = []
    for r in p.rules:
        if not is_syscall_name(r.name):
            raise SeccompGenError(f"refusing to write {r.name[:80]!r} into a firejail profile: "
                                  "not a syscall name")
        items.append(r.name if r.action == "allow" else f"{r.name}:{_errno_text(r.errno or 0)}")
    return ",".join(dict.fromkeys(items))


def emit(profile: Profile) -> str:
    """The profile snippet; equal profiles give equal bytes."""
    p = expressed(profile)
    lines = [_comment(h) for h in header_lines(profile)]
    lines += [_comment(n) for n in consumer_notes(profile)
              if n.startswith(namelist.WIDENED_PREFIX)]
    main = _keep(p)
    if not main:
        raise SeccompGenError("firejail cannot write an empty seccomp.keep list")
    lines.append(f"seccomp.keep {main}")
    lines.append("seccomp.block-secondary")
    if p.default_action == "errno":
        lines.append(f"seccomp-error-action {_errno_text(p.default_errno or 0)}")
    else:
        lines.append(f"seccomp-error-action {_ACTIONS[p.default_action]}")
    domains = sorted({c.value for r in p.rules if r.name == "socket"
                      for c in r.conditions})
    if domains:
        lines.append("protocol " + ",".join(_PROTOCOL_OF[d] for d in domains))
    return "\n".join(lines) + "\n"


# --- parsing ------------------------------------------------------------------------------------

def sniff(text: str) -> bool:
    """Whether ``text`` is a firejail profile with a ``seccomp.keep`` line."""
    return any(line.strip().startswith("seccomp.keep ") for line in text.split("\n"))


def _keep_items(value: str, where: str, source: str) -> list[Rule]:
    rules = []
    for item in value.split(","):
        name, colon, err = item.strip().partition(":")
        if name.startswith(("@", "!", "$")):
            raise SeccompGenError(f"{where}: firejail's {printable(name[:40])!r} (a group, an "
                                  "exception or a number) is not supported: name the syscalls",
                                  path=source)
        if not is_syscall_name(name):
            raise SeccompGenError(f"{where}: not a syscall name: {printable(name[:80])!r}",
                                  path=source)
        if not colon:
            rules.append(Rule(name, (MAIN,)))
            continue
        value_ = errno_value(err) if err.startswith("E") else None
        if value_ is None:
            raise SeccompGenError(f"{where}: {name}:{printable(err[:20])}: only name:ERRNO "
                                  "(an errno name such as ENOSYS) is supported", path=source)
        rules.append(Rule(name, (MAIN,), "errno", value_))
    return rules


def parse(text: str, source: str = "<firejail profile>") -> Profile:
    """Read the seccomp lines of a firejail profile back into a Profile (its other lines, such as
    ``private`` or ``caps.drop``, are ignored)."""
    header: list[str] = []
    rules: list[Rule] = []
    block = False
    default: tuple[str, int | None] = ("errno", 1)  # firejail's default: EPERM
    protocols: list[int] = []
    seen = False
    for n, raw in enumerate(text.split("\n"), start=1):
        where = f"line {n}"
        line = raw.removesuffix("\r").strip()
        if line.startswith("#"):
            body = line[1:].removeprefix(" ")
            if not body.startswith(namelist.WIDENED_PREFIX):
                header.append(body)
            continue
        key, _, value = line.partition(" ")
        value = value.strip()
        if key == "seccomp.keep":
            seen = True
            rules += _keep_items(value, where, source)
        elif key == "seccomp.32.keep":
            raise SeccompGenError(f"{where}: seccomp.32.keep is not supported: {_NO_X86}",
                                  path=source)
        elif key == "seccomp.block-secondary":
            block = True
        elif key == "seccomp-error-action":
            if value in _ACTIONS:
                default = (_ACTIONS[value], None)
            elif value.startswith("E") and errno_value(value) is not None:
                default = ("errno", errno_value(value))
            else:
                raise SeccompGenError(f"{where}: seccomp-error-action takes kill, log or an "
                                      f"errno name, not {printable(value[:40])!r}", path=source)
        elif key == "protocol":
            for word in value.split(","):
                if word.strip() not in PROTOCOLS:
                    raise SeccompGenError(f"{where}: unknown protocol "
                                          f"{printable(word.strip()[:40])!r}", path=source)
                protocols.append(PROTOCOLS[word.strip()])
        elif key.startswith("seccomp"):
            raise SeccompGenError(f"{where}: {printable(key[:40])} is not supported (seccomp-gen "
                                  "reads seccomp.keep allow lists)", path=source)
    if not seen:
        raise SeccompGenError("no seccomp.keep line: not an allow-list firejail profile",
                              path=source)
    if not block:
        raise SeccompGenError("no seccomp.block-secondary: firejail then allows every x86 "
                              "(32-bit) call", path=source)
    if protocols:
        plain = [r for r in rules if r.name == "socket" and r.action == "allow"]
        rules = [r for r in rules if r not in plain]
        if plain:
            rules += [Rule("socket", (MAIN,), conditions=(ArgCondition(0, "EQ", d),))
                      for d in sorted(set(protocols))]
    provenance, notes, skipped = parse_header_lines(header)
    try:
        return normalize(Profile(default[0], default[1], (MAIN,), tuple(rules),
                                 provenance, notes, skipped))
    except ValueError as exc:
        raise SeccompGenError(str(exc), path=source) from None
