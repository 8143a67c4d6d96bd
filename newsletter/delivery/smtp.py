"""The one SMTP path: a :class:`SmtpSession` on a connection that aiosmtplib opens, and what the
relay said of each message as an :class:`~newsletter.delivery.rules.Attempt` (I/O).

aiosmtplib makes the connection ready: the greeting, EHLO, STARTTLS or implicit TLS with
verified certificates (the system's authorities, plus ``ca_file``), AUTH. The session then
takes the connection's transport over (``set_protocol``) and runs the mail transactions
itself, because that is where the time goes when one process sends 100,000 messages:

* **Pipelining** (RFC 2920). When the relay offers ``PIPELINING``, ``MAIL FROM``, ``RCPT TO``
  and ``DATA`` go in one write and their replies are read together, so a message costs two
  round trips (commands, then content) instead of four. Relays without it get one command
  at a time.
* **The content is already stuffed** (RFC 5321 4.5.2: a line that starts with a dot gets
  another). A message from the outbox comes as a :class:`~newsletter.mail.content.Content`
  whose parts the template laid out dot-stuffed (its large chunks once per template, the
  reader's values as they were spliced in), and they go to ``transport.writelines`` as they
  are: the session never joins, scans or copies them (asyncio's socket transport joins them
  once up to Python 3.11, and hands them to ``sendmsg`` from 3.12). A message given as
  ``bytes`` (a test send) is stuffed whole, with two byte replaces
  (:func:`~newsletter.mail.content.stuffed`).
* **Replies cost little to wait for**: one watchdog timer per session, moved on only when it
  fires, stands for every read's timeout, instead of a timer made and cancelled per read.
* ``BODY=8BITMIME`` is declared when the relay offers it (RFC 6152): the body parts travel as
  8-bit UTF-8.

The outbox's sender keeps sessions open across messages; a one-off message (a test send, an
invitation) goes through :class:`SmtpTransport`, which opens a session for it. Plaintext only
when ``security = "none"`` is configured.
"""

from __future__ import annotations

import asyncio
import re
import ssl
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

import aiosmtplib

from newsletter.delivery.rules import Attempt, Verdict, classify
from newsletter.delivery.transport import Outcome
from newsletter.errors import ComposeError, DeliveryError
from newsletter.mail.content import Content, stuffed

_UNSAFE_IN_PATH = re.compile(r"[\x00-\x20<>\x7f]")
CLOSING = 421  # RFC 5321 3.8: the relay is closing the connection


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


CONNECT_ERRORS = (TimeoutError, aiosmtplib.SMTPException, OSError)


