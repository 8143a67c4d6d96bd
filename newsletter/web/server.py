"""Serving the web app with uvicorn, with the limits a public server needs (I/O).

uvicorn reads a request for as long as the client takes and logs every refused one. Here each
connection has ``[web] request_timeout`` seconds to send a whole request (headers and body):
a slower one (slowloris, a stalled upload) is closed. At most ``[web] max_connections`` are
open at once: one more is closed as soon as it is accepted, so slow clients cannot use up the
process's file descriptors. Such closings are logged once a minute with their count, not
once each. ``X-Forwarded-For`` is believed only from ``[web] trusted_proxies``.

``newsletter serve --workers N`` runs N processes on one socket (uvicorn's supervisor
restarts one that dies). Each is started afresh (spawn), so it builds its own app from the
instance named by ``NEWSLETTER_CONFIG`` (:func:`worker_app`), with the same limits per process.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from pathlib import Path
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.supervisors import Multiprocess

from newsletter.config_sections import WebSettings

log = logging.getLogger(__name__)
LOG_EVERY = 60.0  # seconds between two lines about refused clients


class Refusals:
    """Counts of refused clients by reason, logged at most once every :data:`LOG_EVERY`."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.logged = 0.0

    def note(self, reason: str) -> None:
        self.counts[reason] = self.counts.get(reason, 0) + 1
        now = time.monotonic()
        if now - self.logged >= LOG_EVERY:
            summary = ", ".join(f"{n} {what}" for what, n in sorted(self.counts.items()))
            log.warning("web clients refused in the last minute: %s", summary,
                        extra={"event": "web_refused", **self.counts})
            self.counts = {}
            self.logged = now


class GuardedProtocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol with a deadline on each request and a connection limit.
    Subclassed per server with its limits (:func:`protocol_for`)."""

    request_timeout: float = 15.0
    max_connections: int = 200
    refusals: Refusals = Refusals()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.max_connections:
            self.refusals.note("over the connection limit")
            transport.abort()
            return
        self._arm()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state is h11.DONE:
            self._disarm()  # the whole request is in: the app takes it from here
        elif self._deadline is None:
            self._arm()  # the next request on a kept-alive connection

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(self.request_timeout, self._too_slow)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _too_slow(self) -> None:
        self._deadline = None
        if self.conn.their_state in (h11.IDLE, h11.SEND_BODY) and (
                self.cycle is None or not self.cycle.response_started):
            self.refusals.note("too slow to send a request")
            self.transport.abort()


def protocol_for(web: WebSettings) -> type[GuardedProtocol]:
    """A :class:`GuardedProtocol` with ``web``'s limits, and a count of its own."""
    return type("Guarded", (GuardedProtocol,), {
        "request_timeout": web.request_timeout, "max_connections": web.max_connections,
        "refusals": Refusals()})


def uvicorn_config(app: Any, web: WebSettings, *, host: str, port: int) -> uvicorn.Config:
    """The uvicorn configuration ``newsletter serve`` runs (and tests use). Forwarding
    headers are left to the app (:func:`newsletter.web.edge.client_of`): uvicorn's own would
    believe X-Forwarded-For from 127.0.0.1, whoever connects there. The loop is asyncio's,
    named: uvicorn would take uvloop (installed for sending, newsletter.delivery.loop), and
    the guarded protocol's limits are measured on asyncio's (bench/web.py)."""
    return uvicorn.Config(
        app, host=host, port=port, loop="asyncio", http=protocol_for(web), log_level="error",
        timeout_keep_alive=5, proxy_headers=False, h11_max_incomplete_event_size=16 * 1024,
        server_header=False, lifespan="off")


class WorkerProtocol(GuardedProtocol):
    """The protocol of a worker process: its limits are set by :func:`worker_app`, from the
    instance's settings, before the first connection."""

    refusals = Refusals()


def worker_app() -> Any:
    """The app of one worker process of ``newsletter serve --workers N`` (a uvicorn factory):
    the instance of ``NEWSLETTER_CONFIG`` and the environment, as the parent set them."""
    from newsletter.app import load_instance
    from newsletter.logs import configure_logging
    from newsletter.web import create_app

    instance = load_instance(None, cwd=Path.cwd(), environ=os.environ)
    settings = instance.settings
    configure_logging(settings.log.level, settings.log.format)
    WorkerProtocol.request_timeout = settings.web.request_timeout
    WorkerProtocol.max_connections = settings.web.max_connections
    return create_app(instance)


def serve(app: Any, web: WebSettings, *, host: str, port: int, workers: int = 1) -> None:
    """Serve ``app`` (one process), or ``workers`` processes each building its own
    (:func:`worker_app`; the caller sets ``NEWSLETTER_CONFIG`` for them)."""
    if workers == 1:
        uvicorn.Server(uvicorn_config(app, web, host=host, port=port)).run()
        return
    config = uvicorn.Config(
        "newsletter.web.server:worker_app", factory=True, host=host, port=port,
        workers=workers, loop="asyncio", http="newsletter.web.server:WorkerProtocol",
        log_level="error",
        timeout_keep_alive=5, proxy_headers=False, h11_max_incomplete_event_size=16 * 1024,
        server_header=False, lifespan="off")
    Multiprocess(config, sockets=[config.bind_socket()]).run()
