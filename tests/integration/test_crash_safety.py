"""Killing a sending process at random moments loses no message, and every duplicate is one
the outbox recorded as ambiguous; SIGTERM stops cleanly with no duplicate at all."""

from __future__ import annotations

import functools
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from contextlib import AbstractContextManager, ExitStack
from datetime import UTC, datetime

import pytest

from newsletter.app import Instance
from newsletter.store.database import stamp
from tests.helpers import REPO, leases_ended, wait_until
from tests.office import (
    DAILY,
    ingest_sample,
    queue_alert,
    readers,
    relay_env,
    subscribe,
    with_config,
)
from tests.processes import started
from tests.smtp_server import Sink, plan_faults, smtp_sink

SECRET = "crash-test-secret-0123456789"
MESSAGES = 150
CROWD = 1_000  # readers of the test with three senders at once


def _queue(instance: Instance, count: int) -> Instance:
    office = with_config(instance, DAILY, {"NEWSLETTER_WEB_SECRET": SECRET})
    ingest_sample(office)
    with office.open_store() as store:
        subscribe(store, "daily", readers(count))
        queue_alert(office, store)
    return office


@pytest.fixture
def queued(instance: Instance) -> Instance:
    return _queue(instance, MESSAGES)


@pytest.fixture
def crowded(instance: Instance) -> Instance:
    return _queue(instance, CROWD)


def _start(office: Instance, port: int,
           *options: str) -> AbstractContextManager[subprocess.Popen[bytes]]:
    env = {**os.environ, "NEWSLETTER_WEB_SECRET": SECRET, **relay_env(port),
           "NEWSLETTER_DELIVERY_LEASE": "1",
           "NEWSLETTER_DELIVERY_RATE": "25", "NEWSLETTER_DELIVERY_CONNECTIONS": "3"}
    return started([sys.executable, "-m", "newsletter", "--config", str(office.config_path),
                    "deliver", *options], env=env, stdout=subprocess.DEVNULL,
                   stderr=subprocess.PIPE)


def _check(office: Instance, received: list[str]) -> dict[str, int]:
    with office.open_store() as store:
        rows = store.outbox.rows()
    assert len(rows) == MESSAGES
    assert {row["state"] for row in rows} == {"sent"}  # every subscriber: exactly one sent row
    ids = {row["message_id"] for row in rows}
    copies = Counter(received)
    assert set(copies) == ids  # the server received every message
    ambiguous = {row["message_id"] for row in rows if row["ambiguous"]}
    duplicates = {mid for mid, n in copies.items() if n > 1}
    assert duplicates <= ambiguous  # every duplicate was recorded as ambiguous
    return {"duplicates": len(duplicates), "ambiguous": len(ambiguous)}


def _sent_or_ended(sink: Sink, count: int, process: subprocess.Popen[bytes]) -> bool:
    return len(sink.messages) >= count or process.poll() is not None


def _sent_or_idle(sink: Sink, count: int, office: Instance) -> bool:
    """``count`` messages reached the relay, or none is on its way (all sent, or waiting to
    retry)."""
    if len(sink.messages) >= count:
        return True
    with office.open_store() as store:
        moving = store.db.scalar(
            "SELECT COUNT(*) FROM outbox WHERE state IN ('pending', 'sending', 'transmitting')")
    return int(moving) == 0


def _retries_due(office: Instance) -> bool:
    """No message waits for a retry time still to come."""
    with office.open_store() as store:
        waiting = store.db.scalar(
            "SELECT COUNT(*) FROM outbox WHERE state = 'retry' AND next_attempt_at > ?",
            (stamp(datetime.now(UTC)),))
    return int(waiting) == 0


