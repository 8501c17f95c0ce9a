"""The security-profiles-operator's ``SeccompProfile`` resource (Kubernetes YAML).

The spec is the OCI ``linux.seccomp`` object (:func:`.oci.to_json`, so the widened profile: the
operator hands it to runc/crun, which apply every rule to every listed arch) less what the CRD
has no field for: no ``comment`` (provenance, notes and baseline reasons become YAML comment
lines), no ``defaultErrnoRet`` (the default errno is always EPERM). What the CRD's schema
rejects is refused in one line, never written: an arch outside its enum, an argument value of
2**63 or more (``value`` is an int64), an ``errnoRet`` of 0 (the operator drops a zero errnoRet,
so runc would answer EPERM). ``metadata.name`` is a DNS-1123 label made from the output file's
name (``app.yaml`` -> ``app``). Every string is double-quoted. Written by hand, so the bytes are
ours to keep stable; read with PyYAML (``safe_load`` semantics: no tags that build objects), with
aliases, merge keys, duplicate keys, nesting past :data:`MAX_DEPTH`, more than :data:`MAX_NODES`
nodes and files over :data:`MAX_TEXT` refused before anything is built. The rest is checked as
the CRD checks it. See docs/formats/kubernetes.md.
"""

from __future__ import annotations

import json
import os
import re
import shlex
from typing import TYPE_CHECKING, Any, NoReturn

from ..errors import PermissiveDefault, SeccompGenError
from ..profile import ERRNO_EPERM, MAX_ERRNO, Profile
from ..safetext import is_syscall_name, printable
from . import oci

if TYPE_CHECKING:
    import yaml

GROUP = "security-profiles-operator.x-k8s.io"
#: What :func:`emit` writes: served by every operator release since v0.4 (v1 only from v1.0,
#: with the same schema); both are read.
API_VERSION = f"{GROUP}/v1beta1"
API_VERSIONS = (API_VERSION, f"{GROUP}/v1")
KIND = "SeccompProfile"

#: The enums of the CRD (tests/data/spo-seccompprofile-crd.yaml).
ARCHES = frozenset({
    "SCMP_ARCH_NATIVE", "SCMP_ARCH_X86", "SCMP_ARCH_X86_64", "SCMP_ARCH_X32", "SCMP_ARCH_ARM",
    "SCMP_ARCH_AARCH64", "SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64", "SCMP_ARCH_MIPS64N32",
    "SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64", "SCMP_ARCH_MIPSEL64N32", "SCMP_ARCH_PPC",
    "SCMP_ARCH_PPC64", "SCMP_ARCH_PPC64LE", "SCMP_ARCH_S390", "SCMP_ARCH_S390X",
    "SCMP_ARCH_PARISC", "SCMP_ARCH_PARISC64", "SCMP_ARCH_RISCV64",
})
ACTIONS = frozenset({
    "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_TRAP",
    "SCMP_ACT_ERRNO", "SCMP_ACT_TRACE", "SCMP_ACT_ALLOW", "SCMP_ACT_LOG", "SCMP_ACT_NOTIFY",
})
OPS = frozenset({"SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ", "SCMP_CMP_GE",
                 "SCMP_CMP_GT", "SCMP_CMP_MASKED_EQ"})
MAX_ARGS = 6
INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1

#: Spec fields of the CRD that seccomp-gen cannot carry, and why: reading past them would give
#: a profile that is not what the cluster enforces, and rewriting the file would lose them.
_UNSUPPORTED = {
    "baseProfileName": "the operator unions the base profile in, in the cluster, where "
                       "seccomp-gen cannot see it",
    "flags": "seccomp-gen's profiles carry no seccomp(2) filter flags",
    "listenerPath": "seccomp-gen does not support SCMP_ACT_NOTIFY agents",
    "listenerMetadata": "seccomp-gen does not support SCMP_ACT_NOTIFY agents",
}
_SPEC_FIELDS = frozenset({"architectures", "defaultAction", "state", "syscalls", *_UNSUPPORTED})
_TOP_FIELDS = frozenset({"apiVersion", "kind", "metadata", "spec", "status"})
_SYSCALL_FIELDS = frozenset({"action", "names", "args", "errnoRet"})
_ARG_FIELDS = frozenset({"index", "op", "value", "valueTwo"})

