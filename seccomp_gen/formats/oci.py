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
import re
from dataclasses import dataclass
from typing import Any, NoReturn

from ..errors import PermissiveDefault, SeccompGenError
from ..jsontext import loads_json
from ..profile import (
    ERRNO_EPERM,
    MAX_ERRNO,
    ArgCondition,
    Profile,
    Rule,
    header_lines,
    normalize,
    parse_header_lines,
    widen,
)
from ..safetext import is_arch_name, is_syscall_name
from ..syscalls.arches import FAMILIES, sort_arches
from ..syscalls.constants import errno_name

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


#: libseccomp's arch names that moby spells otherwise in ``includes``/``excludes.arches`` (its
#: ``goToNative`` names for Go's GOARCH); the other arches are spelled alike.
_DOCKER_ARCH_NAMES: dict[str, str] = {"x86_64": "amd64", "aarch64": "arm64", "mipsel": "mipsle",
                                      "mipsel64n32": "mips3l64n32"}


@dataclass(frozen=True)
class DockerHost:
    """What Docker's ``includes``/``excludes`` are resolved for, as moby resolves them when it
    starts a container: the host's ``arch`` (libseccomp's name, ``x86_64``), its kernel
    ``release`` (``uname -r``), and the container's capabilities. The caller passes the real
    host's (``files/profiles.py``); this module reads nothing from the machine."""

    arch: str
    release: str
    caps: frozenset[str] = DOCKER_DEFAULT_CAPS

    @property
    def docker_arch(self) -> str:
        """The arch as moby names it in ``includes.arches`` (``amd64``)."""
        return _DOCKER_ARCH_NAMES.get(self.arch, self.arch)

    @property
    def kernel(self) -> tuple[int, int] | None:
        """(major, minor) of ``release``, read as moby reads it (``3.12-1-amd64`` is 3.12);
        None if it does not begin with them."""
        m = re.match(r"(\d{1,9})\.(\d{1,9})", self.release)
        return (int(m.group(1)), int(m.group(2))) if m else None


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


def consumer_notes(profile: Profile) -> tuple[str, ...]:
    """What a consumer of this OCI profile does differently from what it says, one line each.

    Docker 20.10 ignores ``defaultErrnoRet`` (measured with Debian's docker.io 20.10.24 and its
    runc: a call the profile does not list fails with EPERM whatever ``defaultErrnoRet`` says,
    while a rule's own ``errnoRet`` is honoured); runc, crun and podman honour it."""
    errno = profile.default_errno
    if profile.default_action != "errno" or errno is None or errno == ERRNO_EPERM:
        return ()
    return (f"Docker 20.10 ignores defaultErrnoRet: under it, syscalls this profile does not "
            f"list fail with EPERM, not {errno_name(errno)} ({errno}); runc, crun and podman "
            "honour it",)


def sniff(text: str) -> bool:
    """Whether ``text`` is JSON (an object: a profile, a config.json, or a trace, which the
    caller tells apart first)."""
    return text.lstrip().startswith("{")


def emit_docker(profile: Profile) -> str:
    """Docker's form: the OCI JSON with ``archMap`` instead of ``architectures``."""
    return emit(profile, docker=True)


def emit(profile: Profile, *, docker: bool = False) -> str:
    """OCI ``linux.seccomp`` JSON text; equal profiles give equal bytes."""
    return json.dumps(to_json(profile, docker=docker), indent=2, ensure_ascii=False) + "\n"


# --- a runtime's config.json ---------------------------------------------------------------------

#: The keys of a ``linux.seccomp`` object that the profile model holds; a rewrite replaces these
#: and keeps the others (``flags``, ``listenerPath``, ``listenerMetadata``) as they were.
MODEL_KEYS = frozenset({"comment", "defaultAction", "defaultErrnoRet", "architectures",
                        "archMap", "syscalls"})
#: The first indented line of a pretty-printed document: its indentation.
_INDENT = re.compile(r"\s*[{\[][ \t]*\r?\n([ \t]+)\S")


