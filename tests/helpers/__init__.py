"""Modules the tests share (no tests here): import them as ``helpers.NAME``.

``tests/`` is on ``sys.path`` because ``tests/conftest.py`` is the rootdir's conftest, so this
works from ``tests/unit``, ``tests/live`` and ``tests/e2e`` alike, from any clone path.
"""