#: Etcd's default request limit: the cluster cannot store a larger object, and PyYAML needs
#: seconds per megabyte, so a larger file is refused before it is parsed.
MAX_TEXT = 3 * 2**19
#: A SeccompProfile nests 6 deep; ``kubectl get -o yaml``'s managedFields a few more.
MAX_DEPTH = 64
#: Scalars and collections: Docker's default profile has about 530; PyYAML builds some 10,000
#: a second without libyaml, so a file of more is refused before anything is built.
MAX_NODES = 50_000
DEFAULT_NAME = "seccomp-profile"
_LABEL = re.compile(r"[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?")
_KEY = re.compile(r"[A-Za-z][A-Za-z0-9]*")
_SUFFIXES = (".yaml", ".yml", ".json")


# --- writing ------------------------------------------------------------------------------------


def dns_label(text: str) -> str:
    """``text`` as an RFC 1123 label (lower-case letters, digits and '-', at most 63, letters
    or digits at both ends), or '' if nothing of it is usable."""
    label = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return label[:63].rstrip("-")


def resource_name(profile: Profile, output: str | None) -> str:
    """``metadata.name``: from the output file's name (``app.yaml`` -> ``app``), else from the
    recorded command (``recorded: /usr/bin/ls -la`` -> ``ls``), else :data:`DEFAULT_NAME`."""
    candidates = []
    if output:
        base = os.path.basename(output)
        for suffix in _SUFFIXES:
            if base.lower().endswith(suffix):
                base = base[:-len(suffix)]
                break
        candidates.append(base)
    for line in profile.provenance:
        if line.startswith("recorded: "):
            try:
                words = shlex.split(line[len("recorded: "):])
            except ValueError:
                words = line[len("recorded: "):].split()
            candidates += [os.path.basename(words[0])] if words else []
            break
    for candidate in candidates:
        name = dns_label(candidate)
        if _LABEL.fullmatch(name):
            return name
    return DEFAULT_NAME


def _scalar(value: object) -> str:
    if isinstance(value, str):
        return json.dumps(value)  # ASCII, double-quoted: a valid YAML double-quoted scalar
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise TypeError(f"no YAML for {value!r:.40}")  # a bug: the OCI mapping has no such value


def _mapping(doc: dict[str, Any], indent: int) -> list[str]:
    pad = " " * indent
    out: list[str] = []
    for key, value in doc.items():
        if not _KEY.fullmatch(key):
            raise TypeError(f"no YAML for the key {key!r:.40}")  # a bug, as above
        if isinstance(value, dict):
            out += [f"{pad}{key}:", *_mapping(value, indent + 2)]
        elif isinstance(value, list):
            out += [f"{pad}{key}:", *_sequence(value, indent)] if value else [f"{pad}{key}: []"]
        else:
            out.append(f"{pad}{key}: {_scalar(value)}")
    return out


def _sequence(items: list[Any], indent: int) -> list[str]:
    pad = " " * indent
    out: list[str] = []
    for item in items:
        if isinstance(item, dict):
            first, *rest = _mapping(item, indent + 2)
            out += [f"{pad}- {first.lstrip()}", *rest]
        else:
            out.append(f"{pad}- {_scalar(item)}")
    return out


def _comment(text: str, indent: int = 0) -> str:
    """One comment line: every character YAML could read as a line break (``\\x85``,
    ``\\u2028`` too) or refuses is written as a visible escape."""
    text = printable(text)
    return " " * indent + (f"# {text}" if text else "#")


def _refuse(what: str, hint: str = "use --format oci") -> NoReturn:
    raise SeccompGenError(f"cannot write a SeccompProfile: {what}", hint=hint)


def _spec(profile: Profile) -> tuple[list[str], dict[str, Any], list[str]]:
    """(header lines, spec, one comment per syscalls entry): the OCI object, made to fit the CRD."""
    doc = oci.to_json(profile)
    header: list[str] = doc.pop("comment", [])
    default_errno = doc.pop("defaultErrnoRet", None)
    if default_errno not in (None, ERRNO_EPERM):
        _refuse(f"the resource has no defaultErrnoRet, so its default errno is always EPERM "
                f"({ERRNO_EPERM}), not {default_errno}", hint="use --errno 1, or --format oci")
    for token in doc["architectures"]:
        if token not in ARCHES:
            _refuse(f"the CRD does not list the architecture {token}")
    comments: list[str] = []
    for entry in doc["syscalls"]:
        comments.append(entry.pop("comment", ""))
        where = ", ".join(entry["names"][:3]) + ("..." if len(entry["names"]) > 3 else "")
        if entry.get("errnoRet") == 0:
            _refuse(f"{where}: errno 0 (the operator drops a zero errnoRet, and runc then "
                    "returns EPERM)")
        for arg in entry.get("args", ()):
            for key in ("value", "valueTwo"):
                if arg.get(key, 0) > INT64_MAX:
                    _refuse(f"{where}: argument {arg['index']} {key} {arg[key]:#x} does not "
                            "fit the CRD's int64")
    return header, doc, comments


