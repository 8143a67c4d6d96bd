"""What each list's scheduled jobs did, and when the service first saw each list (queries).

A scheduled fire is claimed before it is done: :meth:`ScheduleRuns.claim_fire` records (list,
kind, scheduled time) under a unique key, so a fire is done once however many schedulers
(or restarts) reach it.
"""

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
        did: the first record stands); returns the recorded start."""
        self.db.execute(
            f"""INSERT INTO schedule_runs (list_name, kind, at, outcome, issue_id)
                VALUES (?, ?, ?, 'list seen', NULL)
                ON CONFLICT (list_name) WHERE kind = '{_START}' DO NOTHING""",
            (list_name, _START, stamp(now)))
        known = self.list_start(list_name)
        assert known is not None
        return known

    def forget_list_start(self, list_name: str) -> None:
        """A list removed: added again, it starts again."""
        self.db.execute("DELETE FROM schedule_runs WHERE list_name = ? AND kind = ?",
                        (list_name, _START))

    def claim_fire(self, list_name: str, kind: str, fire: datetime, now: datetime) -> int | None:
        """Take the scheduled fire of ``kind`` for ``list_name`` at ``fire``; its run's ID, or
        None when it was taken already (another scheduler, or before a restart)."""
        found = self.db.scalar(
            """INSERT INTO schedule_runs (list_name, kind, at, outcome, issue_id, fire)
               VALUES (?, ?, ?, 'started', NULL, ?)
               ON CONFLICT (list_name, kind, fire) WHERE fire IS NOT NULL DO NOTHING
               RETURNING id""", (list_name, kind, stamp(now), stamp(fire)))
        return None if found is None else int(found)

    def finish(self, run_id: int, outcome: str, issue_id: int | None) -> None:
        """What a claimed fire came to."""
        self.db.execute("UPDATE schedule_runs SET outcome = ?, issue_id = ? WHERE id = ?",
                        (outcome, issue_id, run_id))

    def record(self, list_name: str, kind: str, at: datetime, outcome: str,
               issue_id: int | None) -> None:
        """A run that was not scheduled (a digest asked for from the command line)."""
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
