"""What the public feeds are made of: the reports each list carried, what is held back, an
alert's CAP values, and a fingerprint of all of it for HTTP caching (queries)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from newsletter.store.database import Database


@dataclass(frozen=True)
class Carried:
    """A report a list carried, and the issue that first carried it."""

    report_id: int
    issue_id: int
    sent_at: datetime


@dataclass(frozen=True)
class SentAlert:
    issue_id: int
    report_id: int
    sent_at: datetime


class Feeds:
    def __init__(self, db: Database) -> None:
        self.db = db

    def carried(self, list_name: str, limit: int = 50) -> list[Carried]:
        """The reports ``list_name`` carried, newest first."""
        return [Carried(int(r[0]), int(r[1]), datetime.fromisoformat(str(r[2])))
                for r in self.db.all(
                    """SELECT ir.report_id, ir.issue_id, i.created_at FROM issue_reports ir
                         JOIN issues i ON i.id = ir.issue_id
                        WHERE ir.list_name = ?
                        ORDER BY ir.issue_id DESC, ir.report_id DESC LIMIT ?""",
                    (list_name, limit))]

    def held(self, list_name: str, language: str) -> set[int]:
        """Reports whose ``language`` edition ``list_name`` still holds back."""
        return {int(r[0]) for r in self.db.all(
            """SELECT report_id FROM holds WHERE list_name = ? AND language = ?
                 AND released_issue IS NULL""", (list_name, language))}

    def alerts(self, list_name: str, limit: int = 50) -> list[SentAlert]:
        """The alert issues of ``list_name``, newest first."""
        rows = self.db.all(
            """SELECT i.id, ir.report_id, i.created_at FROM issues i
                 JOIN issue_reports ir ON ir.issue_id = i.id AND ir.list_name = i.list_name
                WHERE i.list_name = ? AND i.kind = 'alert'
                ORDER BY i.created_at DESC, i.id DESC LIMIT ?""", (list_name, limit))
        return [SentAlert(int(r[0]), int(r[1]), datetime.fromisoformat(str(r[2])))
                for r in rows]

    def alert(self, issue_id: int) -> SentAlert | None:
        row = self.db.one(
            """SELECT i.id, ir.report_id, i.created_at FROM issues i
                 JOIN issue_reports ir ON ir.issue_id = i.id
                WHERE i.id = ? AND i.kind = 'alert'""", (issue_id,))
        return None if row is None else SentAlert(int(row[0]), int(row[1]),
                                                  datetime.fromisoformat(str(row[2])))

    def earlier_alerts(self, report_id: int, issue_id: int) -> list[SentAlert]:
        """Alerts that carried ``report_id`` before ``issue_id`` (to any list): a later one
        is a CAP Update of them."""
        rows = self.db.all(
            """SELECT DISTINCT i.id, ir.report_id, i.created_at FROM issues i
                 JOIN issue_reports ir ON ir.issue_id = i.id
                WHERE ir.report_id = ? AND i.kind = 'alert' AND i.id < ?
                ORDER BY i.id""", (report_id, issue_id))
        return [SentAlert(int(r[0]), int(r[1]), datetime.fromisoformat(str(r[2])))
                for r in rows]

    def cap_values(self, report_id: int) -> dict[str, str]:
        """The CAP values the office set for one report (category, urgency, …)."""
        row = self.db.one("SELECT category, urgency, severity, certainty FROM report_cap "
                          "WHERE report_id = ?", (report_id,))
        keys = ("category", "urgency", "severity", "certainty")
        return {} if row is None else {k: str(v) for k, v in zip(keys, row, strict=True) if v}

    def set_cap_values(self, report_id: int, values: Mapping[str, str]) -> None:
        current = {**self.cap_values(report_id), **values}
        self.db.execute(
            """INSERT INTO report_cap (report_id, category, urgency, severity, certainty)
               VALUES (?, ?, ?, ?, ?)
               ON CONFLICT (report_id) DO UPDATE SET category = excluded.category,
                 urgency = excluded.urgency, severity = excluded.severity,
                 certainty = excluded.certainty""",
            (report_id, current.get("category"), current.get("urgency"),
             current.get("severity"), current.get("certainty")))

    def fingerprint(self, list_name: str, language: str, limit: int = 50) -> str:
        """What a list's feeds in ``language`` are made of, in one query bounded by the
        ``limit`` newest reports it carried (a feed shows no more), whatever its history:
        it changes when a report is carried or updated, an edition or a review changes, a
        hold is released, or the list (kept in the database) changes (a report's CAP values
        are in its alert's document only: :meth:`alert_fingerprint`). A list of
        newsletter.toml changes with the file: the web app adds its time."""
        row = self.db.one(
            """WITH newest AS (
                   SELECT report_id, issue_id FROM issue_reports WHERE list_name = ?
                    ORDER BY issue_id DESC, report_id DESC LIMIT ?)
               SELECT count(*), max(n.issue_id), max(r.updated_at),
                      (SELECT max(e.created_at) FROM editions e
                        WHERE e.language = ? AND e.report_id IN (SELECT report_id FROM newest)),
                      (SELECT max(v.at) FROM edition_reviews v
                        WHERE v.language = ? AND v.report_id IN (SELECT report_id FROM newest)),
                      (SELECT count(*) FROM holds h WHERE h.list_name = ?
                          AND h.released_issue IS NULL),
                      (SELECT spec FROM lists l WHERE l.name = ?)
                 FROM newest n JOIN reports r ON r.id = n.report_id""",
            (list_name, limit, language, language, list_name, list_name))
        return hashlib.sha256(repr(row).encode()).hexdigest()[:32]

    def alert_fingerprint(self, issue_id: int) -> str:
        """What an alert's CAP document is made of, in one query (its ETag)."""
        row = self.db.one(
            """SELECT i.id, r.updated_at, c.category, c.urgency, c.severity, c.certainty,
                      (SELECT max(e.created_at) FROM editions e WHERE e.report_id = r.id),
                      (SELECT max(v.at) FROM edition_reviews v WHERE v.report_id = r.id)
                 FROM issues i JOIN issue_reports ir ON ir.issue_id = i.id
                 JOIN reports r ON r.id = ir.report_id
                 LEFT JOIN report_cap c ON c.report_id = r.id
                WHERE i.id = ? AND i.kind = 'alert'""", (issue_id,))
        return hashlib.sha256(repr(row).encode()).hexdigest()[:32]
