"""Processes a test starts, always ended by the test, whatever its outcome.

:func:`started` runs a command in a session of its own (so that the processes it forks, such
as `deliver --processes 2`'s senders, can be ended with it) and, when the ``with`` block
ends, stops what is still running: SIGTERM, then SIGKILL to the whole group. The
integration suite also checks after every test that no child of the test run is left
(:func:`children`).
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def started(args: Sequence[str], **options: Any) -> Iterator[subprocess.Popen[Any]]:
    """``subprocess.Popen(args, **options)`` in a new session, ended when the block ends."""
    process: subprocess.Popen[Any] = subprocess.Popen(list(args), start_new_session=True,
                                                      **options)
    try:
        yield process
    finally:
        end(process)


def end(process: subprocess.Popen[Any], grace: float = 20) -> None:
    """Stop ``process`` and every process of its session, and close its pipes."""
    stop(process, grace)
    for stream in (process.stdin, process.stdout, process.stderr):
        if stream is not None:
            stream.close()


def stop(process: subprocess.Popen[Any], grace: float = 20) -> None:
    """SIGTERM to ``process``'s session, SIGKILL to what is left after ``grace`` seconds."""
    if process.poll() is None:
        _signal_group(process, signal.SIGTERM)
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            pass
    _signal_group(process, signal.SIGKILL)  # whatever it forked and left behind
    if process.poll() is None:
        process.wait(timeout=grace)


def _signal_group(process: subprocess.Popen[Any], number: int) -> None:
    try:
        os.killpg(process.pid, number)
    except (ProcessLookupError, PermissionError):
        pass


def children(pid: int | None = None) -> list[int]:
    """The live child processes of ``pid`` (this process by default), from /proc."""
    pid = os.getpid() if pid is None else pid
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(child) for child in (task / "children").read_text().split()]
        except OSError:
            continue
    return [child for child in found if _alive(child)]


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"
