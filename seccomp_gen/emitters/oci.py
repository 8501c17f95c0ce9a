"""OCI runtime-spec ``linux.seccomp`` JSON, and Docker's variant with ``archMap``.

OCI rules name syscalls, not (arch, syscall) pairs: runc and crun add every rule to every arch in
``architectures``. So the OCI form is the :func:`~seccomp_gen.profile.widen`-ed profile, and a
round trip gives that back. Per-rule ``comment`` marks baseline rules; provenance, notes and
skipped syscalls go in one top-level ``comment`` list (runc, crun and Docker ignore unknown
keys). For ``SCMP_CMP_MASKED_EQ``, ``value`` is the mask and ``valueTwo`` the expected value.
Output is sorted and carries no timestamps, so equal profiles give equal bytes.
"""

from __future__ import annotations

import json
from typing import Any, NoReturn

from ..errors import SeccompGenError
from ..profile import (
    FAMILIES,
    ArgCondition,
    Profile,
    Rule,
    header_lines,
    normalize,
    parse_header_lines,
    sort_arches,
    widen,
)

ACTION_NAMES: dict[str, str] = {
    "allow": "SCMP_ACT_ALLOW",
    "errno": "SCMP_ACT_ERRNO",
    "kill": "SCMP_ACT_KILL",
    "kill-process": "SCMP_ACT_KILL_PROCESS",
    "trap": "SCMP_ACT_TRAP",
    "log": "SCMP_ACT_LOG",
}
_ACTIONS_BACK = {v: k for k, v in ACTION_NAMES.items()} | {"SCMP_ACT_KILL_THREAD": "kill"}
BASELINE_PREFIX = "baseline: "

#: Docker's default capability set, against which ``includes``/``excludes`` ``caps`` are read.
DOCKER_DEFAULT_CAPS: frozenset[str] = frozenset({
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
    "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
})


def arch_token(arch: str) -> str:
    """libseccomp arch name -> the runtime-spec constant (``x86_64`` -> ``SCMP_ARCH_X86_64``)."""
    return "SCMP_ARCH_" + arch.upper()


def arch_from_token(token: str) -> str:
    """Inverse of :func:`arch_token`."""
    if not token.startswith("SCMP_ARCH_"):
        raise ValueError(token)
    return token[len("SCMP_ARCH_"):].lower()


def _cond_json(c: ArgCondition) -> dict[str, Any]:
    d: dict[str, Any] = {"index": c.index, "value": c.value}
    if c.op == "MASKED_EQ":
        d["valueTwo"] = c.value_two
    d["op"] = "SCMP_CMP_" + c.op
    return d


def _rule_comment(r: Rule) -> str:
    return BASELINE_PREFIX + r.comment if r.baseline else r.comment


def _syscalls(profile: Profile) -> list[dict[str, Any]]:
    groups: dict[tuple[Any, ...], list[str]] = {}
    for r in profile.rules:
        key = (bool(r.conditions), r.action, r.errno if r.errno is not None else -1,
               r.conditions, _rule_comment(r))
        groups.setdefault(key, []).append(r.name)
    entries = []
    for key in sorted(groups, key=lambda k: (k[0], sorted(groups[k]), k[1:])):
        _, action, errno, conds, comment = key
        e: dict[str, Any] = {"names": sorted(set(groups[key])), "action": ACTION_NAMES[action]}
        if action == "errno":
            e["errnoRet"] = errno
        if conds:
            e["args"] = [_cond_json(c) for c in conds]
        if comment:
            e["comment"] = comment
        entries.append(e)
    return entries


def _arch_map(arches: tuple[str, ...]) -> list[dict[str, Any]]:
    out = []
    for main, members in FAMILIES.items():
        present = [a for a in members if a in arches]
        if not present:
            continue
        head = main if main in present else present[0]
        subs = [arch_token(a) for a in present if a != head]
        out.append({"architecture": arch_token(head), "subArchitectures": subs or None})
    known = {a for m in FAMILIES.values() for a in m}
    out += [{"architecture": arch_token(a), "subArchitectures": None}
            for a in arches if a not in known]
    return out


def to_json(profile: Profile, *, docker: bool = False) -> dict[str, Any]:
    """The profile as the ``linux.seccomp`` object (``docker``: Docker's archMap form)."""
    p = widen(profile)
    doc: dict[str, Any] = {}
    lines = header_lines(p)
    if lines:
        doc["comment"] = lines
    doc["defaultAction"] = ACTION_NAMES[p.default_action]
    if p.default_errno is not None:
        doc["defaultErrnoRet"] = p.default_errno
    if docker:
        doc["archMap"] = _arch_map(p.architectures)
    else:
        doc["architectures"] = [arch_token(a) for a in p.architectures]
    doc["syscalls"] = _syscalls(p)
    return doc


def emit(profile: Profile, *, docker: bool = False) -> str:
    """OCI ``linux.seccomp`` JSON text; equal profiles give equal bytes."""
    return json.dumps(to_json(profile, docker=docker), indent=2, ensure_ascii=False) + "\n"


# --- parsing ------------------------------------------------------------------------------------


def _fail(source: str, where: str, what: str) -> NoReturn:
    raise SeccompGenError(f"{where}: {what}" if where else what, path=source)


def _int(source: str, v: Any, where: str, *, bits: int = 64) -> int:
    if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v < 2**bits:
        _fail(source, where, f"expected an unsigned {bits}-bit integer")
    return v


