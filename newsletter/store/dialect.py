"""What differs between the SQL databases newsletter runs on, in one place.

Every query is written once, in the subset SQLite and PostgreSQL both accept: ``ON CONFLICT``
instead of ``INSERT OR IGNORE``/``OR REPLACE``, ``RETURNING`` instead of ``lastrowid``,
``COALESCE``/``CASE`` instead of scalar ``MAX(a, b)``, and ``?`` placeholders, which a dialect
rewrites to its own style. Timestamps are stored as ISO 8601 text in UTC with a fixed width
(:func:`newsletter.store.database.stamp`), so they compare and sort as text on every backend.
What cannot be written once is here: the placeholder style, how an integer key is declared,
how a writing transaction begins, and how a claim locks the rows it takes.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Dialect:
    name: str
    placeholder: str  # what a ``?`` in the queries becomes
    id_column: str  # the DDL of an integer primary key the database assigns
    begin: str  # the statement that opens a writing transaction
    skip_locked: str  # appended to the SELECT of a claim: rows another claim holds are passed over

    def sql(self, text: str) -> str:
        """``text`` with this dialect's placeholders."""
        if self.placeholder == "?":
            return text
        return text.replace("%", "%%").replace("?", self.placeholder)

    def ddl(self, text: str) -> str:
        """A migration's DDL with ``{id}`` made this dialect's integer key."""
        return text.replace("{id}", self.id_column)


# One writer at a time: BEGIN IMMEDIATE takes the write lock up front, so two writers never
# deadlock on a lock upgrade; a claim needs no row locks because the transaction holds them all.
SQLITE = Dialect(
    name="sqlite",
    placeholder="?",
    id_column="INTEGER PRIMARY KEY",
    begin="BEGIN IMMEDIATE",
    skip_locked="",
)