def is_runtime_config(doc: Any) -> bool:
    """Whether decoded JSON is a runtime's whole config.json (a ``linux.seccomp`` inside) rather
    than a seccomp object."""
    return isinstance(doc, dict) and isinstance(doc.get("linux"), dict) and (
        "seccomp" in doc["linux"])


def seccomp_object(doc: Any) -> Any:
    """The seccomp object of decoded JSON: ``linux.seccomp`` of a config.json, else ``doc``."""
    return doc["linux"]["seccomp"] if is_runtime_config(doc) else doc


def with_seccomp(config_text: str, seccomp: dict[str, Any], source: str) -> str:
    """The text of a runtime's config.json with only its ``linux.seccomp`` replaced.

    The rest is written back as it was, as far as JSON allows: key order, the indentation of
    the file (a one-line file stays on one line) and its line ends, ASCII escapes if the file
    was ASCII, and the white space around the document. Keys of the old seccomp object outside
    :data:`MODEL_KEYS` are kept in place. A key given twice in one object is refused (the
    decoder would keep one of them and the rewrite lose the other)."""
    doc = loads_json(config_text, source, unique_keys=True)
    if not is_runtime_config(doc):
        _fail(source, "linux.seccomp", "not found: not a runtime's config.json")
    old = doc["linux"]["seccomp"]
    if not isinstance(old, dict):
        _fail(source, "linux.seccomp", f"expected an object, found {_json_kind(old)}")
    merged = {k: seccomp[k] if k in MODEL_KEYS else v for k, v in old.items()
              if k not in MODEL_KEYS or k in seccomp}
    merged.update((k, v) for k, v in seccomp.items() if k not in merged)
    doc["linux"]["seccomp"] = merged
    body = config_text.strip()
    lead = config_text[:len(config_text) - len(config_text.lstrip())]
    trail = config_text[len(config_text.rstrip()):]
    indent = _INDENT.match(body)
    ascii_only = config_text.isascii()
    if indent is not None:
        text = json.dumps(doc, indent=indent.group(1), ensure_ascii=ascii_only)
    elif "\n" not in body:
        compact = not re.search(r'"\s*:\s', body)
        text = json.dumps(doc, ensure_ascii=ascii_only,
                          separators=(",", ":") if compact else (", ", ": "))
    else:
        text = json.dumps(doc, indent=2, ensure_ascii=ascii_only)
    if "\r\n" in body:  # JSON text holds no raw newline inside a string: each is a line end
        text = text.replace("\n", "\r\n")
    return lead + text + trail


# --- parsing ------------------------------------------------------------------------------------


def _fail(source: str, where: str, what: str) -> NoReturn:
    raise SeccompGenError(f"{where}: {what}" if where else what, path=source)


def _int(source: str, v: Any, where: str, *, bits: int = 64) -> int:
    if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v < 2**bits:
        _fail(source, where, f"expected an unsigned {bits}-bit integer")
    return v


def _index(source: str, v: Any, where: str) -> int:
    if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v < 6:
        _fail(source, where, f"expected an argument index 0-5, not {_show(v)}")
    return v


def _errno(source: str, v: Any, where: str) -> int:
    if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v <= MAX_ERRNO:
        _fail(source, where, f"expected an errno, 0-{MAX_ERRNO}")
    return v


def _action(source: str, v: Any, where: str) -> str:
    if not isinstance(v, str) or v not in _ACTIONS_BACK:
        _fail(source, where, f"unsupported action {_show(v)}")
    return _ACTIONS_BACK[v]


def _show(v: Any) -> str:
    """A value from the file, short and quoted (repr escapes what a terminal must not see)."""
    text = repr(v)
    return text if len(text) <= 80 else text[:77] + "..."


def _list(source: str, v: Any, where: str) -> list[Any]:
    """A list, or nothing for a key that is absent or null."""
    if v is None:
        return []
    if not isinstance(v, list):
        _fail(source, where, f"expected a list, found {_json_kind(v)}")
    return v


