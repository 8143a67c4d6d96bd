"""Shared fixtures: every test runs with its own HOME, XDG folders and no NEWSLETTER_* settings."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import datetime

import pytest

from newsletter.store.database import close_pools
from tests.helpers import FIXED_NOW
from tests.postgres import Cluster


@pytest.fixture(autouse=True)
def _isolated_environment(tmp_path_factory: pytest.TempPathFactory,
                          monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    home = tmp_path_factory.mktemp("home")
    for name in list(os.environ):
        if name.startswith("NEWSLETTER_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(home))
    for var, sub in (("XDG_DATA_HOME", "data"), ("XDG_CONFIG_HOME", "config"),
                     ("XDG_CACHE_HOME", "cache")):
        monkeypatch.setenv(var, str(home / sub))
    monkeypatch.setenv("ARGOS_PACKAGES_DIR", str(home / "data" / "argos-translate" / "packages"))
    return


@pytest.fixture
def now() -> datetime:
    """The fixed clock handed to the core."""
    return FIXED_NOW


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--regenerate-golden", action="store_true",
                     help="rewrite tests/golden/*.eml from the current output")


@pytest.fixture
def regenerate_golden(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--regenerate-golden"))


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[Cluster]:
    """One PostgreSQL cluster for the whole run. A machine without the server binaries is a
    failure, not a skip: scripts/setup installs them."""
    try:
        cluster = Cluster()
    except RuntimeError as exc:
        pytest.fail(str(exc))
    yield cluster
    close_pools()
    cluster.stop()


@pytest.fixture
def postgres_url(postgres_cluster: Cluster) -> Iterator[str]:
    """The URL of a fresh database of its own for one test."""
    yield postgres_cluster.database()
    close_pools()  # the test's connections go; the server keeps room for the next ones
