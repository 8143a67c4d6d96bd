"""The SMTP session on a made-up connection: a message's parts go to the transport as the
template laid them out (already dot-stuffed, not joined), replies are read however they are
cut, and one watchdog timer stands for every read's timeout."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable

from newsletter.delivery.rules import Attempt
from newsletter.delivery.smtp import SmtpSession
from newsletter.mail.content import Content, Layout, stuffed

Answer = Callable[[bytes], list[bytes]]  # what the relay says to what was written, in chunks


class _Relay(asyncio.Transport):
    """A connection whose far end answers each write with ``answer``, after ``delay``."""

    def __init__(self, answer: Answer, delay: float = 0.0) -> None:
        super().__init__()
        self.answer = answer
        self.delay = delay
        self.protocol: asyncio.BaseProtocol | None = None
        self.writes: list[bytes] = []
        self.lines: list[list[bytes]] = []
        self.closed = False

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self.protocol = protocol

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.writes.append(bytes(data))
        self._reply(bytes(data))

    def writelines(self, list_of_data: Iterable[bytes | bytearray | memoryview]) -> None:
        parts = [bytes(part) if not isinstance(part, bytes) else part for part in list_of_data]
        self.lines.append(parts)
        self._reply(b"".join(parts))

    def _reply(self, data: bytes) -> None:
        loop = asyncio.get_running_loop()
        assert isinstance(self.protocol, asyncio.Protocol)
        for chunk in self.answer(data):
            loop.call_later(self.delay, self.protocol.data_received, chunk)

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True


def _postfix(data: bytes) -> list[bytes]:
    """A relay with PIPELINING: three replies to the commands, one to the content."""
    if data.startswith(b"MAIL FROM:"):
        return [b"250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n"]
    if data.endswith(b"\r\n.\r\n"):
        return [b"250 2.0.0 Ok: queued\r\n"]
    return []


def _session(relay: _Relay, timeout: float = 5.0) -> SmtpSession:
    return SmtpSession(relay, pipelining=True, eight_bit=True, timeout=timeout)


LAYOUT = Layout([b"From: a@example.org\r\nTo: ", "to",
                 b"\r\n\r\n" + ("Паводки в Актюбинской области.\r\n" * 500).encode(),
                 b".hidden\r\n", "greeting", b"\r\n"])


def _content(name: str = "Ева") -> Content:
    return LAYOUT.fill({"to": f"{name} <e@example.org>".encode(),
                        "greeting": f".{name}".encode()})


def test_the_smtp_session_writes_the_message_parts_as_they_are() -> None:
    relay = _Relay(_postfix)
    content = _content()

    async def run() -> Attempt:
        return await _session(relay).send("updates@example.org", "e@example.org", content)

    assert asyncio.run(run()) == Attempt(250, "2.0.0 Ok: queued")
    assert relay.writes == [b"MAIL FROM:<updates@example.org> BODY=8BITMIME\r\n"
                            b"RCPT TO:<e@example.org>\r\nDATA\r\n"]
    [lines] = relay.lines
    assert lines == list(content.data)
    # The body, stuffed once for every reader: never copied per message.
    assert max(lines, key=len) is max(_content("Айгүл").data, key=len)
    assert b"".join(lines) == stuffed(bytes(content))
    assert b"\r\n..hidden\r\n..\xd0\x95\xd0\xb2\xd0\xb0\r\n.\r\n" in b"".join(lines)


def test_a_message_given_as_bytes_is_stuffed_whole() -> None:
    relay = _Relay(_postfix)
    message = b"Subject: x\r\n\r\n.one\r\nno end"

    async def run() -> list[Attempt]:
        session = _session(relay)
        return [await session.send("a@example.org", to, message)
                for to in ("b@example.org", "c@example.org")]

    assert [a.code for a in asyncio.run(run())] == [250, 250]
    assert relay.lines == [[stuffed(message)]] * 2
    assert stuffed(message) == b"Subject: x\r\n\r\n..one\r\nno end\r\n.\r\n"


def test_replies_cut_anywhere_are_read_whole() -> None:
    def cut(data: bytes) -> list[bytes]:
        if data.startswith(b"MAIL"):
            return [b"250-first line\r\n25", b"0-sec", b"ond\r\n250 last\r\n250 Ok\r",
                    b"\n354 go\r\n"]
        return [b"250 queued", b" as A1\r\n"]

    async def run() -> list[Attempt]:
        session = _session(_Relay(cut))
        return [await session.send("a@example.org", "b@example.org", _content())
                for _ in range(2)]

    assert asyncio.run(run()) == [Attempt(250, "queued as A1")] * 2


def test_a_relay_that_stops_answering_times_out_but_a_slow_one_does_not() -> None:
    silent = _Relay(lambda data: _postfix(data) if data.startswith(b"MAIL") else [])
    slow = _Relay(_postfix, delay=0.04)

    async def run() -> tuple[Attempt, list[Attempt], bool]:
        stuck = _session(silent, timeout=0.1)
        lost = await stuck.send("a@example.org", "b@example.org", _content())
        session = _session(slow, timeout=0.15)  # each reply well within, all of them not
        sent = [await session.send("a@example.org", "b@example.org", _content())
                for _ in range(4)]
        return lost, sent, session.is_open

    lost, sent, still_open = asyncio.run(run())
    assert lost == Attempt(None, "TimeoutError: no reply from the relay within 0.1 s",
                           during_data=True)
    assert silent.closed
    assert [a.code for a in sent] == [250] * 4
    assert still_open
