"""The database's own failures, told apart from a statement's and said with what to do (pure but
for a look at the free space of a disk that gave an I/O error).

SQLite says them in its messages; PostgreSQL in SQLSTATE codes and its connection errors.
Each becomes the :class:`~newsletter.errors.DatabaseFault` that names the cause and the next
step; an error of the statement itself (a constraint, a syntax error) is left alone.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from newsletter.errors import (
    DatabaseBusy,
    DatabaseFault,
    DatabaseFull,
    DatabaseReadOnly,
    DatabaseUnavailable,
)

_NEARLY_FULL = 1 << 20  # bytes free: a disk with less is full for a database
_BUSY = ("database is locked", "database table is locked", "database is busy")
_FULL = ("database or disk is full", "disk is full")
_READ_ONLY = ("attempt to write a readonly database", "readonly database",
              "unable to open database file")
# SQLSTATE classes and codes of PostgreSQL that are the server's, not the statement's.
_PG_FULL = ("53100", "53200", "53300")  # disk full, out of memory, too many connections
_PG_READ_ONLY = ("25006",)  # read-only transaction (a standby, default_transaction_read_only)
_PG_BUSY = ("55P03", "40P01")  # lock not available, deadlock
_PG_GONE_CLASSES = ("08", "57")  # connection exceptions; operator intervention (shutdown)


def busy_hint(where: str) -> str:
    return (f"another process holds {where} (a running `newsletter run`, worker or command; "
            "`newsletter workers` lists them): run this again in a moment")


def database_fault(exc: BaseException, where: str) -> DatabaseFault | None:
    """``exc`` as the database fault it is, or None when it is the statement's own error."""
    if isinstance(exc, DatabaseFault):
        return exc
    if isinstance(exc, sqlite3.OperationalError):
        return _sqlite(str(exc), where, getattr(exc, "sqlite_errorname", ""))
    module = type(exc).__module__
    if module.startswith("psycopg"):
        return _postgresql(exc, where)
    return None


def _free_bytes(folder: Path) -> int | None:
    try:
        found = os.statvfs(folder)
    except OSError:
        return None
    return found.f_bavail * found.f_frsize


def _sqlite(message: str, where: str, code: str = "") -> DatabaseFault | None:
    lowered = message.lower()
    folder = Path(where).parent
    if "disk i/o error" in lowered or code.startswith("SQLITE_IOERR"):
        # SQLite reports a write that found no room as an I/O error as often as "full".
        free = _free_bytes(folder)
        if free is not None and free < _NEARLY_FULL:
            lowered = "database or disk is full"
    if any(text in lowered for text in _BUSY):
        return DatabaseBusy(f"the database {where} is locked by another process ({message})",
                            where=where, hint=busy_hint(where))
    if any(text in lowered for text in _FULL):
        return DatabaseFull(
            f"the disk holding the database {where} is full ({message})", where=where,
            hint=f"free space on the disk that holds {folder}, then run this again: nothing "
                 "was half-written")
    if any(text in lowered for text in _READ_ONLY):
        return DatabaseReadOnly(
            f"the database {where} cannot be written ({message})", where=where,
            hint=f"let the user running newsletter write {where} and its folder {folder} "
                 "(SQLite keeps its -wal and -shm files beside it), then run this again")
    if "disk i/o error" in lowered:
        return DatabaseFault(f"the disk holding the database {where} failed ({message})",
                             where=where, hint="check the disk and the file system (dmesg), "
                                               "then run this again")
    return None


def _postgresql(exc: BaseException, where: str) -> DatabaseFault | None:
    code = str(getattr(exc, "sqlstate", "") or "")
    text = str(exc).strip() or type(exc).__name__
    if code in _PG_FULL:
        return DatabaseFull(f"the database server {where} is out of room ({text})", where=where,
                            hint="free disk space (or connections) on the database server, "
                                 "then run this again: nothing was half-written")
    if code in _PG_READ_ONLY:
        return DatabaseReadOnly(f"the database {where} refuses writes ({text})", where=where,
                                hint="point [database] url at the primary server, not a "
                                     "read-only standby")
    if code in _PG_BUSY:
        return DatabaseBusy(f"the database {where} is locked by another process ({text})",
                            where=where, hint=busy_hint(where))
    name = type(exc).__name__
    if code[:2] in _PG_GONE_CLASSES or (not code and name in (
            "OperationalError", "InterfaceError", "PoolTimeout", "PoolClosed")):
        return DatabaseUnavailable(
            f"the connection to the database {where} was lost ({text})", where=where,
            hint="check that the database server is running and reachable; this can be run "
                 "again once it is")
    return None
