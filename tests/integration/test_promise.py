"""The delivery promise under ordinary use: leases that fence, senders side by side,
unsubscriptions after queueing, a relay that is down, and counts that add up.

Each test runs real parts: a SQLite file, aiosmtpd on 127.0.0.1, and the command line in
subprocesses where two processes must run at once."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections import Counter
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from newsletter.app import Instance, load_instance
from newsletter.cli.main import cli
from newsletter.delivery.rules import Recovered, State
from newsletter.delivery.session import SmtpRelay
from newsletter.reports.ingest import ingest_inbox
from newsletter.store import Store
from newsletter.subscribers.addresses import check_subscriber
from tests.helpers import FIXED_NOW, SAMPLE_REPORT, drop, mark, wait_until
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
from tests.smtp_server import free_port, smtp_sink

SECRET = "promise-test-secret-0123456789"


def _smtp_env(port: int, **extra: str) -> dict[str, str]:
    return {"NEWSLETTER_WEB_SECRET": SECRET, **relay_env(port), "NEWSLETTER_SMTP_TIMEOUT": "5",
            **extra}


@pytest.fixture
def office(instance: Instance) -> Instance:
    loaded = with_config(instance, DAILY, {"NEWSLETTER_WEB_SECRET": SECRET})
    ingest_sample(loaded)
    return loaded


def _subscribe(store: Store, count: int, prefix: str = "r") -> list[str]:
    return subscribe(store, "daily", readers(count, prefix))


def _queue(office: Instance, store: Store) -> int:
    return queue_alert(office, store).issue_id


def _configured(office: Instance, environ: dict[str, str]) -> Instance:
    return load_instance(office.config_path, cwd=office.root, environ=environ)


def _command(office: Instance, env: dict[str, str], *args: str,
             **options: Any) -> AbstractContextManager[subprocess.Popen[bytes]]:
    return started([sys.executable, "-m", "newsletter", "--config", str(office.config_path),
                    *args], env={**os.environ, **env},
                   **{"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, **options})


# -- leases are fences ------------------------------------------------------------------------


def test_a_lost_lease_cannot_be_written_and_a_renewed_one_is_not_taken(
        office: Instance, store: Store) -> None:
    _subscribe(store, 2)
    _queue(office, store)
    start = datetime.now(UTC)
    first = store.outbox.claim("a/1", 1, start, lease=10).rows[0]
    second = store.outbox.claim("a/1", 1, start, lease=10).rows[0]
    later = start + timedelta(seconds=8)
    assert store.outbox.renew("a/1", later, lease=10) == 2  # a live owner keeps what it holds
    assert store.outbox.recover(start + timedelta(seconds=12)) == Recovered(0, 0)  # renewed: not expired
    assert mark(store.outbox, second.id, "a/1", State.SENDING, State.TRANSMITTING)
    expired = start + timedelta(seconds=30)
    assert store.outbox.recover(expired) == Recovered(1, 1)  # only now, after the lease ran out
    assert not mark(store.outbox, first.id, "a/1", State.SENDING, State.TRANSMITTING)  # fenced
    assert not mark(store.outbox, second.id, "a/1", State.TRANSMITTING, State.SENT)
    taken = store.outbox.claim("b/2", 5, expired, lease=10).rows
    assert {row.id for row in taken} == {first.id, second.id}
    assert not mark(store.outbox, first.id, "a/1", State.SENDING, State.TRANSMITTING)
    assert mark(store.outbox, first.id, "b/2", State.SENDING, State.TRANSMITTING)
    rows = {r["id"]: r for r in store.outbox.rows()}
    assert (rows[first.id]["ambiguous"], rows[second.id]["ambiguous"]) == (False, True)


def test_sweeps_asked_for_at_once_in_one_process_run_one_at_a_time(
        office: Instance, store: Store) -> None:
    _subscribe(store, 40)
    _queue(office, store)
    with smtp_sink() as (sink, port):
        sink.data_delay = 0.01
        configured = _configured(office, _smtp_env(port, NEWSLETTER_DELIVERY_CONNECTIONS="2"))
        sender = configured.sender(store, owner="one-process", clock=lambda: datetime.now(UTC))

        async def three_jobs() -> list[object]:
            stop = asyncio.Event()
            return list(await asyncio.gather(sender.sweep(stop), sender.sweep(stop),
                                             sender.sweep(stop)))

        results = asyncio.run(three_jobs())
    assert results[1:] == [None, None]  # the later jobs joined the running sweep
    copies = Counter(sink.message_ids())
    assert len(copies) == 40
    assert set(copies.values()) == {1}


@pytest.mark.slow
def test_a_second_sender_beside_a_slow_one_sends_nothing_twice(office: Instance,
                                                               store: Store) -> None:
    """`deliver` beside a running `deliver`: the slow one's leases are renewed, so the other
    takes only what nobody holds, and nothing is recorded as ambiguous because nothing was."""
    _subscribe(store, 120)
    _queue(office, store)
    with smtp_sink() as (sink, port):
        env = _smtp_env(port, NEWSLETTER_DELIVERY_LEASE="1", NEWSLETTER_DELIVERY_RATE="30",
                        NEWSLETTER_DELIVERY_CONNECTIONS="2")
        with _command(office, env, "deliver") as slow:
            wait_until(lambda: len(sink.messages) >= 5, "the slow one to send some")
            with _command(office, env, "deliver") as other:
                for process in (other, slow):
                    _, err = process.communicate(timeout=120)
                    assert process.returncode == 0, err
    rows = store.outbox.rows()
    assert {r["state"] for r in rows} == {"sent"}
    assert not any(r["ambiguous"] for r in rows)
    copies = Counter(sink.message_ids())
    assert set(copies) == {r["message_id"] for r in rows}
    assert set(copies.values()) == {1}


@pytest.mark.slow
def test_the_service_keeps_its_rate_and_sends_each_message_once(office: Instance,
                                                                store: Store) -> None:
    """`newsletter run` with its prepare, deliver and lease jobs all firing every second:
    one sweep at a time, one rate limit, every message once."""
    _subscribe(store, 60)
    _queue(office, store)
    rate = 15.0
    with smtp_sink() as (sink, port):
        env = _smtp_env(port, NEWSLETTER_DELIVERY_RATE=str(rate), NEWSLETTER_DELIVERY_LEASE="1",
                        NEWSLETTER_SCHEDULE_POLL_SECONDS="1",
                        NEWSLETTER_SCHEDULE_DELIVER_SECONDS="1")
        log = office.root / "run.log"
        env.update(NEWSLETTER_LOG_LEVEL="debug", NEWSLETTER_LOG_FORMAT="text")
        with log.open("w") as stderr, _command(office, env, "run", stderr=stderr) as service:
            wait_until(lambda: len(sink.messages) >= 60, "every message at the sink")
            idle = log.read_text().count("nothing due")
            # Two more sweeps, which must find nothing to send.
            wait_until(lambda: log.read_text().count("nothing due") >= idle + 2,
                       "two more sweeps")
            service.terminate()
            service.wait(timeout=60)
            assert service.returncode == 0, log.read_text()
        arrivals = list(sink.arrivals)
    copies = Counter(sink.message_ids())
    assert len(copies) == 60
    assert set(copies.values()) == {1}
    assert not any(r["ambiguous"] for r in store.outbox.rows())
    # Never faster than the configured rate: 60 starts at 15/s take at least 59/15 s.
    assert arrivals[-1] - arrivals[0] >= (len(arrivals) - 1) / rate * 0.9


# -- unsubscribing after queueing, and what retry may requeue ------------------------------


def test_an_address_that_leaves_after_queueing_is_skipped_with_the_reason(
        office: Instance, store: Store) -> None:
    _subscribe(store, 4, prefix="s")
    _queue(office, store)
    store.subscribers.unsubscribe(store.subscribers.get("s0@example.org").id, "daily", "web", FIXED_NOW)
    store.subscribers.set_status(store.subscribers.get("s1@example.org").id, "suppressed", "cli",
                                FIXED_NOW)
    with smtp_sink() as (sink, port):
        configured = _configured(office, _smtp_env(port))
        run = asyncio.run(configured.sender(store, owner="t",
                                 clock=lambda: datetime.now(UTC)).sweep(asyncio.Event()))
    assert run is not None
    assert (run.sent, run.skipped) == (2, 2)
    assert sorted(m.recipients[0] for m in sink.messages) == ["s2@example.org",
                                                              "s3@example.org"]
    rows = {r["address"]: r for r in store.outbox.rows()}
    assert rows["s0@example.org"]["state"] == "skipped"
    assert rows["s0@example.org"]["last_text"] == "skipped: unsubscribed in daily"
    assert rows["s1@example.org"]["last_text"] == "skipped: the address is suppressed"


def test_retry_requeues_temporary_failures_only(office: Instance, store: Store) -> None:
    plan: dict[str, list[str | None]] = {
        "perm@example.org": ["550 5.7.1 refused by policy"],
        "busy@example.org": ["451 4.3.0 busy"],
        "wait@example.org": ["451 4.3.0 later"],
        "gone@example.org": ["451 4.3.0 busy"],
    }
    store.subscribers.import_rows([check_subscriber(a) for a in plan], "daily",
                             consent_source="test", now=FIXED_NOW)
    _queue(office, store)
    now = datetime.now(UTC)
    with smtp_sink() as (sink, port):
        sink.faults.update(plan)
        env = _smtp_env(port, NEWSLETTER_DELIVERY_MAX_ATTEMPTS="1")
        configured = _configured(office, env)
        asyncio.run(configured.sender(store, owner="t", clock=lambda: now).sweep(
            asyncio.Event()))
        states = {r["address"]: r["state"] for r in store.outbox.rows()}
        assert states == {a: "failed" for a in plan}
        store.subscribers.set_status(store.subscribers.get("gone@example.org").id, "unsubscribed",
                                    "web", now)
        # One more temporary failure: retry state, waiting an hour.
        with store.transaction():
            store.db.execute("UPDATE outbox SET state = 'retry', next_attempt_at = ? "
                             "WHERE address = 'wait@example.org'",
                             ((now + timedelta(hours=1)).isoformat(),))
        result = CliRunner().invoke(cli, ["--config", str(office.config_path), "retry"],
                                    env={"NEWSLETTER_WEB_SECRET": SECRET})
        assert result.exit_code == 0, result.output
        assert "1 message(s) waiting to retry are due now; 1 failed message(s) queued" in (
            result.output)
        assert "1 permanently refused message(s) left" in result.output
        assert "1 failed message(s) to addresses no longer active" in result.output
        asyncio.run(_configured(office, _smtp_env(port)).sender(store, owner="t",
                           clock=lambda: now).sweep(asyncio.Event()))
    states = {r["address"]: r["state"] for r in store.outbox.rows()}
    assert states == {"perm@example.org": "failed", "busy@example.org": "sent",
                      "wait@example.org": "sent", "gone@example.org": "failed"}
    # A refusal by policy counts one of three; a "user unknown" would have stopped it.
    assert store.subscribers.get("perm@example.org").status == "active"


# -- a relay that is down ----------------------------------------------------------------------


def test_a_relay_that_is_down_stops_the_sweep_with_an_error(office: Instance,
                                                              store: Store) -> None:
    _subscribe(store, 200)
    _queue(office, store)
    port = free_port()  # nothing listens there
    started = time.monotonic()
    result = CliRunner().invoke(cli, ["--config", str(office.config_path), "deliver"],
                                env=_smtp_env(port))
    elapsed = time.monotonic() - started
    assert result.exit_code == 1
    assert f"Error: the relay 127.0.0.1:{port} is unreachable" in result.output
    assert "Hint: " in result.output
    # the operating system's reason, as the event loop words it (asyncio's or uvloop's)
    assert any(reason in result.output for reason in (
        "ConnectionRefused", "Connect call failed", "Connection refused"))
    counts = Counter(r["state"] for r in store.outbox.rows())
    assert counts["pending"] >= 190  # the rest stayed queued, untouched
    assert counts["pending"] + counts["retry"] == 200
    assert {r["attempts"] for r in store.outbox.rows()} == {0}  # not the messages' fault
    assert elapsed < 60  # it gave up, rather than trying 200 times


def test_the_service_backs_off_from_a_relay_that_is_down(office: Instance,
                                                         store: Store) -> None:
    _subscribe(store, 10)
    _queue(office, store)
    port = free_port()
    clock_now = [datetime.now(UTC)]
    sender = _configured(office, _smtp_env(port)).sender(store, owner="svc",
                    clock=lambda: clock_now[0])
    first = asyncio.run(sender.sweep(asyncio.Event()))
    assert first is not None
    assert first.unreachable is not None
    assert asyncio.run(sender.sweep(asyncio.Event())) is None  # backing off
    clock_now[0] += timedelta(seconds=sender.backoff + 1)
    with smtp_sink() as (sink, up):
        sender.relay = SmtpRelay(_configured(office, _smtp_env(up)).smtp_options(), 4)  # back
        clock_now[0] += timedelta(seconds=120)  # the deferred messages are due again
        again = asyncio.run(sender.sweep(asyncio.Event()))
    assert again is not None
    assert again.unreachable is None
    assert again.sent == 10
    assert (sender.backoff, sender.resume_at) == (0.0, None)


# -- counts that add up ------------------------------------------------------------------------


def test_send_dry_run_and_deliver_agree_on_what_is_due(office: Instance, store: Store,
                                                       tmp_path: Path) -> None:
    _subscribe(store, 3)
    _queue(office, store)  # three messages already queued, not yet sent
    drop(office.inbox.folder, "second.txt", SAMPLE_REPORT.read_text().replace(
        "Kazakhstan", "Kyrgyzstan"))
    with office.open_store() as other:
        ingest_inbox(other, office.inbox, office.settings.ingest, now=FIXED_NOW)
    config = ["--config", str(office.config_path)]
    with smtp_sink() as (sink, port):
        env = _smtp_env(port)
        runner = CliRunner()
        result = runner.invoke(cli, [*config, "send", "--list", "daily", "--report", "2"],
                               env=env)
        assert result.exit_code == 0, result.output
        assert "3 message(s) queued, 3 sent; 3 other due message(s) sent too" in result.output
        with store.transaction():
            store.db.execute("UPDATE outbox SET state = 'retry', next_attempt_at = ? "
                             "WHERE id = 1", ((datetime.now(UTC) + timedelta(hours=1))
                                              .isoformat(),))
        dry = runner.invoke(cli, [*config, "deliver", "--dry-run"], env=env)
        assert dry.output.startswith("0 message(s) due would be attempted")
        assert "1 waiting to retry" in dry.output
        real = runner.invoke(cli, [*config, "deliver"], env=env)
        assert real.output.startswith("Nothing was due; 1 waiting to retry, the next at ")
        assert len(sink.messages) == 6
