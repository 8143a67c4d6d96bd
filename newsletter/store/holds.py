"""Languages of reports held back from a list, until their edition may go (queries).

An issue records each (report, language) it held back; a later issue that carries the report
to that language's readers releases the hold in its own transaction, so it goes once.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from newsletter.issues.model import Hold
from newsletter.store.database import Database, moment, stamp


class Holds:
    def __init__(self, db: Database) -> None:
        self.db = db

    def record(self, list_name: str, held: Iterable[tuple[int, str]], issue_id: int,
               now: datetime) -> None:
        """``held``: the (report, language) pairs ``issue_id`` held back from ``list_name``."""
        self.db.executemany(
            """INSERT INTO holds (list_name, report_id, language, issue_id, held_at)
               VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING""",
            [(list_name, report_id, language, issue_id, stamp(now))
             for report_id, language in held])

    def waiting(self, list_name: str | None = None) -> list[Hold]:
        """Holds not yet released (of one list, or of all), oldest first."""
        where, params = ("AND list_name = ?", (list_name,)) if list_name else ("", ())
        return [Hold(str(r[0]), int(r[1]), str(r[2]), int(r[3]), _at(r[4]))
                for r in self.db.all(
                    f"""SELECT list_name, report_id, language, issue_id, held_at FROM holds
                        WHERE released_issue IS NULL {where}
                        ORDER BY held_at, report_id, language""", params)]

    def served_elsewhere(self, holds: Iterable[Hold]) -> set[int]:
        """Readers whose message of a hold's issue went in another language than the one held
        back (the next ready language of their chain): the release is not for them."""
        served: set[int] = set()
        for hold in holds:
            served |= {int(r[0]) for r in self.db.all(
                """SELECT subscriber_id FROM outbox
                    WHERE issue_id = ? AND language != ? AND wanted = ?""",
                (hold.issue_id, hold.language, hold.language))}
        return served

    def release(self, hold: Hold, issue_id: int, now: datetime) -> bool:
        """Mark ``hold`` as carried by ``issue_id``; False if another issue already did (the
        caller's transaction then rolls back)."""
        return self.db.execute(
            """UPDATE holds SET released_issue = ?, released_at = ?
               WHERE list_name = ? AND report_id = ? AND language = ?
                 AND released_issue IS NULL""",
            (issue_id, stamp(now), hold.list_name, hold.report_id, hold.language)).rowcount == 1


def _at(text: str) -> datetime:
    found = moment(text)
    assert found is not None
    return found
