"""Named leases: who may run the scheduler and sweep the outbox (queries)."""

from __future__ import annotations

from datetime import datetime, timedelta

from newsletter.store.database import Database, stamp


class Leases:
    def __init__(self, db: Database) -> None:
        self.db = db

    def take(self, name: str, owner: str, now: datetime, seconds: float) -> str | None:
        """Take or renew the lease ``name`` for ``owner`` until ``now + seconds``; None if it
        is now ``owner``'s, else who holds it."""
        with self.db.transaction():
            row = self.db.one("SELECT owner, expires_at FROM leases WHERE name = ?", (name,))
            if row and row[0] != owner and datetime.fromisoformat(row[1]) > now:
                return str(row[0])
            self.db.execute(
                """INSERT INTO leases (name, owner, expires_at) VALUES (?, ?, ?)
                   ON CONFLICT (name) DO UPDATE SET owner = excluded.owner,
                     expires_at = excluded.expires_at""",
                (name, owner, stamp(now + timedelta(seconds=seconds))))
        return None

    def drop(self, name: str, owner: str) -> None:
        """Give the lease up, if ``owner`` still holds it."""
        self.db.execute("DELETE FROM leases WHERE name = ? AND owner = ?", (name, owner))
