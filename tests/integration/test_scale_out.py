"""Scale-out on a real PostgreSQL: one scheduler and many workers on one database, moving an
office from SQLite with `db copy`, a kill test with SIGKILL at random, and a frozen
scheduler fenced and replaced."""

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
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from newsletter.app import Instance, load_instance
from newsletter.cli.main import cli
from newsletter.service.scheduler import LEASE
from newsletter.store import open_store
from newsletter.translate.packages import install
from tests.helpers import SAMPLE_REPORT, drop, wait_until
from tests.office import (
    add_config,
    ingest_sample,
    queue_alert,
    readers,
    relay_env,
    report_text,
    subscribe,
    with_config,
)
from tests.processes import end
from tests.smtp_server import Sink, free_port, plan_faults, smtp_sink
from tests.tiny_argos import TinyPackage

SECRET = "scale-out-test-secret-0123456789"
ALERTS = ('[lists.alerts]\ntitle = "Alerts"\nmode = "alerts"\n'
          'languages = ["en", "ru", "kk"]\n')


def _env(url: str, port: int, **extra: str) -> dict[str, str]:
    """What every process of the office gets: the shared database, the relay, and short
    leases and polls so that the test runs in seconds."""
    return {**os.environ, "NEWSLETTER_DATABASE_URL": url, "NEWSLETTER_WEB_SECRET": SECRET,
            **relay_env(port),
            "NEWSLETTER_DELIVERY_LEASE": "2", "NEWSLETTER_SCHEDULE_LEASE_SECONDS": "2",
            "NEWSLETTER_SCHEDULE_POLL_SECONDS": "0.5",
            "NEWSLETTER_SCHEDULE_DELIVER_SECONDS": "0.5",
            "NEWSLETTER_DELIVERY_POLL_SECONDS": "0.3", "NEWSLETTER_INGEST_SETTLE_SECONDS": "0",
            "NEWSLETTER_DELIVERY_RETRY_BASE_SECONDS": "0.2",
            "NEWSLETTER_DELIVERY_RETRY_CAP_SECONDS": "0.5",
            "NEWSLETTER_DELIVERY_MAX_ATTEMPTS": "20", "NEWSLETTER_DELIVERY_CONNECTIONS": "2",
            "NEWSLETTER_TRANSLATE_JOB_LEASE_SECONDS": "3",
            "NEWSLETTER_TRANSLATE_ALERT_WAIT_SECONDS": "30", **extra}


@pytest.fixture
def office(instance: Instance, postgres_url: str,
           tiny_models: dict[str, TinyPackage]) -> Instance:
    """An office on its own PostgreSQL database, with an alerts list in three languages and
    the tiny en→ru and en→kk models."""
    loaded = with_config(instance, ALERTS, {"NEWSLETTER_DATABASE_URL": postgres_url,
                                            "NEWSLETTER_WEB_SECRET": SECRET})
    for package in (tiny_models["en_ru"], tiny_models["en_kk"]):
        install(package.archive, loaded.settings.packages_dir)
    return loaded


def _subscribe_mixed(office: Instance, count: int) -> list[str]:
    addresses = readers(count)
    with office.open_store() as store:
        for language in ("en", "ru", "kk"):
            subscribe(store, "alerts", [a for i, a in enumerate(addresses)
                                        if ("en", "ru", "kk")[i % 3] == language],
                      language=language)
    return addresses


class Processes:
    """The office's processes, started with one environment, each by its role. Used as a
    context manager: leaving stops them all (SIGTERM), and a failure inside the block is
    reported with what each process wrote to its standard error."""

    ROLES = {"scheduler": ["scheduler"], "deliver": ["worker", "deliver"],
             "translate": ["worker", "translate"]}

    def __init__(self, office: Instance, env: dict[str, str]) -> None:
        self.office = office
        self.env = env
        self.running: dict[str, subprocess.Popen[bytes]] = {}
        self.gone: list[subprocess.Popen[bytes]] = []  # replaced by a new one of their name

    def start(self, name: str, role: str | None = None,
              *extra: str) -> subprocess.Popen[bytes]:
        role = role or name.split("-")[0]
        process = subprocess.Popen(
            [sys.executable, "-m", "newsletter", "--config", str(self.office.config_path),
             *self.ROLES[role], *extra], env=self.env, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, start_new_session=True)
        if name in self.running:
            self.gone.append(self.running[name])
        self.running[name] = process
        return process

    def command(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "newsletter", "--config",
                               str(self.office.config_path), *args], env=self.env,
                              capture_output=True, text=True, timeout=60)

    def wait_until_up(self) -> None:
        """Wait until every running process has beaten once: from then on SIGTERM stops it
        cleanly (its handler is set before the first beat)."""
        def up() -> bool:
            with self.office.open_store() as store:
                beating = {beat.pid for beat in store.workers.listing()}
            return all(p.pid in beating for p in self.running.values() if p.poll() is None)

        wait_until(up, "every process to start", 60)

    def stop_all(self) -> dict[str, tuple[int, str]]:
        outcomes = {}
        for process in self.running.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for name, process in self.running.items():
            _, err = process.communicate(timeout=60)
            outcomes[name] = (process.returncode, err.decode(errors="replace"))
        return outcomes

    def __enter__(self) -> Processes:
        return self

    def __exit__(self, kind: object, error: object, _: object) -> None:
        try:
            self.outcomes = self.stop_all()
        finally:
            for process in [*self.running.values(), *self.gone]:
                end(process)  # whatever did not stop, and anything it forked
        if error is not None:
            logs = "\n".join(f"--- {name} (exit {code}):\n{err[-3000:]}"
                             for name, (code, err) in self.outcomes.items())
            raise AssertionError(f"{error}\n{logs}") from error  # type: ignore[misc]


