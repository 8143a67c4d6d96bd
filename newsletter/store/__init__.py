"""Storage: one repository of queries per concept over one connection (I/O).

``store.reports``, ``store.summaries``, ``store.editions`` (and the translation cache),
``store.subscribers``, ``store.lists``, ``store.issues``, ``store.outbox``, ``store.runs``
(schedule runs), ``store.leases`` and ``store.inbox`` (files seen, quarantine) each hold the
SQL of their concept and return typed values. :meth:`Store.transaction` is the one place that
commits; a single statement commits itself, and transactions nest as savepoints. What differs
between databases is in :mod:`newsletter.store.dialect`, the schema in
:mod:`newsletter.store.migrations`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from newsletter.errors import StoreError
from newsletter.store.database import Database, connect_sqlite
from newsletter.store.editions import Editions
from newsletter.store.inbox import Inbox
from newsletter.store.issues import Issues
from newsletter.store.leases import Leases
from newsletter.store.lists import Lists
from newsletter.store.migrations import MIGRATIONS, Migration, migrate
from newsletter.store.outbox import Outbox
from newsletter.store.reports import Reports
from newsletter.store.schedule import ScheduleRuns
from newsletter.store.subscribers import Subscribers
from newsletter.store.summaries import Summaries

__all__ = ["MIGRATIONS", "Migration", "Store", "open_store"]


class Store:
    """One open database and its repositories. Use :func:`open_store`; close with
    :meth:`close` or ``with``."""

    def __init__(self, db: Database) -> None:
        self.db = db
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

    @property
    def path(self) -> Path:
        return self.db.path

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


def open_store(path: Path, *, migrations: Sequence[Migration] = MIGRATIONS) -> Store:
    """Open (creating if needed) the database at ``path`` and apply missing migrations."""
    try:
        db = connect_sqlite(path)
    except (OSError, sqlite3.OperationalError) as exc:
        raise StoreError(
            f"cannot open the database {path}: {exc}",
            hint="check that the folder exists and is writable, or set [paths] database",
        ) from exc
    except sqlite3.DatabaseError as exc:
        raise _unusable(path, exc) from exc
    try:
        migrate(db, migrations)
    except sqlite3.DatabaseError as exc:
        db.close()
        raise _unusable(path, exc) from exc
    except StoreError:
        db.close()
        raise
    return Store(db)


def _unusable(path: Path, exc: Exception) -> StoreError:
    return StoreError(
        f"{path} is not a usable newsletter database: {exc}",
        hint="point [paths] database at a new file, or restore this one from a backup",
    )
