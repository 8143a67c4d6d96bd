"""The one way out of the outbox: a :class:`Relay` opens :class:`Session`\\ s, and a session
sends one message at a time and says what became of it (I/O).

httpx's transports are the model: the sweep (:mod:`newsletter.delivery.sender`) speaks only
this interface, and what is behind it is an SMTP relay (:class:`SmtpRelay`, sessions of
:mod:`newsletter.delivery.smtp`) or a folder of files (:class:`FileRelay`). A session's
:meth:`~Session.send` returns every outcome the relay gave as an
:class:`~newsletter.delivery.rules.Attempt`; it raises :class:`DeliveryError` only when the
message was surely not handed over (a file that cannot be written): the message goes back
to the queue and the sweep stops with that error.

A message comes as ``bytes`` or as a :class:`~newsletter.mail.content.Content` (an outbox
message, in the parts its template laid out): the SMTP session writes a content's parts,
already dot-stuffed, as they are; the file session joins them.
"""

from __future__ import annotations

from typing import Protocol

from newsletter.delivery.files import FileTransport
from newsletter.delivery.rules import Attempt
from newsletter.delivery.smtp import CONNECT_ERRORS, SmtpOptions, SmtpSession
from newsletter.mail.content import Content


class Unreachable(Exception):
    """No session could be opened with the relay (it is down, refuses, or times out)."""


class Session(Protocol):
    @property
    def is_open(self) -> bool:
        """Whether the next message can go on this session."""
        ...

    async def send(self, sender: str, recipient: str, message: bytes | Content,
                   name: str) -> Attempt:
        """Hand ``message`` over for ``recipient`` (``name``: the message's name, a file's)."""
        ...

    async def close(self) -> None:
        """End the session politely."""
        ...


class Relay(Protocol):
    """Where messages go, and how many sessions it takes at once."""

    @property
    def name(self) -> str: ...

    @property
    def connections(self) -> int: ...

    async def open(self) -> Session:
        """A new session; :class:`Unreachable` when none can be had."""
        ...


class SmtpRelay:
    """An SMTP relay: ``connections`` sessions at once."""

    def __init__(self, options: SmtpOptions, connections: int) -> None:
        self.options = options
        self.connections = max(1, connections)

    @property
    def name(self) -> str:
        return self.options.relay

    async def open(self) -> Session:
        try:
            return await SmtpSession.open(self.options)
        except CONNECT_ERRORS as exc:
            raise Unreachable(f"{type(exc).__name__}: {exc}") from exc


class FileSession:
    """Messages written as files, one at a time, whole or not at all."""

    def __init__(self, files: FileTransport) -> None:
        self.files = files

    @property
    def is_open(self) -> bool:
        return True

    async def send(self, sender: str, recipient: str, message: bytes | Content,
                   name: str) -> Attempt:
        self.files.deliver(sender, recipient, bytes(message), name)  # DeliveryError: not written
        return Attempt(250, "written to the file outbox")

    async def close(self) -> None:
        return None


class FileRelay:
    """The file transport as a relay: one session, never unreachable."""

    connections = 1

    def __init__(self, files: FileTransport) -> None:
        self.files = files

    @property
    def name(self) -> str:
        return str(self.files.folder)

    async def open(self) -> Session:
        return FileSession(self.files)
