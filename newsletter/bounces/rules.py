"""What a returned message does to its reader (pure).

Each reader has a bounce score that decays by half every ``half_life_days``:

* a permanent failure (5.x.x) of the address itself ("user unknown": 5.1.1, 5.1.2, 5.1.3,
  5.1.6, 5.1.10, 5.2.1, or a diagnostic that says so) stops the reader at once: ``bounced``,
  for good (:attr:`Outcome.DISABLED`);
* any other permanent failure (a policy refusal, a message too large, 5.0.0 without a reason)
  adds 1 to the score; at ``threshold`` the reader is ``bounced`` for ``suppress_days`` (a
  soft suppression, which expires) (:attr:`Outcome.SUPPRESSED`), below it only the score
  moves (:attr:`Outcome.SCORED`);
* a temporary failure (4.x.x, a mailbox full, a delay) adds ``temporary_weight`` and never
  stops a reader by itself: it only brings a later permanent failure nearer the threshold;
* a complaint (an ARF report of abuse or fraud) ends the reader's membership of the list the
  message came from, or with ``complaint = "all"`` every list (:attr:`Outcome.UNSUBSCRIBED`);
* an auto-reply, a report of successful delivery or a complaint marked not-spam changes
  nothing (:attr:`Outcome.IGNORED`).

Refusals the relay gives while the message is sent go through the same rules.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


class Kind(StrEnum):
    """What a returned message is."""

    PERMANENT = "permanent"  # a permanent failure (5.x.x)
    TEMPORARY = "temporary"  # a delay or temporary failure (4.x.x)
    COMPLAINT = "complaint"  # an abuse report (ARF, RFC 5965)
    AUTO_REPLY = "auto-reply"  # out of office, vacation (RFC 3834)
    DELIVERED = "delivered"  # a delivery status notification of success
    NOT_SPAM = "not-spam"  # a feedback report that the message is wanted
    UNKNOWN = "unknown"  # not understood: kept for a person to look at


class Outcome(StrEnum):
    """What reading it did."""

    DISABLED = "disabled"  # the reader is bounced for good
    SUPPRESSED = "suppressed"  # the reader is bounced until a date (score at the threshold)
    SCORED = "scored"  # the reader's score went up
    UNSUBSCRIBED = "unsubscribed"  # a complaint ended a membership (or all of them)
    IGNORED = "ignored"  # nothing to do (auto-reply, success, not-spam)
    STOPPED = "already stopped"  # the reader was no longer sent to: nothing changed
    UNMATCHED = "unmatched"  # no message of ours: forged, a bad or old token, or none
    UNRECOGNISED = "unrecognised"  # ours, but not understood: for a person to look at


UNMATCHED_OUTCOMES = (Outcome.UNMATCHED, Outcome.UNRECOGNISED)

# Statuses that say the address itself does not exist or takes no mail (RFC 3463).
HARD_STATUSES = frozenset({"5.1.1", "5.1.2", "5.1.3", "5.1.6", "5.1.10", "5.2.1"})
_HARD_WORDS = re.compile(
    r"user unknown|unknown user|no such (user|mailbox|recipient|account)|"
    r"(mailbox|account|address|user) (does not|doesn't) exist|"
    r"(recipient|user|mailbox|address) (not found|unknown)|invalid (recipient|mailbox)|"
    r"mailbox (is )?(disabled|deleted)|account (is )?(disabled|deleted)|"
    r"нет такого (пользователя|адреса|ящика)|не существует|"
    r"пайдаланушы (табылмады|жоқ)",
    re.IGNORECASE)
STATUS_CODE = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d.])")


def status_in(text: str) -> str | None:
    """The first enhanced status code (RFC 3463: ``5.1.1``) in ``text``."""
    match = STATUS_CODE.search(text)
    return ".".join(match.groups()) if match else None


def is_hard(status: str | None, diagnostic: str) -> bool:
    """Whether a permanent failure says the address itself is dead."""
    if status in HARD_STATUSES:
        return True
    return bool(_HARD_WORDS.search(diagnostic))


@dataclass(frozen=True)
class BounceRules:
    threshold: float = 3.0  # score at which permanent failures stop a reader
    temporary_weight: float = 0.5
    half_life_days: float = 7.0
    suppress_days: float = 30.0  # a soft suppression's length; 0: until reactivated
    complaint_all: bool = False  # a complaint ends every membership, not only the list's


@dataclass(frozen=True)
class Standing:
    """A reader as the rules see them."""

    active: bool
    score: float = 0.0
    scored_at: datetime | None = None


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    score: float | None = None  # the new score (None: unchanged)
    stop: bool = False  # mark the reader bounced
    until: datetime | None = None  # a soft suppression's end
    unsubscribe: str = ""  # "list" or "all": a complaint's reach
    returned: str = ""  # what the outbox row records: bounced or complained


def decayed(score: float, since: datetime | None, now: datetime, half_life_days: float) -> float:
    """``score`` as it stands at ``now``, having halved every ``half_life_days`` since."""
    if since is None or score <= 0 or now <= since:
        return max(score, 0.0)
    days = (now - since).total_seconds() / 86_400
    return score * math.pow(0.5, days / half_life_days)


def decide(kind: Kind, status: str | None, diagnostic: str, standing: Standing,
           rules: BounceRules, now: datetime) -> Decision:
    """What a returned message of ``kind`` does to a reader of ``standing``."""
    if kind is Kind.COMPLAINT:
        return Decision(Outcome.UNSUBSCRIBED, unsubscribe="all" if rules.complaint_all
                        else "list", returned="complained")
    if kind in (Kind.AUTO_REPLY, Kind.DELIVERED, Kind.NOT_SPAM):
        return Decision(Outcome.IGNORED)
    if kind is Kind.UNKNOWN:
        return Decision(Outcome.UNRECOGNISED)
    returned = "bounced" if kind is Kind.PERMANENT else ""
    if not standing.active:
        return Decision(Outcome.STOPPED, returned=returned)
    score = decayed(standing.score, standing.scored_at, now, rules.half_life_days)
    if kind is Kind.TEMPORARY:
        return Decision(Outcome.SCORED, score=score + rules.temporary_weight)
    if is_hard(status, diagnostic):
        return Decision(Outcome.DISABLED, score=score + 1, stop=True, returned=returned)
    score += 1
    if score >= rules.threshold - 1e-9:
        until = now + timedelta(days=rules.suppress_days) if rules.suppress_days else None
        return Decision(Outcome.SUPPRESSED, score=score, stop=True, until=until,
                        returned=returned)
    return Decision(Outcome.SCORED, score=score, returned=returned)
