"""Messages: structure, headers, RFC 2047, and no injection through any input."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, date, datetime

import pytest

from newsletter.errors import ComposeError
from newsletter.mail.compose import (
    MailSettings,
    Recipient,
    address_header,
    body_parts,
    build_template,
    header_text,
    longest_line,
)
from newsletter.mail.render import (
    GREETING_TOKEN,
    MANAGE_TOKEN,
    MAX_HTML_BYTES,
    UNSUBSCRIBE_TOKEN,
    MailIssue,
    MailItem,
    Rendered,
    Renderer,
    load_translations,
    safe_url,
)
from tests.helpers import REPO
from tests.long_mail import decoded, long_message

WHEN = datetime(2026, 1, 15, 9, 0, tzinfo=UTC)
MAIL = MailSettings("Гуманитарные новости", "updates@example.org", "daily.example.org",
                    "Daily updates")
RENDERER = Renderer(REPO / "templates", load_translations(REPO / "translations"))


def _item(**changes: object) -> MailItem:
    base: dict[str, object] = dict(
        report_id=1, title="Floods in Almaty", summary=("Floods damaged 340 houses.",),
        sources=("OCHA",), kind="Situation Report", published=date(2019, 6, 12),
        link="https://example.org/reports/1", original_language="en")
    base.update(changes)
    return MailItem(**base)  # type: ignore[arg-type]


def _recipient(**changes: str) -> Recipient:
    base = dict(address="reader@example.org", name="Айгүл Сейітова", message_id="i1.s1@example.org",
                unsubscribe_url="https://example.org/u/abc?x=1&y=2",
                unsubscribe_mailto="unsubscribe@example.org?subject=unsubscribe",
                manage_url="https://example.org/manage/m1?z=1&w=2")
    base.update(changes)
    return Recipient(**base)  # type: ignore[arg-type]


def _message(item: MailItem, language: str = "ru", recipient: Recipient | None = None) -> email.message.EmailMessage:
    rendered = RENDERER.render(MailIssue("alert", language, "Daily updates", date(2026, 1, 15), (item,)))
    raw = build_template(rendered, MAIL, date=WHEN).personalise(recipient or _recipient())
    assert b"\r\n" in raw
    assert b"\n" not in raw.replace(b"\r\n", b"")
    return email.message_from_bytes(raw, policy=email.policy.default)  # type: ignore[return-value]


def test_a_message_is_multipart_alternative_with_every_list_header() -> None:
    message = _message(_item())
    assert message.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]
    assert message["To"] == "Айгүл Сейітова <reader@example.org>"
    assert message["From"] == "Гуманитарные новости <updates@example.org>"
    assert message["Subject"] == "Срочно: Floods in Almaty"
    assert message["Message-ID"] == "<i1.s1@example.org>"
    assert message["Content-Language"] == "ru"
    assert message["List-Id"] == "Daily updates <daily.example.org>"
    assert message["List-Unsubscribe"] == (
        "<https://example.org/u/abc?x=1&y=2>, <mailto:unsubscribe@example.org?subject=unsubscribe>")
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["Date"] == "Thu, 15 Jan 2026 09:00:00 +0000"


def test_non_ascii_headers_are_rfc2047_encoded() -> None:
    rendered = RENDERER.render(MailIssue("alert", "kk", "Күнделікті", date(2026, 1, 15), (_item(),)))
    raw = build_template(rendered, MAIL, date=WHEN).personalise(_recipient())
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert head.isascii()
    assert b"=?utf-8?" in head


def test_the_body_link_and_greeting_are_personalised_and_escaped() -> None:
    message = _message(_item(), recipient=_recipient(name="<b>Bob</b> & Co"))
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert "Здравствуйте, <b>Bob</b> & Co!" in text
    assert "Здравствуйте, &lt;b&gt;Bob&lt;/b&gt; &amp; Co!" in html
    assert 'href="https://example.org/u/abc?x=1&amp;y=2"' in html
    assert "https://example.org/u/abc?x=1&y=2" in text
    assert 'href="https://example.org/manage/m1?z=1&amp;w=2"' in html  # the reader's page
    assert "Управление подпиской: https://example.org/manage/m1?z=1&w=2" in text


def test_a_report_cannot_fill_in_a_readers_link_or_greeting() -> None:
    """Only the tokens the templates put there are personalised, never a report's text."""
    hostile = _item(title=f"Floods {UNSUBSCRIBE_TOKEN} {GREETING_TOKEN}",
                    summary=(f"Click {UNSUBSCRIBE_TOKEN} now, or {MANAGE_TOKEN}.",),
                    sources=(GREETING_TOKEN,))
    message = _message(hostile, recipient=_recipient(name="Bob"))
    for part in ("plain", "html"):
        body = message.get_body((part,)).get_content()  # type: ignore[union-attr]
        assert body.count("https://example.org/u/abc") == 1  # the footer's link only
        assert body.count("https://example.org/manage/m1") == 1
        assert body.count("Bob") == 1  # the greeting only
        assert "Floods @\u2060@UNSUBSCRIBE_URL@\u2060@" in body


