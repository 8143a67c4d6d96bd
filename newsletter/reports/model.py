"""Frozen value types shared by the core and the edges (pure; no I/O)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum


@dataclass(frozen=True)
class Report:
    """A parsed report: what the file says, with site boilerplate removed.

    ``published`` is the original publication date: ``Originally published`` when the page gives
    one, else ``Published on``, else the body's dateline, else the page's date line.
    ``body`` keeps paragraphs separated by one blank line.
    """

    title: str
    source: str | None
    kind: str | None
    published: date | None
    language: str
    body: str
    dateline: str | None = None
    posted: date | None = None

    @property
    def paragraphs(self) -> list[str]:
        return self.body.split("\n\n") if self.body else []


@dataclass(frozen=True)
class StoredReport:
    """A report as kept in the database; ``places`` are the ISO 3166 codes of the countries
    and regions it is about (:mod:`newsletter.reports.places`)."""

    id: int
    revision: int
    report: Report
    content_hash: str
    path: str
    encoding: str
    ingested_at: datetime
    updated_at: datetime
    places: tuple[str, ...] = ()


@dataclass(frozen=True)
class Revision:
    """One revision of a stored report. ``report`` is its text (None when it was ingested
    before revisions kept their text); ``split_from``/``split_revision`` name the report and
    revision it was before an operator split it off into ``report_id``."""

    report_id: int
    revision: int
    content_hash: str
    path: str
    ingested_at: datetime
    report: Report | None
    encoding: str | None = None
    split_from: int | None = None
    split_revision: int | None = None


class IngestStatus(StrEnum):
    INGESTED = "ingested"
    DUPLICATE = "duplicate"
    UPDATED = "updated"
    QUARANTINED = "quarantined"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class IngestOutcome:
    """What happened to one file in one ingest run."""

    path: str
    status: IngestStatus
    report_id: int | None = None
    reason: str | None = None
    detail: str | None = None
    quarantined_to: str | None = None


@dataclass(frozen=True)
class InboxFile:
    """What the inbox table remembers of one file."""

    path: str
    size: int
    mtime_ns: int
    status: str
    report_id: int | None
