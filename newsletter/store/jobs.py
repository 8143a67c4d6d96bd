"""Translation jobs: one row per report whose editions may be out of date, leased by a
translation worker the way outbox rows are (queries).

A job is queued again whenever what its report's editions are made from changes (the
report's text or its summary: ``source_key``). A worker claims the oldest waiting job under a
lease it renews while it translates; :meth:`TranslationJobs.finish` is fenced on the lease,
and :meth:`TranslationJobs.recover` gives the job of a worker that died to another.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from newsletter.store.database import Database, chunks, literals, stamp


class JobState(StrEnum):
    PENDING = "pending"
    RUNNING = "running"  # leased by a translation worker
    DONE = "done"
    FAILED = "failed"  # the worker's error is kept; queued again when the report changes


@dataclass(frozen=True)
class Job:
    report_id: int
    attempts: int


class TranslationJobs:
    def __init__(self, db: Database) -> None:
        self.db = db

    def enqueue(self, keys: Iterable[tuple[int, str]], now: datetime) -> int:
        """Queue a job for each (report ID, source key) whose key is new or changed; returns
        how many were queued. A job already waiting or running with that key is left as is."""
        return self.db.executemany(
            f"""INSERT INTO translation_jobs (report_id, source_key, state, queued_at)
                VALUES (?, ?, '{JobState.PENDING}', ?)
                ON CONFLICT (report_id) DO UPDATE SET source_key = excluded.source_key,
                  state = '{JobState.PENDING}', queued_at = excluded.queued_at,
                  attempts = 0, last_error = NULL
                WHERE translation_jobs.source_key <> excluded.source_key""",
            [(report_id, key, stamp(now)) for report_id, key in keys])

    def requeue_all(self, now: datetime) -> int:
        """Queue every finished job again (a translation worker starts with new models)."""
        return self.db.execute(
            f"""UPDATE translation_jobs SET state = '{JobState.PENDING}', queued_at = ?,
                  attempts = 0
                WHERE state IN {literals(JobState.DONE, JobState.FAILED)}""",
            (stamp(now),)).rowcount

    def claim(self, owner: str, now: datetime, lease: float) -> Job | None:
        """The oldest waiting job, leased to ``owner`` until ``now + lease``; None if none
        waits. Jobs another worker is claiming are passed over, not waited for."""
        with self.db.transaction():
            row = self.db.one(
                f"""SELECT report_id, attempts FROM translation_jobs
                    WHERE state = '{JobState.PENDING}' ORDER BY queued_at, report_id LIMIT 1
                    {self.db.dialect.skip_locked}""")
            if row is None:
                return None
            taken = self.db.execute(
                f"""UPDATE translation_jobs SET state = '{JobState.RUNNING}', lease_owner = ?,
                      lease_until = ?, attempts = attempts + 1
                    WHERE report_id = ? AND state = '{JobState.PENDING}'""",
                (owner, stamp(now + timedelta(seconds=lease)), row[0])).rowcount
        return Job(int(row[0]), int(row[1]) + 1) if taken == 1 else None

    def renew(self, owner: str, now: datetime, lease: float) -> int:
        return self.db.execute(
            f"""UPDATE translation_jobs SET lease_until = ?
                WHERE lease_owner = ? AND state = '{JobState.RUNNING}'""",
            (stamp(now + timedelta(seconds=lease)), owner)).rowcount

    def finish(self, report_id: int, owner: str, now: datetime, error: str | None = None) -> bool:
        """Done (or failed with ``error``), if ``owner`` still holds the job's lease."""
        state = JobState.DONE if error is None else JobState.FAILED
        return self.db.execute(
            f"""UPDATE translation_jobs SET state = ?, lease_owner = NULL, lease_until = NULL,
                  done_at = ?, last_error = ?
                WHERE report_id = ? AND lease_owner = ? AND state = '{JobState.RUNNING}'""",
            (state, stamp(now), error, report_id, owner)).rowcount == 1

    def release(self, owner: str) -> int:
        """Give back the jobs ``owner`` holds (a clean stop before they were done)."""
        return self.db.execute(
            f"""UPDATE translation_jobs SET state = '{JobState.PENDING}', lease_owner = NULL,
                  lease_until = NULL
                WHERE lease_owner = ? AND state = '{JobState.RUNNING}'""", (owner,)).rowcount

    def recover(self, now: datetime) -> int:
        """Jobs whose worker's lease ran out (it died or froze) wait again for another."""
        return self.db.execute(
            f"""UPDATE translation_jobs SET state = '{JobState.PENDING}', lease_owner = NULL,
                  lease_until = NULL
                WHERE state = '{JobState.RUNNING}' AND lease_until <= ?""",
            (stamp(now),)).rowcount

    def unfinished(self, report_ids: Sequence[int]) -> set[int]:
        """Those of ``report_ids`` whose job waits or runs."""
        found: set[int] = set()
        for chunk in chunks(report_ids):
            marks = ",".join("?" * len(chunk))
            found |= {int(row[0]) for row in self.db.all(
                f"""SELECT report_id FROM translation_jobs WHERE report_id IN ({marks})
                      AND state IN {literals(JobState.PENDING, JobState.RUNNING)}""", chunk)}
        return found

    def counts(self) -> dict[str, int]:
        return {str(state): int(n) for state, n in self.db.all(
            "SELECT state, count(*) FROM translation_jobs GROUP BY state")}

    def held_by(self) -> dict[str, int]:
        """The report whose job each owner holds."""
        return {str(owner): int(report_id) for owner, report_id in self.db.all(
            f"""SELECT lease_owner, report_id FROM translation_jobs
                WHERE state = '{JobState.RUNNING}'""")}
