"""The outbox's rules: what each SMTP outcome means, and when to try again."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from newsletter.delivery.rules import Attempt, RetryPolicy, Verdict, classify, is_bounce


@pytest.mark.parametrize(
    ("code", "verdict", "bounce"),
    [(250, Verdict.SENT, False), (421, Verdict.RETRY, False), (450, Verdict.RETRY, False),
     (451, Verdict.RETRY, False), (452, Verdict.RETRY, False), (552, Verdict.RETRY, False),
     (550, Verdict.FAILED, True), (553, Verdict.FAILED, True), (554, Verdict.FAILED, True),
     (None, Verdict.RETRY, False)],
)
def test_classification(code: int | None, verdict: Verdict, bounce: bool) -> None:
    attempt = Attempt(code, "text")
    assert classify(attempt) is verdict
    assert is_bounce(attempt) is bounce


def test_backoff_grows_with_jitter_and_stops() -> None:
    policy = RetryPolicy(max_attempts=5, base=timedelta(minutes=1), cap=timedelta(minutes=10))
    now = datetime(2026, 1, 1, tzinfo=UTC)
    rng = random.Random(1)
    delays = []
    for attempts in range(1, 5):
        when = policy.next_attempt(attempts, now, rng)
        assert when is not None
        delays.append((when - now).total_seconds())
    ceilings = [60, 120, 240, 480]
    assert all(c / 2 <= d <= c for d, c in zip(delays, ceilings, strict=True))
    assert policy.next_attempt(5, now, rng) is None
    capped = RetryPolicy(max_attempts=50, cap=timedelta(minutes=10)).next_attempt(30, now, rng)
    assert capped is not None
    assert capped - now <= timedelta(minutes=10)
