"""Fixtures for tests that touch real files and a real SQLite database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from newsletter.app import Instance, init_instance, load_instance
from newsletter.store import Store


@pytest.fixture
def instance(tmp_path: Path) -> Instance:
    """A fresh instance made by `newsletter init`, loaded with an empty environment."""
    init_instance(tmp_path / "office")
    return load_instance(tmp_path / "office", cwd=tmp_path, environ={})


@pytest.fixture
def store(instance: Instance) -> Iterator[Store]:
    with instance.open_store() as opened:
        yield opened
