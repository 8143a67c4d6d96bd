"""Sending the outbox: a :class:`Sweep` through a relay's sessions (SMTP connections, or the
file transport), recording each outcome before the next message, under fenced leases (I/O).

The rules (what an outcome means, when to retry) are :mod:`newsletter.delivery.rules`; the way
out is :mod:`newsletter.delivery.session`; :class:`Sender` is one process's sending, and
:mod:`newsletter.delivery.processes` runs several at once.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import random
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from newsletter.bounces.rules import BounceRules, Kind, Outcome, status_in
from newsletter.bounces.verp import ReturnPath
from newsletter.delivery.rules import (
    Attempt,
    Change,
    OutboxRow,
    RetryPolicy,
    State,
    Verdict,
    classify,
    is_bounce,
)
from newsletter.delivery.session import Relay, Session, Unreachable
from newsletter.errors import ComposeError, DeliveryError
from newsletter.mail.content import Content
from newsletter.store import Store
from newsletter.store.bounces import Entry

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
    """Builds the message of one outbox row (the issue's template, filled in), in the parts
    the template laid out: an SMTP session writes them as they are."""

    def content(self, row: OutboxRow) -> Content: ...


@dataclass(frozen=True)
class SendOptions:
    sender: str  # envelope sender (MAIL FROM)
    connections: int = 4  # SMTP connections used at once
    rate: float = 0.0  # messages per second over all connections; 0 for no limit
    lease: float = 120.0  # seconds a claim lasts unless renewed
    claim_batch: int = 20  # messages a connection claims at a time: only what it sends next
    bounces: BounceRules = field(default_factory=BounceRules)  # what a refusal does to a reader
    return_path: ReturnPath | None = None  # each message's own envelope sender (VERP)
    breaker_failures: int = 5  # consecutive connection failures that stop a sweep
    policy: RetryPolicy = field(default_factory=RetryPolicy)


class RateLimiter:
    """At most ``rate`` starts per second, spread evenly; one per relay and process, shared
    by every sweep of the process."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self.next_start = 0.0

    def delay(self) -> float:
        """Seconds the next :meth:`wait` would take, if called now."""
        if not self.interval:
            return 0.0
        return max(0.0, self.next_start - asyncio.get_running_loop().time())

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


# The fence covers what a connection is expected to send in this many seconds: a group of
# rows goes to ``transmitting`` in one transaction, with the outcomes of the group before.
FENCE_SECONDS = 0.1


class _Pace:
    """How many messages a connection sends in :data:`FENCE_SECONDS`, from a moving average
    of its time per message (rate limit waits included). It starts at one, so a slow or
    rate-limited relay gets one fence per message, as it would without batching."""

    def __init__(self) -> None:
        self.per_message = FENCE_SECONDS

    def record(self, seconds: float) -> None:
        self.per_message += (seconds - self.per_message) / 8

    def group(self, limit: int) -> int:
        return max(1, min(limit, int(FENCE_SECONDS / max(self.per_message, 1e-6))))


class _Book:
    """A connection's writes to the outbox, kept until the next group is fenced and then made
    in the same transaction (:meth:`Outbox.write <newsletter.store.outbox.Outbox.write>`).

    Every outcome is written before the rows after its group are fenced, and a row's fence is
    durable before its data goes, so a crash between the two leaves at most the rows of one
    group in ``transmitting``: recovery retries them and marks them ambiguous, and a message
    sent again is never an unrecorded duplicate."""

    def __init__(self, store: Store, owner: str, options: SendOptions,
                 clock: Callable[[], datetime], rng: random.Random, run: DeliveryRun) -> None:
        self.store = store
        self.owner = owner
        self.options = options
        self.clock = clock
        self.rng = rng
        self.run = run
        self.pending: list[tuple[OutboxRow, Change, Attempt | None]] = []
        self.transmitting: set[int] = set()  # rows this connection fenced and not yet done

    def fence(self, rows: list[OutboxRow]) -> list[OutboxRow]:
        """Write what is pending and move ``rows`` to ``transmitting``, together; returns the
        rows that may be sent (the others' lease was lost: counted, never sent)."""
        fresh = [row.id for row in rows if row.id not in self.transmitting]
        skipped = 0
        with self.store.transaction():
            self.flush()
            if fresh:  # a reader who left since the claim is skipped, not sent
                skipped = self.store.outbox.skip_departed(fresh, self.owner)
            fenced = self.store.outbox.fence(fresh, self.owner) if fresh else set()
        self.run.skipped += skipped
        self.run.lost += len(fresh) - len(fenced) - skipped
        self.transmitting |= fenced
        return [row for row in rows if row.id in self.transmitting]

    def outcome(self, row: OutboxRow, attempt: Attempt) -> None:
        """What the relay said of a fenced row (written with the next fence)."""
        verdict = classify(attempt)
        if verdict is Verdict.SENT:
            change = Change(row.id, State.TRANSMITTING, State.SENT, attempt.code, attempt.text,
                            attempted=True)
        else:
            if attempt.during_data:
                self.run.ambiguous += 1
            when = self.options.policy.next_attempt(row.attempts + 1, self.clock(), self.rng)
            state = State.RETRY if verdict is Verdict.RETRY and when is not None else State.FAILED
            change = Change(row.id, State.TRANSMITTING, state, attempt.code,
                            attempt.text or state.value,
                            next_attempt_at=when if state is State.RETRY else None,
                            attempted=True, ambiguous=attempt.during_data)
        self._keep(row, change, attempt)

    def defer(self, row: OutboxRow, error: str) -> None:
        """No connection could be made: the message is not at fault, so no attempt is
        counted; it waits one retry delay."""
        before = State.TRANSMITTING if row.id in self.transmitting else State.SENDING
        self._keep(row, Change(row.id, before, State.RETRY, text=error,
                               next_attempt_at=self.clock() + self.options.policy.base), None)
        self.run.deferred += 1

    def impossible(self, row: OutboxRow, reason: str) -> None:
        """A fenced row whose message cannot be built (an address or name no message can
        carry): failed for good, with the reason, without an attempt."""
        self._keep(row, Change(row.id, State.TRANSMITTING, State.FAILED,
                               text=f"not sent: {reason}"), Attempt(None, reason))

    def unstarted(self, rows: list[OutboxRow]) -> None:
        """Fenced rows whose data never went (the sweep stops): back to ``sending``, for
        :meth:`Outbox.release` or the next group. Rows with an outcome are left alone."""
        for row in rows:
            if row.id in self.transmitting:
                self._keep(row, Change(row.id, State.TRANSMITTING, State.SENDING), None)

    def flush(self) -> None:
        """Write the outcomes kept so far (in one transaction)."""
        pending, self.pending = self.pending, []
        if not pending:
            return
        now = self.clock()
        made = self.store.outbox.write([change for _, change, _ in pending], self.owner, now)
        for (row, change, attempt), ok in zip(pending, made, strict=True):
            self._count(row, change, attempt, ok, now)

    def _keep(self, row: OutboxRow, change: Change, attempt: Attempt | None) -> None:
        self.transmitting.discard(row.id)
        self.pending.append((row, change, attempt))

    def _count(self, row: OutboxRow, change: Change, attempt: Attempt | None, ok: bool,
               now: datetime) -> None:
        run = self.run
        if attempt is None:  # deferred, or given back: no outcome to count
            return
        if not ok:
            run.lost += 1  # recovery took the row over (it was marked ambiguous there)
        elif change.state is State.SENT:
            run.sent += 1
            run.sent_by_issue[row.issue_id] = run.sent_by_issue.get(row.issue_id, 0) + 1
        elif change.state is State.RETRY:
            run.retried += 1
        else:
            run.failed += 1
            if is_bounce(attempt) and self._refused(row, attempt, now):
                run.bounced += 1

    def _refused(self, row: OutboxRow, attempt: Attempt, now: datetime) -> bool:
        """A permanent refusal, through the rules of what comes back; True when it stopped
        the reader."""
        text = attempt.text or ""
        outcome = self.store.bounces.record(Entry(
            f"smtp:{row.id}", "smtp", Kind.PERMANENT, row.address,
            status_in(text) or f"{attempt.code}", text, "refused while sending",
            outbox_id=row.id), self.options.bounces, now)
        return outcome in (Outcome.DISABLED, Outcome.SUPPRESSED)


class Sweep:
    """One sweep of the outbox: every due message, through ``relay``'s sessions, each
    outcome recorded before the rows after it are fenced; it stops cleanly when ``stop`` is
    set (procrastinate's ``Worker`` is the model: what were closures sharing state are
    methods of one object).

    The sweep claims under its own owner id (``owner`` plus a random part, so two sweeps
    never share one), each session only the few messages it sends next, and renews the
    leases it holds while it works. Every change of a row is fenced on that owner: a row
    whose lease was lost is not sent. Writes are batched (:class:`_Book`): a group of rows,
    as many as the session sends in :data:`FENCE_SECONDS`, is fenced in one transaction
    together with the outcomes of the group before. After ``breaker_failures`` consecutive
    failures to open a session, or when none could be opened at all, the sweep stops,
    leaves the rest queued, and says why in :attr:`DeliveryRun.unreachable`. ``on_message``
    is told the figures so far after each message (a progress bar); each batch also goes to
    the log.
    """

    def __init__(self, store: Store, source: MessageSource, relay: Relay,
                 options: SendOptions, *, owner: str, clock: Callable[[], datetime],
                 stop: asyncio.Event | None = None, rng: random.Random | None = None,
                 limiter: RateLimiter | None = None,
                 on_message: Callable[[DeliveryRun], None] | None = None) -> None:
        self.store = store
        self.source = source
        self.relay = relay
        self.options = options
        self.clock = clock
        self.stop = stop or asyncio.Event()
        self.rng = rng or random.Random()
        self.limiter = limiter or RateLimiter(options.rate)
        self.on_message = on_message
        self.claimant = f"{owner}/{secrets.token_hex(6)}"
        self.run = DeliveryRun()
        self.breaker = _Breaker(options.breaker_failures)
        self.done = asyncio.Event()
        self.lease_ends = 0.0  # the lease as this process sees it (loop time)

    async def __call__(self) -> DeliveryRun:
        """Sweep: send what is due, and say what became of it."""
        loop = asyncio.get_running_loop()
        recovered = self.store.outbox.recover(self.clock())
        self.run.requeued, self.run.ambiguous = recovered.requeued, recovered.ambiguous
        # Every row this sweep holds was claimed or last renewed at least this late: a sweep
        # that froze past it sends nothing more.
        self.lease_ends = loop.time() + self.options.lease
        renewing = asyncio.ensure_future(self._renew())
        try:
            await asyncio.gather(*(self._connection() for _ in range(self.relay.connections)))
        finally:
            self.done.set()
            await renewing
            self.run.released = self.store.outbox.release(self.claimant)
        breaker = self.breaker
        if breaker.tripped or (breaker.failures and not breaker.connected):
            self.run.unreachable = (f"{breaker.failures} connection attempt(s) to "
                                    f"{self.relay.name} failed in a row; the last: "
                                    f"{breaker.last_error}")
        return self.run

    async def _renew(self) -> None:
        loop = asyncio.get_running_loop()
        every = max(0.05, self.options.lease / 3)
        while not self.done.is_set():
            try:
                await asyncio.wait_for(self.done.wait(), timeout=every)
            except TimeoutError:
                renewed_at = loop.time()
                self.store.outbox.renew(self.claimant, self.clock(), self.options.lease)
                self.lease_ends = renewed_at + self.options.lease

    def _halted(self) -> bool:
        return (self.stop.is_set() or self.breaker.tripped
                or asyncio.get_running_loop().time() >= self.lease_ends)

    async def _connection(self) -> None:
        """One session's share of the sweep: claim a few, send them, until none is due."""
        session: Session | None = None
        pace = _Pace()
        run, options = self.run, self.options
        try:
            while not self._halted():
                claimed = self.store.outbox.claim(self.claimant, options.claim_batch,
                                                  self.clock(), options.lease)
                run.skipped += claimed.skipped
                if not claimed.rows and not claimed.skipped:
                    break
                book = _Book(self.store, self.claimant, options, self.clock, self.rng, run)
                try:
                    session = await self._send(session, claimed.rows, book, pace)
                finally:
                    book.flush()  # also when a file cannot be written: nothing is lost
                log.info("outbox batch of %d done: %d sent so far", len(claimed.rows),
                         run.sent, extra={"event": "deliver_batch",
                                          "batch": len(claimed.rows), **run.figures()})
        finally:
            if session is not None:
                await session.close()

    async def _slot(self, book: _Book) -> float:
        """Wait for the rate limit, writing the outcomes so far first when it makes us wait:
        a slow or rate-limited sender records each outcome as it comes. Returns when the
        wait began, for the pace. (Without a limit :meth:`_send` does not call it.)"""
        began = asyncio.get_running_loop().time()
        if self.limiter.delay() > 0:
            book.flush()
        await self.limiter.wait()
        return began

    async def _open(self, session: Session | None, book: _Book,
                    queue: collections.deque[OutboxRow]) -> Session | None:
        """An open session: ``session``, or a new one; None (the first row deferred) when
        none can be opened."""
        if session is not None and session.is_open:
            return session
        if session is not None:
            await session.close()
        try:
            opened = await self.relay.open()
        except Unreachable as exc:
            self.breaker.failure(str(exc))
            book.defer(queue.popleft(), self.breaker.last_error)
            return None
        self.breaker.success()
        return opened

    def _envelope(self, row: OutboxRow) -> str:
        """The envelope sender of ``row``'s message: its own return path, when there is one."""
        if self.options.return_path is None:
            return self.options.sender
        return self.options.return_path.address(row.id)

    async def _send(self, session: Session | None, rows: list[OutboxRow], book: _Book,
                    pace: _Pace) -> Session | None:
        """Send ``rows`` in fenced groups; what is left when the sweep stops is given back."""
        loop = asyncio.get_running_loop()
        limited = bool(self.limiter.interval)
        queue = collections.deque(rows)
        try:
            while queue and not self._halted():
                session = await self._open(session, book, queue)
                if session is None:
                    continue
                # Before the fence: no row waits in flight.
                started = await self._slot(book) if limited else loop.time()
                ahead = book.fence([queue.popleft() for _ in range(pace.group(len(queue)))])
                queue.extendleft(reversed(ahead))  # fenced: sent next, or given back below
                for index in range(len(ahead)):
                    if self._halted() or not session.is_open:
                        break
                    if index:
                        started = await self._slot(book) if limited else loop.time()
                    row = queue.popleft()
                    try:
                        message = self.source.content(row)
                        attempt = await session.send(self._envelope(row), row.address,
                                                     message, row.message_id)
                    except ComposeError as exc:
                        book.impossible(row, exc.message)
                        continue
                    except DeliveryError:
                        book.unstarted([row])  # surely not handed over: it goes again
                        raise
                    # Any other error before this leaves the row in transmitting: its data
                    # may have gone, so recovery retries it as ambiguous.
                    book.outcome(row, attempt)
                    pace.record(loop.time() - started)
                    if self.on_message is not None:
                        self.on_message(self.run)
        finally:
            book.unstarted(list(queue))
        return session


class Sender:
    """This process's sending through ``relay``. One sweep runs at a time: a sweep asked for
    while one runs makes the running one go round once more instead. One rate limit per
    relay, shared by every sweep. After the relay was unreachable, sweeps wait before trying
    it again (doubling from ``first_backoff`` up to :data:`MAX_BACKOFF`)."""

    def __init__(self, store: Store, source: MessageSource, options: SendOptions, *,
                 relay: Relay, owner: str, clock: Callable[[], datetime],
                 first_backoff: float) -> None:
        self.store = store
        self.source = source
        self.options = options
        self.relay = relay
        self.owner = owner
        self.clock = clock
        self.limiter = RateLimiter(options.rate)
        self.first_backoff = max(1.0, first_backoff)
        self.backoff = 0.0
        self.resume_at: datetime | None = None
        self.on_message: Callable[[DeliveryRun], None] | None = None  # progress, per message
        self._running = False
        self._again = False

    async def sweep(self, stop: asyncio.Event) -> DeliveryRun | None:
        """Send what is due; None when this call joined a running sweep or waits out a
        backoff."""
        if self._running:
            self._again = True
            return None
        if self.resume_at is not None and self.clock() < self.resume_at:
            log.debug("relay %s: waiting until %s", self.relay.name,
                      self.resume_at.isoformat())
            return None
        self._running = True
        total = DeliveryRun()
        try:
            while True:
                self._again = False
                run = await Sweep(self.store, self.source, self.relay, self.options,
                                  owner=self.owner, clock=self.clock, stop=stop,
                                  limiter=self.limiter, on_message=self.on_message)()
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
            else:
                log.debug("outbox swept: nothing due", extra={"event": "deliver_idle"})
            return
        self.backoff = min(MAX_BACKOFF, max(self.first_backoff, self.backoff * 2))
        self.resume_at = self.clock() + timedelta(seconds=self.backoff)
        log.error("the relay %s is unreachable (%s); trying again in %.0f s", self.relay.name,
                  run.unreachable, self.backoff,
                  extra={"event": "relay_unreachable", "relay": self.relay.name,
                         "retry_in": self.backoff, **run.figures()})


MAX_BACKOFF = 900.0  # seconds: a relay that is down is tried again at least every 15 minutes


def _figures_text(run: DeliveryRun) -> str:
    return ", ".join(f"{n} {name}" for name, n in run.figures().items() if n)
