"""Killing a sending process at random moments loses no message, and every duplicate is one
the outbox recorded as ambiguous; SIGTERM stops cleanly with no duplicate at all."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime

import pytest

from newsletter.app import Instance, load_instance
from newsletter.ingest import ingest_inbox
from newsletter.pipeline import create_issue, summarise_pending
from newsletter.subscribers import check_subscriber
from tests.helpers import FIXED_NOW, SAMPLE_REPORT, drop
from tests.smtp_server import smtp_sink

SECRET = "crash-test-secret-0123456789"
MESSAGES = 150


@pytest.fixture
def queued(instance: Instance) -> Instance:
    config = instance.config_path
    config.write_text(config.read_text() + '\n[lists.daily]\ntitle = "Daily"\n')
    office = load_instance(config, cwd=instance.root, environ={"NEWSLETTER_WEB_SECRET": SECRET})
    drop(office.inbox.folder, "sample.txt", SAMPLE_REPORT.read_bytes())
    with office.open_store() as store:
        ingest_inbox(store, office.inbox, office.settings.ingest, now=FIXED_NOW)
        summarise_pending(store, office.settings.summary, now=FIXED_NOW)
        store.import_subscribers([check_subscriber(f"r{i}@example.org") for i in range(MESSAGES)],
                                 "daily", consent_source="test", now=FIXED_NOW)
        create_issue(store, office.renderer(), office.list_named(store, "daily"), [1], "alert",
                     base_url="https://u.example.org", domain="example.org",
                     now=datetime.now(UTC))
    return office


def _start(office: Instance, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "NEWSLETTER_WEB_SECRET": SECRET, "NEWSLETTER_DELIVERY_TRANSPORT": "smtp",
           "NEWSLETTER_SMTP_PORT": str(port), "NEWSLETTER_SMTP_HOST": "127.0.0.1",
           "NEWSLETTER_SMTP_SECURITY": "none", "NEWSLETTER_DELIVERY_LEASE": "1",
           "NEWSLETTER_DELIVERY_RATE": "25", "NEWSLETTER_DELIVERY_CONNECTIONS": "3"}
    return subprocess.Popen([sys.executable, "-m", "newsletter", "--config",
                             str(office.config_path), "deliver"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _check(office: Instance, received: list[str]) -> dict[str, int]:
    with office.open_store() as store:
        rows = store.outbox_rows()
    assert len(rows) == MESSAGES
    assert {row["state"] for row in rows} == {"sent"}  # every subscriber: exactly one sent row
    ids = {row["message_id"] for row in rows}
    copies = Counter(received)
    assert set(copies) == ids  # the server received every message
    ambiguous = {row["message_id"] for row in rows if row["ambiguous"]}
    duplicates = {mid for mid, n in copies.items() if n > 1}
    assert duplicates <= ambiguous  # every duplicate was recorded as ambiguous
    return {"duplicates": len(duplicates), "ambiguous": len(ambiguous)}


@pytest.mark.slow
def test_killing_the_sender_at_random_points_loses_nothing(queued: Instance) -> None:
    rng = random.Random(20261128)
    interrupted = 0
    with smtp_sink() as (sink, port):
        sink.data_delay = 0.02  # a slow relay: kills often land while a reply is awaited
        for _ in range(6):
            before = len(sink.messages)
            process = _start(queued, port)
            time.sleep(rng.uniform(0.7, 1.5))  # startup takes ~0.5 s; then messages flow
            process.kill()
            process.wait(timeout=30)
            assert process.stderr is not None
            process.stderr.close()
            if before < len(sink.messages) < MESSAGES:
                interrupted += 1
            time.sleep(1.1)  # the lease of the killed process runs out
        final = _start(queued, port)
        _, err = final.communicate(timeout=120)
        assert final.returncode == 0, err
        _check(queued, sink.message_ids())
    assert interrupted >= 3  # the kills did land in the middle of sending


@pytest.mark.slow
def test_sigterm_finishes_in_flight_messages_and_stops_cleanly(queued: Instance) -> None:
    with smtp_sink() as (sink, port):
        process = _start(queued, port)
        time.sleep(1.0)
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=60)
        assert process.returncode == 0, err
        with queued.open_store() as store:
            states = Counter(row["state"] for row in store.outbox_rows())
        assert set(states) <= {"sent", "pending"}  # nothing left claimed or in doubt
        assert 0 < states["sent"] < MESSAGES
        final = _start(queued, port)
        final.communicate(timeout=120)
        outcome = _check(queued, sink.message_ids())
    assert outcome == {"duplicates": 0, "ambiguous": 0}