@pytest.mark.parametrize(
    "title",
    ["Floods\r\nBcc: victim@example.org", "Floods\nX-Injected: 1", "Floods\rX: y",
     "Floods \u2028 Bcc: a@b.c", "Floods\x00\x0bBcc: a@b.c"],
)
def test_no_cr_or_lf_from_a_report_reaches_a_header(title: str) -> None:
    rendered = RENDERER.render(MailIssue("alert", "en", "List\r\nX-Evil: 1", date(2026, 1, 15),
                                         (_item(title=title),)))
    mail = MailSettings("Name\r\nBcc: x@y.z", "updates@example.org", "daily.example.org",
                        "List\nX-Evil: 1")
    raw = build_template(rendered, mail, date=WHEN).personalise(
        _recipient(name="Eve\r\nBcc: all@example.org"))
    head = raw.split(b"\r\n\r\n", 1)[0].decode()
    names = [line.split(":", 1)[0] for line in head.split("\r\n") if not line.startswith(" ")]
    assert "Bcc" not in names
    assert "X-Injected" not in names
    assert "X-Evil" not in names
    assert names == ["From", "To", "Subject", "Date", "Message-ID", "MIME-Version",
                     "Content-Language", "List-Id", "List-Unsubscribe", "List-Unsubscribe-Post",
                     "Content-Type"]


@pytest.mark.parametrize(
    "changes",
    [{"address": "a@b.org\r\nBcc: c@d.org"}, {"address": "no-at-sign"},
     {"address": "a b@example.org"}, {"message_id": "x@y\r\nBcc: z"},
     {"unsubscribe_url": "https://x.org/u\r\nBcc: z"}, {"unsubscribe_mailto": "u@x.org>\r\nX: 1"}],
)
def test_unsafe_addresses_and_ids_are_refused(changes: dict[str, str]) -> None:
    rendered = RENDERER.render(MailIssue("alert", "en", "List", date(2026, 1, 15), (_item(),)))
    template = build_template(rendered, MAIL, date=WHEN)
    with pytest.raises(ComposeError):
        template.personalise(_recipient(**changes))


def test_internationalised_domains_become_punycode() -> None:
    assert address_header("Ана", "ana@почта.kz") == "=?utf-8?b?0JDQvdCw?= <ana@xn--80a1acny.kz>"
    assert header_text("a\r\n\tb  c") == "a b c"


def test_report_html_and_javascript_links_are_neutralised() -> None:
    item = _item(title="<script>alert(1)</script>", summary=('<img src=x onerror="alert(2)">',),
                 link="javascript:alert(3)", sources=("<b>OCHA</b>",))
    html = _message(item, "en").get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert "<script>" not in html
    assert "<img" not in html
    assert "<b>OCHA" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "javascript:" not in html
    assert 'href="#"' in html
    for url, expected in [("JaVaScRiPt:alert(1)", "#"), (" java\tscript:x", "#"),
                          ("data:text/html,x", "#"), ("https://ok.org/a", "https://ok.org/a"),
                          ("mailto:a@b.org", "mailto:a@b.org")]:
        assert safe_url(url) == expected


