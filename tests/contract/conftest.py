"""The storage contract: every repository behaves the same on every backend.

The ``store`` fixture opens a fresh, migrated database of each backend in turn; the tests
use the repositories' methods only, never a backend's SQL, so a new backend passes the same
suite before it is used.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from newsletter.store import Store, open_store

BACKENDS = ["sqlite", "postgresql"]
Reopen = Callable[[], Store]


@pytest.fixture(params=BACKENDS)
def target(request: pytest.FixtureRequest, tmp_path: Path) -> str | Path:
    """Where the test's database is: a PostgreSQL URL or a SQLite file."""
    if request.param == "postgresql":
        return str(request.getfixturevalue("postgres_url"))
    return tmp_path / "contract.db"


@pytest.fixture
def store(target: str | Path) -> Iterator[Store]:
    opened = open_store(target)
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def reopen(target: str | Path, store: Store) -> Reopen:
    """Open another connection to the same database (another process would)."""
    return lambda: open_store(target)
