"""``--format kubernetes``: the security-profiles-operator's SeccompProfile resource.

Every emitted document is checked against the operator's own CRD schema (vendored in
tests/data/spo-seccompprofile-crd.yaml, source in tests/data/README.md) with ``jsonschema``, as
the API server applies it under kubectl's default strict field validation: unknown fields are
errors, ``x-kubernetes-list-type: set`` lists hold no value twice, int32/int64 are ranges. The
check is shown to fail on documents the CRD rejects, and the reader refuses each of them too.
Live tests record real programs and enforce the YAML with ``seccomp-gen run``.
"""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
from dataclasses import replace
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from helpers.synth_helpers import mixed_trace, rec, trace

from seccomp_gen.errors import SeccompGenError
from seccomp_gen.formats import FORMATS, emit, kubernetes, sniff
from seccomp_gen.profile import ArgCondition, Profile, Rule, widen
from seccomp_gen.synthesize import Policy, synthesize

ROOT = Path(__file__).resolve().parents[2]
CRD = ROOT / "tests" / "data" / "spo-seccompprofile-crd.yaml"
SAMPLES = sorted((ROOT / "sample_traces").glob("*.trace.json"))
CLI = [sys.executable, "-m", "seccomp_gen"]
TIMEOUT = 120
#: ObjectMeta's rule for a custom resource's name (apimachinery's IsDNS1123Subdomain).
DNS1123_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


def cli(*args: str | Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    # subprocess.run SIGKILLs the child when the timeout expires.
    return subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True,
                          timeout=TIMEOUT, check=False, env=env)


# --- the CRD as the API server applies it --------------------------------------------------------


def _crd_version(name: str) -> dict[str, Any]:
    doc = yaml.safe_load(CRD.read_text())
    return next(v for v in doc["spec"]["versions"] if v["name"] == name)


def _strict(schema: dict[str, Any]) -> dict[str, Any]:
    """The structural schema with the API server's implicit rules made explicit for
    jsonschema: objects with properties take no others (kubectl's strict validation reports a
    field the schema would prune), and a ``set`` list has unique items."""
    s = dict(schema)
    if "properties" in s:
        s["properties"] = {k: _strict(v) for k, v in s["properties"].items()}
        if not s.get("x-kubernetes-preserve-unknown-fields"):
            s.setdefault("additionalProperties", False)
    if "items" in s:
        s["items"] = _strict(s["items"])
    if s.get("x-kubernetes-list-type") == "set":
        s["uniqueItems"] = True
    return s


FORMAT_CHECKER = jsonschema.FormatChecker()
FORMAT_CHECKER.checks("int32")(lambda v: not isinstance(v, int) or -(2**31) <= v < 2**31)
FORMAT_CHECKER.checks("int64")(lambda v: not isinstance(v, int) or -(2**63) <= v < 2**63)


@cache
def validator(version: str = "v1beta1") -> jsonschema.Draft4Validator:
    schema = _strict(_crd_version(version)["schema"]["openAPIV3Schema"])
    jsonschema.Draft4Validator.check_schema(schema)
    return jsonschema.Draft4Validator(schema, format_checker=FORMAT_CHECKER)


def admission_errors(doc: Any) -> list[str]:
    """What the API server says about ``doc`` (empty: it would be stored): the CRD schema of
    the version it names, and the object's own apiVersion, kind and metadata.name rules."""
    if not isinstance(doc, dict):
        return ["not an object"]
    errors: list[str] = []
    group, _, version = str(doc.get("apiVersion", "")).partition("/")
    if group != kubernetes.GROUP or version not in ("v1beta1", "v1"):
        return [f"apiVersion {doc.get('apiVersion')!r} is not served"]
    if doc.get("kind") != "SeccompProfile":
        errors.append(f"kind {doc.get('kind')!r}")
    name = (doc.get("metadata") or {}).get("name")
    if not isinstance(name, str) or len(name) > 253 or not DNS1123_SUBDOMAIN.fullmatch(name):
        errors.append(f"metadata.name {name!r} is not a DNS-1123 subdomain")
    errors += [f"{'.'.join(map(str, e.absolute_path))}: {e.message}"
               for e in validator(version).iter_errors(doc)]
    return errors


