"""Transports that hand finished messages over: an SMTP relay (aiosmtplib) or a folder of
``.eml`` files for previews and air-gapped offices (I/O).

Each transport sends one message at a time and reports the outcome as a value
(:class:`Outcome`); it raises only for faults of the transport itself (cannot connect, cannot
write), converted once here into :class:`DeliveryError`.
"""

from __future__ import annotations

import asyncio
import mailbox
import os
import random
import secrets
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Protocol

import aiosmtplib

from newsletter.errors import NewsletterError
from newsletter.outbox import Attempt, RetryPolicy, State, Verdict, classify, is_bounce
from newsletter.store import OutboxRow, Store


class DeliveryError(NewsletterError):
    """The transport could not deliver: no connection, refused, or the folder is unwritable."""


@dataclass(frozen=True)
class Outcome:
    """What happened to one message."""

    accepted: bool
    code: int | None = None
    text: str = ""


class Transport(Protocol):
    def deliver(self, sender: str, recipient: str, message: bytes, name: str) -> Outcome: ...


class FileTransport:
    """Writes each message as ``NAME.eml`` in a folder, atomically (a reader never sees half a
    message), or appends it to ``outbox.mbox``: for previews and for offices that carry the
    outbox to a connected machine."""

    def __init__(self, folder: Path, file_format: str = "eml") -> None:
        self.folder = folder
        self.file_format = file_format

    def deliver(self, sender: str, recipient: str, message: bytes, name: str) -> Outcome:
        if self.file_format == "mbox":
            return self._append_mbox(sender, message)
        safe = "".join(ch if ch.isalnum() or ch in "-._@" else "_" for ch in name)[:150]
        target = self.folder / f"{safe}.eml"
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            partial = target.with_suffix(".eml.part")
            with partial.open("wb") as handle:
                handle.write(message)
                handle.flush()
                os.fsync(handle.fileno())
            partial.replace(target)
        except OSError as exc:
            raise DeliveryError(f"cannot write {target}: {exc.strerror}",
                                hint="check [delivery] folder and its permissions") from exc
        return Outcome(True, None, str(target))

    def _append_mbox(self, sender: str, message: bytes) -> Outcome:
        path = self.folder / "outbox.mbox"
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            box = mailbox.mbox(str(path))
            box.lock()
            try:
                entry = mailbox.mboxMessage(message)
                entry.set_from(sender)
                box.add(entry)
                box.flush()
            finally:
                box.unlock()
                box.close()
        except (OSError, mailbox.Error) as exc:
            raise DeliveryError(f"cannot append to {path}: {exc}",
                                hint="check [delivery] folder and its permissions") from exc
        return Outcome(True, None, str(path))


@dataclass(frozen=True)
class SmtpOptions:
    host: str
    port: int
    security: str  # "starttls", "tls" (implicit) or "none" (plaintext, only when configured)
    username: str
    password: str
    timeout: float
    ca_file: str = ""


class SmtpTransport:
    """One message per connection through aiosmtplib; certificate verification on by default.
    (Pooled, rate-limited sending of whole issues builds on this in the outbox.)"""

    def __init__(self, options: SmtpOptions) -> None:
        self.options = options

    def deliver(self, sender: str, recipient: str, message: bytes, name: str) -> Outcome:
        return asyncio.run(self._send(sender, recipient, message))

    async def _send(self, sender: str, recipient: str, message: bytes) -> Outcome:
        options = self.options
        context = _tls_context(options)
        try:
            errors, response = await aiosmtplib.send(
                message, sender=sender, recipients=[recipient], hostname=options.host,
                port=options.port, use_tls=options.security == "tls",
                start_tls=True if options.security == "starttls" else False,
                username=options.username or None, password=options.password or None,
                timeout=options.timeout, tls_context=context,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            refusal = exc.recipients[0]
            return Outcome(False, refusal.code, refusal.message)
        except aiosmtplib.SMTPResponseException as exc:
            return Outcome(False, exc.code, exc.message)
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise DeliveryError(
                f"cannot send through {options.host}:{options.port}: {exc}",
                hint="check [smtp] host, port and security, and that the relay is running",
            ) from exc
        if recipient in errors:
            code, text = errors[recipient]
            return Outcome(False, code, text)
        return Outcome(True, 250, response)


# -- sending the outbox -----------------------------------------------------------------------


class RelayUnreachable(DeliveryError, ConnectionError):
    """The relay could not be reached for several messages in a row: the sweep stopped and
    left the rest of the outbox queued."""


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
) -> DeliveryRun:
    """Send every due message of the outbox through a pool of SMTP connections (or into
    ``files``), recording each outcome before the next; stop cleanly when ``stop`` is set.

    The sweep claims under its own owner id (``owner`` plus a random part, so two sweeps
    never share one), each connection only the few messages it sends next, and renews the
    leases it holds while it works. Every change of a row is fenced on that owner: a row
    whose lease was lost is not sent. After ``breaker_failures`` consecutive failures to
    connect, or when no connection could be made at all, the sweep stops, leaves the rest
    queued, and says why in :attr:`DeliveryRun.unreachable`.
    """
    stop = stop or asyncio.Event()
    rng = rng or random.Random()
    limiter = limiter or RateLimiter(options.rate)
    claimant = f"{owner}/{secrets.token_hex(6)}"
    run = DeliveryRun()
    run.requeued, run.ambiguous = store.recover(clock())
    breaker = _Breaker(options.breaker_failures)
    done = asyncio.Event()

    async def renewer() -> None:
        every = max(0.05, options.lease / 3)
        while not done.is_set():
            try:
                await asyncio.wait_for(done.wait(), timeout=every)
            except TimeoutError:
                store.renew(claimant, clock(), options.lease)

    async def worker() -> None:
        connection: aiosmtplib.SMTP | None = None
        try:
            while not (stop.is_set() or breaker.tripped):
                claimed = store.claim(claimant, options.claim_batch, clock(), options.lease)
                run.skipped += claimed.skipped
                if not claimed.rows and not claimed.skipped:
                    break
                for row in claimed.rows:
                    if stop.is_set() or breaker.tripped:
                        break  # claimed but not started: released below
                    await limiter.wait()
                    connection = await _one(connection, row)
        finally:
            if connection is not None and connection.is_connected:
                try:
                    await connection.quit()
                except (aiosmtplib.SMTPException, OSError):
                    connection.close()

    async def _one(connection: aiosmtplib.SMTP | None,
                   row: OutboxRow) -> aiosmtplib.SMTP | None:
        message = source.message(row)
        if files is not None:
            if not store.mark(row.id, claimant, State.SENDING, State.TRANSMITTING):
                run.lost += 1
                return None
            try:
                files.deliver(options.sender, row.address, message, row.message_id)
            except DeliveryError:  # nothing was written (files appear whole or not at all)
                store.mark(row.id, claimant, State.TRANSMITTING, State.PENDING)
                raise
            _record(store, claimant, row, Attempt(250, "written to the file outbox"), options,
                    clock(), rng, run)
            return None
        assert smtp is not None
        if connection is None or not connection.is_connected:
            try:
                connection = await _connect(smtp)
            except (TimeoutError, aiosmtplib.SMTPException, OSError) as exc:
                error = f"{type(exc).__name__}: {exc}"
                breaker.failure(error)
                _defer(store, claimant, row, error, options, clock(), run)
                return None
            breaker.success()
        connection, attempt = await _attempt(connection, options, store, claimant, row,
                                             message)
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
        run.released = store.release(claimant)
    if smtp is not None and files is None and (
            breaker.tripped or (breaker.failures and not breaker.connected)):
        run.unreachable = (f"{breaker.failures} connection attempt(s) to {smtp.host}:"
                           f"{smtp.port} failed in a row; the last: {breaker.last_error}")
    return run


