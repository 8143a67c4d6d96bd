"""``newsletter run``: APScheduler 3 wiring, the sending lease and a clean stop (I/O).

Only *when* lives here; *what* is :class:`newsletter.service.steps.Service`. APScheduler's
defaults are not used: every job is coalesced, runs one instance at a time, has an explicit
misfire grace, and cron triggers carry each list's own timezone. What was sent is the
outbox's record, never the scheduler's: after downtime, :meth:`Service.catch_up` makes one
digest for a missed run.

One scheduler sends at a time: a lease row in the database, renewed while running. A second
``newsletter run`` on the same database says who holds it and waits as a standby (or exits).
SIGTERM and SIGINT stop new work, let the messages in flight finish, and exit 0.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from newsletter.delivery.sender import DeliveryRun, Sender
from newsletter.errors import AlreadyRunning
from newsletter.service.cron import cron_trigger
from newsletter.service.steps import Service
from newsletter.store import Store

log = logging.getLogger(__name__)
LEASE = "scheduler"


def owner_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass
class RunSummary:
    """What a run did, for the command line."""

    reports: int = 0
    issues: int = 0
    delivered: DeliveryRun = field(default_factory=DeliveryRun)
    notes: list[str] = field(default_factory=list)


async def wait_for_lease(store: Store, seconds: float, owner: str, *, standby: bool,
                         clock: Callable[[], datetime], stop: asyncio.Event) -> bool:
    """Take the sending lease, waiting as a standby while another run holds it. False if a
    stop was asked for while waiting."""
    announced = False
    while not stop.is_set():
        holder = store.leases.take(LEASE, owner, clock(), seconds)
        if holder is None:
            return True
        if not standby:
            raise AlreadyRunning(
                f"another `newsletter run` ({holder}) is sending from this database",
                hint="stop it first, or start this one without --exit-if-running to wait as "
                     "a standby")
        if not announced:
            log.warning("standby: %s holds the sending lease; waiting", holder,
                        extra={"event": "standby", "holder": holder})
            announced = True
        try:
            await asyncio.wait_for(stop.wait(), timeout=max(0.2, seconds / 3))
        except TimeoutError:
            pass
    return False


async def run_once(service: Service, sender: Sender, *, clock: Callable[[], datetime],
                   stop: asyncio.Event) -> RunSummary:
    """The whole pipeline once: prepare reports, alerts, every list's digest, delivery."""
    store, owner = service.store, sender.owner
    summary = RunSummary()
    if not await wait_for_lease(store, service.settings.schedule.lease_seconds, owner,
                                standby=False, clock=clock, stop=stop):
        return summary
    try:
        summary.reports = service.prepare()
        alerts = service.alerts()
        summary.notes += alerts.notes
        summary.issues += len(alerts.issues)
        for spec in service.lists().values():
            if service.digest(spec) is not None:
                summary.issues += 1
        summary.delivered = await sender.sweep(stop) or DeliveryRun()
    finally:
        store.leases.drop(LEASE, owner)
    return summary


async def run_forever(service: Service, sender: Sender, *, standby: bool,
                      clock: Callable[[], datetime], stop: asyncio.Event) -> None:
    """The service: jobs on their schedules until ``stop`` is set."""
    store, owner = service.store, sender.owner
    settings = service.settings.schedule
    if not await wait_for_lease(store, settings.lease_seconds, owner, standby=standby,
                                clock=clock, stop=stop):
        return
    running: set[asyncio.Task[object]] = set()

    def job(step: Callable[[], Awaitable[object]]) -> Callable[[], Awaitable[None]]:
        """Run ``step`` as a task the stop waits for. It is shielded: APScheduler cancels
        its jobs when it shuts down, and a send must finish, not be cut off mid-message.
        A failure is logged, not fatal."""
        async def wrapper() -> None:
            if stop.is_set():
                return
            task: asyncio.Task[object] = asyncio.ensure_future(step())
            running.add(task)
            task.add_done_callback(running.discard)
            try:
                await asyncio.shield(task)
            except asyncio.CancelledError:
                raise
            except Exception:  # a job's failure must not stop the service
                log.exception("scheduled job failed", extra={"event": "job_failed"})
        return wrapper

    async def sweep() -> object:
        return await sender.sweep(stop)

    async def prepare_and_alert() -> object:
        service.prepare()
        service.alerts()
        return await sweep()

    def digest_of(name: str) -> Callable[[], Awaitable[object]]:
        async def step() -> object:
            spec = service.lists().get(name)
            if spec is not None:
                service.digest(spec)
            return await sweep()
        return step

    async def renew() -> object:
        holder = store.leases.take(LEASE, owner, clock(), settings.lease_seconds)
        if holder is not None:
            log.error("lost the sending lease to %s; stopping", holder)
            stop.set()
        return None

    scheduler = AsyncIOScheduler(timezone=UTC, job_defaults={
        "coalesce": True, "max_instances": 1, "misfire_grace_time": 300})
    scheduler.add_job(job(prepare_and_alert), IntervalTrigger(seconds=settings.poll_seconds),
                      id="prepare", next_run_time=datetime.now(UTC))
    scheduler.add_job(job(sweep), IntervalTrigger(seconds=settings.deliver_seconds),
                      id="deliver")
    scheduler.add_job(job(renew), IntervalTrigger(seconds=max(1.0, settings.lease_seconds / 3)),
                      id="lease")
    for spec in service.lists().values():
        scheduler.add_job(job(digest_of(spec.name)), cron_trigger(spec),
                          id=f"digest:{spec.name}")
    try:
        service.catch_up()
        scheduler.start()
        log.info("service started", extra={"event": "started", "owner": owner})
        await stop.wait()
    finally:
        if scheduler.running:
            scheduler.pause()  # no new work
        if running:
            await asyncio.gather(*running, return_exceptions=True)  # in-flight sends finish
        if scheduler.running:
            scheduler.shutdown(wait=False)
        store.leases.drop(LEASE, owner)
        log.info("service stopped", extra={"event": "stopped"})
