"""Applying the schema's named migrations (:mod:`newsletter.store.schema`) in order (I/O).

Each migration runs in its own transaction and is recorded in ``schema_migrations`` by number
and name; opening a database applies the missing ones and refuses a database whose schema is
newer than this program, or whose recorded names differ (another program or branch wrote it).
The DDL is written once for every dialect: ``{id}`` is the dialect's integer key
(:mod:`newsletter.store.dialect`); statements end with ``;`` at the end of a line.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from newsletter.errors import StoreError
from newsletter.store.database import Database, stamp
from newsletter.store.migration import Migration
from newsletter.store.schema import MIGRATIONS


def migrate(db: Database, migrations: Sequence[Migration] = MIGRATIONS) -> list[str]:
    """Apply the migrations not yet recorded, in order, each in one transaction; returns the
    names of those applied. Safe when several programs start at once: each migration's
    transaction takes the dialect's migration lock and checks again what is applied."""
    with db.transaction():
        if db.dialect.migration_lock:
            db.execute(db.dialect.migration_lock)
        db.execute(
            """CREATE TABLE IF NOT EXISTS schema_migrations (
                   version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"""
        )
        applied = _applied(db)
        _check(applied, migrations)
    if len(applied) == len(migrations):
        return []  # up to date: what every open but the first finds, in one transaction
    done = []
    for version, migration in enumerate(migrations, start=1):
        with db.transaction():
            if db.dialect.migration_lock:
                db.execute(db.dialect.migration_lock)
            applied = _applied(db)
            _check(applied, migrations)
            if version in applied:
                continue
            for statement in migration.statements(db.dialect.name):
                db.execute(db.dialect.ddl(statement))
            db.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                (version, migration.name, stamp(datetime.now(UTC))),
            )
        done.append(migration.name)
    return done


def _applied(db: Database) -> dict[int, str]:
    return {int(version): str(name)
            for version, name in db.all("SELECT version, name FROM schema_migrations")}


def _check(applied: dict[int, str], migrations: Sequence[Migration]) -> None:
    """Refuse a schema newer than this program, or one another program or branch wrote."""
    if applied and max(applied) > len(migrations):
        raise StoreError(
            f"the database schema is at version {max(applied)}, newer than this program's "
            f"{len(migrations)}",
            hint="upgrade newsletter to the version that wrote this database",
        )
    for version, migration in enumerate(migrations, start=1):
        if version in applied and applied[version] != migration.name:
            raise StoreError(
                f"migration {version} is recorded as {applied[version]!r}, "
                f"expected {migration.name!r}",
                hint="this database was written by a different program or branch",
            )
