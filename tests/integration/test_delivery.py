"""Delivery through the outbox to a real SMTP server on 127.0.0.1 with planned faults."""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
import mailbox
import os
import pty
import re
import ssl
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dkim
import pytest
from aiosmtpd.controller import Controller
from click.testing import CliRunner

from newsletter.app import Instance
from newsletter.bounces.rules import BounceRules
from newsletter.cli.main import cli
from newsletter.delivery.files import FileTransport
from newsletter.delivery.rules import RetryPolicy
from newsletter.delivery.sender import DeliveryRun, SendOptions, Sweep
from newsletter.delivery.session import FileRelay, SmtpRelay
from newsletter.delivery.smtp import SmtpOptions
from newsletter.issues.messages import IssueMessages
from newsletter.mail.dkim import DkimSigner
from newsletter.mail.links import Links
from newsletter.mail.messages import MessageBuilder
from newsletter.store import Store
from newsletter.subscribers.addresses import check_subscriber
from tests.helpers import FIXED_NOW, dkim_dns, dkim_key, openssl
from tests.office import (
    ingest_sample,
    queue_alert,
    readers,
    relay_env,
    subscribe,
    with_config,
)
from tests.processes import started
from tests.smtp_server import Sink, free_port, smtp_sink

SECRET = "delivery-test-secret-0123456789"


@pytest.fixture
def office(instance: Instance) -> Instance:
    loaded = with_config(instance, '[lists.daily]\ntitle = "Central Asia daily"\n'
                         'languages = ["en", "ru"]\n', {"NEWSLETTER_WEB_SECRET": SECRET})
    ingest_sample(loaded)
    return loaded


def _issue(office: Instance, store: Store, addresses: list[str]) -> int:
    rows = [check_subscriber(a, language="ru" if i % 2 else "en")
            for i, a in enumerate(addresses)]
    store.subscribers.import_rows(rows, "daily", consent_source="test", now=FIXED_NOW)
    created = queue_alert(office, store, base_url="https://updates.example.org")
    assert created.queued == len(addresses)
    return created.issue_id


def _messages(office: Instance, store: Store, title: str, base_url: str,
              dkim: DkimSigner | None = None) -> IssueMessages:
    links = Links(base_url, "unsubscribe@example.org", "example.org", SECRET)
    return IssueMessages(store, MessageBuilder(lambda name: office.mail_settings(name, title),
                                               links, dkim))


def _send(office: Instance, store: Store, port: int, *, clock: Callable[[], datetime],
          timeout: float = 5.0, connections: int = 2, max_attempts: int = 4,
          security: str = "none") -> DeliveryRun:
    source = _messages(office, store, "Central Asia daily", "https://updates.example.org")
    options = SendOptions(sender="updates@example.org", connections=connections, lease=30,
                          policy=RetryPolicy(max_attempts=max_attempts,
                                             base=timedelta(seconds=10)),
                          bounces=BounceRules(threshold=1))
    smtp = SmtpOptions("127.0.0.1", port, security, "", "", timeout)
    return asyncio.run(Sweep(store, source, SmtpRelay(smtp, connections), options,
                             owner="test", clock=clock)())


def _states(store: Store) -> dict[str, str]:
    return {row["address"]: row["state"] for row in store.outbox.rows()}


# Relays that offer PIPELINING get MAIL, RCPT and DATA in one write; the others one at a time.
RELAYS = pytest.mark.parametrize("pipelining", [False, True], ids=["lockstep", "pipelining"])


@RELAYS
def test_every_message_arrives_once_personalised(office: Instance, store: Store,
                                                 pipelining: bool) -> None:
    addresses = [f"reader{i}@example.org" for i in range(12)]
    issue = _issue(office, store, addresses)
    with smtp_sink() as (sink, port):
        sink.pipelining = pipelining
        run = _send(office, store, port, clock=lambda: datetime.now(UTC))
    assert run.sent == 12
    assert sorted(m.recipients[0] for m in sink.messages) == sorted(addresses)
    assert len(set(sink.message_ids())) == 12
    first = email.message_from_bytes(sink.messages[0].data, policy=email.policy.default)
    assert first["List-Unsubscribe"].startswith("<https://updates.example.org/unsubscribe/")
    assert set(_states(store).values()) == {"sent"}
    assert {r["message_id"] for r in store.outbox.rows(issue)} == set(sink.message_ids())
    again = _send(office, store, port=1, clock=lambda: datetime.now(UTC))  # nothing is due
    assert again.sent == 0


@RELAYS
def test_temporary_failures_are_retried_and_permanent_ones_fail(office: Instance,
                                                                store: Store,
                                                                pipelining: bool) -> None:
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
        sink.pipelining = pipelining
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
    rows = {r["address"]: r for r in store.outbox.rows()}
    assert (rows["t550@example.org"]["last_code"], rows["always451@example.org"]["attempts"]) == (
        550, 4)
    assert "no such user" in rows["t550@example.org"]["last_text"]
    assert store.subscribers.get("t550@example.org").status == "bounced"
    # The refusal goes through the rules of what comes back, and is listed with them.
    [refused] = store.bounces.listing()
    assert (refused.source, refused.status, refused.outcome, refused.address) == (
        "smtp", "5.1.1", "disabled", "t550@example.org")
    assert rows["t550@example.org"]["returned"] == "bounced"
    received = [m.recipients[0] for m in sink.messages]
    assert sorted(received) == sorted(a for a, s in states.items() if s == "sent")


