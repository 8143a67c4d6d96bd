"""The SMTP session against real servers on 127.0.0.1: aiosmtpd with and without PIPELINING,
and a raw server that answers nonsense."""

from __future__ import annotations

import asyncio
import socketserver
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from newsletter.delivery.rules import Attempt, Verdict, classify
from newsletter.delivery.smtp import SmtpOptions, SmtpSession
from newsletter.errors import ComposeError
from tests.smtp_server import smtp_sink

RELAYS = pytest.mark.parametrize("pipelining", [False, True], ids=["lockstep", "pipelining"])
SENDER = "updates@example.org"


def _message(name: str, body: str) -> bytes:
    return (f"From: {SENDER}\r\nTo: {name}\r\nSubject: =?utf-8?b?0J/QsNCy0L7QtNC60Lg=?=\r\n"
            f"Message-ID: <{name}>\r\n\r\n{body}").encode()


def _send_all(port: int, messages: list[tuple[str, bytes]]) -> tuple[list[Attempt], bool]:
    """Send ``messages`` (recipient, bytes) on one session; the attempts, and whether the
    session is still open at the end."""
    async def run() -> tuple[list[Attempt], bool]:
        session = await SmtpSession.open(SmtpOptions("127.0.0.1", port, "none", "", "", 5))
        try:
            attempts = [await session.send(SENDER, to, data) for to, data in messages]
            return attempts, session.is_open
        finally:
            await session.close()

    return asyncio.run(run())


@RELAYS
def test_the_content_arrives_as_written_with_its_dots_and_cyrillic(pipelining: bool) -> None:
    body = ("Паводки в Актюбинской области.\r\n.\r\n.hidden line\r\n..two dots\r\n"
            "Қазақстандағы су тасқыны\r\n")
    data = _message("kk@example.org", body)
    with smtp_sink() as (sink, port):
        sink.pipelining = pipelining
        attempts, still_open = _send_all(port, [("kk@example.org", data)])
    assert [a.code for a in attempts] == [250]
    assert still_open
    (received,) = sink.messages
    assert received.data.replace(b"\r\n", b"\n") == data.replace(b"\r\n", b"\n")
    assert received.mail_options == ["BODY=8BITMIME"]  # aiosmtpd offers 8BITMIME


@RELAYS
def test_refusals_in_the_middle_of_a_session_keep_the_replies_in_step(pipelining: bool) -> None:
    """A refused recipient, a refused DATA and a refused sender do not shift the replies
    that follow: each message gets its own outcome, on the same connection."""
    plan: list[tuple[str, str | None]] = [
        ("one@example.org", None), ("nouser@example.org", "550 5.1.1 no such user"),
        ("two@example.org", None), ("full@example.org", "DATA:452 4.2.2 over quota"),
        ("three@example.org", None), ("later@example.org", "451 4.3.0 try later"),
        ("four@example.org", None)]
    with smtp_sink() as (sink, port):
        sink.pipelining = pipelining
        sink.faults.update({to: [fault] for to, fault in plan if fault})
        attempts, still_open = _send_all(port, [(to, _message(to, f"for {to}\r\n"))
                                                for to, _ in plan])
    assert [a.code for a in attempts] == [250, 550, 250, 452, 250, 451, 250]
    assert [classify(a) for a in attempts[1::2]] == [Verdict.FAILED, Verdict.RETRY,
                                                     Verdict.RETRY]
    assert still_open
    assert [(m.recipients, m.data.decode().split("\r\n\r\n")[1]) for m in sink.messages] == [
        ([to], f"for {to}\r\n") for to in ("one@example.org", "two@example.org",
                                           "three@example.org", "four@example.org")]


@RELAYS
def test_a_relay_that_closes_with_421_ends_the_session(pipelining: bool) -> None:
    with smtp_sink() as (sink, port):
        sink.pipelining = pipelining
        sink.faults["busy@example.org"] = ["421 4.3.2 closing"]
        attempts, still_open = _send_all(port, [("busy@example.org", _message("b", "x\r\n"))])
    assert [(a.code, classify(a)) for a in attempts] == [(421, Verdict.RETRY)]
    assert not still_open


@RELAYS
def test_bare_line_feeds_are_sent_as_crlf(pipelining: bool) -> None:
    with smtp_sink() as (sink, port):
        sink.pipelining = pipelining
        _send_all(port, [("lf@example.org", b"Subject: lf\n\nline one\nline two\r\nthree")])
    assert sink.messages[0].data == b"Subject: lf\r\n\r\nline one\r\nline two\r\nthree\r\n"


def test_an_address_that_could_inject_a_command_is_refused_before_anything_is_sent() -> None:
    with smtp_sink() as (sink, port), pytest.raises(ComposeError):
        _send_all(port, [("a@example.org>\r\nRCPT TO:<b@example.org", b"x\r\n")])
    assert sink.messages == []


@contextmanager
def _nonsense_relay(reply: bytes) -> Iterator[int]:
    """A server that greets and takes EHLO properly, then answers ``reply`` to anything."""
    class Handler(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            self.wfile.write(b"220 nonsense ESMTP\r\n")
            for line in self.rfile:
                if line.upper().startswith(b"EHLO"):
                    self.wfile.write(b"250-nonsense\r\n250 PIPELINING\r\n")
                else:
                    self.wfile.write(reply)

    with socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler) as server:
        server.daemon_threads = True
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield int(server.server_address[1])
        finally:
            server.shutdown()
            thread.join(5)


def test_a_reply_that_is_not_smtp_is_a_lost_connection_to_retry() -> None:
    with _nonsense_relay(b"HTTP/1.1 400 Bad Request\r\n") as port:
        attempts, still_open = _send_all(port, [("a@example.org", b"x\r\n")])
    assert [(a.code, a.during_data, classify(a)) for a in attempts] == [
        (None, False, Verdict.RETRY)]
    assert "not SMTP" in attempts[0].text
    assert not still_open


def test_sink_offers_pipelining_only_when_asked() -> None:
    """The test relay's switch itself: aiosmtpd reads pipelined commands one by one, and
    says PIPELINING only when a test asks it to."""
    async def offered(port: int) -> bool:
        session = await SmtpSession.open(SmtpOptions("127.0.0.1", port, "none", "", "", 5))
        await session.close()
        return session.pipelining

    for wanted in (False, True):
        with smtp_sink() as (sink, port):
            sink.pipelining = wanted
            assert asyncio.run(offered(port)) is wanted


def test_a_reply_nobody_asked_for_puts_the_session_out_of_step() -> None:
    """A relay that says something between messages (an idle timeout's 421, say) leaves a
    reply that would be taken for the next command's: the session is then not open."""
    with _nonsense_relay(b"250 ok\r\n") as port:
        async def run() -> tuple[bool, bool]:
            session = await SmtpSession.open(SmtpOptions("127.0.0.1", port, "none", "", "", 5))
            try:
                before = session.is_open
                session.transport.write(b"NOOP\r\n")  # its reply arrives unasked for
                await asyncio.sleep(0.2)
                return before, session.is_open
            finally:
                session.abort()

        assert asyncio.run(run()) == (True, False)
