"""Sending the outbox: a sweep through a pool of SMTP connections (or into a file transport),
recording each outcome before the next message, under fenced leases (I/O).

The rules (what an outcome means, when to retry) are :mod:`newsletter.delivery.rules`; the SMTP
conversation is :mod:`newsletter.delivery.smtp`; :class:`Sender` is one process's sending.
"""

from __future__ import annotations

import asyncio
import logging
import random
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

import aiosmtplib

from newsletter.delivery import smtp as smtp_link
from newsletter.delivery.files import FileTransport
from newsletter.delivery.rules import (
    Attempt,
    OutboxRow,
    RetryPolicy,
    State,
    Verdict,
    classify,
    is_bounce,
)
from newsletter.delivery.smtp import SmtpOptions
from newsletter.errors import DeliveryError
from newsletter.store import Store

log = logging.getLogger(__name__)


@dataclass
class DeliveryRun:
    """What one sweep of the outbox did."""

    sent: int = 0
    retried: int = 0  # temporary failures, to be tried again later
    failed: int = 0
    bounced: int = 0
    ambiguous: int = 0  # the outcome is unknown: a duplicate is possible, and recorded
    skipped: int = 0  # the address left the list (or was suppressed) after queueing
    deferred: int = 0  # could not connect: tried again later, no attempt counted
    lost: int = 0  # the lease ran out and recovery took the message over: not sent here
    requeued: int = 0  # taken over from a sender whose lease ran out
    released: int = 0  # claimed but not started when the sweep stopped
    sent_by_issue: dict[int, int] = field(default_factory=dict)
    unreachable: str | None = None  # why the relay was given up on, if it was

    def figures(self) -> dict[str, int]:
        """The counts, for the command line and the logs."""
        return {name: value for name, value in vars(self).items() if isinstance(value, int)}

    def add(self, other: DeliveryRun) -> None:
        """Count ``other`` (a later sweep) in too."""
        for name, value in other.figures().items():
            setattr(self, name, getattr(self, name) + value)
        for issue_id, sent in other.sent_by_issue.items():
            self.sent_by_issue[issue_id] = self.sent_by_issue.get(issue_id, 0) + sent
        self.unreachable = other.unreachable


class MessageSource(Protocol):
    """Builds the bytes of one outbox row (the issue's template, filled in)."""

    def message(self, row: OutboxRow) -> bytes: ...


@dataclass(frozen=True)
class SendOptions:
    sender: str  # envelope sender (MAIL FROM)
    connections: int = 4  # SMTP connections used at once
    rate: float = 0.0  # messages per second over all connections; 0 for no limit
    lease: float = 120.0  # seconds a claim lasts unless renewed
    claim_batch: int = 20  # messages a connection claims at a time: only what it sends next
    bounce_threshold: int = 3
    breaker_failures: int = 5  # consecutive connection failures that stop a sweep
    policy: RetryPolicy = field(default_factory=RetryPolicy)