@RELAYS
def test_a_connection_lost_after_the_data_is_recorded_as_ambiguous(
        office: Instance, store: Store, pipelining: bool) -> None:
    _issue(office, store, ["drop@example.org", "stall@example.org", "ok@example.org"])
    now = datetime.now(UTC)
    with smtp_sink() as (sink, port):
        sink.pipelining = pipelining
        sink.faults.update({"drop@example.org": ["drop"], "stall@example.org": ["stall"]})
        sink.stall_seconds = 3
        run = _send(office, store, port, clock=lambda: now, timeout=1, connections=1)
        assert run.ambiguous == 2
        _send(office, store, port, clock=lambda: now + timedelta(hours=1), timeout=1)
    rows = {r["address"]: r for r in store.outbox.rows()}
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
    assert (run.sent, run.deferred) == (0, 1)  # no connection: tried again, no attempt counted
    assert run.unreachable is not None
    assert sink.messages == []
    [row] = store.outbox.rows()
    assert row["state"] == "retry"
    assert "STARTTLS" in row["last_text"] or "starttls" in row["last_text"].lower()


def test_unsubscribed_and_suppressed_addresses_get_nothing(office: Instance,
                                                            store: Store) -> None:
    subscribe(store, "daily", readers(4, "s"))
    store.subscribers.unsubscribe(store.subscribers.get("s0@example.org").id, "daily", "web", FIXED_NOW)
    store.subscribers.set_status(store.subscribers.get("s1@example.org").id, "suppressed", "cli",
                                FIXED_NOW)
    queue_alert(office, store)
    with smtp_sink() as (sink, port):
        _send(office, store, port, clock=lambda: datetime.now(UTC))
    assert sorted(m.recipients[0] for m in sink.messages) == ["s2@example.org",
                                                              "s3@example.org"]


def test_dkim_signs_the_list_unsubscribe_headers(office: Instance, store: Store,
                                                 tmp_path: Path) -> None:
    key, record = dkim_key(tmp_path)
    _issue(office, store, ["signed@example.org"])
    signer = DkimSigner("news", "example.org", key.read_bytes())
    source = _messages(office, store, "Daily", "https://u.example.org", dkim=signer)
    [row] = store.outbox.claim("test", 1, datetime.now(UTC), 30).rows
    signed = source.message(row)
    assert signed.startswith(b"DKIM-Signature:")
    header = signed.split(b"\r\n\r\n", 1)[0].replace(b"\r\n ", b" ").replace(b"\r\n\t", b" ")
    signed_fields = header.split(b"h=", 1)[1].split(b";", 1)[0].replace(b" ", b"").split(b":")
    assert b"list-unsubscribe" in signed_fields
    assert b"list-unsubscribe-post" in signed_fields
    dns = dkim_dns(record, b"news._domainkey.example.org.")
    assert dkim.verify(signed, dnsfunc=dns)
    tampered = signed.replace(b"List-Unsubscribe-Post: List-Unsubscribe=One-Click",
                              b"List-Unsubscribe-Post: List-Unsubscribe=Two-Clicks")
    assert not dkim.verify(tampered, dnsfunc=dns)


def test_the_file_transport_writes_eml_files_or_an_mbox(office: Instance, store: Store,
                                                         tmp_path: Path) -> None:
    _issue(office, store, ["a@example.org", "b@example.org"])
    source = _messages(office, store, "Daily", "https://u.example.org")
    options = SendOptions(sender="updates@example.org")
    files = FileTransport(tmp_path / "mbox", "mbox")
    run = asyncio.run(Sweep(store, source, FileRelay(files), options, owner="t",
                            clock=lambda: datetime.now(UTC))())
    assert run.sent == 2
    box = mailbox.mbox(str(tmp_path / "mbox" / "outbox.mbox"))
    assert sorted(message["To"] for message in box) == ["a@example.org", "b@example.org"]
    box.close()


def test_tls_certificates_are_verified(office: Instance, store: Store, tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
             "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key),
             "-out", str(cert))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(cert), str(key))
    _issue(office, store, ["tls@example.org"])
    sink = Sink()
    port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port, ssl_context=context)
    controller.start()
    try:
        source = _messages(office, store, "Daily", "https://u.example.org")
        options = SendOptions(sender="updates@example.org")
        untrusted = SmtpOptions("127.0.0.1", port, "tls", "", "", 5)
        run = asyncio.run(Sweep(store, source, SmtpRelay(untrusted, 4), options, owner="t",
                                clock=lambda: datetime.now(UTC))())
        assert (run.sent, run.deferred) == (0, 1)  # a self-signed certificate is refused
        assert "CERTIFICATE_VERIFY_FAILED" in store.outbox.rows()[0]["last_text"]
        trusted = SmtpOptions("127.0.0.1", port, "tls", "", "", 5, str(cert))
        later = datetime.now(UTC) + timedelta(hours=1)
        run = asyncio.run(Sweep(store, source, SmtpRelay(trusted, 4), options, owner="t",
                                clock=lambda: later)())
        assert run.sent == 1
    finally:
        controller.stop()
    assert [m.recipients for m in sink.messages] == [["tls@example.org"]]