async def _attempt(
    connection: aiosmtplib.SMTP, options: SendOptions, store: Store, owner: str,
    row: OutboxRow, message: bytes,
) -> tuple[aiosmtplib.SMTP | None, Attempt | None]:
    """One message over an open ``connection``; no attempt (None) when the row's lease was
    lost before the data went."""
    in_data = False
    try:
        await connection.mail(options.sender)
        await connection.rcpt(row.address)
        # From here on, a lost reply means "unknown"; and only the lease holder may go on.
        if not store.mark(row.id, owner, State.SENDING, State.TRANSMITTING):
            await _reset(connection)
            return connection, None
        in_data = True
        response = await connection.data(message)
        return connection, Attempt(response.code, response.message)
    except aiosmtplib.SMTPRecipientRefused as exc:
        await _reset(connection)
        return connection, Attempt(exc.code, exc.message)
    except aiosmtplib.SMTPResponseException as exc:
        if exc.code in (421,):  # the server is closing the connection
            _drop(connection)
            return None, Attempt(exc.code, exc.message, during_data=False)
        await _reset(connection)
        return connection, Attempt(exc.code, exc.message, during_data=False)
    except (TimeoutError, aiosmtplib.SMTPException, OSError) as exc:
        _drop(connection)
        return None, Attempt(None, f"{type(exc).__name__}: {exc}", during_data=in_data)


def _tls_context(smtp: SmtpOptions) -> ssl.SSLContext:
    """Certificates are always verified: the system's authorities, plus ``ca_file``."""
    context = ssl.create_default_context()
    if smtp.ca_file:
        context.load_verify_locations(cafile=smtp.ca_file)
    return context


async def _connect(smtp: SmtpOptions) -> aiosmtplib.SMTP:
    context = _tls_context(smtp)
    connection = aiosmtplib.SMTP(
        hostname=smtp.host, port=smtp.port, use_tls=smtp.security == "tls",
        start_tls=True if smtp.security == "starttls" else False, tls_context=context,
        timeout=smtp.timeout,
    )
    await connection.connect()
    if smtp.username:
        await connection.login(smtp.username, smtp.password)
    return connection


async def _reset(connection: aiosmtplib.SMTP | None) -> None:
    if connection is not None and connection.is_connected:
        try:
            await connection.rset()
        except (aiosmtplib.SMTPException, OSError):
            _drop(connection)


def _drop(connection: aiosmtplib.SMTP | None) -> None:
    if connection is not None:
        connection.close()


def _defer(store: Store, owner: str, row: OutboxRow, error: str, options: SendOptions,
           now: datetime, run: DeliveryRun) -> None:
    """No connection could be made: the message is not at fault, so no attempt is counted;
    it waits one retry delay and is tried again."""
    store.mark(row.id, owner, State.SENDING, State.RETRY, text=error,
               next_attempt_at=now + options.policy.base)
    run.deferred += 1


def _record(store: Store, owner: str, row: OutboxRow, attempt: Attempt, options: SendOptions,
            now: datetime, rng: random.Random, run: DeliveryRun) -> None:
    """Record the outcome of an attempt made on a transmitting row."""
    verdict = classify(attempt)
    if verdict is Verdict.SENT:
        if store.mark(row.id, owner, State.TRANSMITTING, State.SENT, code=attempt.code,
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
    marked = any(store.mark(row.id, owner, before, state, code=attempt.code, text=text,
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
    if is_bounce(attempt) and store.record_bounce(row.subscriber_id, options.bounce_threshold,
                                                  now):
        run.bounced += 1
