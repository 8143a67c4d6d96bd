"""Delivery through the outbox to a real SMTP server on 127.0.0.1 with planned faults."""

from __future__ import annotations

import asyncio
import email
import email.policy
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from newsletter.app import Instance, load_instance
from newsletter.delivery import DeliveryRun, SendOptions, SmtpOptions, send_outbox
from newsletter.ingest import ingest_inbox
from newsletter.outbox import RetryPolicy
from newsletter.pipeline import IssueMessages, create_issue, summarise_pending
from newsletter.store import Store
from newsletter.subscribers import check_subscriber
from tests.helpers import FIXED_NOW, SAMPLE_REPORT, drop
from tests.smtp_server import smtp_sink

SECRET = "delivery-test-secret-0123456789"


@pytest.fixture
def office(instance: Instance) -> Instance:
    config = instance.config_path
    config.write_text(config.read_text() + '\n[lists.daily]\ntitle = "Central Asia daily"\n'
                      'languages = ["en", "ru"]\n')
    loaded = load_instance(config, cwd=instance.root, environ={"NEWSLETTER_WEB_SECRET": SECRET})
    drop(loaded.inbox.folder, "sample.txt", SAMPLE_REPORT.read_bytes())
    with loaded.open_store() as store:
        ingest_inbox(store, loaded.inbox, loaded.settings.ingest, now=FIXED_NOW)
        summarise_pending(store, loaded.settings.summary, now=FIXED_NOW)
    return loaded


def _issue(office: Instance, store: Store, addresses: list[str]) -> int:
    rows = [check_subscriber(a, language="ru" if i % 2 else "en")
            for i, a in enumerate(addresses)]
    store.import_subscribers(rows, "daily", consent_source="test", now=FIXED_NOW)
    spec = office.list_named(store, "daily")
    created = create_issue(store, office.renderer(), spec, [1], "alert",
                           base_url="https://updates.example.org", domain="example.org",
                           now=datetime.now(UTC))
    assert created.queued == len(addresses)
    return created.issue_id


def _send(office: Instance, store: Store, port: int, *, clock: Callable[[], datetime],
          timeout: float = 5.0, connections: int = 2, max_attempts: int = 4,
          security: str = "none") -> DeliveryRun:
    source = IssueMessages(store, lambda name: office.mail_settings(name, "Central Asia daily"),
                           secret=SECRET, base_url="https://updates.example.org",
                           unsubscribe_address="unsubscribe@example.org")
    options = SendOptions(sender="updates@example.org", connections=connections, lease=30,
                          policy=RetryPolicy(max_attempts=max_attempts,
                                             base=timedelta(seconds=10)),
                          bounce_threshold=1)
    smtp = SmtpOptions("127.0.0.1", port, security, "", "", timeout)
    return asyncio.run(send_outbox(store, source, smtp, options, owner="test", clock=clock))


def _states(store: Store) -> dict[str, str]:
    return {row["address"]: row["state"] for row in store.outbox_rows()}


def test_every_message_arrives_once_personalised(office: Instance, store: Store) -> None:
    addresses = [f"reader{i}@example.org" for i in range(12)]
    issue = _issue(office, store, addresses)
    with smtp_sink() as (sink, port):
        run = _send(office, store, port, clock=lambda: datetime.now(UTC))
    assert run.sent == 12
    assert sorted(m.recipients[0] for m in sink.messages) == sorted(addresses)
    assert len(set(sink.message_ids())) == 12
    first = email.message_from_bytes(sink.messages[0].data, policy=email.policy.default)
    assert first["List-Unsubscribe"].startswith("<https://updates.example.org/unsubscribe/")
    assert set(_states(store).values()) == {"sent"}
    assert {r["message_id"] for r in store.outbox_rows(issue)} == set(sink.message_ids())
    again = _send(office, store, port=1, clock=lambda: datetime.now(UTC))  # nothing is due
    assert again.sent == 0