def _action(source: str, v: Any, where: str) -> str:
    if v not in _ACTIONS_BACK:
        _fail(source, where, f"unsupported action {v!r}")
    return _ACTIONS_BACK[v]


def _arches(source: str, doc: dict[str, Any]) -> tuple[str, ...]:
    tokens: list[Any] = []
    if isinstance(doc.get("architectures"), list):
        tokens += doc["architectures"]
    for i, m in enumerate(doc.get("archMap") or []):
        if not isinstance(m, dict):
            _fail(source, f"archMap[{i}]", "expected an object")
        tokens += [m.get("architecture"), *(m.get("subArchitectures") or [])]
    out = []
    for t in tokens:
        try:
            out.append(arch_from_token(t))
        except (ValueError, TypeError, AttributeError):
            _fail(source, "architectures", f"not an SCMP_ARCH_* name: {t!r}")
    return sort_arches(out)


def _kernel_at_least(version: str, kernel: tuple[int, int]) -> bool:
    parts = [int(p) for p in version.split(".")[:2] if p.isdigit()] + [0, 0]
    return kernel >= (parts[0], parts[1])


def _docker_applies(e: dict[str, Any], docker_arch: str, caps: frozenset[str],
                    kernel: tuple[int, int]) -> bool:
    """Whether a Docker entry's includes/excludes select it, as moby reads them."""
    inc = e.get("includes") or {}
    exc = e.get("excludes") or {}
    if inc.get("arches") and docker_arch not in inc["arches"]:
        return False
    if inc.get("caps") and not set(inc["caps"]) <= caps:
        return False
    if inc.get("minKernel") and not _kernel_at_least(str(inc["minKernel"]), kernel):
        return False
    if exc.get("arches") and docker_arch in exc["arches"]:
        return False
    return not (exc.get("caps") and set(exc["caps"]) & caps)


def parse(text: str, source: str = "<oci profile>", *, docker_arch: str = "amd64",
          caps: frozenset[str] = DOCKER_DEFAULT_CAPS,
          kernel: tuple[int, int] = (6, 18)) -> Profile:
    """Read OCI/Docker seccomp JSON (a ``linux.seccomp`` object or a config.json) as a Profile.

    Args on the same index in one entry are split into separate rules, as runc does (it ORs
    them). Docker's ``includes``/``excludes`` are resolved as moby would for a container on a
    ``docker_arch`` host (Go's arch names) with capabilities ``caps`` and kernel ``kernel``.
    """
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        _fail(source, f"{exc.lineno}:{exc.colno}", f"not JSON ({exc.msg})")
    if not isinstance(doc, dict):
        _fail(source, "", "expected a JSON object")
    if isinstance(doc.get("linux"), dict) and "seccomp" in doc["linux"]:
        doc = doc["linux"]["seccomp"]  # a whole config.json
    default = _action(source, doc.get("defaultAction"), "defaultAction")
    if default == "allow":
        _fail(source, "defaultAction", "a denylist (default allow) is not supported")
    default_errno = None
    if default == "errno":
        default_errno = _int(source, doc.get("defaultErrnoRet", 1), "defaultErrnoRet", bits=16)
    comment = doc.get("comment", [])
    if isinstance(comment, str):
        comment = [comment]
    if not isinstance(comment, list) or not all(isinstance(c, str) for c in comment):
        _fail(source, "comment", "expected a list of strings")
    provenance, notes, skipped = parse_header_lines(comment)
    arches = _arches(source, doc)
    rules: list[Rule] = []
    for i, e in enumerate(doc.get("syscalls") or []):
        w = f"syscalls[{i}]"
        if not isinstance(e, dict):
            _fail(source, w, "expected an object")
        if not _docker_applies(e, docker_arch, caps, kernel):
            continue
        names = e.get("names") or ([e["name"]] if isinstance(e.get("name"), str) else None)
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            _fail(source, f"{w}.names", "expected a list of syscall names")
        action = _action(source, e.get("action"), f"{w}.action")
        errno = (_int(source, e.get("errnoRet", default_errno or 1), f"{w}.errnoRet", bits=16)
                 if action == "errno" else None)
        conds: list[ArgCondition] = []
        for j, a in enumerate(e.get("args") or []):
            aw = f"{w}.args[{j}]"
            if not isinstance(a, dict):
                _fail(source, aw, "expected an object")
            op = a.get("op", "")
            if not isinstance(op, str) or not op.startswith("SCMP_CMP_"):
                _fail(source, f"{aw}.op", f"unknown operator {op!r}")
            try:
                conds.append(ArgCondition(_int(source, a.get("index"), f"{aw}.index", bits=3),
                                          op[len("SCMP_CMP_"):],
                                          _int(source, a.get("value", 0), f"{aw}.value"),
                                          _int(source, a.get("valueTwo", 0), f"{aw}.valueTwo")))
            except ValueError as exc:
                _fail(source, aw, str(exc))
        text_comment = e.get("comment") or ""
        if not isinstance(text_comment, str):
            _fail(source, f"{w}.comment", "expected a string")
        baseline = text_comment.startswith(BASELINE_PREFIX)
        if baseline:
            text_comment = text_comment[len(BASELINE_PREFIX):]
        indexes = [c.index for c in conds]
        groups = ([(c,) for c in conds] if len(indexes) != len(set(indexes))
                  else [tuple(conds)])
        for name in names:
            for g in groups:
                rules.append(Rule(name, arches, action, errno, g, text_comment, baseline))
    return normalize(Profile(default, default_errno, arches, tuple(rules), provenance, notes,
                             skipped))

