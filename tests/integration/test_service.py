"""The service's steps with an injected clock, and the real `newsletter run` for a few seconds."""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
import os
import signal
import subprocess
import sys
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from newsletter.app import Instance, load_instance
from newsletter.cli.main import cli
from newsletter.errors import AlreadyRunning, LeaseLost
from newsletter.lists.parse import parse_list
from newsletter.lists.schedule import next_fire, previous_fire
from newsletter.reports.ingest import ingest_inbox
from newsletter.service.scheduler import SchedulerLease, run_forever, wait_for_lease
from newsletter.store import Store
from newsletter.subscribers.addresses import check_subscriber
from newsletter.translate.packages import install
from tests.helpers import Clock, drop, wait_until
from tests.office import (
    relay_env,
    report_text,
    subscribe,
    with_config,
)
from tests.processes import started
from tests.smtp_server import smtp_sink
from tests.tiny_argos import TinyPackage

SECRET = "service-test-secret-0123456789"


@pytest.fixture
def office(instance: Instance) -> Instance:
    loaded = with_config(instance, (
        '[lists.daily]\ntitle = "Daily"\nschedule = "0 9 * * *"\ntimezone = "Asia/Almaty"\n'
        '\n[lists.alerts]\ntitle = "Alerts"\nmode = "alerts"\ncountries = ["Kazakhstan"]\n'),
        {"NEWSLETTER_WEB_SECRET": SECRET})
    with loaded.open_store() as store:
        subscribe(store, "daily", ["d@example.org"], now=datetime.now(UTC))
        subscribe(store, "alerts", ["a@example.org"], now=datetime.now(UTC))
    return loaded


def _arrive(office: Instance, name: str, text: str, clock: Clock) -> None:
    path = drop(office.inbox.folder, name, text, modified=clock.now - timedelta(minutes=5))
    assert path.exists()


def test_cron_in_the_list_timezone_including_a_dst_zone() -> None:
    almaty = parse_list("a", {"schedule": "0 9 * * *", "timezone": "Asia/Almaty"})
    berlin = parse_list("b", {"schedule": "0 9 * * *", "timezone": "Europe/Berlin"})
    after = datetime(2026, 3, 27, 12, 0, tzinfo=UTC)
    fires = [next_fire(berlin, after + timedelta(days=d)) for d in range(3)]
    local = [f.astimezone(ZoneInfo("Europe/Berlin")).hour for f in fires]
    assert local == [9, 9, 9]  # 09:00 local on both sides of the change to summer time
    assert [f.hour for f in fires] == [8, 7, 7]  # in UTC: CET, then CEST
    almaty_fires = [next_fire(almaty, after + timedelta(days=d)) for d in range(3)]
    assert len({f.hour for f in almaty_fires}) == 1  # no DST in Asia/Almaty
    weekly = parse_list("w", {"mode": "weekly", "timezone": "Asia/Almaty"})
    assert next_fire(weekly, after).astimezone(ZoneInfo("Asia/Almaty")).weekday() == 0  # Monday
    since = datetime(2026, 3, 2, 5, tzinfo=UTC)
    assert previous_fire(almaty, datetime(2026, 3, 5, 12, tzinfo=UTC), since) == next_fire(
        almaty, datetime(2026, 3, 4, 12, tzinfo=UTC))


def test_each_report_goes_once_and_empty_issues_are_not_made(office: Instance,
                                                            store: Store) -> None:
    clock = Clock(datetime(2026, 5, 4, 4, 0, tzinfo=UTC))
    _arrive(office, "one.txt", report_text("Floods one", clock.now.date()), clock)
    service = office.service(store, clock=clock)
    service.prepare()
    daily = service.lists()["daily"]
    first = service.digest(daily)
    assert first is not None
    assert first.queued == 1
    restarted = office.service(store, clock=clock)  # a restart repeats nothing
    assert restarted.digest(daily) is None
    last = store.runs.last("daily", "digest")
    assert last is not None
    assert last.outcome == "empty"
    clock.now += timedelta(days=1)
    _arrive(office, "two.txt", report_text("Floods two", clock.now.date()), clock)
    restarted.prepare()
    second = restarted.digest(daily)
    assert second is not None
    reports = store.issues.get(second.issue_id).report_ids
    assert reports == (2,)  # only what was not sent before


