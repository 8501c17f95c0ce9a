"""Regression tests for the bugs a code review found (one section per bug)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from seccomp_gen.errors import SeccompGenError, TraceFileError
from seccomp_gen.formats import oci, tracefile

ROOT = Path(__file__).resolve().parents[2]
LS_TRACE = ROOT / "sample_traces" / "ls.trace.json"
CLI = [sys.executable, "-m", "seccomp_gen"]
#: A deterministic command with a fork and an exec.
CHECKED = ["sh", "-c", "cat /etc/hostname >/dev/null; exit 0"]


def run(*args: str | Path, cwd: Path | None = None, stdin: bytes | None = None,
        timeout: float = 120) -> subprocess.CompletedProcess[str]:
    # subprocess.run kills the child with SIGKILL when the timeout expires. PWD follows cwd:
    # a shell whose PWD is not its directory calls getcwd, which the profile would lack.
    env = {**os.environ, "PWD": str(cwd or Path.cwd())}
    return subprocess.run([*CLI, *map(str, args)], capture_output=True, timeout=timeout,
                          check=False, cwd=cwd, input=stdin.decode() if stdin else None,
                          text=True, env=env)


def one_error_line(res: subprocess.CompletedProcess[str]) -> str:
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("seccomp-gen: error:"), res.stderr
    assert "Traceback" not in res.stderr
    return lines[0]


@pytest.fixture
def oci_profile(tmp_path: Path) -> Path:
    """An OCI profile recorded from CHECKED (so ``check`` of CHECKED passes on it)."""
    oci = tmp_path / "app.json"
    res = run("record", "-q", "-o", tmp_path / "app.trace.json", "--profile", f"oci:{oci}",
              "--", *CHECKED)
    assert res.returncode == 0, res.stderr
    return oci


# --- check reads the profile once, through files/inputs.py ----------------------------------------


def _serve_once(fifo: Path, data: bytes) -> threading.Thread:
    """Write ``data`` to whoever opens ``fifo`` first, then close it: a second open of the
    FIFO blocks (no writer), as a second read of a pipe the user gave would."""
    def serve() -> None:
        with open(fifo, "wb") as fh:
            fh.write(data)
    t = threading.Thread(target=serve, daemon=True)
    t.start()
    return t


@pytest.mark.live
def test_check_reads_a_profile_given_as_a_pipe_once(oci_profile: Path, tmp_path: Path) -> None:
    fifo = tmp_path / "profile.fifo"
    os.mkfifo(fifo)
    writer = _serve_once(fifo, oci_profile.read_bytes())
    try:
        res = run("check", "--profile", fifo, "--", *CHECKED, timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail("check opened the profile a second time (it blocked on the FIFO)")
    finally:
        if writer.is_alive():  # unblock the writer if check never opened the FIFO
            with open(fifo, "rb") as fh:
                fh.read()
        writer.join(10)
    assert res.returncode == 0, res.stderr
    assert "covers every syscall" in res.stderr


@pytest.mark.live
def test_check_profile_on_stdin_never_opens_a_file_named_dash(oci_profile: Path,
                                                              tmp_path: Path) -> None:
    # A FIFO named "-" in the working directory: opening it would block forever.
    os.mkfifo(tmp_path / "-")
    try:
        res = run("check", "--profile", "-", "--", *CHECKED, cwd=tmp_path,
                  stdin=oci_profile.read_bytes(), timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail("check --profile - opened a file named '-'")
    assert res.returncode == 0, res.stderr
    assert "covers every syscall" in res.stderr


@pytest.mark.live
def test_check_update_merges_the_run_into_a_trace_profile(tmp_path: Path) -> None:
    # The trace --update rewrites is the text check read (once), merged with the new run.
    trace = tmp_path / "true.trace.json"
    assert run("record", "-q", "-o", trace, "--", "true").returncode == 0
    upd = run("check", "--profile", trace, "--update", "--", *CHECKED)
    assert upd.returncode == 1 and "updated (trace)" in upd.stderr, upd.stderr
    again = run("check", "--profile", trace, "--", *CHECKED)
    assert again.returncode == 0, again.stderr


# --- check --update on a runtime's config.json replaces only linux.seccomp ----------------------


def _runc_config(tmp_path: Path) -> str:
    """The config.json ``runc spec`` writes (tab-indented, no final newline)."""
    if shutil.which("runc") is None:
        pytest.skip("runc is not installed: no runtime to write a config.json")
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    subprocess.run(["runc", "spec"], cwd=bundle, check=True, capture_output=True, timeout=60)
    return (bundle / "config.json").read_text()


@pytest.mark.live
def test_check_update_of_a_config_json_keeps_the_rest_of_the_file(oci_profile: Path,
                                                                   tmp_path: Path) -> None:
    seccomp = json.loads(oci_profile.read_text())
    for entry in seccomp["syscalls"]:
        if "openat" in entry["names"]:
            entry["names"].remove("openat")
    seccomp["syscalls"] = [e for e in seccomp["syscalls"] if e["names"]]
    # A key of the runtime's that the profile model does not hold: it must stay.
    seccomp["flags"] = ["SECCOMP_FILTER_FLAG_SPEC_ALLOW"]
    doc = json.loads(_runc_config(tmp_path))
    doc["linux"]["seccomp"] = seccomp
    config = tmp_path / "config.json"
    config.write_text(json.dumps(doc, indent="\t"))  # as runc writes it: tabs, no final newline
    upd = run("check", "--profile", config, "--update", "--", *CHECKED)
    assert upd.returncode == 1 and "updated (oci)" in upd.stderr, upd.stderr
    text = config.read_text()
    new = json.loads(text)
    assert list(new) == list(doc) and list(new["linux"]) == list(doc["linux"])
    assert {k: v for k, v in new.items() if k != "linux"} == {
        k: v for k, v in doc.items() if k != "linux"}
    assert {k: v for k, v in new["linux"].items() if k != "seccomp"} == {
        k: v for k, v in doc["linux"].items() if k != "seccomp"}
    assert new["linux"]["seccomp"]["flags"] == ["SECCOMP_FILTER_FLAG_SPEC_ALLOW"]
    assert any("openat" in e["names"] for e in new["linux"]["seccomp"]["syscalls"])
    assert text == json.dumps(new, indent="\t")  # the file's own indentation and ending
    again = run("check", "--profile", config, "--", *CHECKED)
    assert again.returncode == 0, again.stderr


@pytest.mark.live
def test_check_update_of_a_config_json_in_another_format_is_refused(oci_profile: Path,
                                                                    tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"ociVersion": "1.0.2",
                                  "linux": {"seccomp": json.loads(oci_profile.read_text())}}))
    before = config.read_bytes()
    marker = tmp_path / "ran"
    res = run("check", "--profile", config, "--update", "--format", "lxc", "--", "touch", marker)
    assert res.returncode == 125
    assert "config.json" in one_error_line(res)
    assert config.read_bytes() == before and not marker.exists()


SECCOMP = {"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86_64"],
           "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"}]}


@pytest.mark.parametrize("dump", [
    lambda d: json.dumps(d, indent=2) + "\n",
    lambda d: json.dumps(d, indent="\t"),
    lambda d: json.dumps(d, separators=(",", ":")),
    lambda d: "\n  " + json.dumps(d, indent=4) + "\n\n",
    lambda d: json.dumps(d, indent=3).replace("\n", "\r\n") + "\r\n",
])
def test_with_seccomp_keeps_layout_and_order(dump: object) -> None:
    assert callable(dump)
    doc = {"ociVersion": "1.0.2", "process": {"args": ["sh"], "env": ["A=\u00e9 <&>"]},
           "linux": {"namespaces": [{"type": "pid"}], "seccomp": {"flags": [], **SECCOMP},
                     "maskedPaths": ["/proc/kcore"]}, "annotations": {}}
    text = dump(doc)
    new_seccomp = {**SECCOMP, "comment": ["x"], "syscalls": [{"names": ["read", "write"],
                                                             "action": "SCMP_ACT_ALLOW"}]}
    out = oci.with_seccomp(text, new_seccomp, "config.json")
    want = json.loads(text)
    want["linux"]["seccomp"] = {"flags": [], **new_seccomp}
    assert out == dump(want)  # nothing but linux.seccomp changed, byte for byte
    assert list(json.loads(out)["linux"]["seccomp"]) == [
        "flags", "defaultAction", "architectures", "syscalls", "comment"]


def test_with_seccomp_keeps_escapes_of_an_ascii_file_and_refuses_duplicate_keys() -> None:
    text = json.dumps({"hostname": "h\u00e9", "linux": {"seccomp": SECCOMP}}, indent=1)
    assert "\\u00e9" in oci.with_seccomp(text, SECCOMP, "config.json")
    dup = '{"hostname": "a", "hostname": "b", "linux": {"seccomp": {}}}'
    with pytest.raises(SeccompGenError, match="given twice") as info:
        oci.with_seccomp(dup, SECCOMP, "config.json")
    assert "\n" not in info.value.one_line()


def test_check_update_refuses_a_config_json_with_a_key_given_twice(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text('{"hostname": "a", "hostname": "b", "linux": {"seccomp": '
                      + json.dumps(SECCOMP) + "}}")
    before = config.read_bytes()
    marker = tmp_path / "ran"
    res = run("check", "--profile", config, "--update", "--", "touch", marker)
    assert res.returncode == 125 and "given twice" in one_error_line(res)
    assert config.read_bytes() == before and not marker.exists()


# --- argument values in a trace must fit a 64-bit register ---------------------------------------


def _socket_with(value: int) -> tuple[dict[str, object], int]:
    """ls's trace with a socket call whose domain is ``value`` (values[0]), and its index."""
    doc = json.loads(LS_TRACE.read_text())
    i = next(i for i, r in enumerate(doc["syscalls"]) if r["name"] == "socket")
    doc["syscalls"][i]["args"]["values"] = [[value, 1], [1, 526337]]
    return doc, i


