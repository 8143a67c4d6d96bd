"""How often a reader gets a list: an alerts list's alerts as a daily digest, a daily list
as a weekly one; each (list, frequency) is its own issue, and a reader who changes gets
every report once across the change."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from newsletter.app import Instance
from newsletter.lists.spec import variant_of
from newsletter.subscribers.selfservice import set_frequency
from tests.helpers import Clock
from tests.office import arrive, subscribe, with_config

SECRET = "frequency-test-secret-0123456789"
MONDAY = datetime(2026, 3, 2, 5, 0, tzinfo=UTC)  # 10:00 in Almaty


@pytest.fixture
def office(instance: Instance) -> Instance:
    loaded = with_config(instance, (
        '[lists.alerts]\ntitle = "Alerts"\nmode = "alerts"\nschedule = "0 9 * * *"\n'
        'timezone = "Asia/Almaty"\n'
        '[lists.daily]\ntitle = "Daily"\nschedule = "0 9 * * *"\ntimezone = "Asia/Almaty"\n'),
        {"NEWSLETTER_WEB_SECRET": SECRET})
    with loaded.open_store() as store:
        for name in ("alerts", "daily"):
            subscribe(store, name, ["now@example.org", "later@example.org"], now=MONDAY)
    return loaded


def _got(office: Instance) -> dict[str, list[tuple[str, str, list[int]]]]:
    """Per address: (list, kind, reports) of each message queued for it."""
    with office.open_store() as store:
        issues = {issue_id: store.issues.get(issue_id)
                  for issue_id in {row["issue_id"] for row in store.outbox.rows()}}
        found: dict[str, list[tuple[str, str, list[int]]]] = {}
        for row in store.outbox.rows():
            issue = issues[row["issue_id"]]
            found.setdefault(row["address"], []).append(
                (issue.list_name, issue.kind, list(issue.report_ids)))
        return found


def test_variants_have_their_own_schedule_and_name() -> None:
    from newsletter.lists.parse import parse_list

    alerts = parse_list("a", {"mode": "alerts", "schedule": "30 8 * * *"})
    daily = variant_of(alerts, "daily")
    assert daily is not None
    assert (daily.name, daily.mode.value, daily.schedule, daily.members_of) == (
        "a~daily", "daily", "30 8 * * *", "a")
    weekly = variant_of(parse_list("d", {"schedule": "15 7 * * *"}), "weekly")
    assert weekly is not None
    assert (weekly.mode.value, weekly.schedule) == ("weekly", "15 7 * * mon")
    assert variant_of(alerts, "weekly") is None


def test_an_alerts_reader_who_takes_the_daily_digest_gets_each_report_once(
        office: Instance) -> None:
    clock = Clock(MONDAY)
    with office.open_store() as store:
        later = store.subscribers.get("later@example.org")
        spec = office.lists_of(store).named("alerts")
        assert set_frequency(store, later, spec, "daily", clock.now)
    clock.now = MONDAY + timedelta(hours=1)
    arrive(office, clock, "r1.txt", "Kazakhstan: Floods in the north")
    with office.open_store() as store:
        office.service(store, clock=clock).alerts()
    # The change takes effect after the next daily digest (Tuesday 09:00 in Almaty): until
    # then the alert goes to both.
    clock.now = datetime(2026, 3, 3, 4, 1, tzinfo=UTC)
    with office.open_store() as store:
        office.service(store, clock=clock).due_digests()
    clock.now = datetime(2026, 3, 3, 5, 0, tzinfo=UTC)
    arrive(office, clock, "r2.txt", "Kazakhstan: Mudslide in the south")
    with office.open_store() as store:
        office.service(store, clock=clock).alerts()
    clock.now = datetime(2026, 3, 4, 4, 1, tzinfo=UTC)
    with office.open_store() as store:
        office.service(store, clock=clock).due_digests()
    got = _got(office)
    alerts = [entry for entry in got["now@example.org"] if entry[0] == "alerts"]
    assert alerts == [("alerts", "alert", [1]), ("alerts", "alert", [2])]
    theirs = [entry for entry in got["later@example.org"] if entry[0] == "alerts"]
    assert theirs == [("alerts", "alert", [1]), ("alerts", "digest", [2])]


def test_a_daily_reader_who_takes_the_weekly_digest_and_back_misses_nothing(
        office: Instance) -> None:
    clock = Clock(MONDAY)  # a Monday: weekly digests on the next two Mondays (9 and 16)
    with office.open_store() as store:
        later = store.subscribers.get("later@example.org")
        spec = office.lists_of(store).named("daily")
        assert set_frequency(store, later, spec, "weekly", clock.now)
        assert not set_frequency(store, later, spec, "daily", clock.now)  # not a choice
    day = MONDAY + timedelta(hours=1)
    for number in range(1, 19):  # a report a day, each day's digest at 09:00 Almaty
        clock.now = day
        arrive(office, clock, f"r{number}.txt", f"Kazakhstan: Floods, day {number}")
        clock.now = day + timedelta(days=1) - timedelta(hours=1)
        with office.open_store() as store:
            office.service(store, clock=clock).due_digests()
        if number == 11:  # Thursday the 12th: back to daily, after the digest of the 16th
            with office.open_store() as store:
                later = store.subscribers.get("later@example.org")
                assert set_frequency(store, later, spec, None, clock.now)
        day += timedelta(days=1)
    got = _got(office)

    def reports(address: str) -> list[int]:
        return [rid for name, _, ids in got[address] if name == "daily" for rid in ids]

    assert reports("now@example.org") == list(range(1, 19))
    assert sorted(reports("later@example.org")) == list(range(1, 19))  # each once
    sizes = [len(ids) for name, _, ids in got["later@example.org"] if name == "daily"]
    # Daily until the weekly digest of the 9th takes effect, then the week to the 16th in
    # one digest, then daily again.
    assert sizes == [1] * 7 + [7] + [1] * 4, sizes


def test_the_office_sets_a_frequency_and_show_tells_it(office: Instance) -> None:
    from click.testing import CliRunner

    from newsletter.cli.main import cli

    def run(*args: str) -> str:
        result = CliRunner().invoke(cli, ["--config", str(office.config_path), *args],
                                    env={"NEWSLETTER_WEB_SECRET": SECRET})
        return f"{result.exit_code}:{result.output}"

    assert run("subscribers", "add", "later@example.org", "--list", "alerts",
               "--frequency", "daily").startswith("0:")
    shown = run("subscribers", "show", "later@example.org")
    assert "alerts (active, daily)" in shown
    assert "frequency" in shown  # the change, in the history
    refused = run("subscribers", "add", "later@example.org", "--list", "alerts",
                  "--frequency", "weekly")
    assert refused.startswith("1:")
    assert "alerts has no weekly frequency" in refused