def _flowed(sink: Sink, count: int, office: Instance) -> bool:
    return len(sink.messages) >= count or not _moving(office)


def _moving(office: Instance) -> bool:
    """Some message is due or on its way (not all sent, failed or waiting to retry)."""
    with office.open_store() as store:
        states = store.outbox.counts()
    return any(states.get(state, 0) for state in ("pending", "sending", "transmitting"))


def test_an_office_moves_from_sqlite_to_postgresql(instance: Instance,
                                                   postgres_url: str) -> None:
    sqlite_office = with_config(instance, ALERTS, {"NEWSLETTER_WEB_SECRET": SECRET})
    ingest_sample(sqlite_office)
    with sqlite_office.open_store() as store:
        subscribe(store, "alerts", readers(25))
        queue_alert(sqlite_office, store, "alerts")
        store.reviewers.save("aigul", "argon2-hash", store.now())
        store.reviewers.open_session("token", "aigul", "csrf", store.now(),
                                     store.now() + timedelta(hours=8))
        before = {"reports": store.reports.by_language(), "outbox": store.outbox.counts()}
    runner = CliRunner()
    config = ["--config", str(sqlite_office.config_path)]
    for same in (f"sqlite:///{sqlite_office.settings.database_path}",):
        refused = runner.invoke(cli, [*config, "db", "copy", "--to", same])
        assert refused.exit_code == 1
        assert "is the database this office uses" in refused.output
    copied = runner.invoke(cli, [*config, "db", "copy", "--to", postgres_url, "--json"])
    assert copied.exit_code == 0, copied.output
    tables = json.loads(copied.output)["tables"]
    assert (tables["reports"], tables["subscribers"], tables["outbox"]) == (1, 25, 25)
    again = runner.invoke(cli, [*config, "db", "copy", "--to", postgres_url])
    assert again.exit_code == 1
    assert "is not empty" in again.output
    moved = load_instance(sqlite_office.config_path, cwd=sqlite_office.root,
                          environ={"NEWSLETTER_DATABASE_URL": postgres_url,
                                   "NEWSLETTER_WEB_SECRET": SECRET})
    with moved.open_store() as store:
        assert store.backend == "postgresql"
        assert {"reports": store.reports.by_language(),
                "outbox": store.outbox.counts()} == before
        assert store.reviewers.names() == ["aigul"]
        session = store.reviewers.session("token", store.now())
        assert session is not None  # still logged in after the move
        assert session.reviewer == "aigul"
    # With NEWSLETTER_DATABASE_URL exported first (the office now reads PostgreSQL), a copy
    # "to" it, however the address is written, is a copy onto itself: refused.
    for same in (postgres_url, postgres_url + ("&" if "?" in postgres_url else "?")
                 + "application_name=copy"):
        onto_itself = runner.invoke(cli, [*config, "db", "copy", "--to", same],
                                    env={"NEWSLETTER_DATABASE_URL": postgres_url})
        assert onto_itself.exit_code == 1, onto_itself.output
        assert "is the database this office uses" in onto_itself.output
        assert "unset it for the copy" in onto_itself.output
    ingest_sample(moved, reports={"second.txt": SAMPLE_REPORT.read_text().replace(
        "Kazakhstan", "Tajikistan")})
    with moved.open_store() as store:
        assert [r.id for r in store.reports.newest()] == [2, 1]  # IDs go on after the copy
    status = runner.invoke(cli, [*config, "status", "--json"],
                           env={"NEWSLETTER_DATABASE_URL": postgres_url})
    assert status.exit_code == 0, status.output
    assert json.loads(status.output)["backend"] == "postgresql"


