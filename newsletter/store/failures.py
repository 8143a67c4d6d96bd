"""Steps that failed for one report, and when each is tried again (queries).

A failure is recorded with its error and the number of attempts; the next attempt waits
:func:`backoff` (a minute, then four times longer each time, at most a day). A success clears
the record. What is recorded here is shown by ``newsletter status`` and ``reports show``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from newsletter.store.database import Database, stamp

_FIRST_WAIT = 60.0  # seconds before the first retry
_LONGEST_WAIT = 86_400.0
_ERROR_CHARS = 2_000  # of the error kept


def backoff(attempts: int) -> timedelta:
    """How long to wait after ``attempts`` failures: 1 min, 4 min, 16 min, … at most a day."""
    return timedelta(seconds=min(_LONGEST_WAIT, _FIRST_WAIT * 4 ** max(0, attempts - 1)))


@dataclass(frozen=True)
class Failure:
    report_id: int
    step: str
    attempts: int
    error: str
    first_failed_at: datetime
    last_failed_at: datetime
    next_attempt_at: datetime


class Failures:
    def __init__(self, db: Database) -> None:
        self.db = db

    def record(self, report_id: int, step: str, error: str, now: datetime) -> Failure:
        """One more failure of ``step`` for the report; returns the record."""
        with self.db.transaction():
            attempts = int(self.db.scalar(
                "SELECT attempts FROM report_failures WHERE report_id = ? AND step = ?",
                (report_id, step)) or 0) + 1
            self.db.execute(
                """INSERT INTO report_failures (report_id, step, attempts, error,
                     first_failed_at, last_failed_at, next_attempt_at)
                   VALUES (?, ?, ?, ?, ?, ?, ?)
                   ON CONFLICT (report_id, step) DO UPDATE SET attempts = excluded.attempts,
                     error = excluded.error, last_failed_at = excluded.last_failed_at,
                     next_attempt_at = excluded.next_attempt_at""",
                (report_id, step, attempts, error[:_ERROR_CHARS], stamp(now), stamp(now),
                 stamp(now + backoff(attempts))))
        found = self.of(report_id)
        return next(f for f in found if f.step == step)

    def clear(self, report_id: int, step: str) -> None:
        self.db.execute("DELETE FROM report_failures WHERE report_id = ? AND step = ?",
                        (report_id, step))

    def waiting(self, step: str, now: datetime) -> set[int]:
        """The reports whose ``step`` failed and is not to be tried again yet."""
        return {int(rid) for (rid,) in self.db.all(
            "SELECT report_id FROM report_failures WHERE step = ? AND next_attempt_at > ?",
            (step, stamp(now)))}

    def due(self, step: str, now: datetime) -> set[int]:
        """The reports whose ``step`` failed and may be tried again now."""
        return {int(rid) for (rid,) in self.db.all(
            "SELECT report_id FROM report_failures WHERE step = ? AND next_attempt_at <= ?",
            (step, stamp(now)))}

    def of(self, report_id: int) -> list[Failure]:
        return [_failure(row) for row in self.db.all(
            f"SELECT {_COLUMNS} FROM report_failures WHERE report_id = ? ORDER BY step",
            (report_id,))]

    def listing(self, *, limit: int = 50) -> list[Failure]:
        """The most recent failures, newest first."""
        return [_failure(row) for row in self.db.all(
            f"""SELECT {_COLUMNS} FROM report_failures
                ORDER BY last_failed_at DESC, report_id LIMIT ?""", (limit,))]

    def count(self) -> int:
        return int(self.db.scalar("SELECT count(*) FROM report_failures"))


_COLUMNS = ("report_id, step, attempts, error, first_failed_at, last_failed_at, "
            "next_attempt_at")


def _failure(row: tuple[object, ...]) -> Failure:
    rid, step, attempts, error, first, last, next_at = row
    return Failure(int(str(rid)), str(step), int(str(attempts)), str(error),
                   datetime.fromisoformat(str(first)), datetime.fromisoformat(str(last)),
                   datetime.fromisoformat(str(next_at)))
