"""A reader's own record: what changed for them, everything held about them, and forgetting
them (queries)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from newsletter.store.database import Database, literals, stamp
from newsletter.subscribers.addresses import Status
from newsletter.subscribers.privacy import Forgotten

ERASED = "erased"  # what an erased reader's outbox rows keep as their address
_STOPPED = literals(Status.UNSUBSCRIBED)


@dataclass(frozen=True)
class Change:
    at: datetime
    what: str
    detail: str | None
    via: str  # a link of theirs, the office (command line), a complaint, …


@dataclass(frozen=True)
class Erased:
    """What erasing one reader did."""

    email: str
    messages: int  # outbox rows that now keep only their state, not who they went to
    returned: int  # returned messages that no longer name them


class Readers:
    def __init__(self, db: Database) -> None:
        self.db = db

    def record(self, subscriber_id: int, what: str, via: str, now: datetime,
               detail: str | None = None) -> None:
        self.db.execute(
            """INSERT INTO reader_changes (subscriber_id, at, what, detail, via)
               VALUES (?, ?, ?, ?, ?)""", (subscriber_id, stamp(now), what, detail, via))

    def history(self, subscriber_id: int) -> list[Change]:
        """What changed for the reader, oldest first: their changes and their
        unsubscriptions (with how each was asked for)."""
        rows = self.db.all(
            """SELECT at, what, detail, via FROM reader_changes WHERE subscriber_id = ?
               UNION ALL
               SELECT at, 'unsubscribed', list_name, method FROM unsubscribe_events
                WHERE subscriber_id = ?
               ORDER BY 1""", (subscriber_id, subscriber_id))
        return [Change(datetime.fromisoformat(str(r[0])), str(r[1]), r[2], str(r[3]))
                for r in rows]

    def data(self, subscriber_id: int) -> dict[str, Any]:
        """Everything held about one reader, as plain values (their download)."""
        row = self.db.one(
            """SELECT email, name, language, format, status, consent_source, consent_at,
                      bounces, bounce_score, status_reason, status_at, suppressed_until,
                      paused_until, created_at, updated_at
                 FROM subscribers WHERE id = ?""", (subscriber_id,))
        if row is None:
            return {}
        keys = ("email", "name", "language", "format", "status", "consent_source",
                "consent_at", "bounces", "bounce_score", "status_reason", "status_since",
                "suppressed_until", "paused_until", "created_at", "updated_at")
        lists = [{"list": str(r[0]), "status": str(r[1]), "since": str(r[2]),
                  "changed": str(r[3])} for r in self.db.all(
            """SELECT list_name, status, created_at, updated_at FROM subscriptions
                WHERE subscriber_id = ? ORDER BY list_name""", (subscriber_id,))]
        messages = [{"issue": int(r[0]), "list": str(r[1]), "kind": str(r[2]),
                     "language": str(r[3]), "state": str(r[4]), "sent_at": r[5],
                     "returned": r[6], "message_id": str(r[7])} for r in self.db.all(
            """SELECT o.issue_id, i.list_name, i.kind, o.language, o.state, o.sent_at,
                      o.returned, o.message_id
                 FROM outbox o JOIN issues i ON i.id = o.issue_id
                WHERE o.subscriber_id = ? ORDER BY o.id""", (subscriber_id,))]
        returned = [{"received_at": str(r[0]), "kind": str(r[1]), "outcome": str(r[2]),
                     "status": r[3], "list": r[4]} for r in self.db.all(
            """SELECT received_at, kind, outcome, status, list_name FROM bounces
                WHERE subscriber_id = ? ORDER BY id""", (subscriber_id,))]
        history = [{"at": c.at.isoformat(), "what": c.what, "detail": c.detail, "via": c.via}
                   for c in self.history(subscriber_id)]
        return {**dict(zip(keys, row, strict=True)), "lists": lists, "history": history,
                "messages": messages, "returned_mail": returned}

    def erase(self, subscriber_id: int, digest: str, now: datetime) -> Erased:
        """Forget one reader in one transaction (whole or not at all): their record, lists
        and history go; their outbox rows keep only what counts (issue, language, state),
        what came back for them no longer names them, and ``digest`` (an HMAC of the
        address) stays so that no import brings them back."""
        with self.db.transaction():
            row = self.db.one("SELECT email FROM subscribers WHERE id = ?", (subscriber_id,))
            if row is None:
                return Erased("", 0, 0)
            self.db.execute(
                """INSERT INTO erased_addresses (digest, at) VALUES (?, ?)
                   ON CONFLICT (digest) DO NOTHING""", (digest, stamp(now)))
            messages = self.db.execute(
                """UPDATE outbox SET address = ?, name = NULL, subscriber_id = -id,
                          last_text = NULL
                    WHERE subscriber_id = ?""", (ERASED, subscriber_id)).rowcount
            returned = self.db.execute(
                """UPDATE bounces SET address = NULL, diagnostic = NULL, subscriber_id = NULL,
                          detail = 'the reader was erased' WHERE subscriber_id = ?""",
                (subscriber_id,)).rowcount
            for table in ("reader_changes", "unsubscribe_events", "subscriptions"):
                self.db.execute(f"DELETE FROM {table} WHERE subscriber_id = ?",
                                (subscriber_id,))
            self.db.execute("DELETE FROM subscribers WHERE id = ?", (subscriber_id,))
        return Erased(str(row[0]), messages, returned)

    def erase_departed(self, cutoff: datetime, forgotten: Forgotten,
                       now: datetime) -> list[Erased]:
        """Erase every reader who left before ``cutoff`` (:meth:`left_before`), each in a
        transaction of their own."""
        return [self.erase(subscriber_id, forgotten.digest(email), now)
                for subscriber_id, email in self.left_before(cutoff)]

    def any_erased(self) -> bool:
        return self.db.one("SELECT 1 FROM erased_addresses LIMIT 1") is not None

    def left_before(self, cutoff: datetime) -> list[tuple[int, str]]:
        """Readers who left before ``cutoff``: unsubscribed everywhere, or from every list
        they were on, with nothing changed since (retention: they are erased)."""
        rows = self.db.all(
            f"""SELECT s.id, s.email FROM subscribers s
                 WHERE s.updated_at < ?
                   AND (s.status IN {_STOPPED} OR (
                        EXISTS (SELECT 1 FROM subscriptions m WHERE m.subscriber_id = s.id)
                        AND NOT EXISTS (SELECT 1 FROM subscriptions m
                                         WHERE m.subscriber_id = s.id
                                           AND (m.status NOT IN {_STOPPED}
                                                OR m.updated_at >= ?))))
                 ORDER BY s.id""", (stamp(cutoff), stamp(cutoff)))
        return [(int(r[0]), str(r[1])) for r in rows]

    def pause(self, subscriber_id: int, until: datetime | None, via: str,
              now: datetime) -> None:
        """Nothing is queued for the reader before ``until`` (None: the pause ends)."""
        with self.db.transaction():
            self.db.execute("UPDATE subscribers SET paused_until = ?, updated_at = ? "
                            "WHERE id = ?",
                            (stamp(until) if until else None, stamp(now), subscriber_id))
            self.record(subscriber_id, "paused" if until else "pause ended", via, now,
                        detail=until.date().isoformat() if until else None)

    def join(self, subscriber_id: int, list_name: str, via: str, now: datetime) -> bool:
        """The reader, who proved their address (their own link), joins ``list_name`` at
        once; True when that changed anything."""
        at = stamp(now)
        with self.db.transaction():
            joined = self.db.execute(
                f"""INSERT INTO subscriptions (subscriber_id, list_name, status, created_at,
                      updated_at) VALUES (?, ?, '{Status.ACTIVE}', ?, ?)
                    ON CONFLICT (subscriber_id, list_name) DO UPDATE
                      SET status = '{Status.ACTIVE}', updated_at = excluded.updated_at
                      WHERE subscriptions.status != '{Status.ACTIVE}'""",
                (subscriber_id, list_name, at, at)).rowcount
            if joined:
                self.record(subscriber_id, "joined", via, now, detail=list_name)
        return joined > 0

    def set_frequency(self, subscriber_id: int, list_name: str, frequency: str | None,
                      effective: datetime, via: str, now: datetime) -> bool:
        """How often the reader gets ``list_name`` (None: as the list goes out), from after
        ``effective`` (the next digest of the frequency they leave or take: until then the
        one they had holds, so nothing is lost or sent twice). True when it changed."""
        with self.db.transaction():
            changed = self.db.execute(
                """UPDATE subscriptions
                      SET previous_frequency = CASE WHEN frequency_from IS NULL
                                                      OR frequency_from < ?
                                                    THEN frequency
                                                    ELSE previous_frequency END,
                          frequency = ?, frequency_from = ?, updated_at = ?
                    WHERE subscriber_id = ? AND list_name = ?
                      AND COALESCE(frequency, '') != COALESCE(?, '')""",
                (stamp(now), frequency, stamp(effective), stamp(now), subscriber_id,
                 list_name, frequency)).rowcount
            if changed:
                self.record(subscriber_id, "frequency", via, now,
                            detail=f"{list_name}: {frequency or 'as it goes out'} "
                                   f"(from {stamp(effective)})")
        return changed > 0

    def set_preferences(self, subscriber_id: int, *, chain: Sequence[str] | None = None,
                        fmt: str | None = None, via: str, now: datetime) -> None:
        """A new language chain (first choice first) or format, as the reader chose it."""
        with self.db.transaction():
            if chain:
                self.db.execute(
                    "UPDATE subscribers SET language = ?, languages = ?, updated_at = ? "
                    "WHERE id = ?", (chain[0], ",".join(chain) if len(chain) > 1 else None,
                                     stamp(now), subscriber_id))
                self.record(subscriber_id, "languages", via, now, detail=", ".join(chain))
            if fmt:
                self.db.execute("UPDATE subscribers SET format = ?, updated_at = ? WHERE id = ?",
                                (fmt, stamp(now), subscriber_id))
                self.record(subscriber_id, "format", via, now, detail=fmt)

    def change_address(self, subscriber_id: int, address: str, via: str,
                       now: datetime) -> bool:
        """The reader's confirmed new address replaces the old one; False when another reader
        has it already (nothing changes)."""
        with self.db.transaction():
            if self.db.one("SELECT 1 FROM subscribers WHERE email = ? AND id != ?",
                           (address, subscriber_id)) is not None:
                return False
            old = self.db.one("SELECT email FROM subscribers WHERE id = ?", (subscriber_id,))
            if old is None:
                return False
            self.db.execute("UPDATE subscribers SET email = ?, updated_at = ? WHERE id = ?",
                            (address, stamp(now), subscriber_id))
            self.record(subscriber_id, "address", via, now, detail=f"{old[0]} → {address}")
        return True