@pytest.mark.parametrize("value", [2**70, 2**64, -1])
def test_trace_reader_refuses_argument_values_out_of_64_bits(value: int) -> None:
    doc, i = _socket_with(value)
    # As seccomp-gen writes traces (the streaming reader), and with keys in another order.
    written = tracefile.dumps(tracefile.from_json(_socket_with(0)[0]))
    planted = written.replace('"values": [\n     [\n      0,',
                              f'"values": [\n     [\n      {value},', 1)
    assert planted != written, "the writer's layout changed: plant the value another way"
    for text in (planted, json.dumps(doc, sort_keys=True)):
        with pytest.raises(TraceFileError) as info:
            tracefile.loads(text, "t.json")
        line = info.value.one_line()
        assert line.startswith(f"t.json: syscalls[{i}].args.values[0]"), line
        assert "64-bit" in line


def test_generate_refuses_an_out_of_range_value_instead_of_masking_it(tmp_path: Path) -> None:
    doc, i = _socket_with(2**70)  # 2**70 & (2**64 - 1) == 0: it became "arg0 == 0"
    trace = tmp_path / "t.json"
    trace.write_text(json.dumps(doc, indent=1))
    out = tmp_path / "p.json"
    res = run("generate", trace, "--args", "strict", "-o", out)
    assert res.returncode == 125
    assert f"syscalls[{i}].args.values[0]" in one_error_line(res)
    assert not out.exists()


