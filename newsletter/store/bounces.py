"""What came back: returned messages, what each did to its reader, and what a list's mail
became (queries). The rules themselves are :mod:`newsletter.bounces.rules`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from newsletter.bounces.rules import (
    UNMATCHED_OUTCOMES,
    BounceRules,
    Decision,
    Kind,
    Outcome,
    Standing,
    decide,
)
from newsletter.store.database import Database, literals, moment, stamp
from newsletter.store.subscribers import Subscribers
from newsletter.store.tally import OutboxTally
from newsletter.subscribers.addresses import Status

_UNMATCHED = literals(*UNMATCHED_OUTCOMES)


@dataclass(frozen=True)
class Entry:
    """A returned message (or a refusal while sending) to record."""

    fingerprint: str
    source: str  # maildir, mbox, imap, pop3, smtp
    kind: Kind
    address: str = ""  # the recipient it names
    status: str | None = None
    diagnostic: str = ""
    detail: str = ""
    outbox_id: int | None = None  # the message it came back for (None: unmatched)
    problem: str = ""  # why it matched no message


@dataclass(frozen=True)
class Recorded:
    """One row of what came back."""

    id: int
    received_at: datetime
    source: str
    kind: str
    outcome: str
    address: str | None
    status: str | None
    detail: str
    diagnostic: str | None
    outbox_id: int | None
    subscriber_id: int | None
    list_name: str | None
    language: str | None


@dataclass(frozen=True)
class Returns:
    """What became of one list's mail in one language."""

    list_name: str
    language: str
    sent: int
    delivered: int  # sent longer ago than the wait, and nothing came back
    bounced: int
    complained: int