class RateLimiter:
    """At most ``rate`` starts per second, spread evenly; one per relay and process, shared
    by every sweep of the process."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self.next_start = 0.0

    async def wait(self) -> None:
        if not self.interval:
            return
        loop = asyncio.get_running_loop()
        now = loop.time()
        start = max(now, self.next_start)
        self.next_start = start + self.interval
        if start > now:
            await asyncio.sleep(start - now)


class _Breaker:
    """Counts consecutive connection failures of one sweep; trips at ``limit``."""

    def __init__(self, limit: int) -> None:
        self.limit = max(1, limit)
        self.failures = 0
        self.connected = False
        self.last_error = ""

    def failure(self, error: str) -> None:
        self.failures += 1
        self.last_error = error

    def success(self) -> None:
        self.failures = 0
        self.connected = True

    @property
    def tripped(self) -> bool:
        return self.failures >= self.limit


async def send_outbox(
    store: Store, source: MessageSource, smtp: SmtpOptions | None, options: SendOptions, *,
    owner: str, clock: Callable[[], datetime], stop: asyncio.Event | None = None,
    files: FileTransport | None = None, rng: random.Random | None = None,
    limiter: RateLimiter | None = None,
    on_message: Callable[[DeliveryRun], None] | None = None,
) -> DeliveryRun:
    """Send every due message of the outbox through a pool of SMTP connections (or into
    ``files``), recording each outcome before the next; stop cleanly when ``stop`` is set.

    The sweep claims under its own owner id (``owner`` plus a random part, so two sweeps
    never share one), each connection only the few messages it sends next, and renews the
    leases it holds while it works. Every change of a row is fenced on that owner: a row
    whose lease was lost is not sent. After ``breaker_failures`` consecutive failures to
    connect, or when no connection could be made at all, the sweep stops, leaves the rest
    queued, and says why in :attr:`DeliveryRun.unreachable`. ``on_message`` is told the
    figures so far after each message (a progress bar); each batch also goes to the log.
    """
    stop = stop or asyncio.Event()
    rng = rng or random.Random()
    limiter = limiter or RateLimiter(options.rate)
    claimant = f"{owner}/{secrets.token_hex(6)}"
    run = DeliveryRun()
    recovered = store.outbox.recover(clock())
    run.requeued, run.ambiguous = recovered.requeued, recovered.ambiguous
    breaker = _Breaker(options.breaker_failures)
    done = asyncio.Event()

    async def renewer() -> None:
        every = max(0.05, options.lease / 3)
        while not done.is_set():
            try:
                await asyncio.wait_for(done.wait(), timeout=every)
            except TimeoutError:
                store.outbox.renew(claimant, clock(), options.lease)

    async def worker() -> None:
        connection: aiosmtplib.SMTP | None = None
        try:
            while not (stop.is_set() or breaker.tripped):
                claimed = store.outbox.claim(claimant, options.claim_batch, clock(), options.lease)
                run.skipped += claimed.skipped
                if not claimed.rows and not claimed.skipped:
                    break
                for row in claimed.rows:
                    if stop.is_set() or breaker.tripped:
                        break  # claimed but not started: released below
                    await limiter.wait()
                    connection = await _one(connection, row)
                    if on_message is not None:
                        on_message(run)
                log.info("outbox batch of %d done: %d sent so far", len(claimed.rows), run.sent,
                         extra={"event": "deliver_batch", "batch": len(claimed.rows),
                                **run.figures()})
        finally:
            await smtp_link.close(connection)

    async def _one(connection: aiosmtplib.SMTP | None,
                   row: OutboxRow) -> aiosmtplib.SMTP | None:
        message = source.message(row)
        if files is not None:
            if not store.outbox.mark(row.id, claimant, State.SENDING, State.TRANSMITTING):
                run.lost += 1
                return None
            try:
                files.deliver(options.sender, row.address, message, row.message_id)
            except DeliveryError:  # nothing was written (files appear whole or not at all)
                store.outbox.mark(row.id, claimant, State.TRANSMITTING, State.PENDING)
                raise
            _record(store, claimant, row, Attempt(250, "written to the file outbox"), options,
                    clock(), rng, run)
            return None
        assert smtp is not None
        if connection is None or not connection.is_connected:
            try:
                connection = await smtp_link.connect(smtp)
            except (TimeoutError, aiosmtplib.SMTPException, OSError) as exc:
                error = f"{type(exc).__name__}: {exc}"
                breaker.failure(error)
                _defer(store, claimant, row, error, options, clock(), run)
                return None
            breaker.success()
        # From the data on, a lost reply means "unknown"; and only the lease holder may go on.
        connection, attempt = await smtp_link.transmit(
            connection, options.sender, row.address, message,
            before_data=lambda: store.outbox.mark(row.id, claimant, State.SENDING,
                                                  State.TRANSMITTING))
        if attempt is None:
            run.lost += 1
        else:
            _record(store, claimant, row, attempt, options, clock(), rng, run)
        return connection

    workers = 1 if files is not None else max(1, options.connections)
    renewing = asyncio.ensure_future(renewer())
    try:
        await asyncio.gather(*(worker() for _ in range(workers)))
    finally:
        done.set()
        await renewing
        run.released = store.outbox.release(claimant)
    if smtp is not None and files is None and (
            breaker.tripped or (breaker.failures and not breaker.connected)):
        run.unreachable = (f"{breaker.failures} connection attempt(s) to {smtp.relay} failed "
                           f"in a row; the last: {breaker.last_error}")
    return run


def _defer(store: Store, owner: str, row: OutboxRow, error: str, options: SendOptions,
           now: datetime, run: DeliveryRun) -> None:
    """No connection could be made: the message is not at fault, so no attempt is counted;
    it waits one retry delay and is tried again."""
    store.outbox.mark(row.id, owner, State.SENDING, State.RETRY, text=error,
               next_attempt_at=now + options.policy.base)
    run.deferred += 1


def _record(store: Store, owner: str, row: OutboxRow, attempt: Attempt, options: SendOptions,
            now: datetime, rng: random.Random, run: DeliveryRun) -> None:
    """Record the outcome of an attempt made on a transmitting row."""
    verdict = classify(attempt)
    if verdict is Verdict.SENT:
        if store.outbox.mark(row.id, owner, State.TRANSMITTING, State.SENT, code=attempt.code,
                      text=attempt.text, now=now, attempted=True):
            run.sent += 1
            run.sent_by_issue[row.issue_id] = run.sent_by_issue.get(row.issue_id, 0) + 1
        else:
            run.lost += 1  # recovery marked it ambiguous: it may be sent again, as recorded
        return
    if attempt.during_data:
        run.ambiguous += 1
    when = options.policy.next_attempt(row.attempts + 1, now, rng)
    state = State.RETRY if verdict is Verdict.RETRY and when is not None else State.FAILED
    text = attempt.text or state.value
    # A refusal before the data leaves the row in ``sending``; one after it in
    # ``transmitting``: whichever it is in now, only its owner may move it.
    marked = any(store.outbox.mark(row.id, owner, before, state, code=attempt.code, text=text,
                            next_attempt_at=when if state is State.RETRY else None,
                            attempted=True, ambiguous=attempt.during_data)
                 for before in (State.TRANSMITTING, State.SENDING))
    if not marked:
        run.lost += 1
        return
    if state is State.RETRY:
        run.retried += 1
        return
    run.failed += 1
    if is_bounce(attempt) and store.subscribers.record_bounce(
            row.subscriber_id, options.bounce_threshold, now):
        run.bounced += 1


class Sender:
    """This process's sending. One sweep runs at a time: a sweep asked for while one runs
    makes the running one go round once more instead. One rate limit per relay, shared by
    every sweep. After the relay was unreachable, sweeps wait before trying it again
    (doubling from ``first_backoff`` up to :data:`MAX_BACKOFF`). It sends through ``smtp``
    or into ``files``: exactly one of them is given."""

    def __init__(self, store: Store, source: MessageSource, options: SendOptions, *,
                 smtp: SmtpOptions | None, files: FileTransport | None, owner: str,
                 clock: Callable[[], datetime], first_backoff: float) -> None:
        self.store = store
        self.source = source
        self.options = options
        self.smtp = smtp
        self.files = files
        self.owner = owner
        self.clock = clock
        self.limiter = RateLimiter(options.rate)
        self.first_backoff = max(1.0, first_backoff)
        self.backoff = 0.0
        self.resume_at: datetime | None = None
        self.on_message: Callable[[DeliveryRun], None] | None = None  # progress, per message
        self._running = False
        self._again = False

    @property
    def relay(self) -> str:
        if self.files is not None:
            return str(self.files.folder)
        assert self.smtp is not None  # one of the two: the relay, or the file transport
        return self.smtp.relay

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
                    self.store, self.source, self.smtp, self.options,
                    owner=self.owner, clock=self.clock, stop=stop, files=self.files,
                    limiter=self.limiter, on_message=self.on_message)
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
