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


@dataclass
class DeliveryRun:
    """What one run of the outbox did."""

    sent: int = 0
    retried: int = 0
    failed: int = 0
    bounced: int = 0
    ambiguous: int = 0
    requeued: int = 0
    released: int = 0


class MessageSource(Protocol):
    """Builds the bytes of one outbox row (the issue's template, filled in)."""

    def message(self, row: OutboxRow) -> bytes: ...


@dataclass(frozen=True)
class SendOptions:
    sender: str  # envelope sender (MAIL FROM)
    connections: int = 4  # SMTP connections used at once
    rate: float = 0.0  # messages per second over all connections; 0 for no limit
    lease: float = 120.0  # seconds a claimed message stays claimed
    batch: int = 200
    bounce_threshold: int = 3
    policy: RetryPolicy = field(default_factory=RetryPolicy)


class _RateLimiter:
    """At most ``rate`` starts per second, spread evenly over all connections."""

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


async def send_outbox(
    store: Store, source: MessageSource, smtp: SmtpOptions | None, options: SendOptions, *,
    owner: str, clock: Callable[[], datetime], stop: asyncio.Event | None = None,
    files: FileTransport | None = None, rng: random.Random | None = None,
) -> DeliveryRun:
    """Send every due message of the outbox through a pool of SMTP connections (or into
    ``files``), recording each outcome before the next; stop cleanly when ``stop`` is set."""
    stop = stop or asyncio.Event()
    rng = rng or random.Random()
    run = DeliveryRun()
    run.requeued, run.ambiguous = store.recover(clock())
    queue: asyncio.Queue[OutboxRow | None] = asyncio.Queue(maxsize=options.batch)
    limiter = _RateLimiter(options.rate)

    async def feeder() -> None:
        while not stop.is_set():
            rows = store.claim(owner, options.batch, clock(), options.lease)
            if not rows:
                break
            for row in rows:
                await queue.put(row)
        for _ in range(workers):
            await queue.put(None)

    async def worker() -> None:
        connection: aiosmtplib.SMTP | None = None
        try:
            while (row := await queue.get()) is not None:
                if stop.is_set():
                    continue  # claimed but not started: released below
                await limiter.wait()
                if files is not None:
                    files.deliver(options.sender, row.address, source.message(row),
                                  row.message_id)
                    attempt = Attempt(250, "written to the file outbox")
                else:
                    assert smtp is not None
                    connection, attempt = await _attempt(connection, smtp, options, store, row,
                                                         source.message(row))
                _record(store, row, attempt, options, clock(), rng, run)
        finally:
            if connection is not None and connection.is_connected:
                try:
                    await connection.quit()
                except (aiosmtplib.SMTPException, OSError):
                    connection.close()

    workers = 1 if files is not None else max(1, options.connections)
    await asyncio.gather(feeder(), *(worker() for _ in range(workers)))
    run.released = store.release(owner)
    return run


async def _attempt(
    connection: aiosmtplib.SMTP | None, smtp: SmtpOptions, options: SendOptions, store: Store,
    row: OutboxRow, message: bytes,
) -> tuple[aiosmtplib.SMTP | None, Attempt]:
    """One message over ``connection`` (opened or reopened as needed)."""
    in_data = False
    try:
        if connection is None or not connection.is_connected:
            connection = await _connect(smtp)
        await connection.mail(options.sender)
        await connection.rcpt(row.address)
        store.mark(row.id, State.TRANSMITTING)  # from here on, a lost reply means "unknown"
        in_data = True
        response = await connection.data(message)
        return connection, Attempt(response.code, response.message)
    except aiosmtplib.SMTPRecipientRefused as exc:
        await _reset(connection)
        return connection, Attempt(exc.code, exc.message)
    except aiosmtplib.SMTPResponseException as exc:
        if exc.code in (421,):  # the server is closing the connection
            _drop(connection)
            connection = None
        else:
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


def _record(store: Store, row: OutboxRow, attempt: Attempt, options: SendOptions, now: datetime,
            rng: random.Random, run: DeliveryRun) -> None:
    verdict = classify(attempt)
    if verdict is Verdict.SENT:
        store.mark(row.id, State.SENT, code=attempt.code, text=attempt.text, now=now,
                   attempted=True)
        run.sent += 1
        return
    if attempt.during_data:
        run.ambiguous += 1
    when = options.policy.next_attempt(row.attempts + 1, now, rng)
    if verdict is Verdict.RETRY and when is not None:
        store.mark(row.id, State.RETRY, code=attempt.code, text=attempt.text or "retry",
                   next_attempt_at=when, attempted=True, ambiguous=attempt.during_data)
        run.retried += 1
        return
    store.mark(row.id, State.FAILED, code=attempt.code, text=attempt.text or "failed",
               attempted=True, ambiguous=attempt.during_data)
    run.failed += 1
    if is_bounce(attempt) and store.record_bounce(row.subscriber_id, options.bounce_threshold,
                                                  now):
        run.bounced += 1
