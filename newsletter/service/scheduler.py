"""The scheduler: APScheduler 3 wiring, the scheduler lease and a clean stop (I/O).

Only *when* lives here; *what* is :class:`newsletter.service.steps.Service`. APScheduler's
defaults are not used: every job is coalesced, runs one instance at a time, has an explicit
misfire grace, and cron triggers carry each list's own timezone. What was sent is the
outbox's record, never the scheduler's: after downtime, :meth:`Service.catch_up` makes one
digest for a missed run, and every scheduled fire is claimed once in the database.

Exactly one scheduler fires at a time, across machines: it holds the ``scheduler`` lease (a
row with an epoch), renews it every third of its length, and every issue it makes is fenced
on (owner, epoch) in the issue's own transaction. A scheduler that froze past its lease and
came back finds the lease taken: its writes are refused (:class:`LeaseLost`, naming the new
holder) and it stops; one whose lease ran out while no one took it renews it and goes on. A
second scheduler on the same database says who holds the lease and waits as a standby (or
exits). SIGTERM and SIGINT stop new work, let the messages in flight finish, and exit 0.

Two roles run the jobs: ``newsletter run`` (the scheduler, this process's own sending, and
translation in a thread) and ``newsletter scheduler`` (the jobs only; delivery and
translation workers do the rest, :mod:`newsletter.service.workers`). Both read returned mail
(``[bounces] source``) every ``[bounces] poll_seconds``, in a thread.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from newsletter.delivery.sender import DeliveryRun, Sender
from newsletter.errors import (
    AlreadyRunning,
    BounceSourceError,
    ConfigError,
    DatabaseFault,
    LeaseLost,
)
from newsletter.lists.schedule import cron_trigger, previous_fire
from newsletter.service.outage import Outage
from newsletter.service.steps import Service
from newsletter.service.workers import HEARTBEAT_SECONDS, Heartbeat, TranslationThread
from newsletter.store import Store

log = logging.getLogger(__name__)
LEASE = "scheduler"
MISFIRE_GRACE = 300  # seconds: a fire missed by less than this still runs
# Reads the office's source of returned mail once, with a store of its own (it runs in a
# thread), until the callable it is given says stop.
ReadBounces = Callable[[Callable[[], bool]], object]


@dataclass
class RunSummary:
    """What a run did, for the command line."""

    reports: int = 0
    issues: int = 0
    delivered: DeliveryRun = field(default_factory=DeliveryRun)
    notes: list[str] = field(default_factory=list)


class SchedulerLease:
    """The scheduler lease as this process holds it: its epoch, renewal and the fence every
    issue-making transaction runs first."""

    def __init__(self, store: Store, owner: str, seconds: float,
                 clock: Callable[[], datetime]) -> None:
        self.store = store
        self.owner = owner
        self.seconds = seconds
        self.clock = clock
        self.epoch: int | None = None

    def take(self) -> str | None:
        """Take (or renew) the lease; None if this process holds it now, else the holder. A
        holder whose epoch moved on lost the lease in between: :class:`LeaseLost`."""
        held = self.store.leases.take(LEASE, self.owner, self.clock(), self.seconds)
        if held.owner != self.owner:
            return held.owner
        if self.epoch is not None and held.epoch != self.epoch:
            raise LeaseLost(LEASE, self.owner, "another scheduler, since gone,")
        self.epoch = held.epoch
        return None

    def fence(self) -> None:
        """Inside an issue's transaction: go on only while this process holds the lease. A
        lease that ran out while this process was busy (a long digest, a slow database) and
        that no one took meanwhile is renewed, and the work goes on; :class:`LeaseLost`
        (naming the new holder) only when another scheduler took it."""
        if self.epoch is None:
            raise LeaseLost(LEASE, self.owner)
        try:
            self.store.leases.fence(LEASE, self.owner, self.epoch, self.clock())
        except LeaseLost:
            held = self.store.leases.holder(LEASE)
            if held is None or held.owner != self.owner or held.epoch != self.epoch:
                raise LeaseLost(LEASE, self.owner, held.owner if held else None) from None
            log.warning("the scheduler lease ran out while this process was busy and no one "
                        "took it: renewed", extra={"event": "lease_renewed_late"})
            holder = self.take()
            if holder is not None:
                raise LeaseLost(LEASE, self.owner, holder) from None
            self.store.leases.fence(LEASE, self.owner, self.epoch, self.clock())

    def drop(self) -> None:
        self.store.leases.drop(LEASE, self.owner, self.clock())


async def wait_for_lease(lease: SchedulerLease, *, standby: bool,
                         stop: asyncio.Event) -> bool:
    """Take the scheduler lease, waiting as a standby while another scheduler holds it.
    False if a stop was asked for while waiting."""
    announced = False
    while not stop.is_set():
        holder = lease.take()
        if holder is None:
            return True
        if not standby:
            raise AlreadyRunning(
                f"another scheduler ({holder}) holds this database's scheduler lease",
                hint="stop it first, or start this one without --exit-if-running to wait as "
                     "a standby")
        if not announced:
            log.warning("standby: %s holds the scheduler lease; waiting", holder,
                        extra={"event": "standby", "holder": holder})
            announced = True
        try:
            await asyncio.wait_for(stop.wait(), timeout=max(0.2, lease.seconds / 3))
        except TimeoutError:
            pass
    return False


async def run_once(service: Service, sender: Sender, lease: SchedulerLease, *,
                   stop: asyncio.Event, digests: Sequence[str] = (),
                   bounces: ReadBounces | None = None) -> RunSummary:
    """The whole pipeline once: returned mail read (with ``bounces``), prepare reports,
    translate their titles and summaries, alerts, the digests whose scheduled time has come
    since each list's last one, delivery, and last the bodies for the web archive.
    ``digests`` names lists whose digest is made now whatever their schedule."""
    summary = RunSummary()
    if not await wait_for_lease(lease, standby=False, stop=stop):
        return summary
    service.fence = lease.fence
    try:
        if bounces is not None:
            await _read_bounces(bounces, stop)
        summary.reports = service.prepare()
        service.translate(lease.owner, stop=stop.is_set, bodies=False)
        summary.notes += sorted(service.missing_models)
        alerts = service.alerts()
        summary.notes += alerts.notes
        summary.issues += len(alerts.issues) + len(service.releases().issues)
        summary.issues += len(service.due_digests())
        lists = service.lists()
        for name in digests:
            if service.digest(lists[name]) is not None:
                summary.issues += 1
        summary.delivered = await sender.sweep(stop) or DeliveryRun()
        service.translate(lease.owner, stop=stop.is_set)
    finally:
        lease.drop()
    return summary


async def _read_bounces(bounces: ReadBounces, stop: asyncio.Event) -> object:
    """Read returned mail in a thread (a mail server's answers must not hold up the loop); a
    source that cannot be read is logged with its hint, and tried again at the next poll."""
    try:
        return await asyncio.to_thread(bounces, stop.is_set)
    except (BounceSourceError, ConfigError) as exc:
        log.error("returned mail not read: %s; %s", exc.message, exc.hint or "",
                  extra={"event": "bounces_failed"})
        return None


async def run_forever(service: Service, lease: SchedulerLease, *, sender: Sender | None,
                      translator: TranslationThread | None, heartbeat: Heartbeat,
                      standby: bool, stop: asyncio.Event,
                      bounces: ReadBounces | None = None) -> None:
    """The scheduler's jobs on their schedules until ``stop`` is set; with ``sender``, this
    process sends too, and with ``translator`` it translates in that thread; with
    ``bounces``, it reads returned mail every ``[bounces] poll_seconds``. A lost lease stops
    it with :class:`LeaseLost`."""
    settings = service.settings.schedule
    store = service.store
    if not await wait_for_lease(lease, standby=standby, stop=stop):
        return
    service.fence = lease.fence
    running: set[asyncio.Task[object]] = set()
    lost: list[LeaseLost] = []
    outage = Outage(service.settings.database.outage_seconds)
    gone: list[DatabaseFault] = []

    def job(step: Callable[[], Awaitable[object]]) -> Callable[[], Awaitable[None]]:
        """Run ``step`` as a task the stop waits for. It is shielded: APScheduler cancels
        its jobs when it shuts down, and a send must finish, not be cut off mid-message.
        A failure is logged, not fatal; a database outage is logged once and ridden out up
        to [database] outage_seconds; a lost lease stops the service."""
        async def wrapper() -> None:
            if stop.is_set():
                return
            task: asyncio.Task[object] = asyncio.ensure_future(step())
            running.add(task)
            task.add_done_callback(running.discard)
            try:
                await asyncio.shield(task)
                outage.ok()
            except asyncio.CancelledError:
                raise
            except LeaseLost as exc:
                log.error("%s; stopping", exc.message, extra={"event": "lease_lost"})
                lost.append(exc)
                stop.set()
            except DatabaseFault as fault:
                try:
                    outage.failed(fault)  # the next fire of the job is the next try
                except DatabaseFault as final:
                    gone.append(final)
                    stop.set()
            except Exception:  # a job's failure must not stop the service
                log.exception("scheduled job failed", extra={"event": "job_failed"})
        return wrapper

    async def sweep() -> object:
        """Take back the leases of workers that died (a sweep of our own sender takes back
        the outbox's itself), then send if this process sends."""
        jobs = store.jobs.recover(service.clock())
        if jobs:
            log.info("recovered %d translation job(s)", jobs,
                     extra={"event": "recover", "jobs": jobs})
        if sender is None:  # the delivery workers send
            recovered = store.outbox.recover(service.clock())
            if recovered.requeued or recovered.ambiguous:
                log.info("recovered %d message(s), %d of them ambiguous",
                         recovered.requeued + recovered.ambiguous, recovered.ambiguous,
                         extra={"event": "recover", "requeued": recovered.requeued,
                                "ambiguous": recovered.ambiguous})
            return None
        return await sender.sweep(stop)

    scheduled: dict[str, tuple[str, str]] = {}  # list → (schedule, timezone) of its job

    def schedule_digests(*, starting: bool = False) -> None:
        """A digest job for each list as the lists are now (database and newsletter.toml): a
        list added or changed while the service runs is scheduled at the next poll, and one
        removed is no longer."""
        lists = service.lists()
        for name, spec in lists.items():
            wanted = (spec.schedule, spec.timezone)
            if scheduled.get(name) == wanted:
                continue
            service.start_of(name)  # it gets the reports that arrive from now on
            if name in scheduled:
                scheduler.reschedule_job(f"digest:{name}", trigger=cron_trigger(spec))
            else:
                scheduler.add_job(job(digest_of(name)), cron_trigger(spec),
                                  id=f"digest:{name}")
            if not starting:  # a change while running: say so
                log.info("digest of %s scheduled: %s %s", name, *wanted,
                         extra={"event": "list_scheduled", "list": name})
            scheduled[name] = wanted
        for name in set(scheduled) - set(lists):
            scheduler.remove_job(f"digest:{name}")
            del scheduled[name]
            log.info("digest of %s unscheduled: the list is gone", name,
                     extra={"event": "list_unscheduled", "list": name})

    async def prepare_and_alert() -> object:
        schedule_digests()
        service.prepare()
        if translator is not None:
            translator.wake()
        service.alerts()
        service.releases()
        return await sweep()

    def digest_of(name: str) -> Callable[[], Awaitable[object]]:
        async def step() -> object:
            spec = service.lists().get(name)
            if spec is not None:
                now = service.clock()
                fire = previous_fire(spec, now, now - timedelta(seconds=MISFIRE_GRACE))
                service.digest(spec, fire=fire or now.replace(microsecond=0))
            return await sweep()
        return step

    async def renew() -> object:
        holder = lease.take()
        if holder is not None:
            raise LeaseLost(LEASE, lease.owner, holder)
        return None

    async def beat() -> object:
        heartbeat.beat()
        return None

    scheduler = AsyncIOScheduler(timezone=UTC, job_defaults={
        "coalesce": True, "max_instances": 1, "misfire_grace_time": MISFIRE_GRACE})
    scheduler.add_job(job(prepare_and_alert), IntervalTrigger(seconds=settings.poll_seconds),
                      id="prepare", next_run_time=datetime.now(UTC))
    scheduler.add_job(job(sweep), IntervalTrigger(seconds=settings.deliver_seconds),
                      id="deliver")
    scheduler.add_job(job(renew), IntervalTrigger(seconds=max(1.0, lease.seconds / 3)),
                      id="lease")
    scheduler.add_job(job(beat), IntervalTrigger(seconds=HEARTBEAT_SECONDS), id="heartbeat",
                      next_run_time=datetime.now(UTC))
    if bounces is not None:
        reading = bounces

        async def read_bounces() -> object:
            return await _read_bounces(reading, stop)

        scheduler.add_job(job(read_bounces),
                          IntervalTrigger(seconds=service.settings.bounces.poll_seconds),
                          id="bounces", next_run_time=datetime.now(UTC))
    schedule_digests(starting=True)
    loop = asyncio.get_running_loop()

    def translated() -> None:  # from the translation thread: alerts may go now
        loop.call_soon_threadsafe(lambda: scheduler.modify_job("prepare",
                                                               next_run_time=datetime.now(UTC)))

    try:
        # Reports that arrived while the service was down are read, summarised and (when
        # this process translates) their titles and summaries translated before a missed
        # digest is caught up, so the catch-up carries them in every language; the bodies
        # follow in the translation thread.
        service.prepare()
        if translator is not None:
            service.translate(f"{lease.owner}/start", stop=stop.is_set, bodies=False)
            translator.start(on_done=translated)
        service.catch_up()
        scheduler.start()
        log.info("service started", extra={"event": "started", "owner": lease.owner})
        await stop.wait()
    finally:
        if scheduler.running:
            scheduler.pause()  # no new work
        if running:
            await asyncio.gather(*running, return_exceptions=True)  # in-flight sends finish
        if scheduler.running:
            scheduler.shutdown(wait=False)
        if translator is not None:
            await asyncio.to_thread(translator.stop)
        try:
            if not lost:
                lease.drop()
            heartbeat.stopped()
        except DatabaseFault:
            pass  # the lease runs out by itself; the heartbeat goes stale
    if gone:
        raise gone[0]
    if lost:
        raise lost[0]
    log.info("service stopped", extra={"event": "stopped"})
