"""Copy an office's database into another, empty one: how an office moves from SQLite to
PostgreSQL (I/O).

Every table is copied in the order its references need, in one transaction on the target
(all of it or none), the target's ID counters are set past the copied IDs, and then every
table's row count is compared on both sides. Reviewers come with their sessions, so nobody
has to log in again. Leases and heartbeats are not copied: they belong to the processes of
the old database. A copy onto the database it reads from is refused (with
``NEWSLETTER_DATABASE_URL`` exported first, source and target are the same).
"""

from __future__ import annotations

import os
from pathlib import Path

from newsletter.errors import StoreError
from newsletter.store import Store

TABLES = ("reports", "report_revisions", "inbox_files", "quarantine", "summaries",
          "translation_cache", "editions", "subscribers", "subscriptions", "lists",
          "unsubscribe_events", "issues", "issue_bodies", "outbox", "issue_reports",
          "schedule_runs", "translation_jobs", "edition_reviews", "holds",
          "translation_memory", "report_failures", "reviewers", "review_sessions",
          "login_failures", "bounces", "reader_changes", "erased_addresses", "report_cap")
# The old processes', the schema's, and the outbox's tally: the target's is counted again from
# the copied rows (newsletter.store.tally).
NOT_COPIED = ("leases", "workers", "schema_migrations", "outbox_tally", "outbox_moves")
WITH_IDS = ("reports", "quarantine", "subscribers", "unsubscribe_events", "issues", "outbox",
            "schedule_runs", "login_failures", "bounces", "reader_changes")
_SAME_DATABASE_LOCK = 7_414_351_023  # an advisory lock key: "is the target the source?"
_CHUNK = 5_000


def copy_database(source: Store, target: Store) -> dict[str, int]:
    """Copy every table of ``source`` into ``target`` (which must be empty and at the same
    schema version); returns the rows copied per table, once the counts are checked."""
    if same_database(source, target):
        raise StoreError(
            f"{target.where} is the database this office uses: there is nothing to copy to",
            hint="give --to the new, empty database; if NEWSLETTER_DATABASE_URL (or [database] "
                 "url) already names it, unset it for the copy so the office's own database "
                 "is read")
    if source.schema_version != target.schema_version:
        raise StoreError(
            f"{source.where} is at schema {source.schema_version}, {target.where} at "
            f"{target.schema_version}", hint="run `newsletter db migrate` on both first")
    filled = [t for t in TABLES if target.db.scalar(f"SELECT count(*) FROM {t}")]
    if filled:
        raise StoreError(f"{target.where} is not empty ({', '.join(filled)} hold rows)",
                         hint="copy into a new, empty database")
    copied: dict[str, int] = {}
    with target.transaction():
        for table in TABLES:
            cursor = source.db.connection.execute(f"SELECT * FROM {table}")
            columns = [d[0] for d in cursor.description]
            insert = (f"INSERT INTO {table} ({', '.join(columns)}) "
                      f"VALUES ({', '.join('?' * len(columns))})")
            copied[table] = 0
            while rows := cursor.fetchmany(_CHUNK):
                target.db.executemany(insert, rows)
                copied[table] += len(rows)
        for table in WITH_IDS:
            reset = target.db.dialect.reset_ids(table)
            if reset:
                target.db.execute(reset)
        target.outbox.tally.rebuild()  # the copied rows came in settled, not through a send
    for table in TABLES:
        there = int(target.db.scalar(f"SELECT count(*) FROM {table}"))
        here = int(source.db.scalar(f"SELECT count(*) FROM {table}"))
        if there != here or there != copied[table]:
            raise StoreError(f"{table}: {here} row(s) here, {there} in {target.where} after "
                             "the copy", hint="the source changed during the copy: stop the "
                             "service and copy into a new database again")
    return copied


def same_database(source: Store, target: Store) -> bool:
    """Whether ``source`` and ``target`` are one database, however their addresses are
    written: one SQLite file, or one PostgreSQL database (an advisory lock the source's
    transaction holds cannot be taken by the target's)."""
    if source.backend != target.backend:
        return False
    if source.backend == "sqlite":
        try:
            return os.path.samefile(Path(source.where), Path(target.where))
        except OSError:
            return False
    with source.transaction():
        source.db.scalar("SELECT pg_advisory_xact_lock(?)", (_SAME_DATABASE_LOCK,))
        with target.transaction():
            taken = target.db.scalar("SELECT pg_try_advisory_xact_lock(?)",
                                     (_SAME_DATABASE_LOCK,))
    return not taken