def assert_admitted(text: str) -> dict[str, Any]:
    doc = yaml.safe_load(text)
    assert admission_errors(doc) == [], text
    assert text.endswith("\n") and not text.endswith("\n\n")
    return doc  # type: ignore[no-any-return]


# --- the vendored CRD ---------------------------------------------------------------------------


def test_vendored_crd_is_the_operators_seccompprofile_crd() -> None:
    doc = yaml.safe_load(CRD.read_text())
    assert doc["kind"] == "CustomResourceDefinition"
    assert doc["spec"]["group"] == kubernetes.GROUP
    assert doc["spec"]["names"]["kind"] == kubernetes.KIND
    versions = {v["name"]: v for v in doc["spec"]["versions"]}
    assert versions["v1beta1"]["served"] and versions["v1"]["served"]
    # What emit writes and parse reads equals the two served versions' schemas.
    assert (versions["v1beta1"]["schema"] == versions["v1"]["schema"])
    assert set(kubernetes.API_VERSIONS) == {f"{kubernetes.GROUP}/{v}" for v in versions}


def test_module_enums_are_the_crds() -> None:
    """The module's copies of the CRD's enums and limits cannot drift from the vendored CRD."""
    spec = _crd_version("v1beta1")["schema"]["openAPIV3Schema"]["properties"]["spec"]
    props = spec["properties"]
    assert set(props["architectures"]["items"]["enum"]) == kubernetes.ARCHES
    assert set(props["defaultAction"]["enum"]) == kubernetes.ACTIONS
    entry = props["syscalls"]["items"]
    assert set(entry["properties"]["action"]["enum"]) == kubernetes.ACTIONS
    arg = entry["properties"]["args"]
    assert arg["maxItems"] == kubernetes.MAX_ARGS
    assert set(arg["items"]["properties"]["op"]["enum"]) == kubernetes.OPS
    assert set(entry["properties"]) == {"action", "names", "args", "errnoRet"}
    assert set(arg["items"]["properties"]) == {"index", "op", "value", "valueTwo"}
    assert set(props) == {"architectures", "defaultAction", "state", "syscalls",
                          *kubernetes._UNSUPPORTED}
    assert "comment" not in props and "defaultErrnoRet" not in props
    assert FORMATS["kubernetes"].suffix == ".yaml"


# --- synthetic profiles -------------------------------------------------------------------------


def _synthetic() -> dict[str, Profile]:
    t = mixed_trace()
    out = {f"{a}-{b}": synthesize(t, Policy(args=a, baseline=b))
           for a, b in (("none", "none"), ("safe", "runc"), ("strict", "lxc"), ("safe", "crun"))}
    for default in ("kill", "kill-process", "trap", "log"):
        out[f"default-{default}"] = synthesize(t, Policy(args="safe", default_action=default))
    base = out["safe-runc"]
    # Rules with other verdicts, a MASKED_EQ with both values, a 64-bit value, six conditions.
    out["verdicts"] = replace(base, rules=(*base.rules,
        Rule("ptrace", base.architectures, "errno", 13),
        Rule("kexec_load", base.architectures, "kill-process"),
        Rule("reboot", base.architectures, "trap"),
        Rule("mount", base.architectures, "log"),
        Rule("bpf", base.architectures, "kill"),
        Rule("setsockopt", ("x86_64",), conditions=(ArgCondition(1, "MASKED_EQ", 0xFFFF, 0x5401),)),
        Rule("madvise", ("x86_64",), conditions=(ArgCondition(2, "LE", 2**63 - 1),)),
        Rule("getsockopt", ("x86_64",), conditions=tuple(
            ArgCondition(i, op, i + 1) for i, op in enumerate(("NE", "LT", "LE", "EQ", "GE",
                                                               "GT")))),
    ))
    out["empty"] = Profile("errno", 1, ("x86_64",), ())
    out["kill-empty"] = Profile("kill", None, ("x86_64", "x86"), ())
    out["aarch64"] = Profile("errno", 1, ("aarch64", "arm"),
                             (Rule("read", ("aarch64", "arm")),))
    return out


SYNTHETIC = _synthetic()


