"""Storage: one repository of queries per concept over one connection (I/O).

``store.reports``, ``store.summaries``, ``store.editions`` (and the translation cache),
``store.subscribers``, ``store.lists``, ``store.issues``, ``store.outbox``, ``store.runs``
(schedule runs), ``store.leases``, ``store.jobs`` (translation jobs), ``store.workers``
(heartbeats), ``store.failures`` (steps that failed for one report), ``store.bounces`` (what
came back), ``store.readers`` (a reader's history, data and erasure) and ``store.inbox``
(files seen, quarantine) each hold the SQL of their concept and return typed values.
:meth:`Store.transaction` is the one place that commits; a single statement commits itself,
and transactions nest as savepoints. What differs between databases is in
:mod:`newsletter.store.dialect`, the schema in :mod:`newsletter.store.migrations`.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from newsletter.errors import StoreError
from newsletter.store.bounces import Bounces
from newsletter.store.database import Database, connect_postgresql, connect_sqlite, display_url
from newsletter.store.dialect import SQLITE
from newsletter.store.editions import Editions, Reviews
from newsletter.store.failures import Failures
from newsletter.store.faults import database_fault
from newsletter.store.feeds import Feeds
from newsletter.store.holds import Holds
from newsletter.store.inbox import Inbox
from newsletter.store.issues import Issues
from newsletter.store.jobs import TranslationJobs
from newsletter.store.leases import Leases
from newsletter.store.lists import Lists
from newsletter.store.memory import Memory
from newsletter.store.migration import Migration
from newsletter.store.migrations import migrate
from newsletter.store.outbox import Outbox
from newsletter.store.readers import Readers
from newsletter.store.reports import Reports
from newsletter.store.reviewers import Reviewers
from newsletter.store.schedule import ScheduleRuns
from newsletter.store.schema import MIGRATIONS
from newsletter.store.subscribers import Subscribers
from newsletter.store.summaries import Summaries
from newsletter.store.workers import Workers

__all__ = ["MIGRATIONS", "Migration", "Store", "is_postgresql", "live_processes", "open_store"]


class Store:
    """One open database and its repositories. Use :func:`open_store`; close with
    :meth:`close` or ``with``."""

    def __init__(self, db: Database, applied: Sequence[str] = ()) -> None:
        self.db = db
        self.applied = list(applied)  # the migrations opening it applied
        self.reports = Reports(db)
        self.inbox = Inbox(db)
        self.summaries = Summaries(db)
        self.editions = Editions(db)
        self.subscribers = Subscribers(db)
        self.lists = Lists(db)
        self.issues = Issues(db)
        self.outbox = Outbox(db)
        self.runs = ScheduleRuns(db)
        self.leases = Leases(db)
        self.jobs = TranslationJobs(db)
        self.reviews = Reviews(db)
        self.holds = Holds(db)
        self.memory = Memory(db)
        self.reviewers = Reviewers(db)
        self.workers = Workers(db)
        self.failures = Failures(db)
        self.bounces = Bounces(db)
        self.readers = Readers(db)
        self.feeds = Feeds(db)

    @property
    def where(self) -> str:
        """The database, for people: its file, or its URL without the password."""
        return self.db.where

    @property
    def backend(self) -> str:
        return self.db.dialect.name

    def now(self) -> datetime:
        """The database's clock (see :meth:`Database.now`)."""
        return self.db.now()

    def clock(self) -> Callable[[], datetime]:
        """A clock that follows the database's: this machine's time corrected by how far it
        is from the database server's, measured now and again every minute. Leases and due
        times are compared in one time, whichever machine a process runs on. SQLite lives on
        this machine, so its clock is this machine's."""
        if self.db.dialect is SQLITE:
            return _utc_now
        offset = self.db.now() - _utc_now()
        measured = time.monotonic()

        def now() -> datetime:
            nonlocal offset, measured
            if time.monotonic() - measured > 60:
                offset, measured = self.db.now() - _utc_now(), time.monotonic()
            return _utc_now() + offset

        return now

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """What the block writes commits together, or not at all (see
        :meth:`Database.transaction`)."""
        with self.db.transaction():
            yield

    @property
    def schema_version(self) -> int:
        return int(self.db.scalar("SELECT count(*) FROM schema_migrations"))


def _utc_now() -> datetime:
    return datetime.now(UTC)


def is_postgresql(target: str | Path) -> bool:
    return isinstance(target, str) and target.startswith(("postgresql://", "postgres://"))


def open_store(target: str | Path, *, migrations: Sequence[Migration] = MIGRATIONS,
               pool_size: int = 4, busy_seconds: float = 30.0) -> Store:
    """Open the database ``target`` and apply missing migrations: a SQLite file (a path, or
    ``sqlite:///PATH``; created if needed) or a PostgreSQL URL (``postgresql://…``)."""
    if is_postgresql(target):
        return _open_postgresql(str(target), migrations, pool_size)
    path = Path(str(target).removeprefix("sqlite://")) if isinstance(target, str) else target
    try:
        db = connect_sqlite(path, busy_seconds=busy_seconds)
    except sqlite3.DatabaseError as exc:
        # A lock, a full disk or a read-only file is said as such: following the hint of an
        # unusable file (restore a backup) would replace a live database.
        raise database_fault(exc, str(path)) or _unusable(str(path), exc) from exc
    except OSError as exc:
        raise StoreError(
            f"cannot open the database {path}: {exc}",
            hint="check that the folder exists and is writable, or set [paths] database",
        ) from exc
    try:
        applied = migrate(db, migrations)
    except sqlite3.DatabaseError as exc:
        db.close()
        raise database_fault(exc, str(path)) or _unusable(str(path), exc) from exc
    except StoreError:
        db.close()
        raise
    return Store(db, applied)


def _open_postgresql(url: str, migrations: Sequence[Migration], pool_size: int) -> Store:
    import psycopg
    import psycopg_pool

    try:
        db = connect_postgresql(url, pool_size=pool_size)
    except (psycopg.Error, psycopg_pool.PoolTimeout) as exc:
        raise StoreError(
            f"cannot connect to the database {display_url(url)}: {str(exc).strip()}",
            hint="check that PostgreSQL is running and [database] url (host, port, user, "
                 "database name; the password goes in NEWSLETTER_DATABASE_URL)",
        ) from exc
    try:
        applied = migrate(db, migrations)
    except psycopg.Error as exc:
        db.close()
        raise (database_fault(exc, display_url(url))
               or _unusable(display_url(url), exc)) from exc
    except StoreError:
        db.close()
        raise
    return Store(db, applied)


def live_processes(target: str | Path, *, within: float = 60.0) -> list[str]:
    """The processes whose heartbeat says they use the SQLite database ``target`` now, for
    a "locked by another process" message: read without waiting for any lock (WAL readers
    never wait for the writer); nothing when it cannot be read."""
    if is_postgresql(target):
        return []
    path = Path(str(target).removeprefix("sqlite://"))
    since = (datetime.now(UTC) - timedelta(seconds=within)).isoformat(timespec="seconds")
    try:
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1.0)
        try:
            rows = connection.execute(
                """SELECT role, host, pid FROM workers WHERE stopped_at IS NULL
                   AND heartbeat_at >= ? ORDER BY role, started_at""", (since,)).fetchall()
        finally:
            connection.close()
    except sqlite3.Error:
        return []
    return [f"{role} on {host} (pid {pid})" for role, host, pid in rows]


def _unusable(where: str, exc: Exception) -> StoreError:
    return StoreError(
        f"{where} is not a usable newsletter database: {exc}",
        hint="point [paths] database at a new file, or restore this one from a backup",
    )
