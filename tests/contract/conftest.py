"""The storage contract: every repository behaves the same on every backend.

The ``store`` fixture opens a fresh, migrated database of each backend in turn; the tests
use the repositories' methods only, never a backend's SQL, so a new backend passes the same
suite before it is used.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from newsletter.store import Store, open_store

BACKENDS = ["sqlite"]


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    opened = open_store(tmp_path / "contract.db")
    try:
        yield opened
    finally:
        opened.close()
