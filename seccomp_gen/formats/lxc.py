"""LXC seccomp policy, version 2 (``lxc.seccomp.profile``), as LXC's ``parse_config_v2`` reads it::

    2
    allowlist errno 1
    # comment lines start with '#' in column 0
    [x86_64]
    name
    name errno 38
    name allow [0,0,SCMP_CMP_MASKED_EQ,2114060288]   # MASKED_EQ: expected value, op, MASK

Argument rules need an explicit action, MASKED_EQ's mask comes fourth (OCI's order reversed),
there is no ``log`` or ``kill-process`` action, and no empty lines are written. LXC 5.0.2 adds
every rule to all of the host's ABIs, like OCI. The grammar's traps, what LXC enforces (measured)
and what is refused or escaped: docs/formats/lxc.md.
"""

from __future__ import annotations

import re

from ..errors import PermissiveDefault, SeccompGenError
from ..profile import (
    MAX_ERRNO,
    ArgCondition,
    Profile,
    Rule,
    header_lines,
    normalize,
    parse_header_lines,
)
from ..safetext import is_syscall_name, printable

#: libseccomp arch name -> LXC section name.
SECTIONS: dict[str, str] = {
    "x86_64": "x86_64", "x86": "x86", "x32": "x32",
    "aarch64": "arm64", "arm": "arm",
    "ppc64le": "ppc64le", "ppc64": "ppc64", "ppc": "ppc",
    "mips64": "mips64", "mips64n32": "mips64n32", "mips": "mips",
    "mipsel64": "mipsel64", "mipsel64n32": "mipsel64n32", "mipsel": "mipsel",
    "s390x": "s390x", "s390": "s390",
}
_ARCH_OF_SECTION = {v: k for k, v in SECTIONS.items()}
_OPS_SYMBOLIC = {"!=": "NE", "<": "LT", "<=": "LE", "==": "EQ", ">=": "GE", ">": "GT",
                 "&=": "MASKED_EQ"}
BASELINE_PREFIX = "baseline: "


def _verdict_text(action: str, errno: int | None, *, default: bool) -> str:
    if action == "errno":
        return f"errno {errno}"
    if action in ("allow", "kill", "trap"):
        return action
    what = "default action" if default else "rule action"
    raise SeccompGenError(f"LXC policies have no {action!r} {what}",
                          hint="use --default-action errno, kill or trap for --format lxc")


def _cond_text(c: ArgCondition) -> str:
    if c.op == "MASKED_EQ":
        return f"[{c.index},{c.value_two},SCMP_CMP_MASKED_EQ,{c.value}]"
    return f"[{c.index},{c.value},SCMP_CMP_{c.op}]"


def _rule_line(r: Rule) -> str:
    if not is_syscall_name(r.name):
        # A name is a word of LXC's grammar: anything else could add lines or rules.
        raise SeccompGenError(f"refusing to write {r.name[:80]!r} into an LXC policy: not a "
                              "syscall name")
    if r.action == "allow" and not r.conditions:
        return r.name
    parts = [r.name, _verdict_text(r.action, r.errno, default=False)]
    parts += [_cond_text(c) for c in r.conditions]
    return " ".join(parts)


def _comment(text: str) -> str:
    """One comment line: LXC ends a line at a newline, so every non-printable character
    (newlines, escapes) is written as a visible ``\\xNN`` escape, never raw."""
    text = printable(text)
    return f"# {text}" if text else "#"


def sniff(text: str) -> bool:
    """Whether ``text`` is an LXC policy (its first line is the version, ``2``); a one-line
    error for another version."""
    first = text.lstrip().split("\n", 1)[0].strip()
    if first == "2":
        return True
    if first.isdigit():
        raise SeccompGenError(f"line 1: LXC policy version {first[:20]} is not supported "
                              "(seccomp-gen reads LXC's version 2)")
    return False


def emit(profile: Profile) -> str:
    """LXC v2 policy text; equal profiles give equal bytes."""
    p = normalize(profile)
    missing = [a for a in p.architectures if a not in SECTIONS]
    if missing:
        raise SeccompGenError(f"LXC has no policy section for {', '.join(missing)}",
                              hint="use --format oci or python for this arch")
    lines = ["2", "allowlist " + _verdict_text(p.default_action, p.default_errno, default=True)]
    lines += [_comment(h) for h in header_lines(p)]
    for arch in p.architectures:
        lines.append(f"[{SECTIONS[arch]}]")
        for r in p.rules_for(arch):
            if r.baseline:
                lines.append(_comment(BASELINE_PREFIX + r.comment))
            elif r.comment:
                lines.append(_comment(r.comment))
            lines.append(_rule_line(r))
    return "\n".join(lines) + "\n"


# --- parsing ------------------------------------------------------------------------------------

_ERRNO = re.compile(r"[0-9]{1,5}")
_ARG_RE = re.compile(
    r"\[\s*(\d+)\s*,\s*([^,\]\s]+)\s*,\s*([A-Z_=!<>&]+)\s*(?:,\s*([^,\]\s]+)\s*)?\]"
)