def test_db_migrate_on_postgresql_and_a_password_kept_out_of_the_file(
        instance: Instance, postgres_url: str) -> None:
    runner = CliRunner()
    config = ["--config", str(instance.config_path)]
    first = runner.invoke(cli, [*config, "db", "migrate"],
                          env={"NEWSLETTER_DATABASE_URL": postgres_url})
    assert first.exit_code == 0, first.output
    assert "Applied 0001_reports" in first.output
    second = runner.invoke(cli, [*config, "db", "migrate"],
                           env={"NEWSLETTER_DATABASE_URL": postgres_url})
    assert "Applied" not in second.output
    assert "schema at version" in second.output
    text = instance.config_path.read_text()
    instance.config_path.write_text(text.replace(
        "[database]\n", '[database]\nurl = "postgresql://newsletter:hunter2@db.example.org/x"\n', 1))
    refused = runner.invoke(cli, [*config, "status"])
    assert refused.exit_code == 1
    assert "carries a password" in refused.output
    assert "hunter2" not in refused.output


def test_a_scheduler_and_workers_share_one_postgresql_database(office: Instance,
                                                               postgres_url: str) -> None:
    addresses = _subscribe_mixed(office, 300)
    with smtp_sink() as (sink, port):
        with Processes(office, _env(postgres_url, port)) as processes:
            for name in ("scheduler", "deliver-a", "deliver-b", "translate"):
                processes.start(name)
            drop(office.inbox.folder, "floods.txt", report_text("Floods", datetime.now(UTC).date()))
            wait_until(lambda: len(sink.messages) >= len(addresses), "every reader's alert", 120)
            listed = processes.command("workers", "--json")
            assert listed.returncode == 0, listed.stderr
            beats = [json.loads(line) for line in listed.stdout.splitlines()]
            assert sorted(b["role"] for b in beats) == ["deliver", "deliver", "scheduler",
                                                       "translate"]
            assert {b["state"] for b in beats} == {"alive"}
            (scheduler,) = [b for b in beats if b["role"] == "scheduler"]
            assert any("scheduler lease" in held for held in scheduler["holds"])
        outcomes = processes.outcomes
    assert all(code == 0 for code, _ in outcomes.values()), outcomes
    received = Counter(m.recipients[0] for m in sink.messages)
    assert received == Counter(addresses)  # every reader once, sent by either worker
    with office.open_store() as store:
        assert store.jobs.counts() == {"done": 1}
        assert set(store.editions.of(1)) == {"ru", "kk"}  # translated by the worker
        assert store.outbox.counts() == {"sent": len(addresses)}
        assert all(b.stopped_at is not None for b in store.workers.listing())


@pytest.mark.slow
def test_scheduler_and_workers_killed_at_random_on_postgresql_lose_nothing(
        office: Instance, postgres_url: str) -> None:
    """The promise at scale: one scheduler, three delivery workers and a translation worker
    (tiny model) on one PostgreSQL database send 5,000 messages to a relay with faults, while
    processes of every role are killed with SIGKILL at random moments and started again, at
    least 20 times. Every reader gets exactly one sent row or a recorded permanent failure,
    the relay receives every message that was sent, and every duplicate is recorded as
    ambiguous. Its figures go to test-artifacts/kill-test-postgresql.json."""
    rng = random.Random(20261204)
    addresses = _subscribe_mixed(office, 5_000)
    faults, permanent = plan_faults(addresses, rng, temporary=40, permanent=5)
    names = ["scheduler", "deliver-a", "deliver-b", "deliver-c", "translate"]
    kills = mid_send = 0
    with smtp_sink() as (sink, port):
        sink.faults.update(faults)
        # Slow enough that the kills land while messages flow, however fast this machine is.
        sink.data_delay = 0.01
        with Processes(office, _env(postgres_url, port)) as processes:
            for name in names:
                processes.start(name)
            drop(office.inbox.folder, "floods.txt", report_text("Floods", datetime.now(UTC).date()))
            wait_until(lambda: len(sink.messages) > 0, "the first message", 120)
            deadline = time.monotonic() + 300
            while (kills < 24 or mid_send < 20) and kills < 60 and time.monotonic() < deadline:
                # The next kill lands once a random number of messages more reached the
                # relay (or at once when nothing is on its way).
                target = len(sink.messages) + rng.randint(5, 40)
                wait_until(functools.partial(_flowed, sink, target, office),
                           "messages to flow before the next kill")
                victim = rng.choice(names)
                if 0 < len(sink.messages) < len(addresses) - len(permanent):
                    mid_send += 1
                processes.running[victim].kill()
                processes.running[victim].communicate(timeout=30)
                kills += 1
                processes.start(victim)

            def settled() -> bool:
                with office.open_store() as store:
                    states = store.outbox.counts()
                return (sum(states.values()) == len(addresses)
                        and set(states) <= {"sent", "failed"})

            wait_until(settled, "every message sent or failed for good", 300)
            processes.wait_until_up()  # a process killed while it starts exits by the signal
        outcomes = processes.outcomes
        received = Counter(sink.message_ids())
    assert all(code == 0 for code, _ in outcomes.values()), outcomes
    with office.open_store() as store:
        rows = store.outbox.rows()
    assert kills >= 20
    assert mid_send >= 15  # most kills landed while messages were flowing
    by_address = {row["address"]: row for row in rows}
    assert len(rows) == len(addresses)  # one alert, one row per reader
    assert {a for a, r in by_address.items() if r["state"] == "failed"} == permanent
    assert {a for a, r in by_address.items() if r["state"] == "sent"} == (
        set(addresses) - permanent)
    sent_ids = {r["message_id"] for r in rows if r["state"] == "sent"}
    assert set(received) == sent_ids
    duplicates = {mid for mid, n in received.items() if n > 1}
    ambiguous = {r["message_id"] for r in rows if r["ambiguous"]}
    assert duplicates <= ambiguous
    artifacts = Path(__file__).resolve().parents[2] / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    (artifacts / "kill-test-postgresql.json").write_text(json.dumps({
        "kills": kills, "mid_send": mid_send, "messages": len(addresses),
        "received": sum(received.values()), "duplicates": len(duplicates),
        "ambiguous": len(ambiguous), "permanent": len(permanent)}, indent=2) + "\n")


