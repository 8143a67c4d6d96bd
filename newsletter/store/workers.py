"""Heartbeats of the running processes, by role, for ``newsletter workers`` (queries)."""

from __future__ import annotations

from datetime import datetime

from newsletter.delivery.rules import State
from newsletter.service.model import WorkerBeat
from newsletter.store.database import Database, literals, moment, stamp


class Workers:
    def __init__(self, db: Database) -> None:
        self.db = db

    def beat(self, worker_id: str, *, role: str, host: str, pid: int, detail: str,
             now: datetime) -> None:
        """Record that ``worker_id`` is alive at ``now`` (its first beat starts it)."""
        self.db.execute(
            """INSERT INTO workers (id, role, host, pid, detail, started_at, heartbeat_at)
               VALUES (?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at,
                 detail = excluded.detail, stopped_at = NULL""",
            (worker_id, role, host, pid, detail, stamp(now), stamp(now)))

    def stopped(self, worker_id: str, now: datetime) -> None:
        self.db.execute("UPDATE workers SET stopped_at = ? WHERE id = ?",
                        (stamp(now), worker_id))

    def listing(self) -> list[WorkerBeat]:
        return [WorkerBeat(str(r[0]), str(r[1]), str(r[2]), int(r[3]), str(r[4]),
                           _at(r[5]), _at(r[6]), moment(r[7]))
                for r in self.db.all(
                    """SELECT id, role, host, pid, detail, started_at, heartbeat_at, stopped_at
                       FROM workers ORDER BY role, started_at, id""")]

    def messages_held(self) -> dict[str, int]:
        """Outbox rows leased right now, by the worker whose sweep holds them (a sweep's
        owner is the worker's ID, a slash, and a part of its own)."""
        held: dict[str, int] = {}
        for owner, n in self.db.all(
            f"""SELECT lease_owner, count(*) FROM outbox
                WHERE state IN {literals(State.SENDING, State.TRANSMITTING)}
                  AND lease_owner IS NOT NULL GROUP BY lease_owner"""):
            worker = str(owner).rsplit("/", 1)[0]
            held[worker] = held.get(worker, 0) + int(n)
        return held


def _at(text: str) -> datetime:
    found = moment(text)
    assert found is not None
    return found
