"""What every transport promises: one message at a time, its outcome as a value (pure).

A transport raises only for faults of the transport itself (cannot connect, cannot write), as
:class:`newsletter.errors.DeliveryError`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Outcome:
    """What happened to one message."""

    accepted: bool
    code: int | None = None
    text: str = ""


class Transport(Protocol):
    def deliver(self, sender: str, recipient: str, message: bytes, name: str) -> Outcome: ...
