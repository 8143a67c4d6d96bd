"""Shared fixtures: every test runs with its own HOME, XDG folders and no NEWSLETTER_* settings."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import datetime

import pytest

from tests.helpers import FIXED_NOW


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