@pytest.mark.slow
def test_a_frozen_scheduler_is_fenced_and_replaced(office: Instance, postgres_url: str) -> None:
    """SIGSTOP the scheduler that holds the lease: the standby takes over once the lease runs
    out and sends the next alert; the frozen one, woken, finds the lease gone, makes nothing
    and exits with an error."""
    addresses = _subscribe_mixed(office, 30)
    with smtp_sink() as (sink, port):
        with Processes(office, _env(postgres_url, port)) as processes:
            first = processes.start("scheduler-a", "scheduler")

            def holder() -> str | None:
                with open_store(postgres_url) as store:
                    held = store.leases.holder(LEASE)
                return None if held is None else held.owner

            wait_until(lambda: holder() is not None, "the first scheduler's lease", 60)
            held_by_first = holder()
            assert held_by_first is not None
            assert held_by_first.endswith(f":{first.pid}")
            second = processes.start("scheduler-b", "scheduler")
            processes.start("deliver")
            processes.start("translate")
            first.send_signal(signal.SIGSTOP)
            wait_until(lambda: holder() == held_by_first.replace(str(first.pid), str(second.pid)),
                       "the standby to take the lease over", 30)
            drop(office.inbox.folder, "floods.txt", report_text("Floods", datetime.now(UTC).date()))
            wait_until(lambda: len(sink.messages) >= len(addresses), "the alert", 90)
            first.send_signal(signal.SIGCONT)
            _, err = first.communicate(timeout=30)
            assert first.returncode == 1
            assert "no longer holds the scheduler lease" in err.decode()
        outcomes = processes.outcomes
    assert outcomes["scheduler-b"][0] == 0, outcomes["scheduler-b"][1]
    assert Counter(m.recipients[0] for m in sink.messages) == Counter(addresses)
    with office.open_store() as store:
        assert store.issues.sent_in("alerts", 1) is not None
        assert store.outbox.counts() == {"sent": len(addresses)}


def test_queue_only_leaves_the_sending_to_a_worker_on_another_relay(
        office: Instance, postgres_url: str) -> None:
    """`send --queue-only` queues and sends nothing; a delivery worker started with
    `--relay NAME` sends through that relay, not [smtp]."""
    addresses = _subscribe_mixed(office, 12)
    ingest_sample(office, reports={"floods.txt": report_text("Floods",
                                                             datetime.now(UTC).date())})
    with smtp_sink() as (sink, port):
        add_config(office.config_path, f'[relays.second]\nhost = "127.0.0.1"\nport = {port}\n'
                                       'security = "none"\n')
        # [smtp] points at a port where nothing listens: only the named relay can deliver.
        processes = Processes(office, _env(postgres_url, free_port()))
        queued = processes.command("send", "--list", "alerts", "--report", "1",
                                   "--queue-only")
        assert queued.returncode == 0, queued.stderr
        assert "12 message(s) queued" in queued.stdout
        assert sink.messages == []
        with office.open_store() as store:
            assert store.outbox.counts() == {"pending": 12}
        with processes:
            processes.start("deliver-second", "deliver", "--relay", "second")
            wait_until(lambda: len(sink.messages) >= 12, "the worker on the named relay", 60)
        assert processes.outcomes["deliver-second"][0] == 0
    assert sorted(m.recipients[0] for m in sink.messages) == sorted(addresses)
