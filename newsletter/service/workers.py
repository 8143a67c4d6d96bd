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
from newsletter.errors import DatabaseFault
from newsletter.service.outage import Outage
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


async def _pause(stop: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    except TimeoutError:
        pass


async def deliver_forever(sender: Sender, heartbeat: Heartbeat, *, poll: float,
                          stop: asyncio.Event, outage: Outage | None = None) -> DeliveryRun:
    """Sweep the outbox until ``stop``; between sweeps that found nothing, wait ``poll``
    seconds. A database outage is ridden out (:class:`Outage`). Returns what all the sweeps
    did."""
    total = DeliveryRun()
    outage = outage or Outage(300.0)
    heartbeat.beat()
    try:
        while not stop.is_set():
            try:
                run = await sender.sweep(stop)
                heartbeat.beat()
            except DatabaseFault as fault:
                await _pause(stop, outage.failed(fault))
                continue
            outage.ok()
            if run is not None:
                total.add(run)
            if run is None or not any(run.figures().values()) or run.unreachable:
                await _pause(stop, poll)
    finally:
        try:
            heartbeat.stopped()
        except DatabaseFault:
            pass  # the database is gone: its record says so by going stale
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
        outage = Outage(service.settings.database.outage_seconds)
        try:
            while not self._stop.is_set():
                self._wake.clear()
                wait = self.poll
                try:
                    self.done += service.translate(self.owner, stop=self._stop.is_set,
                                                   mailed=self._on_done)
                    outage.ok()
                except DatabaseFault as fault:
                    try:
                        wait = outage.failed(fault)
                    except DatabaseFault:
                        log.error("translation stopped: the database is gone",
                                  extra={"event": "translate_stopped"})
                        return
                except Exception:  # logged; the job is recorded as failed, others go on
                    log.exception("translation failed", extra={"event": "translate_failed"})
                self._wake.wait(wait)
        finally:
            try:
                service.store.jobs.release(self.owner)
            except DatabaseFault:
                pass  # its lease runs out; recover() gives the job back
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
                try:
                    pulse.beat()
                except DatabaseFault:
                    pass  # the main loop rides the outage out and says so

    pulse = threading.Thread(target=beat_while_running, name="heartbeat", daemon=True)
    pulse.start()
    outage = Outage(service.settings.database.outage_seconds)
    try:
        while not stop.is_set():
            wait = poll
            try:
                done += service.translate(heartbeat.id, stop=stop.is_set)
                heartbeat.beat()
                outage.ok()
            except DatabaseFault as fault:
                wait = outage.failed(fault)  # past the limit: the worker exits with Error:
            except Exception:
                log.exception("translation failed", extra={"event": "translate_failed"})
            stop.wait(wait)
    finally:
        beating.set()
        pulse.join()
        try:
            service.store.jobs.release(heartbeat.id)
            heartbeat.stopped()
        except DatabaseFault:
            pass  # its lease runs out; recover() gives the job back
    return done
