"""Riding out a database outage in the processes that keep running (pure but for logging).

A worker or scheduler whose database fails (PostgreSQL restarted, a network cut, SQLite
locked for long) does not die with a traceback: :class:`Outage` logs one line when the outage
begins and one when it ends, tells how long to wait before the next try (1 s, doubling, at
most 30 s), and only after ``[database] outage_seconds`` without the database gives up with
the fault's ``Error:`` and a ``Hint:``. The outbox's fences make a retry after a lost
transaction safe.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from newsletter.errors import DatabaseFault, DatabaseUnavailable

log = logging.getLogger(__name__)
_LONGEST_WAIT = 30.0


class Outage:
    """The state of one process's outage, if it is in one."""

    def __init__(self, limit: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.clock = clock
        self.since: float | None = None
        self.tries = 0

    def failed(self, fault: DatabaseFault) -> float:
        """Note a failure; how many seconds to wait before trying again. Past the limit,
        :class:`DatabaseUnavailable` saying for how long."""
        now = self.clock()
        if self.since is None:
            self.since = now
            log.warning("database unavailable: %s; trying again for up to %.0f s",
                        fault.message, self.limit,
                        extra={"event": "database_outage", "where": fault.where})
        self.tries += 1
        if now - self.since >= self.limit:
            raise DatabaseUnavailable(
                f"the database {fault.where} has been unavailable for {now - self.since:.0f} s "
                f"({fault.message})", where=fault.where,
                hint=(fault.hint or "check the database server") + "; [database] "
                     "outage_seconds says how long a running process waits for it") from fault
        return float(min(_LONGEST_WAIT, 2 ** (self.tries - 1)))

    def ok(self) -> None:
        """Note a success: the outage, if any, is over."""
        if self.since is not None:
            log.warning("database back after %.0f s", self.clock() - self.since,
                        extra={"event": "database_back"})
            self.since = None
            self.tries = 0
