"""Subscribers: address validation, CSV rows, spreadsheet safety, tokens and list declarations."""

from __future__ import annotations

import base64
from dataclasses import replace
from datetime import date, timedelta

import pytest

from newsletter.errors import AddressError, ListError, TokenError
from newsletter.lists.parse import parse_list
from newsletter.lists.spec import Mode
from newsletter.reports.model import Report
from newsletter.subscribers.addresses import (
    MAX_NAME,
    SubscriberRow,
    check_subscriber,
    normalise_address,
)
from newsletter.subscribers.csvfile import export_csv, parse_subscriber_csv, spreadsheet_safe
from newsletter.subscribers.tokens import (
    CONFIRM,
    TEST,
    TOKEN_LIFETIME,
    UNSUBSCRIBE,
    sign_test_token,
    sign_token,
    verify_token,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Aigul.Seitova@Example.ORG", "aigul.seitova@example.org"),
        ("  user+digest@example.org ", "user+digest@example.org"),
        ("ana@почта.kz", "ana@xn--80a1acny.kz"),
        ("user@münchen.de", "user@xn--mnchen-3ya.de"),
        ("x@xn--80a1acny.kz", "x@xn--80a1acny.kz"),
        ("o'brien@example.ie", "o'brien@example.ie"),
        ("a@sub.domain.example.co.uk", "a@sub.domain.example.co.uk"),
        ("user@example.org.", "user@example.org"),
    ],
)
def test_valid_addresses_are_normalised(raw: str, expected: str) -> None:
    assert normalise_address(raw) == expected


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "empty"), ("plainaddress", "exactly one @"), ("a@@b.org", "exactly one @"),
        ("@example.org", "nothing before"), ("user@", "no domain"), ("user@localhost", "needs a dot"),
        ("a b@example.org", "spaces"), ("a@exa mple.org", "spaces"), (".a@example.org", "invalid part"),
        ("a.@example.org", "invalid part"), ("a..b@example.org", "invalid part"),
        ("a@-example.org", "invalid domain"), ("a@example..org", "invalid domain"),
        ("a@-тест.рф", "invalid domain"), ("a@тест-.kz", "invalid domain"),
        ("a@example.c", "top-level"), ("a@example.123", "top-level"),
        ('"quoted"@example.org', "quoted"), ("юзер@example.org", "SMTPUTF8"),
        ("a@b.org\r\nBcc: x@y.org", "control"), ("x" * 65 + "@example.org", "invalid part"),
    ],
)
def test_garbage_is_refused_with_a_reason(raw: str, reason: str) -> None:
    with pytest.raises(AddressError, match=reason):
        normalise_address(raw)


def test_csv_rows_problems_and_unknown_columns() -> None:
    parsed = parse_subscriber_csv(
        "\ufeffEmail,Name,Language,Format,Phone\n"
        "a@example.org,Ann,ru,html,1\n"
        "not-an-address,Bob,en,html,2\n"
        "c@example.org,Cem,de,html,3\n"
        "d@example.org,Dan,kk,pdf,4\n"
        "e@example.org,Eve\n"
        "\n"
        "A@EXAMPLE.ORG,Ann again,en,text,5\n"
        "f@example.org,,,,\n"
    )
    assert [(r.email, r.name, r.language, r.format) for r in parsed.rows] == [
        ("a@example.org", "Ann", "ru", "html"), ("f@example.org", None, None, None)]
    assert [(p.line, p.reason.split(" ")[0]) for p in parsed.problems] == [
        (3, "'not-an-address'"), (4, "language"), (5, "format"), (6, "2"), (8, "a@example.org")]
    assert parsed.unknown_columns == ("phone",)
    with pytest.raises(AddressError, match="no email column"):
        parse_subscriber_csv("name,language\nAnn,en\n")


@pytest.mark.parametrize("cell", ["=1+1", "+7 727", "-2", "@SUM(A1)", "\tx", "\r=x"])
def test_formulas_cannot_run_in_a_spreadsheet(cell: str) -> None:
    assert spreadsheet_safe(cell) == "'" + cell
    lines = "".join(export_csv([("a@example.org", cell)], ("email", "name")))
    assert f",'{cell[0]}" in lines or f",\"'{cell[0]}" in lines
    assert spreadsheet_safe("Ann") == "Ann"


