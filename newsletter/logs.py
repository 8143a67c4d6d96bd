"""Logging setup: readable lines on a terminal, one JSON object per line otherwise (I/O)."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import IO, Any

# Attributes every LogRecord has; anything else was passed with ``extra=`` and is data.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message and the ``extra`` fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def configure_logging(level: str, fmt: str, stream: IO[str] | None = None) -> None:
    """Send the package's logs to ``stream`` (standard error) at ``level`` in ``fmt``."""
    stream = stream or sys.stderr
    if fmt == "auto":
        fmt = "text" if stream.isatty() else "json"
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        JsonFormatter() if fmt == "json" else logging.Formatter("%(levelname)s %(message)s")
    )
    root = logging.getLogger("newsletter")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False
    # psycopg's pool warns at each failed reconnection, and APScheduler at each fire it skips
    # while the job before is still running (max_instances=1, on purpose): the database
    # faults say an outage once (newsletter.service.outage), so only their errors are shown.
    for name in ("psycopg", "apscheduler"):
        library = logging.getLogger(name)
        library.handlers[:] = [handler]
        library.setLevel(logging.ERROR)
        library.propagate = False
