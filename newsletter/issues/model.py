"""What an issue is, and what the scheduler recorded of each run (values; no I/O)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class StoredIssue:
    """One mailing of a list, as recorded: an alert, a digest or a one-off send."""

    id: int
    list_name: str
    kind: str
    report_ids: tuple[int, ...]
    created_at: datetime


@dataclass(frozen=True)
class ScheduleRun:
    """What one scheduled job of a list did, and when."""

    at: datetime
    outcome: str
    issue_id: int | None
