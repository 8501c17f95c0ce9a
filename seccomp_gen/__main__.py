"""``python -m seccomp_gen``: the same as the ``seccomp-gen`` command."""

from .cli import entry

entry()