@pytest.mark.slow
def test_killing_the_sender_at_random_points_loses_nothing(queued: Instance) -> None:
    """Each kill lands after a random number of messages reached the relay, at a random
    moment within the next exchanges (three connections, a slow relay: some messages are
    always on their way)."""
    rng = random.Random(20261128)
    interrupted = 0
    with smtp_sink() as (sink, port):
        sink.data_delay = 0.02  # a slow relay: kills often land while a reply is awaited
        for _ in range(6):
            before = len(sink.messages)
            target = before + rng.randint(1, 12)
            with _start(queued, port) as process:
                wait_until(functools.partial(_sent_or_ended, sink, target, process),
                           "the sender to send its first messages")
                time.sleep(rng.uniform(0, 0.05))  # a random point within the exchanges
                process.kill()
                process.wait(timeout=30)
            if before < len(sink.messages) < MESSAGES:
                interrupted += 1
            wait_until(lambda: leases_ended(queued), "the killed sender's lease to run out")
        with _start(queued, port) as final:
            _, err = final.communicate(timeout=120)
            assert final.returncode == 0, err
        _check(queued, sink.message_ids())
    assert interrupted == 6  # every kill landed in the middle of sending


@pytest.mark.slow
@pytest.mark.parametrize("processes", [1, 2])
def test_sigterm_finishes_in_flight_messages_and_stops_cleanly(queued: Instance,
                                                                processes: int) -> None:
    """`deliver`, and `deliver --processes 2` whose SIGTERM reaches each sending process."""
    with smtp_sink() as (sink, port):
        with _start(queued, port, "--processes", str(processes)) as process:
            wait_until(lambda: len(sink.messages) >= 10, "messages to flow")
            process.send_signal(signal.SIGTERM)
            _, err = process.communicate(timeout=60)
            assert process.returncode == 0, err
        with queued.open_store() as store:
            states = Counter(row["state"] for row in store.outbox.rows())
        assert set(states) <= {"sent", "pending"}  # nothing left claimed or in doubt
        assert 0 < states["sent"] < MESSAGES
        with _start(queued, port) as final:
            final.communicate(timeout=120)
        outcome = _check(queued, sink.message_ids())
    assert outcome == {"duplicates": 0, "ambiguous": 0}



@pytest.mark.slow
@pytest.mark.parametrize("pipelining", [False, True], ids=["lockstep", "pipelining"])
def test_a_kill_at_full_speed_turns_unwritten_outcomes_into_ambiguous_rows(
        crowded: Instance, pipelining: bool) -> None:
    """At full speed the outcomes of a group of messages are written together: SIGKILL
    while messages flow leaves the group's rows in transmitting, though the relay has some
    of them. They are taken up again as ambiguous and sent again: every duplicate is
    recorded, and no message is lost."""
    env = {**os.environ, "NEWSLETTER_WEB_SECRET": SECRET, **relay_env(0),
           "NEWSLETTER_DELIVERY_LEASE": "1", "NEWSLETTER_DELIVERY_CONNECTIONS": "2"}
    with smtp_sink() as (sink, port):
        sink.pipelining = pipelining
        env["NEWSLETTER_SMTP_PORT"] = str(port)
        command = [sys.executable, "-m", "newsletter", "--config", str(crowded.config_path),
                   "deliver"]
        with started(command, env=env, stdout=subprocess.DEVNULL,
                     stderr=subprocess.DEVNULL) as process:
            wait_until(lambda: len(sink.messages) >= CROWD // 3 or process.poll() is not None,
                       "a third of the messages at the sink")
            process.kill()
            process.wait(timeout=30)
        # What the relay had: the data a killed client sent is still read and handled.
        wait_until(lambda: sink.connections == 0, "the sink to read what the sender sent")
        arrived = set(sink.message_ids())
        with crowded.open_store() as store:
            rows = store.outbox.rows()
        in_flight = {r["message_id"] for r in rows if r["state"] == "transmitting"}
        assert len(in_flight) > 1  # a whole group was fenced, not one message
        assert in_flight & arrived  # the relay had some whose outcome was never written
        wait_until(lambda: leases_ended(crowded), "the killed sender's lease to run out")
        final = subprocess.run(command, env=env, capture_output=True, timeout=120)
        assert final.returncode == 0, final.stderr
    with crowded.open_store() as store:
        rows = store.outbox.rows()
    assert {r["state"] for r in rows} == {"sent"}
    received = Counter(sink.message_ids())
    assert set(received) == {r["message_id"] for r in rows}  # nothing lost
    duplicates = {mid for mid, n in received.items() if n > 1}
    ambiguous = {r["message_id"] for r in rows if r["ambiguous"]}
    assert duplicates == in_flight & arrived  # sent again, as recorded, and only those
    assert duplicates <= ambiguous == in_flight