def test_synthesize_refuses_a_value_no_register_holds() -> None:
    from dataclasses import replace

    from seccomp_gen.model import ArgValues
    from seccomp_gen.synthesize import Policy, synthesize

    trace = tracefile.loads(LS_TRACE.read_text(), str(LS_TRACE))
    for field, policy in (("domain", "safe"), ("type", "strict")):
        bad = tuple(replace(r, args=ArgValues(("domain", "type"), (0, 1),
                                              frozenset({(2**70, 1) if field == "domain"
                                                         else (1, -1)})))
                    if r.name == "socket" else r for r in trace.syscalls)
        with pytest.raises(ValueError, match="64-bit"):
            synthesize(replace(trace, syscalls=bad), Policy(args=policy))


def test_strace_import_leaves_a_value_out_of_64_bits_unpinned(tmp_path: Path) -> None:
    log = tmp_path / "s.log"
    log.write_text("socket(-1, SOCK_STREAM, 0) = -1 EAFNOSUPPORT (Address family not supported)\n"
                   "socket(AF_UNIX, 0x1ffffffffffffffff, 0) = 3\n"
                   "exit_group(0) = ?\n+++ exited with 0 +++\n")
    trace = tmp_path / "s.trace.json"
    res = run("import", log, "-o", trace)
    assert res.returncode == 0, res.stderr
    rec = next(r for r in json.loads(trace.read_text())["syscalls"] if r["name"] == "socket")
    assert rec["args"]["values"] == [] and rec["args"]["capped"] is True
    out = tmp_path / "p.json"
    gen = run("generate", trace, "--args", "strict", "-o", out)
    assert gen.returncode == 0, gen.stderr
    socket = [e for e in json.loads(out.read_text())["syscalls"] if "socket" in e["names"]]
    assert socket and all("args" not in e for e in socket)


