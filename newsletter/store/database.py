"""A database connection and its transactions (I/O).

The connection runs in autocommit: a single statement commits itself. Statements that must
stand or fall together run inside :meth:`Database.transaction`, the one place that begins,
commits and rolls back. Transactions nest: an inner block is a savepoint, so a repository
method that needs its own transaction can be called inside a caller's larger one.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from newsletter.store.dialect import SQLITE, Dialect

Row = tuple[Any, ...]


class Database:
    """One open connection and the dialect its queries are written for."""

    def __init__(self, connection: sqlite3.Connection, dialect: Dialect, path: Path) -> None:
        self.connection = connection
        self.dialect = dialect
        self.path = path
        self._depth = 0

    def execute(self, sql: str, params: Sequence[object] = ()) -> sqlite3.Cursor:
        return self.connection.execute(self.dialect.sql(sql), params)

    def executemany(self, sql: str, rows: Iterable[Sequence[object]]) -> int:
        """Run ``sql`` once per row; returns how many rows it changed in all."""
        cursor = self.connection.executemany(self.dialect.sql(sql), rows)
        return max(cursor.rowcount, 0)

    def one(self, sql: str, params: Sequence[object] = ()) -> Row | None:
        row: Row | None = self.execute(sql, params).fetchone()
        return row

    def all(self, sql: str, params: Sequence[object] = ()) -> list[Row]:
        """Every row, as the tuples the driver returns (no copy per row)."""
        rows: list[Row] = self.execute(sql, params).fetchall()
        return rows

    def scalar(self, sql: str, params: Sequence[object] = ()) -> Any:
        row = self.one(sql, params)
        return None if row is None else row[0]

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Commit what the block wrote, or roll all of it back. Inside another transaction
        the block is a savepoint: its writes commit with the outer transaction, and an error
        rolls back only the block's (the outer one then decides)."""
        if self._depth:
            name = f"sp{self._depth}"
            self.connection.execute(f"SAVEPOINT {name}")
            self._depth += 1
            try:
                yield
            except BaseException:
                self.connection.execute(f"ROLLBACK TO {name}")
                self.connection.execute(f"RELEASE {name}")
                raise
            finally:
                self._depth -= 1
            self.connection.execute(f"RELEASE {name}")
            return
        self.connection.execute(self.dialect.begin)
        self._depth = 1
        try:
            yield
        except BaseException:
            self.connection.rollback()
            raise
        finally:
            self._depth = 0
        self.connection.commit()

    @property
    def in_transaction(self) -> bool:
        return self._depth > 0

    def close(self) -> None:
        self.connection.close()


def connect_sqlite(path: Path) -> Database:
    """Open (creating if needed) the SQLite database at ``path``: WAL mode, one writer at a
    time, and a writer waits up to 30 s for another to finish."""
    path.parent.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(path, isolation_level=None, timeout=30.0)
    try:
        connection.execute("PRAGMA journal_mode = WAL")
        connection.execute("PRAGMA synchronous = NORMAL")
        connection.execute("PRAGMA foreign_keys = ON")
        connection.execute("PRAGMA busy_timeout = 30000")
    except BaseException:
        connection.close()
        raise
    return Database(connection, SQLITE, path)


def stamp(moment: datetime) -> str:
    """How a moment is stored: UTC, ISO 8601 to the second, so stamps sort as text."""
    if moment.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware")
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def moment(text: str | None) -> datetime | None:
    """A stored stamp read back (None stays None)."""
    return datetime.fromisoformat(text) if text else None


def chunks(values: Sequence[Any], size: int = 900) -> Iterator[list[Any]]:
    """``values`` in lists of at most ``size``: an ``IN (…)`` list stays under every
    backend's limit on parameters."""
    for start in range(0, len(values), size):
        yield list(values[start : start + size])


def literals(*values: str) -> str:
    """``('a', 'b')``: a fixed set of enum values, written into a query as SQL literals."""
    for value in values:
        if "'" in value:
            raise ValueError(f"not a plain value: {value!r}")
    return "(" + ", ".join(f"'{value}'" for value in values) + ")"
