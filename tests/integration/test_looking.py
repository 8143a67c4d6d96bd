"""Looking never writes: previews, dry runs, status and every list/show command leave the
database byte for byte as it was."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from newsletter.app import load_instance
from newsletter.cli.main import cli
from tests.helpers import SAMPLE_REPORT, database_snapshot
from tests.office import (
    DAILY,
    add_config,
    ingest_sample,
    queue_alert,
    readers,
    subscribe,
)

SECRET = "looking-test-secret-0123456789"
ENV = {"NEWSLETTER_WEB_SECRET": SECRET}

READ_ONLY = [
    ["status"], ["status", "--json"], ["reports", "list"], ["reports", "list", "--json"],
    ["reports", "show", "1"], ["reports", "show", "1", "--json"], ["lists", "show"], ["lists", "show", "fresh"],
    ["subscribers", "list"], ["subscribers", "show", "reader0@example.org"],
    ["subscribers", "export", "--list", "daily"], ["outbox", "list"],
    ["outbox", "list", "--json", "--state", "pending"], ["deliver", "--dry-run"],
    ["digest", "--list", "daily", "--dry-run"], ["digest", "--list", "fresh", "--dry-run"],
    ["send", "--list", "daily", "--report", "2", "--dry-run"], ["preview", "--report", "1"],
    ["preview", "--digest", "daily"], ["preview", "--digest", "fresh"], ["config"],
    ["models", "list"], ["workers"], ["workers", "--json", "--all"], ["review", "list"],
    ["review", "list", "--json"], ["reviewers", "list"],
    ["review", "export", "--tmx", "memory.tmx"],
]


@pytest.fixture
def office(cli_office: Path) -> Path:
    """An instance with reports, two lists (one the service has seen, one it has not),
    subscribers and a queued issue."""
    config = cli_office / "newsletter.toml"
    add_config(config, DAILY + '\n[lists.fresh]\ntitle = "Fresh"\n')
    loaded = load_instance(config, cwd=cli_office, environ=ENV)
    now = datetime.now(UTC) - timedelta(hours=1)
    with loaded.open_store() as store:
        store.runs.record_list_start("daily", now - timedelta(days=1))  # the service saw it
    ingest_sample(loaded, now=now, reports={
        "a.txt": SAMPLE_REPORT.read_bytes(),
        "b.txt": SAMPLE_REPORT.read_text().replace("Kazakhstan", "Kyrgyzstan")})
    with loaded.open_store() as store:
        subscribe(store, "daily", readers(3, "reader"), now=now)
        queue_alert(loaded, store, now=now)
        assert store.runs.list_start("fresh") is None
    return cli_office


@pytest.mark.parametrize("command", READ_ONLY, ids=" ".join)
def test_a_read_only_command_leaves_the_database_unchanged(office: Path,
                                                           command: list[str]) -> None:
    database = office / "var" / "newsletter.db"
    before = database_snapshot(database)
    result = CliRunner().invoke(cli, command, env=ENV)
    assert result.exit_code == 0, result.output
    after = database_snapshot(database)
    assert after[1] == before[1]  # the same rows
    assert after[0] == before[0]  # and the same bytes


def test_a_preview_does_not_change_what_the_next_digest_carries(office: Path) -> None:
    runner = CliRunner()
    first = runner.invoke(cli, ["digest", "--list", "fresh", "--dry-run"], env=ENV)
    preview = runner.invoke(cli, ["preview", "--digest", "fresh"], env=ENV)
    assert preview.exit_code == 0, preview.output
    assert "Nothing is due for fresh yet" in preview.output
    again = runner.invoke(cli, ["digest", "--list", "fresh", "--dry-run"], env=ENV)
    assert first.output == again.output