class Bounces:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._subscribers = Subscribers(db)  # a complaint ends memberships as theirs do

    def known(self, fingerprint: str) -> bool:
        return self.db.one("SELECT 1 FROM bounces WHERE fingerprint = ?",
                           (fingerprint,)) is not None

    def record(self, entry: Entry, rules: BounceRules, now: datetime) -> Outcome | None:
        """Record ``entry`` and act on it in one transaction; None when that message was
        recorded before (by this process or another): it is never counted twice."""
        with self.db.transaction():
            row = self.db.one(
                """INSERT INTO bounces (fingerprint, received_at, source, kind, outcome,
                       address, status, diagnostic, detail)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                   ON CONFLICT (fingerprint) DO NOTHING RETURNING id""",
                (entry.fingerprint, stamp(now), entry.source, entry.kind, Outcome.UNMATCHED,
                 entry.address[:320] or None, entry.status, entry.diagnostic or None,
                 "; ".join(filter(None, [entry.problem, entry.detail]))))
            if row is None:
                return None
            bounce_id = int(row[0])
            if entry.outbox_id is None:
                return Outcome.UNMATCHED
            sent = self.db.one(
                f"""SELECT o.subscriber_id, i.list_name, o.language, s.status, s.bounce_score,
                           s.bounce_scored_at
                      FROM outbox o JOIN issues i ON i.id = o.issue_id
                      JOIN subscribers s ON s.id = o.subscriber_id
                     WHERE o.id = ? {self.db.dialect.lock_rows}""", (entry.outbox_id,))
            if sent is None:
                self.db.execute("UPDATE bounces SET detail = ? WHERE id = ?",
                                ("a return-path token for a message no longer in the outbox",
                                 bounce_id))
                return Outcome.UNMATCHED
            subscriber_id, list_name, language, status, score, scored_at = sent
            standing = Standing(str(status) == Status.ACTIVE, float(score or 0),
                                moment(scored_at))
            decision = decide(entry.kind, entry.status, entry.diagnostic, standing, rules, now)
            self._apply(decision, int(subscriber_id), str(list_name), entry, now)
            self.db.execute(
                """UPDATE bounces SET outcome = ?, outbox_id = ?, subscriber_id = ?,
                          list_name = ?, language = ? WHERE id = ?""",
                (decision.outcome, entry.outbox_id, subscriber_id, list_name, language,
                 bounce_id))
            return decision.outcome

    def _apply(self, decision: Decision, subscriber_id: int, list_name: str, entry: Entry,
               now: datetime) -> None:
        reason = " ".join(filter(None, [entry.status, entry.diagnostic]))[:300] or entry.detail
        if decision.score is not None:
            self.db.execute(
                """UPDATE subscribers SET bounce_score = ?, bounce_scored_at = ?,
                          bounces = bounces + ?, updated_at = ? WHERE id = ?""",
                (decision.score, stamp(now), 1 if entry.kind is Kind.PERMANENT else 0,
                 stamp(now), subscriber_id))
        if decision.stop:
            self.db.execute(
                f"""UPDATE subscribers SET status = '{Status.BOUNCED}', status_reason = ?,
                          status_at = ?, suppressed_until = ?, updated_at = ?
                     WHERE id = ? AND status = '{Status.ACTIVE}'""",
                (reason, stamp(now), stamp(decision.until) if decision.until else None,
                 stamp(now), subscriber_id))
        if decision.unsubscribe:
            method = f"complaint ({entry.status or 'abuse'})"
            lists = [list_name]
            if decision.unsubscribe == "all":
                self.db.execute(
                    f"""UPDATE subscribers SET status = '{Status.COMPLAINED}',
                              status_reason = ?, status_at = ?, updated_at = ?
                         WHERE id = ?""", (method, stamp(now), stamp(now), subscriber_id))
                lists = list(self._subscribers.memberships(subscriber_id))
            for name in lists:  # each ended membership recorded with how, as any other
                self._subscribers.unsubscribe(subscriber_id, name, method, now)
        if decision.returned:
            self.db.execute("UPDATE outbox SET returned = ? WHERE id = ?",
                            (decision.returned, entry.outbox_id))

    def expire(self, now: datetime) -> int:
        """Readers whose soft suppression has ended are sent to again (their score starts
        afresh); returns how many."""
        return self.db.execute(
            f"""UPDATE subscribers SET status = '{Status.ACTIVE}', bounce_score = 0,
                      status_reason = 'a soft suppression ended', status_at = ?,
                      suppressed_until = NULL, updated_at = ?
                 WHERE status = '{Status.BOUNCED}' AND suppressed_until IS NOT NULL
                   AND suppressed_until <= ?""", (stamp(now), stamp(now), stamp(now))).rowcount

    def reactivate(self, subscriber_id: int, now: datetime) -> bool:
        """A bounced or complained reader is sent to again, with a clean score (the lists
        they were unsubscribed from stay so: they subscribe again by the usual ways)."""
        return self.db.execute(
            f"""UPDATE subscribers SET status = '{Status.ACTIVE}', bounce_score = 0,
                      bounce_scored_at = NULL, status_reason = 'reactivated', status_at = ?,
                      suppressed_until = NULL, updated_at = ?
                 WHERE id = ? AND status IN ('{Status.BOUNCED}', '{Status.COMPLAINED}')""",
            (stamp(now), stamp(now), subscriber_id)).rowcount > 0

    def listing(self, *, since: datetime | None = None, unmatched: bool = False,
                limit: int = 1000) -> list[Recorded]:
        """What came back, newest first."""
        where, params = ["1 = 1"], []
        if since is not None:
            where.append("b.received_at >= ?")
            params.append(stamp(since))
        if unmatched:
            where.append(f"b.outcome IN {_UNMATCHED}")
        rows = self.db.all(
            f"""SELECT b.id, b.received_at, b.source, b.kind, b.outcome, b.address, b.status,
                       b.detail, b.diagnostic, b.outbox_id, b.subscriber_id, b.list_name,
                       b.language
                  FROM bounces b WHERE {' AND '.join(where)}
                 ORDER BY b.received_at DESC, b.id DESC LIMIT ?""", (*params, limit))
        return [Recorded(int(r[0]), datetime.fromisoformat(str(r[1])), str(r[2]), str(r[3]),
                         str(r[4]), r[5], r[6], str(r[7]), r[8],
                         None if r[9] is None else int(r[9]),
                         None if r[10] is None else int(r[10]), r[11], r[12]) for r in rows]

    def counts(self, since: datetime | None = None) -> dict[str, int]:
        """Returned messages per outcome."""
        sql, params = "SELECT outcome, count(*) FROM bounces", []
        if since is not None:
            sql += " WHERE received_at >= ?"
            params.append(stamp(since))
        return {str(o): int(n) for o, n in self.db.all(sql + " GROUP BY 1", params)}

    def returns(self, now: datetime, wait: timedelta,
                lists: Sequence[str] | None = None) -> list[Returns]:
        """Per list and language: messages sent, delivered (sent in an issue made more than
        ``wait`` ago, and nothing came back), bounced (refused while sending, or came back)
        and complained; from the tally (:mod:`newsletter.store.tally`), not the outbox."""
        return [Returns(*row) for row in OutboxTally(self.db).returns(now - wait, lists)]
