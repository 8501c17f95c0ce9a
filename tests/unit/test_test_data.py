"""The project's tests read only the project's own files, so they pass from any clone path.

Issue 11, item 8: two test modules read Docker's default profile from a sibling checkout
(``../shared/reference``) or an absolute path, and failed in any other clone.
"""

from __future__ import annotations

import re

from helpers.paths import DATA, TESTS

#: What a path outside the project looks like in a test's source.
_OUTSIDE = re.compile(r"""["']/work/|["']\.\./shared|parent\s*/\s*["']shared["']""")


def test_no_test_reads_outside_the_project() -> None:
    offenders = []
    for src in sorted(TESTS.rglob("*.py")):
        for n, line in enumerate(src.read_text().splitlines(), 1):
            if _OUTSIDE.search(line):
                offenders.append(f"{src.relative_to(TESTS)}:{n}: {line.strip()}")
    assert not offenders, "tests must use tests/data, not paths outside the project:\n" + \
        "\n".join(offenders)


def test_every_data_file_names_its_source() -> None:
    readme = (DATA / "README.md").read_text()
    missing = [p.name for p in sorted(DATA.iterdir())
               if p.is_file() and p.name != "README.md" and f"`{p.name}`" not in readme]
    assert not missing, f"tests/data/README.md does not name the source of: {missing}"
