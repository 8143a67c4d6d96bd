"""Editions (a report in another language) and the sentence translation cache (queries)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime

from newsletter.errors import NotFound
from newsletter.store.database import Database, Row, chunks, stamp
from newsletter.translate.core import Flag, as_flags
from newsletter.translate.editions import (
    Edition,
    Review,
    ReviewState,
    TranslationState,
    TranslationTotals,
)

# An edition with the review of this very translation (same key), if it has one.
_EDITION = """e.report_id, e.language, e.title, e.summary, e.body, e.model, e.flags, e.body_flags,
    r.state, r.title, r.summary, r.reviewer, r.at, r.reason"""
_WITH_REVIEW = """editions e LEFT JOIN edition_reviews r ON r.report_id = e.report_id
    AND r.language = e.language AND r.key = e.key"""


class Editions:
    def __init__(self, db: Database) -> None:
        self.db = db

    def cached(self, model: str, target: str, hashes: Sequence[str]) -> dict[str, str]:
        """The cached translations by ``model`` into ``target`` of the sentences with these
        hashes."""
        found: dict[str, str] = {}
        for chunk in chunks(hashes):
            marks = ",".join("?" * len(chunk))
            found.update((str(h), str(output)) for h, output in self.db.all(
                f"""SELECT source_hash, output FROM translation_cache
                    WHERE model = ? AND target = ? AND source_hash IN ({marks})""",
                (model, target, *chunk),
            ))
        return found

    def cache(self, model: str, target: str, items: Mapping[str, str], now: datetime) -> None:
        self.db.executemany(
            """INSERT INTO translation_cache (source_hash, model, target, output, created_at)
               VALUES (?, ?, ?, ?, ?)
               ON CONFLICT (source_hash, model, target) DO UPDATE SET output = excluded.output,
                 created_at = excluded.created_at""",
            [(h, model, target, output, stamp(now)) for h, output in items.items()],
        )

    def state(self, report_id: int | None = None) -> Iterator[TranslationState]:
        """For each report (or one): what deciding whether it needs translating takes, in two
        queries and without the bodies, so that this stays cheap on every poll."""
        where, params = ("WHERE r.id = ?", (report_id,)) if report_id is not None else ("", ())
        keys: dict[int, dict[str, str]] = {}
        waiting: dict[int, set[str]] = {}
        for rid, language, key, body_waits in self.db.all(
            """SELECT report_id, language, key,
                 CASE WHEN title IS NOT NULL AND body IS NULL THEN 1 ELSE 0 END
               FROM editions""" + (" WHERE report_id = ?" if report_id is not None else ""),
            params,
        ):
            keys.setdefault(int(rid), {})[str(language)] = str(key)
            if body_waits:
                waiting.setdefault(int(rid), set()).add(str(language))
        rows = self.db.execute(
            f"""SELECT r.id, r.language, r.content_hash, s.sentences FROM reports r
                LEFT JOIN summaries s ON s.report_id = r.id {where} ORDER BY r.id""", params)
        for rid, language, content_hash, sentences in rows:
            summary = tuple(json.loads(sentences)) if sentences else ()
            yield TranslationState(int(rid), str(language), str(content_hash), summary,
                                   keys.get(int(rid), {}),
                                   frozenset(waiting.get(int(rid), ())))

    def save(self, report_id: int, edition: Edition, key: str, now: datetime) -> None:
        self.db.execute(
            """INSERT INTO editions (report_id, language, key, title, summary, body, model,
                 flags, body_flags, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT (report_id, language) DO UPDATE SET key = excluded.key,
                 title = excluded.title, summary = excluded.summary, body = excluded.body,
                 model = excluded.model, flags = excluded.flags,
                 body_flags = excluded.body_flags, created_at = excluded.created_at""",
            (
                report_id, edition.language, key, edition.title,
                None if edition.summary is None else json.dumps(list(edition.summary),
                                                                ensure_ascii=False),
                edition.body, edition.model,
                json.dumps([f.as_dict() for f in edition.flags], ensure_ascii=False),
                json.dumps([f.as_dict() for f in edition.body_flags], ensure_ascii=False),
                stamp(now),
            ),
        )

    def save_body(self, report_id: int, language: str, key: str, body: str,
                  body_flags: Sequence[Flag]) -> bool:
        """Give the edition made under ``key`` its translated body; False when that edition
        was replaced meanwhile (its report or the models changed: a body of the new one
        follows it)."""
        return self.db.execute(
            """UPDATE editions SET body = ?, body_flags = ?
               WHERE report_id = ? AND language = ? AND key = ? AND title IS NOT NULL""",
            (body, json.dumps([f.as_dict() for f in body_flags], ensure_ascii=False),
             report_id, language, key),
        ).rowcount == 1

    def of(self, report_id: int) -> dict[str, Edition]:
        """The editions of one report, by language."""
        return self.of_many([report_id]).get(report_id, {})

    def of_many(self, report_ids: Sequence[int]) -> dict[int, dict[str, Edition]]:
        """The editions of each of ``report_ids`` that has any, by report and language."""
        found: dict[int, dict[str, Edition]] = {}
        for chunk in chunks(report_ids):
            marks = ",".join("?" * len(chunk))
            for row in self.db.all(
                f"""SELECT {_EDITION} FROM {_WITH_REVIEW} WHERE e.report_id IN ({marks})
                    ORDER BY e.report_id, e.language""", chunk,
            ):
                found.setdefault(int(row[0]), {})[str(row[1])] = _edition(row)
        return found

    def totals(self) -> TranslationTotals:
        return TranslationTotals(
            editions=int(self.db.scalar(
                "SELECT count(*) FROM editions WHERE title IS NOT NULL")),
            cached=int(self.db.scalar("SELECT count(*) FROM translation_cache")),
            without_model=int(self.db.scalar(
                "SELECT count(*) FROM editions WHERE title IS NULL")),
        )


def _edition(row: Row) -> Edition:
    (_, language, title, summary, body, model, flags, body_flags,
     state, reviewed_title, reviewed_summary, reviewer, at, reason) = row
    review = None
    if state is not None:
        review = Review(ReviewState(state), reviewed_title,
                        None if reviewed_summary is None else tuple(json.loads(reviewed_summary)),
                        str(reviewer), datetime.fromisoformat(at), str(reason))
    return Edition(
        language=str(language), title=title,
        summary=None if summary is None else tuple(json.loads(summary)),
        body=body, model=model, flags=tuple(as_flags(json.loads(flags))),
        body_flags=tuple(as_flags(json.loads(body_flags))), review=review,
    )


class Reviews:
    """Reviewers' decisions on editions, each tied to the translation it reviewed."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def save(self, report_id: int, language: str, review: Review) -> None:
        """Record ``review`` for the report's current ``language`` edition (none: NotFound)."""
        key = self.db.scalar("SELECT key FROM editions WHERE report_id = ? AND language = ?",
                             (report_id, language))
        if key is None:
            raise NotFound(f"report {report_id} has no {language} edition to review",
                           hint="`newsletter translate --report ID` makes it")
        self.db.execute(
            """INSERT INTO edition_reviews (report_id, language, key, state, title, summary,
                 reviewer, reason, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT (report_id, language) DO UPDATE SET key = excluded.key,
                 state = excluded.state, title = excluded.title, summary = excluded.summary,
                 reviewer = excluded.reviewer, reason = excluded.reason, at = excluded.at""",
            (report_id, language, key, review.state, review.title,
             None if review.summary is None else json.dumps(list(review.summary),
                                                            ensure_ascii=False),
             review.by, review.reason, stamp(review.at)))

    def translated(self) -> list[tuple[int, str]]:
        """Every (report, language) with a machine translation, oldest report first."""
        return [(int(r), str(lang)) for r, lang in self.db.all(
            "SELECT report_id, language FROM editions WHERE title IS NOT NULL "
            "ORDER BY report_id, language")]
