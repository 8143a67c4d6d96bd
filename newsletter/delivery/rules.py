"""The outbox's rules: what an SMTP outcome means for a message, and when to try again (pure).

Every message of an issue has one outbox row, created before anything is sent, with a fixed
Message-ID. Its states::

    pending ──claim──▶ sending ──DATA──▶ transmitting ──250──▶ sent
       ▲  │               │                    │
       │  │               └─ 4xx, 552, drop ───┴──▶ retry (at T) ──▶ … ──▶ failed
       │  └─ the address is no longer active in the list ──▶ skipped (with the reason)
       └── recovery: a claimed row never transmitted goes back to pending;
           a transmitting one (the outcome is unknown) is retried and marked ambiguous

A claim is a lease, and the lease is a fence: it names one sweep (a per-claim owner id),
runs out unless the sweep renews it, and every change of state is made only ``WHERE id = …
AND lease_owner = … AND state = …``. A write that touches nothing means the lease was lost to
recovery, and the message is not sent. Recovery takes over only rows whose lease ran out.

Classification follows RFC 5321 and Mailman's practice: 2xx delivered; 4xx temporary; 552
(mailbox full, often temporary) retried; any other 5xx permanent, and counted as a bounce.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


class State(StrEnum):
    PENDING = "pending"
    SENDING = "sending"  # claimed by a sender under a lease
    TRANSMITTING = "transmitting"  # the message data is on its way: the outcome may be lost
    SENT = "sent"
    RETRY = "retry"
    FAILED = "failed"
    SKIPPED = "skipped"  # not sent: the address left the list (or was suppressed) after queueing


class Verdict(StrEnum):
    SENT = "sent"
    RETRY = "retry"
    FAILED = "failed"


@dataclass(frozen=True)
class Attempt:
    """The outcome of one attempt, as a value."""

    code: int | None  # the SMTP reply code, None when the connection failed
    text: str
    during_data: bool = False  # the failure came after the data was sent: outcome unknown


def classify(attempt: Attempt) -> Verdict:
    """What an SMTP outcome means."""
    code = attempt.code
    if code is None:
        return Verdict.RETRY  # connection refused, dropped or timed out
    if 200 <= code < 300:
        return Verdict.SENT
    if 400 <= code < 500 or code == 552:
        return Verdict.RETRY
    return Verdict.FAILED


def is_bounce(attempt: Attempt) -> bool:
    """A permanent refusal of the address itself (counted towards ``bounced``)."""
    return attempt.code is not None and attempt.code >= 500 and attempt.code != 552


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 8
    base: timedelta = timedelta(minutes=1)
    cap: timedelta = timedelta(hours=6)

    def next_attempt(self, attempts: int, now: datetime, rng: random.Random) -> datetime | None:
        """When to try again after ``attempts`` failures (exponential, with full jitter), or
        None when the attempts are used up."""
        if attempts >= self.max_attempts:
            return None
        ceiling = min(self.cap, self.base * (2 ** (attempts - 1)))
        delay = timedelta(seconds=rng.uniform(0.5, 1.0) * ceiling.total_seconds())
        return now + delay