def test_one_catch_up_digest_after_an_outage(office: Instance, store: Store) -> None:
    clock = Clock(datetime(2026, 5, 4, 4, 0, tzinfo=UTC))  # Monday 09:00 in Almaty
    service = office.service(store, clock=clock)
    store.runs.record("daily", "digest", clock.now, "empty", None)
    store.runs.record("alerts", "digest", clock.now, "empty", None)
    clock.now = datetime(2026, 5, 7, 7, 0, tzinfo=UTC)  # Thursday: three runs were missed
    _arrive(office, "late.txt", report_text("Floods late", date(2026, 5, 1)), clock)
    service.prepare()
    made = service.catch_up()
    assert [store.issues.get(c.issue_id).list_name for c in made] == ["daily", "alerts"]
    assert service.catch_up() == []  # one digest, not one per missed run


def test_old_alerts_are_demoted_to_the_next_digest(office: Instance, store: Store) -> None:
    clock = Clock(datetime(2026, 5, 4, 10, 0, tzinfo=UTC))
    _arrive(office, "fresh.txt", report_text("Fresh floods", clock.now.date()), clock)
    _arrive(office, "old.txt", report_text("Old floods", date(2026, 4, 1)), clock)
    _arrive(office, "elsewhere.txt",
            report_text("Kyrgyz floods", clock.now.date(), country="Kyrgyzstan"), clock)
    service = office.service(store, clock=clock)
    service.prepare()
    service.translate("test")
    alerts = service.alerts()
    assert [store.issues.get(i.issue_id).report_ids for i in alerts.issues] == [(2,)]  # fresh.txt only
    assert any("too old" in note for note in alerts.notes)
    assert service.alerts().issues == []  # not alerted twice
    digest = service.digest(service.lists()["alerts"])
    assert digest is not None
    assert store.issues.get(digest.issue_id).report_ids == (3,)  # the old one; Kyrgyzstan does not match


def test_two_schedulers_on_one_database(office: Instance, store: Store) -> None:
    clock = Clock(datetime(2026, 5, 4, 10, 0, tzinfo=UTC))
    first = SchedulerLease(store, "host:1", 30, clock)
    assert first.take() is None
    second = SchedulerLease(store, "host:2", 30, clock)

    async def wait(standby: bool) -> bool:
        return await wait_for_lease(second, standby=standby, stop=asyncio.Event())

    with pytest.raises(AlreadyRunning, match="host:1"):
        asyncio.run(wait(standby=False))
    clock.now += timedelta(seconds=31)  # the first one froze: its lease runs out
    assert asyncio.run(wait(standby=True)) is True
    assert first.take() == "host:2"
    with pytest.raises(LeaseLost, match="host:2 took it over"):  # what the first one would
        first.fence()                                             # still make is refused
    second.fence()


def test_a_scheduler_whose_lease_ran_out_while_busy_goes_on_when_no_one_took_it(
        office: Instance, store: Store) -> None:
    clock = Clock(datetime(2026, 5, 4, 10, 0, tzinfo=UTC))
    lease = SchedulerLease(store, "host:1", 30, clock)
    assert lease.take() is None
    service = office.service(store, clock=clock)
    service.fence = lease.fence
    _arrive(office, "late.txt", report_text("Floods", clock.now.date()), clock)
    service.prepare()
    clock.now += timedelta(seconds=95)  # a long digest: three renewals missed
    made = service.digest(service.lists()["daily"])
    assert made is not None  # no one took the lease: renewed, and the digest made
    held = store.leases.holder("scheduler")
    assert held is not None
    assert (held.owner, held.epoch) == ("host:1", 1)
    assert held.expires_at == clock.now + timedelta(seconds=30)
    assert lease.take() is None  # and the renewal job goes on as before


def test_an_alert_waits_for_its_translation_then_follows_the_policy(
        office: Instance, store: Store) -> None:
    clock = Clock(datetime(2026, 5, 4, 10, 0, tzinfo=UTC))
    _arrive(office, "fresh.txt", report_text("Fresh floods", clock.now.date()), clock)
    service = office.service(store, clock=clock)
    service.prepare()  # queued for translation; no translation worker runs
    waiting = service.alerts()
    assert waiting.issues == []
    assert any("waits for its translations" in note for note in waiting.notes)
    clock.now += timedelta(seconds=office.settings.translate.alert_wait_seconds + 1)
    sent = service.alerts()  # past the deadline: the fallback policy sends the original
    assert [store.issues.get(i.issue_id).report_ids for i in sent.issues] == [(1,)]
    assert store.jobs.unfinished([1]) == {1}  # still queued for whoever translates later


