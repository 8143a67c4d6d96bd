"""The outbox: one row per message, claimed under a lease and moved through its states by
fenced writes (queries). The states and what they mean: :mod:`newsletter.delivery.rules`."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from newsletter.delivery.rules import (
    Change,
    Claimed,
    LastError,
    OutboxEntry,
    OutboxRow,
    OutboxSummary,
    Recovered,
    Requeued,
    State,
)
from newsletter.store.database import Database, chunks, literals, moment, stamp
from newsletter.store.tally import OutboxTally
from newsletter.subscribers.addresses import Status

_LEASED = literals(State.SENDING, State.TRANSMITTING)
# One fenced move of a row (:meth:`Outbox.write`): only its lease holder, only from the state
# it expects.
_MOVE = """UPDATE outbox SET state = ?, last_code = COALESCE(?, last_code),
      last_text = COALESCE(?, last_text), next_attempt_at = ?, attempts = attempts + ?,
      ambiguous = CASE WHEN ? = 1 THEN 1 ELSE ambiguous END, sent_at = COALESCE(?, sent_at),
      lease_owner = CASE WHEN ? = 1 THEN lease_owner ELSE NULL END,
      lease_until = CASE WHEN ? = 1 THEN lease_until ELSE NULL END
    WHERE id = ? AND lease_owner = ? AND state = ?"""
_DUE = literals(State.PENDING, State.RETRY)
# Marks a statement that moves rows between the states on the way out only (never from or to
# sent, failed or skipped) and sets no next_attempt_at: SQLite's tally triggers do not watch
# it (newsletter.store.tally; tests/unit/test_tally_watch.py holds every statement to this).
_UNSETTLED = "/* unsettled to unsettled */ "
_REFUSED = literals(State.RETRY, State.FAILED)
_ACTIVE = f"s.status = '{Status.ACTIVE}' AND m.status = '{Status.ACTIVE}'"
# A message and what decides whether it may still go: its subscriber and their membership
# of the issue's list.
_WITH_MEMBERSHIP = """JOIN issues i ON i.id = o.issue_id
    LEFT JOIN subscribers s ON s.id = o.subscriber_id
    LEFT JOIN subscriptions m ON m.subscriber_id = o.subscriber_id
         AND m.list_name = i.list_name"""


class Outbox:
    """Every query on a path that runs again and again (claims, fences, writes, renewals,
    recovery, the summary) goes through an index whose size follows the waiting work, not
    the history: the partial indexes of due, leased and refused rows, and the tally
    (:mod:`newsletter.store.tally`) for counts. ``bench/history.py`` measures each with
    millions of sent rows."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.tally = OutboxTally(db)

    def claim(self, owner: str, limit: int, now: datetime, lease: float) -> Claimed:
        """Take up to ``limit`` due messages for ``owner`` under a lease that runs out at
        ``now + lease`` unless renewed (:meth:`renew`). A due message whose subscriber is no
        longer active, or no longer a member of the issue's list, is not claimed but marked
        skipped, with the reason: an unsubscription after queueing is honoured."""
        until = stamp(now + timedelta(seconds=lease))
        with self.db.transaction():
            # The due rows come straight off the (state, next_attempt_at) index, however many
            # sent rows pile up (bench/scale.py measures it with 1,000,000 of them); no sort of
            # the whole queue per claim. On PostgreSQL the rows taken are locked and those
            # another claim holds are passed over (SKIP LOCKED), so claims never wait.
            found = self.db.all(
                f"""WITH due AS (
                      SELECT id FROM outbox WHERE state IN {_DUE}
                        AND (next_attempt_at IS NULL OR next_attempt_at <= ?) LIMIT ?
                        {self.db.dialect.skip_locked})
                    SELECT o.id, o.issue_id, o.subscriber_id, o.address, o.name, o.language,
                           o.message_id, o.attempts, o.format, s.status, m.status, i.list_name,
                           o.wanted
                    FROM due JOIN outbox o ON o.id = due.id {_WITH_MEMBERSHIP}
                    ORDER BY o.id""", (stamp(now), limit))
            sendable = [row for row in found if row[9] == Status.ACTIVE == row[10]]
            stale = [row for row in found if not row[9] == Status.ACTIVE == row[10]]
            self.db.executemany(
                f"""UPDATE outbox SET state = '{State.SKIPPED}', lease_owner = NULL,
                      lease_until = NULL, next_attempt_at = NULL, last_text = ?
                    WHERE id = ? AND state IN {_DUE}""",
                [(_skip_reason(row[9], row[10], row[11]), row[0]) for row in stale])
            if sendable:
                # One statement for the batch, by primary key alone: the rows are held since
                # the SELECT (SQLite's BEGIN IMMEDIATE, PostgreSQL's FOR UPDATE), so their
                # state cannot have changed, and a condition on it would lead SQLite's
                # planner to the index of due rows: a scan of the whole queue per claim
                # (2.7 ms a claim with 60,000 rows due, against 0.05 ms).
                marks = ",".join("?" * len(sendable))
                self.db.execute(
                    f"""UPDATE outbox SET {_UNSETTLED}state = '{State.SENDING}', lease_owner = ?,
                          lease_until = ?
                        WHERE id IN ({marks})""",
                    (owner, until, *(row[0] for row in sendable)))
        return Claimed([OutboxRow(int(row[0]), int(row[1]), int(row[2]), str(row[3]), row[4],
                                  str(row[5]), str(row[6]), int(row[7]), str(row[8]), row[12])
                        for row in sendable], len(stale))

    def renew(self, owner: str, now: datetime, lease: float) -> int:
        """Extend the lease of every message ``owner`` holds; returns how many it holds."""
        return self.db.execute(
            f"""UPDATE outbox SET lease_until = ?
                WHERE lease_owner = ? AND state IN {_LEASED}""",
            (stamp(now + timedelta(seconds=lease)), owner)).rowcount

    def write(self, changes: Sequence[Change], owner: str, now: datetime) -> list[bool]:
        """Make ``changes``, each only if ``owner`` still holds the row's lease and the row is
        in the state the change expects, all in one transaction (one commit for many
        outcomes: the sender batches them). Returns, per change, whether it was made: False
        means the lease was lost (it ran out and recovery took the row over), and a message
        whose move to ``transmitting`` failed must not be sent. A row that leaves the leased
        states gives its lease up; ``sent_at`` is ``now`` for a row that becomes sent."""
        sent_at = stamp(now)
        made = []
        with self.db.transaction():
            for change in changes:
                leased = change.state in (State.SENDING, State.TRANSMITTING)
                made.append(self.db.execute(
                    _MOVE, (change.state, change.code, change.text[:500] or None,
                            stamp(change.next_attempt_at) if change.next_attempt_at else None,
                            int(change.attempted), int(change.ambiguous),
                            sent_at if change.state is State.SENT else None,
                            int(leased), int(leased), change.row_id, owner,
                            change.expected)).rowcount == 1)
        return made

    def fence(self, ids: Sequence[int], owner: str) -> set[int]:
        """Move the rows ``ids`` that ``owner`` holds from ``sending`` to ``transmitting``,
        in one statement: their data may go from now on. Returns those it moved (a row not
        among them was lost to recovery and must not be sent). The sender first skips the
        rows whose reader left since they were claimed (:meth:`skip_departed`), in the same
        transaction."""
        moved: set[int] = set()
        for chunk in chunks(ids):
            marks = ",".join("?" * len(chunk))
            moved.update(int(row[0]) for row in self.db.all(
                f"""UPDATE outbox SET {_UNSETTLED}state = '{State.TRANSMITTING}'
                    WHERE id IN ({marks}) AND lease_owner = ? AND state = '{State.SENDING}'
                    RETURNING id""", (*chunk, owner)))
        return moved

    def skip_departed(self, ids: Sequence[int], owner: str) -> int:
        """Skip the rows ``ids`` (held by ``owner``, claimed) whose reader is no longer an
        active member of the issue's list, or no longer exists (erased): an unsubscription,
        a bounce or an erasure while a send is in flight is honoured up to the moment the
        data would go. Returns how many."""
        skipped = 0
        for chunk in chunks(ids):
            skipped += self._skip_departed(chunk, owner)
        return skipped

    def _skip_departed(self, ids: Sequence[int], owner: str) -> int:
        marks = ",".join("?" * len(ids))
        return self.db.execute(
            f"""UPDATE outbox SET state = '{State.SKIPPED}', lease_owner = NULL,
                  lease_until = NULL, next_attempt_at = NULL,
                  last_text = 'skipped: the reader left or was stopped after queueing'
                WHERE id IN ({marks}) AND lease_owner = ? AND state = '{State.SENDING}'
                  AND NOT EXISTS (
                    SELECT 1 FROM subscribers s JOIN subscriptions m
                        ON m.subscriber_id = s.id
                      JOIN issues i ON i.list_name = m.list_name
                     WHERE s.id = outbox.subscriber_id AND i.id = outbox.issue_id
                       AND s.status = '{Status.ACTIVE}' AND m.status = '{Status.ACTIVE}')""",
            (*ids, owner)).rowcount

    def recover(self, now: datetime) -> Recovered:
        """Take over the messages whose owner's lease ran out (it crashed or froze: a live
        owner renews its lease): those claimed but never transmitted go back to pending;
        those whose data was on its way are retried and marked ambiguous (a duplicate is
        possible). Each sweep runs it, so it also folds the tally's moves
        (:meth:`OutboxTally.fold`)."""
        # "state IN (leased)" names the partial index of leased rows: SQLite uses a partial
        # index only when the query repeats its condition (state = 'sending' alone made it
        # scan every row: 361 ms a sweep with 1,000,000 sent rows).
        with self.db.transaction():
            requeued = self.db.execute(
                f"""UPDATE outbox SET {_UNSETTLED}state = '{State.PENDING}', lease_owner = NULL,
                      lease_until = NULL
                    WHERE state IN {_LEASED} AND state = '{State.SENDING}'
                      AND lease_until <= ?""",
                (stamp(now),)).rowcount
            ambiguous = self.db.execute(
                f"""UPDATE outbox SET state = '{State.RETRY}', ambiguous = 1,
                      lease_owner = NULL, lease_until = NULL, next_attempt_at = NULL,
                      last_text = 'outcome unknown: interrupted after the data was sent'
                    WHERE state IN {_LEASED} AND state = '{State.TRANSMITTING}'
                      AND lease_until <= ?""",
                (stamp(now),)).rowcount
        self.tally.fold()
        return Recovered(requeued, ambiguous)

    def release(self, owner: str) -> int:
        """Give back messages ``owner`` claimed but did not start (a clean stop)."""
        return self.db.execute(
            f"""UPDATE outbox SET {_UNSETTLED}state = '{State.PENDING}', lease_owner = NULL,
                  lease_until = NULL
                WHERE state = '{State.SENDING}' AND lease_owner = ?""", (owner,)).rowcount

    def requeue(self, issue_id: int | None = None) -> Requeued:
        """``newsletter retry``: messages waiting to retry become due now, and failed ones
        go back to the queue, except permanent refusals (5xx but 552) and messages to an
        address that is no longer active in the list (bounced, unsubscribed, suppressed)."""
        scope, params = ("AND o.issue_id = ?", (issue_id,)) if issue_id is not None else ("", ())
        permanent = "(o.last_code >= 500 AND o.last_code != 552)"
        with self.db.transaction():
            due = self.db.execute(
                f"""UPDATE outbox SET next_attempt_at = NULL WHERE id IN (
                      SELECT o.id FROM outbox o {_WITH_MEMBERSHIP}
                      WHERE o.state = '{State.RETRY}' AND {_ACTIVE} {scope})""",
                params).rowcount
            failed = self.db.execute(
                f"""UPDATE outbox SET state = '{State.PENDING}', attempts = 0,
                      next_attempt_at = NULL
                    WHERE id IN (SELECT o.id FROM outbox o {_WITH_MEMBERSHIP}
                                 WHERE o.state = '{State.FAILED}' AND {_ACTIVE}
                                   AND NOT {permanent} {scope})""", params).rowcount
            kept = self.db.one(
                f"""SELECT COALESCE(SUM(CASE WHEN {permanent} THEN 1 ELSE 0 END), 0),
                           COALESCE(SUM(CASE WHEN {permanent} THEN 0 ELSE 1 END), 0)
                    FROM outbox o {_WITH_MEMBERSHIP}
                    WHERE o.state = '{State.FAILED}' {scope}""", params) or (0, 0)
        return Requeued(made_due=due, requeued=failed, permanent=int(kept[0]),
                        inactive=int(kept[1]))

    def counts(self) -> dict[str, int]:
        """Rows per state: those on their way from their partial indexes, the settled ones
        from the tally (no settled row is read)."""
        return self._counts()[0]

    def _counts(self) -> tuple[dict[str, int], int]:
        """Rows per state, and how many had an unknown outcome once. Each query names a
        partial index's condition, so that SQLite reads that index alone."""
        states, ambiguous = self.tally.settled()
        for kinds in (_DUE, _LEASED):
            for state, n, flagged in self.db.all(
                    f"""SELECT state, count(*), COALESCE(sum(ambiguous), 0) FROM outbox
                        WHERE state IN {kinds} GROUP BY state"""):
                states[str(state)] = int(n)
                ambiguous += int(flagged)
        return states, ambiguous

    def summary(self, now: datetime) -> OutboxSummary:
        """What ``status`` and ``deliver --dry-run`` say about the outbox at ``now``: the
        counts (:meth:`counts`), and what is due and waiting from the due rows' index."""
        at = stamp(now)
        due, waiting, next_retry = self.db.one(
            f"""SELECT
                  COALESCE(SUM(CASE WHEN next_attempt_at IS NULL OR next_attempt_at <= ?
                                    THEN 1 ELSE 0 END), 0),
                  COALESCE(SUM(CASE WHEN state = '{State.RETRY}' AND next_attempt_at > ?
                                    THEN 1 ELSE 0 END), 0),
                  MIN(CASE WHEN state = '{State.RETRY}' AND next_attempt_at > ?
                           THEN next_attempt_at END)
                FROM outbox WHERE state IN {_DUE}""", (at, at, at)) or (0, 0, None)
        states, ambiguous = self._counts()
        return OutboxSummary(states=states, due=int(due), waiting=int(waiting),
                             ambiguous=ambiguous, next_retry=moment(next_retry))

    def rows(self, issue_id: int | None = None) -> list[dict[str, Any]]:
        """Every row of the outbox (or of one issue) as a dict, for JSON output."""
        return [dataclasses.asdict(entry) for entry in self.entries(issue_id=issue_id)]

    def entries(
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
                         o.message_id, o.next_attempt_at, o.sent_at, o.returned
                  FROM outbox o JOIN issues i ON i.id = o.issue_id
                  {"WHERE " + " AND ".join(clauses) if clauses else ""} ORDER BY o.id"""
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return [OutboxEntry(int(r[0]), int(r[1]), str(r[2]), int(r[3]), str(r[4]), str(r[5]),
                            str(r[6]), int(r[7]), r[8], r[9], bool(r[10]), str(r[11]),
                            moment(r[12]), moment(r[13]), r[14])
                for r in self.db.all(sql, params)]

    def last_errors(self, limit: int = 5) -> list[LastError]:
        """The latest refusals of messages waiting to retry or failed, newest first (from
        the index of refused rows: the sent ones are never walked)."""
        rows = self.db.all(
            f"""SELECT address, last_code, last_text FROM outbox
                WHERE state IN {_REFUSED}
                ORDER BY id DESC LIMIT ?""", (limit,))
        return [LastError(str(a), None if c is None else int(c), str(t or ""))
                for a, c, t in rows]


def _skip_reason(status: str | None, membership: str | None, list_name: str) -> str:
    if status is None:
        return "skipped: the subscriber no longer exists"
    if status != Status.ACTIVE:
        return f"skipped: the address is {status}"
    if membership is None:
        return f"skipped: not a member of {list_name}"
    return f"skipped: {membership} in {list_name}"
