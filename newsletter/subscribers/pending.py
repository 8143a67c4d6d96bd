"""Unsubscriptions that could not be written when they were asked for (I/O).

A reader's unsubscribe must never be lost. When the database cannot take it at once (locked
by another process for long, a server restarting, a full disk), the web app appends it to an
append-only journal beside the database and tells the reader it was received; whoever opens
the database next applies the journal (the web app before each link it serves, the service
at every poll, ``deliver`` before it sends) and empties it. Each entry is written and
fsynced under an exclusive lock before the page answers; applying one twice changes nothing
(an unsubscription that is already recorded is not recorded again).
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from newsletter.errors import DatabaseFault
from newsletter.store import Store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PendingUnsubscribe:
    subscriber_id: int
    list_name: str
    method: str
    at: datetime


class UnsubscribeJournal:
    """The journal file ``path`` (created on first use, readable by its owner only)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def record(self, entry: PendingUnsubscribe) -> None:
        """Append ``entry`` and make it durable before returning."""
        line = json.dumps({"subscriber_id": entry.subscriber_id, "list": entry.list_name,
                           "method": entry.method, "at": entry.at.isoformat()})
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            os.write(fd, (line + "\n").encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)  # closing releases the lock
        log.warning("unsubscribe of subscriber %s from %s kept in %s until the database takes it",
                    entry.subscriber_id, entry.list_name, self.path,
                    extra={"event": "unsubscribe_pending", "subscriber_id": entry.subscriber_id,
                           "list": entry.list_name})

    def waiting(self) -> bool:
        try:
            return self.path.stat().st_size > 0
        except FileNotFoundError:
            return False

    def apply(self, store: Store) -> int:
        """Write every entry to ``store`` in one transaction, then empty the journal; returns
        how many entries there were. A database fault leaves the journal as it was."""
        if not self.waiting():
            return 0
        fd = os.open(self.path, os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            with os.fdopen(os.dup(fd), "r", encoding="utf-8") as handle:
                entries = [_entry(line) for line in handle if line.strip()]
            found = [entry for entry in entries if entry is not None]
            try:
                with store.transaction():
                    for entry in found:
                        store.subscribers.unsubscribe(entry.subscriber_id, entry.list_name,
                                                      entry.method, entry.at)
            except DatabaseFault:
                return 0  # tried again at the next opportunity
            os.ftruncate(fd, 0)
            os.fsync(fd)
        finally:
            os.close(fd)
        if found:
            log.warning("applied %d unsubscribe(s) kept while the database was unavailable",
                        len(found), extra={"event": "unsubscribes_applied",
                                           "count": len(found)})
        return len(found)


def _entry(line: str) -> PendingUnsubscribe | None:
    try:
        data = json.loads(line)
        return PendingUnsubscribe(int(data["subscriber_id"]), str(data["list"]),
                                  str(data["method"]), datetime.fromisoformat(data["at"]))
    except (ValueError, KeyError, TypeError):
        return None  # a line torn by a crash mid-write: its reader was told to try again