def _parse_verdict(words: list[str], where: str, source: str) -> tuple[str, int | None, int]:
    """(action, errno, words used) from the start of ``words``."""
    if not words:
        return ("", None, 0)
    w = words[0]
    if w == "errno":
        if len(words) < 2 or not _ERRNO.fullmatch(words[1]) or int(words[1]) > MAX_ERRNO:
            raise SeccompGenError(f"{where}: errno without a number (0-{MAX_ERRNO})",
                                  path=source)
        return ("errno", int(words[1]), 2)
    if w in ("allow", "kill", "trap"):
        return (w, None, 1)
    if w == "notify":
        raise SeccompGenError(f"{where}: the notify action is not supported", path=source)
    return ("", None, 0)


def parse(text: str, source: str = "<lxc policy>") -> Profile:
    """Read an LXC v2 allowlist policy back into a Profile."""
    # Lines end at "\n" only, as LXC reads them (str.splitlines would also split at \f,
    # \x1c, \u2028...: a rule LXC reads as part of a comment must not become one here).
    lines = [line.removesuffix("\r") for line in text.split("\n")]
    if lines and lines[-1] == "":
        lines.pop()
    first = lines[0].strip() if lines else ""
    if first.isdecimal() and first != "2":
        raise SeccompGenError(f"line 1: LXC policy version {first[:20]} is not supported "
                              "(seccomp-gen reads LXC's version 2)", path=source)
    if first != "2":
        raise SeccompGenError("line 1: not an LXC version 2 policy (expected '2')", path=source)
    if len(lines) < 2:
        raise SeccompGenError("line 2: missing 'allowlist'", path=source)
    words = lines[1].split()
    if words and words[0] in ("denylist", "blacklist"):
        raise PermissiveDefault(f"line 2: only allowlist policies are supported, not "
                                f"{lines[1]!r}", path=source)
    if not words or words[0] not in ("allowlist", "whitelist"):
        raise SeccompGenError(f"line 2: only allowlist policies are supported, not {lines[1]!r}",
                              path=source)
    default, default_errno, _ = _parse_verdict(words[1:], "line 2", source)
    if not default:
        if len(words) > 1:
            raise SeccompGenError(f"line 2: unknown default action {' '.join(words[1:])!r}",
                                  path=source)
        default = "kill"  # LXC's default for an allowlist
    if default == "allow":
        raise PermissiveDefault("line 2: an allowlist that allows by default allows everything",
                                path=source)
    header: list[str] = []
    arches: list[str] = []
    rules: list[Rule] = []
    pending: list[str] = []
    arch: str | None = None
    for n, raw in enumerate(lines[2:], start=3):
        where = f"line {n}"
        line = raw.rstrip()
        if line.startswith("#"):
            body = line[1:].removeprefix(" ")
            if arch is None:
                header.append(body)
            else:
                pending.append(body)
            continue
        if not line.strip():
            continue
        if line.startswith("["):
            section = line.strip()[1:-1].lower()
            if section not in _ARCH_OF_SECTION:
                raise SeccompGenError(f"{where}: unsupported section {line.strip()!r}",
                                      path=source)
            arch = _ARCH_OF_SECTION[section]
            arches.append(arch)
            pending = []
            continue
        if arch is None:
            raise SeccompGenError(f"{where}: rule before any [arch] section", path=source)
        name, _, rest = line.strip().partition(" ")
        if not is_syscall_name(name):
            raise SeccompGenError(f"{where}: not a syscall name: {name[:80]!r}", path=source)
        rest_words = rest.split("[", 1)[0].split()
        action, errno, used = _parse_verdict(rest_words, where, source)
        if len(rest_words) != used:
            raise SeccompGenError(f"{where}: cannot read {rest.strip()!r}", path=source)
        conds: list[ArgCondition] = []
        if "[" in rest:
            if not action:
                raise SeccompGenError(f"{where}: argument rules need an explicit action "
                                      "(LXC rejects them otherwise)", path=source)
            tuples = _ARG_RE.findall(rest)
            if len(tuples) != rest.count("["):
                raise SeccompGenError(f"{where}: malformed argument tuple", path=source)
            for idx, value, op, mask in tuples:
                opname = _OPS_SYMBOLIC.get(op, op.removeprefix("SCMP_CMP_"))
                try:
                    if max(len(idx), len(value), len(mask)) > 24:
                        raise ValueError("argument values must be unsigned 64-bit integers")
                    v = int(value, 0)
                    if opname == "MASKED_EQ":
                        conds.append(ArgCondition(int(idx), opname, int(mask or "0", 0), v))
                    else:
                        conds.append(ArgCondition(int(idx), opname, v))
                except ValueError as exc:
                    raise SeccompGenError(f"{where}: {exc}", path=source) from None
        comment = pending[-1] if pending else ""
        pending = []
        baseline = comment.startswith(BASELINE_PREFIX)
        if baseline:
            comment = comment[len(BASELINE_PREFIX):]
        try:
            rules.append(Rule(name, (arch,), action or "allow", errno, tuple(conds), comment,
                              baseline))
        except ValueError as exc:
            raise SeccompGenError(f"{where}: {exc}", path=source) from None
    provenance, notes, skipped = parse_header_lines(header)
    try:
        return normalize(Profile(default, default_errno, tuple(arches), tuple(rules),
                                 provenance, notes, skipped))
    except ValueError as exc:
        raise SeccompGenError(f"line 2: {exc}", path=source) from None
