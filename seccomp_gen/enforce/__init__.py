"""Running a workload under a profile: ``seccomp-gen run`` (:mod:`.run`, its tracer
:mod:`.session`) and the in-process ``seccomp_gen.sandbox()`` (:mod:`.sandbox`)."""