def test_tokens_verify_and_refuse_tampering() -> None:
    today = date(2026, 3, 1)
    token = sign_token(42, "daily", today, "current-secret")
    claim = verify_token(token, ["current-secret"], today)
    assert (claim.subscriber_id, claim.list_name) == (42, "daily")
    payload, kid, mac = token.split(".")
    forged = sign_token(43, "daily", today, "guessed").split(".")[0]
    for bad in (f"{forged}.{kid}.{mac}", f"{payload}.{kid}.{mac[:-2]}AA", "garbage",
                f"{payload}.deadbeef.{mac}", token + "x"):
        with pytest.raises(TokenError):
            verify_token(bad, ["current-secret"], today)
    with pytest.raises(TokenError, match="not meant"):
        verify_token(token, ["current-secret"], today, purposes=(CONFIRM,))


def test_a_test_send_token_names_no_subscriber_and_opens_no_other_page() -> None:
    today = date(2026, 3, 1)
    token = sign_test_token("central-asia", "kk", today, "current-secret")
    claim = verify_token(token, ["current-secret"], today, purposes=(UNSUBSCRIBE, TEST))
    assert (claim.purpose, claim.subscriber_id, claim.list_name, claim.language) == (
        TEST, None, "central-asia", "kk")
    for purposes in ((UNSUBSCRIBE,), (CONFIRM,)):  # not where a subscription changes
        with pytest.raises(TokenError, match="not meant"):
            verify_token(token, ["current-secret"], today, purposes=purposes)


@pytest.mark.parametrize("forged_payload", ["u:1:central-asia", "c:1:central-asia",
                                            "u:kk:central-asia", "t:ru:central-asia"])
def test_a_list_token_cannot_be_made_from_a_test_token(forged_payload: str) -> None:
    """The purpose and everything else in the payload are under the signature: a test
    token's key id and signature on another payload are refused."""
    today = date(2026, 3, 1)
    _, kid, mac = sign_test_token("central-asia", "kk", today, "current-secret").split(".")
    payload = base64.urlsafe_b64encode(f"{forged_payload}:{today.toordinal()}".encode())
    forged = f"{payload.rstrip(b'=').decode()}.{kid}.{mac}"
    with pytest.raises(TokenError, match="altered"):
        verify_token(forged, ["current-secret"], today, purposes=(UNSUBSCRIBE, CONFIRM, TEST))


def test_old_links_work_across_a_key_rotation_and_for_a_year() -> None:
    sent = date(2026, 1, 10)
    old = sign_token(7, "weekly", sent, "old-key")
    later = sent + timedelta(days=365)
    assert verify_token(old, ["new-key", "old-key"], later).subscriber_id == 7
    with pytest.raises(TokenError, match="no longer valid"):
        verify_token(old, ["new-key"], later)  # the old key was dropped
    with pytest.raises(TokenError, match="expired"):
        verify_token(old, ["old-key"], sent + TOKEN_LIFETIME + timedelta(days=1))


def test_list_declarations_are_validated() -> None:
    spec = parse_list("central-asia", {"title": "Central Asia", "mode": "weekly",
                                       "countries": ["Kazakhstan"], "languages": "ru,kk"})
    assert (spec.mode, spec.schedule, spec.languages) == (Mode.WEEKLY, "0 9 * * mon", ("ru", "kk"))
    for table, message in [({"mode": "hourly"}, "mode"), ({"schedule": "every day"}, "cron"),
                           ({"timezone": "Mars/Olympus"}, "timezone"),
                           ({"languages": ["de"]}, "languages"), ({"colour": "red"}, "unknown"),
                           ({"summary_words": 0}, "positive")]:
        with pytest.raises(ListError, match=message):
            parse_list("x", table)
    with pytest.raises(ListError, match="lower-case"):
        parse_list("Bad Name", {})


def test_list_filters_match_reports() -> None:
    spec = parse_list("kz", {"countries": ["KZ"], "kinds": ["Situation Report"],
                             "keywords": ["паводк", "flood"]})
    report = Report(title="Казахстан: паводки", source="OCHA", kind="Situation Report",
                    published=None, language="ru", body="Эвакуированы 1200 человек.")
    assert spec.matches(report, ("KZ", "KZ-15"))
    assert not spec.matches(report, ("KG",))  # countries are the detected codes, not words
    assert not spec.matches(replace(report, kind="Map"), ("KZ",))
    assert not spec.matches(replace(report, title="Казахстан: засуха"), ("KZ",))
    assert spec.matches(replace(report, title="Floods", language="en"), ("KZ",))
    anything = parse_list("all", {})
    assert anything.matches(replace(report, source=None, kind=None), ())


