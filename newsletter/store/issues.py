"""Issues, the mail each renders per language, and which report went out in which issue of a
list (queries)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime

from newsletter.delivery.rules import QueuedMessage, State
from newsletter.errors import AlreadySent, NotFound
from newsletter.issues.model import ArchivedIssue, StoredIssue
from newsletter.reports.model import StoredReport
from newsletter.store.database import Database, Row, chunks, stamp
from newsletter.store.reports import COLUMNS, stored_report

_CHUNK = 1000  # outbox rows written per statement batch while an issue is queued
# An issue is in the archive once one of its messages was sent: one that is only queued, or
# whose every message failed or was skipped, reached nobody.
_REACHED_A_READER = (f"EXISTS (SELECT 1 FROM outbox o WHERE o.issue_id = i.id "
                     f"AND o.state = '{State.SENT}')")
_ISSUE = "i.id, i.list_name, i.kind, i.report_ids, i.created_at"


class Issues:
    def __init__(self, db: Database) -> None:
        self.db = db

    def create(
        self, list_name: str, kind: str, report_ids: Sequence[int], bodies: Mapping[str, str],
        now: datetime, *, recipients: Callable[[int], Iterable[QueuedMessage]],
        claim: bool = True, claim_as: str | None = None,
    ) -> tuple[int, int]:
        """Record an issue, its rendered bodies (JSON per language) and one outbox row per
        message that ``recipients(issue_id)`` yields, all in one transaction: a crash leaves
        the whole issue or none of it. With ``claim``, its reports are recorded as sent to the
        list in the same transaction. The rows are streamed in chunks, so 100,000 recipients
        do not sit in memory. Returns (issue ID, rows added)."""
        with self.db.transaction():
            issue_id = int(self.db.scalar(
                """INSERT INTO issues (list_name, kind, report_ids, created_at)
                   VALUES (?, ?, ?, ?) RETURNING id""",
                (list_name, kind, json.dumps(list(report_ids)), stamp(now))))
            if claim:  # under the list's own name, or a frequency's of it (NAME~daily)
                self.claim_reports(claim_as or list_name, report_ids, issue_id)
            self.db.executemany(
                "INSERT INTO issue_bodies (issue_id, language, rendered) VALUES (?, ?, ?)",
                [(issue_id, language, body) for language, body in bodies.items()])
            added = 0
            chunk: list[tuple[object, ...]] = []
            for message in recipients(issue_id):
                chunk.append((issue_id, message.subscriber_id, message.address, message.name,
                              message.language, message.message_id, message.format,
                              message.wanted))
                if len(chunk) >= _CHUNK:
                    added += self._queue(chunk)
                    chunk = []
            added += self._queue(chunk)
        return issue_id, added

    def _queue(self, chunk: list[tuple[object, ...]]) -> int:
        return self.db.executemany(
            f"""INSERT INTO outbox (issue_id, subscriber_id, address, name, language,
                  message_id, format, wanted, state)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, '{State.PENDING}')
                ON CONFLICT DO NOTHING""", chunk)

    def claim_reports(self, list_name: str, report_ids: Sequence[int], issue_id: int) -> None:
        """Record that ``report_ids`` went out in ``issue_id``. A report already sent to the
        list is :class:`AlreadySent` (two senders raced for it): the caller's transaction
        rolls back, so the issue is not made at all."""
        with self.db.transaction():
            for report_id in report_ids:
                taken = self.db.scalar(
                    """INSERT INTO issue_reports (list_name, report_id, issue_id)
                       VALUES (?, ?, ?) ON CONFLICT DO NOTHING RETURNING issue_id""",
                    (list_name, report_id, issue_id))
                if taken is None:
                    raise AlreadySent(list_name, report_id,
                                      self.sent_in(list_name, report_id) or 0)

    def sent_in(self, list_name: str, report_id: int) -> int | None:
        """The issue that took ``report_id`` to ``list_name``, if one did."""
        found = self.db.scalar(
            "SELECT issue_id FROM issue_reports WHERE list_name = ? AND report_id = ?",
            (list_name, report_id))
        return None if found is None else int(found)

    def unsent_reports(self, list_name: str, since: datetime) -> list[StoredReport]:
        """Reports that arrived (or changed) at or after ``since`` and were not yet sent to
        ``list_name``, oldest first."""
        rows = self.db.all(
            f"""SELECT {COLUMNS} FROM reports r
                WHERE r.updated_at >= ? AND NOT EXISTS (
                    SELECT 1 FROM issue_reports i WHERE i.list_name = ? AND i.report_id = r.id)
                ORDER BY r.id""", (stamp(since), list_name))
        return [stored_report(row) for row in rows]

    def get(self, issue_id: int) -> StoredIssue:
        row = self.db.one(
            "SELECT id, list_name, kind, report_ids, created_at FROM issues WHERE id = ?",
            (issue_id,))
        if row is None:
            raise NotFound(f"no issue {issue_id}",
                           hint="`newsletter outbox list` shows the issues in the outbox")
        return StoredIssue(int(row[0]), str(row[1]), str(row[2]), tuple(json.loads(row[3])),
                           datetime.fromisoformat(row[4]))

    def bodies(self, issue_id: int) -> dict[str, str]:
        """The rendered mail (JSON) of each language of an issue."""
        return {str(language): str(rendered) for language, rendered in self.db.all(
            "SELECT language, rendered FROM issue_bodies WHERE issue_id = ?", (issue_id,))}

    def archive(self, list_name: str, *, limit: int = 50) -> list[ArchivedIssue]:
        """The issues of ``list_name`` that reached at least one reader, newest first."""
        return self._archived(self.db.all(
            f"""SELECT {_ISSUE} FROM issues i WHERE i.list_name = ? AND {_REACHED_A_READER}
                ORDER BY i.created_at DESC, i.id DESC LIMIT ?""", (list_name, limit)))

    def archived(self, issue_id: int) -> ArchivedIssue:
        """One issue of the archive: :class:`NotFound` unless it reached at least one reader."""
        found = self._archived(self.db.all(
            f"SELECT {_ISSUE} FROM issues i WHERE i.id = ? AND {_REACHED_A_READER}",
            (issue_id,)))
        if not found:
            raise NotFound(f"no issue {issue_id} in the archive")
        return found[0]

    def _archived(self, rows: list[Row]) -> list[ArchivedIssue]:
        """``rows`` of issues with their languages and every report each carried."""
        ids = [int(row[0]) for row in rows]
        languages: dict[int, list[str]] = {}
        released: dict[int, list[int]] = {}
        for chunk in chunks(ids):
            marks = ", ".join("?" * len(chunk))
            for issue_id, language in self.db.all(
                    f"""SELECT issue_id, language FROM issue_bodies WHERE issue_id IN ({marks})
                        ORDER BY language""", chunk):
                languages.setdefault(int(issue_id), []).append(str(language))
            for issue_id, report_id in self.db.all(
                    f"""SELECT released_issue, report_id FROM holds
                        WHERE released_issue IN ({marks}) ORDER BY report_id""", chunk):
                released.setdefault(int(issue_id), []).append(int(report_id))
        return [ArchivedIssue(
            int(row[0]), str(row[1]), str(row[2]),
            tuple(dict.fromkeys([*json.loads(row[3]), *released.get(int(row[0]), [])])),
            datetime.fromisoformat(row[4]), tuple(languages.get(int(row[0]), ())))
            for row in rows]
