"""Reports and every revision each has had, with its text (queries).

A revision wrongly taken for an update can be split into a report of its own
(:meth:`Reports.split`): nothing is deleted; the revision's row moves to the new report and
remembers where it came from, and a list that got the report while it showed that revision
is recorded as having got the new one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime

from newsletter.errors import NewsletterError, NotFound
from newsletter.reports.model import Report, Revision, StoredReport
from newsletter.store.database import Database, Row, chunks, moment, stamp

COLUMNS = ", ".join(
    f"r.{column}"
    for column in (
        "id revision title source kind published posted language dateline body content_hash "
        "path encoding ingested_at updated_at places"
    ).split()
)


class Reports:
    def __init__(self, db: Database) -> None:
        self.db = db

    def id_by_hash(self, content_hash: str) -> int | None:
        """The report that has (or once had) this content."""
        found = self.db.scalar(
            "SELECT report_id FROM report_revisions WHERE content_hash = ?", (content_hash,))
        return None if found is None else int(found)

    def id_by_identity(self, title_key: str) -> int | None:
        """The first report stored under this title key."""
        found = self.db.scalar(
            "SELECT id FROM reports WHERE identity_key = ? ORDER BY id LIMIT 1", (title_key,))
        return None if found is None else int(found)

    def candidates(self, title_key: str, report_id: int | None, *,
                   limit: int = 20) -> list[StoredReport]:
        """The reports a new text may be an update of: the one its file held (``report_id``)
        and those with the same title key, the most recently changed first."""
        rows = self.db.all(
            f"""SELECT {COLUMNS} FROM reports r WHERE r.identity_key = ? OR r.id = ?
                ORDER BY r.updated_at DESC, r.id DESC LIMIT ?""",
            (title_key, -1 if report_id is None else report_id, limit))
        return [stored_report(row) for row in rows]

    def refresh_title_keys(self, key: Callable[[str], str]) -> int:
        """Compute the title key of the reports whose key an upgrade marked stale."""
        stale = self.db.all("SELECT id, title FROM reports WHERE identity_key LIKE 'stale:%'")
        if stale:
            self.db.executemany("UPDATE reports SET identity_key = ? WHERE id = ?",
                                [(key(str(title)), int(rid)) for rid, title in stale])
        return len(stale)

    def add(
        self, report: Report, *, content_hash: str, identity_key: str, path: str, encoding: str,
        now: datetime,
    ) -> int:
        with self.db.transaction():
            report_id = self._insert(report, content_hash=content_hash,
                                     identity_key=identity_key, path=path, encoding=encoding,
                                     ingested_at=now, now=now)
            self._add_revision(report_id, 1, content_hash, path, report, encoding, now)
        return report_id

    def _insert(self, report: Report, *, content_hash: str, identity_key: str, path: str,
                encoding: str, ingested_at: datetime, now: datetime) -> int:
        return int(self.db.scalar(
            """INSERT INTO reports (identity_key, content_hash, revision, title, source,
                 kind, published, posted, language, dateline, body, path, encoding,
                 ingested_at, updated_at)
               VALUES (?, ?, 1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id""",
            (identity_key, content_hash, *_columns(report), path, encoding,
             stamp(ingested_at), stamp(now)),
        ))

    def update(
        self, report_id: int, report: Report, *, content_hash: str, identity_key: str, path: str,
        encoding: str, now: datetime,
    ) -> int:
        """Store a changed version of a known report; returns its new revision number."""
        with self.db.transaction():
            found = self.db.scalar("SELECT revision FROM reports WHERE id = ?", (report_id,))
            if found is None:
                raise NotFound(f"no report {report_id}")
            revision = int(found) + 1
            self.db.execute(
                """UPDATE reports SET identity_key = ?, content_hash = ?, revision = ?,
                     title = ?, source = ?, kind = ?, published = ?, posted = ?, language = ?,
                     dateline = ?, body = ?, path = ?, encoding = ?, updated_at = ?,
                     places = NULL, places_version = NULL
                   WHERE id = ?""",
                (identity_key, content_hash, revision, *_columns(report), path, encoding,
                 stamp(now), report_id),
            )
            self._add_revision(report_id, revision, content_hash, path, report, encoding, now)
        return revision

    def _add_revision(
        self, report_id: int, revision: int, content_hash: str, path: str, report: Report,
        encoding: str, now: datetime,
    ) -> None:
        self.db.execute(
            """INSERT INTO report_revisions (report_id, revision, content_hash, path, ingested_at,
                 title, source, kind, published, posted, language, dateline, body, encoding)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            (report_id, revision, content_hash, path, stamp(now), *_columns(report), encoding),
        )

    def history(self, report_id: int) -> list[Revision]:
        """Every revision the report has had, oldest first, with those split off it."""
        self.get(report_id)  # NotFound with its hint
        return [_revision(row) for row in self.db.all(
            f"""SELECT {_REVISION} FROM report_revisions
                WHERE report_id = ? OR split_from = ?
                ORDER BY CASE WHEN split_from = ? THEN split_revision ELSE revision END""",
            (report_id, report_id, report_id))]

    def keep_text(self, report_id: int, revision: int, report: Report, encoding: str) -> None:
        """Record the text of a revision whose text was not kept (ingested before revisions
        kept theirs), read again from its file."""
        self.db.execute(
            """UPDATE report_revisions SET title = ?, source = ?, kind = ?, published = ?,
                 posted = ?, language = ?, dateline = ?, body = ?, encoding = ?
               WHERE report_id = ? AND revision = ?""",
            (*_columns(report), encoding, report_id, revision))

    def split(self, report_id: int, revision: int, *, title_key: Callable[[str], str],
              now: datetime) -> int:
        """Make ``revision`` of ``report_id`` a report of its own; returns its ID. The report
        goes back to its latest other revision when the split one was its current text."""
        with self.db.transaction():
            history = [r for r in self.history(report_id) if r.report_id == report_id]
            chosen = next((r for r in history if r.revision == revision), None)
            if chosen is None:
                raise NotFound(f"report {report_id} has no revision {revision}",
                               hint=f"`newsletter reports show {report_id}` lists its revisions")
            if len(history) < 2:
                raise NewsletterError(
                    f"report {report_id} has only one revision: there is nothing to split",
                    hint="split a report that ingest took for an update of another")
            rest = [r for r in history if r.revision != revision]
            for needed in (chosen, rest[-1]):
                if needed.report is None:
                    raise NewsletterError(
                        f"the text of revision {needed.revision} of report {report_id} was not "
                        "kept", hint=f"put its file ({needed.path}) back in the inbox and run "
                                     "the command again")
            assert chosen.report is not None
            # It arrived when the revision did; it changed now, so the lists that never got
            # it find it new.
            new_id = self._insert(chosen.report, content_hash=chosen.content_hash,
                                  identity_key=title_key(chosen.report.title), path=chosen.path,
                                  encoding=chosen.encoding or "utf-8",
                                  ingested_at=chosen.ingested_at, now=now)
            self.db.execute(
                """UPDATE report_revisions SET report_id = ?, revision = 1, split_from = ?,
                     split_revision = ? WHERE report_id = ? AND revision = ?""",
                (new_id, report_id, revision, report_id, revision))
            current = self.get(report_id)
            if current.revision == revision:
                back = rest[-1]
                assert back.report is not None
                self.db.execute(
                    """UPDATE reports SET content_hash = ?, revision = ?, title = ?, source = ?,
                         kind = ?, published = ?, posted = ?, language = ?, dateline = ?,
                         body = ?, path = ?, encoding = ?, identity_key = ?, places = NULL,
                         places_version = NULL WHERE id = ?""",
                    (back.content_hash, back.revision, *_columns(back.report), back.path,
                     back.encoding or current.encoding, title_key(back.report.title),
                     report_id))
            later = [r for r in history if r.revision > revision]
            if not later or later[0].path != chosen.path:
                self.db.execute(
                    "UPDATE inbox_files SET report_id = ? WHERE report_id = ? AND path = ?",
                    (new_id, report_id, chosen.path))
            # A list that got the report while it showed this revision got the new report.
            until = stamp(later[0].ingested_at) if later else "9999"
            self.db.execute(
                """INSERT INTO issue_reports (list_name, report_id, issue_id)
                   SELECT ir.list_name, ?, ir.issue_id FROM issue_reports ir
                     JOIN issues i ON i.id = ir.issue_id
                    WHERE ir.report_id = ? AND i.created_at >= ? AND i.created_at < ?
                   ON CONFLICT DO NOTHING""",
                (new_id, report_id, stamp(chosen.ingested_at), until))
        return new_id

    def get(self, report_id: int) -> StoredReport:
        row = self.db.one(f"SELECT {COLUMNS} FROM reports r WHERE id = ?", (report_id,))
        if row is None:
            raise NotFound(
                f"no report with ID {report_id}",
                hint="`newsletter reports list` shows the IDs of stored reports",
            )
        return stored_report(row)

    def get_many(self, report_ids: Sequence[int]) -> dict[int, StoredReport]:
        """The reports with these IDs, in one query per 500; a missing one is an error."""
        found: dict[int, StoredReport] = {}
        for chunk in chunks(report_ids):
            marks = ",".join("?" * len(chunk))
            for row in self.db.all(f"SELECT {COLUMNS} FROM reports r WHERE id IN ({marks})",
                                   chunk):
                report = stored_report(row)
                found[report.id] = report
        for report_id in report_ids:
            if report_id not in found:
                self.get(report_id)  # raises NotFound with its hint
        return {report_id: found[report_id] for report_id in report_ids}

    def newest(self, *, limit: int | None = None) -> list[StoredReport]:
        """Stored reports, the most recently published first."""
        sql = f"SELECT {COLUMNS} FROM reports r ORDER BY published DESC, id DESC"
        params: Sequence[int] = ()
        if limit is not None:
            sql += " LIMIT ?"
            params = (limit,)
        return [stored_report(row) for row in self.db.all(sql, params)]

    def unplaced(self, version: str) -> list[StoredReport]:
        """Reports whose places were not detected with the gazetteer ``version`` (new, changed,
        or detected with another gazetteer)."""
        return [stored_report(row) for row in self.db.all(
            f"""SELECT {COLUMNS} FROM reports r
                WHERE places_version IS NULL OR places_version <> ? ORDER BY id""", (version,))]

    def set_places(self, found: Mapping[int, Sequence[str]], version: str) -> None:
        """Record the places detected in each report (ISO 3166 codes) with ``version``."""
        self.db.executemany(
            "UPDATE reports SET places = ?, places_version = ? WHERE id = ?",
            [(" ".join(codes), version, report_id) for report_id, codes in found.items()])

    def by_language(self) -> dict[str, int]:
        return {str(language): int(n) for language, n in self.db.all(
            "SELECT language, count(*) FROM reports GROUP BY language ORDER BY language")}

    def revision_count(self) -> int:
        return int(self.db.scalar("SELECT count(*) FROM report_revisions"))


