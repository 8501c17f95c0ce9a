"""An importable Python module: the profile as a data table, plus ``apply()`` with pyseccomp.

The generated module needs only pyseccomp (and the standard library), and only inside
``build()``/``apply()``, so it can be imported (and its table read or diffed) anywhere.
``apply()`` puts seccomp-gen's ENOSYS stub in front of libseccomp's program, as ``run`` does
(numbers past libseccomp's tables get ENOSYS, so glibc falls back), and loads it with prctl.
``build()`` makes one libseccomp filter per arch, adding the arch before any rule (rules added
first would not be copied to it), and merges them, so each rule applies only to the arches it
names. ``python -m`` or running the file prints
the table, with what is not printable escaped as :func:`~seccomp_gen.safetext.printable` does
(the module cannot import seccomp-gen, so it carries its own few lines for it). :func:`parse`
reads the table back with ``ast.literal_eval``, never executing it.
"""

from __future__ import annotations

import ast
import warnings
from typing import Any, NoReturn

from ..errors import SeccompGenError
from ..profile import (
    ACTIONS,
    MAX_ERRNO,
    MAX_PRIORITY,
    OPS,
    ArgCondition,
    Profile,
    Rule,
    Skipped,
    normalize,
    priorities,
)
from ..safetext import is_arch_name, is_syscall_name, is_utf8, printable

