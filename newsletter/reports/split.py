"""Mend what ingest decided: a revision wrongly taken for an update becomes a report of its own
(I/O: the database, and the inbox when an old revision's text must be read again).

Revisions ingested before revisions kept their text are read again from their file in the
inbox (ingest never deletes one), and used only when the file still holds that very revision
(the same content hash).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from newsletter.errors import ReportError
from newsletter.reports.decode import decode_report
from newsletter.reports.identity import changed_share, content_hash, title_key
from newsletter.reports.ingest import Inbox, locate
from newsletter.reports.model import Revision
from newsletter.reports.parse import parse_report
from newsletter.store import Store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RevisionLine:
    """One line of a report's history, for people: what changed, or where it went."""

    revision: Revision
    changed: float | None  # share of the body new against the revision before (None: first)
    title_changed: bool
    split_into: int | None  # the report this revision became, if it was split off
    split_from: tuple[int, int] | None  # (report, revision) it was before a split


def history(store: Store, report_id: int) -> list[RevisionLine]:
    """The report's revisions, oldest first, with how much of the body each changed."""
    lines: list[RevisionLine] = []
    previous: Revision | None = None
    for revision in store.reports.history(report_id):
        if revision.report_id != report_id:
            lines.append(RevisionLine(revision, None, False, revision.report_id, None))
            continue
        changed = None
        title_changed = False
        if previous is not None and previous.report and revision.report:
            changed = changed_share(previous.report.body, revision.report.body)
            title_changed = previous.report.title != revision.report.title
        origin = (None if revision.split_from is None
                  else (revision.split_from, revision.split_revision or 0))
        lines.append(RevisionLine(revision, changed, title_changed, None, origin))
        previous = revision
    return lines


def split_revision(store: Store, inbox: Inbox, report_id: int, revision: int, *,
                   now: datetime) -> int:
    """Make ``revision`` of ``report_id`` a report of its own and place it; returns its ID."""
    with store.transaction():
        for kept in store.reports.history(report_id):
            if kept.report_id == report_id and kept.report is None:
                _read_again(store, inbox, kept)
        new_id = store.reports.split(report_id, revision, title_key=title_key, now=now)
    locate(store, inbox.places)
    log.info("split revision %d of report %d into report %d", revision, report_id, new_id,
             extra={"event": "split", "report_id": report_id, "revision": revision,
                    "new_report_id": new_id})
    return new_id


def _read_again(store: Store, inbox: Inbox, revision: Revision) -> None:
    """Keep the text of ``revision`` from its file, if the file still holds it."""
    path = inbox.folder / revision.path
    try:
        decoded = decode_report(path.read_bytes())
        report = parse_report(decoded.text)
    except (OSError, ReportError):
        return  # the split says which file to put back
    if content_hash(report) == revision.content_hash:
        store.reports.keep_text(revision.report_id, revision.revision, report,
                                decoded.encoding)