# --- Docker's includes/excludes are resolved for the real host ------------------------------------

DOCKER = ROOT / "tests" / "data" / "docker-default-seccomp.json"


def _imported_names(tmp_path: Path, *personality: str) -> set[str]:
    """The names Docker's default allows, imported by seccomp-gen running under ``setarch
    PERSONALITY`` (a real kernel personality: uname then reports another machine or kernel)."""
    setarch = shutil.which("setarch")
    if setarch is None:
        pytest.skip("setarch (util-linux) is not installed: cannot change what uname reports")
    out = tmp_path / f"docker{'-'.join(personality)}.json"
    cmd = [setarch, *personality, *CLI] if personality else CLI
    res = subprocess.run([*cmd, "import", str(DOCKER), "--format", "oci", "-o", str(out)],
                         capture_output=True, text=True, timeout=120, check=False)
    assert res.returncode == 0, res.stderr
    doc = json.loads(out.read_text())
    return {n for e in doc["syscalls"] if e["action"] == "SCMP_ACT_ALLOW" for n in e["names"]}


def test_docker_includes_follow_the_kernel_uname_reports(tmp_path: Path) -> None:
    if os.uname().machine != "x86_64":
        pytest.skip(f"the names expected are Docker's default on x86_64, not {os.uname().machine}")
    here = _imported_names(tmp_path)
    assert {"ptrace", "process_vm_readv", "arch_prctl"} <= here  # minKernel 4.8; amd64
    # --uname-2.6: the kernel says 2.6.x, older than ptrace's includes.minKernel 4.8.
    old = _imported_names(tmp_path, "--uname-2.6")
    assert not {"ptrace", "process_vm_readv"} & old
    assert old | {"ptrace", "process_vm_readv", "process_vm_writev"} == here


def test_docker_includes_follow_the_machine_uname_reports(tmp_path: Path) -> None:
    if os.uname().machine != "x86_64":
        pytest.skip(f"the names expected are Docker's default on x86_64, not {os.uname().machine}")
    here = _imported_names(tmp_path)
    # i686 (linux32): moby's arch is then "x86": arch_prctl is for amd64 and x32 only.
    i386 = _imported_names(tmp_path, "i686")
    assert "arch_prctl" in here and "arch_prctl" not in i386
    assert "modify_ldt" in i386  # includes.arches amd64, x32, x86
    assert i386 | {"arch_prctl"} == here


def test_profile_reader_passes_this_host() -> None:
    from seccomp_gen.files.profiles import docker_host
    from seccomp_gen.linux.host import host_arch

    host = docker_host()
    assert (host.arch, host.release) == (host_arch(), os.uname().release)


