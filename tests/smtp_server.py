"""A real SMTP server on 127.0.0.1 (aiosmtpd) that keeps what it receives, for tests."""

from __future__ import annotations

import asyncio
import random
import re
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP


@dataclass
class Received:
    sender: str
    recipients: list[str]
    data: bytes
    mail_options: list[str] = field(default_factory=list)
    peer: tuple[str, int] | None = None  # the client's address and port: its connection


@dataclass
class Sink:
    """Accepts every message, unless a fault is planned for the recipient.

    ``faults`` maps an address to what happens on its successive attempts: an SMTP reply for
    RCPT (``"451 4.3.0 try later"``), ``"DATA:552 …"`` for a reply to the data, ``"drop"`` to
    close the connection after receiving the data without answering, ``"stall"`` to answer
    only after ``stall_seconds``; ``None`` accepts. Past the end of the list, attempts succeed.
    """

    messages: list[Received] = field(default_factory=list)
    pipelining: bool = False  # offer PIPELINING (RFC 2920), as Postfix does
    faults: dict[str, list[str | None]] = field(default_factory=dict)
    stall_seconds: float = 5.0
    data_delay: float = 0.0  # every reply to the data waits this long (a slow relay)
    attempts: dict[str, int] = field(default_factory=dict)
    arrivals: list[float] = field(default_factory=list)  # monotonic time of each accepted one
    connections: int = 0  # open now: 0 once every client's data, even a killed one's, is read

    def _fault(self, address: str) -> str | None:
        plan = self.faults.get(address, [])
        index = self.attempts.get(address, 0)
        return plan[index] if index < len(plan) else None

    async def handle_EHLO(self, server: Any, session: Any, envelope: Any, hostname: str,
                          responses: list[str]) -> list[str]:
        session.host_name = hostname
        if self.pipelining:  # aiosmtpd reads commands one by one, so it pipelines as it is
            responses.insert(-1, "250-PIPELINING")
        return responses

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          rcpt_options: list[str]) -> str:
        fault = self._fault(address)
        if fault and fault[:1].isdigit():
            self.attempts[address] = self.attempts.get(address, 0) + 1
            return fault
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        address = envelope.rcpt_tos[0]
        fault = self._fault(address)
        self.attempts[address] = self.attempts.get(address, 0) + 1
        data = envelope.original_content or envelope.content
        if fault == "drop":
            self.messages.append(_received(envelope, data, session))
            server.transport.close()
            return "250 never seen"
        if fault == "stall":
            self.messages.append(_received(envelope, data, session))
            await asyncio.sleep(self.stall_seconds)
            return "250 too late"
        if fault and fault.startswith("DATA:"):
            return fault[5:]
        if self.data_delay:
            await asyncio.sleep(self.data_delay)
        self.messages.append(_received(envelope, data, session))
        self.arrivals.append(time.monotonic())
        return "250 Message accepted"

    def message_ids(self) -> list[str]:
        found = []
        for message in self.messages:
            match = re.search(rb"^Message-ID: <([^>]+)>", message.data, re.MULTILINE)
            if match:
                found.append(match.group(1).decode())
        return found


class _CountingSMTP(SMTP):
    """aiosmtpd's server, counting the sink's open connections (a connection is closed only
    after all the data its client sent was handled)."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.event_handler.connections += 1
        super().connection_made(transport)

    def connection_lost(self, error: Exception | None) -> None:
        super().connection_lost(error)
        self.event_handler.connections -= 1


class _Controller(Controller):
    def factory(self) -> SMTP:
        return _CountingSMTP(self.handler, **self.SMTP_kwargs)


def _received(envelope: Any, data: bytes, session: Any) -> Received:
    return Received(envelope.mail_from, list(envelope.rcpt_tos), data,
                    list(envelope.mail_options), tuple(session.peer))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def smtp_sink() -> Iterator[tuple[Sink, int]]:
    """A running sink and its port."""
    sink = Sink()
    port = free_port()
    controller = _Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield sink, port
    finally:
        controller.stop()


def plan_faults(addresses: list[str], rng: random.Random, *, temporary: int,
                permanent: int) -> tuple[dict[str, list[str | None]], set[str]]:
    """A relay's faults for a kill test: ``temporary`` addresses get one to three temporary
    refusals, dropped connections or nothing; ``permanent`` others are refused (550) on every
    attempt, so they end failed whatever a kill interrupts."""
    faults: dict[str, list[str | None]] = {}
    for address in rng.sample(addresses, temporary):
        faults[address] = [rng.choice(["451 4.3.0 try later", "421 4.3.2 closing",
                                       "DATA:452 4.3.1 no room", "drop", None])
                           for _ in range(rng.randint(1, 3))]
    refused = set(rng.sample([a for a in addresses if a not in faults], permanent))
    for address in refused:
        faults[address] = ["550 5.1.1 no such user"] * 50
    return faults, refused
