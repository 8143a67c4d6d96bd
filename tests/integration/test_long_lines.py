"""Russian and Kazakh mail with long lines through a real SMTP server (aiosmtpd), which, like a
stock relay, answers a line over 998 octets with ``500 Line too long``."""

from __future__ import annotations

import email
import email.policy
import smtplib

import pytest

from newsletter.mail.compose import body_parts, header_text, longest_line
from newsletter.mail.render import GREETING_TOKEN, MANAGE_TOKEN, UNSUBSCRIBE_TOKEN
from tests.long_mail import LongMail, decoded, long_message
from tests.smtp_server import smtp_sink


def _send(port: int, recipient: str, raw: bytes) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        client.sendmail("updates@example.org", [recipient], raw, mail_options=["BODY=8BITMIME"])


def test_the_relay_refuses_a_line_over_998_octets() -> None:
    raw = ("From: a@example.org\r\nTo: b@example.org\r\nSubject: x\r\n\r\n"
           + "Ж" * 500 + "\r\n").encode("utf-8")  # 1,000 octets on one line
    with smtp_sink() as (sink, port), pytest.raises(smtplib.SMTPDataError) as refused:
        _send(port, "b@example.org", raw)
    assert refused.value.smtp_code == 500
    assert b"too long" in refused.value.smtp_error.lower()
    assert sink.messages == []


def _same_text(received: str, rendered: str, long: LongMail, *, html: bool) -> None:
    """``received`` is ``rendered`` with its tokens filled in, white space aside (wrapping
    turns spaces into line breaks, and in HTML may break between two tags)."""
    def squash(text: str) -> str:
        return ("" if html else " ").join(text.split())

    url = long.recipient.unsubscribe_url
    manage = long.recipient.manage_url or url
    before, after = squash(rendered.replace(UNSUBSCRIBE_TOKEN, url)
                           .replace(MANAGE_TOKEN, manage)).split(GREETING_TOKEN)
    got = squash(received)
    assert got.startswith(before)
    assert got.endswith(after)
    greeting = got[len(before):len(got) - len(after)]
    opening, closing = long.rendered.greetings["named"].split("%(name)s")
    shown = greeting.removeprefix(squash(opening)).removesuffix(squash("…" + closing)).strip()
    assert squash(long.name).startswith(shown)  # the name, cut short
    assert 150 <= len(shown) <= 200


@pytest.mark.parametrize(("kind", "language"),
                         [("alert", "ru"), ("alert", "kk"), ("digest", "ru"), ("digest", "kk")])
def test_long_cyrillic_mail_is_accepted_and_reads_back_the_same(kind: str,
                                                                language: str) -> None:
    long = long_message(kind, language)
    with smtp_sink() as (sink, port):
        _send(port, long.recipient.address, long.raw)
    [received] = sink.messages
    assert received.recipients == ["reader@example.org"]
    assert longest_line(received.data) <= 998
    assert decoded(received.data, "To") == f"{long.name} <reader@example.org>"
    message = email.message_from_bytes(received.data, policy=email.policy.default)
    assert message["To"].addresses[0].addr_spec == "reader@example.org"
    assert message["Subject"] == header_text(long.rendered.subject)
    assert message["List-Id"] == f"{long.mail.list_name} <daily.example.org>"
    plain, html = body_parts(received.data)
    _same_text(plain, long.rendered.text, long, html=False)
    _same_text(html, long.rendered.html, long, html=True)
