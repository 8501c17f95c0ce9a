"""The version of seccomp-gen, in one place: pyproject.toml reads it, and so do the trace header
and ``--version``. Its own module so that nothing has to import the package facade for it."""

__version__ = "0.1.0"
