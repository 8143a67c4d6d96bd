"""Return paths, the rules of what comes back, and reading returned messages (pure)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from newsletter.bounces.parse import read_returned
from newsletter.bounces.rules import (
    BounceRules,
    Kind,
    Outcome,
    Standing,
    decayed,
    decide,
    is_hard,
    status_in,
)
from newsletter.bounces.verp import MAX_LOCAL, ReturnPath
from tests import bounce_mail

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
PATH = ReturnPath("bounces@news.test", ["current-secret-0123456789abcdef"])


# -- return paths ---------------------------------------------------------------------------


@given(st.integers(min_value=1, max_value=2**53))
def test_a_return_path_names_its_row_and_fits_a_local_part(outbox_id: int) -> None:
    address = PATH.address(outbox_id)
    local, _, domain = address.rpartition("@")
    assert domain == "news.test"
    assert len(local.encode()) <= MAX_LOCAL
    assert local == local.lower()
    [token] = PATH.tokens(f"Delivered-To: {address.upper()}")  # a server folded the case
    assert PATH.claim(token).outbox_id == outbox_id


def test_a_token_for_another_row_or_under_another_key_matches_nothing() -> None:
    token = PATH.tokens(PATH.address(41))[0]
    number, kid, mac = token.split("-")
    assert (number, PATH.claim(token).outbox_id) == ("15", 41)  # base 36
    assert PATH.claim(f"16-{kid}-{mac}").outbox_id is None  # 41's signature on row 42
    other = ReturnPath("bounces@news.test", ["someone-elses-key-0000000000000"])
    forged = other.tokens(other.address(41))[0]
    claim = PATH.claim(forged)
    assert claim.outbox_id is None
    assert "key this office does not have" in claim.problem
    assert PATH.claim("not-a-token").outbox_id is None
    assert PATH.claim("zz-abcdef").outbox_id is None


def test_a_retired_key_still_matches_while_it_is_listed() -> None:
    old = ReturnPath("bounces@news.test", ["old-key-00000000000000000000000"])
    token = old.tokens(old.address(7))[0]
    rotated = ReturnPath("bounces@news.test", ["new-key-11111111111111111111111",
                                               "old-key-00000000000000000000000"])
    assert rotated.claim(token).outbox_id == 7
    assert rotated.tokens(rotated.address(7))[0] != token  # new mail: the new key
    dropped = ReturnPath("bounces@news.test", ["new-key-11111111111111111111111"])
    assert dropped.claim(token).outbox_id is None


def test_tokens_are_found_only_at_the_return_path() -> None:
    address = PATH.address(9)
    assert PATH.tokens(f"x{address}") == []  # another local part that ends the same
    assert PATH.tokens(address.replace("news.test", "news.test.evil")) == []
    assert len(PATH.tokens(f"<{address}>, {PATH.address(10)}")) == 2


# -- the rules ------------------------------------------------------------------------------


@pytest.mark.parametrize(("status", "diagnostic", "hard"), [
    ("5.1.1", "", True), ("5.1.10", "null MX", True), ("5.2.1", "", True),
    ("5.7.1", "rejected by policy", False), ("5.0.0", "User unknown", True),
    ("5.0.0", "Нет такого пользователя", True), ("5.2.2", "mailbox full", False),
    (None, "", False),
])
def test_what_counts_as_a_dead_address(status: str | None, diagnostic: str, hard: bool) -> None:
    assert is_hard(status, diagnostic) is hard


def test_status_codes_are_found_in_text() -> None:
    assert status_in("550 5.1.1 <a@b>: User unknown") == "5.1.1"
    assert status_in("452 4.2.2 Mailbox full") == "4.2.2"
    assert status_in("version 1.2.3.4") is None


RULES = BounceRules(threshold=3, temporary_weight=0.5, half_life_days=7, suppress_days=30)
ACTIVE = Standing(True)


def test_a_user_unknown_stops_a_reader_at_once_for_good() -> None:
    decision = decide(Kind.PERMANENT, "5.1.1", "", ACTIVE, RULES, NOW)
    assert (decision.outcome, decision.stop, decision.until) == (Outcome.DISABLED, True, None)
    assert decision.returned == "bounced"


def test_other_permanent_failures_stop_a_reader_at_the_threshold_for_a_while() -> None:
    standing = ACTIVE
    outcomes = []
    for _ in range(3):
        decision = decide(Kind.PERMANENT, "5.7.1", "policy", standing, RULES, NOW)
        outcomes.append(decision.outcome)
        standing = Standing(True, decision.score or 0, NOW)
    assert outcomes == [Outcome.SCORED, Outcome.SCORED, Outcome.SUPPRESSED]
    assert decision.until == NOW + timedelta(days=30)


def test_temporary_failures_never_stop_a_reader_alone() -> None:
    standing = ACTIVE
    for _ in range(100):
        decision = decide(Kind.TEMPORARY, "4.2.2", "mailbox full", standing, RULES, NOW)
        assert not decision.stop
        standing = Standing(True, decision.score or 0, NOW)
    assert standing.score == 50
    # … but a permanent failure after them reaches the threshold sooner.
    assert decide(Kind.PERMANENT, "5.7.1", "", standing, RULES, NOW).stop


def test_the_score_halves_every_half_life() -> None:
    assert decayed(2.0, NOW, NOW + timedelta(days=7), 7) == pytest.approx(1.0)
    assert decayed(2.0, NOW, NOW + timedelta(days=70), 7) < 0.002
    weeks_apart = Standing(True, 1.0, NOW - timedelta(days=70))
    assert decide(Kind.PERMANENT, "5.7.1", "", weeks_apart, RULES, NOW).outcome is (
        Outcome.SCORED)


def test_complaints_auto_replies_and_stopped_readers() -> None:
    assert decide(Kind.COMPLAINT, "abuse", "", ACTIVE, RULES, NOW).unsubscribe == "list"
    everywhere = BounceRules(complaint_all=True)
    assert decide(Kind.COMPLAINT, "abuse", "", ACTIVE, everywhere, NOW).unsubscribe == "all"
    for kind in (Kind.AUTO_REPLY, Kind.DELIVERED, Kind.NOT_SPAM):
        decision = decide(kind, None, "", ACTIVE, RULES, NOW)
        assert (decision.outcome, decision.score, decision.stop) == (Outcome.IGNORED, None,
                                                                     False)
    assert decide(Kind.PERMANENT, "5.1.1", "", Standing(False), RULES, NOW).outcome is (
        Outcome.STOPPED)


# -- reading returned messages ----------------------------------------------------------------

TO = PATH.address(1234)
READER = "ghost@readers.test"


def _token_row(raw: bytes) -> int | None:
    returned = read_returned(raw)
    for text in returned.texts:
        for token in PATH.tokens(text):
            claim = PATH.claim(token)
            if claim.outbox_id is not None:
                return claim.outbox_id
    return None


def test_a_delivery_status_notification() -> None:
    returned = read_returned(bounce_mail.dsn(TO, READER))
    assert (returned.kind, returned.recipient, returned.status) == (Kind.PERMANENT, READER,
                                                                    "5.1.1")
    assert "User unknown" in returned.diagnostic
    assert _token_row(bounce_mail.dsn(TO, READER)) == 1234


def test_a_delay_and_a_success_notification() -> None:
    delayed = read_returned(bounce_mail.dsn(TO, READER, status="4.2.2", action="delayed"))
    assert (delayed.kind, delayed.status) == (Kind.TEMPORARY, "4.2.2")
    done = read_returned(bounce_mail.dsn(TO, READER, status="2.0.0", action="delivered"))
    assert done.kind is Kind.DELIVERED


def test_a_russian_dsn() -> None:
    returned = read_returned(bounce_mail.russian_dsn(TO, READER))
    assert (returned.kind, returned.status) == (Kind.PERMANENT, "5.1.1")
    assert "Нет такого пользователя" in returned.diagnostic


def test_a_complaint_is_matched_by_its_original_mail_from() -> None:
    raw = bounce_mail.arf(TO, "angry@readers.test")
    returned = read_returned(raw)
    assert (returned.kind, returned.status, returned.recipient) == (
        Kind.COMPLAINT, "abuse", "angry@readers.test")
    assert _token_row(raw) == 1234
    assert read_returned(bounce_mail.arf(TO, READER, feedback="not-spam")).kind is (
        Kind.NOT_SPAM)


def test_an_auto_reply_is_not_a_bounce() -> None:
    assert read_returned(bounce_mail.auto_reply(TO, READER)).kind is Kind.AUTO_REPLY


@pytest.mark.parametrize("make", [bounce_mail.qmail, bounce_mail.exim])
def test_bounces_in_older_formats(make: object) -> None:
    assert callable(make)
    raw = make(TO, READER)
    returned = read_returned(raw)
    assert returned.kind in (Kind.PERMANENT, Kind.TEMPORARY)
    assert returned.recipient == READER
    assert _token_row(raw) == 1234


def test_a_huge_bounce_is_read_from_its_head() -> None:
    raw = bounce_mail.huge(TO, READER)
    head = raw[:1_000_000]
    returned = read_returned(head, size=len(raw))
    assert (returned.kind, returned.status) == (Kind.PERMANENT, "5.1.1")
    assert returned.fingerprint.endswith(f":{len(raw)}")


def test_broken_and_foreign_messages_are_read_without_raising() -> None:
    broken = read_returned(bounce_mail.broken(TO, READER))
    assert broken.kind in (Kind.UNKNOWN, Kind.PERMANENT)
    assert read_returned(bounce_mail.not_a_bounce(TO)).kind is Kind.UNKNOWN
    assert read_returned(b"").kind is Kind.UNKNOWN
    assert read_returned(b"\xff\xfe\x00garbage\r\n\r\n\x00").kind is Kind.UNKNOWN


@given(st.binary(max_size=2000))
def test_any_bytes_are_read_without_raising(raw: bytes) -> None:
    read_returned(raw)


@pytest.mark.parametrize("subject", ["Автоответ: Наводнения", "Вне офиса до 14 декабря",
                                     "Автожауап: Су тасқыны", "Out of Office: Floods"])
def test_auto_replies_in_russian_and_kazakh(subject: str) -> None:
    raw = (f"From: {READER}\r\nTo: {TO}\r\nAuto-Submitted: auto-replied\r\n"
           f"Subject: =?utf-8?b?{base64.b64encode(subject.encode()).decode()}?=\r\n"
           f"Content-Type: text/plain; charset=utf-8\r\n\r\nМен демалыстамын.\r\n").encode()
    returned = read_returned(raw)
    assert (returned.kind, returned.recipient) == (Kind.AUTO_REPLY, READER)
