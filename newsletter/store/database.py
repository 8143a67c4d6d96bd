"""A database connection and its transactions (I/O).

The connection runs in autocommit: a single statement commits itself. Statements that must
stand or fall together run inside :meth:`Database.transaction`, the one place that begins,
commits and rolls back. Transactions nest: an inner block is a savepoint, so a repository
method that needs its own transaction can be called inside a caller's larger one.

Two backends: SQLite through :mod:`sqlite3` (:func:`connect_sqlite`) and PostgreSQL through
psycopg 3's sync API, with connections taken from a pool per database URL
(:func:`connect_postgresql`). Both speak the same queries; :mod:`newsletter.store.dialect`
holds what differs.
"""

from __future__ import annotations

import atexit
import os
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

from newsletter.errors import DatabaseFault, DatabaseUnavailable
from newsletter.store.dialect import POSTGRESQL, SQLITE, Dialect
from newsletter.store.faults import database_fault

Row = tuple[Any, ...]


class Cursor(Protocol):
    """What the repositories use of a driver's cursor."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class Database:
    """One open connection and the dialect its queries are written for. ``where`` names the
    database for people (a file, or a URL without its password); ``release`` gives the
    connection back (closes it, or returns it to its pool); ``reconnect`` trades a broken
    connection for a new one (a server's only: a SQLite file has no connection to lose).

    A statement that fails for a reason of the database's own (locked, disk full, read-only,
    the server gone) raises the :class:`~newsletter.errors.DatabaseFault` that says so, with
    what to do (:mod:`newsletter.store.faults`). A lost server connection is made again and
    the statement run again when no transaction was open; inside one, the transaction is
    lost (:class:`~newsletter.errors.DatabaseUnavailable`) and the next one reconnects."""

    def __init__(self, connection: Any, dialect: Dialect, where: str,
                 release: Callable[[Any], None],
                 reconnect: Callable[[Any], Any] | None = None) -> None:
        self.connection = connection
        self.dialect = dialect
        self.where = where
        self._release = release
        self._reconnect = reconnect
        self._broken = False
        self._depth = 0

    def execute(self, sql: str, params: Sequence[object] = ()) -> Cursor:
        if self._broken and not self._depth:
            self._new_connection()
        try:
            cursor: Cursor = self.connection.execute(self.dialect.sql(sql), params)
        except Exception as exc:
            fault = self._fault(exc)
            if fault is None:
                raise
            if isinstance(fault, DatabaseUnavailable) and not self._depth and self._reconnect:
                self._new_connection(fault)
                return self.execute(sql, params)  # the same statement, on the new connection
            raise fault from exc
        return cursor

    def executemany(self, sql: str, rows: Iterable[Sequence[object]]) -> int:
        """Run ``sql`` once per row; returns how many rows it changed in all."""
        rows = list(rows)
        if not rows:
            return 0
        if self._broken and not self._depth:
            self._new_connection()
        cursor = self.connection.cursor()
        try:
            cursor.executemany(self.dialect.sql(sql), rows)
            return max(int(cursor.rowcount), 0)
        except Exception as exc:
            fault = self._fault(exc)
            if fault is None:
                raise
            raise fault from exc
        finally:
            try:
                cursor.close()
            except Exception:  # a lost connection's cursor: nothing left to close
                pass

    def _fault(self, exc: Exception) -> DatabaseFault | None:
        found = database_fault(exc, self.where)
        if isinstance(found, DatabaseUnavailable):
            self._broken = True
        return found

    def _new_connection(self, cause: DatabaseFault | None = None) -> None:
        """Trade the broken connection for a new one, or raise DatabaseUnavailable."""
        if self._reconnect is None:
            raise cause or DatabaseUnavailable(
                f"the connection to {self.where} was lost", where=self.where)
        try:
            self.connection = self._reconnect(self.connection)
        except Exception as exc:
            raise DatabaseUnavailable(
                f"cannot reach the database {self.where}: {str(exc).strip() or type(exc).__name__}",
                where=self.where,
                hint="check that the database server is running and reachable; the command "
                     "can be run again once it is") from exc
        self._broken = False

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
            self.execute(f"SAVEPOINT {name}")
            self._depth += 1
            try:
                yield
            except BaseException:
                if not self._broken:
                    self.execute(f"ROLLBACK TO SAVEPOINT {name}")
                    self.execute(f"RELEASE SAVEPOINT {name}")
                raise
            finally:
                self._depth -= 1
            self.execute(f"RELEASE SAVEPOINT {name}")
            return
        self.execute(self.dialect.begin)
        self._depth = 1
        try:
            yield
        except BaseException:
            self._rollback()
            raise
        finally:
            self._depth = 0
        try:
            self.execute("COMMIT")
        except DatabaseFault:
            self._rollback()  # SQLite keeps the transaction open after a failed COMMIT
            raise

    def _rollback(self) -> None:
        try:
            self.connection.execute("ROLLBACK")
        except Exception:  # the connection itself failed: closing it ends the transaction
            pass

    @property
    def in_transaction(self) -> bool:
        return self._depth > 0

    def now(self) -> datetime:
        """The database's clock (UTC, to the second): what leases are measured against, so
        processes on several machines agree whatever their own clocks say."""
        return datetime.fromisoformat(str(self.scalar(f"SELECT {self.dialect.clock}")))

    def close(self) -> None:
        self._release(self.connection)


def connect_sqlite(path: Path, *, busy_seconds: float = 30.0) -> Database:
    """Open (creating if needed) the SQLite database at ``path``: WAL mode, one writer at a
    time, and a writer waits up to ``busy_seconds`` for another to finish."""
    path.parent.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(path, isolation_level=None, timeout=busy_seconds)
    try:
        connection.execute("PRAGMA journal_mode = WAL")
        connection.execute("PRAGMA synchronous = NORMAL")
        connection.execute("PRAGMA foreign_keys = ON")
        connection.execute(f"PRAGMA busy_timeout = {int(busy_seconds * 1000)}")
        # Statement journals (each UPDATE that fires the tally's triggers inside a longer
        # transaction keeps one) and temporary sorts in memory, not in temporary files: a
        # sent message's writes took 14 µs more with them on disk. Every query is bounded,
        # and OutboxTally.rebuild sorts one issue at a time.
        connection.execute("PRAGMA temp_store = MEMORY")
    except BaseException:
        connection.close()
        raise
    return Database(connection, SQLITE, str(path), lambda c: c.close())


# One pool per database URL and process. Keepalives let the server notice a vanished client
# within about a minute; a client that froze in the middle of a transaction (SIGSTOP, a hung
# machine) is cut off after a minute idle in it, so the row locks it held (a lease row, a
# claim) are released and the others go on.
_POOLS: dict[str, Any] = {}
_POOLS_LOCK = threading.Lock()
_SESSION = {"keepalives": 1, "keepalives_idle": 20, "keepalives_interval": 5,
            "keepalives_count": 4,
            "options": "-c idle_in_transaction_session_timeout=60s -c timezone=UTC"}


def connect_postgresql(url: str, *, pool_size: int = 4) -> Database:
    """A connection to the PostgreSQL database at ``url``, from this process's pool for it."""
    from psycopg_pool import ConnectionPool

    with _POOLS_LOCK:
        pool = _POOLS.get(url)
        if pool is None:
            pool = ConnectionPool(url, min_size=1, max_size=pool_size, open=True,
                                  kwargs={"autocommit": True, **_SESSION},
                                  check=ConnectionPool.check_connection, timeout=30.0,
                                  name="newsletter")
            pool.wait(timeout=30.0)
            _POOLS[url] = pool
    connection = pool.getconn()

    def release(connection: Any) -> None:
        try:
            if not connection.closed and connection.info.transaction_status != 0:
                connection.execute("ROLLBACK")  # never hand a half-done transaction back
        except Exception:  # a broken connection: the pool discards it
            pass
        pool.putconn(connection)

    def reconnect(broken: Any) -> Any:
        release(broken)  # the pool checks it and drops it if it is broken
        return pool.getconn(timeout=5.0)

    return Database(connection, POSTGRESQL, display_url(url), release, reconnect)


def close_pools() -> None:
    """Close every pool (at exit, and between tests that drop their databases)."""
    with _POOLS_LOCK:
        for pool in _POOLS.values():
            pool.close()
        _POOLS.clear()


atexit.register(close_pools)


def _forget_pools() -> None:
    """In a forked child: the parent's pools came along without their threads, so the child
    starts with none of its own."""
    global _POOLS_LOCK
    _POOLS.clear()
    _POOLS_LOCK = threading.Lock()


os.register_at_fork(after_in_child=_forget_pools)


def display_url(url: str) -> str:
    """``url`` with its password masked, for messages and ``status``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    user = f"{parts.username}:********@" if parts.username else ""
    port = f":{parts.port}" if parts.port else ""
    return urlunsplit(parts._replace(netloc=f"{user}{host}{port}"))


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
