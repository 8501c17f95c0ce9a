"""What ``seccomp-gen audit`` says of Docker's default profile holds under the real filter: the
i386 socketcall multiplexer reaches the socket family the profile pins out (AF_ALG).

The profile is read as runc reads it (the one profile reader, this host's ABI family), compiled
with libseccomp and loaded for real into a child that then runs a static i386 program."""

from __future__ import annotations

import json
import sys

from helpers.cli import cli_text, run
from helpers.paths import DOCKER_DEFAULT

EPERM = 1

LOADER = """
import os, sys
from seccomp_gen import libseccomp as lib
from seccomp_gen.files.profiles import load_profile, one_family
profile = one_family(load_profile(sys.argv[1])[0], lib.native_arch())
lib.load(lib.compile_profile(profile), lib.action_value("kill-process"))
os.execv(sys.argv[2], sys.argv[2:])
"""


def test_socketcall_reaches_what_dockers_socket_rule_denies(cbuild) -> None:
    prog = cbuild["socketcall32"]
    audit = json.loads(cli_text("audit", DOCKER_DEFAULT, "--format", "json").stdout)
    assert any(f["id"] == "alternative-bypass" and f["syscall"] == "socket"
               and "socketcall" in f["reason"] for f in audit["findings"])
    bare = run([prog], text=True)
    assert bare.returncode == 0, bare.stderr
    assert "direct=1 " not in bare.stdout, bare.stdout  # unfiltered, AF_ALG is no EPERM
    filtered = run([sys.executable, "-c", LOADER, str(DOCKER_DEFAULT), prog], text=True)
    assert filtered.returncode == 0, filtered.stderr
    direct, multiplexed = (int(part.split("=")[1]) for part in filtered.stdout.split())
    assert direct == EPERM, filtered.stdout  # the socket rule denies family 38
    assert multiplexed != EPERM, filtered.stdout  # socketcall lets it through to the kernel
