"""Read any profile-like file as a :class:`~seccomp_gen.profile.Profile`.

``diff`` and friends accept a trace, an OCI/Docker JSON profile, an LXC v2 policy or a generated
Python table, and compare them in one model. A trace becomes the profile that allows exactly what
it recorded (no argument rules), so "what did this run need that the profile lacks" is a plain
set difference.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import SeccompGenError
from .model import TRACE_FORMAT

if TYPE_CHECKING:
    from .profile import Profile
    from .synthesize import Policy


def read_text(path: str) -> str:
    """The file's text, or a one-line error naming it."""
    p = Path(path)
    try:
        return p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SeccompGenError("no such file", path=path) from None
    except IsADirectoryError:
        raise SeccompGenError("is a directory", path=path) from None
    except UnicodeDecodeError:
        raise SeccompGenError("not UTF-8 text, not a profile or trace", path=path) from None
    except OSError as exc:
        raise SeccompGenError(f"cannot read: {exc.strerror or exc}", path=path) from None


def load_profile(path: str, trace_policy: Policy | None = None) -> tuple[Profile, str]:
    """Load a trace or profile file; returns the profile and what kind of file it was.

    A trace becomes the profile ``trace_policy`` synthesizes (default: names only, no argument
    conditions); ``diff`` passes generate's policy so that a trace and the profile generated
    from it compare equal on the arches the trace recorded. (An OCI file allows every name on
    every listed arch, so against OCI they differ on the other arches: use ``diff --arch``.)"""
    text = read_text(path)
    if not text.strip():
        raise SeccompGenError("empty file, not a profile or trace", path=path)
    # Readers are imported by kind, since ``record --known`` pays for them at start-up: a trace
    # needs no emitter, a profile no synthesizer. JSON (what sniff() calls "oci") may be a trace.
    if text.lstrip().startswith("{"):
        try:
            doc = json.loads(text)
        except json.JSONDecodeError:
            doc = None
        if isinstance(doc, dict) and doc.get("format") == TRACE_FORMAT:
            from . import tracefile
            from .synthesize import Policy, synthesize

            # Validated from the document already decoded, not parsed a second time.
            trace = tracefile.from_json(doc, path)
            return synthesize(trace, trace_policy or Policy(args="none")), "trace"
    from .emitters import parse, sniff

    fmt = sniff(text)
    return parse(text, fmt, path), fmt