@pytest.mark.parametrize("name", sorted(SYNTHETIC))
def test_synthetic_profiles_are_admitted_and_round_trip(name: str) -> None:
    p = SYNTHETIC[name]
    text = emit(p, "kubernetes", output="app.yaml")
    doc = assert_admitted(text)
    assert doc["metadata"] == {"name": "app"}
    assert set(doc) == {"apiVersion", "kind", "metadata", "spec"}
    assert doc["apiVersion"] == kubernetes.API_VERSION
    assert admission_errors({**doc, "apiVersion": f"{kubernetes.GROUP}/v1"}) == []
    # The operator applies rules like runc (every name on every arch): the widened profile.
    back = kubernetes.parse(text)
    assert back == widen(p)
    assert emit(back, "kubernetes", output="app.yaml") == text
    assert sniff(text) == "kubernetes"
    # The OCI JSON of the same profile is the spec, less what the CRD has no field for.
    oci_doc = json.loads(emit(p, "oci"))
    oci_doc.pop("comment", None)
    assert oci_doc.pop("defaultErrnoRet", 1) == 1
    for e in oci_doc["syscalls"]:
        e.pop("comment", None)
    assert doc["spec"] == oci_doc


def test_errno_actions_and_arguments_are_written_as_the_crd_says() -> None:
    doc = yaml.safe_load(emit(SYNTHETIC["verdicts"], "kubernetes"))
    by_name = {n: e for e in doc["spec"]["syscalls"] for n in e["names"]}
    assert by_name["ptrace"]["action"] == "SCMP_ACT_ERRNO" and by_name["ptrace"]["errnoRet"] == 13
    assert by_name["clone3"]["errnoRet"] == 38
    assert by_name["kexec_load"]["action"] == "SCMP_ACT_KILL_PROCESS"
    assert by_name["setsockopt"]["args"] == [{"index": 1, "value": 0xFFFF, "valueTwo": 0x5401,
                                         "op": "SCMP_CMP_MASKED_EQ"}]
    assert len(by_name["getsockopt"]["args"]) == 6
    assert "defaultErrnoRet" not in doc["spec"]
    kill = yaml.safe_load(emit(SYNTHETIC["default-kill"], "kubernetes"))
    assert kill["spec"]["defaultAction"] == "SCMP_ACT_KILL"


def test_output_is_deterministic() -> None:
    p = SYNTHETIC["strict-lxc"]
    rules = list(p.rules)
    random.Random(7).shuffle(rules)
    shuffled = replace(p, rules=tuple(rules), architectures=tuple(reversed(p.architectures)))
    text = emit(p, "kubernetes", output="x.yaml")
    assert text == emit(p, "kubernetes", output="x.yaml") == emit(shuffled, "kubernetes",
                                                                   output="x.yaml")


def test_output_is_byte_identical_across_processes(tmp_path: Path) -> None:
    outs = []
    for d in ("a", "b"):
        (tmp_path / d).mkdir()
        out = tmp_path / d / "ls.yaml"
        res = cli("generate", SAMPLES[0], "--format", "kubernetes", "--baseline", "runc",
                  "-o", out)
        assert res.returncode == 0, res.stderr
        outs.append(out.read_bytes())
    assert outs[0] == outs[1]
    assert_admitted(outs[0].decode())