class _Replies(asyncio.Protocol):
    """The connection's protocol once the session has it: collects complete replies
    (multi-line ones joined) in order, however they arrive.

    A read's timeout is a deadline, watched by one timer per session: when it fires it
    wakes a read whose deadline has passed, or moves itself on to the deadline of the read
    that waits now (each read sets a later one), or stops when none waits."""

    def __init__(self, transport: asyncio.Transport) -> None:
        self.transport = transport
        self.buffer = b""  # an incomplete reply (its lines so far), or an incomplete line
        self.replies: deque[tuple[int, str]] = deque()
        self.lost: Exception | None = None
        self.waiter: asyncio.Future[None] | None = None
        self.deadline = 0.0  # loop time by which the awaited replies must have come
        self.expired = False  # the deadline passed while a read waited
        self.timer: asyncio.TimerHandle | None = None
        self.armed_for = 0.0  # the deadline the timer fires at

    def data_received(self, data: bytes) -> None:
        if self.buffer:
            data = self.buffer + data
        text: list[str] = []
        done = 0  # where the replies read so far end
        start = 0
        while (end := data.find(b"\n", start)) >= 0:
            line = data[start:end].rstrip(b"\r")
            start = end + 1
            text.append(line[4:].decode("utf-8", "replace"))
            if line[3:4] != b"-":  # the last line of a reply: "250 text", or just "250"
                if not line[:3].isdigit():  # not SMTP: nothing more can be understood
                    self.lost = ConnectionAbortedError(f"the relay's reply is not SMTP: {line!r}")
                    self.transport.close()
                    break
                self.replies.append((int(line[:3]), "\n".join(text)))
                text = []
                done = start
        self.buffer = data[done:] if done < len(data) else b""  # an incomplete reply
        self._wake()

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = self.lost or exc or ConnectionResetError("the relay closed the connection")
        self.disarm()
        self._wake()

    def eof_received(self) -> bool:
        return False  # close the transport: connection_lost follows

    def _wake(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    def disarm(self) -> None:
        """Stop the timer (the session is closing, or the connection is gone)."""
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def _watch(self) -> None:
        """The timer: expire the waiting read, or follow its later deadline, or stop."""
        self.timer = None
        if self.waiter is None:
            return
        if self.deadline <= self.armed_for:
            self.expired = True
            self._wake()
            return
        self.armed_for = self.deadline
        self.timer = asyncio.get_running_loop().call_at(self.deadline, self._watch)

    async def read(self, count: int, within: float) -> list[tuple[int, str]]:
        """The next ``count`` replies, or fewer when the connection is lost first (the
        relay may answer and close, as with ``421``); raises ConnectionError when it is lost
        before any, TimeoutError when they take longer than ``within`` seconds."""
        if len(self.replies) < count and self.lost is None:
            loop = asyncio.get_running_loop()
            self.deadline = deadline = loop.time() + within
            if self.timer is None or self.armed_for > deadline:  # none, or one too late
                self.disarm()
                self.armed_for = deadline
                self.timer = loop.call_at(deadline, self._watch)
            self.expired = False
            try:
                while len(self.replies) < count and self.lost is None:
                    if self.expired:
                        raise TimeoutError(f"no reply from the relay within {within:g} s")
                    self.waiter = loop.create_future()
                    await self.waiter
            finally:
                self.waiter = None
        if not self.replies and self.lost is not None:
            raise ConnectionResetError(f"connection lost: {self.lost}")
        return [self.replies.popleft() for _ in range(min(count, len(self.replies)))]


class SmtpSession:
    """An open connection to the relay that sends one message at a time (see the module
    docstring). :meth:`send` reports every outcome as an :class:`Attempt`; after a lost
    connection, a timeout or a ``421`` the session is closed (:attr:`is_open`) and the
    caller opens another. It is the SMTP :class:`~newsletter.delivery.session.Session`."""

    def __init__(self, transport: asyncio.Transport, *, pipelining: bool, eight_bit: bool,
                 timeout: float) -> None:
        self._replies = _Replies(transport)
        transport.set_protocol(self._replies)
        self.transport = transport
        self.pipelining = pipelining
        self.body = b" BODY=8BITMIME" if eight_bit else b""
        self.timeout = timeout
        self._mail_from = ("", b"")  # the last envelope sender and its MAIL FROM command

    @classmethod
    async def open(cls, smtp: SmtpOptions) -> SmtpSession:
        """A greeted (and, if configured, encrypted and authenticated) session with the
        relay; raises one of :data:`CONNECT_ERRORS` when none can be had."""
        client = aiosmtplib.SMTP(
            hostname=smtp.host, port=smtp.port, use_tls=smtp.security == "tls",
            start_tls=True if smtp.security == "starttls" else False,
            tls_context=_tls_context(smtp) if smtp.security != "none" else None,
            timeout=smtp.timeout)
        await client.connect()
        try:
            if client.is_ehlo_or_helo_needed:  # aiosmtplib greets lazily; the session won't
                try:
                    await client.ehlo()
                except aiosmtplib.SMTPHeloError:
                    await client.helo()
            if smtp.username:
                await client.login(smtp.username, smtp.password)
            if not client.is_connected or client.transport is None:
                raise aiosmtplib.SMTPServerDisconnected("the relay closed the connection")
        except BaseException:
            client.close()
            raise
        # A socket's transport: asyncio's, or uvloop's, which has its interface without
        # being a subclass (newsletter.delivery.loop).
        transport = cast(asyncio.Transport, client.transport)
        return cls(transport, pipelining=client.supports_extension("pipelining"),
                   eight_bit=client.supports_extension("8bitmime"), timeout=smtp.timeout)

    @property
    def is_open(self) -> bool:
        """Whether the next message can go on this session: connected, and no reply is
        waiting that nothing asked for (a relay that times an idle session out says 421
        first); with such a reply the session is out of step and must be replaced."""
        return (self._replies.lost is None and not self._replies.replies
                and not self.transport.is_closing())

    async def send(self, sender: str, recipient: str, message: bytes | Content,
                   name: str = "") -> Attempt:
        """Hand ``message`` to the relay for ``recipient`` (``name``, for files, is not
        needed here). ``during_data`` in the attempt
        says the content had started to go when the connection failed: the outcome is then
        unknown (the relay may have it)."""
        commands = (self._mail(sender), b"RCPT TO:<" + _path(recipient) + b">\r\n",
                    b"DATA\r\n")
        data: Sequence[bytes] = (message.data if isinstance(message, Content)
                                 else (stuffed(message),))
        in_data = False
        try:
            if self.pipelining:
                self.transport.write(b"".join(commands))
                replies = await self._replies.read(3, self.timeout)
            else:
                replies = []
                for command in commands:
                    self.transport.write(command)
                    replies += await self._replies.read(1, self.timeout)
                    if not 200 <= replies[-1][0] < 400:
                        break
            refusal = None
            for reply in replies:
                if not 200 <= reply[0] < 400:
                    refusal = reply
                    break
            if refusal is not None:
                if replies[-1][0] == 354:  # DATA taken after a refusal: end it empty
                    self.transport.write(b".\r\n")
                    await self._replies.read(1, self.timeout)
                await self._forget(refusal[0])
                return Attempt(*refusal)
            if len(replies) < len(commands) or replies[-1][0] != 354:
                raise ConnectionResetError("the relay closed the connection")
            in_data = True
            self.transport.writelines(data)
            replies = await self._replies.read(1, self.timeout)
            if not replies:
                raise ConnectionResetError("the relay closed the connection")
            ((code, text),) = replies
            if code == CLOSING:
                self.abort()
            return Attempt(code, text)
        except (TimeoutError, OSError) as exc:
            self.abort()
            return Attempt(None, f"{type(exc).__name__}: {exc}".rstrip(": "),
                           during_data=in_data)

    def _mail(self, sender: str) -> bytes:
        """The ``MAIL FROM`` command for ``sender``, made once while the sender stays the same
        (it does, but with VERP)."""
        last, command = self._mail_from
        if sender != last or not command:
            command = b"MAIL FROM:<" + _path(sender) + b">" + self.body + b"\r\n"
            self._mail_from = (sender, command)
        return command

    async def _forget(self, code: int) -> None:
        """After a refusal: RSET, so the relay forgets the transaction; a ``421`` or a
        reply that is not SMTP ends the session instead."""
        if code == CLOSING or not self.is_open:
            self.abort()
            return
        try:
            self.transport.write(b"RSET\r\n")
            if await self._replies.read(1, self.timeout):
                return
        except (TimeoutError, OSError):
            pass
        self.abort()

    async def close(self) -> None:
        """Say QUIT and close; a session that cannot is just closed."""
        if self.is_open:
            try:
                self.transport.write(b"QUIT\r\n")
                await self._replies.read(1, min(self.timeout, 10.0))
            except (TimeoutError, OSError):
                pass
        self.abort()

    def abort(self) -> None:
        """Close the connection at once (it is out of step, or gone)."""
        self._replies.disarm()
        self.transport.close()


def _path(address: str) -> bytes:
    """An address for ``MAIL FROM``/``RCPT TO``: its domain in ASCII (IDNA); a path with
    spaces, angle brackets or control characters is refused (no command injection)."""
    if address.isascii() and not _UNSAFE_IN_PATH.search(address):
        return address.encode("ascii")
    local, _, domain = address.rpartition("@")
    try:
        path = f"{local}@{domain.encode('idna').decode('ascii')}" if domain else address
    except UnicodeError as exc:
        raise ComposeError(f"the address {address!r} has an invalid domain") from exc
    if _UNSAFE_IN_PATH.search(path) or not path.isascii():
        raise ComposeError(f"{address!r} cannot be an SMTP path")
    return path.encode("ascii")


class SmtpTransport:
    """One message on a session of its own."""

    def __init__(self, options: SmtpOptions) -> None:
        self.options = options

    def deliver(self, sender: str, recipient: str, message: bytes, name: str) -> Outcome:
        return asyncio.run(self._send(sender, recipient, message))

    async def _send(self, sender: str, recipient: str, message: bytes) -> Outcome:
        options = self.options
        try:
            session = await SmtpSession.open(options)
        except CONNECT_ERRORS as exc:
            raise DeliveryError(
                f"cannot send through {options.relay}: {exc}",
                hint="check [smtp] host, port and security, and that the relay is running",
            ) from exc
        attempt = await session.send(sender, recipient, message)
        await session.close()
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