def test_a_scheduled_fire_is_made_once_across_restarts(office: Instance, store: Store) -> None:
    clock = Clock(datetime(2026, 5, 4, 10, 0, tzinfo=UTC))
    _arrive(office, "one.txt", report_text("Floods one", clock.now.date()), clock)
    service = office.service(store, clock=clock)
    service.prepare()
    fire = datetime(2026, 5, 4, 3, 0, tzinfo=UTC)
    daily = service.lists()["daily"]
    assert service.digest(daily, fire=fire) is not None
    _arrive(office, "two.txt", report_text("Floods two", clock.now.date()), clock)
    restarted = office.service(store, clock=clock)
    restarted.prepare()
    assert restarted.digest(daily, fire=fire) is None  # that fire was done: not again
    assert restarted.digest(daily, fire=fire + timedelta(days=1)) is not None


def test_only_the_digests_whose_time_has_come_are_due(office: Instance, store: Store) -> None:
    """What `run --once` makes: a list's digest once its scheduled time (09:00 Almaty, 04:00
    UTC) has passed since its last digest, and not again until the next one."""
    clock = Clock(datetime(2026, 5, 4, 2, 0, tzinfo=UTC))
    _arrive(office, "one.txt", report_text("Floods one", clock.now.date()), clock)
    service = office.service(store, clock=clock)
    service.prepare()
    assert service.due_digests() == []  # the list is seen for the first time: nothing missed
    clock.now = datetime(2026, 5, 4, 3, 59, tzinfo=UTC)
    assert service.due_digests() == []  # not yet 09:00 in Almaty
    clock.now = datetime(2026, 5, 4, 4, 5, tzinfo=UTC)
    made = {store.issues.get(i.issue_id).list_name: store.issues.get(i.issue_id).report_ids
            for i in service.due_digests()}
    assert made["daily"] == (1,)
    assert service.due_digests() == []  # done for today
    clock.now = datetime(2026, 5, 5, 4, 5, tzinfo=UTC)
    assert service.due_digests() == []  # due again, but nothing new: recorded empty
    assert service.due_digests() == []


def test_run_once_makes_only_due_digests_unless_one_is_asked_for(office: Instance) -> None:
    _arrive(office, "one.txt", report_text("Floods one", datetime.now(UTC).date()),
            Clock(datetime.now(UTC)))
    env = {"NEWSLETTER_WEB_SECRET": SECRET, "NEWSLETTER_INGEST_SETTLE_SECONDS": "0"}
    base = ["--config", str(office.config_path), "run", "--once"]
    first = CliRunner().invoke(cli, base, env=env)
    assert first.exit_code == 0, first.output
    with office.open_store() as store:
        digests = store.db.all("SELECT list_name FROM issues WHERE kind = 'digest'")
    assert digests == []  # a fresh daily list is not due before its first 09:00
    unknown = CliRunner().invoke(cli, [*base, "--digest", "dayly"], env=env)
    assert unknown.exit_code == 1
    assert "daily" in unknown.output  # did you mean
    asked = CliRunner().invoke(cli, [*base, "--digest", "daily"], env=env)
    assert asked.exit_code == 0, asked.output
    with office.open_store() as store:
        digests = store.db.all("SELECT list_name FROM issues WHERE kind = 'digest'")
    assert [name for (name,) in digests] == ["daily"]
    alone = CliRunner().invoke(cli, ["--config", str(office.config_path), "run", "--digest",
                                     "daily"], env=env)
    assert alone.exit_code == 1
    assert "Hint:" in alone.output


def test_a_one_off_send_and_the_scheduler_never_double_send(office: Instance,
                                                            store: Store) -> None:
    clock = Clock(datetime(2026, 5, 4, 10, 0, tzinfo=UTC))
    _arrive(office, "one.txt", report_text("Floods one", clock.now.date()), clock)
    service = office.service(store, clock=clock)
    service.prepare()
    result = CliRunner().invoke(cli, ["--config", str(office.config_path), "send", "--list",
                                      "daily", "--report", "1"],
                                env={"NEWSLETTER_WEB_SECRET": SECRET})
    assert result.exit_code == 0, result.output
    assert service.digest(service.lists()["daily"]) is None
    again = CliRunner().invoke(cli, ["--config", str(office.config_path), "send", "--list",
                                     "daily", "--report", "1"],
                               env={"NEWSLETTER_WEB_SECRET": SECRET})
    assert again.exit_code == 1
    assert "already sent to daily" in again.output


