"""Helpers for tests that lay out report files, and the fixed clock they run on."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

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


class Clock:
    """A clock the test moves by hand: ``clock.now += timedelta(...)``."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now
