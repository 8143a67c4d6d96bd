"""Named leases with epochs: who runs the scheduler (queries).

A lease is held by one owner until it runs out, unless renewed. Each time a different owner
takes it its epoch grows; the holder's writes are fenced on (owner, epoch) by :meth:`fence`
inside their transaction, so a holder that froze past its lease and came back writes
nothing. ``now`` is the database's clock (:meth:`newsletter.store.Store.now`) when several
machines share the database.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from newsletter.errors import LeaseLost
from newsletter.service.model import Held
from newsletter.store.database import Database, moment, stamp


class Leases:
    def __init__(self, db: Database) -> None:
        self.db = db

    def take(self, name: str, owner: str, now: datetime, seconds: float) -> Held:
        """Take or renew the lease ``name`` for ``owner`` until ``now + seconds``, if it is
        free, ``owner``'s, or ran out. Returns the lease as it now stands: ``owner`` holds
        it only if ``held.owner == owner``. One statement, so two takers never both win."""
        until = stamp(now + timedelta(seconds=seconds))
        self.db.execute(
            """INSERT INTO leases (name, owner, expires_at, epoch) VALUES (?, ?, ?, 1)
               ON CONFLICT (name) DO UPDATE SET owner = excluded.owner,
                 expires_at = excluded.expires_at,
                 epoch = CASE WHEN leases.owner = excluded.owner THEN leases.epoch
                              ELSE leases.epoch + 1 END
               WHERE leases.owner = excluded.owner OR leases.expires_at <= ?""",
            (name, owner, until, stamp(now)))
        held = self.holder(name)
        assert held is not None  # the statement above wrote it, or another holder has it
        return held

    def holder(self, name: str) -> Held | None:
        """Who holds ``name`` (perhaps past its expiry), or None if no one ever took it."""
        row = self.db.one("SELECT owner, epoch, expires_at FROM leases WHERE name = ?", (name,))
        if row is None:
            return None
        expires = moment(row[2])
        assert expires is not None
        return Held(str(row[0]), int(row[1]), expires)

    def fence(self, name: str, owner: str, epoch: int, now: datetime) -> None:
        """Inside a transaction: go on only while ``owner`` holds ``name`` at ``epoch`` and it
        has not run out; else :class:`LeaseLost`, which rolls the transaction back. On
        PostgreSQL the lease row stays locked until the transaction ends, so no one takes the
        lease over half-way through it."""
        touched = self.db.execute(
            """UPDATE leases SET owner = owner
               WHERE name = ? AND owner = ? AND epoch = ? AND expires_at > ?""",
            (name, owner, epoch, stamp(now))).rowcount
        if touched != 1:
            raise LeaseLost(name, owner)

    def drop(self, name: str, owner: str, now: datetime) -> None:
        """Give the lease up, if ``owner`` still holds it: it runs out now. The row stays, so
        the epoch keeps counting holders (the next other owner takes it at epoch + 1)."""
        self.db.execute("UPDATE leases SET expires_at = ? WHERE name = ? AND owner = ?",
                        (stamp(now), name, owner))