def _docker_doc(*entries: dict[str, object]) -> str:
    return json.dumps({"defaultAction": "SCMP_ACT_ERRNO",
                       "archMap": [{"architecture": "SCMP_ARCH_X86_64",
                                    "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]},
                                   {"architecture": "SCMP_ARCH_AARCH64",
                                    "subArchitectures": ["SCMP_ARCH_ARM"]}],
                       "syscalls": [{"action": "SCMP_ACT_ALLOW", **e} for e in entries]})


def test_docker_resolution_for_explicit_hosts() -> None:
    reference = DOCKER.read_text()
    arm = oci.parse(reference, "d.json", host=oci.DockerHost("aarch64", "6.1.0-rpi"))
    assert "cacheflush" in arm.names() and "arch_prctl" not in arm.names()
    amd = oci.parse(reference, "d.json", host=oci.DockerHost("x86_64", "6.18.44"))
    assert "arch_prctl" in amd.names() and "cacheflush" not in amd.names()
    assert "ptrace" in amd.names()
    assert "ptrace" not in oci.parse(reference, "d.json",
                                     host=oci.DockerHost("x86_64", "4.7.10")).names()
    assert "ptrace" in oci.parse(reference, "d.json",
                                 host=oci.DockerHost("x86_64", "4.8-1-amd64")).names()
    # excludes.minKernel: left out from that kernel on (moby reads it; it was ignored).
    text = _docker_doc({"names": ["read"]}, {"names": ["uselib"], "excludes": {"minKernel": "5.4"}})
    assert oci.parse(text, host=oci.DockerHost("x86_64", "5.3")).names() == {"read", "uselib"}
    assert oci.parse(text, host=oci.DockerHost("x86_64", "5.4")).names() == {"read"}
    # Capabilities still default to Docker's set; they can be given.
    caps = _docker_doc({"names": ["bpf"], "includes": {"caps": ["CAP_BPF"]}})
    assert oci.parse(caps).names() == set()
    assert oci.parse(caps, host=oci.DockerHost("x86_64", "6.18", frozenset({"CAP_BPF"}))
                     ).names() == {"bpf"}


def test_docker_kernel_versions_are_read_as_moby_reads_them() -> None:
    for release, want in (("6.18.44", (6, 18)), ("3.12-1-amd64", (3, 12)),
                          ("2.6.78-fc-v857", (2, 6)), ("6", None), ("x6.1", None)):
        assert oci.DockerHost("x86_64", release).kernel == want, release


def test_docker_selectors_without_a_host_or_version_are_one_line() -> None:
    text = _docker_doc({"names": ["read"]}, {"names": ["ptrace"],
                                             "includes": {"minKernel": "4.8"}})
    with pytest.raises(SeccompGenError, match=r"syscalls\[1\]\.includes\.minKernel") as info:
        oci.parse(text, "d.json")
    assert "\n" not in info.value.one_line()
    with pytest.raises(SeccompGenError, match="does not begin with a version"):
        oci.parse(text, "d.json", host=oci.DockerHost("x86_64", "weird"))
    arches = _docker_doc({"names": ["read"], "excludes": {"arches": ["s390"]}})
    with pytest.raises(SeccompGenError, match=r"syscalls\[0\]\.excludes\.arches"):
        oci.parse(arches, "d.json")
    assert oci.parse(_docker_doc({"names": ["read"]}), "d.json").names() == {"read"}


# --- a generated Python table prints its text escaped ---------------------------------------------

#: Text a terminal would act on: clear screen, set the title, a carriage return, a bidi override,
#: a line separator, a C1 control (CSI).
HOSTILE = "\x1b[2J\x1b]0;owned\x07 \r\u202e\u2028\x9b31m"


def test_python_table_prints_comments_notes_and_reasons_escaped(tmp_path: Path) -> None:
    from seccomp_gen.formats import python_table
    from seccomp_gen.profile import Profile, Rule, Skipped
    from seccomp_gen.safetext import printable

    profile = Profile("errno", 1, ("x86_64",),
                      (Rule("read", ("x86_64",), comment=f"c{HOSTILE}"),
                       Rule("write", ("x86_64",), comment=f"b{HOSTILE}", baseline=True)),
                      notes=(f"n{HOSTILE}",),
                      skipped=(Skipped("x86_64", "getxattrat", f"r{HOSTILE}"),))
    path = tmp_path / "table.py"
    path.write_text(python_table.emit(profile))
    out = subprocess.run([sys.executable, str(path)], capture_output=True, timeout=60,
                         check=True).stdout.decode()
    lines = out.splitlines()
    assert len(lines) == 6, out  # default, architectures, two rules, a note, a skipped entry
    assert all(line.isprintable() for line in lines), out
    shown = printable(HOSTILE)  # the escapes the rest of the tool shows
    assert lines[2].endswith(f"# c{shown}") and lines[3].endswith(f"# baseline: b{shown}")
    assert lines[4] == f"note: n{shown}"
    assert lines[5] == f"skipped: x86_64 getxattrat: r{shown}"
    assert python_table.parse(path.read_text()).rules == profile.rules  # the table is unchanged


def test_imported_oci_comment_reaches_the_table_escaped(tmp_path: Path) -> None:
    src = tmp_path / "p.json"
    src.write_text(json.dumps({"defaultAction": "SCMP_ACT_ERRNO",
                               "architectures": ["SCMP_ARCH_X86_64"],
                               "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW",
                                             "comment": f"from {HOSTILE}"}]}))
    table = tmp_path / "p.py"
    res = run("import", src, "--format", "python", "-o", table)
    assert res.returncode == 0, res.stderr
    out = subprocess.run([sys.executable, str(table)], capture_output=True, timeout=60,
                         check=True).stdout.decode()
    assert "\x1b" not in out and "\r" not in out and "\\x1b[2J" in out


