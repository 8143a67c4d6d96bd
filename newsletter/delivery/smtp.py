"""The one SMTP path (aiosmtplib): connect, hand over one message, and read what the relay said
as an :class:`~newsletter.delivery.rules.Attempt` (I/O).

The outbox's sender keeps connections open across messages; a one-off message (a test send, an
invitation) goes through :class:`SmtpTransport`, which opens a connection for it and uses the
same :func:`transmit`. Certificates are always verified (the system's authorities, plus
``ca_file``); plaintext only when ``security = "none"`` is configured.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from dataclasses import dataclass

import aiosmtplib

from newsletter.delivery.rules import Attempt, Verdict, classify
from newsletter.delivery.transport import Outcome
from newsletter.errors import DeliveryError


@dataclass(frozen=True)
class SmtpOptions:
    host: str
    port: int
    security: str  # "starttls", "tls" (implicit) or "none" (plaintext, only when configured)
    username: str
    password: str
    timeout: float
    ca_file: str = ""

    @property
    def relay(self) -> str:
        return f"{self.host}:{self.port}"


async def connect(smtp: SmtpOptions) -> aiosmtplib.SMTP:
    """An open, greeted (and, if configured, authenticated) connection to the relay."""
    connection = aiosmtplib.SMTP(
        hostname=smtp.host, port=smtp.port, use_tls=smtp.security == "tls",
        start_tls=True if smtp.security == "starttls" else False, tls_context=_tls_context(smtp),
        timeout=smtp.timeout,
    )
    await connection.connect()
    if smtp.username:
        await connection.login(smtp.username, smtp.password)
    return connection


async def transmit(
    connection: aiosmtplib.SMTP, sender: str, recipient: str, message: bytes,
    before_data: Callable[[], bool] = lambda: True,
) -> tuple[aiosmtplib.SMTP | None, Attempt | None]:
    """One message over an open ``connection``: the connection to go on with (None when it
    was dropped) and the attempt's outcome. ``before_data`` is asked once the recipient is
    accepted and before the data goes (the outbox's fence: from then on a lost reply means
    "unknown"); when it says no, nothing is sent and the attempt is None."""
    in_data = False
    try:
        await connection.mail(sender)
        await connection.rcpt(recipient)
        if not before_data():
            await reset(connection)
            return connection, None
        in_data = True
        response = await connection.data(message)
        return connection, Attempt(response.code, response.message)
    except aiosmtplib.SMTPRecipientRefused as exc:
        await reset(connection)
        return connection, Attempt(exc.code, exc.message)
    except aiosmtplib.SMTPResponseException as exc:
        if exc.code in (421,):  # the server is closing the connection
            drop(connection)
            return None, Attempt(exc.code, exc.message)
        await reset(connection)
        return connection, Attempt(exc.code, exc.message)
    except (TimeoutError, aiosmtplib.SMTPException, OSError) as exc:
        drop(connection)
        return None, Attempt(None, f"{type(exc).__name__}: {exc}", during_data=in_data)


async def reset(connection: aiosmtplib.SMTP | None) -> None:
    if connection is not None and connection.is_connected:
        try:
            await connection.rset()
        except (aiosmtplib.SMTPException, OSError):
            drop(connection)


def drop(connection: aiosmtplib.SMTP | None) -> None:
    if connection is not None:
        connection.close()


async def close(connection: aiosmtplib.SMTP | None) -> None:
    """Say QUIT, or just close a connection that cannot."""
    if connection is not None and connection.is_connected:
        try:
            await connection.quit()
        except (aiosmtplib.SMTPException, OSError):
            connection.close()


class SmtpTransport:
    """One message on a connection of its own, through :func:`connect` and :func:`transmit`."""

    def __init__(self, options: SmtpOptions) -> None:
        self.options = options

    def deliver(self, sender: str, recipient: str, message: bytes, name: str) -> Outcome:
        return asyncio.run(self._send(sender, recipient, message))

    async def _send(self, sender: str, recipient: str, message: bytes) -> Outcome:
        options = self.options
        try:
            connection = await connect(options)
        except (TimeoutError, aiosmtplib.SMTPException, OSError) as exc:
            raise DeliveryError(
                f"cannot send through {options.relay}: {exc}",
                hint="check [smtp] host, port and security, and that the relay is running",
            ) from exc
        still_open, attempt = await transmit(connection, sender, recipient, message)
        await close(still_open)
        assert attempt is not None  # nothing fences a one-off message
        if attempt.code is None:
            raise DeliveryError(
                f"the connection to {options.relay} failed while sending: {attempt.text}",
                hint="check that the relay is running; the message may not have arrived")
        return Outcome(classify(attempt) is Verdict.SENT, attempt.code, attempt.text)


def _tls_context(smtp: SmtpOptions) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if smtp.ca_file:
        context.load_verify_locations(cafile=smtp.ca_file)
    return context
