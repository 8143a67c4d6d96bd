"""``newsletter run``: APScheduler 3 wiring, the sending lease and a clean stop (I/O).

Only *when* lives here; *what* is :class:`newsletter.service.Service`. APScheduler's defaults are
not used: every job is coalesced, runs one instance at a time, has an explicit misfire grace,
and cron triggers carry each list's own timezone. What was sent is the outbox's record, never
the scheduler's: after downtime, :meth:`Service.catch_up` makes one digest for a missed run.

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
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from newsletter.app import Instance
from newsletter.delivery import DeliveryRun, RateLimiter, SendOptions, send_outbox
from newsletter.errors import NewsletterError
from newsletter.outbox import RetryPolicy
from newsletter.pipeline import IssueMessages
from newsletter.service import Service, cron_trigger
from newsletter.store import Store

log = logging.getLogger(__name__)
LEASE = "scheduler"


class AlreadyRunning(NewsletterError):
    """Another ``newsletter run`` holds the sending lease."""


def owner_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass
class RunSummary:
    """What a run did, for the command line."""

    reports: int = 0
    issues: int = 0
    delivered: DeliveryRun = field(default_factory=DeliveryRun)
    notes: list[str] = field(default_factory=list)


def messages_for(instance: Instance, store: Store) -> IssueMessages:
    settings = instance.settings
    lists = instance.lists(store)
    return IssueMessages(
        store,
        lambda name: instance.mail_settings(name, lists[name].title if name in lists else name),
        secret=instance.signing_secrets()[0], base_url=settings.web.base_url,
        unsubscribe_address=settings.mail.unsubscribe_address, dkim=instance.dkim_signer())


class Sender:
    """This process's sending. One sweep runs at a time: a sweep asked for while one runs
    makes the running one go round once more instead. One rate limit per relay, shared by
    every sweep. After the relay was unreachable, sweeps wait before trying it again
    (doubling from ``deliver_seconds / 2`` up to :data:`MAX_BACKOFF`)."""

    def __init__(self, instance: Instance, store: Store, *, owner: str,
                 clock: Callable[[], datetime]) -> None:
        settings = instance.settings
        delivery = settings.delivery
        self.instance = instance
        self.store = store
        self.owner = owner
        self.clock = clock
        self.options = SendOptions(
            sender=settings.mail.from_address, connections=delivery.connections,
            rate=delivery.rate, lease=delivery.lease, bounce_threshold=delivery.bounce_threshold,
            breaker_failures=delivery.breaker_failures,
            policy=RetryPolicy(max_attempts=delivery.max_attempts,
                               base=timedelta(seconds=delivery.retry_base_seconds),
                               cap=timedelta(seconds=delivery.retry_cap_seconds)))
        self.files = instance.file_transport() if delivery.transport == "file" else None
        self.smtp = instance.smtp_options()
        self.limiter = RateLimiter(delivery.rate)
        self.first_backoff = max(1.0, settings.schedule.deliver_seconds / 2)
        self.backoff = 0.0
        self.resume_at: datetime | None = None
        self._running = False
        self._again = False

    @property
    def relay(self) -> str:
        if self.files is not None:
            return str(self.files.folder)
        return f"{self.smtp.host}:{self.smtp.port}"

    async def sweep(self, stop: asyncio.Event) -> DeliveryRun | None:
        """Send what is due; None when this call joined a running sweep or waits out a
        backoff."""
        if self._running:
            self._again = True
            return None
        if self.resume_at is not None and self.clock() < self.resume_at:
            log.debug("relay %s: waiting until %s", self.relay, self.resume_at.isoformat())
            return None
        self._running = True
        total = DeliveryRun()
        try:
            while True:
                self._again = False
                run = await send_outbox(
                    self.store, messages_for(self.instance, self.store),
                    None if self.files is not None else self.smtp, self.options,
                    owner=self.owner, clock=self.clock, stop=stop, files=self.files,
                    limiter=self.limiter)
                total.add(run)
                if run.unreachable or stop.is_set() or not self._again:
                    break
        finally:
            self._running = False
        self._after(total)
        return total

    def _after(self, run: DeliveryRun) -> None:
        if run.unreachable is None:
            self.backoff, self.resume_at = 0.0, None
            if any(run.figures().values()):
                log.info("outbox swept: %s", _figures_text(run),
                         extra={"event": "deliver", **run.figures()})
            return
        self.backoff = min(MAX_BACKOFF, max(self.first_backoff, self.backoff * 2))
        self.resume_at = self.clock() + timedelta(seconds=self.backoff)
        log.error("the relay %s is unreachable (%s); trying again in %.0f s", self.relay,
                  run.unreachable, self.backoff,
                  extra={"event": "relay_unreachable", "relay": self.relay,
                         "retry_in": self.backoff, **run.figures()})


MAX_BACKOFF = 900.0  # seconds: a relay that is down is tried again at least every 15 minutes


def _figures_text(run: DeliveryRun) -> str:
    return ", ".join(f"{n} {name}" for name, n in run.figures().items() if n)


async def wait_for_lease(store: Store, instance: Instance, owner: str, *, standby: bool,
                         clock: Callable[[], datetime], stop: asyncio.Event) -> bool:
    """Take the sending lease, waiting as a standby while another run holds it. False if a
    stop was asked for while waiting."""
    seconds = instance.settings.schedule.lease_seconds
    announced = False
    while not stop.is_set():
        holder = store.take_lease(LEASE, owner, clock(), seconds)
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


async def run_once(instance: Instance, store: Store, *, clock: Callable[[], datetime],
                   stop: asyncio.Event) -> RunSummary:
    """The whole pipeline once: prepare reports, alerts, every list's digest, delivery."""
    owner = owner_name()
    summary = RunSummary()
    if not await wait_for_lease(store, instance, owner, standby=False, clock=clock, stop=stop):
        return summary
    try:
        service = Service(instance, store, clock=clock)
        summary.reports = service.prepare()
        alerts = service.alerts()
        summary.notes += alerts.notes
        summary.issues += len(alerts.issues)
        for spec in service.lists().values():
            if service.digest(spec) is not None:
                summary.issues += 1
        sender = Sender(instance, store, owner=owner, clock=clock)
        summary.delivered = await sender.sweep(stop) or DeliveryRun()
    finally:
        store.drop_lease(LEASE, owner)
    return summary


async def run_forever(instance: Instance, store: Store, *, standby: bool,
                      clock: Callable[[], datetime], stop: asyncio.Event) -> None:
    """The service: jobs on their schedules until ``stop`` is set."""
    owner = owner_name()
    if not await wait_for_lease(store, instance, owner, standby=standby, clock=clock, stop=stop):
        return
    settings = instance.settings.schedule
    service = Service(instance, store, clock=clock)
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

    sender = Sender(instance, store, owner=owner, clock=clock)

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
        holder = store.take_lease(LEASE, owner, clock(), settings.lease_seconds)
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
        store.drop_lease(LEASE, owner)
        log.info("service stopped", extra={"event": "stopped"})
