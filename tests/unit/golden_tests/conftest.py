"""Golden-file tests: ``--update-golden`` rewrites the expected files instead of comparing.

pytest only registers options from conftest files it loads at start-up, so pass this directory
when updating: ``python -m pytest tests/unit/golden_tests --update-golden``.
"""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-golden", action="store_true", default=False,
                     help="rewrite tests/unit/golden_tests/golden/* from the current emitters")


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-golden", default=False))