def _json_kind(v: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean",
            int: "a number", float: "a number"}.get(type(v), type(v).__name__)


def _strings(source: str, v: Any, where: str) -> list[str]:
    items = _list(source, v, where)
    for i, item in enumerate(items):
        if not isinstance(item, str):
            _fail(source, f"{where}[{i}]", f"expected a string, found {_json_kind(item)}")
    return items


def _arches(source: str, doc: dict[str, Any]) -> tuple[str, ...]:
    tokens: list[tuple[Any, str]] = [
        (t, f"architectures[{i}]")
        for i, t in enumerate(_list(source, doc.get("architectures"), "architectures"))]
    for i, m in enumerate(_list(source, doc.get("archMap"), "archMap")):
        if not isinstance(m, dict):
            _fail(source, f"archMap[{i}]", "expected an object")
        tokens.append((m.get("architecture"), f"archMap[{i}].architecture"))
        subs = _list(source, m.get("subArchitectures"), f"archMap[{i}].subArchitectures")
        tokens += [(t, f"archMap[{i}].subArchitectures[{j}]") for j, t in enumerate(subs)]
    out = []
    for t, where in tokens:
        try:
            arch = arch_from_token(t)
        except (ValueError, TypeError, AttributeError):
            _fail(source, where, f"not an SCMP_ARCH_* name: {_show(t)}")
        if not is_arch_name(arch):
            _fail(source, where, f"not an SCMP_ARCH_* name: {_show(t)}")
        out.append(arch)
    return sort_arches(out)


def _kernel_at_least(version: str, kernel: tuple[int, int]) -> bool:
    # A part too long to be a version number is larger than any kernel's.
    parts = [int(p) if len(p) < 10 else 10**9
             for p in version.split(".")[:2] if p.isdecimal()] + [0, 0]
    return kernel >= (parts[0], parts[1])


def _selector(source: str, e: dict[str, Any], key: str, where: str) -> dict[str, Any]:
    """Docker's ``includes``/``excludes``: an object of string lists and a ``minKernel``."""
    sel = e.get(key)
    if sel is None:
        return {}
    if not isinstance(sel, dict):
        _fail(source, f"{where}.{key}", f"expected an object, found {_json_kind(sel)}")
    for k in ("arches", "caps"):
        _strings(source, sel.get(k), f"{where}.{key}.{k}")
    if sel.get("minKernel") is not None and not isinstance(sel["minKernel"], str):
        _fail(source, f"{where}.{key}.minKernel", "expected a string such as \"5.8\"")
    return sel


def _docker_applies(source: str, e: dict[str, Any], where: str,
                    host: DockerHost | None) -> bool:
    """Whether a Docker entry's includes/excludes select it on ``host``, as moby reads them."""
    inc = _selector(source, e, "includes", where)
    exc = _selector(source, e, "excludes", where)

    def on_arch(key: str, sel: dict[str, Any]) -> bool:
        if host is None:
            _fail(source, f"{where}.{key}.arches", _NO_HOST)
        return host.docker_arch in sel["arches"]

    def kernel_reached(key: str, sel: dict[str, Any]) -> bool:
        if host is None:
            _fail(source, f"{where}.{key}.minKernel", _NO_HOST)
        if host.kernel is None:
            _fail(source, f"{where}.{key}.minKernel", "cannot be resolved: the kernel release "
                  f"{host.release[:40]!r} does not begin with a version")
        return _kernel_at_least(sel["minKernel"], host.kernel)

    caps = host.caps if host is not None else DOCKER_DEFAULT_CAPS
    if inc.get("arches") and not on_arch("includes", inc):
        return False
    if inc.get("caps") and not set(inc["caps"]) <= caps:
        return False
    if inc.get("minKernel") and not kernel_reached("includes", inc):
        return False
    if exc.get("arches") and on_arch("excludes", exc):
        return False
    if exc.get("caps") and set(exc["caps"]) & caps:
        return False
    return not (exc.get("minKernel") and kernel_reached("excludes", exc))


