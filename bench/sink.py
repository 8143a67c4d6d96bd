"""A discarding SMTP sink (aiosmtpd) in its own process on 127.0.0.1, for the benchmarks."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

_SINK = """
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


@contextmanager
def discarding_sink() -> Iterator[int]:
    """Start the sink; yield its port; stop it."""
    sink = subprocess.Popen([sys.executable, "-c", _SINK], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert sink.stdout is not None
        yield int(sink.stdout.readline())
    finally:
        assert sink.stdin is not None
        sink.stdin.close()
        sink.wait(timeout=30)