@pytest.mark.slow
def test_the_real_service_runs_sends_and_stops_on_sigterm(office: Instance) -> None:
    """`newsletter run` for a few seconds against a real SMTP server: the alert goes out to
    every subscriber of the alerts list; SIGTERM in the middle of sending stops it cleanly;
    a later run sends the rest, with no duplicate."""
    readers = ["a@example.org", *(f"a{i}@example.org" for i in range(1, 40))]
    with office.open_store() as store:
        store.subscribers.import_rows([check_subscriber(a) for a in readers[1:]], "alerts",
                                 consent_source="t", now=datetime.now(UTC))
    _arrive(office, "fresh.txt", report_text("Fresh floods", datetime.now(UTC).date()),
            Clock(datetime.now(UTC)))
    with smtp_sink() as (sink, port):
        env = {**os.environ, "NEWSLETTER_WEB_SECRET": SECRET, **relay_env(port),
               "NEWSLETTER_SCHEDULE_POLL_SECONDS": "1", "NEWSLETTER_DELIVERY_RATE": "10",
               "NEWSLETTER_INGEST_SETTLE_SECONDS": "0"}
        command = [sys.executable, "-m", "newsletter", "--config", str(office.config_path), "run"]
        with started(command, env=env, stdout=subprocess.DEVNULL,
                     stderr=subprocess.PIPE) as service:
            wait_until(lambda: len(sink.messages) >= 5, "the first messages at the sink")
            second = subprocess.run([*command, "--exit-if-running"], env=env,
                                    capture_output=True, text=True, timeout=60)
            assert second.returncode == 1
            assert "another scheduler" in second.stderr
            service.send_signal(signal.SIGTERM)  # in the middle of sending, at 10 messages/s
            _, err = service.communicate(timeout=60)
            assert service.returncode == 0, err
        with office.open_store() as store:
            states = Counter(row["state"] for row in store.outbox.rows())
        assert set(states) == {"sent", "pending"}, err  # nothing left claimed or in doubt
        finish = subprocess.run([*command, "--once", "--digest", "daily"],
                                env={**env, "NEWSLETTER_DELIVERY_RATE": "0"},
                                capture_output=True, text=True, timeout=120)
        assert finish.returncode == 0, finish.stderr
    received = sorted(m.recipients[0] for m in sink.messages)
    assert received == sorted([*readers, "d@example.org"])  # everyone once; d: the digest asked for
    message = email.message_from_bytes(sink.messages[0].data, policy=email.policy.default)
    assert "Fresh floods" in message["Subject"]


def test_a_list_can_have_shorter_summaries(office: Instance, store: Store) -> None:
    config = office.config_path
    config.write_text(config.read_text() + '\n[lists.brief]\ntitle = "Brief"\n'
                      "summary_sentences = 1\n")
    brief_office = load_instance(config, cwd=office.root,
                                 environ={"NEWSLETTER_WEB_SECRET": SECRET})
    store.subscribers.import_rows([check_subscriber("b@example.org")], "brief", consent_source="t",
                             now=datetime.now(UTC))
    clock = Clock(datetime(2026, 5, 4, 10, 0, tzinfo=UTC))
    _arrive(office, "one.txt", report_text("Floods one", clock.now.date()), clock)
    service = brief_office.service(store, clock=clock)
    service.prepare()
    assert len(store.summaries.of(1) or ()) > 1
    brief = service.digest(service.lists()["brief"])
    daily = service.digest(service.lists()["daily"])
    assert brief is not None
    assert daily is not None
    brief_text = store.issues.bodies(brief.issue_id)["en"]
    daily_text = store.issues.bodies(daily.issue_id)["en"]
    assert "Relief teams delivered food" in daily_text
    assert "Relief teams delivered food" not in brief_text