def emit(profile: Profile, *, output: str | None = None) -> str:
    """The SeccompProfile YAML; equal profiles (and output names) give equal bytes."""
    header, spec, comments = _spec(profile)
    syscalls = spec.pop("syscalls")
    lines = [_comment(h) for h in header]
    lines += _mapping({"apiVersion": API_VERSION, "kind": KIND,
                       "metadata": {"name": resource_name(profile, output)}, "spec": spec}, 0)
    if not syscalls:
        lines.append("  syscalls: []")
    else:
        lines.append("  syscalls:")
        for entry, comment in zip(syscalls, comments, strict=True):
            if comment:
                lines.append(_comment(comment, 2))
            lines += _sequence([entry], 2)
    return "\n".join(lines) + "\n"


# --- reading ------------------------------------------------------------------------------------

_TOP_KEY = re.compile(r"""^["']?(apiVersion|kind)["']?[ \t]*:""", re.MULTILINE)
#: What YAML reads as a line break (PyYAML and libyaml agree), so marks' line numbers match.
_LINE_BREAK = re.compile("\r\n|[\r\n\x85\u2028\u2029]")


def sniff(text: str) -> bool:
    """Whether ``text`` is a Kubernetes object in YAML (top-level ``apiVersion`` and ``kind``
    keys): any kind is claimed, so that a Pod is told it is not a SeccompProfile."""
    if "apiVersion" not in text or "kind" not in text:
        return False
    return {m.group(1) for m in _TOP_KEY.finditer(text)} == {"apiVersion", "kind"}


def _fail(source: str, where: str, what: str) -> NoReturn:
    raise SeccompGenError(f"{where}: {what}" if where else what, path=source)


def _kind_of(v: Any) -> str:
    return {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean",
            int: "a number", float: "a number", type(None): "null"}.get(type(v), type(v).__name__)


def _show(v: Any) -> str:
    text = repr(v)
    return text if len(text) <= 80 else text[:77] + "..."


def _loader(yaml_mod: Any) -> Any:
    """A safe loader (libyaml's when PyYAML has it) that refuses merge and duplicate keys."""
    base = getattr(yaml_mod, "CSafeLoader", yaml_mod.SafeLoader)

    class Loader(base):  # type: ignore[misc, valid-type]
        def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> Any:
            seen: set[Any] = set()
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    raise yaml_mod.constructor.ConstructorError(
                        None, None, "merge keys (<<) are not accepted", key_node.start_mark)
                key = self.construct_object(key_node)
                try:
                    duplicate = key in seen
                except TypeError:
                    continue  # unhashable: the base constructor says so
                if duplicate:
                    raise yaml_mod.constructor.ConstructorError(
                        None, None, f"duplicate key {_show(key)}", key_node.start_mark)
                seen.add(key)
            return super().construct_mapping(node, deep)

    return Loader


def _yaml_error(exc: Exception) -> str:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    return f"{where}not valid YAML ({problem})"


