"""Fixtures for tests that touch real files and a real SQLite database."""

from __future__ import annotations

import gc
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from newsletter.app import Instance, init_instance, load_instance
from newsletter.cli.main import cli
from newsletter.store import Store
from tests.processes import children
from tests.tiny_argos import TinyPackage, build_package


@pytest.fixture(autouse=True)
def _collect_what_the_test_left() -> Iterator[None]:
    """Collect garbage as each test ends, so that a socket or file the test left open warns
    (and fails) in that test, not in whichever test the collector happens to run in; and
    end, and fail the test for, any process it started and left running."""
    yield
    gc.collect()
    left = children()
    if left:
        commands = [_command(pid) for pid in left]
        for pid in left:
            try:
                os.killpg(pid, signal.SIGKILL)
            except OSError:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        pytest.fail(f"the test left {len(left)} process(es) running: {commands}")


def _command(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()[:200]
    except OSError:
        return str(pid)


@pytest.fixture
def instance(tmp_path: Path) -> Instance:
    """A fresh instance made by `newsletter init`, loaded with an empty environment."""
    init_instance(tmp_path / "office")
    return load_instance(tmp_path / "office", cwd=tmp_path, environ={})


@pytest.fixture
def cli_office(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An instance made by `newsletter init`, as the current folder, for CLI tests."""
    folder = tmp_path / "office"
    result = CliRunner().invoke(cli, ["init", str(folder)])
    assert result.exit_code == 0, result.output
    monkeypatch.chdir(folder)
    return folder


@pytest.fixture
def store(instance: Instance) -> Iterator[Store]:
    with instance.open_store() as opened:
        yield opened


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, TinyPackage]:
    """Small real Argos packages, built once: en→ru, en→kk (NLLB-style target prefix),
    en→kk without a prefix, and ru→kk (for pivots)."""
    work = tmp_path_factory.mktemp("tiny-models")
    return {
        "en_ru": build_package(work / "a", "en", "ru"),
        "en_kk": build_package(work / "b", "en", "kk", target_prefix="kaz_Cyrl"),
        "en_kk_plain": build_package(work / "c", "en", "kk"),
        "ru_kk": build_package(work / "d", "ru", "kk"),
    }
