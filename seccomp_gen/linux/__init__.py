"""Thin bindings to the kernel, no policy: what seccomp-gen asks Linux for, each thing once.

:mod:`.libc` (the C library through ctypes), :mod:`.seccomp` (loading filters, the actions the
kernel offers, capabilities), :mod:`.cbpf` (classic BPF: assemble, decode, run), :mod:`.ptrace`
(the uapi numbers and struct layouts), :mod:`.procfs` (``/proc`` readers), :mod:`.audit`
(NETLINK_AUDIT; the seccomp audit record's text is parsed in :mod:`seccomp_gen.auditrecord`),
:mod:`.kmsg` (the kernel log), :mod:`.spawn` (fork, set up, exec,
and the error pipe that says what failed) and :mod:`.reaper` (the process that makes a workload
die with its recorder). Decisions (what to record, what to allow) live above this package.
"""
