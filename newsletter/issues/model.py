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
class ArchivedIssue:
    """An issue as the web archive shows it: one that reached at least one reader. Its
    reports are those it carried to every language and those held back from one language
    before that it carried to that language's readers; its languages, those it was rendered
    in."""

    id: int
    list_name: str
    kind: str
    report_ids: tuple[int, ...]
    created_at: datetime
    languages: tuple[str, ...]


@dataclass(frozen=True)
class ScheduleRun:
    """What one scheduled job of a list did, and when."""

    at: datetime
    outcome: str
    issue_id: int | None


@dataclass(frozen=True)
class Hold:
    """A report held back from one language of a list: its translation may not go yet.
A later issue that carries it to that language's readers releases it, once."""

    list_name: str
    report_id: int
    language: str
    issue_id: int
    held_at: datetime