# --- one errno range: sandbox() takes what the profile model takes -----------------------------

#: Whether a filter is installed, no_new_privs is set, and SIGSYS is at its default.
_STATE = ("import signal\n"
          "status = dict(l.split(':\\t') for l in open('/proc/self/status').read().splitlines()"
          " if ':\\t' in l)\n"
          "print('STATE', status['Seccomp'].strip(), status['NoNewPrivs'].strip(),"
          " signal.getsignal(signal.SIGSYS) is signal.SIG_DFL)\n")


@pytest.mark.live
@pytest.mark.parametrize("errno", [4095, 0, 5000])
def test_sandbox_refuses_an_errno_the_profile_model_refuses(errno: int) -> None:
    from seccomp_gen.profile import MAX_ERRNO

    script = ("import seccomp_gen\n"
              "from seccomp_gen.profile import Profile, Rule\n"
              "try:\n"
              "    seccomp_gen.sandbox(Profile('errno', 1, ('x86_64',), "
              f"(Rule('read', ('x86_64',)),)), errno={errno})\n"
              "except seccomp_gen.SeccompGenError as e:\n"
              "    print('ERROR', e.one_line())\n" + _STATE)
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=60, check=False)
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines() == [
        f"ERROR errno {errno} out of range (use 1-{MAX_ERRNO})", "STATE 0 0 True"], res.stdout


# --- import_strace says what it returns -----------------------------------------------------------


def test_import_strace_is_typed(tmp_path: Path) -> None:
    """mypy sees a Trace and a StraceLog (it accepted anything when they were ``Any``)."""
    pytest.importorskip("mypy", reason="mypy (the test extra) is not installed")
    snippet = tmp_path / "use_import_strace.py"
    snippet.write_text(
        "from seccomp_gen.cli.import_ import import_strace\n"
        "from seccomp_gen.formats.strace import StraceLog\n"
        "from seccomp_gen.model import Trace\n\n"
        "trace, log = import_strace([('strace.log', 0)], 'x86_64')\n"
        "ok_trace: Trace = trace\n"
        "ok_log: StraceLog = log\n"
        "wrong_trace: int = trace\n"
        "wrong_log: str = log\n")
    res = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--no-error-summary",
                          "--cache-dir", str(tmp_path / "cache"), str(snippet)],
                         capture_output=True, text=True, timeout=300, check=False, cwd=ROOT)
    errors = [line.split(": error: ", 1)[1] for line in res.stdout.splitlines()
              if ": error: " in line]
    assert errors == [
        'Incompatible types in assignment (expression has type "Trace", variable has type '
        '"int")  [assignment]',
        'Incompatible types in assignment (expression has type "StraceLog", variable has type '
        '"str")  [assignment]'], res.stdout + res.stderr