def test_temporary_failures_are_retried_and_permanent_ones_fail(office: Instance,
                                                                store: Store) -> None:
    plan: dict[str, list[str | None]] = {
        "t421@example.org": ["421 4.3.2 closing"],
        "t451@example.org": ["451 4.3.0 try later", "451 4.3.0 try later"],
        "t452@example.org": ["452 4.2.2 over quota"],
        "t552@example.org": ["DATA:552 5.2.2 mailbox full"],
        "t550@example.org": ["550 5.1.1 no such user"],
        "always451@example.org": ["451 busy"] * 10,
        "fine@example.org": [],
    }
    _issue(office, store, list(plan))
    now = datetime.now(UTC)
    with smtp_sink() as (sink, port):
        sink.faults.update(plan)
        first = _send(office, store, port, clock=lambda: now)
        assert first.failed == 1
        assert first.bounced == 1
        for hours in range(1, 6):  # later runs, when the retries are due
            _send(office, store, port, clock=lambda h=hours: now + timedelta(hours=h))
    states = _states(store)
    assert states == {"t421@example.org": "sent", "t451@example.org": "sent",
                      "t452@example.org": "sent", "t552@example.org": "sent",
                      "t550@example.org": "failed", "always451@example.org": "failed",
                      "fine@example.org": "sent"}
    rows = {r["address"]: r for r in store.outbox_rows()}
    assert (rows["t550@example.org"]["last_code"], rows["always451@example.org"]["attempts"]) == (
        550, 4)
    assert "no such user" in rows["t550@example.org"]["last_text"]
    assert store.subscriber("t550@example.org").status == "bounced"
    received = [m.recipients[0] for m in sink.messages]
    assert sorted(received) == sorted(a for a, s in states.items() if s == "sent")


def test_a_connection_lost_after_the_data_is_recorded_as_ambiguous(office: Instance,
                                                                   store: Store) -> None:
    _issue(office, store, ["drop@example.org", "stall@example.org", "ok@example.org"])
    now = datetime.now(UTC)
    with smtp_sink() as (sink, port):
        sink.faults.update({"drop@example.org": ["drop"], "stall@example.org": ["stall"]})
        sink.stall_seconds = 3
        run = _send(office, store, port, clock=lambda: now, timeout=1, connections=1)
        assert run.ambiguous == 2
        _send(office, store, port, clock=lambda: now + timedelta(hours=1), timeout=1)
    rows = {r["address"]: r for r in store.outbox_rows()}
    assert {a: r["state"] for a, r in rows.items()} == {
        "drop@example.org": "sent", "stall@example.org": "sent", "ok@example.org": "sent"}
    assert (rows["drop@example.org"]["ambiguous"], rows["stall@example.org"]["ambiguous"],
            rows["ok@example.org"]["ambiguous"]) == (1, 1, 0)
    counts = {a: sink.message_ids().count(r["message_id"]) for a, r in rows.items()}
    assert counts == {"drop@example.org": 2, "stall@example.org": 2, "ok@example.org": 1}


def test_starttls_refused_is_retried_not_sent_in_clear(office: Instance, store: Store) -> None:
    _issue(office, store, ["a@example.org"])
    with smtp_sink() as (sink, port):
        run = _send(office, store, port, clock=lambda: datetime.now(UTC), security="starttls")
    assert (run.sent, run.retried) == (0, 1)
    assert sink.messages == []
    [row] = store.outbox_rows()
    assert row["state"] == "retry"
    assert "STARTTLS" in row["last_text"] or "starttls" in row["last_text"].lower()


def test_unsubscribed_and_suppressed_addresses_get_nothing(office: Instance,
                                                            store: Store) -> None:
    rows = [check_subscriber(f"s{i}@example.org") for i in range(4)]
    store.import_subscribers(rows, "daily", consent_source="test", now=FIXED_NOW)
    store.unsubscribe(store.subscriber("s0@example.org").id, "daily", "web", FIXED_NOW)
    store.set_subscriber_status(store.subscriber("s1@example.org").id, "suppressed", "cli",
                                FIXED_NOW)
    spec = office.list_named(store, "daily")
    create_issue(store, office.renderer(), spec, [1], "alert",
                 base_url="https://u.example.org", domain="example.org", now=datetime.now(UTC))
    with smtp_sink() as (sink, port):
        _send(office, store, port, clock=lambda: datetime.now(UTC))
    assert sorted(m.recipients[0] for m in sink.messages) == ["s2@example.org",
                                                              "s3@example.org"]