def test_a_text_subscriber_gets_one_text_plain_part(office: Instance, store: Store) -> None:
    store.subscribers.import_rows([check_subscriber("plain@example.org", language="ru", fmt="text"),
                              check_subscriber("rich@example.org", language="ru")],
                             "daily", consent_source="test", now=FIXED_NOW)
    queue_alert(office, store, base_url="https://updates.example.org")
    with smtp_sink() as (sink, port):
        run = _send(office, store, port, clock=lambda: datetime.now(UTC))
    assert run.sent == 2
    got = {m.recipients[0]: email.message_from_bytes(m.data, policy=email.policy.default)
           for m in sink.messages}
    plain, rich = got["plain@example.org"], got["rich@example.org"]
    assert plain.get_content_type() == "text/plain"
    assert not plain.is_multipart()
    assert "/unsubscribe/" in plain.get_content()
    assert rich.get_content_type() == "multipart/alternative"
    assert plain["Subject"] == rich["Subject"]


def test_sending_logs_each_batch_when_not_on_a_terminal(office: Instance, store: Store) -> None:
    """Off a terminal (here: a pipe) there is no progress bar: a structured log line per
    batch says how far the sending got."""
    subscribe(store, "daily", readers(45, "b"))
    queue_alert(office, store)
    result = CliRunner().invoke(cli, ["--config", str(office.config_path), "--set",
                                      "log.level=info", "--set", "log.format=json", "deliver"],
                                env={"NEWSLETTER_WEB_SECRET": SECRET})
    assert result.exit_code == 0, result.output
    batches = [json.loads(line) for line in result.stderr.splitlines()
               if '"deliver_batch"' in line]
    assert [b["batch"] for b in batches] == [20, 20, 5]
    assert [b["sent"] for b in batches] == [20, 40, 45]


def test_sending_on_a_terminal_shows_a_bar_with_the_counts_and_the_rate(
        office: Instance, store: Store) -> None:
    subscribe(store, "daily", readers(45, "t"))
    queue_alert(office, store)
    terminal, its_end = pty.openpty()
    with started(
            [sys.executable, "-m", "newsletter", "--config", str(office.config_path), "deliver"],
            env={**os.environ, "NEWSLETTER_WEB_SECRET": SECRET}, stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=its_end) as process:
        os.close(its_end)
        shown = b""
        while True:
            try:
                chunk = os.read(terminal, 4096)
            except OSError:  # the other end closed: the process is done with the terminal
                break
            if not chunk:
                break
            shown += chunk
        os.close(terminal)
        assert process.wait(timeout=60) == 0
    text = shown.decode(errors="replace")
    assert "Sending messages" in text
    assert re.search(r"45 sent, 0 to retry, 0 failed, [\d,]+/s", text), text


def test_deliver_in_two_processes_sends_each_message_once(office: Instance,
                                                          store: Store) -> None:
    # Enough messages that every connection is open before the queue is empty, even on a
    # busy machine where a process starts late.
    subscribe(store, "daily", readers(1500, "p"))
    queue_alert(office, store)
    with smtp_sink() as (sink, port):
        sink.pipelining = True
        done = subprocess.run(
            [sys.executable, "-m", "newsletter", "--config", str(office.config_path),
             "deliver", "--processes", "2", "--json"],
            env={**os.environ, "NEWSLETTER_WEB_SECRET": SECRET, **relay_env(port),
                 "NEWSLETTER_DELIVERY_CONNECTIONS": "2"},
            capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["sent"] == 1500
    copies = Counter(sink.message_ids())
    assert len(copies) == 1500
    assert set(copies.values()) == {1}
    assert len({m.peer for m in sink.messages}) == 4  # two processes, two connections each
    assert set(_states(store).values()) == {"sent"}


def test_a_message_that_cannot_be_composed_fails_with_the_reason_and_the_rest_go(
        office: Instance, store: Store) -> None:
    """An address stored before today's checks (here written straight into the database)
    that no message can carry fails for good, with the reason, without stopping the sweep."""
    _issue(office, store, ["one@example.org", "two@example.org"])
    store.db.execute("UPDATE outbox SET address = 'bad address@example.org' "
                     "WHERE address = 'one@example.org'")
    with smtp_sink() as (sink, port):
        run = _send(office, store, port, clock=lambda: datetime.now(UTC))
    assert (run.sent, run.failed, run.bounced) == (1, 1, 0)
    rows = {r["address"]: r for r in store.outbox.rows()}
    assert rows["bad address@example.org"]["state"] == "failed"
    assert rows["bad address@example.org"]["last_text"].startswith("not sent:")
    assert rows["bad address@example.org"]["attempts"] == 0
    assert [m.recipients for m in sink.messages] == [["two@example.org"]]
