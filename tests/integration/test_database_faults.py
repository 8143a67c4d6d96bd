"""Every database fault is an Error: with a true Hint:, and nothing is half-written: a full
disk and a read-only file system (a real tmpfs of a few MB, mounted for the test), a database
locked by another process, and a PostgreSQL server restarted or stopped under a worker."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from newsletter.cli.main import cli
from newsletter.store import open_store
from tests.helpers import SAMPLE_REPORT, drop, wait_until
from tests.postgres import Cluster
from tests.processes import started as running

SECRET = "database-faults-secret-0123456789"


@pytest.fixture
def small_disk() -> Iterator[Path]:
    """A tmpfs of 4 MB of its own: filled, or remounted read-only, by the test."""
    folder = Path(tempfile.mkdtemp(prefix="newsletter-disk-"))
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(folder)],
                             capture_output=True, text=True)
    assert mounted.returncode == 0, (
        f"these tests mount a small tmpfs, as root: {mounted.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def office(tmp_path: Path, small_disk: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An office whose database lives on the small disk, with readers, a list and a report."""
    folder = tmp_path / "office"
    assert CliRunner().invoke(cli, ["init", str(folder)]).exit_code == 0
    (folder / "newsletter.toml").write_text(
        (folder / "newsletter.toml").read_text() + '\n[lists.daily]\ntitle = "Daily"\n')
    monkeypatch.chdir(folder)
    monkeypatch.setenv("NEWSLETTER_WEB_SECRET", SECRET)
    monkeypatch.setenv("NEWSLETTER_PATHS_DATABASE", str(small_disk / "newsletter.db"))
    drop(folder / "seeds", "sample.txt", SAMPLE_REPORT.read_bytes())
    for args in (["ingest"], ["subscribers", "add", "a@example.org", "--list", "daily"]):
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 0, result.output
    (folder / "more.csv").write_text("email\nb@example.org\nc@example.org\n")
    return folder


WRITES = [
    ["subscribers", "add", "z@example.org", "--list", "daily"],
    ["subscribers", "import", "more.csv", "--list", "daily"],
    ["lists", "add", "weekly", "--mode", "weekly"],
    ["summarise", "--all"],
    ["reviewers", "add", "ann"],
    ["digest", "--list", "daily"],
]


# What each command would have written, looked up afterwards: a command that failed must
# have left none of it.
EFFECTS = {
    "ingest": "SELECT count(*) - 1 FROM reports",
    "subscribers add": "SELECT count(*) FROM subscribers WHERE email = 'z@example.org'",
    "subscribers import": "SELECT count(*) FROM subscribers WHERE email IN "
                          "('b@example.org', 'c@example.org')",
    "lists add": "SELECT count(*) FROM lists WHERE name = 'weekly'",
    "summarise": "SELECT 0",
    "reviewers add": "SELECT count(*) FROM reviewers WHERE name = 'ann'",
    "digest": "SELECT count(*) FROM issues",
}


def _counts(database: Path) -> tuple[int, int, int, str]:
    with closing(sqlite3.connect(database)) as db:
        return (db.execute("SELECT count(*) FROM subscribers").fetchone()[0],
                db.execute("SELECT count(*) FROM reports").fetchone()[0],
                db.execute("SELECT count(*) FROM issues").fetchone()[0],
                db.execute("PRAGMA integrity_check").fetchone()[0])


def _effect(database: Path, args: list[str]) -> int:
    name = " ".join(args[:2]) if args[0] in ("subscribers", "lists", "reviewers") else args[0]
    with closing(sqlite3.connect(database)) as db:
        return int(db.execute(EFFECTS[name]).fetchone()[0])


def _run(args: list[str]) -> tuple[int, str]:
    result = CliRunner().invoke(cli, args,
                                env={"NEWSLETTER_REVIEWER_PASSWORD": "a long enough password"})
    return result.exit_code, result.output


def test_a_full_disk_is_an_error_with_a_hint_and_nothing_half_written(
        office: Path, small_disk: Path) -> None:
    database = small_disk / "newsletter.db"
    before = _counts(database)
    filler = small_disk / "filler"
    with filler.open("wb", buffering=0) as handle:  # full: every page SQLite adds fails
        try:
            while True:
                handle.write(b"\0" * 65536)
                handle.flush()
        except OSError:
            pass
    drop(office / "seeds", "new.txt", SAMPLE_REPORT.read_text().replace("Kazakhstan", "Chad"))
    failed = []
    for args in [["ingest"], *WRITES]:
        code, output = _run(args)
        assert "Traceback" not in output, (args, output)
        # A write that fits in the pages SQLite already has may still succeed; one that does
        # not is refused whole, saying why.
        assert code in (0, 1), (args, output)
        if code == 1:
            assert f"Error: the disk holding the database {database} is full" in output, output
            assert "Hint: free space on the disk" in output, output
            failed.append(args)
    assert len(failed) >= 4, failed
    filler.unlink()
    assert _counts(database)[3] == "ok"
    for args in failed:
        assert _effect(database, args) == 0, args  # nothing of it was half-written
    assert before[3] == "ok"


