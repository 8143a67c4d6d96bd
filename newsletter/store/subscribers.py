"""Subscribers, their memberships of lists, unsubscriptions and bounces (queries)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime

from newsletter.errors import NotFound, StoreError
from newsletter.lists.spec import VARIANT
from newsletter.store.database import Database, Row, chunks, literals, moment, stamp
from newsletter.subscribers.addresses import ImportCounts, Status, Subscriber, SubscriberRow
from newsletter.subscribers.privacy import Forgotten

COLUMNS = ", ".join(
    f"s.{c}" for c in
    ("id email name language format status consent_source consent_at bounces status_reason "
     "status_at suppressed_until bounce_score paused_until languages").split()
)
# An address in one of these states is never subscribed again by an import or an addition.
_CLOSED = literals(Status.UNSUBSCRIBED, Status.BOUNCED, Status.SUPPRESSED, Status.COMPLAINED)


class Subscribers:
    def __init__(self, db: Database) -> None:
        self.db = db

    def get(self, email: str) -> Subscriber:
        found = self.find(email)
        if found is None:
            raise NotFound(f"no subscriber {email}",
                           hint="`newsletter subscribers list` shows who is subscribed")
        return found

    def find(self, email: str) -> Subscriber | None:
        """The subscriber with this (normalised) address, or None if there is none."""
        row = self.db.one(f"SELECT {COLUMNS} FROM subscribers s WHERE email = ?", (email,))
        return None if row is None else subscriber(row)

    def find_id(self, subscriber_id: int) -> Subscriber | None:
        """The subscriber with this ID, or None (erased, say)."""
        row = self.db.one(f"SELECT {COLUMNS} FROM subscribers s WHERE id = ?",
                          (subscriber_id,))
        return None if row is None else subscriber(row)

    def by_id(self, subscriber_id: int) -> Subscriber:
        row = self.db.one(f"SELECT {COLUMNS} FROM subscribers s WHERE id = ?",
                          (subscriber_id,))
        if row is None:
            raise NotFound(f"no subscriber with ID {subscriber_id}")
        return subscriber(row)

    def import_rows(
        self, rows: Sequence[SubscriberRow], list_name: str | None, *, consent_source: str,
        now: datetime, status: str = Status.ACTIVE, forgotten: Forgotten | None = None,
    ) -> ImportCounts:
        """Add new subscribers, update changed ones, and subscribe all to ``list_name``.
        Only the fields a row gives are written: one it leaves ``None`` keeps the stored value
        (a new subscriber gets the default; :meth:`SubscriberRow.applied_to`), so adding an
        address to another list, or importing a CSV of addresses only, changes nobody.
        Unsubscribed, bounced and suppressed addresses are left as they are: an import never
        resubscribes anyone; nor does it bring back a reader who was erased (recognised by
        ``forgotten``'s digests of the address). Runs as one transaction."""
        at = stamp(now)
        with self.db.transaction():
            existing: dict[str, Row] = {}
            emails = [row.email for row in rows]
            for chunk in chunks(emails):
                marks = ",".join("?" * len(chunk))
                for record in self.db.all(
                    f"SELECT email, id, name, language, format, status, languages "
                    f"FROM subscribers "
                    f"WHERE email IN ({marks})", chunk,
                ):
                    existing[str(record[0])] = record
            erased = self._erased([e for e in emails if e not in existing], forgotten)
            new = [(row.email, *row.applied_to(None)) for row in rows
                   if row.email not in existing and row.email not in erased]
            changed: list[tuple[str, str | None, str, str, str | None]] = []
            for row in rows:
                if row.email in existing:
                    record = existing[row.email]
                    stored = (record[2], str(record[3]), str(record[4]), record[6])
                    taken = row.applied_to(stored)
                    if taken != stored:
                        changed.append((row.email, *taken))
            blocked = [row.email for row in rows if row.email in erased or (
                row.email in existing and existing[row.email][5] in (
                    Status.UNSUBSCRIBED, Status.BOUNCED, Status.SUPPRESSED,
                    Status.COMPLAINED))]
            self.db.executemany(
                """INSERT INTO subscribers (email, name, language, format, languages, status,
                     consent_source, consent_at, created_at, updated_at)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                [(email, name, language, fmt, chain, status, consent_source, at, at, at)
                 for email, name, language, fmt, chain in new],
            )
            self.db.executemany(
                """UPDATE subscribers SET name = ?, language = ?, format = ?, languages = ?,
                          updated_at = ?
                   WHERE email = ?""",
                [(name, language, fmt, chain, at, email)
                 for email, name, language, fmt, chain in changed],
            )
            subscribed = 0
            if list_name is not None:
                subscribed = self.db.executemany(
                    f"""INSERT INTO subscriptions
                          (subscriber_id, list_name, status, created_at, updated_at)
                        SELECT id, ?, CASE WHEN status = '{Status.PENDING}' THEN
                               '{Status.PENDING}' ELSE '{Status.ACTIVE}' END, ?, ?
                        FROM subscribers WHERE email = ? AND status NOT IN {_CLOSED}
                        ON CONFLICT (subscriber_id, list_name) DO NOTHING""",
                    [(list_name, at, at, email) for email in emails if email not in erased],
                )
        return ImportCounts(added=len(new), updated=len(changed),
                            unchanged=len(rows) - len(new) - len(changed), subscribed=subscribed,
                            not_resubscribed=blocked)

    def _erased(self, emails: Sequence[str], forgotten: Forgotten | None) -> set[str]:
        """Which of ``emails`` belong to readers who were erased."""
        if not emails or self.db.one("SELECT 1 FROM erased_addresses LIMIT 1") is None:
            return set()
        if forgotten is None:
            raise StoreError("this office has erased readers, and without the signing key "
                             "they cannot be recognised",
                             hint="set NEWSLETTER_WEB_SECRET (and NEWSLETTER_WEB_OLD_SECRETS) "
                                  "as the office runs with it")
        by_digest = {digest: email for email in emails for digest in forgotten.digests(email)}
        found: set[str] = set()
        for chunk in chunks(list(by_digest)):
            marks = ",".join("?" * len(chunk))
            found |= {by_digest[str(d)] for (d,) in self.db.all(
                f"SELECT digest FROM erased_addresses WHERE digest IN ({marks})", chunk)}
        return found

    def frequencies(self, subscriber_id: int | None = None, *,
                    current: bool = False) -> set[tuple[str, str]]:
        """(list, frequency) of the active memberships at another frequency than their
        list's own, or leaving one (of one subscriber, or of everyone); ``current``: the
        frequency chosen last only."""
        where, params = ("AND subscriber_id = ?", (subscriber_id,)) if subscriber_id else ("", ())
        chosen = f"""SELECT list_name, frequency FROM subscriptions
                      WHERE frequency IS NOT NULL AND status = '{Status.ACTIVE}' {where}"""
        leaving = f"""SELECT list_name, previous_frequency FROM subscriptions
                       WHERE previous_frequency IS NOT NULL AND status = '{Status.ACTIVE}'
                         {where}"""
        rows = (self.db.all(chosen, params) if current
                else self.db.all(f"{chosen} UNION {leaving}", params * 2))
        return {(str(name), str(frequency)) for name, frequency in rows}

    def frequency_of(self, list_name: str) -> dict[int, str]:
        """The frequency each member of ``list_name`` chose, when not the list's own."""
        return {int(sid): str(often) for sid, often in self.db.all(
            "SELECT subscriber_id, frequency FROM subscriptions "
            "WHERE list_name = ? AND frequency IS NOT NULL", (list_name,))}

    def memberships(self, subscriber_id: int) -> dict[str, str]:
        """The lists a subscriber is in, with the membership's status."""
        return {str(name): str(status) for name, status in self.db.all(
            "SELECT list_name, status FROM subscriptions WHERE subscriber_id = ? ORDER BY 1",
            (subscriber_id,))}

    def set_status(self, subscriber_id: int, status: str, method: str, now: datetime) -> None:
        """Change a subscriber's status everywhere (unsubscribed, suppressed, bounced, active)."""
        with self.db.transaction():
            self.db.execute(
                """UPDATE subscribers SET status = ?, updated_at = ?, status_reason = ?,
                          status_at = ?, suppressed_until = NULL WHERE id = ?""",
                (status, stamp(now), method, stamp(now), subscriber_id))
            if status in (Status.UNSUBSCRIBED, Status.SUPPRESSED):
                self.db.execute(
                    """INSERT INTO unsubscribe_events (subscriber_id, list_name, method, at)
                       VALUES (?, NULL, ?, ?)""", (subscriber_id, method, stamp(now)))

    def unsubscribe(self, subscriber_id: int, list_name: str, method: str, now: datetime) -> bool:
        """End one membership; True if it was active. Recorded with how it was asked for."""
        with self.db.transaction():
            ended = self.db.execute(
                f"""UPDATE subscriptions SET status = '{Status.UNSUBSCRIBED}', updated_at = ?
                    WHERE subscriber_id = ? AND list_name = ?
                      AND status != '{Status.UNSUBSCRIBED}'""",
                (stamp(now), subscriber_id, list_name)).rowcount
            if ended:
                self.db.execute(
                    """INSERT INTO unsubscribe_events (subscriber_id, list_name, method, at)
                       VALUES (?, ?, ?, ?)""", (subscriber_id, list_name, method, stamp(now)))
        return ended > 0

    def reinvite(self, subscriber_id: int, list_name: str, now: datetime) -> None:
        """An invitation (double opt-in) to a reader who had unsubscribed: they and their
        membership become pending, so that following the confirmation link makes them active
        again. Bounced and suppressed readers are never reinvited."""
        at = stamp(now)
        with self.db.transaction():
            self.db.execute(
                f"""UPDATE subscribers SET status = '{Status.PENDING}', updated_at = ?
                    WHERE id = ? AND status = '{Status.UNSUBSCRIBED}'""", (at, subscriber_id))
            self.db.execute(
                f"""INSERT INTO subscriptions (subscriber_id, list_name, status, created_at,
                      updated_at) VALUES (?, ?, '{Status.PENDING}', ?, ?)
                    ON CONFLICT (subscriber_id, list_name) DO UPDATE
                      SET status = '{Status.PENDING}', updated_at = excluded.updated_at
                      WHERE subscriptions.status = '{Status.UNSUBSCRIBED}'""",
                (subscriber_id, list_name, at, at))

    def confirm(self, subscriber_id: int, list_name: str, now: datetime) -> bool:
        """Double opt-in: a pending subscriber and membership become active."""
        with self.db.transaction():
            self.db.execute(
                f"""UPDATE subscribers SET status = '{Status.ACTIVE}', consent_at = ?,
                      updated_at = ?
                    WHERE id = ? AND status = '{Status.PENDING}'""",
                (stamp(now), stamp(now), subscriber_id))
            confirmed = self.db.execute(
                f"""UPDATE subscriptions SET status = '{Status.ACTIVE}', updated_at = ?
                    WHERE subscriber_id = ? AND list_name = ? AND status = '{Status.PENDING}'""",
                (stamp(now), subscriber_id, list_name)).rowcount
        return confirmed > 0

    def listing(
        self, *, list_name: str | None = None, status: str | None = None,
    ) -> Iterator[tuple[Subscriber, str | None]]:
        """Subscribers (with their membership status in ``list_name``), streamed in ID order."""
        sql = f"SELECT {COLUMNS}, NULL FROM subscribers s"
        params: list[object] = []
        if list_name is not None:
            sql = (f"SELECT {COLUMNS}, m.status FROM subscribers s JOIN subscriptions m "
                   "ON m.subscriber_id = s.id AND m.list_name = ?")
            params.append(list_name)
        if status == Status.COMPLAINED:  # everywhere, or from one list (the membership ended)
            sql += (f""" WHERE (s.status = '{Status.COMPLAINED}' OR EXISTS (
                        SELECT 1 FROM unsubscribe_events e WHERE e.subscriber_id = s.id
                           AND e.method LIKE 'complaint%'))""")
        elif status is not None:
            sql += " WHERE s.status = ?"
            params.append(status)
        for row in self.db.execute(sql + " ORDER BY s.id", params):
            yield subscriber(row[:-1]), row[-1]

    def recipients(self, list_name: str, now: datetime | None = None) -> Iterator[Subscriber]:
        """Who a mail to ``list_name`` goes to: active subscribers with an active membership
        (and, at ``now``, not paused), at the list's own frequency; for a variant
        (``NAME~daily``), the members of NAME who chose that frequency. Every sending path
        asks this, so an unsubscribed, bounced, pending or suppressed address is never sent
        to. Streamed, so memory stays flat on large lists."""
        base, _, frequency = list_name.partition(VARIANT)
        at = stamp(now) if now is not None else "9999"
        paused = "" if now is None else "AND (s.paused_until IS NULL OR s.paused_until <= ?)"
        rows = self.db.execute(
            f"""SELECT {COLUMNS} FROM subscribers s JOIN subscriptions m
                ON m.subscriber_id = s.id
                WHERE m.list_name = ? AND m.status = '{Status.ACTIVE}'
                  AND COALESCE(CASE WHEN m.frequency_from IS NULL OR m.frequency_from < ?
                                    THEN m.frequency ELSE m.previous_frequency END, '') = ?
                  AND s.status = '{Status.ACTIVE}' {paused}
                ORDER BY s.id""",
            [base, at, frequency, *([] if now is None else [at])])
        for row in rows:
            yield subscriber(row)

    def counts_by_list(self) -> dict[str, dict[str, int]]:
        """Memberships per list and status."""
        counts: dict[str, dict[str, int]] = {}
        for name, status, n in self.db.all(
            "SELECT list_name, status, count(*) FROM subscriptions GROUP BY 1, 2"
        ):
            counts.setdefault(str(name), {})[str(status)] = int(n)
        return counts


def subscriber(row: Row) -> Subscriber:
    (id_, email, name, language, fmt, status, consent_source, consent_at, bounces, reason,
     status_at, until, score, paused, chain) = row
    return Subscriber(int(id_), str(email), name, str(language), str(fmt), str(status),
                      str(consent_source), datetime.fromisoformat(str(consent_at)), int(bounces),
                      status_reason=None if reason is None else str(reason),
                      status_at=moment(status_at), suppressed_until=moment(until),
                      bounce_score=float(score or 0), paused_until=moment(paused),
                      languages=tuple(str(chain).split(",")) if chain else ())
