"""The inbox: files seen, so unchanged ones are not read again, and files quarantined
(queries)."""

from __future__ import annotations

from datetime import datetime

from newsletter.reports.model import InboxFile
from newsletter.store.database import Database, moment, stamp


class Inbox:
    def __init__(self, db: Database) -> None:
        self.db = db

    def remember(
        self, path: str, *, size: int, mtime_ns: int, status: str, report_id: int | None,
        now: datetime,
    ) -> None:
        self.db.execute(
            """INSERT INTO inbox_files (path, size, mtime_ns, status, report_id, seen_at)
               VALUES (?, ?, ?, ?, ?, ?)
               ON CONFLICT (path) DO UPDATE SET size = excluded.size,
                 mtime_ns = excluded.mtime_ns, status = excluded.status,
                 report_id = excluded.report_id, seen_at = excluded.seen_at""",
            (path, size, mtime_ns, status, report_id, stamp(now)),
        )

    def known(self) -> dict[str, InboxFile]:
        rows = self.db.all("SELECT path, size, mtime_ns, status, report_id FROM inbox_files")
        return {str(row[0]): InboxFile(str(row[0]), int(row[1]), int(row[2]), str(row[3]),
                                       None if row[4] is None else int(row[4]))
                for row in rows}

    def last_seen(self) -> datetime | None:
        """When the inbox last gave a file."""
        return moment(self.db.scalar("SELECT max(seen_at) FROM inbox_files"))

    def quarantine(
        self, original_path: str, stored_path: str, reason: str, detail: str, now: datetime
    ) -> None:
        self.db.execute(
            """INSERT INTO quarantine (original_path, stored_path, reason, detail, at)
               VALUES (?, ?, ?, ?, ?)""",
            (original_path, stored_path, reason, detail, stamp(now)),
        )

    def quarantined(self) -> int:
        return int(self.db.scalar("SELECT count(*) FROM quarantine"))