def test_a_read_only_database_is_an_error_with_a_hint(office: Path, small_disk: Path) -> None:
    database = small_disk / "newsletter.db"
    before = _counts(database)
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    try:
        for args in WRITES:
            code, output = _run(args)
            assert code == 1, (args, output)
            assert "Traceback" not in output, (args, output)
            assert "cannot be written" in output, output
            assert "Hint: let the user running newsletter write" in output, output
    finally:
        subprocess.run(["mount", "-o", "remount,rw", str(small_disk)], check=True)
    assert _counts(database) == before


def test_a_database_locked_by_another_process_says_so_and_who(
        office: Path, small_disk: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    database = small_disk / "newsletter.db"
    with open_store(database) as store:  # a worker's heartbeat, alive now
        store.workers.beat("host:4242", role="deliver", host="relayhost", pid=4242, detail="",
                           now=datetime.now(UTC))
    locked, release = threading.Event(), threading.Event()

    def hold() -> None:
        holder = sqlite3.connect(database, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        locked.set()
        release.wait(60)
        holder.execute("ROLLBACK")
        holder.close()

    thread = threading.Thread(target=hold)
    thread.start()
    assert locked.wait(10)
    monkeypatch.setenv("NEWSLETTER_DATABASE_BUSY_SECONDS", "0.5")
    try:
        code, output = _run(["subscribers", "add", "y@example.org", "--list", "daily"])
    finally:
        release.set()
        thread.join()
    assert code == 1
    assert "Traceback" not in output
    assert "is locked by another process" in output
    assert "run this again in a moment" in output
    assert "deliver on relayhost (pid 4242)" in output
    assert "restore" not in output  # never the advice that would replace a live database


@pytest.mark.slow
@pytest.mark.parametrize(("command", "started"), [
    (["worker", "deliver"], "Delivering through"), (["scheduler"], "Scheduling;")],
    ids=["delivery-worker", "scheduler"])
def test_a_running_process_rides_out_a_postgresql_restart_and_gives_up_after_the_limit(
        postgres_cluster: Cluster, postgres_url: str, tmp_path: Path, command: list[str],
        started: str) -> None:
    folder = tmp_path / "office"
    assert CliRunner().invoke(cli, ["init", str(folder)]).exit_code == 0
    env = {**os.environ, "NEWSLETTER_DATABASE_URL": postgres_url,
           "NEWSLETTER_WEB_SECRET": SECRET, "NEWSLETTER_DELIVERY_POLL_SECONDS": "0.2",
           "NEWSLETTER_DATABASE_OUTAGE_SECONDS": "8", "NEWSLETTER_LOG_FORMAT": "text",
           "NEWSLETTER_SCHEDULE_POLL_SECONDS": "0.5", "NEWSLETTER_SCHEDULE_DELIVER_SECONDS": "0.5",
           "NEWSLETTER_LOG_LEVEL": "info"}
    migrate = subprocess.run([sys.executable, "-m", "newsletter", "db", "migrate"], cwd=folder,
                             env=env, capture_output=True, text=True, timeout=60)
    assert migrate.returncode == 0, migrate.stderr
    log = folder / "worker.log"
    with log.open("w") as stderr, running([sys.executable, "-m", "newsletter", *command],
                                          cwd=folder, env=env, stdout=subprocess.DEVNULL,
                                          stderr=stderr) as worker:
        try:
            wait_until(lambda: started in log.read_text(), "the process to start", 60)
            postgres_cluster.restart()  # pg_ctl restart -m fast: every connection is cut
            restarted = datetime.now(UTC)
            wait_until(lambda: _beat_since(postgres_url, restarted),
                       "a heartbeat of the worker after the restart", 60)
            assert worker.poll() is None  # it rode the restart out
            during_restart = log.read_text()
            postgres_cluster.stop_server()  # now for longer than outage_seconds
            worker.wait(timeout=90)
        finally:
            postgres_cluster.start_server()
    text = log.read_text()
    after_stop = text[len(during_restart):]
    assert worker.returncode == 1
    assert "Traceback" not in text
    # One line per outage, not one per failure: the restart is one if a job ran into it (on
    # a busy machine one may), the stop is one; and no line per retry from the driver.
    assert during_restart.count("database unavailable") <= 1, during_restart
    assert after_stop.count("database unavailable") == 1, after_stop
    assert len(after_stop.splitlines()) <= 4, after_stop
    assert "Error: the database" in text
    assert "has been unavailable for" in text
    assert "Hint:" in text


def _beat_since(url: str, moment: datetime) -> bool:
    import psycopg

    with psycopg.connect(url, autocommit=True) as db:
        row = db.execute("SELECT max(heartbeat_at) FROM workers").fetchone()
    return row is not None and row[0] is not None and datetime.fromisoformat(row[0]) > moment
