"""What each list's scheduled jobs did, and when the service first saw each list (queries)."""

from __future__ import annotations

from datetime import datetime

from newsletter.issues.model import ScheduleRun
from newsletter.store.database import Database, stamp

_START = "start"  # the kind of the run that records when a list was first seen


class ScheduleRuns:
    def __init__(self, db: Database) -> None:
        self.db = db

    def list_start(self, list_name: str) -> datetime | None:
        """When the service first saw ``list_name``, if it has: a list gets the reports that
        arrive from then on, not the whole archive."""
        found = self.db.scalar(
            "SELECT at FROM schedule_runs WHERE list_name = ? AND kind = ?",
            (list_name, _START))
        return None if found is None else datetime.fromisoformat(found)

    def record_list_start(self, list_name: str, now: datetime) -> datetime:
        """Record that the service sees ``list_name`` from ``now`` on (unless it already
        did); returns the recorded start."""
        with self.db.transaction():
            known = self.list_start(list_name)
            if known is not None:
                return known
            self.db.execute(
                """INSERT INTO schedule_runs (list_name, kind, at, outcome, issue_id)
                   VALUES (?, ?, ?, 'list seen', NULL)""", (list_name, _START, stamp(now)))
        return datetime.fromisoformat(stamp(now))

    def record(self, list_name: str, kind: str, at: datetime, outcome: str,
               issue_id: int | None) -> None:
        self.db.execute(
            """INSERT INTO schedule_runs (list_name, kind, at, outcome, issue_id)
               VALUES (?, ?, ?, ?, ?)""", (list_name, kind, stamp(at), outcome, issue_id))

    def last(self, list_name: str, kind: str) -> ScheduleRun | None:
        row = self.db.one(
            """SELECT at, outcome, issue_id FROM schedule_runs WHERE list_name = ? AND kind = ?
               ORDER BY at DESC, id DESC LIMIT 1""", (list_name, kind))
        if row is None:
            return None
        return ScheduleRun(datetime.fromisoformat(row[0]), str(row[1]),
                           None if row[2] is None else int(row[2]))