def test_html_is_light_self_contained_and_has_a_preheader() -> None:
    items = tuple(_item(report_id=i, title=f"Report {i} " + "word " * 15,
                        summary=("A sentence of a summary. " * 6,)) for i in range(12))
    rendered = RENDERER.render(MailIssue("digest", "kk", "Daily", date(2026, 1, 15), items))
    assert len(rendered.html.encode()) < MAX_HTML_BYTES
    assert "<img" not in rendered.html
    assert "http://" not in rendered.html.split("<body", 1)[1].replace(
        "https://example.org", "")
    assert 'class="preheader"' in rendered.html
    assert 'style="' in rendered.html  # CSS inlined
    assert longest_line(build_template(rendered, MAIL, date=WHEN).personalise(_recipient())) <= 998
    assert rendered.subject.startswith("Daily: 12 есеп")
    assert "12 есеп" in rendered.text


LONG_CASES = [("alert", "ru"), ("alert", "kk"), ("digest", "ru"), ("digest", "kk")]


@pytest.mark.parametrize(("kind", "language"), LONG_CASES)
def test_long_cyrillic_mail_has_no_line_over_998_octets(kind: str, language: str) -> None:
    long = long_message(kind, language)
    assert any(len(line.encode()) > 998 for line in long.rendered.html.splitlines())
    assert longest_line(long.raw) <= 998
    head = long.raw.split(b"\r\n\r\n", 1)[0]
    assert max(len(line) for line in head.split(b"\r\n")) <= 78  # headers folded
    assert head.count(b"\r\nTo: ") == 1
    assert decoded(long.raw, "To") == f"{long.name} <reader@example.org>"
    assert decoded(long.raw, "From") == f"{long.mail.from_name} <updates@example.org>"
    message = email.message_from_bytes(long.raw, policy=email.policy.default)
    [to] = message["To"].addresses  # spaces aside (CPython gh-128110, see decoded)
    assert ("".join(to.display_name.split()), to.addr_spec) == (
        "".join(long.name.split()), "reader@example.org")
    assert message["Subject"] == header_text(long.rendered.subject)
    assert message["List-Id"] == f"{long.mail.list_name} <daily.example.org>"
    for part in message.iter_parts():  # 8-bit UTF-8, never cut inside a character
        assert part["Content-Transfer-Encoding"] == "8bit"
        payload = part.get_payload(decode=True)
        assert isinstance(payload, bytes)
        payload.decode("utf-8")


def test_the_greeting_shows_at_most_200_characters_of_a_long_name() -> None:
    long = long_message("alert", "ru")
    text, html = body_parts(long.raw)
    [greeting] = [line for line in text.splitlines() if line.startswith("Здравствуйте, ")]
    shown = greeting.removeprefix("Здравствуйте, ").removesuffix("…!")
    assert long.name.startswith(shown)
    assert 150 <= len(shown) < 200
    assert len(shown.encode()) <= 400
    assert f"Здравствуйте, {shown}…!" in html


def test_a_word_longer_than_a_line_is_cut_between_characters() -> None:
    word = "Қазақстанның" * 125  # 1,500 letters, 3,000 octets, no space
    item = _item(title=word, summary=(word,), sources=(word,))
    raw = build_template(RENDERER.render(MailIssue("alert", "kk", "Daily", date(2026, 1, 15),
                                                   (item,))), MAIL, date=WHEN).personalise(
        _recipient())
    assert longest_line(raw) <= 998
    raw.decode("utf-8")
    text, html = body_parts(raw)
    assert "".join(text.split()).count(word) == 3
    assert "".join(html.split()).count(word) >= 3