def test_fields_a_row_does_not_give_keep_what_is_stored() -> None:
    parsed = parse_subscriber_csv("email,name,language,format\n"
                                  "a@example.org,,,\n"
                                  "b@example.org, ,KK,\n")
    only_email, only_language = parsed.rows
    assert (only_email.name, only_email.language, only_email.format) == (None, None, None)
    assert (only_language.name, only_language.language, only_language.format) == (None, "kk", None)
    assert parse_subscriber_csv("email\nc@example.org\n").rows == (SubscriberRow("c@example.org"),)
    stored = ("Dana", "ru", "text", "ru,kk")
    assert only_email.applied_to(stored) == stored
    assert only_language.applied_to(stored) == ("Dana", "kk", "text", None)  # a new first
    assert only_email.applied_to(None) == (None, "en", "html", None)  # a new subscriber
    assert check_subscriber("d@example.org", "  Dana   K ", "RU", "Text").applied_to(stored) == (
        "Dana K", "ru", "text", None)
    chain = check_subscriber("d@example.org", language="KK > ru, kk;en")
    assert (chain.language, chain.languages) == ("kk", "kk,ru,en")
    assert chain.applied_to(stored) == ("Dana", "kk", "text", "kk,ru,en")
    with pytest.raises(AddressError, match="language 'de'"):
        check_subscriber("d@example.org", language="de")


def test_a_huge_cell_is_a_problem_row_and_the_rows_around_it_are_read() -> None:
    parsed = parse_subscriber_csv("email,name\n"
                                  "a@example.org,Ann\n"
                                  f"b@example.org,{'x' * 200_000}\n"
                                  "c@example.org,Cem\n"
                                  f"d@example.org,\"{'y' * 200_000}\"\n"
                                  "e@example.org,Eve\n")
    assert [r.email for r in parsed.rows] == ["a@example.org", "c@example.org", "e@example.org"]
    assert [p.line for p in parsed.problems] == [3, 5]
    assert all("longer than 131,072 characters" in p.reason for p in parsed.problems)


def test_an_unterminated_quote_is_a_problem_row_and_swallows_nothing() -> None:
    parsed = parse_subscriber_csv("email,name,language\n"
                                  'b@example.org,"Bob,en\n'
                                  "c@example.org,Cem,ru\n"
                                  'd@example.org,"Dan",kk\r\n'
                                  "e@example.org,Eve,en\n"
                                  'f@example.org,"Fay,en')  # the last line, without a newline
    assert [(r.email, r.name) for r in parsed.rows] == [
        ("c@example.org", "Cem"), ("d@example.org", "Dan"), ("e@example.org", "Eve")]
    assert [(p.line, p.reason) for p in parsed.problems] == [
        (2, "unterminated quote: a quoted cell must end on the line it starts on"),
        (6, "unterminated quote: a quoted cell must end on the line it starts on")]
    # a cell closed on a later line is refused too, and the lines it ran over are rows of their own
    spanning = parse_subscriber_csv('email,name\ng@example.org,"two\nlines"\nh@example.org,Hal\n')
    assert [r.email for r in spanning.rows] == ["h@example.org"]
    assert [(p.line, p.reason.split(":")[0]) for p in spanning.problems] == [
        (2, "unterminated quote"), (3, "1 fields, the header has 2")]
    with pytest.raises(AddressError, match="line 1"):
        parse_subscriber_csv('"email,name\na@example.org,Ann\n')


def test_a_name_longer_than_the_cap_is_refused_with_a_reason() -> None:
    assert check_subscriber("a@example.org", "N" * MAX_NAME).name == "N" * MAX_NAME
    with pytest.raises(AddressError, match="the name is 2,000 characters long; at most 200"):
        check_subscriber("a@example.org", "N" * 2_000)
    parsed = parse_subscriber_csv(f"email,name\na@example.org,{'N' * 2_000}\nb@example.org,Bo\n")
    assert [r.email for r in parsed.rows] == ["b@example.org"]
    assert [(p.line, p.reason.split(";")[0]) for p in parsed.problems] == [
        (2, "the name is 2,000 characters long")]
