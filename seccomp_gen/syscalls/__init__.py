"""Facts about Linux syscalls that every stage shares, as pure data and pure functions.

Which ABIs one kernel runs (:mod:`.arches`), which arguments are worth recording
(:mod:`.argspec`), the kernel's flag and constant names in both directions (:mod:`.constants`),
how to render arguments (:mod:`.argdecode`), and what container runtimes call after loading a
filter (:mod:`.baselines`). Syscall *numbers* are not here: they always come from libseccomp
(:mod:`seccomp_gen.libseccomp`).
"""
