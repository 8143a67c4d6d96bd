"""Helpers for tests that lay out report files, look at a database, move an outbox row or
sign with DKIM, and the fixed clock they run on."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from newsletter.app import Instance
from newsletter.delivery.rules import Change, State
from newsletter.store.database import stamp as database_stamp
from newsletter.store.outbox import Outbox

REPO = Path(__file__).resolve().parent.parent
SAMPLE_REPORT = REPO / "seeds" / "000_613cf9316ff160d9.txt"
FIXED_NOW = datetime(2026, 1, 15, 9, 0, tzinfo=UTC)
SETTLED = FIXED_NOW - timedelta(hours=1)


def stamp(path: Path, moment: datetime = SETTLED) -> Path:
    """Set a file's modification time, e.g. to look finished (settled) at FIXED_NOW."""
    os.utime(path, (moment.timestamp(), moment.timestamp()))
    return path


def drop(folder: Path, name: str, content: str | bytes, *, encoding: str = "utf-8",
         modified: datetime = SETTLED) -> Path:
    """Put a report file in ``folder``, modified at ``modified`` (settled by default)."""
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    data = content.encode(encoding) if isinstance(content, str) else content
    path.write_bytes(data)
    return stamp(path, modified)


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 120) -> None:
    """Wait for an event (a message at the sink, a row's state), polling: a busy machine only
    makes it slower. ``timeout`` is a guard against a hang, not a figure the test relies on."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout:.0f} s for {what}")
        time.sleep(0.01)


def leases_ended(office: Instance) -> bool:
    """No outbox message is held under a lease still running: a killed sender's ran out."""
    with office.open_store() as store:
        held = store.db.scalar("SELECT COUNT(*) FROM outbox WHERE lease_until > ?",
                               (database_stamp(datetime.now(UTC)),))
    return int(held) == 0


class Clock:
    """A clock the test moves by hand: ``clock.now += timedelta(...)``."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


def database_snapshot(database: Path) -> tuple[bytes, list[str]]:
    """A SQLite database file's bytes, with the write-ahead log folded in first, and its dump:
    equal snapshots before and after mean nothing was written."""
    connection = sqlite3.connect(database)
    try:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        dump = list(connection.iterdump())
    finally:
        connection.close()
    return database.read_bytes(), dump


def openssl(*args: str) -> None:
    """Run ``openssl`` with ``args`` (keys and certificates for tests); fail on an error."""
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def dkim_key(folder: Path) -> tuple[Path, str]:
    """A fresh 2048-bit RSA key made by openssl in ``folder``: the PEM private key's path, and
    the public key as the DNS TXT record of its selector (``v=DKIM1; k=rsa; p=…``)."""
    key, public = folder / "dkim.pem", folder / "dkim.pub"
    openssl("genrsa", "-out", str(key), "2048")
    openssl("rsa", "-in", str(key), "-pubout", "-out", str(public))
    return key, "v=DKIM1; k=rsa; p=" + "".join(public.read_text().splitlines()[1:-1])


def dkim_dns(record: str, name: bytes) -> Callable[..., bytes]:
    """A ``dnsfunc`` for ``dkim.verify`` that knows one TXT record, at ``name`` (e.g.
    ``b"news._domainkey.example.org."``), and fails the test on any other lookup."""
    def lookup(asked: bytes, timeout: int = 5) -> bytes:
        assert asked == name
        return record.encode()

    return lookup


def mark(outbox: Outbox, row_id: int, owner: str, expected: State, state: State, *,
         now: datetime | None = None, code: int | None = None, text: str = "",
         next_attempt_at: datetime | None = None, attempted: bool = False) -> bool:
    """One fenced move of an outbox row (:meth:`Outbox.write` for one change): whether it
    was made."""
    change = Change(row_id, expected, state, code, text, next_attempt_at, attempted)
    return outbox.write([change], owner, now or datetime.now(UTC)) == [True]
