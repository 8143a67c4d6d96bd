"""The summarise step: summarise every stored report that has no current summary (I/O).

Each report is summarised on its own: one that fails (a bug, a text nobody foresaw) is
recorded with its error in ``store.failures`` and tried again with backoff, and the others go
on; its alert goes without a summary rather than never.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from newsletter.config_sections import SummarySettings
from newsletter.store import Store
from newsletter.summarise.core import (
    METHOD,
    SummaryOptions,
    summarise,
)

log = logging.getLogger(__name__)
STEP = "summarise"


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
    waiting = set() if report_id is not None else store.failures.waiting(STEP, now)
    for stored in reports:
        if stored.id in waiting:
            continue
        report = stored.report
        try:
            summary = summarise(report.title, report.body, options, dateline=report.dateline)
        except Exception as exc:  # one report's failure is recorded; the others go on
            failure = store.failures.record(stored.id, STEP, f"{type(exc).__name__}: {exc}",
                                            now)
            log.error("could not summarise report %s: %s (attempt %d; next at %s)",
                      stored.id, failure.error, failure.attempts,
                      failure.next_attempt_at.isoformat(),
                      extra={"event": "summarise_failed", "report_id": stored.id,
                             "attempts": failure.attempts})
            continue
        with store.transaction():
            store.summaries.save(
                stored.id, stored.revision, method=summary.method,
                max_sentences=options.sentences, max_words=options.words,
                sentences=summary.sentences, now=now,
            )
            store.failures.clear(stored.id, STEP)
        log.info("summarised report %s", stored.id,
                 extra={"event": "summarise", "report_id": stored.id,
                        "sentences": len(summary.sentences)})
        done.append(Summarised(stored.id, summary.sentences))
    return done
