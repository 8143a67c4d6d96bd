"""The summarise step: summarise every stored report that has no current summary (I/O)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from newsletter.config import SummarySettings
from newsletter.store import Store
from newsletter.summarise.core import (
    METHOD,
    SummaryOptions,
    summarise,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Summarised:
    """One report summarised by :func:`summarise_pending`."""

    report_id: int
    sentences: tuple[str, ...]


def summarise_pending(
    store: Store, settings: SummarySettings, *, now: datetime, report_id: int | None = None,
    force: bool = False,
) -> list[Summarised]:
    """Summarise every report that has no current summary (or ``report_id``, or all if
    ``force``), store the summaries, and return them."""
    options = SummaryOptions(sentences=settings.sentences, words=settings.words)
    if force or report_id is not None:
        reports = ([store.reports.get(report_id)] if report_id is not None
                   else store.reports.newest())
    else:
        reports = store.summaries.needed(
            method=METHOD, max_sentences=options.sentences, max_words=options.words
        )
    done = []
    with store.transaction():
        for stored in reports:
            report = stored.report
            summary = summarise(report.title, report.body, options, dateline=report.dateline)
            store.summaries.save(
                stored.id, stored.revision, method=summary.method,
                max_sentences=options.sentences, max_words=options.words,
                sentences=summary.sentences, now=now,
            )
            log.info("summarised report %s", stored.id,
                     extra={"event": "summarise", "report_id": stored.id,
                            "sentences": len(summary.sentences)})
            done.append(Summarised(stored.id, summary.sentences))
    return done
