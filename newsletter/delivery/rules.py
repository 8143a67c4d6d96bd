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


@dataclass(frozen=True)
class OutboxRow:
    """A message waiting to be sent, as a sender claims it."""

    id: int
    issue_id: int
    subscriber_id: int
    address: str
    name: str | None
    language: str
    message_id: str
    attempts: int
    format: str = "html"  # or "text": a single text/plain part
    wanted: str | None = None  # the reader's first language, when this goes in another


@dataclass(frozen=True)
class Change:
    """One fenced move of an outbox row from ``expected`` to ``state``, with what the relay
    said; written only if the sweep that makes it still holds the row's lease."""

    row_id: int
    expected: State
    state: State
    code: int | None = None
    text: str = ""
    next_attempt_at: datetime | None = None
    attempted: bool = False  # counts as an attempt
    ambiguous: bool = False  # the outcome is unknown: a duplicate is possible


@dataclass(frozen=True)
class QueuedMessage:
    """One message of an issue as it is queued: who gets it, in which language."""

    subscriber_id: int
    address: str
    name: str | None
    language: str
    message_id: str
    format: str = "html"  # or "text": a single text/plain part
    wanted: str | None = None  # the reader's first language, when this goes in another


@dataclass(frozen=True)
class Claimed:
    """What one claim took: the rows now leased, and how many due rows it skipped."""

    rows: list[OutboxRow]
    skipped: int


@dataclass(frozen=True)
class Requeued:
    """What ``newsletter retry`` did, and what it left alone."""

    made_due: int  # waiting to retry: due now
    requeued: int  # failed after temporary refusals: back in the queue
    permanent: int  # failed for good (5xx): left as they are
    inactive: int  # failed, to an address no longer active in the list: left


@dataclass(frozen=True)
class OutboxSummary:
    """The outbox at a moment: rows per state, what is due, what waits for a retry."""

    states: dict[str, int]
    due: int
    waiting: int
    ambiguous: int
    next_retry: datetime | None


@dataclass(frozen=True)
class OutboxEntry:
    """One outbox row, as ``newsletter outbox list`` shows it."""

    id: int
    issue_id: int
    list_name: str
    subscriber_id: int
    address: str
    language: str
    state: str
    attempts: int
    last_code: int | None
    last_text: str | None
    ambiguous: bool
    message_id: str
    next_attempt_at: datetime | None
    sent_at: datetime | None
    returned: str | None = None  # what came back later: bounced or complained


@dataclass(frozen=True)
class Recovered:
    """What one recovery sweep took over from owners whose lease ran out."""

    requeued: int  # claimed, never transmitted: pending again
    ambiguous: int  # the data was on its way: retried, and marked ambiguous


@dataclass(frozen=True)
class LastError:
    """The latest refusal of a message waiting to retry or failed, for ``status``."""

    address: str
    code: int | None
    text: str