DYING_ISSUE = """
import os, signal, sys
from datetime import UTC, datetime
from pathlib import Path
from newsletter.app import load_instance
from newsletter.issues.create import create_issue

config, kill_at = Path(sys.argv[1]), int(sys.argv[2])
office = load_instance(config, cwd=config.parent, environ={})
with office.open_store() as store:
    recipients = store.subscribers.recipients

    def dying(list_name, now=None):
        for index, subscriber in enumerate(recipients(list_name, now)):
            if index == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)
            yield subscriber

    store.subscribers.recipients = dying
    create_issue(store, office.renderer(), office.lists_of(store).named("daily"), [1], "alert",
                 base_url="https://u.example.org", domain="example.org", now=datetime.now(UTC))
"""


@pytest.mark.slow
def test_a_kill_while_an_issue_is_created_leaves_all_of_it_or_none(instance: Instance) -> None:
    office = with_config(instance, DAILY, {})
    config = office.config_path
    ingest_sample(office)
    count = 5_000
    with office.open_store() as store:
        subscribe(store, "daily", readers(count))
    rng = random.Random(20261202)
    # SIGKILL while the outbox rows stream in: before the first chunk, between chunks, at
    # the very end of the stream (the commit not yet made).
    for kill_at in (0, 999, 1000, rng.randrange(1, count), rng.randrange(1, count),
                    count - 1):
        process = subprocess.run([sys.executable, "-c", DYING_ISSUE, str(config), str(kill_at)],
                                 capture_output=True, timeout=120)
        assert process.returncode == -signal.SIGKILL, process.stderr
        with office.open_store() as store:
            issues = store.db.execute("SELECT count(*) FROM issues").fetchone()[0]
            claims = store.db.execute("SELECT count(*) FROM issue_reports").fetchone()[0]
            rows = store.db.execute("SELECT count(*) FROM outbox").fetchone()[0]
        assert (issues, claims, rows) == (0, 0, 0), kill_at
    with office.open_store() as store:  # and the report can still be sent, to everyone
        created = queue_alert(office, store)
    assert created.queued == count


def _service_env(port: int) -> dict[str, str]:
    return {"NEWSLETTER_WEB_SECRET": SECRET, **relay_env(port),
            "NEWSLETTER_SMTP_TIMEOUT": "3",
            "NEWSLETTER_DELIVERY_LEASE": "1", "NEWSLETTER_DELIVERY_RATE": "25",
            "NEWSLETTER_DELIVERY_CONNECTIONS": "2", "NEWSLETTER_DELIVERY_RETRY_BASE_SECONDS": "0.2",
            "NEWSLETTER_DELIVERY_RETRY_CAP_SECONDS": "0.5", "NEWSLETTER_DELIVERY_MAX_ATTEMPTS": "20",
            "NEWSLETTER_SCHEDULE_DELIVER_SECONDS": "0.5", "NEWSLETTER_SCHEDULE_POLL_SECONDS": "30",
            "NEWSLETTER_SCHEDULE_LEASE_SECONDS": "2"}


