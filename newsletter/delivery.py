"""Transports that hand finished messages over: an SMTP relay (aiosmtplib) or a folder of
``.eml`` files for previews and air-gapped offices (I/O).

Each transport sends one message at a time and reports the outcome as a value
(:class:`Outcome`); it raises only for faults of the transport itself (cannot connect, cannot
write), converted once here into :class:`DeliveryError`.
"""

from __future__ import annotations

import asyncio
import os
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import aiosmtplib

from newsletter.errors import NewsletterError


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
    message), for previews and for offices that carry the outbox to a connected machine."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def deliver(self, sender: str, recipient: str, message: bytes, name: str) -> Outcome:
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


@dataclass(frozen=True)
class SmtpOptions:
    host: str
    port: int
    security: str  # "starttls", "tls" (implicit) or "none" (plaintext, only when configured)
    username: str
    password: str
    timeout: float
    verify: bool = True


class SmtpTransport:
    """One message per connection through aiosmtplib; certificate verification on by default.
    (Pooled, rate-limited sending of whole issues builds on this in the outbox.)"""

    def __init__(self, options: SmtpOptions) -> None:
        self.options = options

    def deliver(self, sender: str, recipient: str, message: bytes, name: str) -> Outcome:
        return asyncio.run(self._send(sender, recipient, message))

    async def _send(self, sender: str, recipient: str, message: bytes) -> Outcome:
        options = self.options
        context = ssl.create_default_context()
        if not options.verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
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