_TEMPLATE_CODE = '''

def _verdict(seccomp, action, errno):
    return {
        "allow": seccomp.ALLOW,
        "kill": seccomp.KILL_THREAD,
        "kill-process": seccomp.KILL_PROCESS,
        "trap": seccomp.TRAP,
        "log": seccomp.LOG,
    }[action] if action != "errno" else seccomp.ERRNO(errno)


def build():
    """The profile as a pyseccomp SyscallFilter (one sub-filter per arch, merged)."""
    import pyseccomp as seccomp

    default = _verdict(seccomp, DEFAULT_ACTION, DEFAULT_ERRNO)
    native = seccomp.system_arch()
    merged = None
    for arch in ARCHITECTURES:
        token = getattr(seccomp.Arch, arch.upper())
        sub = seccomp.SyscallFilter(default)
        if token != native:
            sub.add_arch(token)
            sub.remove_arch(seccomp.Arch.NATIVE)
        if OPTIMIZE == 2:
            sub.set_attr(seccomp.Attr.CTL_OPTIMIZE, 2)
        for arches, name, action, errno, conditions, _comment, _baseline in RULES:
            if arch in arches:
                args = [seccomp.Arg(i, getattr(seccomp, op), a, b) for i, op, a, b in conditions]
                sub.add_rule(_verdict(seccomp, action, errno), name, *args)
        for prio_arch, name, priority in PRIORITIES:
            if prio_arch == arch:
                try:
                    sub.syscall_priority(name, priority)
                except (OSError, ValueError, RuntimeError):
                    pass  # a hint libseccomp may not take
        if merged is None:
            merged = sub
        else:
            merged.merge(sub)
    return merged


_X32_BIT = 0x40000000


def _table_end(seccomp, arch):
    """The highest syscall number this libseccomp names on ``arch`` (x32 with its bit)."""
    token = getattr(seccomp.Arch, arch.upper())
    bit = _X32_BIT if arch == "x32" else 0
    top = -1
    for nr in range(1024):
        try:
            seccomp.resolve_syscall(token, nr | bit)
        except (ValueError, OverflowError):
            continue
        top = nr | bit
    return top


def _enosys_stub(seccomp):
    """Classic BPF put in front of libseccomp's program: ENOSYS for a number above the highest
    this libseccomp knows on a listed arch (a syscall newer than its tables: glibc falls back),
    as seccomp-gen's own compiler does; nothing when the default lets calls run (log)."""
    import struct

    if DEFAULT_ACTION == "log":
        return b""
    ends = {a: _table_end(seccomp, a) for a in ARCHITECTURES}
    ends = {a: e for a, e in ends.items() if e >= 0}
    ld, jeq, jgt, jset, ret = 0x20, 0x15, 0x25, 0x45, 0x06
    groups = []
    if "x86_64" in ends or "x32" in ends:
        body = [(ld, 0, 0, 0)]
        if "x86_64" in ends and "x32" in ends:
            body += [(jset, 1, 0, _X32_BIT), (jgt, "enosys", "done", ends["x86_64"]),
                     (jgt, "enosys", "done", ends["x32"])]
        elif "x86_64" in ends:
            body += [(jset, "done", 0, _X32_BIT), (jgt, "enosys", "done", ends["x86_64"])]
        else:
            body += [(jset, 0, "done", _X32_BIT), (jgt, "enosys", "done", ends["x32"])]
        groups.append((int(seccomp.Arch.X86_64), body))
    for arch in ends:
        if arch not in ("x86_64", "x32"):
            groups.append((int(getattr(seccomp.Arch, arch.upper())),
                           [(ld, 0, 0, 0), (jgt, "enosys", "done", ends[arch])]))
    if not groups:
        return b""
    lines = [(ld, 0, 0, 4)]
    lines += [(jeq, f"a{i}", "done" if i == len(groups) - 1 else 0, audit)
              for i, (audit, _) in enumerate(groups)]
    labels = {}
    for i, (_, body) in enumerate(groups):
        labels[f"a{i}"] = len(lines)
        lines += body
    labels["enosys"] = len(lines)
    lines.append((ret, 0, 0, 0x00050000 | 38))  # SECCOMP_RET_ERRNO | ENOSYS
    labels["done"] = len(lines)
    return b"".join(
        struct.pack("=HBBI", code,
                    *(labels[j] - i - 1 if isinstance(j, str) else j for j in (jt, jf)), k)
        for i, (code, jt, jf, k) in enumerate(lines))


def apply():
    """Load the filter into this process (and the children it starts from now on), behind
    the ENOSYS stub for numbers past libseccomp's tables (see :func:`_enosys_stub`)."""
    import ctypes
    import tempfile

    import pyseccomp as seccomp

    filt = build()
    stub = _enosys_stub(seccomp)
    if not stub:
        filt.load()
        return
    with tempfile.TemporaryFile() as fh:
        filt.export_bpf(fh)
        fh.seek(0)
        program = stub + fh.read()

    class _Fprog(ctypes.Structure):
        _fields_ = (("len", ctypes.c_ushort), ("filter", ctypes.c_void_p))

    code = ctypes.create_string_buffer(program, len(program))
    fprog = _Fprog(len(program) // 8, ctypes.addressof(code))
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl.argtypes = (ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p, ctypes.c_ulong,
                           ctypes.c_ulong)
    pr_set_no_new_privs, pr_set_seccomp, seccomp_mode_filter = 38, 22, 2
    if (libc.prctl(pr_set_no_new_privs, 1, None, 0, 0) != 0
            or libc.prctl(pr_set_seccomp, seccomp_mode_filter, ctypes.byref(fprog), 0, 0) != 0):
        err = ctypes.get_errno()
        raise OSError(err, "cannot load the seccomp filter")


def _shown(text):
    """Text of the table as a terminal may show it: what is not printable (an escape sequence
    from an imported comment, a newline) as a visible escape, as seccomp-gen shows it."""
    return "".join(
        c if c.isprintable() else f"\\\\x{ord(c):02x}" if ord(c) < 0x100
        else f"\\\\u{ord(c):04x}" if ord(c) < 0x10000 else f"\\\\U{ord(c):08x}" for c in text
    )


def _main():
    default = DEFAULT_ACTION + (f" {DEFAULT_ERRNO}" if DEFAULT_ACTION == "errno" else "")
    print(_shown(f"default: {default}"))
    print(_shown(f"architectures: {', '.join(ARCHITECTURES)}"))
    for arches, name, action, errno, conditions, comment, baseline in RULES:
        verdict = action + (f" {errno}" if action == "errno" else "")
        conds = " && ".join(
            f"arg{i} & {a:#x} == {b:#x}" if op == "MASKED_EQ" else f"arg{i} {op} {a:#x}"
            for i, op, a, b in conditions
        )
        note = (" # baseline: " if baseline else " # ") + comment if comment or baseline else ""
        print(_shown(f"{','.join(arches):<16} {name:<24} {verdict:<10} {conds}{note}".rstrip()))
    for line in NOTES:
        print(_shown(f"note: {line}"))
    for arch, name, reason in SKIPPED:
        print(_shown(f"skipped: {arch} {name}: {reason}"))


if __name__ == "__main__":
    _main()
'''


def _rule_row(r: Rule) -> tuple[Any, ...]:
    conds = tuple((c.index, c.op, c.value, c.value_two) for c in r.conditions)
    return (r.arches, r.name, r.action, r.errno, conds, r.comment, r.baseline)


