"""Translation memory: sentence pairs a reviewer approved, used before the model (queries)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from newsletter.store.database import Database, chunks, stamp


@dataclass(frozen=True)
class Pair:
    """One approved sentence: ``source`` as the model sees it (names and numbers masked)."""

    source_language: str
    target_language: str
    source_hash: str
    source: str
    target: str
    reviewer: str
    at: datetime


class Memory:
    def __init__(self, db: Database) -> None:
        self.db = db

    def remember(self, pairs: Iterable[Pair]) -> int:
        """Store ``pairs`` (a later approval of the same sentence replaces the earlier)."""
        return self.db.executemany(
            """INSERT INTO translation_memory (source_language, target_language, source_hash,
                 source, target, reviewer, at) VALUES (?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT (source_language, target_language, source_hash) DO UPDATE SET
                 source = excluded.source, target = excluded.target,
                 reviewer = excluded.reviewer, at = excluded.at""",
            [(p.source_language, p.target_language, p.source_hash, p.source, p.target,
              p.reviewer, stamp(p.at)) for p in pairs])

    def lookup(self, source_language: str, target_language: str,
               hashes: Sequence[str]) -> dict[str, str]:
        """The approved translations of the sentences with these hashes."""
        found: dict[str, str] = {}
        for chunk in chunks(hashes):
            marks = ",".join("?" * len(chunk))
            found.update({str(h): str(t) for h, t in self.db.all(
                f"""SELECT source_hash, target FROM translation_memory
                    WHERE source_language = ? AND target_language = ?
                      AND source_hash IN ({marks})""",
                (source_language, target_language, *chunk))})
        return found

    def pairs(self) -> list[Pair]:
        rows = self.db.all(
            """SELECT source_language, target_language, source_hash, source, target, reviewer,
                      at FROM translation_memory ORDER BY source_language, target_language, at""")
        return [Pair(str(r[0]), str(r[1]), str(r[2]), str(r[3]), str(r[4]), str(r[5]),
                     datetime.fromisoformat(r[6])) for r in rows]