def _columns(report: Report) -> tuple[object, ...]:
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


_REVISION = ("report_id, revision, content_hash, path, ingested_at, title, source, kind, "
             "published, posted, language, dateline, body, encoding, split_from, split_revision")


def _revision(row: Row) -> Revision:
    (report_id, revision, content_hash, path, ingested_at, title, source, kind, published,
     posted, language, dateline, body, encoding, split_from, split_revision) = row
    report = None if body is None else Report(
        title=str(title), source=None if source is None else str(source),
        kind=None if kind is None else str(kind),
        published=date.fromisoformat(str(published)) if published else None,
        posted=date.fromisoformat(str(posted)) if posted else None,
        language=str(language), dateline=None if dateline is None else str(dateline),
        body=str(body))
    ingested = moment(str(ingested_at))
    assert ingested is not None
    return Revision(
        report_id=int(report_id), revision=int(revision), content_hash=str(content_hash),
        path=str(path), ingested_at=ingested, report=report,
        encoding=None if encoding is None else str(encoding),
        split_from=None if split_from is None else int(split_from),
        split_revision=None if split_revision is None else int(split_revision))


def stored_report(row: Row) -> StoredReport:
    """A report from the :data:`COLUMNS` of a row."""
    (id_, revision, title, source, kind, published, posted, language, dateline, body,
     content_hash, path, encoding, ingested_at, updated_at, places) = row
    return StoredReport(
        id=int(id_),
        revision=int(revision),
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
        places=tuple(str(places).split()) if places else (),
    )