def sniff(text: str) -> bool:
    """Whether ``text`` looks like a generated table (the fallback format: anything else is
    read as Python, and the reader says what it lacks)."""
    return "\nRULES = " in text and "\nDEFAULT_ACTION = " in text


def emit(profile: Profile) -> str:
    """Python source of a module holding the profile; equal profiles give equal bytes."""
    p = normalize(profile)
    doc = "\n".join(["seccomp profile generated by seccomp-gen.", "",
                     *p.provenance, "",
                     "Import it and call apply(), or run it to print the table."])
    out = [f'"""{_escape_doc(doc)}\n"""', ""]
    out.append(f"DEFAULT_ACTION = {p.default_action!r}")
    out.append(f"DEFAULT_ERRNO = {p.default_errno!r}")
    out.append(f"ARCHITECTURES = {p.architectures!r}")
    out.append("# (arches, name, action, errno, ((index, op, value, value_two), ...), comment, "
               "baseline)")
    out.append("# for MASKED_EQ, value is the mask and value_two the expected value")
    out.append("RULES = (")
    out += [f"    {_rule_row(r)!r}," for r in p.rules]
    out.append(")")
    out.append("# (arch, name, libseccomp priority): the calls that run the filter most often "
               "first")
    out.append("PRIORITIES = (")
    out += [f"    {(a, n, v)!r}," for a in p.architectures for n, v in priorities(p, a).items()]
    out.append(")")
    out.append("# libseccomp's CTL_OPTIMIZE: 1, rules in priority order; 2, a binary tree")
    out.append(f"OPTIMIZE = {p.optimize or 1!r}")
    out.append(f"PROVENANCE = {p.provenance!r}")
    out.append(f"NOTES = {p.notes!r}")
    out.append("SKIPPED = (")
    out += [f"    {(s.arch, s.name, s.reason)!r}," for s in p.skipped]
    out.append(")")
    return "\n".join(out) + _TEMPLATE_CODE


def _escape_doc(text: str) -> str:
    """Text for the module's docstring: non-printable characters (a NUL is not even allowed in
    Python source) as visible escapes, and nothing that could end the string early."""
    text = "\n".join(printable(line) for line in text.split("\n"))
    return text.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')