@pytest.mark.parametrize(("output", "command", "name"), [
    ("app.yaml", "ls", "app"),
    ("/tmp/x/My App.v2.YML", "ls", "my-app-v2"),
    ("profiles/ls.json", "ls", "ls"),
    ("--..yaml", "/usr/bin/python3.11 -c pass", "python3-11"),
    (None, "/usr/bin/ls -la /", "ls"),
    (None, "'/opt/my tool' x", "my-tool"),
    ("_.yaml", "é", kubernetes.DEFAULT_NAME),
    ("a" * 300 + ".yaml", "ls", "a" * 63),
    ("Ünïcode-ñame.yaml", "ls", "n-code-ame"),
])
def test_metadata_name_is_a_dns_label(output: str | None, command: str, name: str) -> None:
    p = replace(SYNTHETIC["empty"], provenance=(f"recorded: {command}",))
    doc = yaml.safe_load(emit(p, "kubernetes", output=output))
    assert doc["metadata"]["name"] == name
    assert re.fullmatch(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?", name)
    assert admission_errors(doc) == []


@pytest.mark.parametrize("sep", ["\n", "\r", "\r\n", "\x85", "\u2028", "\u2029"],
                         ids=["LF", "CR", "CRLF", "NEL", "LS", "PS"])
def test_comments_cannot_add_rules(sep: str) -> None:
    """Provenance and rule comments are free text: a line break in any spelling YAML knows
    stays inside the comment line, escaped."""
    evil = sep.join(["x", '  - names: ["ptrace"]', '    action: "SCMP_ACT_ALLOW"'])
    p = Profile("errno", 1, ("x86_64",), (Rule("read", ("x86_64",), comment=evil),),
                provenance=(evil,), notes=(evil,))
    text = emit(p, "kubernetes")
    assert_admitted(text)
    assert "ptrace" not in yaml.safe_load(text)["spec"]["syscalls"][0]["names"]
    back = kubernetes.parse(text)
    assert back.names() == {"read"} and len(back.rules) == 1
    assert sep not in back.rules[0].comment and "ptrace" in back.rules[0].comment


@pytest.mark.parametrize(("profile", "match"), [
    (Profile("errno", 13, ("x86_64",), ()), "no defaultErrnoRet"),
    (Profile("errno", 1, ("x86_64",), (Rule("read", ("x86_64",), "errno", 0),)),
     "errno 0"),
    (Profile("errno", 1, ("x86_64",), (Rule("read", ("x86_64",), conditions=(
        ArgCondition(0, "EQ", 2**63),)),)), "does not fit the CRD's int64"),
    (Profile("errno", 1, ("x86_64",), (Rule("read", ("x86_64",), conditions=(
        ArgCondition(0, "MASKED_EQ", 1, 2**64 - 1),)),)), "valueTwo"),
    (Profile("errno", 1, ("loongarch64",), (Rule("read", ("loongarch64",)),)),
     "SCMP_ARCH_LOONGARCH64"),
])
def test_what_the_crd_cannot_hold_is_refused(profile: Profile, match: str) -> None:
    with pytest.raises(SeccompGenError, match=match) as info:
        emit(profile, "kubernetes")
    assert "\n" not in info.value.one_line()


def test_cli_refuses_a_default_errno_the_crd_cannot_hold(tmp_path: Path) -> None:
    out = tmp_path / "app.yaml"
    res = cli("generate", SAMPLES[0], "--format", "kubernetes", "--errno", "13", "-o", out)
    assert res.returncode == 125
    assert res.stderr.count("\n") == 1 and "no defaultErrnoRet" in res.stderr
    assert not out.exists()


# --- the schema check can fail, and the reader agrees with it -----------------------------------


def _valid() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(emit(SYNTHETIC["verdicts"], "kubernetes",
                                              output="app.yaml"))
    return doc


def _entry(doc: dict[str, Any], name: str) -> dict[str, Any]:
    return next(e for e in doc["spec"]["syscalls"] if name in e["names"])  # type: ignore[no-any-return]


def _set(path: str, value: Any) -> Any:
    def mutate(doc: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = doc
        for p in parents:
            node = _entry(doc, p[1:]) if p.startswith("@") else node[p]
        node[last] = value
    return mutate


#: Documents the CRD rejects: (what, mutation, what the reader says).
WRONG: list[tuple[str, Any, str]] = [
    ("a comment field", _set("spec.comment", ["from seccomp-gen"]), "spec.comment: not a field"),
    ("defaultErrnoRet", _set("spec.defaultErrnoRet", 1), "spec.defaultErrnoRet: not a field"),
    ("a per-rule comment", _set("spec.@ptrace.comment", "x"), "comment: not a field"),
    ("an unknown action", _set("spec.@ptrace.action", "SCMP_ACT_FOO"), "not one of the CRD"),
    ("an unknown default", _set("spec.defaultAction", "SCMP_ACT_DENY"), "not one of the CRD"),
    ("an arch outside the enum", _set("spec.architectures", ["SCMP_ARCH_LOONGARCH64"]),
     "not one of the CRD"),
    ("an arch twice", _set("spec.architectures", ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86_64"]),
     "listed twice"),
    ("a name twice", _set("spec.@ptrace.names", ["ptrace", "ptrace"]), "listed twice"),
    ("no names", _set("spec.@ptrace.names", []), "at least one"),
    ("seven arguments", _set("spec.@getsockopt.args",
                              [{"index": 0, "op": "SCMP_CMP_EQ"} for _ in range(7)]),
     "more than 6"),
    ("an unknown operator", _set("spec.@setsockopt.args", [{"index": 1, "op": "SCMP_CMP_MASKED"}]),
     "not one of the CRD"),
    ("a value past int64", _set("spec.@setsockopt.args", [{"index": 1, "op": "SCMP_CMP_EQ",
                                                      "value": 2**63}]), "expected an integer"),
    ("a negative value", _set("spec.@setsockopt.args", [{"index": 1, "op": "SCMP_CMP_EQ",
                                                    "value": -1}]), "expected an integer"),
    ("an argument without op", _set("spec.@setsockopt.args", [{"index": 1, "value": 1}]),
     "op is required"),
    ("an argument field of OCI's", _set("spec.@setsockopt.args", [{"index": 1, "op": "SCMP_CMP_EQ",
                                                              "valueThree": 1}]), "not a field"),
    ("a negative errnoRet", _set("spec.@ptrace.errnoRet", -1), "expected an integer"),
    ("an entry without action", lambda d: _entry(d, "ptrace").pop("action"),
     "action is required"),
    ("Docker's includes", _set("spec.@ptrace.includes", {"caps": ["CAP_SYS_PTRACE"]}),
     "not a field"),
    ("a string for the names", _set("spec.@ptrace.names", "ptrace"), "expected a list"),
    ("no spec", lambda d: d.pop("spec"), "spec is required"),
    ("no defaultAction", lambda d: d["spec"].pop("defaultAction"), "defaultAction is required"),
    ("an unknown top-level field", _set("rules", []), "rules: not a field"),
    ("a state outside the enum", _set("spec.state", "Paused"), "spec.state"),
]


def test_the_valid_document_is_admitted() -> None:
    assert admission_errors(_valid()) == []


@pytest.mark.parametrize(("what", "mutate", "says"), WRONG, ids=[w[0] for w in WRONG])
def test_wrong_documents_fail_the_schema_check_and_the_reader(what: str, mutate: Any,
                                                              says: str) -> None:
    doc = _valid()
    mutate(doc)
    assert admission_errors(doc) != [], f"the schema check accepted {what}"
    with pytest.raises(SeccompGenError, match=re.escape(says)) as info:
        kubernetes.parse(yaml.safe_dump(doc), "wrong.yaml")
    assert "\n" not in info.value.one_line()


def test_reader_accepts_foreign_yaml_and_v1() -> None:
    """What kubectl get -o yaml gives: keys in another order, unquoted, status, managedFields,
    v1, no comments; errnoRet 0 reads as EPERM, as the operator writes it (omitempty)."""
    doc = _valid()
    doc["apiVersion"] = f"{kubernetes.GROUP}/v1"
    doc["metadata"].update({"uid": "1234", "resourceVersion": "9", "managedFields": [
        {"fieldsV1": {"f:spec": {"f:syscalls": {}}}, "manager": "kubectl"}]})
    doc["status"] = {"status": "Installed", "localhostProfile": "operator/app.json"}
    doc["spec"]["state"] = "Enabled"
    _entry(doc, "ptrace")["errnoRet"] = 0
    text = yaml.safe_dump(doc, default_flow_style=True)
    assert admission_errors(yaml.safe_load(text)) == []
    back = kubernetes.parse(text)
    want = {r.name: r for r in widen(SYNTHETIC["verdicts"]).rules}
    got = {r.name: r for r in back.rules}
    assert "ptrace" not in got  # EPERM, as the default: no rule
    assert set(got) == set(want) - {"ptrace"}
    assert all(got[n].conditions == want[n].conditions for n in want if n != "ptrace")


@pytest.mark.parametrize("newline", ["\r\n", "\r"], ids=["CRLF", "CR"])
def test_other_line_ends_read_the_same(newline: str) -> None:
    """An editor's line ends: the rules and the comments (baseline marks) read the same."""
    text = emit(SYNTHETIC["safe-runc"], "kubernetes")
    assert kubernetes.parse(text.replace("\n", newline)) == kubernetes.parse(text)


def test_sniff_claims_kubernetes_objects_only() -> None:
    p = SYNTHETIC["safe-runc"]
    assert kubernetes.sniff(emit(p, "kubernetes"))
    for fmt in ("oci", "lxc", "python"):
        assert not kubernetes.sniff(emit(p, fmt)), fmt
        assert sniff(emit(p, fmt)) == fmt
    assert kubernetes.sniff("kind: Pod\napiVersion: v1\n")
    assert not kubernetes.sniff("kind: Pod\n")


# --- bad input, through the commands -------------------------------------------------------------

POD = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: x\nspec:\n  containers: []\n"
HEAD = f"apiVersion: {kubernetes.API_VERSION}\nkind: SeccompProfile\nmetadata: {{name: x}}\n"
#: A billion laughs: ten levels of nine aliases each.
BOMB = (HEAD + "spec:\n  defaultAction: SCMP_ACT_ERRNO\n  a: &a [x, x, x, x, x, x, x, x, x]\n"
        + "".join(f"  {chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 9)}]\n"
                  for i in range(9)))

BAD: list[tuple[str, str, str]] = [
    ("a Pod", POD, "kind: 'Pod' is not a SeccompProfile"),
    ("another SPO kind", POD.replace("apiVersion: v1", f"apiVersion: {kubernetes.GROUP}/v1alpha1")
     .replace("Pod", "SelinuxProfile"), "'SelinuxProfile' is not a SeccompProfile"),
    ("an old apiVersion", HEAD.replace("v1beta1", "v1alpha1") + "spec: {defaultAction: "
     "SCMP_ACT_ERRNO}\n", "is not security-profiles-operator.x-k8s.io/v1beta1 or"),
    ("a YAML bomb", BOMB, "YAML aliases"),
    ("deep nesting", HEAD + "spec: " + "[" * 100_000 + "\n", "nest"),
    ("deep block nesting", HEAD + "spec:\n" + "".join(" " * i + "- \n" for i in range(1, 200)),
     "nested more than 64"),
    ("too large", HEAD + "spec:\n  defaultAction: SCMP_ACT_ERRNO\n" + "#" * 80 + "\n"
     + ("# " + "x" * 78 + "\n") * 20_000, "the most a Kubernetes cluster stores"),
    ("too many nodes", HEAD + "spec:\n  defaultAction: SCMP_ACT_ERRNO\n  syscalls:\n"
     "  - action: SCMP_ACT_ALLOW\n    names: [" + "read," * 60_000 + "]\n",
     "more than 50,000 YAML nodes"),
    ("a duplicate key", HEAD + "spec:\n  defaultAction: SCMP_ACT_ERRNO\n"
     "  defaultAction: SCMP_ACT_ALLOW\n", "duplicate key 'defaultAction'"),
    ("a merge key", HEAD + "spec:\n  <<: {defaultAction: SCMP_ACT_ERRNO}\n", "merge keys"),
    ("two documents", HEAD + "spec: {defaultAction: SCMP_ACT_ERRNO}\n---\n" + POD,
     "a second YAML document"),
    ("broken YAML", HEAD + "spec: {defaultAction: [\n", "not valid YAML"),
    ("a Python object tag", HEAD + "spec: !!python/object/apply:os.system ['true']\n",
     "not valid YAML"),
    ("a base profile", HEAD + "spec: {defaultAction: SCMP_ACT_ERRNO, baseProfileName: runc}\n",
     "spec.baseProfileName: not supported"),
    ("a denylist", HEAD + "spec: {defaultAction: SCMP_ACT_ALLOW}\n", "denylist"),
    ("notify", HEAD + "spec: {defaultAction: SCMP_ACT_NOTIFY}\n", "not supported"),
    ("a list", f"- apiVersion: {kubernetes.API_VERSION}\n  kind: SeccompProfile\n"
     "apiVersion: x\nkind: y\n", "not valid YAML"),
]


@pytest.fixture(params=["libyaml", "python"])
def loader(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The reader with libyaml (what PyYAML's wheels have) and with PyYAML's pure-Python
    parser (what it falls back to without libyaml): both real, both must give one verdict."""
    if request.param == "python":
        monkeypatch.delattr(yaml, "CSafeLoader", raising=False)
    elif not getattr(yaml, "__with_libyaml__", False):
        pytest.skip("this PyYAML was built without libyaml")
    return str(request.param)


@pytest.mark.parametrize("name", ["verdicts", "strict-lxc", "empty"])
def test_both_parsers_read_back(name: str, loader: str) -> None:
    p = SYNTHETIC[name]
    assert kubernetes.parse(emit(p, "kubernetes")) == widen(p)


@pytest.mark.parametrize(("what", "text", "says"), BAD, ids=[b[0] for b in BAD])
def test_bad_yaml_is_refused_by_both_parsers(what: str, text: str, says: str,
                                             loader: str) -> None:
    with pytest.raises(SeccompGenError, match=re.escape(says)) as info:
        kubernetes.parse(text, "bad.yaml")
    assert "\n" not in info.value.one_line()


@pytest.mark.parametrize(("what", "text", "says"), BAD, ids=[b[0] for b in BAD])
def test_bad_yaml_is_one_line_and_nothing_is_written(what: str, text: str, says: str,
                                                     tmp_path: Path) -> None:
    src, out = tmp_path / "bad.yaml", tmp_path / "out.json"
    src.write_text(text)
    for args in (("import", src, "--format", "oci", "-o", out), ("diff", src, SAMPLES[0])):
        res = cli(*args)
        assert res.returncode in (125, 2), res
        assert res.stderr.count("\n") == 1, res.stderr
        assert res.stderr.startswith("seccomp-gen: error: ") and says in res.stderr, res.stderr
        assert "Traceback" not in res.stderr
    assert not out.exists()


def test_the_json_form_is_refused_clearly(tmp_path: Path) -> None:
    """kubectl get -o json: JSON files are OCI's, and the resource is not an OCI profile."""
    src = tmp_path / "app.json"
    src.write_text(json.dumps(yaml.safe_load(emit(SYNTHETIC["safe-runc"], "kubernetes"))))
    res = cli("diff", src, SAMPLES[0])
    assert res.returncode == 2 and res.stderr.count("\n") == 1
    assert "a Kubernetes object (kind 'SeccompProfile') in JSON" in res.stderr
    assert "as YAML (kubectl get -o yaml)" in res.stderr


def test_input_cap_applies(tmp_path: Path) -> None:
    src = tmp_path / "app.yaml"
    src.write_text(emit(SYNTHETIC["safe-runc"], "kubernetes"))
    env = {**os.environ, "SECCOMP_GEN_MAX_INPUT": "1K"}
    res = cli("import", src, "--format", "oci", "-o", tmp_path / "o.json", env=env)
    assert res.returncode == 125 and res.stderr.count("\n") == 1
    assert "larger than the input limit of 1 KiB" in res.stderr


def test_cli_conversions(tmp_path: Path) -> None:
    """generate -> kubernetes; import it to OCI and back; diff says they are the same."""
    k8s, oci_out, again = tmp_path / "app.yaml", tmp_path / "app.json", tmp_path / "again.yaml"
    res = cli("generate", *SAMPLES[:2], "--format", "kubernetes", "--args", "strict", "-o", k8s)
    assert res.returncode == 0, res.stderr
    assert f"kubernetes profile written to {k8s}" in res.stderr
    res = cli("import", k8s, "--format", "oci", "-o", oci_out)
    assert res.returncode == 0, res.stderr
    assert "(kubernetes)" in res.stderr
    res = cli("import", oci_out, "--format", "kubernetes", "-o", again)
    assert res.returncode == 0, res.stderr
    assert kubernetes.parse(again.read_text()) == kubernetes.parse(k8s.read_text())
    assert yaml.safe_load(again.read_text())["metadata"]["name"] == "again"
    res = cli("diff", k8s, oci_out)
    assert res.returncode == 0, res.stdout + res.stderr
    res = cli("generate", SAMPLES[0], "--format", "kubernetes", "-o", k8s)
    assert res.returncode == 125 and "already exists" in res.stderr


# --- real programs -------------------------------------------------------------------------------


def _record(tmp_path: Path, name: str, cmd: list[str], *extra: str) -> Path:
    out = tmp_path / f"{name}.trace.json"
    res = cli("record", "-q", "-o", out, *extra, "--", *cmd)
    assert res.returncode == 0, res.stderr
    return out


def _generate(tmp_path: Path, trace_file: Path, name: str, *extra: str) -> Path:
    out = tmp_path / f"{name}.yaml"
    res = cli("generate", trace_file, "--format", "kubernetes", "-o", out, *extra)
    assert res.returncode == 0, res.stderr
    return out


@pytest.mark.live
def test_real_programs_give_admitted_resources(cbuild: Any, tmp_path: Path) -> None:
    hello32 = cbuild["hello32"]
    programs = {
        "python-one-liner": [sys.executable, "-c", "import json; print(json.dumps([1]))"],
        "hello32": [hello32],
    }
    outputs = {}
    for name, cmd in programs.items():
        outputs[name] = _generate(tmp_path, _record(tmp_path, name, cmd), name, "--baseline",
                                  "runc")
    # ls through record --profile (generate's defaults).
    _record(tmp_path, "ls", ["ls", "-la", "/"], "--profile", f"kubernetes:{tmp_path / 'ls.yaml'}")
    outputs["ls"] = tmp_path / "ls.yaml"
    for name, path in outputs.items():
        text = path.read_text()
        doc = assert_admitted(text)
        assert doc["metadata"]["name"] == name
        names = {n for e in doc["spec"]["syscalls"] if e["action"] == "SCMP_ACT_ALLOW"
                 for n in e["names"]}
        assert {"execve", "exit_group"} <= names, name
        assert kubernetes.parse(text) == widen(kubernetes.parse(text))
    hello = yaml.safe_load(outputs["hello32"].read_text())
    assert "SCMP_ARCH_X86" in hello["spec"]["architectures"]
    # A static i386 program's calls are i386 names (write is 4 there; the profile names it).
    assert any("write" in e["names"] for e in hello["spec"]["syscalls"])


@pytest.mark.live
def test_run_enforces_the_resource(tmp_path: Path) -> None:
    trace_file = _record(tmp_path, "ls", ["ls", "-la", "/"])
    profile = _generate(tmp_path, trace_file, "ls")
    summary = tmp_path / "run.json"
    res = cli("run", "--profile", profile, "--fail-on-violation", "--json", summary, "-q", "--",
              "ls", "-la", "/")
    assert res.returncode == 0, res.stderr
    doc = json.loads(summary.read_text())
    assert doc["violations"] == 0 and doc["status"] == 0 and not doc["violated"]
    # The same resource less getdents64, as kubectl would hand it back (no comments, PyYAML's
    # own layout): the run is reported, and fails.
    spec = yaml.safe_load(profile.read_text())
    for e in spec["spec"]["syscalls"]:
        e["names"] = [n for n in e["names"] if n != "getdents64"]
    spec["spec"]["syscalls"] = [e for e in spec["spec"]["syscalls"] if e["names"]]
    lacking = tmp_path / "lacking.yaml"
    lacking.write_text(yaml.safe_dump(spec))
    assert admission_errors(yaml.safe_load(lacking.read_text())) == []
    summary = tmp_path / "lacking-run.json"
    res = cli("run", "--profile", lacking, "--fail-on-violation", "--json", summary, "-q", "--",
              "ls", "-la", "/")
    assert res.returncode == 3, res.stderr
    doc = json.loads(summary.read_text())
    assert doc["violated"] and doc["violations"] >= 1
    assert {r["syscall"] for r in doc["rows"]} == {"getdents64"}, doc["rows"]
    # check, the CI gate, says the same of both.
    res = cli("check", "--profile", profile, "-q", "--", "ls", "-la", "/")
    assert res.returncode == 0, res.stderr
    res = cli("check", "--profile", lacking, "-q", "--", "ls", "-la", "/")
    assert res.returncode == 1 and "x86_64 getdents64" in res.stderr, res.stderr


def test_trace_helpers_cover_an_i386_only_name() -> None:
    """A name only i386 has (socketcall) reaches the resource as the widened profile says."""
    p = synthesize(trace([rec("x86_64", "read"), rec("x86", "socketcall", {(1,)})]),
                   Policy(args="safe"))
    doc = assert_admitted(emit(p, "kubernetes"))
    entry = next(e for e in doc["spec"]["syscalls"] if "socketcall" in e["names"])
    assert entry["args"] == [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}]
