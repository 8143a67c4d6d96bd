"""Reports and every revision each has had (queries)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from newsletter.errors import NotFound
from newsletter.reports.model import Report, StoredReport
from newsletter.store.database import Database, Row, chunks, stamp

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

    def id_by_identity(self, identity_key: str) -> int | None:
        found = self.db.scalar(
            "SELECT id FROM reports WHERE identity_key = ? ORDER BY id LIMIT 1", (identity_key,))
        return None if found is None else int(found)

    def add(
        self, report: Report, *, content_hash: str, identity_key: str, path: str, encoding: str,
        now: datetime,
    ) -> int:
        with self.db.transaction():
            report_id = int(self.db.scalar(
                """INSERT INTO reports (identity_key, content_hash, revision, title, source,
                     kind, published, posted, language, dateline, body, path, encoding,
                     ingested_at, updated_at)
                   VALUES (?, ?, 1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id""",
                (identity_key, content_hash, *_columns(report), path, encoding,
                 stamp(now), stamp(now)),
            ))
            self._add_revision(report_id, 1, content_hash, path, now)
        return report_id

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
            self._add_revision(report_id, revision, content_hash, path, now)
        return revision

    def _add_revision(
        self, report_id: int, revision: int, content_hash: str, path: str, now: datetime
    ) -> None:
        self.db.execute(
            """INSERT INTO report_revisions (report_id, revision, content_hash, path, ingested_at)
               VALUES (?, ?, ?, ?, ?)""",
            (report_id, revision, content_hash, path, stamp(now)),
        )

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

    def set_places(self, found: dict[int, Sequence[str]], version: str) -> None:
        """Record the places detected in each report (ISO 3166 codes) with ``version``."""
        self.db.executemany(
            "UPDATE reports SET places = ?, places_version = ? WHERE id = ?",
            [(" ".join(codes), version, report_id) for report_id, codes in found.items()])

    def by_language(self) -> dict[str, int]:
        return {str(language): int(n) for language, n in self.db.all(
            "SELECT language, count(*) FROM reports GROUP BY language ORDER BY language")}

    def revisions(self) -> int:
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