#: Why an entry that selects by arch or kernel cannot be read without a host.
_NO_HOST = ("Docker's includes/excludes are resolved for a host, and none was given "
            "(oci.parse(..., host=DockerHost(arch, release)))")


def _names(source: str, e: dict[str, Any], where: str) -> list[str]:
    raw = e.get("names")
    if raw is None and isinstance(e.get("name"), str):
        raw, where = [e["name"]], f"{where}.name"
    else:
        where = f"{where}.names"
    if not isinstance(raw, list) or not raw:
        _fail(source, where, "expected a list of syscall names")
    for i, n in enumerate(raw):
        if not is_syscall_name(n):
            _fail(source, f"{where}[{i}]", f"not a syscall name: {_show(n)}")
    return raw


def parse(text: str, source: str = "<oci profile>", *, host: DockerHost | None = None) -> Profile:
    """Read OCI/Docker seccomp JSON (a ``linux.seccomp`` object or a config.json) as a Profile.

    Args on the same index in one entry are split into separate rules, as runc does (it ORs
    them). Docker's ``includes``/``excludes`` are resolved as moby would for a container on
    ``host``; without one, an entry that selects by arch or kernel is a one-line error.
    """
    return from_json(loads_json(text, source), source, host=host)


def from_json(doc: Any, source: str = "<oci profile>", *,
              host: DockerHost | None = None) -> Profile:
    """:func:`parse` for JSON already decoded; every field is checked, each problem one line
    naming its JSON path."""
    if not isinstance(doc, dict):
        _fail(source, "", f"expected a JSON object, found {_json_kind(doc)}")
    if "kind" in doc and "apiVersion" in doc:  # kubectl get -o json: JSON files are OCI's
        _fail(source, "", f"a Kubernetes object (kind {_show(doc['kind'])}) in JSON, not an OCI "
              "profile: give a SeccompProfile as YAML (kubectl get -o yaml)")
    if is_runtime_config(doc):
        doc = seccomp_object(doc)  # a whole config.json
        if not isinstance(doc, dict):
            _fail(source, "linux.seccomp", f"expected an object, found {_json_kind(doc)}")
    default = _action(source, doc.get("defaultAction"), "defaultAction")
    if default == "allow":
        raise PermissiveDefault("defaultAction: a denylist (default allow) is not supported",
                                path=source)
    default_errno = None
    if default == "errno":
        default_errno = _errno(source, doc.get("defaultErrnoRet", 1), "defaultErrnoRet")
    comment = doc.get("comment", [])
    if isinstance(comment, str):
        comment = [comment]
    if not isinstance(comment, list) or not all(isinstance(c, str) for c in comment):
        _fail(source, "comment", "expected a list of strings")
    provenance, notes, skipped = parse_header_lines(comment)
    arches = _arches(source, doc)
    rules: list[Rule] = []
    for i, e in enumerate(_list(source, doc.get("syscalls"), "syscalls")):
        w = f"syscalls[{i}]"
        if not isinstance(e, dict):
            _fail(source, w, "expected an object")
        if not _docker_applies(source, e, w, host):
            continue
        names = _names(source, e, w)
        action = _action(source, e.get("action"), f"{w}.action")
        errno = (_errno(source, e.get("errnoRet", default_errno or 1), f"{w}.errnoRet")
                 if action == "errno" else None)
        conds: list[ArgCondition] = []
        for j, a in enumerate(_list(source, e.get("args"), f"{w}.args")):
            aw = f"{w}.args[{j}]"
            if not isinstance(a, dict):
                _fail(source, aw, "expected an object")
            op = a.get("op", "")
            if not isinstance(op, str) or not op.startswith("SCMP_CMP_"):
                _fail(source, f"{aw}.op", f"unknown operator {_show(op)}")
            try:
                conds.append(ArgCondition(_index(source, a.get("index"), f"{aw}.index"),
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
    try:
        return normalize(Profile(default, default_errno, arches, tuple(rules), provenance,
                                 notes, skipped))
    except ValueError as exc:
        _fail(source, "", str(exc))