def _check_events(yaml_mod: Any, loader: Any, text: str, source: str) -> None:
    """Refuse aliases (a YAML bomb expands them), nesting past MAX_DEPTH, more than MAX_NODES
    nodes and several documents, streaming, before the composer (which recurses) builds
    anything."""
    depth = docs = nodes = 0
    for event in yaml_mod.parse(text, Loader=loader):
        if isinstance(event, yaml_mod.AliasEvent):
            _fail(source, f"line {event.start_mark.line + 1}",
                  "YAML aliases (*name) are not accepted in a profile")
        if isinstance(event, yaml_mod.NodeEvent):
            nodes += 1
            if nodes > MAX_NODES:
                _fail(source, f"line {event.start_mark.line + 1}", f"more than {MAX_NODES:,} "
                      "YAML nodes, far more than any seccomp profile has")
        if isinstance(event, yaml_mod.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                _fail(source, f"line {event.start_mark.line + 1}",
                      f"nested more than {MAX_DEPTH} levels deep")
        elif isinstance(event, yaml_mod.CollectionEndEvent):
            depth -= 1
        elif isinstance(event, yaml_mod.DocumentStartEvent):
            docs += 1
            if docs > 1:
                _fail(source, f"line {event.start_mark.line + 1}",
                      "a second YAML document: give the SeccompProfile alone")


def _load(text: str, source: str) -> tuple[Any, list[int]]:
    """The document, and the line (0-based) of each ``spec.syscalls`` entry."""
    import yaml

    size = len(text) if len(text) > MAX_TEXT else len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_TEXT:
        _fail(source, "", f"larger than {MAX_TEXT // 2**10} KiB, the most a Kubernetes cluster "
              "stores in one object (etcd's request limit), so not a SeccompProfile")
    loader_class = _loader(yaml)
    try:
        _check_events(yaml, loader_class, text, source)
        loader = loader_class(text)
        try:
            node = loader.get_single_node()
            doc = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        _fail(source, "", _yaml_error(exc))
    except (RecursionError, MemoryError):
        _fail(source, "", "YAML too large or nested too deeply to read")
    lines: list[int] = []
    if isinstance(node, yaml.MappingNode):
        spec = next((v for k, v in node.value if k.value == "spec"), None)
        if isinstance(spec, yaml.MappingNode):
            calls = next((v for k, v in spec.value if k.value == "syscalls"), None)
            if isinstance(calls, yaml.SequenceNode):
                lines = [item.start_mark.line for item in calls.value]
    return doc, lines


def _comments(text: str, entry_lines: list[int]) -> tuple[list[str], list[str]]:
    """(header, one per entry): the comment lines before the document, and the comment line
    right above each syscalls entry (as emit writes them)."""
    lines = _LINE_BREAK.split(text)

    def body(line: str) -> str | None:
        stripped = line.strip()
        return stripped[1:].removeprefix(" ") if stripped.startswith("#") else None

    header: list[str] = []
    for line in lines:
        b = body(line)
        if b is not None:
            header.append(b)
        elif line.strip():
            break
    used: set[int] = set()
    per_entry: list[str] = []
    for n in entry_lines:
        b = body(lines[n - 1]) if 0 < n <= len(lines) and n - 1 not in used else None
        if b is not None:
            used.add(n - 1)
        per_entry.append(b or "")
    return header, per_entry


def _mapping_of(source: str, v: Any, where: str, fields: frozenset[str],
                required: tuple[str, ...] = ()) -> dict[str, Any]:
    """A mapping with only the CRD's ``fields`` (kubectl's strict validation rejects others),
    and its ``required`` ones."""
    if not isinstance(v, dict):
        _fail(source, where, f"expected a mapping, found {_kind_of(v)}")
    for key in v:
        if key not in fields:
            at = f"{where}.{key}" if where else str(key)
            _fail(source, printable(at)[:120], "not a field of the SeccompProfile CRD")
    for key in required:
        if key not in v:
            _fail(source, where, f"{key} is required")
    return v


def _list_of(source: str, v: Any, where: str) -> list[Any]:
    if not isinstance(v, list):
        _fail(source, where, f"expected a list, found {_kind_of(v)}")
    return v


def _enum(source: str, v: Any, where: str, allowed: frozenset[str]) -> str:
    if not isinstance(v, str) or v not in allowed:
        values = ", ".join(sorted(allowed)) if len(allowed) < 10 else "see the CRD"
        _fail(source, where, f"{_show(v)} is not one of the CRD's values ({values})")
    return v


def _integer(source: str, v: Any, where: str, top: int) -> int:
    if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v <= top:
        _fail(source, where, f"expected an integer 0-{top}, found {_show(v)}")
    return v


def _unique(source: str, items: list[str], where: str) -> None:
    """The CRD's ``x-kubernetes-list-type: set``: the API server refuses a value given twice."""
    seen: set[str] = set()
    for i, item in enumerate(items):
        if item in seen:
            _fail(source, f"{where}[{i}]", f"{_show(item)} is listed twice")
        seen.add(item)


def _action(source: str, v: Any, where: str) -> str:
    action = _enum(source, v, where, ACTIONS)
    if action in ("SCMP_ACT_TRACE", "SCMP_ACT_NOTIFY"):
        _fail(source, where, f"{action} is not supported by seccomp-gen")
    return action


def _entry(source: str, e: Any, where: str, comment: str) -> dict[str, Any]:
    """One ``spec.syscalls`` entry, checked as the CRD checks it, as an OCI entry."""
    e = _mapping_of(source, e, where, _SYSCALL_FIELDS, ("action", "names"))
    names = _list_of(source, e["names"], f"{where}.names")
    if not names:
        _fail(source, f"{where}.names", "expected at least one syscall name")
    for i, n in enumerate(names):
        if not is_syscall_name(n):
            _fail(source, f"{where}.names[{i}]", f"not a syscall name: {_show(n)}")
    _unique(source, names, f"{where}.names")
    out: dict[str, Any] = {"names": names, "action": _action(source, e["action"],
                                                             f"{where}.action")}
    if "errnoRet" in e:
        errno = _integer(source, e["errnoRet"], f"{where}.errnoRet", INT32_MAX)
        if errno > MAX_ERRNO:
            _fail(source, f"{where}.errnoRet", f"expected an errno, 0-{MAX_ERRNO}")
        if errno:  # the operator drops a zero errnoRet (omitempty): runc then returns EPERM
            out["errnoRet"] = errno
    if "args" in e:
        args = _list_of(source, e["args"], f"{where}.args")
        if len(args) > MAX_ARGS:
            _fail(source, f"{where}.args", f"more than {MAX_ARGS} argument conditions")
        conds: list[dict[str, Any]] = []
        for j, a in enumerate(args):
            aw = f"{where}.args[{j}]"
            a = _mapping_of(source, a, aw, _ARG_FIELDS, ("index", "op"))
            cond = {"index": _integer(source, a["index"], f"{aw}.index", 5),
                    "op": _enum(source, a["op"], f"{aw}.op", OPS)}
            for k in ("value", "valueTwo"):
                if k in a:
                    cond[k] = _integer(source, a[k], f"{aw}.{k}", INT64_MAX)
            conds.append(cond)
        out["args"] = conds
    if comment:
        out["comment"] = comment
    return out


def parse(text: str, source: str = "<kubernetes profile>") -> Profile:
    """Read a SeccompProfile resource (v1beta1 or v1) back into a Profile: every field is
    checked as the CRD checks it, and what seccomp-gen cannot carry is refused, one line each."""
    doc, entry_lines = _load(text, source)
    if not isinstance(doc, dict):
        _fail(source, "", f"expected a Kubernetes object (a mapping), found {_kind_of(doc)}")
    kind, api = doc.get("kind"), doc.get("apiVersion")
    if kind != KIND:
        _fail(source, "kind", f"{_show(kind)} is not a {KIND} (the security-profiles-operator's "
              "seccomp profile resource)")
    if api not in API_VERSIONS:
        _fail(source, "apiVersion", f"{_show(api)} is not {' or '.join(API_VERSIONS)}")
    _mapping_of(source, doc, "", _TOP_FIELDS, ("spec",))
    if "metadata" in doc and not isinstance(doc["metadata"], dict):
        _fail(source, "metadata", f"expected a mapping, found {_kind_of(doc['metadata'])}")
    spec = _mapping_of(source, doc["spec"], "spec", _SPEC_FIELDS, ("defaultAction",))
    for key, why in _UNSUPPORTED.items():
        if key in spec:
            _fail(source, f"spec.{key}", f"not supported: {why}")
    if spec.get("state", "Enabled") != "Enabled":
        _fail(source, "spec.state", f"{_show(spec['state'])}: only enabled profiles are "
              "supported (the operator does not install a disabled one)")
    default = _action(source, spec["defaultAction"], "spec.defaultAction")
    if default == "SCMP_ACT_ALLOW":
        raise PermissiveDefault("spec.defaultAction: a denylist (default allow) is not "
                                "supported", path=source)
    arches = _list_of(source, spec.get("architectures", []), "spec.architectures")
    for i, token in enumerate(arches):
        _enum(source, token, f"spec.architectures[{i}]", ARCHES)
    _unique(source, arches, "spec.architectures")
    header, comments = _comments(text, entry_lines)
    calls = _list_of(source, spec.get("syscalls", []), "spec.syscalls")
    entries = [_entry(source, e, f"spec.syscalls[{i}]",
                      comments[i] if i < len(comments) else "")
               for i, e in enumerate(calls)]
    # Checked as the CRD checks it; the rest is the OCI object, read by its reader.
    return oci.from_json({"comment": header, "defaultAction": default,
                          "architectures": arches, "syscalls": entries}, source)
