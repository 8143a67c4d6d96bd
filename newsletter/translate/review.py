"""Reviewing editions: correct, approve or reject a machine translation, and keep what was
approved as translation memory (I/O over the store; the CLI and the web app call these)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from newsletter.errors import NotFound
from newsletter.lists.spec import ReviewRule
from newsletter.store import Store
from newsletter.store.memory import Pair
from newsletter.translate.core import Glossary, flags_text, memory_pair, text_hash
from newsletter.translate.editions import Edition, Review, ReviewState
from newsletter.translate.tmx import Unit, read_tmx, write_tmx


def edition_to_review(store: Store, report_id: int, language: str) -> Edition:
    """The report's machine translation into ``language`` (NotFound if it has none)."""
    store.reports.get(report_id)  # a clear error for an unknown report
    edition = store.editions.of(report_id).get(language)
    if edition is None or edition.title is None:
        raise NotFound(f"report {report_id} has no {language} machine translation to review",
                       hint="`newsletter translate --report ID` makes it (with a model "
                            "installed: `newsletter models list`)")
    return edition


def current_text(edition: Edition) -> tuple[str, tuple[str, ...]]:
    """The title and summary a reviewer works on: their last edit, else the machine's."""
    review = edition.review if edition.review and not edition.rejected else None
    title = (review.title if review and review.title else None) or edition.title or ""
    summary = (review.summary if review and review.summary else None) or (edition.summary or ())
    return title, tuple(summary)


def edit(store: Store, report_id: int, language: str, title: str, summary: Sequence[str],
         by: str, now: datetime) -> None:
    edition_to_review(store, report_id, language)
    store.reviews.save(report_id, language, Review(ReviewState.EDITED, title.strip(),
                                                   tuple(s.strip() for s in summary if s.strip()),
                                                   by, now))


def approve(store: Store, report_id: int, language: str, by: str, now: datetime,
            glossary: Glossary | None = None) -> int:
    """Approve the edition as it stands (the reviewer's corrections, if any) and remember its
    sentence pairs; returns how many pairs went into the translation memory."""
    edition = edition_to_review(store, report_id, language)
    title, summary = current_text(edition)
    edited = edition.review if edition.review and not edition.rejected else None
    stored = store.reports.get(report_id)
    source_summary = store.summaries.of(report_id) or ()
    pairs = []
    for source, target in zip((stored.report.title, *source_summary), (title, *summary),
                              strict=False):
        masked = memory_pair(source, target, stored.report.language, language,
                             glossary or Glossary())
        if masked is not None:
            pairs.append(Pair(stored.report.language, language, text_hash(masked[0]),
                              masked[0], masked[1], by, now))
    with store.transaction():
        store.reviews.save(report_id, language, Review(
            ReviewState.APPROVED, edited.title if edited else None,
            edited.summary if edited else None, by, now))
        return store.memory.remember(pairs)


def reject(store: Store, report_id: int, language: str, reason: str, by: str,
           now: datetime) -> None:
    edition_to_review(store, report_id, language)
    store.reviews.save(report_id, language, Review(ReviewState.REJECTED, None, None, by, now,
                                                   reason.strip()))


def export_memory(store: Store, tool_version: str) -> bytes:
    return write_tmx((Unit(p.source_language, p.target_language, p.source, p.target,
                           p.reviewer, p.at, masked=True) for p in store.memory.pairs()),
                     tool_version=tool_version)


def import_memory(store: Store, data: bytes, glossary: Glossary | None = None,
                  source_language: str = "en") -> tuple[int, int]:
    """Remember the pairs of a TMX document; returns (pairs kept, pairs skipped because a
    fact of the source is not in the target)."""
    pairs, skipped = [], 0
    for unit in read_tmx(data, source_language=source_language):
        masked = ((unit.source, unit.target) if unit.masked else
                  memory_pair(unit.source, unit.target, unit.source_language,
                              unit.target_language, glossary or Glossary()))
        if masked is None:
            skipped += 1
            continue
        pairs.append(Pair(unit.source_language, unit.target_language, text_hash(masked[0]),
                          masked[0], masked[1], unit.creator, unit.created))
    return store.memory.remember(pairs), skipped


def waiting(store: Store, rules: dict[str, ReviewRule]) -> list[dict[str, Any]]:
    """Editions that wait for a reviewer under some list's rule, oldest report first, with
    the lists (and readers) they are held back from."""
    strictest = (ReviewRule.ALL if ReviewRule.ALL in rules.values() else
                 ReviewRule.FLAGGED if ReviewRule.FLAGGED in rules.values() else ReviewRule.NONE)
    holds: dict[tuple[int, str], list[str]] = {}
    for hold in store.holds.waiting():
        holds.setdefault((hold.report_id, hold.language), []).append(hold.list_name)
    found = []
    pairs = store.reviews.translated()
    editions = store.editions.of_many(list({rid for rid, _ in pairs}))
    titles = {rid: stored.report.title
              for rid, stored in store.reports.get_many(list(editions)).items()}
    for report_id, language in pairs:
        edition = editions[report_id][language]
        if not edition.waits_for_review(strictest) and (report_id, language) not in holds:
            continue
        if edition.approved or edition.rejected:
            continue
        found.append({"report_id": report_id, "title": titles.get(report_id, ""),
                      "language": language,
                      "state": edition.review.state.value if edition.review else "machine",
                      "flags": [f.as_dict() for f in edition.flags],
                      "flags_text": flags_text(edition.flags),
                      "held_from": sorted(holds.get((report_id, language), []))})
    return found
