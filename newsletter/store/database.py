"""SQLite storage: connection, ordered migrations and the queries of each concept (I/O).

The database runs in WAL mode with one writer. Migrations are named, applied in order, each in
its own transaction, and recorded in ``schema_migrations``; opening a database applies the
missing ones and refuses a database whose schema is newer than this program.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from newsletter.errors import NotFound, StoreError
from newsletter.reports.model import Report, StoredReport
from newsletter.subscribers.core import SubscriberRow
from newsletter.translate.core import as_flags
from newsletter.translate.editions import Edition

MIGRATIONS: tuple[tuple[str, str], ...] = (
    (
        "0001_reports",
        """
        CREATE TABLE reports (
            id            INTEGER PRIMARY KEY,
            identity_key  TEXT NOT NULL,
            content_hash  TEXT NOT NULL,
            revision      INTEGER NOT NULL DEFAULT 1,
            title         TEXT NOT NULL,
            source        TEXT,
            kind          TEXT,
            published     TEXT,
            posted        TEXT,
            language      TEXT NOT NULL,
            dateline      TEXT,
            body          TEXT NOT NULL,
            path          TEXT NOT NULL,
            encoding      TEXT NOT NULL,
            ingested_at   TEXT NOT NULL,
            updated_at    TEXT NOT NULL
        );
        CREATE INDEX reports_identity ON reports(identity_key);
        CREATE INDEX reports_published ON reports(published);

        -- Every content hash a report has had, so an old version seen again is a duplicate.
        CREATE TABLE report_revisions (
            report_id     INTEGER NOT NULL REFERENCES reports(id) ON DELETE CASCADE,
            revision      INTEGER NOT NULL,
            content_hash  TEXT NOT NULL UNIQUE,
            path          TEXT NOT NULL,
            ingested_at   TEXT NOT NULL,
            PRIMARY KEY (report_id, revision)
        );

        -- Files seen in the inbox, so unchanged files are not read again.
        CREATE TABLE inbox_files (
            path          TEXT PRIMARY KEY,
            size          INTEGER NOT NULL,
            mtime_ns      INTEGER NOT NULL,
            status        TEXT NOT NULL,
            report_id     INTEGER REFERENCES reports(id) ON DELETE SET NULL,
            seen_at       TEXT NOT NULL
        );

        CREATE TABLE quarantine (
            id            INTEGER PRIMARY KEY,
            original_path TEXT NOT NULL,
            stored_path   TEXT NOT NULL,
            reason        TEXT NOT NULL,
            detail        TEXT NOT NULL,
            at            TEXT NOT NULL
        );
        """,
    ),
    (
        "0002_summaries",
        """
        -- The current summary of each report; recomputed when the report gets a new revision,
        -- the summariser's method changes or the instance's summary length changes.
        CREATE TABLE summaries (
            report_id     INTEGER PRIMARY KEY REFERENCES reports(id) ON DELETE CASCADE,
            revision      INTEGER NOT NULL,
            method        TEXT NOT NULL,
            max_sentences INTEGER NOT NULL,
            max_words     INTEGER NOT NULL,
            sentences     TEXT NOT NULL,
            created_at    TEXT NOT NULL
        );
        """,
    ),
    (
        "0003_translations",
        """
        -- Sentence translations by (source text hash, model key, target language).
        CREATE TABLE translation_cache (
            source_hash   TEXT NOT NULL,
            model         TEXT NOT NULL,
            target        TEXT NOT NULL,
            output        TEXT NOT NULL,
            created_at    TEXT NOT NULL,
            PRIMARY KEY (source_hash, model, target)
        );

        -- One edition per report and language other than the report's own.
        CREATE TABLE editions (
            report_id     INTEGER NOT NULL REFERENCES reports(id) ON DELETE CASCADE,
            language      TEXT NOT NULL,
            key           TEXT NOT NULL,
            title         TEXT,
            summary       TEXT,
            body          TEXT,
            model         TEXT,
            flags         TEXT NOT NULL,
            body_flags    TEXT NOT NULL,
            created_at    TEXT NOT NULL,
            PRIMARY KEY (report_id, language)
        );
        """,
    ),
    (
        "0004_subscribers",
        """
        CREATE TABLE subscribers (
            id             INTEGER PRIMARY KEY,
            email          TEXT NOT NULL UNIQUE,
            name           TEXT,
            language       TEXT NOT NULL,
            format         TEXT NOT NULL,
            status         TEXT NOT NULL,
            consent_source TEXT NOT NULL,
            consent_at     TEXT NOT NULL,
            bounces        INTEGER NOT NULL DEFAULT 0,
            created_at     TEXT NOT NULL,
            updated_at     TEXT NOT NULL
        );

        -- Membership of a subscriber in a list (lists are named in newsletter.toml or in the
        -- lists table below).
        CREATE TABLE subscriptions (
            subscriber_id  INTEGER NOT NULL REFERENCES subscribers(id) ON DELETE CASCADE,
            list_name      TEXT NOT NULL,
            status         TEXT NOT NULL,
            created_at     TEXT NOT NULL,
            updated_at     TEXT NOT NULL,
            PRIMARY KEY (subscriber_id, list_name)
        );
        CREATE INDEX subscriptions_by_list ON subscriptions(list_name, status, subscriber_id);

        -- Lists managed from the command line (those in newsletter.toml are not stored).
        CREATE TABLE lists (
            name           TEXT PRIMARY KEY,
            spec           TEXT NOT NULL,
            created_at     TEXT NOT NULL
        );

        -- Every unsubscription, with how it was asked for.
        CREATE TABLE unsubscribe_events (
            id             INTEGER PRIMARY KEY,
            subscriber_id  INTEGER NOT NULL,
            list_name      TEXT,
            method         TEXT NOT NULL,
            at             TEXT NOT NULL
        );
        """,
    ),
    (
        "0005_outbox",
        """
        -- An issue is one mailing of a list: an alert, a digest or a one-off send.
        CREATE TABLE issues (
            id             INTEGER PRIMARY KEY,
            list_name      TEXT NOT NULL,
            kind           TEXT NOT NULL,
            report_ids     TEXT NOT NULL,
            created_at     TEXT NOT NULL
        );

        -- Each language's mail of an issue, rendered once; messages are filled in from it.
        CREATE TABLE issue_bodies (
            issue_id       INTEGER NOT NULL REFERENCES issues(id) ON DELETE CASCADE,
            language       TEXT NOT NULL,
            rendered       TEXT NOT NULL,
            PRIMARY KEY (issue_id, language)
        );

        -- One row per (issue, subscriber), created before anything is sent.
        CREATE TABLE outbox (
            id              INTEGER PRIMARY KEY,
            issue_id        INTEGER NOT NULL REFERENCES issues(id),
            subscriber_id   INTEGER NOT NULL,
            address         TEXT NOT NULL,
            name            TEXT,
            language        TEXT NOT NULL,
            message_id      TEXT NOT NULL UNIQUE,
            state           TEXT NOT NULL,
            attempts        INTEGER NOT NULL DEFAULT 0,
            next_attempt_at TEXT,
            lease_owner     TEXT,
            lease_until     TEXT,
            last_code       INTEGER,
            last_text       TEXT,
            ambiguous       INTEGER NOT NULL DEFAULT 0,
            sent_at         TEXT,
            UNIQUE (issue_id, subscriber_id)
        );
        CREATE INDEX outbox_due ON outbox(state, next_attempt_at);
        """,
    ),
    (
        "0006_schedule",
        """
        -- Which report went out in which issue of a list: a report is sent to a list once.
        CREATE TABLE issue_reports (
            list_name      TEXT NOT NULL,
            report_id      INTEGER NOT NULL REFERENCES reports(id) ON DELETE CASCADE,
            issue_id       INTEGER NOT NULL REFERENCES issues(id),
            PRIMARY KEY (list_name, report_id)
        );

        -- What each scheduled job did, for status and for catching up after downtime.
        CREATE TABLE schedule_runs (
            id             INTEGER PRIMARY KEY,
            list_name      TEXT NOT NULL,
            kind           TEXT NOT NULL,
            at             TEXT NOT NULL,
            outcome        TEXT NOT NULL,
            issue_id       INTEGER
        );
        CREATE INDEX schedule_runs_by_list ON schedule_runs(list_name, kind, at);

        -- Who may send: one scheduler at a time holds this lease.
        CREATE TABLE leases (
            name           TEXT PRIMARY KEY,
            owner          TEXT NOT NULL,
            expires_at     TEXT NOT NULL
        );
        """,
    ),
    (
        "0007_outbox_leases",
        """
        -- A sender renews the leases it holds by owner; recovery finds expired ones by time.
        CREATE INDEX outbox_lease_owner ON outbox(lease_owner) WHERE lease_owner IS NOT NULL;
        CREATE INDEX outbox_leased ON outbox(state, lease_until)
            WHERE state IN ('sending', 'transmitting');
        """,
    ),
    (
        "0008_outbox_format",
        """
        -- The subscriber's format when the issue was queued: html (multipart/alternative) or
        -- text (a single text/plain body).
        ALTER TABLE outbox ADD COLUMN format TEXT NOT NULL DEFAULT 'html';
        """,
    ),
)


@dataclass(frozen=True)
class OutboxRow:
    """A message waiting to be sent, as a sender claims it."""

    id: int
    issue_id: int
    subscriber_id: int
    address: str
    name: str | None
    language: str
    message_id: str
    attempts: int
    format: str = "html"


@dataclass(frozen=True)
class QueuedMessage:
    """One message of an issue as it is queued: who gets it, in which language."""

    subscriber_id: int
    address: str
    name: str | None
    language: str
    message_id: str
    format: str = "html"


@dataclass(frozen=True)
class Claimed:
    """What one claim took: the rows now leased, and how many due rows it skipped."""

    rows: list[OutboxRow]
    skipped: int


@dataclass(frozen=True)
class Requeued:
    """What ``newsletter retry`` did, and what it left alone."""

    made_due: int  # waiting to retry: due now
    requeued: int  # failed after temporary refusals: back in the queue
    permanent: int  # failed for good (5xx): left as they are
    inactive: int  # failed, to an address no longer active in the list: left


@dataclass(frozen=True)
class OutboxSummary:
    """The outbox at a moment: rows per state, what is due, what waits for a retry."""

    states: dict[str, int]
    due: int
    waiting: int
    ambiguous: int
    next_retry: datetime | None


@dataclass(frozen=True)
class OutboxEntry:
    """One outbox row, as ``newsletter outbox list`` shows it."""

    id: int
    issue_id: int
    list_name: str
    subscriber_id: int
    address: str
    language: str
    state: str
    attempts: int
    last_code: int | None
    last_text: str | None
    ambiguous: bool
    message_id: str
    next_attempt_at: datetime | None
    sent_at: datetime | None


@dataclass(frozen=True)
class Subscriber:
    """A subscriber as stored."""

    id: int
    email: str
    name: str | None
    language: str
    format: str
    status: str
    consent_source: str
    consent_at: datetime
    bounces: int = 0


@dataclass(frozen=True)
class ImportCounts:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    subscribed: int = 0  # new memberships in the list
    not_resubscribed: list[str] = field(default_factory=list)  # unsubscribed/suppressed/bounced


@dataclass(frozen=True)
class InboxFile:
    """What the inbox table remembers of one file."""

    path: str
    size: int
    mtime_ns: int
    status: str
    report_id: int | None


@dataclass(frozen=True)
class StoreCounts:
    """Totals for ``newsletter status``."""

    reports: int
    by_language: dict[str, int]
    revisions: int
    quarantined: int
    unsummarised: int
    last_ingest: datetime | None


class Store:
    """One open database. Use :func:`open_store`; close with :meth:`close` or ``with``."""

    def __init__(self, connection: sqlite3.Connection, path: Path) -> None:
        self.db = connection
        self.path = path
        self._savepoints = 0

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Commit what the block wrote, or roll all of it back. Inside another transaction
        the block is a savepoint: its writes commit with the outer transaction, and an error
        rolls back only the block's (the outer one then decides)."""
        if self.db.in_transaction:
            self._savepoints += 1
            name = f"sp{self._savepoints}"
            self.db.execute(f"SAVEPOINT {name}")
            try:
                yield
            except BaseException:
                self.db.execute(f"ROLLBACK TO {name}")
                self.db.execute(f"RELEASE {name}")
                raise
            self.db.execute(f"RELEASE {name}")
            return
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.db.rollback()
            raise
        self.db.commit()

    @property
    def schema_version(self) -> int:
        row = self.db.execute("SELECT count(*) FROM schema_migrations").fetchone()
        return int(row[0])

    # -- inbox files ---------------------------------------------------------------------

    def remember_file(
        self, path: str, *, size: int, mtime_ns: int, status: str, report_id: int | None,
        now: datetime,
    ) -> None:
        self.db.execute(
            """INSERT INTO inbox_files (path, size, mtime_ns, status, report_id, seen_at)
               VALUES (?, ?, ?, ?, ?, ?)
               ON CONFLICT(path) DO UPDATE SET size = excluded.size, mtime_ns = excluded.mtime_ns,
                 status = excluded.status, report_id = excluded.report_id,
                 seen_at = excluded.seen_at""",
            (path, size, mtime_ns, status, report_id, _ts(now)),
        )

    def known_files(self) -> dict[str, InboxFile]:
        rows = self.db.execute(
            "SELECT path, size, mtime_ns, status, report_id FROM inbox_files"
        ).fetchall()
        return {row[0]: InboxFile(*row) for row in rows}

    # -- reports -------------------------------------------------------------------------

    def report_id_by_hash(self, content_hash: str) -> int | None:
        row = self.db.execute(
            "SELECT report_id FROM report_revisions WHERE content_hash = ?", (content_hash,)
        ).fetchone()
        return int(row[0]) if row else None

    def report_id_by_identity(self, identity_key: str) -> int | None:
        row = self.db.execute(
            "SELECT id FROM reports WHERE identity_key = ? ORDER BY id LIMIT 1", (identity_key,)
        ).fetchone()
        return int(row[0]) if row else None

    def add_report(
        self, report: Report, *, content_hash: str, identity_key: str, path: str, encoding: str,
        now: datetime,
    ) -> int:
        cursor = self.db.execute(
            """INSERT INTO reports (identity_key, content_hash, revision, title, source, kind,
                 published, posted, language, dateline, body, path, encoding, ingested_at,
                 updated_at)
               VALUES (?, ?, 1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            (identity_key, content_hash, *_report_columns(report), path, encoding,
             _ts(now), _ts(now)),
        )
        report_id = int(cursor.lastrowid or 0)
        self._add_revision(report_id, 1, content_hash, path, now)
        return report_id

    def update_report(
        self, report_id: int, report: Report, *, content_hash: str, identity_key: str, path: str,
        encoding: str, now: datetime,
    ) -> int:
        """Store a changed version of a known report; returns its new revision number."""
        row = self.db.execute("SELECT revision FROM reports WHERE id = ?", (report_id,)).fetchone()
        if row is None:
            raise NotFound(f"no report {report_id}")
        revision = int(row[0]) + 1
        self.db.execute(
            """UPDATE reports SET identity_key = ?, content_hash = ?, revision = ?, title = ?,
                 source = ?, kind = ?, published = ?, posted = ?, language = ?, dateline = ?,
                 body = ?, path = ?, encoding = ?, updated_at = ?
               WHERE id = ?""",
            (identity_key, content_hash, revision, *_report_columns(report), path, encoding,
             _ts(now), report_id),
        )
        self._add_revision(report_id, revision, content_hash, path, now)
        return revision

    def _add_revision(
        self, report_id: int, revision: int, content_hash: str, path: str, now: datetime
    ) -> None:
        self.db.execute(
            """INSERT INTO report_revisions (report_id, revision, content_hash, path, ingested_at)
               VALUES (?, ?, ?, ?, ?)""",
            (report_id, revision, content_hash, path, _ts(now)),
        )

    def get_report(self, report_id: int) -> StoredReport:
        row = self.db.execute(f"SELECT {_REPORT_SELECT} FROM reports r WHERE id = ?",
                              (report_id,)).fetchone()
        if row is None:
            raise NotFound(
                f"no report with ID {report_id}",
                hint="`newsletter reports list` shows the IDs of stored reports",
            )
        return _stored_report(row)

    def list_reports(self, *, limit: int | None = None) -> list[StoredReport]:
        sql = f"SELECT {_REPORT_SELECT} FROM reports r ORDER BY published DESC, id DESC"
        params: Sequence[int] = ()
        if limit is not None:
            sql += " LIMIT ?"
            params = (limit,)
        return [_stored_report(row) for row in self.db.execute(sql, params)]

    # -- summaries -----------------------------------------------------------------------

    def reports_needing_summary(
        self, *, method: str, max_sentences: int, max_words: int
    ) -> list[StoredReport]:
        """Reports with no summary, or one made for an older revision, method or length."""
        rows = self.db.execute(
            f"""SELECT {_REPORT_SELECT} FROM reports r
                LEFT JOIN summaries s ON s.report_id = r.id
                WHERE s.report_id IS NULL OR s.revision != r.revision OR s.method != ?
                   OR s.max_sentences != ? OR s.max_words != ?
                ORDER BY r.id""",
            (method, max_sentences, max_words),
        )
        return [_stored_report(row) for row in rows]

    def save_summary(
        self, report_id: int, revision: int, *, method: str, max_sentences: int, max_words: int,
        sentences: Sequence[str], now: datetime,
    ) -> None:
        self.db.execute(
            """INSERT INTO summaries (report_id, revision, method, max_sentences, max_words,
                 sentences, created_at)
               VALUES (?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT(report_id) DO UPDATE SET revision = excluded.revision,
                 method = excluded.method, max_sentences = excluded.max_sentences,
                 max_words = excluded.max_words, sentences = excluded.sentences,
                 created_at = excluded.created_at""",
            (report_id, revision, method, max_sentences, max_words,
             json.dumps(list(sentences), ensure_ascii=False), _ts(now)),
        )

    def summary_of(self, report_id: int) -> tuple[str, ...] | None:
        """The stored summary sentences of a report, if it has been summarised."""
        row = self.db.execute(
            "SELECT sentences FROM summaries WHERE report_id = ?", (report_id,)
        ).fetchone()
        return tuple(json.loads(row[0])) if row else None

    # -- translations ----------------------------------------------------------------------

    def cached_translations(
        self, model: str, target: str, hashes: Sequence[str]
    ) -> dict[str, str]:
        found: dict[str, str] = {}
        for start in range(0, len(hashes), 500):
            chunk = list(hashes[start : start + 500])
            marks = ",".join("?" * len(chunk))
            rows = self.db.execute(
                f"""SELECT source_hash, output FROM translation_cache
                    WHERE model = ? AND target = ? AND source_hash IN ({marks})""",
                (model, target, *chunk),
            )
            found.update(dict(rows.fetchall()))
        return found

    def cache_translations(
        self, model: str, target: str, items: Mapping[str, str], now: datetime
    ) -> None:
        self.db.executemany(
            """INSERT OR REPLACE INTO translation_cache
               (source_hash, model, target, output, created_at) VALUES (?, ?, ?, ?, ?)""",
            [(h, model, target, output, _ts(now)) for h, output in items.items()],
        )

    def translation_state(
        self, report_id: int | None = None
    ) -> Iterator[tuple[int, str, str, tuple[str, ...], dict[str, str]]]:
        """For each report (or one): ID, language, content hash, summary and the key of each
        stored edition, in two queries and without the bodies, so that finding what needs
        translating stays cheap on every poll of the service."""
        where, params = ("WHERE r.id = ?", (report_id,)) if report_id is not None else ("", ())
        keys: dict[int, dict[str, str]] = {}
        for rid, language, key in self.db.execute(
            "SELECT report_id, language, key FROM editions"
            + (" WHERE report_id = ?" if report_id is not None else ""), params
        ):
            keys.setdefault(int(rid), {})[language] = key
        rows = self.db.execute(
            f"""SELECT r.id, r.language, r.content_hash, s.sentences FROM reports r
                LEFT JOIN summaries s ON s.report_id = r.id {where} ORDER BY r.id""", params)
        for rid, language, content_hash, sentences in rows:
            summary = tuple(json.loads(sentences)) if sentences else ()
            yield int(rid), str(language), str(content_hash), summary, keys.get(int(rid), {})

    def save_edition(self, report_id: int, edition: Edition, key: str, now: datetime) -> None:
        self.db.execute(
            """INSERT OR REPLACE INTO editions (report_id, language, key, title, summary, body,
                 model, flags, body_flags, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            (
                report_id, edition.language, key, edition.title,
                None if edition.summary is None else json.dumps(list(edition.summary),
                                                                ensure_ascii=False),
                edition.body, edition.model,
                json.dumps([f.as_dict() for f in edition.flags], ensure_ascii=False),
                json.dumps([f.as_dict() for f in edition.body_flags], ensure_ascii=False),
                _ts(now),
            ),
        )

    def editions_of(self, report_id: int) -> dict[str, Edition]:
        rows = self.db.execute(
            """SELECT language, title, summary, body, model, flags, body_flags FROM editions
               WHERE report_id = ? ORDER BY language""",
            (report_id,),
        )
        return {
            language: Edition(
                language=language, title=title,
                summary=None if summary is None else tuple(json.loads(summary)),
                body=body, model=model, flags=tuple(as_flags(json.loads(flags))),
                body_flags=tuple(as_flags(json.loads(body_flags))),
            )
            for language, title, summary, body, model, flags, body_flags in rows
        }

    def translation_counts(self) -> tuple[int, int]:
        """(editions stored, cached sentence translations)."""
        editions = self.db.execute("SELECT count(*) FROM editions").fetchone()[0]
        cached = self.db.execute("SELECT count(*) FROM translation_cache").fetchone()[0]
        return int(editions), int(cached)

    # -- subscribers -----------------------------------------------------------------------

    def subscriber(self, email: str) -> Subscriber:
        found = self.find_subscriber(email)
        if found is None:
            raise NotFound(f"no subscriber {email}",
                           hint="`newsletter subscribers list` shows who is subscribed")
        return found

    def find_subscriber(self, email: str) -> Subscriber | None:
        """The subscriber with this (normalised) address, or None if there is none."""
        row = self.db.execute(f"SELECT {_SUBSCRIBER} FROM subscribers s WHERE email = ?",
                              (email,)).fetchone()
        return None if row is None else _subscriber(row)

    def subscriber_by_id(self, subscriber_id: int) -> Subscriber:
        row = self.db.execute(f"SELECT {_SUBSCRIBER} FROM subscribers s WHERE id = ?",
                              (subscriber_id,)).fetchone()
        if row is None:
            raise NotFound(f"no subscriber with ID {subscriber_id}")
        return _subscriber(row)

    def import_subscribers(
        self, rows: Sequence[SubscriberRow], list_name: str | None, *, consent_source: str,
        now: datetime, status: str = "active",
    ) -> ImportCounts:
        """Add new subscribers, update changed ones, and subscribe all to ``list_name``.
        Only the fields a row gives are written: one it leaves ``None`` keeps the stored value
        (a new subscriber gets the default; :meth:`SubscriberRow.applied_to`), so adding an
        address to another list, or importing a CSV of addresses only, changes nobody.
        Unsubscribed, bounced and suppressed addresses are left as they are: an import never
        resubscribes anyone. Runs as one transaction."""
        stamp = _ts(now)
        existing: dict[str, tuple[Any, ...]] = {}
        emails = [row.email for row in rows]
        for start in range(0, len(emails), 900):
            chunk = emails[start : start + 900]
            marks = ",".join("?" * len(chunk))
            for record in self.db.execute(
                f"SELECT email, id, name, language, format, status FROM subscribers "
                f"WHERE email IN ({marks})", chunk,
            ):
                existing[record[0]] = record
        new = [(row.email, *row.applied_to(None)) for row in rows if row.email not in existing]
        changed: list[tuple[str, str | None, str, str]] = []
        for row in rows:
            if row.email in existing:
                stored = existing[row.email][2:5]
                taken = row.applied_to(stored)
                if taken != stored:
                    changed.append((row.email, *taken))
        blocked = [row.email for row in rows if row.email in existing
                   and existing[row.email][5] in ("unsubscribed", "bounced", "suppressed")]
        with self.transaction():
            self.db.executemany(
                """INSERT INTO subscribers (email, name, language, format, status,
                     consent_source, consent_at, created_at, updated_at)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                [(email, name, language, fmt, status, consent_source, stamp, stamp, stamp)
                 for email, name, language, fmt in new],
            )
            self.db.executemany(
                """UPDATE subscribers SET name = ?, language = ?, format = ?, updated_at = ?
                   WHERE email = ?""",
                [(name, language, fmt, stamp, email) for email, name, language, fmt in changed],
            )
            subscribed = 0
            if list_name is not None:
                before = self.db.total_changes
                self.db.executemany(
                    """INSERT OR IGNORE INTO subscriptions
                         (subscriber_id, list_name, status, created_at, updated_at)
                       SELECT id, ?, CASE WHEN status = 'pending' THEN 'pending' ELSE 'active'
                              END, ?, ? FROM subscribers
                       WHERE email = ? AND status NOT IN ('unsubscribed', 'bounced',
                                                          'suppressed')""",
                    [(list_name, stamp, stamp, email) for email in emails],
                )
                subscribed = self.db.total_changes - before
        return ImportCounts(added=len(new), updated=len(changed),
                            unchanged=len(rows) - len(new) - len(changed), subscribed=subscribed,
                            not_resubscribed=blocked)

    def subscriptions_of(self, subscriber_id: int) -> dict[str, str]:
        rows = self.db.execute(
            "SELECT list_name, status FROM subscriptions WHERE subscriber_id = ? ORDER BY 1",
            (subscriber_id,))
        return dict(rows.fetchall())

    def set_subscriber_status(self, subscriber_id: int, status: str, method: str,
                              now: datetime) -> None:
        """Change a subscriber's status everywhere (unsubscribed, suppressed, bounced, active)."""
        with self.transaction():
            self.db.execute("UPDATE subscribers SET status = ?, updated_at = ? WHERE id = ?",
                            (status, _ts(now), subscriber_id))
            if status in ("unsubscribed", "suppressed"):
                self.db.execute(
                    """INSERT INTO unsubscribe_events (subscriber_id, list_name, method, at)
                       VALUES (?, NULL, ?, ?)""", (subscriber_id, method, _ts(now)))

    def unsubscribe(self, subscriber_id: int, list_name: str, method: str, now: datetime) -> bool:
        """End one membership; True if it was active. Recorded with how it was asked for."""
        with self.transaction():
            cursor = self.db.execute(
                """UPDATE subscriptions SET status = 'unsubscribed', updated_at = ?
                   WHERE subscriber_id = ? AND list_name = ? AND status != 'unsubscribed'""",
                (_ts(now), subscriber_id, list_name))
            if cursor.rowcount:
                self.db.execute(
                    """INSERT INTO unsubscribe_events (subscriber_id, list_name, method, at)
                       VALUES (?, ?, ?, ?)""", (subscriber_id, list_name, method, _ts(now)))
        return cursor.rowcount > 0

    def confirm(self, subscriber_id: int, list_name: str, now: datetime) -> bool:
        """Double opt-in: a pending subscriber and membership become active."""
        with self.transaction():
            self.db.execute(
                """UPDATE subscribers SET status = 'active', consent_at = ?, updated_at = ?
                   WHERE id = ? AND status = 'pending'""", (_ts(now), _ts(now), subscriber_id))
            cursor = self.db.execute(
                """UPDATE subscriptions SET status = 'active', updated_at = ?
                   WHERE subscriber_id = ? AND list_name = ? AND status = 'pending'""",
                (_ts(now), subscriber_id, list_name))
        return cursor.rowcount > 0

    def list_subscribers(
        self, *, list_name: str | None = None, status: str | None = None,
    ) -> Iterator[tuple[Subscriber, str | None]]:
        """Subscribers (with their membership status in ``list_name``), streamed in ID order."""
        sql = f"SELECT {_SUBSCRIBER}, NULL FROM subscribers s"
        params: list[object] = []
        if list_name is not None:
            sql = (f"SELECT {_SUBSCRIBER}, m.status FROM subscribers s JOIN subscriptions m "
                   "ON m.subscriber_id = s.id AND m.list_name = ?")
            params.append(list_name)
        if status is not None:
            sql += " WHERE s.status = ?"
            params.append(status)
        for row in self.db.execute(sql + " ORDER BY s.id", params):
            yield _subscriber(row[:-1]), row[-1]

    def recipients(self, list_name: str) -> Iterator[Subscriber]:
        """Who a mail to ``list_name`` goes to: active subscribers with an active membership.
        Every sending path asks this, so an unsubscribed, bounced, pending or suppressed
        address is never sent to. Streamed, so memory stays flat on large lists."""
        rows = self.db.execute(
            f"""SELECT {_SUBSCRIBER} FROM subscribers s JOIN subscriptions m
                ON m.subscriber_id = s.id
                WHERE m.list_name = ? AND m.status = 'active' AND s.status = 'active'
                ORDER BY s.id""", (list_name,))
        for row in rows:
            yield _subscriber(row)

    def list_counts(self) -> dict[str, dict[str, int]]:
        counts: dict[str, dict[str, int]] = {}
        for name, status, n in self.db.execute(
            "SELECT list_name, status, count(*) FROM subscriptions GROUP BY 1, 2"
        ):
            counts.setdefault(name, {})[status] = n
        return counts

    # -- lists managed from the command line ---------------------------------------------

    def stored_lists(self) -> dict[str, dict[str, object]]:
        rows = self.db.execute("SELECT name, spec FROM lists ORDER BY name")
        return {name: json.loads(spec) for name, spec in rows}

    def save_list(self, name: str, table: Mapping[str, object], now: datetime) -> None:
        with self.transaction():
            self.db.execute(
                """INSERT INTO lists (name, spec, created_at) VALUES (?, ?, ?)
                   ON CONFLICT(name) DO UPDATE SET spec = excluded.spec""",
                (name, json.dumps(dict(table), ensure_ascii=False), _ts(now)))

    def delete_list(self, name: str) -> bool:
        with self.transaction():
            cursor = self.db.execute("DELETE FROM lists WHERE name = ?", (name,))
        return cursor.rowcount > 0

    # -- issues and the outbox ---------------------------------------------------------------

    def create_issue(
        self, list_name: str, kind: str, report_ids: Sequence[int], bodies: Mapping[str, str],
        now: datetime, *, recipients: Callable[[int], Iterable[QueuedMessage]],
        claim: bool = True,
    ) -> tuple[int, int]:
        """Record an issue, its rendered bodies (JSON per language) and one outbox row per
        message that ``recipients(issue_id)`` yields, all in one transaction: a crash leaves
        the whole issue or none of it. With ``claim``, its reports are recorded as sent to the
        list in the same transaction. The rows are streamed in chunks, so 100,000 recipients
        do not sit in memory. Returns (issue ID, rows added)."""
        with self.transaction():
            cursor = self.db.execute(
                "INSERT INTO issues (list_name, kind, report_ids, created_at) VALUES (?,?,?,?)",
                (list_name, kind, json.dumps(list(report_ids)), _ts(now)))
            issue_id = int(cursor.lastrowid or 0)
            if claim:
                self.claim_reports(list_name, report_ids, issue_id)
            self.db.executemany(
                "INSERT INTO issue_bodies (issue_id, language, rendered) VALUES (?, ?, ?)",
                [(issue_id, language, body) for language, body in bodies.items()])
            added = 0
            chunk: list[tuple[object, ...]] = []
            for message in recipients(issue_id):
                chunk.append((issue_id, message.subscriber_id, message.address, message.name,
                              message.language, message.message_id, message.format))
                if len(chunk) >= 1000:
                    added += self._insert_outbox(chunk)
                    chunk = []
            added += self._insert_outbox(chunk)
        return issue_id, added

    def claim_reports(self, list_name: str, report_ids: Sequence[int], issue_id: int) -> None:
        """Record that ``report_ids`` went out in ``issue_id`` (refused if one already did)."""
        self.db.executemany(
            "INSERT INTO issue_reports (list_name, report_id, issue_id) VALUES (?, ?, ?)",
            [(list_name, rid, issue_id) for rid in report_ids])

    def sent_in(self, list_name: str, report_id: int) -> int | None:
        row = self.db.execute(
            "SELECT issue_id FROM issue_reports WHERE list_name = ? AND report_id = ?",
            (list_name, report_id)).fetchone()
        return int(row[0]) if row else None

    def unsent_reports(self, list_name: str, since: datetime) -> list[StoredReport]:
        """Reports that arrived (or changed) at or after ``since`` and were not yet sent to
        ``list_name``, oldest first."""
        rows = self.db.execute(
            f"""SELECT {_REPORT_SELECT} FROM reports r
                WHERE r.updated_at >= ? AND NOT EXISTS (
                    SELECT 1 FROM issue_reports i WHERE i.list_name = ? AND i.report_id = r.id)
                ORDER BY r.id""", (_ts(since), list_name))
        return [_stored_report(row) for row in rows]

    def list_start(self, list_name: str) -> datetime | None:
        """When the service first saw ``list_name``, if it has: a list gets the reports that
        arrive from then on, not the whole archive."""
        row = self.db.execute(
            "SELECT at FROM schedule_runs WHERE list_name = ? AND kind = 'start'",
            (list_name,)).fetchone()
        return datetime.fromisoformat(row[0]) if row is not None else None

    def record_list_start(self, list_name: str, now: datetime) -> datetime:
        """Record that the service sees ``list_name`` from ``now`` on (unless it already
        did); returns the recorded start."""
        with self.transaction():
            known = self.list_start(list_name)
            if known is not None:
                return known
            self.db.execute(
                """INSERT INTO schedule_runs (list_name, kind, at, outcome, issue_id)
                   VALUES (?, 'start', ?, 'list seen', NULL)""", (list_name, _ts(now)))
        return datetime.fromisoformat(_ts(now))

    def record_run(self, list_name: str, kind: str, at: datetime, outcome: str,
                   issue_id: int | None) -> None:
        with self.transaction():
            self.db.execute(
                """INSERT INTO schedule_runs (list_name, kind, at, outcome, issue_id)
                   VALUES (?, ?, ?, ?, ?)""", (list_name, kind, _ts(at), outcome, issue_id))

    def last_run(self, list_name: str, kind: str) -> tuple[datetime, str, int | None] | None:
        row = self.db.execute(
            """SELECT at, outcome, issue_id FROM schedule_runs WHERE list_name = ? AND kind = ?
               ORDER BY at DESC, id DESC LIMIT 1""", (list_name, kind)).fetchone()
        return (datetime.fromisoformat(row[0]), row[1], row[2]) if row else None

    def take_lease(self, name: str, owner: str, now: datetime, seconds: float) -> str | None:
        """Take or renew the lease ``name`` for ``owner``; None if taken, else who holds it."""
        with self.transaction():
            row = self.db.execute("SELECT owner, expires_at FROM leases WHERE name = ?",
                                  (name,)).fetchone()
            if row and row[0] != owner and datetime.fromisoformat(row[1]) > now:
                return str(row[0])
            self.db.execute(
                """INSERT INTO leases (name, owner, expires_at) VALUES (?, ?, ?)
                   ON CONFLICT(name) DO UPDATE SET owner = excluded.owner,
                     expires_at = excluded.expires_at""",
                (name, owner, _ts(now + timedelta(seconds=seconds))))
        return None

    def drop_lease(self, name: str, owner: str) -> None:
        with self.transaction():
            self.db.execute("DELETE FROM leases WHERE name = ? AND owner = ?", (name, owner))

    def issue(self, issue_id: int) -> tuple[str, str, list[int], datetime]:
        row = self.db.execute(
            "SELECT list_name, kind, report_ids, created_at FROM issues WHERE id = ?",
            (issue_id,)).fetchone()
        if row is None:
            raise NotFound(f"no issue {issue_id}")
        return row[0], row[1], json.loads(row[2]), datetime.fromisoformat(row[3])

    def issue_bodies(self, issue_id: int) -> dict[str, str]:
        rows = self.db.execute(
            "SELECT language, rendered FROM issue_bodies WHERE issue_id = ?", (issue_id,))
        return dict(rows.fetchall())

    def _insert_outbox(self, chunk: list[tuple[object, ...]]) -> int:
        before = self.db.total_changes
        self.db.executemany(
            """INSERT INTO outbox (issue_id, subscriber_id, address, name, language,
                 message_id, format, state) VALUES (?, ?, ?, ?, ?, ?, ?, 'pending')
               ON CONFLICT DO NOTHING""", chunk)
        return self.db.total_changes - before

    def claim(self, owner: str, limit: int, now: datetime, lease: float) -> Claimed:
        """Take up to ``limit`` due messages for ``owner`` under a lease that runs out at
        ``now + lease`` unless renewed (:meth:`renew`). A due message whose subscriber is no
        longer active, or no longer a member of the issue's list, is not claimed but marked
        skipped, with the reason: an unsubscription after queueing is honoured."""
        stamp, until = _ts(now), _ts(now + timedelta(seconds=lease))
        with self.transaction():
            # The due rows come straight off the (state, next_attempt_at) index, pending ones
            # in ID order, then retries by due time: no sort of the whole queue per claim.
            found = self.db.execute(
                f"""WITH due AS (
                      SELECT id FROM outbox WHERE state IN {_DUE_STATES}
                        AND (next_attempt_at IS NULL OR next_attempt_at <= ?) LIMIT ?)
                    SELECT o.id, o.issue_id, o.subscriber_id, o.address, o.name, o.language,
                           o.message_id, o.attempts, s.status, m.status, i.list_name,
                           o.format
                    FROM due JOIN outbox o ON o.id = due.id
                    JOIN issues i ON i.id = o.issue_id
                    LEFT JOIN subscribers s ON s.id = o.subscriber_id
                    LEFT JOIN subscriptions m ON m.subscriber_id = o.subscriber_id
                         AND m.list_name = i.list_name
                    ORDER BY o.id""", (stamp, limit)).fetchall()
            sendable = [row for row in found if row[8] == "active" and row[9] == "active"]
            stale = [row for row in found if not (row[8] == "active" and row[9] == "active")]
            self.db.executemany(
                f"""UPDATE outbox SET state = 'skipped', lease_owner = NULL, lease_until = NULL,
                      next_attempt_at = NULL, last_text = ?
                    WHERE id = ? AND state IN {_DUE_STATES}""",
                [(_skip_reason(row[8], row[9], row[10]), row[0]) for row in stale])
            self.db.executemany(
                f"""UPDATE outbox SET state = 'sending', lease_owner = ?, lease_until = ?
                   WHERE id = ? AND state IN {_DUE_STATES}""",
                [(owner, until, row[0]) for row in sendable])
        return Claimed([OutboxRow(int(row[0]), int(row[1]), int(row[2]), str(row[3]), row[4],
                                  str(row[5]), str(row[6]), int(row[7]), str(row[11]))
                        for row in sendable], len(stale))

    def renew(self, owner: str, now: datetime, lease: float) -> int:
        """Extend the lease of every message ``owner`` holds; returns how many it holds."""
        return self.db.execute(
            f"""UPDATE outbox SET lease_until = ?
                WHERE lease_owner = ? AND state IN {_LEASED}""",
            (_ts(now + timedelta(seconds=lease)), owner)).rowcount

    def mark(self, row_id: int, owner: str, expected: str, state: str, *,
             code: int | None = None, text: str = "", next_attempt_at: datetime | None = None,
             now: datetime | None = None, attempted: bool = False,
             ambiguous: bool = False) -> bool:
        """Move one row from ``expected`` to ``state`` if ``owner`` still holds its lease,
        and commit at once: the outbox is the record of what was sent, so each outcome is
        durable before the next message goes. False means the lease was lost (it ran out and
        recovery took the row over): the caller must not send it."""
        cursor = self.db.execute(
            f"""UPDATE outbox SET state = ?, last_code = COALESCE(?, last_code),
                  last_text = CASE WHEN ? != '' THEN ? ELSE last_text END,
                  next_attempt_at = ?, attempts = attempts + ?,
                  ambiguous = CASE WHEN ? = 1 THEN 1 ELSE ambiguous END,
                  sent_at = CASE WHEN ? = 'sent' THEN ? ELSE sent_at END,
                  lease_owner = CASE WHEN ? IN {_LEASED} THEN lease_owner ELSE NULL END,
                  lease_until = CASE WHEN ? IN {_LEASED} THEN lease_until ELSE NULL END
                WHERE id = ? AND lease_owner = ? AND state = ?""",
            (state, code, text, text[:500], _ts(next_attempt_at) if next_attempt_at else None,
             1 if attempted else 0, 1 if ambiguous else 0, state, _ts(now) if now else None,
             state, state, row_id, owner, expected))
        return cursor.rowcount == 1

    def recover(self, now: datetime) -> tuple[int, int]:
        """Take over the messages whose owner's lease ran out (it crashed or froze: a live
        owner renews its lease): those claimed but never transmitted go back to pending;
        those whose data was on its way are retried and marked ambiguous (a duplicate is
        possible). Returns (requeued, ambiguous)."""
        stamp = _ts(now)
        with self.transaction():
            requeued = self.db.execute(
                """UPDATE outbox SET state = 'pending', lease_owner = NULL, lease_until = NULL
                   WHERE state = 'sending' AND lease_until <= ?""", (stamp,)).rowcount
            ambiguous = self.db.execute(
                """UPDATE outbox SET state = 'retry', ambiguous = 1, lease_owner = NULL,
                     lease_until = NULL, next_attempt_at = NULL,
                     last_text = 'outcome unknown: interrupted after the data was sent'
                   WHERE state = 'transmitting' AND lease_until <= ?""", (stamp,)).rowcount
        return requeued, ambiguous

    def release(self, owner: str) -> int:
        """Give back messages ``owner`` claimed but did not start (a clean stop)."""
        return self.db.execute(
            """UPDATE outbox SET state = 'pending', lease_owner = NULL, lease_until = NULL
               WHERE state = 'sending' AND lease_owner = ?""", (owner,)).rowcount

    def requeue(self, issue_id: int | None = None) -> Requeued:
        """``newsletter retry``: messages waiting to retry become due now, and failed ones
        go back to the queue, except permanent refusals (5xx but 552) and messages to an
        address that is no longer active in the list (bounced, unsubscribed, suppressed)."""
        scope, params = ("AND o.issue_id = ?", (issue_id,)) if issue_id is not None else ("", ())
        active = """s.status = 'active' AND m.status = 'active'"""
        joins = """FROM outbox o JOIN issues i ON i.id = o.issue_id
                   LEFT JOIN subscribers s ON s.id = o.subscriber_id
                   LEFT JOIN subscriptions m ON m.subscriber_id = o.subscriber_id
                        AND m.list_name = i.list_name"""
        permanent = "(o.last_code >= 500 AND o.last_code != 552)"
        with self.transaction():
            due = self.db.execute(
                f"""UPDATE outbox SET next_attempt_at = NULL WHERE id IN (
                      SELECT o.id {joins} WHERE o.state = 'retry' AND {active} {scope})""",
                params).rowcount
            failed = self.db.execute(
                f"""UPDATE outbox SET state = 'pending', attempts = 0, next_attempt_at = NULL
                    WHERE id IN (SELECT o.id {joins} WHERE o.state = 'failed' AND {active}
                                 AND NOT {permanent} {scope})""", params).rowcount
            kept_permanent, kept_inactive = self.db.execute(
                f"""SELECT COALESCE(SUM(CASE WHEN {permanent} THEN 1 ELSE 0 END), 0),
                           COALESCE(SUM(CASE WHEN {permanent} THEN 0 ELSE 1 END), 0)
                    {joins} WHERE o.state = 'failed' {scope}""", params).fetchone()
        return Requeued(made_due=due, requeued=failed, permanent=int(kept_permanent),
                        inactive=int(kept_inactive))

    def outbox_counts(self) -> dict[str, int]:
        return dict(self.db.execute(
            "SELECT state, count(*) FROM outbox GROUP BY state").fetchall())

    def outbox_summary(self, now: datetime) -> OutboxSummary:
        """What ``status`` and ``deliver --dry-run`` say about the outbox at ``now``."""
        stamp = _ts(now)
        due, waiting, ambiguous, next_retry = self.db.execute(
            f"""SELECT
                  COALESCE(SUM(CASE WHEN state IN {_DUE_STATES} AND (next_attempt_at IS NULL
                                    OR next_attempt_at <= ?) THEN 1 ELSE 0 END), 0),
                  COALESCE(SUM(CASE WHEN state = 'retry' AND next_attempt_at > ?
                                    THEN 1 ELSE 0 END), 0),
                  COALESCE(SUM(ambiguous), 0),
                  MIN(CASE WHEN state = 'retry' AND next_attempt_at > ?
                           THEN next_attempt_at END)
                FROM outbox""", (stamp, stamp, stamp)).fetchone()
        return OutboxSummary(
            states=self.outbox_counts(), due=int(due), waiting=int(waiting),
            ambiguous=int(ambiguous),
            next_retry=datetime.fromisoformat(next_retry) if next_retry else None)

    def outbox_rows(self, issue_id: int | None = None) -> list[dict[str, Any]]:
        """Every row of the outbox (or of one issue) as a dict, for tests and JSON output."""
        return [dataclasses.asdict(entry) for entry in self.outbox_entries(issue_id=issue_id)]

    def outbox_entries(
        self, *, issue_id: int | None = None, states: Sequence[str] = (),
        ambiguous: bool = False, limit: int | None = None,
    ) -> list[OutboxEntry]:
        """Rows of the outbox, oldest first, as an operator looks at them."""
        clauses: list[str] = []
        params: list[object] = []
        if issue_id is not None:
            clauses.append("o.issue_id = ?")
            params.append(issue_id)
        if states:
            clauses.append(f"o.state IN ({','.join('?' * len(states))})")
            params.extend(states)
        if ambiguous:
            clauses.append("o.ambiguous = 1")
        sql = f"""SELECT o.id, o.issue_id, i.list_name, o.subscriber_id, o.address, o.language,
                         o.state, o.attempts, o.last_code, o.last_text, o.ambiguous,
                         o.message_id, o.next_attempt_at, o.sent_at
                  FROM outbox o JOIN issues i ON i.id = o.issue_id
                  {"WHERE " + " AND ".join(clauses) if clauses else ""} ORDER BY o.id"""
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return [OutboxEntry(int(r[0]), int(r[1]), str(r[2]), int(r[3]), str(r[4]), str(r[5]),
                            str(r[6]), int(r[7]), r[8], r[9], bool(r[10]), str(r[11]),
                            datetime.fromisoformat(r[12]) if r[12] else None,
                            datetime.fromisoformat(r[13]) if r[13] else None)
                for r in self.db.execute(sql, params)]

    def last_errors(self, limit: int = 5) -> list[tuple[str, int | None, str]]:
        rows = self.db.execute(
            """SELECT address, last_code, last_text FROM outbox
               WHERE state IN ('retry', 'failed') ORDER BY id DESC LIMIT ?""", (limit,))
        return [(str(a), c, str(t or "")) for a, c, t in rows]

    def record_bounce(self, subscriber_id: int, threshold: int, now: datetime) -> bool:
        """Count a permanent refusal; True when the address is now marked bounced."""
        self.db.execute("UPDATE subscribers SET bounces = bounces + 1 WHERE id = ?",
                        (subscriber_id,))
        cursor = self.db.execute(
            """UPDATE subscribers SET status = 'bounced', updated_at = ?
               WHERE id = ? AND bounces >= ? AND status = 'active'""",
            (_ts(now), subscriber_id, threshold))
        return cursor.rowcount > 0

    # -- quarantine ----------------------------------------------------------------------

    def record_quarantine(
        self, original_path: str, stored_path: str, reason: str, detail: str, now: datetime
    ) -> None:
        self.db.execute(
            """INSERT INTO quarantine (original_path, stored_path, reason, detail, at)
               VALUES (?, ?, ?, ?, ?)""",
            (original_path, stored_path, reason, detail, _ts(now)),
        )

    # -- totals --------------------------------------------------------------------------

    def counts(self) -> StoreCounts:
        by_language = dict(
            self.db.execute(
                "SELECT language, count(*) FROM reports GROUP BY language ORDER BY language"
            ).fetchall()
        )
        revisions = self.db.execute("SELECT count(*) FROM report_revisions").fetchone()[0]
        quarantined = self.db.execute("SELECT count(*) FROM quarantine").fetchone()[0]
        last = self.db.execute("SELECT max(seen_at) FROM inbox_files").fetchone()[0]
        unsummarised = self.db.execute(
            """SELECT count(*) FROM reports r LEFT JOIN summaries s ON s.report_id = r.id
               WHERE s.report_id IS NULL OR s.revision != r.revision"""
        ).fetchone()[0]
        return StoreCounts(
            reports=sum(by_language.values()),
            by_language=by_language,
            revisions=int(revisions),
            quarantined=int(quarantined),
            unsummarised=int(unsummarised),
            last_ingest=datetime.fromisoformat(last) if last else None,
        )


_REPORT_SELECT = ", ".join(
    f"r.{column}"
    for column in (
        "id revision title source kind published posted language dateline body content_hash "
        "path encoding ingested_at updated_at"
    ).split()
)


def _report_columns(report: Report) -> tuple[object, ...]:
    return (
        report.title,
        report.source,
        report.kind,
        report.published.isoformat() if report.published else None,
        report.posted.isoformat() if report.posted else None,
        report.language,
        report.dateline,
        report.body,
    )


def _stored_report(row: sqlite3.Row | tuple[object, ...]) -> StoredReport:
    (id_, revision, title, source, kind, published, posted, language, dateline, body,
     content_hash, path, encoding, ingested_at, updated_at) = tuple(row)
    return StoredReport(
        id=int(str(id_)),
        revision=int(str(revision)),
        report=Report(
            title=str(title),
            source=None if source is None else str(source),
            kind=None if kind is None else str(kind),
            published=date.fromisoformat(str(published)) if published else None,
            posted=date.fromisoformat(str(posted)) if posted else None,
            language=str(language),
            dateline=None if dateline is None else str(dateline),
            body=str(body),
        ),
        content_hash=str(content_hash),
        path=str(path),
        encoding=str(encoding),
        ingested_at=datetime.fromisoformat(str(ingested_at)),
        updated_at=datetime.fromisoformat(str(updated_at)),
    )


_LEASED = "('sending', 'transmitting')"
_DUE_STATES = "('pending', 'retry')"


def _skip_reason(status: str | None, membership: str | None, list_name: str) -> str:
    if status is None:
        return "skipped: the subscriber no longer exists"
    if status != "active":
        return f"skipped: the address is {status}"
    if membership is None:
        return f"skipped: not a member of {list_name}"
    return f"skipped: {membership} in {list_name}"
_SUBSCRIBER = ", ".join(
    f"s.{c}" for c in
    "id email name language format status consent_source consent_at bounces".split()
)


def _subscriber(row: Sequence[Any]) -> Subscriber:
    (id_, email, name, language, fmt, status, consent_source, consent_at, bounces) = row
    return Subscriber(int(id_), str(email), name, str(language), str(fmt), str(status),
                      str(consent_source), datetime.fromisoformat(str(consent_at)), int(bounces))


def _ts(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware")
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def open_store(path: Path, *, migrations: Sequence[tuple[str, str]] = MIGRATIONS) -> Store:
    """Open (creating if needed) the database at ``path`` and apply missing migrations."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(path, isolation_level=None, timeout=30.0)
    except (OSError, sqlite3.Error) as exc:
        raise StoreError(
            f"cannot open the database {path}: {exc}",
            hint="check that the folder exists and is writable, or set [paths] database",
        ) from exc
    try:
        connection.execute("PRAGMA journal_mode = WAL")
        connection.execute("PRAGMA synchronous = NORMAL")
        connection.execute("PRAGMA foreign_keys = ON")
        connection.execute("PRAGMA busy_timeout = 30000")
        migrate(connection, migrations)
    except sqlite3.DatabaseError as exc:
        connection.close()
        raise StoreError(
            f"{path} is not a usable newsletter database: {exc}",
            hint="point [paths] database at a new file, or restore this one from a backup",
        ) from exc
    except StoreError:
        connection.close()
        raise
    return Store(connection, path)


def migrate(connection: sqlite3.Connection, migrations: Sequence[tuple[str, str]]) -> list[str]:
    """Apply the migrations not yet recorded, in order, each in one transaction."""
    connection.execute(
        """CREATE TABLE IF NOT EXISTS schema_migrations (
               version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"""
    )
    applied = dict(connection.execute("SELECT version, name FROM schema_migrations").fetchall())
    if applied and max(applied) > len(migrations):
        raise StoreError(
            f"the database schema is at version {max(applied)}, newer than this program's "
            f"{len(migrations)}",
            hint="upgrade newsletter to the version that wrote this database",
        )
    done = []
    for version, (name, sql) in enumerate(migrations, start=1):
        if version in applied:
            if applied[version] != name:
                raise StoreError(
                    f"migration {version} is recorded as {applied[version]!r}, expected {name!r}",
                    hint="this database was written by a different program or branch",
                )
            continue
        connection.execute("BEGIN IMMEDIATE")
        try:
            for statement in _statements(sql):
                connection.execute(statement)
            connection.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                (version, name, _ts(datetime.now(UTC))),
            )
        except BaseException:
            connection.rollback()
            raise
        connection.execute("COMMIT")
        done.append(name)
    return done


def _statements(sql: str) -> Iterator[str]:
    """Split a migration into statements (executescript would commit the open transaction)."""
    buffer = ""
    for line in sql.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            statement = buffer.strip()
            if statement:
                yield statement
            buffer = ""
    if buffer.strip():
        yield buffer.strip()
