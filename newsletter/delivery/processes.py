"""Several sending processes on one machine: `newsletter deliver --processes N` (I/O).

Each sweep runs in a process of its own, forked with no database connection open and opening
its own, and claims through the same fenced leases as any other sender, so N processes share
the outbox as N machines would. SIGTERM or SIGINT to the parent reaches every child: the
messages in flight finish. Each child's figures are shared as it sends, for a progress bar.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
from collections.abc import Callable
from typing import Any

from newsletter.delivery import loop as event_loop
from newsletter.delivery.sender import DeliveryRun, Sender
from newsletter.errors import DeliveryError, NewsletterError
from newsletter.store import Store

FIGURES = ("done", "sent", "retried", "failed")  # each process's figures, as it sends


def stop_on_signals() -> asyncio.Event:
    """An event set by SIGTERM or SIGINT (call inside the running loop)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    return stop


async def sweep_until_signalled(sender: Sender) -> DeliveryRun:
    """One sweep of ``sender``, stopped cleanly by SIGTERM or SIGINT."""
    return await sender.sweep(stop_on_signals()) or DeliveryRun()


def sweep_in_processes(open_store: Callable[[], Store], make_sender: Callable[[Store], Sender],
                       processes: int, *,
                       watch: Callable[[dict[str, int]], None] | None = None) -> DeliveryRun:
    """``processes`` sweeps at once, each in a forked process with a store of its own and the
    sender ``make_sender`` builds on it; ``watch`` is told the summed figures (messages done,
    sent, retried, failed) about ten times a second. A child that fails is a
    :class:`DeliveryError` once all have ended (what it held is taken up again when its
    leases run out)."""
    context = multiprocessing.get_context("fork")
    shared = context.Array("q", len(FIGURES) * processes, lock=False)
    results: multiprocessing.SimpleQueue[tuple[DeliveryRun | None, str]] = context.SimpleQueue()
    children = [context.Process(target=_child, name=f"deliver-{slot}",
                                args=(open_store, make_sender, shared, slot, results))
                for slot in range(processes)]
    for child in children:
        child.start()

    def tell_children(signum: int, _: object) -> None:
        for child in children:
            if child.pid is not None and child.exitcode is None:
                os.kill(child.pid, signum)

    forward = {signum: signal.signal(signum, tell_children)
               for signum in (signal.SIGTERM, signal.SIGINT)}
    try:
        while any(child.is_alive() for child in children):
            for child in children:
                child.join(timeout=0.1 / processes)
            if watch is not None:
                watch(_totals(shared, processes))
        if watch is not None:
            watch(_totals(shared, processes))
        outcomes = [results.get() for _ in children]
    finally:
        for signum, handler in forward.items():
            signal.signal(signum, handler)
        for child in children:
            child.join()
    total = DeliveryRun()
    errors = [error for run, error in outcomes if run is None]
    for run, _ in outcomes:
        if run is not None:
            total.add(run)
    if errors:
        raise DeliveryError(f"{len(errors)} of {processes} sending processes failed: "
                            f"{errors[0]} ({total.sent} message(s) sent)",
                            hint="the messages they held are taken up again once their "
                                 "leases run out: run `newsletter deliver` again")
    return total


def _totals(shared: Any, processes: int) -> dict[str, int]:
    return {name: sum(shared[slot * len(FIGURES) + index] for slot in range(processes))
            for index, name in enumerate(FIGURES)}


def _child(open_store: Callable[[], Store], make_sender: Callable[[Store], Sender],
           shared: Any, slot: int,
           results: multiprocessing.SimpleQueue[tuple[DeliveryRun | None, str]]) -> None:
    """One of :func:`sweep_in_processes`'s sweeps; its figures go to ``shared`` as it sends,
    and its result (or what stopped it) to ``results``."""
    base = slot * len(FIGURES)
    done = 0

    def tell(run: DeliveryRun) -> None:
        nonlocal done
        done += 1
        shared[base:base + len(FIGURES)] = [done, run.sent, run.retried, run.failed]

    try:
        with open_store() as store:
            sender = make_sender(store)
            sender.on_message = tell
            run = event_loop.run(sweep_until_signalled(sender))
    except NewsletterError as exc:
        results.put((None, exc.message))
    except BaseException as exc:  # reported by the parent, which exits 1
        results.put((None, f"{type(exc).__name__}: {exc}"))
    else:
        results.put((run, ""))
