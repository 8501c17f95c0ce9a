"""``seccomp_gen.sandbox()``: real filters, loaded only in child processes, never in pytest's.

The profile is the child script's own recording (helpers.record, then ``synthesize``) with a few
syscalls taken out: ``mkdir`` (the main thread), ``rmdir`` (a second thread) and i386 ``getppid``
(``int $0x80`` from a tiny shared object). The same script then runs under the sandbox.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.record import record_in_child

from seccomp_gen.enforce.sandbox import REPORT_PREFIX

TIMEOUT = 60
NR_MKDIR, NR_RMDIR, NR_I386_GETPPID = 83, 84, 64

CHILD = r'''
import ctypes, json, os, signal, sys, threading
import seccomp_gen
from seccomp_gen import SyscallDenied

mode, profile, err, work, what = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], \
    sys.argv[5].split(",")
int80 = None
if "i386" in what:
    lib = ctypes.CDLL(sys.argv[6])
    lib.int80.restype = ctypes.c_long
    lib.int80.argtypes = [ctypes.c_long, ctypes.c_long]
    int80 = lib.int80
out = {}
box = None
if mode != "record":
    box = seccomp_gen.sandbox(profile, on_violation=mode, errno=err)
    out["added"] = [a.name for a in box.added]
    out["narrowed"] = list(box.narrowed)
# Recording: mkdir an existing dir (EEXIST) so the same OSError path runs as under the sandbox.
target = os.path.join(work, "made") if mode != "record" else work

def attempt(fn, *a):
    try:
        fn(*a)
        return "ok"
    except OSError as e:
        return f"OSError:{e.errno}"

if "main" in what:
    out["mkdir"] = attempt(os.mkdir, target, 0o755)
if "raise" in what:
    try:
        try:
            os.mkdir(target, 0o700)
        except OSError as e:
            out["mkdir"] = f"OSError:{e.errno}"
        len(out)  # a call: CPython runs pending signal handlers after it
        out["raised"] = None
    except SyscallDenied as e:
        ctx = e.__context__
        out["raised"] = [e.violation.name, e.violation.errno, e.one_line(),
                         type(ctx).__name__, getattr(ctx, "errno", None)]
if "thread" in what:
    res = []
    t = threading.Thread(target=lambda: res.append(
        (attempt(os.rmdir, os.path.join(work, "nothing")), threading.get_native_id())))
    t.start()
    t.join()
    out["thread_rmdir"], out["thread_tid"] = res[0]
if "i386" in what:
    out["int80"] = int80(64, 0x1234)
if "guard" in what:
    out["guard"] = attempt(signal.signal, signal.SIGSYS, signal.SIG_DFL)
if "enosys" in what:  # a number past libseccomp's tables, as glibc probes a new syscall
    libc = ctypes.CDLL(None, use_errno=True)
    out["enosys"] = ctypes.get_errno() if libc.syscall(ctypes.c_long(1000)) == -1 else 0
    print(f"ENOSYS {out['enosys']}", flush=True)  # kill mode ends at getpid, unrecorded
with open(os.path.join(work, "allowed.txt"), "w") as fh:
    fh.write("fine")
with open(os.path.join(work, "allowed.txt")) as fh:
    out["allowed"] = fh.read()
if box is not None:
    box.drain()
    out["violations"] = [[v.arch, v.name, v.nr, list(v.args), v.pid, v.tid, v.errno]
                         for v in box.violations]
    out["pid"] = os.getpid()
    out["handler"] = box.handler_installed()
print("RESULT " + json.dumps(out), flush=True)
'''

INT80 = r'''
long int80(long nr, long a1)
{
    long ret;
    __asm__ volatile("int $0x80" : "=a"(ret) : "a"(nr), "b"(a1) : "memory");
    return ret;
}
'''

#: What the child does, the union of every test's steps, recorded once.
ALL_STEPS = "main,raise,thread,i386,guard,enosys"

#: Prints whether anything was installed: seccomp mode, no_new_privs, the SIGSYS action.
STATE = (
    "import signal\n"
    "st = dict(l.split(':\\t', 1) for l in open('/proc/self/status').read().splitlines()"
    " if ':\\t' in l)\n"
    "print('STATE', st['Seccomp'].strip(), st['NoNewPrivs'].strip(),"
    " signal.getsignal(signal.SIGSYS) == signal.SIG_DFL)\n"
)


@dataclasses.dataclass
class Setup:
    dir: Path
    child: Path
    int80: Path
    profile: Path
    cache: Path


def _run(argv: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    # subprocess.run SIGKILLs the child when the timeout expires.
    return subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT, check=False,
                          env=env)


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.skip("gcc is not installed; the sandbox's handler cannot be built")
    from seccomp_gen.formats import emit
    from seccomp_gen.synthesize import Policy, synthesize

    d = tmp_path_factory.mktemp("sandbox")
    child = d / "child.py"
    child.write_text(CHILD)
    (d / "int80.c").write_text(INT80)
    so = d / "int80.so"
    res = _run([gcc, "-shared", "-fPIC", "-O1", "-o", str(so), str(d / "int80.c")])
    assert res.returncode == 0, res.stderr
    work = d / "record-work"
    work.mkdir()
    trace = record_in_child([sys.executable, str(child), "record", "-", "1", str(work),
                             ALL_STEPS, str(so)], d / "child.trace.json").trace
    assert trace.header.exit is not None and trace.header.exit.code == 0
    profile = synthesize(trace, Policy(args="none"))
    drop = {("x86_64", "mkdir"), ("x86_64", "rmdir"), ("x86", "getppid")}
    assert drop <= {(a, r.name) for r in profile.rules for a in r.arches}, "recording incomplete"
    rules = []
    for r in profile.rules:
        arches = tuple(a for a in r.arches if (a, r.name) not in drop)
        if arches:
            rules.append(dataclasses.replace(r, arches=arches))
    path = d / "profile.py"
    path.write_text(emit(dataclasses.replace(profile, rules=tuple(rules)), "python"))
    yield Setup(d, child, so, path, d / "cache")


def run_child(s: Setup, tmp_path: Path, mode: str, steps: str, errno: int = 1,
              env: dict[str, str] | None = None) -> tuple[subprocess.CompletedProcess[str],
                                                        dict[str, object]]:
    environ = {**os.environ, "SECCOMP_GEN_CACHE_DIR": str(s.cache), **(env or {})}
    res = _run([sys.executable, str(s.child), mode, str(s.profile), str(errno), str(tmp_path),
                steps, str(s.int80)], env=environ)
    lines = [ln for ln in res.stdout.splitlines() if ln.startswith("RESULT ")]
    out: dict[str, object] = json.loads(lines[0][len("RESULT "):]) if lines else {}
    return res, out


def reports(res: subprocess.CompletedProcess[str]) -> list[str]:
    return [ln for ln in res.stderr.splitlines() if ln.startswith(REPORT_PREFIX)]


def violations(out: dict[str, object]) -> list[list[object]]:
    v = out["violations"]
    assert isinstance(v, list)
    return v


@pytest.mark.live
def test_denied_call_is_reported_and_fails_with_eperm(setup: Setup, tmp_path: Path) -> None:
    res, out = run_child(setup, tmp_path, "report", "main")
    assert res.returncode == 0, res.stderr
    assert out["mkdir"] == "OSError:1"  # PermissionError(EPERM), and the program went on
    assert out["allowed"] == "fine"  # allowed calls work normally
    assert not (tmp_path / "made").exists()
    [line] = reports(res)
    assert f"denied mkdir [x86_64 #{NR_MKDIR}] (" in line
    assert ", 0x1ed, " in line  # mode 0o755, the second argument register
    assert f"pid {out['pid']} tid {out['pid']} exe " in line and line.endswith("failed with EPERM")
    [[arch, name, nr, args, pid, tid, err]] = violations(out)
    assert (arch, name, nr, pid, tid, err) == ("x86_64", "mkdir", NR_MKDIR, out["pid"],
                                               out["pid"], 1)
    assert isinstance(args, list) and len(args) == 6 and args[1] == 0o755
    assert out["handler"] is True
    # What the sandbox needed for itself is listed (the profile already allowed read/write).
    assert "rt_sigreturn" in out["added"]  # type: ignore[operator]


@pytest.mark.live
def test_custom_errno(setup: Setup, tmp_path: Path) -> None:
    res, out = run_child(setup, tmp_path, "report", "main", errno=13)
    assert res.returncode == 0, res.stderr
    assert out["mkdir"] == "OSError:13"
    [line] = reports(res)
    assert "denied mkdir" in line and line.endswith("failed with EACCES")


@pytest.mark.live
def test_denied_call_from_another_thread_is_reported(setup: Setup, tmp_path: Path) -> None:
    res, out = run_child(setup, tmp_path, "report", "thread")
    assert res.returncode == 0, res.stderr
    assert out["thread_rmdir"] == "OSError:1"
    [[arch, name, nr, _args, pid, tid, _err]] = violations(out)
    assert (arch, name, nr, pid) == ("x86_64", "rmdir", NR_RMDIR, out["pid"])
    assert tid == out["thread_tid"] and tid != pid  # the filter reached the thread (TSYNC)
    [line] = reports(res)
    assert f"denied rmdir [x86_64 #{NR_RMDIR}]" in line and f"tid {tid} " in line


@pytest.mark.live
def test_i386_caller_is_named_with_the_i386_table(setup: Setup, tmp_path: Path) -> None:
    res, out = run_child(setup, tmp_path, "report", "i386", errno=13)
    assert res.returncode == 0, res.stderr
    assert out["int80"] == -13  # int $0x80 returns -errno in eax
    [[arch, name, nr, args, *_rest]] = violations(out)
    assert (arch, name, nr) == ("x86", "getppid", NR_I386_GETPPID)
    assert isinstance(args, list) and args[0] == 0x1234  # ebx, i386's first argument register
    [line] = reports(res)
    assert f"denied getppid [x86 #{NR_I386_GETPPID}] (0x1234, " in line


@pytest.mark.live
def test_raise_mode_raises_syscall_denied(setup: Setup, tmp_path: Path) -> None:
    res, out = run_child(setup, tmp_path, "raise", "raise")
    assert res.returncode == 0, res.stderr
    raised = out["raised"]  # SyscallDenied, which `except OSError` did not swallow...
    assert isinstance(raised, list) and raised[:2] == ["mkdir", 1]
    assert "seccomp sandbox denied mkdir (x86_64 #83)" in raised[2]
    assert raised[3:] == ["PermissionError", 1]  # ...arriving after the call's own OSError
    assert not (tmp_path / "made").exists()
    assert len(reports(res)) == 1


@pytest.mark.live
def test_handler_cannot_be_replaced(setup: Setup, tmp_path: Path) -> None:
    res, out = run_child(setup, tmp_path, "report", "guard")
    assert res.returncode == 0, res.stderr
    assert out["guard"] == "OSError:1" and out["handler"] is True
    assert out["narrowed"] and "rt_sigaction" in out["narrowed"][0]  # type: ignore[index]
    [line] = reports(res)
    assert "denied rt_sigaction [x86_64 #13] (0x1f, " in line


@pytest.mark.live
def test_kill_mode_dies_by_sigsys(setup: Setup, tmp_path: Path) -> None:
    res, out = run_child(setup, tmp_path, "kill", "main")
    assert res.returncode == -signal.SIGSYS, (res.returncode, res.stderr)
    assert out == {} and not (tmp_path / "made").exists()


def _expect_one_line_error(code: str, expect: str,
                           env: dict[str, str] | None = None) -> None:
    script = (
        "import seccomp_gen\n"
        "try:\n"
        f"    {code}\n"
        "except seccomp_gen.SeccompGenError as e:\n"
        "    print('ERROR', e.one_line())\n"
        + STATE
    )
    res = _run([sys.executable, "-c", script], env=env)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert len(lines) == 2 and lines[0].startswith("ERROR "), res.stdout + res.stderr
    assert expect in lines[0]
    assert lines[1] == "STATE 0 0 True"  # no filter, no no_new_privs, SIGSYS untouched


@pytest.mark.live
def test_missing_profile_is_one_line_error(tmp_path: Path) -> None:
    _expect_one_line_error(f"seccomp_gen.sandbox({str(tmp_path / 'nope.json')!r})",
                           "nope.json: no such file")


@pytest.mark.live
def test_profile_libseccomp_rejects_is_one_line_error() -> None:
    code = ("from seccomp_gen.profile import Profile, Rule; seccomp_gen.sandbox(Profile('errno', "
            "1, ('x86_64',), (Rule('no_such_syscall', ('x86_64',)),)))")
    _expect_one_line_error(code, "libseccomp does not know the syscall x86_64/no_such_syscall")


@pytest.mark.live
def test_profile_for_another_arch_is_one_line_error() -> None:
    code = ("from seccomp_gen.profile import Profile, Rule; seccomp_gen.sandbox(Profile('errno', "
            "1, ('aarch64',), (Rule('read', ('aarch64',)),)))")
    _expect_one_line_error(code, "the profile is for aarch64, not this machine's x86_64")


@pytest.mark.live
def test_bad_mode_is_one_line_error(setup: Setup) -> None:
    _expect_one_line_error(f"seccomp_gen.sandbox({str(setup.profile)!r}, on_violation='log')",
                           "unknown on_violation 'log'")


@pytest.mark.live
def test_no_compiler_is_one_line_error(setup: Setup, tmp_path: Path) -> None:
    empty_bin, empty_cache = tmp_path / "bin", tmp_path / "cache"
    empty_bin.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "CC"}
    env.update(PATH=str(empty_bin), SECCOMP_GEN_CACHE_DIR=str(empty_cache))
    _expect_one_line_error(f"seccomp_gen.sandbox({str(setup.profile)!r})",
                           "no C compiler (gcc or cc) on PATH", env=env)




@pytest.mark.live
@pytest.mark.parametrize("mode", ["report", "kill"])
def test_a_number_past_the_table_gets_enosys_unreported(setup: Setup, tmp_path: Path,
                                                       mode: str) -> None:
    """The sandbox's filter has the ENOSYS stub: syscall 1000 fails with ENOSYS (glibc falls
    back), is not a violation, and does not kill under ``kill`` (whose child dies later, at the
    getpid of the result lines, which the recording never made)."""
    res, out = run_child(setup, tmp_path, mode, "enosys")
    assert "ENOSYS 38" in res.stdout.splitlines(), (res.returncode, res.stderr)
    assert reports(res) == []
    if mode == "report":
        assert res.returncode == 0, res.stderr
        assert out["enosys"] == 38 and out["allowed"] == "fine"
        assert violations(out) == []
    else:
        assert res.returncode == -signal.SIGSYS, (res.returncode, res.stderr)