def test_a_new_list_gets_new_reports_not_the_archive(office: Instance, store: Store) -> None:
    clock = Clock(datetime(2026, 5, 4, 10, 0, tzinfo=UTC))
    _arrive(office, "archive.txt", report_text("Archive floods", date(2026, 5, 1)), clock)
    ingest_inbox(store, office.inbox, office.settings.ingest, now=clock.now)
    clock.now += timedelta(hours=1)
    config = office.config_path
    config.write_text(config.read_text() + '\n[lists.newcomer]\ntitle = "New"\n')
    newer = load_instance(config, cwd=office.root, environ={"NEWSLETTER_WEB_SECRET": SECRET})
    service = newer.service(store, clock=clock)
    assert service.due(service.lists()["newcomer"]) == []
    assert service.catch_up() == []  # nothing was missed by a list that did not exist
    clock.now += timedelta(hours=1)
    _arrive(office, "fresh.txt", report_text("Fresh floods", clock.now.date()), clock)
    service.prepare()
    assert [r.report.title for r in service.due(service.lists()["newcomer"])] == ["Fresh floods"]


def test_a_repost_of_an_old_report_is_not_an_alert(office: Instance, store: Store) -> None:
    """The page was posted today, but the report was first published 18 days ago: the age
    that matters to an office is the original publication's."""
    clock = Clock(datetime(2026, 5, 4, 10, 0, tzinfo=UTC))
    old = (clock.now - timedelta(days=18)).date()
    text = report_text("Floods repost", clock.now.date()).replace(
        f"Published on {clock.now.date():%d %b %Y}",
        f"Published on {clock.now.date():%d %b %Y}\nOriginally published {old:%d %b %Y}")
    _arrive(office, "repost.txt", text, clock)
    service = office.service(store, clock=clock)
    service.prepare()
    service.translate("test")
    assert store.reports.get(1).report.published == old
    alerts = service.alerts()
    assert alerts.issues == []
    assert any("too old" in note for note in alerts.notes)


def test_a_digest_is_dated_by_the_lists_own_day(office: Instance, store: Store) -> None:
    """01:30 in Almaty on 3 March is 20:30 UTC on 2 March: the digest is of 3 March."""
    clock = Clock(datetime(2026, 3, 2, 20, 30, tzinfo=UTC))
    _arrive(office, "one.txt", report_text("Floods one", clock.now.date()), clock)
    service = office.service(store, clock=clock)
    service.prepare()
    created = service.digest(service.lists()["daily"])
    assert created is not None
    subject = json.loads(store.issues.bodies(created.issue_id)["en"])["subject"]
    assert "Mar 3" in subject or "3 Mar" in subject, subject
    assert "Mar 2" not in subject
    assert "2 Mar" not in subject


def test_the_catch_up_after_downtime_carries_what_arrived_meanwhile(
        office: Instance, store: Store, tiny_models: dict[str, TinyPackage]) -> None:
    """The service starts after missing Tuesday's and Wednesday's digests; the report that
    arrived while it was down is read and translated before the catch-up digest is made,
    so the catch-up carries it (not an empty run and a 21-hour wait)."""
    install(tiny_models["en_ru"].archive, office.settings.packages_dir)
    clock = Clock(datetime(2026, 5, 4, 4, 0, tzinfo=UTC))  # Monday 09:00 in Almaty
    store.runs.record_list_start("daily", clock.now - timedelta(days=1))
    store.runs.record("daily", "digest", clock.now, "empty", None)
    clock.now = datetime(2026, 5, 6, 7, 0, tzinfo=UTC)  # Wednesday, noon in Almaty
    _arrive(office, "late.txt", report_text("Floods late", clock.now.date()), clock)

    async def start_then_stop() -> None:
        stop = asyncio.Event()
        asyncio.get_running_loop().call_later(1.0, stop.set)
        owner = "host:1"
        await run_forever(office.service(store, clock=clock),
                          SchedulerLease(store, owner, 30, clock),
                          sender=None, translator=office.translation_thread(f"{owner}/t"),
                          heartbeat=office.heartbeat(store, owner, "run", clock),
                          standby=False, stop=stop)

    asyncio.run(start_then_stop())
    last = store.runs.last("daily", "digest")
    assert last is not None
    assert last.outcome == "1 queued"  # the catch-up carried the late report
    assert last.issue_id is not None
    russian = store.issues.bodies(last.issue_id)["ru"]
    assert "Машинный перевод (язык оригинала" in russian  # translated before the catch-up
    assert "не прошёл проверку" not in russian  # not the original with the fallback notice
