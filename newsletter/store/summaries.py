"""The current summary of each report (queries)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from newsletter.reports.model import StoredReport
from newsletter.store.database import Database, chunks, stamp
from newsletter.store.reports import COLUMNS, stored_report


class Summaries:
    def __init__(self, db: Database) -> None:
        self.db = db

    def needed(self, *, method: str, max_sentences: int, max_words: int) -> list[StoredReport]:
        """Reports with no summary, or one made for an older revision, method or length."""
        rows = self.db.all(
            f"""SELECT {COLUMNS} FROM reports r
                LEFT JOIN summaries s ON s.report_id = r.id
                WHERE s.report_id IS NULL OR s.revision != r.revision OR s.method != ?
                   OR s.max_sentences != ? OR s.max_words != ?
                ORDER BY r.id""",
            (method, max_sentences, max_words),
        )
        return [stored_report(row) for row in rows]

    def save(
        self, report_id: int, revision: int, *, method: str, max_sentences: int, max_words: int,
        sentences: Sequence[str], now: datetime,
    ) -> None:
        self.db.execute(
            """INSERT INTO summaries (report_id, revision, method, max_sentences, max_words,
                 sentences, created_at)
               VALUES (?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT (report_id) DO UPDATE SET revision = excluded.revision,
                 method = excluded.method, max_sentences = excluded.max_sentences,
                 max_words = excluded.max_words, sentences = excluded.sentences,
                 created_at = excluded.created_at""",
            (report_id, revision, method, max_sentences, max_words,
             json.dumps(list(sentences), ensure_ascii=False), stamp(now)),
        )

    def of(self, report_id: int) -> tuple[str, ...] | None:
        """The stored summary sentences of a report, if it has been summarised."""
        found = self.db.scalar("SELECT sentences FROM summaries WHERE report_id = ?",
                               (report_id,))
        return None if found is None else tuple(json.loads(found))

    def of_many(self, report_ids: Sequence[int]) -> dict[int, tuple[str, ...]]:
        """The summaries of those of ``report_ids`` that have one."""
        found: dict[int, tuple[str, ...]] = {}
        for chunk in chunks(report_ids):
            marks = ",".join("?" * len(chunk))
            for report_id, sentences in self.db.all(
                f"SELECT report_id, sentences FROM summaries WHERE report_id IN ({marks})",
                chunk,
            ):
                found[int(report_id)] = tuple(json.loads(sentences))
        return found

    def missing(self) -> int:
        """Reports without a summary of their current revision."""
        return int(self.db.scalar(
            """SELECT count(*) FROM reports r LEFT JOIN summaries s ON s.report_id = r.id
               WHERE s.report_id IS NULL OR s.revision != r.revision"""))
