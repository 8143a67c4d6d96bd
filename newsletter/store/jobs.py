"""Translation jobs: one row per report whose editions may be out of date, leased by a
translation worker the way outbox rows are (queries).

A job is queued again whenever what its report's editions are made from changes (the
report's text or its summary: ``source_key``). A worker claims the oldest waiting job under a
lease it renews while it translates; :meth:`TranslationJobs.finish` is fenced on the lease,
and :meth:`TranslationJobs.recover` gives the job of a worker that died to another.

A job has two turns: the report's titles and summaries (``pending``, ``running``: what its
mail waits for), then its bodies for the web archive (``body``, ``body_running``). A body is
claimed only when no title or summary waits, and no mail waits for it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from enum import StrEnum

from newsletter.service.model import Job
from newsletter.store.database import Database, chunks, literals, stamp


class JobState(StrEnum):
    PENDING = "pending"  # the titles and summaries wait
    RUNNING = "running"  # leased by a translation worker
    BODY = "body"  # titles and summaries done; the bodies wait
    BODY_RUNNING = "body_running"  # the bodies, leased by a translation worker
    DONE = "done"
    FAILED = "failed"  # the worker's error is kept; queued again when the report changes


_LEASED = literals(JobState.RUNNING, JobState.BODY_RUNNING)
# A leased job given back (its worker stopped or died) waits again for the same turn.
_UNLEASED = (f"CASE state WHEN '{JobState.BODY_RUNNING}' THEN '{JobState.BODY}' "
             f"ELSE '{JobState.PENDING}' END")


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

    def retry(self, report_ids: Iterable[int], now: datetime) -> int:
        """Queue the failed jobs of ``report_ids`` again (their backoff has passed)."""
        return self.db.executemany(
            f"""UPDATE translation_jobs SET state = '{JobState.PENDING}', queued_at = ?
                WHERE report_id = ? AND state = '{JobState.FAILED}'""",
            [(stamp(now), report_id) for report_id in report_ids])

    def requeue_all(self, now: datetime) -> int:
        """Queue every job not waiting or running again (a translation worker starts with
        new models): its titles and summaries first, as for a new report."""
        return self.db.execute(
            f"""UPDATE translation_jobs SET state = '{JobState.PENDING}', queued_at = ?,
                  attempts = 0
                WHERE state IN {literals(JobState.DONE, JobState.FAILED, JobState.BODY)}""",
            (stamp(now),)).rowcount

    def claim(self, owner: str, now: datetime, lease: float, *,
              bodies: bool = True) -> Job | None:
        """The oldest job whose titles and summaries wait, else (with ``bodies``) the oldest
        whose bodies wait, leased to ``owner`` until ``now + lease``; None if none waits.
        Jobs another worker is claiming are passed over, not waited for."""
        turns = [(JobState.PENDING, JobState.RUNNING)]
        if bodies:
            turns.append((JobState.BODY, JobState.BODY_RUNNING))
        with self.db.transaction():
            for waiting, running in turns:
                row = self.db.one(
                    f"""SELECT report_id, attempts FROM translation_jobs
                        WHERE state = '{waiting}' ORDER BY queued_at, report_id LIMIT 1
                        {self.db.dialect.skip_locked}""")
                if row is None:
                    continue
                taken = self.db.execute(
                    f"""UPDATE translation_jobs SET state = '{running}', lease_owner = ?,
                          lease_until = ?, attempts = attempts + 1
                        WHERE report_id = ? AND state = '{waiting}'""",
                    (owner, stamp(now + timedelta(seconds=lease)), row[0])).rowcount
                if taken != 1:
                    return None
                return Job(int(row[0]), int(row[1]) + 1, body=running is JobState.BODY_RUNNING)
        return None

    def waiting(self) -> bool:
        """Whether any report's titles and summaries wait for a worker."""
        return self.db.one(
            f"SELECT 1 FROM translation_jobs WHERE state = '{JobState.PENDING}' LIMIT 1"
        ) is not None

    def renew(self, owner: str, now: datetime, lease: float) -> int:
        return self.db.execute(
            f"""UPDATE translation_jobs SET lease_until = ?
                WHERE lease_owner = ? AND state IN {_LEASED}""",
            (stamp(now + timedelta(seconds=lease)), owner)).rowcount

    def finish(self, report_id: int, owner: str, now: datetime, error: str | None = None, *,
               bodies_wait: bool = False) -> bool:
        """Done (or failed with ``error``; or, with ``bodies_wait``, waiting for the bodies'
        turn), if ``owner`` still holds the job's lease."""
        state = (JobState.FAILED if error is not None
                 else JobState.BODY if bodies_wait else JobState.DONE)
        return self.db.execute(
            f"""UPDATE translation_jobs SET state = ?, lease_owner = NULL, lease_until = NULL,
                  done_at = ?, last_error = ?
                WHERE report_id = ? AND lease_owner = ? AND state IN {_LEASED}""",
            (state, stamp(now), error, report_id, owner)).rowcount == 1

    def release(self, owner: str) -> int:
        """Give back the jobs ``owner`` holds (a clean stop before they were done)."""
        return self.db.execute(
            f"""UPDATE translation_jobs SET state = {_UNLEASED}, lease_owner = NULL,
                  lease_until = NULL
                WHERE lease_owner = ? AND state IN {_LEASED}""", (owner,)).rowcount

    def recover(self, now: datetime) -> int:
        """Jobs whose worker's lease ran out (it died or froze) wait again for another."""
        return self.db.execute(
            f"""UPDATE translation_jobs SET state = {_UNLEASED}, lease_owner = NULL,
                  lease_until = NULL
                WHERE state IN {_LEASED} AND lease_until <= ?""",
            (stamp(now),)).rowcount

    def unfinished(self, report_ids: Sequence[int]) -> set[int]:
        """Those of ``report_ids`` whose titles and summaries wait or are being translated
        (bodies still to translate do not count: no mail waits for them)."""
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
                WHERE state IN {_LEASED}""")}
