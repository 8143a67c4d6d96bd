"""Discarding SMTP sinks on 127.0.0.1 for the benchmarks, each in its own process: Postfix's
``smtp-sink`` (C; Debian package ``postfix``), the one the delivery figures are quoted
against, or aiosmtpd (Python) where it is not installed, or any sink already running
(``--sink HOST:PORT``)."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

_AIOSMTPD = """
import socket, sys
from aiosmtpd.controller import Controller
class Discard:
    async def handle_DATA(self, server, session, envelope):
        return "250 OK"
sock = socket.socket(); sock.bind(("127.0.0.1", 0)); port = sock.getsockname()[1]; sock.close()
controller = Controller(Discard(), hostname="127.0.0.1", port=port)
controller.start()
print(port, flush=True)
sys.stdin.read()
controller.stop()
"""
SMTP_SINK = "smtp-sink"


def smtp_sink_path() -> str | None:
    """Postfix's smtp-sink, if installed (it lives in /usr/sbin, often not on PATH)."""
    return shutil.which(SMTP_SINK) or shutil.which(SMTP_SINK, path="/usr/sbin:/usr/local/sbin")


@contextmanager
def sink(kind: str) -> Iterator[tuple[str, int, str]]:
    """A running sink: ``smtp-sink``, ``aiosmtpd``, ``auto`` (smtp-sink when installed) or
    ``HOST:PORT`` of one already running. Yields (host, port, what it is)."""
    if kind == "auto":
        kind = SMTP_SINK if smtp_sink_path() else "aiosmtpd"
    if kind == SMTP_SINK:
        with postfix_sink() as port:
            yield "127.0.0.1", port, "Postfix smtp-sink (C), its own process, 127.0.0.1"
    elif kind == "aiosmtpd":
        with discarding_sink() as port:
            yield "127.0.0.1", port, "aiosmtpd (Python), its own process, 127.0.0.1"
    else:
        host, _, number = kind.rpartition(":")
        yield host or "127.0.0.1", int(number), f"the sink at {kind}"


@contextmanager
def postfix_sink() -> Iterator[int]:
    """Postfix's smtp-sink on a free port, accepting and discarding everything (it offers
    PIPELINING and 8BITMIME, as Postfix does); stopped on leaving."""
    path = smtp_sink_path()
    if path is None:
        raise SystemExit("smtp-sink is not installed: apt-get install postfix (or pass "
                         "--sink aiosmtpd)")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    command = [path]
    if os.getuid() == 0:  # it will not run as root: it drops to an unprivileged user
        for user in ("postfix", "nobody"):
            try:
                pwd.getpwnam(user)
            except KeyError:
                continue
            command += ["-u", user]
            break
    process = subprocess.Popen([*command, f"127.0.0.1:{port}", "1024"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    assert process.stderr is not None
                    raise SystemExit(f"smtp-sink did not start: "
                                     f"{process.stderr.read().decode(errors='replace')}") from None
                time.sleep(0.05)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)


@contextmanager
def discarding_sink() -> Iterator[int]:
    """aiosmtpd, accepting and discarding; yields its port."""
    process = subprocess.Popen([sys.executable, "-c", _AIOSMTPD], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        yield int(process.stdout.readline())
    finally:
        assert process.stdin is not None
        process.stdin.close()
        process.wait(timeout=30)