@pytest.mark.slow
def test_two_delivers_and_a_service_killed_at_random_lose_nothing(crowded: Instance) -> None:
    """The promise with three senders at once (two `deliver` processes and a `newsletter
    run`) and a relay with faults, every sender killed with SIGKILL at random moments and
    started again, at least 20 times: every reader has exactly one sent row or a recorded
    permanent failure, the relay received every message that was due, and every duplicate
    is one the outbox recorded as ambiguous. Its figures go to test-artifacts/kill-test.json."""
    rng = random.Random(20261203)
    addresses = [f"r{i}@example.org" for i in range(CROWD)]
    faults, permanent = plan_faults(addresses, rng, temporary=30, permanent=5)
    roles = {"deliver-a": ["deliver"], "deliver-b": ["deliver"], "run": ["run"]}
    kills = interrupted = 0
    with smtp_sink() as (sink, port):
        sink.faults.update(faults)
        sink.data_delay = 0.01
        env = {**os.environ, **_service_env(port)}

        def start(role: str) -> subprocess.Popen[bytes]:
            return processes.enter_context(started(
                [sys.executable, "-m", "newsletter", "--config", str(crowded.config_path),
                 *roles[role]], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))

        with ExitStack() as processes:
            running = {role: start(role) for role in roles}
            while kills < 24:
                # A kill lands after a random number of messages more reached the relay
                # (or once every sender is idle: nothing left that it may send yet).
                target = len(sink.messages) + rng.randint(5, 25)
                wait_until(functools.partial(_sent_or_idle, sink, target, crowded),
                           "messages to flow before the next kill")
                for role, process in running.items():  # a finished `deliver` starts again
                    if process.poll() is not None:
                        running[role] = start(role)
                victim = rng.choice(sorted(running))
                if 0 < len(sink.messages) < CROWD - len(permanent):
                    interrupted += 1
                running[victim].kill()
                running[victim].wait(timeout=30)
                kills += 1
                running[victim] = start(victim)
            for process in running.values():
                process.kill()
                process.wait(timeout=30)
        received_while_killing = len(sink.messages)
        wait_until(lambda: leases_ended(crowded), "every killed sender's lease to run out")
        for _ in range(40):  # deliver until nothing is left to try
            final = subprocess.run([sys.executable, "-m", "newsletter", "--config",
                                    str(crowded.config_path), "deliver"], env=env,
                                   capture_output=True, timeout=120)
            assert final.returncode == 0, final.stderr
            with crowded.open_store() as store:
                states = Counter(row["state"] for row in store.outbox.rows())
            if states["pending"] + states["retry"] == 0:
                break
            wait_until(lambda: _retries_due(crowded), "the next retry to fall due")
        with crowded.open_store() as store:
            rows = store.outbox.rows()
        received = Counter(sink.message_ids())
    assert kills >= 20
    assert interrupted >= 15  # most kills landed while messages were flowing
    assert received_while_killing > 0
    by_address = {row["address"]: row for row in rows}
    assert len(rows) == CROWD
    # Every reader: exactly one sent row, or a recorded permanent failure.
    assert {a for a, r in by_address.items() if r["state"] == "failed"} == permanent
    assert all(by_address[a]["last_code"] == 550 for a in permanent)
    assert {a for a, r in by_address.items() if r["state"] == "sent"} == set(addresses) - permanent
    # The relay received every message that was due, and nothing we did not queue.
    sent_ids = {r["message_id"] for r in rows if r["state"] == "sent"}
    assert set(received) == sent_ids
    # Every duplicate is recorded as ambiguous.
    duplicates = {mid for mid, n in received.items() if n > 1}
    ambiguous = {r["message_id"] for r in rows if r["ambiguous"]}
    assert duplicates <= ambiguous
    figures = {"kills": kills, "mid_send": interrupted, "senders": len(roles),
               "planned_faults": sum(len(plan) for plan in faults.values()),
               "received": sum(received.values()),
               "lost": len(set(addresses) - permanent) - len(set(received)),
               "duplicates": len(duplicates), "ambiguous": len(ambiguous),
               "unrecorded_duplicates": len(duplicates - ambiguous)}
    artifacts = REPO / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    (artifacts / "kill-test.json").write_text(json.dumps(figures) + "\n")
    assert figures["lost"] == 0
