"""What an issue is, and what the scheduler recorded of each run (values; no I/O)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
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


def edition_for(chain: Sequence[str], offered: Sequence[str], ready: Collection[str],
                complete: Collection[str]) -> tuple[str | None, str]:
    """Which language's mail of an issue a reader gets, and the language they want first.

    ``chain``: the reader's languages, first choice first; ``offered``: the list's languages
    (a chain with none of them wants the list's first); ``ready``: the languages that have a
    mail in this issue; ``complete``: those whose mail holds nothing back. The reader gets
    the first language of their chain whose mail is complete; when none is, their first
    choice's mail as it is (the list's policy decided what it holds back), or nothing (None)
    when that language has no mail at all: it waits for the release of its hold."""
    wanted = [language for language in chain if language in offered] or [offered[0]]
    for language in wanted:
        if language in complete:
            return language, wanted[0]
    return (wanted[0] if wanted[0] in ready else None), wanted[0]
