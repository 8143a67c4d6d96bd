"""Workers: processes that send or translate, any number of them, on any machine that
reaches the database (I/O).

A delivery worker sweeps the outbox again and again, claiming a few messages at a time under
fenced leases (:mod:`newsletter.delivery.sender`), so several on one database never send one
message twice. A translation worker claims translation jobs the same way and keeps its models
loaded between them. Each process records a heartbeat, which ``newsletter workers`` reads.
``newsletter run`` translates in a :class:`TranslationThread` of its own, with its own
connection, so sending and alerts never wait behind a long translation (CTranslate2 releases
the interpreter while it decodes).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import threading
from collections.abc import Callable
from datetime import datetime

from newsletter.delivery.sender import DeliveryRun, Sender
from newsletter.service.steps import Service
from newsletter.store import Store

log = logging.getLogger(__name__)
HEARTBEAT_SECONDS = 10.0
ALIVE_SECONDS = 3 * HEARTBEAT_SECONDS  # a process silent for longer is taken for dead


class Heartbeat:
    """This process's record in the ``workers`` table."""

    def __init__(self, store: Store, worker_id: str, role: str, *,
                 clock: Callable[[], datetime], detail: Callable[[], str] = lambda: "") -> None:
        self.store = store
        self.id = worker_id
        self.role = role
        self.clock = clock
        self.detail = detail

    def beat(self) -> None:
        self.store.workers.beat(self.id, role=self.role, host=socket.gethostname(),
                                pid=os.getpid(), detail=self.detail(), now=self.clock())

    def stopped(self) -> None:
        self.store.workers.stopped(self.id, self.clock())


async def deliver_forever(sender: Sender, heartbeat: Heartbeat, *, poll: float,
                          stop: asyncio.Event) -> DeliveryRun:
    """Sweep the outbox until ``stop``; between sweeps that found nothing, wait ``poll``
    seconds. Returns what all the sweeps did."""
    total = DeliveryRun()
    heartbeat.beat()
    try:
        while not stop.is_set():
            run = await sender.sweep(stop)
            heartbeat.beat()
            if run is not None:
                total.add(run)
            if run is None or not any(run.figures().values()) or run.unreachable:
                try:
                    await asyncio.wait_for(stop.wait(), timeout=poll)
                except TimeoutError:
                    pass
    finally:
        heartbeat.stopped()
    return total


class TranslationThread:
    """Translation jobs done in a thread with its own connection and engine (built by
    ``open_service`` in the thread). :meth:`wake` says jobs were queued; ``on_done`` is
    called (in the thread) once the titles and summaries of the jobs are done, before their
    bodies, so alerts waiting for them can go."""

    def __init__(self, open_service: Callable[[], Service], owner: str, *,
                 poll: float) -> None:
        self.open_service = open_service
        self.owner = owner
        self.poll = poll
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._on_done: Callable[[], None] = lambda: None
        self.done = 0

    def start(self, on_done: Callable[[], None] = lambda: None) -> None:
        self._on_done = on_done
        self._thread = threading.Thread(target=self._main, name="translate", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        """Stop after the batch in hand (a job not finished is released for another)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join()

    def _main(self) -> None:
        service = self.open_service()
        try:
            while not self._stop.is_set():
                self._wake.clear()
                try:
                    self.done += service.translate(self.owner, stop=self._stop.is_set,
                                                   mailed=self._on_done)
                except Exception:  # logged; the job is recorded as failed, others go on
                    log.exception("translation failed", extra={"event": "translate_failed"})
                self._wake.wait(self.poll)
        finally:
            service.store.jobs.release(self.owner)
            service.store.close()


def translate_forever(service: Service, heartbeat: Heartbeat, *,
                      open_store: Callable[[], Store], poll: float,
                      stop: threading.Event) -> int:
    """A translation worker: do jobs until ``stop``, waiting ``poll`` seconds when none
    waits; the heartbeat goes on (over its own connection, ``open_store``) while a long job
    runs. Returns how many were done."""
    done = 0
    heartbeat.beat()
    beating = threading.Event()

    def beat_while_running() -> None:
        with open_store() as store:
            pulse = Heartbeat(store, heartbeat.id, heartbeat.role, clock=heartbeat.clock,
                              detail=heartbeat.detail)
            while not beating.wait(HEARTBEAT_SECONDS):
                pulse.beat()

    pulse = threading.Thread(target=beat_while_running, name="heartbeat", daemon=True)
    pulse.start()
    try:
        while not stop.is_set():
            try:
                done += service.translate(heartbeat.id, stop=stop.is_set)
            except Exception:
                log.exception("translation failed", extra={"event": "translate_failed"})
            heartbeat.beat()
            stop.wait(poll)
    finally:
        beating.set()
        pulse.join()
        service.store.jobs.release(heartbeat.id)
        heartbeat.stopped()
    return done
