"""In-process recording, ``with seccomp_gen.recording():``, for real.

Every recording() block runs in a ``python -c`` subprocess with a timeout and SIGKILL of its group
on overrun: no filter is ever loaded into the pytest process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from helpers.cli import PYTHON, cli, run

import seccomp_gen

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="Linux only")

_INPROCESS = textwrap.dedent("""
    import json, os, sys, tempfile, threading
    import seccomp_gen
    fd, path = tempfile.mkstemp(); os.close(fd)
    outside = (os.getppid(), os.getpid(), os.getuid())
    def missing():
        try:
            os.open("/nonexistent-dir/x", os.O_RDONLY)
        except OSError as e:
            return (type(e).__name__, e.errno)
    missing_outside = missing()
    seen = {}
    def in_thread():
        seen["uid"] = os.getuid()
        seen["tid"] = threading.get_native_id()
    with seccomp_gen.recording() as rec:
        inside = (os.getppid(), os.getpid(), os.getuid())
        fd = os.open(path, os.O_RDONLY)
        os.close(fd)
        missing_inside = missing()
        t = threading.Thread(target=in_thread)
        t.start(); t.join()
    after = (os.getppid(), missing())
    seccomp_gen.dump_trace(rec.trace, sys.argv[1])
    print(json.dumps({"outside": outside, "inside": inside, "after": after,
                      "missing_outside": missing_outside, "missing_inside": missing_inside,
                      "thread": seen}))
""")


@pytest.mark.live
def test_inprocess_recording(tmp_path: Path) -> None:
    out = tmp_path / "block.trace.json"
    res = run([PYTHON, "-c", _INPROCESS, str(out)], timeout=120)
    assert res.returncode == 0, res.stderr.decode(errors="replace")
    got = json.loads(res.stdout)
    # Behaviour unchanged: the same values, and errno preserved.
    assert got["inside"] == got["outside"]
    assert got["missing_inside"] == got["missing_outside"] == ["FileNotFoundError", 2]
    assert got["after"] == [got["outside"][0], ["FileNotFoundError", 2]]
    trace = seccomp_gen.load_trace(out)  # the format generate reads
    assert trace.header.backend == "inprocess"
    for name in ("getppid", "getpid", "openat", "close", "getuid"):
        rec = trace.find(name)
        assert rec is not None and rec.arch == "x86_64", name
    openat = trace.find("openat")
    assert openat is not None and openat.results == {"ENOENT": 1, "ok": 1}
    # The thread's getuid (twice: main and thread) and the thread itself.
    uid = trace.find("getuid")
    assert uid is not None and uid.count == 2
    assert trace.processes[0].threads >= 2
    assert any("always allowed" in n and "clone3" in n for n in trace.header.notes)
    # generate reads it.
    prof = tmp_path / "p.json"
    res = cli("generate", "-o", str(prof), str(out))
    assert res.returncode == 0, res.stderr.decode(errors="replace")
    assert "getppid" in prof.read_text()


@pytest.mark.live
def test_inprocess_without_compiler_is_one_line(tmp_path: Path) -> None:
    code = textwrap.dedent("""
        import os, seccomp_gen
        try:
            with seccomp_gen.recording():
                os.getppid()
        except seccomp_gen.SeccompGenError as e:
            print(e)
            raise SystemExit(3)
    """)
    env = {k: v for k, v in os.environ.items() if k != "CC"}
    env["SECCOMP_GEN_CACHE_DIR"] = str(tmp_path / "cache")
    env["PATH"] = str(tmp_path)  # no gcc, no cc

    res = subprocess.run([PYTHON, "-c", code], env=env, capture_output=True, timeout=60,
                         check=False)
    assert res.returncode == 3, res.stderr
    lines = res.stdout.decode().splitlines()
    assert len(lines) == 1 and "no C compiler" in lines[0]
    assert b"Traceback" not in res.stderr