class _Table:
    """Checks the literals of a generated module, each problem one line naming where it is
    (``RULES[3][1]``): a table is read, never run, and nothing in it is taken on trust."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, where: str, what: str) -> NoReturn:
        raise SeccompGenError(f"{where}: {what}", path=self.source)

    def seq(self, v: Any, where: str, length: int | None = None) -> tuple[Any, ...]:
        if not isinstance(v, tuple | list):
            self.fail(where, f"expected a tuple, found {type(v).__name__}")
        if length is not None and len(v) != length:
            self.fail(where, f"expected {length} items, found {len(v)}")
        return tuple(v)

    def text(self, v: Any, where: str) -> str:
        if not isinstance(v, str):
            self.fail(where, f"expected a string, found {type(v).__name__}")
        if not is_utf8(v):
            self.fail(where, "invalid Unicode (a lone surrogate)")
        return v

    def texts(self, v: Any, where: str) -> tuple[str, ...]:
        return tuple(self.text(x, f"{where}[{i}]") for i, x in enumerate(self.seq(v, where)))

    def integer(self, v: Any, where: str, top: int) -> int:
        if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v <= top:
            self.fail(where, f"expected an integer 0-{top}, found {v!r:.40}")
        return v

    def errno(self, v: Any, where: str) -> int | None:
        return None if v is None else self.integer(v, where, MAX_ERRNO)

    def action(self, v: Any, where: str) -> str:
        if v not in ACTIONS:
            self.fail(where, f"unknown action {v!r:.40} (expected one of {', '.join(ACTIONS)})")
        return str(v)

    def arches(self, v: Any, where: str) -> tuple[str, ...]:
        out = self.texts(v, where)
        for i, a in enumerate(out):
            if not is_arch_name(a):
                self.fail(f"{where}[{i}]", f"not an architecture name: {a!r:.80}")
        return out

    def condition(self, v: Any, where: str) -> ArgCondition:
        index, op, a, b = self.seq(v, where, 4)
        if op not in OPS:
            self.fail(f"{where}[1]", f"unknown comparison {op!r:.40}")
        return ArgCondition(self.integer(index, f"{where}[0]", 5), op,
                            self.integer(a, f"{where}[2]", 2**64 - 1),
                            self.integer(b, f"{where}[3]", 2**64 - 1))

    def rule(self, v: Any, where: str) -> Rule:
        arches, name, action, errno, conds, comment, baseline = self.seq(v, where, 7)
        if not is_syscall_name(name):
            self.fail(f"{where}[1]", f"not a syscall name: {name!r:.80}")
        if not isinstance(baseline, bool):
            self.fail(f"{where}[6]", "expected True or False")
        try:
            return Rule(name, self.arches(arches, f"{where}[0]"),
                        self.action(action, f"{where}[2]"), self.errno(errno, f"{where}[3]"),
                        tuple(self.condition(c, f"{where}[4][{j}]")
                              for j, c in enumerate(self.seq(conds, f"{where}[4]"))),
                        self.text(comment, f"{where}[5]"), baseline)
        except ValueError as exc:
            self.fail(where, str(exc))


def _literals(text: str, source: str) -> dict[str, Any]:
    """The upper-case names a module assigns literals to; the rest of it is ignored."""
    try:
        with warnings.catch_warnings():  # "\d" in a string: the file's problem, not a warning
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", SyntaxWarning)
            tree = ast.parse(text)
    except SyntaxError as exc:
        raise SeccompGenError(f"line {exc.lineno}: not Python ({exc.msg}), nor JSON or an LXC "
                              "policy", path=source) from None
    except (ValueError, RecursionError, MemoryError) as exc:
        what = "nested too deeply" if isinstance(exc, RecursionError | MemoryError) else str(exc)
        raise SeccompGenError(f"not a Python table ({what})", path=source) from None
    values: dict[str, Any] = {}
    for node in tree.body:
        if (isinstance(node, ast.Assign) and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name) and node.targets[0].id.isupper()):
            try:
                values[node.targets[0].id] = ast.literal_eval(node.value)
            except (ValueError, TypeError, SyntaxError, RecursionError, MemoryError):
                continue  # not a literal: not part of the table
    return values


def parse(text: str, source: str = "<python profile>") -> Profile:
    """Read the table of a generated module back, without executing it."""
    values = _literals(text, source)
    missing = [k for k in ("DEFAULT_ACTION", "DEFAULT_ERRNO", "ARCHITECTURES", "RULES")
               if k not in values]
    if missing:
        raise SeccompGenError(f"not a seccomp-gen profile module (no {', '.join(missing)} "
                              "table)", path=source)
    t = _Table(source)
    default = t.action(values["DEFAULT_ACTION"], "DEFAULT_ACTION")
    default_errno = t.errno(values["DEFAULT_ERRNO"], "DEFAULT_ERRNO")
    rules = tuple(t.rule(r, f"RULES[{i}]") for i, r in enumerate(t.seq(values["RULES"], "RULES")))
    skipped = []
    for i, s in enumerate(t.seq(values.get("SKIPPED", ()), "SKIPPED")):
        arch, name, reason = t.seq(s, f"SKIPPED[{i}]", 3)
        skipped.append(Skipped(t.text(arch, f"SKIPPED[{i}][0]"), t.text(name, f"SKIPPED[{i}][1]"),
                               t.text(reason, f"SKIPPED[{i}][2]")))
    weights = []
    for i, row in enumerate(t.seq(values.get("PRIORITIES", ()), "PRIORITIES")):
        arch, name, priority = t.seq(row, f"PRIORITIES[{i}]", 3)
        arch = t.arches((arch,), f"PRIORITIES[{i}][0]")[0]
        if not is_syscall_name(name):
            t.fail(f"PRIORITIES[{i}][1]", f"not a syscall name: {name!r:.80}")
        weights.append((arch, name, t.integer(priority, f"PRIORITIES[{i}][2]", MAX_PRIORITY)))
    optimize = values.get("OPTIMIZE")
    if optimize not in (None, 1, 2) or isinstance(optimize, bool):
        t.fail("OPTIMIZE", f"expected 1 or 2, found {optimize!r:.40}")
    try:
        return normalize(Profile(
            default_action=default,
            default_errno=default_errno,
            architectures=t.arches(values["ARCHITECTURES"], "ARCHITECTURES"),
            rules=rules,
            provenance=t.texts(values.get("PROVENANCE", ()), "PROVENANCE"),
            notes=t.texts(values.get("NOTES", ()), "NOTES"),
            skipped=tuple(skipped),
            weights=tuple(weights),
            optimize=optimize,
        ))
    except ValueError as exc:
        raise SeccompGenError(f"DEFAULT_ACTION: {exc}", path=source) from None
