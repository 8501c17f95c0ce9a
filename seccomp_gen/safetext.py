"""Untrusted strings: which of them are syscall or arch names, and how to show the rest.

Names, paths, commands and notes come from files anyone can write (a trace, a profile) and from
the kernel (``/proc/PID/exe``, audit records). A syscall name reaches a policy's grammar (an LXC
rule line), so it must *be* a name; free text (an exe path, a note) reaches a terminal or a
comment line, so it is shown with every non-printable character as a visible escape
(``\\x1b``, ``\\x00``, ``\\n``), never raw. Pure: no I/O.
"""

from __future__ import annotations

import re

#: What libseccomp's names look like (``read``, ``_llseek``, ``syscall_0x1f4`` for a number it
#: has no name for). Anything else (a newline, a bracket, a NUL) is not a syscall name.
_NAME = re.compile(r"[A-Za-z0-9_]{1,64}")
#: libseccomp arch tokens (``x86_64``, ``mipsel64n32``), and ``audit_arch_0x...`` for an ABI it
#: does not know.
_ARCH = re.compile(r"[a-z0-9_]{1,32}")


def is_syscall_name(text: object) -> bool:
    """Whether ``text`` has the shape of a syscall name (not whether libseccomp knows it)."""
    return isinstance(text, str) and _NAME.fullmatch(text) is not None


def is_arch_name(text: object) -> bool:
    """Whether ``text`` has the shape of an arch name (not whether libseccomp knows it)."""
    return isinstance(text, str) and _ARCH.fullmatch(text) is not None


def _escape(ch: str) -> str:
    code = ord(ch)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def printable(text: str) -> str:
    """``text`` with every character Python does not call printable (controls, escapes, line
    and paragraph separators, bidi overrides, lone surrogates; the space excepted) written as a
    visible ``\\xNN``/``\\uNNNN`` escape: one line, safe on a terminal and in a comment line."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else _escape(ch) for ch in text)


def is_utf8(text: str) -> bool:
    """Whether ``text`` can be written as UTF-8 (JSON's ``\\ud800`` escapes decode to lone
    surrogates, which cannot)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def utf8_safe(text: str) -> str:
    """``text`` with what UTF-8 cannot hold made visible: bytes that were not UTF-8 (decoded
    with ``surrogateescape``, as ``os.readlink`` does) as ``\\xNN``, other lone surrogates as
    ``\\udNNN``."""
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
