"""The event loop that sending runs on (I/O): uvloop's (libuv), for every command that sends.

Measured with ``bench/send.py`` and an in-process profile of the delivery sweep: uvloop takes
about a tenth off the CPU a message costs (the event loop's own share: callbacks, timers and
the socket writes), at no cost elsewhere. Everything the sender does with the loop is plain
asyncio (transports, protocols, ``call_at``, signal handlers), so the default loop would run
it too; :func:`run` is the one place that chooses.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

import uvloop

T = TypeVar("T")


def run(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(main)`` on a uvloop event loop."""
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)