def test_a_hole_on_a_long_line_keeps_room_for_what_fills_it() -> None:
    filler = " ".join(["слово"] * 80)  # 879 octets
    rendered = Rendered(
        "ru", "Тема", "",
        html=f'<p>{filler} {GREETING_TOKEN} <a href="{UNSUBSCRIBE_TOKEN}">{filler}</a></p>\n',
        text=f"{filler} {GREETING_TOKEN} {UNSUBSCRIBE_TOKEN} {filler}\n",
        greetings={"named": "Здравствуйте, %(name)s!", "anonymous": "Здравствуйте!"})
    template = build_template(rendered, MAIL, date=WHEN)
    escaping = '"&<>' * 500  # every character six octets or four once escaped for HTML
    url = "https://example.org/u/" + "a&b" * 70  # 512 octets as the HTML writes it
    for name in (escaping, "Ж" * 2000, "Анна"):
        raw = template.personalise(_recipient(name=name, unsubscribe_url=url))
        assert longest_line(raw) <= 998
        text, html = body_parts(raw)
        assert url in text
        assert f'href="{url.replace("&", "&amp;")}"' in html


@pytest.mark.parametrize(
    "changes",
    [{"unsubscribe_url": "https://example.org/u/" + "a" * 600},
     {"unsubscribe_url": "https://example.org/u?" + "a&" * 120},  # 600 octets once escaped
     {"message_id": "m" * 600 + "@example.org"},
     {"unsubscribe_mailto": "u@example.org?subject=" + "t" * 600},
     {"address": "r" * 64 + "@" + "d" * 190 + ".example.org"}],
)
def test_ids_and_links_too_long_for_a_line_are_refused(changes: dict[str, str]) -> None:
    template = build_template(RENDERER.render(MailIssue("alert", "en", "List", date(2026, 1, 15),
                                                        (_item(),))), MAIL, date=WHEN)
    with pytest.raises(ComposeError):
        template.personalise(_recipient(**changes))


def test_an_overlong_list_id_is_refused() -> None:
    rendered = RENDERER.render(MailIssue("alert", "en", "List", date(2026, 1, 15), (_item(),)))
    mail = MailSettings("News", "updates@example.org", "d" * 1000 + ".example.org", "Daily")
    with pytest.raises(ComposeError):
        build_template(rendered, mail, date=WHEN)


TRAP = "Floods =?utf-8?q?=0D=0ABcc:_victim@example.org?="


def _parsed(raw: bytes) -> email.message.EmailMessage:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, email.message.EmailMessage)
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert b"\r\nBcc:" not in head
    assert "Bcc" not in message
    return message


def test_a_literal_encoded_word_in_a_title_reaches_the_subject_as_written() -> None:
    rendered = RENDERER.render(MailIssue("alert", "en", "Daily", date(2026, 1, 15),
                                         (_item(title=TRAP),)))
    message = _parsed(build_template(rendered, MAIL, date=WHEN).personalise(_recipient()))
    assert message["Subject"] == f"Alert: {TRAP}"
    assert "\r" not in message["Subject"]
    assert "\n" not in message["Subject"]


def test_a_literal_encoded_word_in_a_name_is_shown_as_written() -> None:
    rendered = RENDERER.render(MailIssue("alert", "en", "Daily", date(2026, 1, 15), (_item(),)))
    mail = MailSettings(TRAP, "updates@example.org", "daily.example.org", TRAP)
    raw = build_template(rendered, mail, date=WHEN).personalise(_recipient(name=TRAP))
    message = _parsed(raw)
    assert decoded(raw, "To") == f"{TRAP} <reader@example.org>"
    assert decoded(raw, "From") == f"{TRAP} <updates@example.org>"
    assert " ".join(message["To"].addresses[0].display_name.split()) == TRAP
    assert "\n" not in message["To"].addresses[0].display_name
    assert message["List-Id"] == f"{TRAP} <daily.example.org>"
    assert address_header("=?x", "a@example.org").startswith("=?utf-8?")
