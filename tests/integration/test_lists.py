"""Lists as an office changes them: `lists add` never resets a list, `lists set` changes only
what it is given, `lists show NAME` shows all of it; a list gets every report that arrives
after it exists, whatever the date printed on it; and a running service schedules a list
added or changed in the database or in newsletter.toml within a poll."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from newsletter.app import load_instance
from newsletter.cli.main import cli
from tests.helpers import drop, wait_until
from tests.office import relay_env, report_text
from tests.processes import started
from tests.smtp_server import smtp_sink

SECRET = "lists-secret-0123456789-abcdefghij"


def _run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), env={"NEWSLETTER_WEB_SECRET": SECRET})


def _ok(*args: str) -> str:
    result = _run(*args)
    assert result.exit_code == 0, result.output
    return result.output


def test_lists_add_never_resets_a_list_and_lists_set_changes_only_what_it_is_given(
        cli_office: Path) -> None:
    _ok("lists", "add", "ca-disasters", "--mode", "alerts", "--countries", "Kazakhstan,KG",
        "--keywords", "flood,паводк", "--title", "Central Asia disasters", "--title-ru",
        "Бедствия в Центральной Азии")
    refused = _run("lists", "add", "ca-disasters", "--policy", "hold")
    assert refused.exit_code == 1
    assert "Error: there is a list called ca-disasters already" in refused.output
    assert "lists set ca-disasters" in refused.output

    assert "Changed list ca-disasters (alerts" in _ok("lists", "set", "ca-disasters",
                                                      "--policy", "hold")
    shown = json.loads(_ok("lists", "show", "ca-disasters", "--json"))
    assert shown["mode"] == "alerts"
    assert shown["policy"] == "hold"
    assert shown["countries"] == ["KZ", "KG"]
    assert shown["keywords"] == ["flood", "паводк"]
    assert shown["title"] == "Central Asia disasters"
    assert shown["title_ru"] == "Бедствия в Центральной Азии"
    assert shown["starts"]  # when it started getting reports

    # A new mode takes the new mode's default schedule, unless one is given; "" clears.
    _ok("lists", "set", "ca-disasters", "--mode", "weekly", "--keywords", "")
    shown = json.loads(_ok("lists", "show", "ca-disasters", "--json"))
    assert (shown["mode"], shown["schedule"]) == ("weekly", "0 9 * * mon")
    assert shown["keywords"] == []
    assert shown["countries"] == ["KZ", "KG"]

    text = _ok("lists", "show", "ca-disasters")
    for line in ("declared in", "countries", "KZ, KG", "policy", "hold", "title ru",
                 "Бедствия в Центральной Азии", "gets reports that arrived from"):
        assert line in text
    nothing = _run("lists", "set", "ca-disasters")
    assert nothing.exit_code == 1
    assert "nothing to change" in nothing.output


def test_a_list_of_the_file_is_changed_in_the_file(cli_office: Path) -> None:
    config = cli_office / "newsletter.toml"
    config.write_text(config.read_text() + '\n[lists.daily]\ntitle = "Daily"\n')
    for args in (["add", "daily"], ["set", "daily", "--policy", "hold"]):
        refused = _run("lists", *args)
        assert refused.exit_code == 1
        assert "daily is declared in newsletter.toml" in refused.output
        assert "[lists.daily]" in refused.output


def test_a_report_that_arrives_after_the_list_exists_reaches_it_whatever_its_date(
        cli_office: Path) -> None:
    _ok("lists", "add", "w", "--mode", "weekly")
    _ok("subscribers", "add", "reader@example.org", "--list", "w")
    drop(cli_office / "seeds", "old.txt", report_text("Floods of 2024", date(2024, 3, 12)))
    _ok("ingest")
    instance = load_instance(cli_office, cwd=cli_office, environ={})
    with instance.open_store() as store:
        arrived = store.reports.get(1).ingested_at
    # The digest is asked for later than the report arrived (not within the same second).
    wait_until(lambda: datetime.now(UTC).replace(microsecond=0) > arrived,
               "the clock to pass the report's arrival")
    made = _ok("digest", "--list", "w")
    assert "Issue 1: 1 message(s) queued" in made
    with instance.open_store() as store:
        assert store.issues.get(1).report_ids == (1,)

    # A list removed and added again starts again: it does not get what came in between.
    _ok("lists", "remove", "w")
    drop(cli_office / "seeds", "between.txt", report_text("Storms", date(2026, 1, 2)))
    _ok("ingest")
    with instance.open_store() as store:
        between = store.reports.get(2).ingested_at
    wait_until(lambda: datetime.now(UTC).replace(microsecond=0) > between,
               "the clock to pass the second report's arrival")
    _ok("lists", "add", "w", "--mode", "weekly")
    assert "Nothing new for w" in _ok("digest", "--list", "w")


def test_a_broken_edit_of_the_file_keeps_the_lists_as_they_were(
        cli_office: Path, caplog: pytest.LogCaptureFixture) -> None:
    config = cli_office / "newsletter.toml"
    config.write_text(config.read_text() + '\n[lists.daily]\ntitle = "Daily"\n')
    instance = load_instance(cli_office, cwd=cli_office, environ={})
    with instance.open_store() as store:
        assert list(instance.lists_of(store).all()) == ["daily"]
        text = config.read_text()
        config.write_text(text + '\n[lists.weekly]\ntitle = "Weekly"\nmode = "weekly"\n')
        assert list(instance.lists_of(store).all()) == ["daily", "weekly"]  # read again
        config.write_text(text + '\n[lists.bad]\nschedule = "0 25 * * *"\n')
        with caplog.at_level(logging.ERROR, logger="newsletter.app"):
            assert list(instance.lists_of(store).all()) == ["daily", "weekly"]  # as they were
            assert list(instance.lists_of(store).all()) == ["daily", "weekly"]
        said = [r.getMessage() for r in caplog.records if "did not load" in r.getMessage()]
        assert len(said) == 1  # once per change of the file, not once per look


@pytest.mark.slow
def test_the_running_service_schedules_lists_added_in_the_database_and_in_the_file(
        cli_office: Path) -> None:
    """`newsletter run` is running; a list is added with `lists add`, another in
    newsletter.toml, each firing every minute; a report dropped then reaches both digests."""
    with smtp_sink() as (sink, port):
        env = {**os.environ, "NEWSLETTER_WEB_SECRET": SECRET, **relay_env(port),
               "NEWSLETTER_SCHEDULE_POLL_SECONDS": "0.2", "NEWSLETTER_INGEST_SETTLE_SECONDS": "0",
               "NEWSLETTER_LOG_LEVEL": "info", "NEWSLETTER_LOG_FORMAT": "text"}
        log = cli_office / "run.log"
        with log.open("w") as stderr, started(
                [sys.executable, "-m", "newsletter", "run"], cwd=cli_office, env=env,
                stdout=subprocess.DEVNULL, stderr=stderr):
            wait_until(lambda: "service started" in log.read_text(), "the service to start")
            _ok("lists", "add", "db-list", "--schedule", "* * * * *", "--timezone", "UTC")
            _ok("subscribers", "add", "db@example.org", "--list", "db-list")
            config = cli_office / "newsletter.toml"
            config.write_text(config.read_text() + '\n[lists.file-list]\ntitle = "File"\n'
                              'schedule = "* * * * *"\ntimezone = "UTC"\n')
            _ok("subscribers", "add", "file@example.org", "--list", "file-list")
            for name in ("db-list", "file-list"):
                wait_until(lambda n=name: f"digest of {n} scheduled" in log.read_text(),
                           f"the service to schedule {name}")
            drop(cli_office / "seeds", "old.txt",
                 report_text("Floods of 2024", date(2024, 3, 12)))
            wait_until(lambda: len(sink.messages) >= 2, "both digests", timeout=180)
    assert sorted(m.recipients[0] for m in sink.messages) == ["db@example.org",
                                                              "file@example.org"]
    assert all(b"Floods of 2024" in m.data for m in sink.messages)


def test_status_gives_each_lists_next_digest_in_its_own_time(cli_office: Path) -> None:
    _ok("lists", "add", "w", "--mode", "weekly", "--timezone", "Asia/Almaty")
    text = _ok("status")
    assert "next digest " in text
    assert "09:00 Asia/Almaty (" in text  # the list's time first, then UTC
    [entry] = [e for e in json.loads(_ok("status", "--json"))["lists"] if e["list"] == "w"]
    local = datetime.fromisoformat(entry["next_digest_local"])
    assert (local.hour, local.minute, local.weekday()) == (9, 0, 0)
    assert local == datetime.fromisoformat(entry["next_digest"])  # the same moment


def test_a_list_without_a_title_in_its_readers_language_says_so(cli_office: Path) -> None:
    result = _run("lists", "add", "ca", "--title", "Central Asia", "--title-ru", "ЦА")
    assert result.exit_code == 0, result.output
    assert "Note: its kk readers see the title 'Central Asia'" in result.stderr
    assert "lists set ca --title-kk TITLE" in result.stderr
    done = _run("lists", "set", "ca", "--title-kk", "Орталық Азия")
    assert done.exit_code == 0
    assert "Note:" not in done.stderr


def test_a_list_is_public_only_when_the_office_says_so(cli_office: Path) -> None:
    assert _run("lists", "add", "open", "--public").exit_code == 0
    assert _run("lists", "add", "closed").exit_code == 0
    shown = {name: json.loads(_run("lists", "show", name, "--json").output)["public"]
             for name in ("open", "closed")}
    assert shown == {"open": True, "closed": False}
    assert _run("lists", "set", "open", "--private").exit_code == 0
    assert json.loads(_run("lists", "show", "open", "--json").output)["public"] is False
    config = cli_office / "newsletter.toml"
    config.write_text(config.read_text() + '\n[lists.file]\ntitle = "F"\npublic = "maybe"\n')
    refused = _run("lists", "show")
    assert refused.exit_code == 1
    assert "public must be true or false" in refused.output
