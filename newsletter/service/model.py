"""What the service's processes hold and leave behind: a lease as taken, a heartbeat, a
translation job (values; no I/O)."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import datetime


def owner_name() -> str:
    """This process, as the leases and heartbeats it holds name it: host and process ID (here,
    not in the scheduler, so that a command that only sends does not load APScheduler)."""
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True)
class Held:
    """A lease as taken: who holds it, until when, and its epoch."""

    owner: str
    epoch: int
    expires_at: datetime


@dataclass(frozen=True)
class WorkerBeat:
    """A process as its last heartbeat left it."""

    id: str
    role: str
    host: str
    pid: int
    detail: str
    started_at: datetime
    heartbeat_at: datetime
    stopped_at: datetime | None


@dataclass(frozen=True)
class Job:
    """A report's translation, as a worker claims it."""

    report_id: int
    attempts: int
    body: bool = False  # the bodies' turn: the titles and summaries are done
