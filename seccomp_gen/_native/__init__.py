"""The package's small C helpers, compiled with this machine's C compiler at first use.

:mod:`.build` compiles and caches them (the cache checked to be the user's own, so no other user
can plant a library seccomp-gen would load); one module per C file binds its entry points:
:mod:`.sigsys_handler` (the sandbox's SIGSYS handler), :mod:`.notify_supervisor` (the notify
recorder's loop), :mod:`.trace_loop` (the seccomp recorder's stop loop; both loops share
``sgen_table.h``, bound in :mod:`.taught`) and :mod:`.recording_handler`
(``seccomp_gen.recording()``).
"""
