"""A message in parts: what a template lays out for SMTP ``DATA`` (pre-stuffed chunks and the
reader's values) is the whole message dot-stuffed, byte for byte, whatever fills the holes;
and the message itself is what it was as one ``bytes``."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, date, datetime

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import given, settings
from hypothesis import strategies as st

from newsletter.mail.compose import MailSettings, Recipient, build_template, longest_line
from newsletter.mail.content import Content, Layout, stuffed
from newsletter.mail.dkim import DkimSigner
from newsletter.mail.links import Links
from newsletter.mail.messages import Addressee, MessageBuilder
from newsletter.mail.render import (
    GREETING_TOKEN,
    MANAGE_TOKEN,
    UNSUBSCRIBE_TOKEN,
    MailIssue,
    MailItem,
    Rendered,
    Renderer,
    load_translations,
)
from newsletter.subscribers.tokens import (
    MANAGE,
    TEST,
    UNSUBSCRIBE,
    sign_test_token,
    sign_token,
    verify_token,
)
from tests.helpers import REPO

WHEN = datetime(2026, 1, 15, 9, 0, tzinfo=UTC)
MAIL = MailSettings("Гуманитарные новости", "updates@example.org", "daily.example.org",
                    "Күнделікті жаңалықтар")
RENDERER = Renderer(REPO / "templates", load_translations(REPO / "translations"))


def _recipient(name: str | None = "Айгүл Сейітова", address: str = "reader@example.org",
               **changes: str) -> Recipient:
    base = dict(message_id="i1.s1@example.org",
                unsubscribe_url="https://example.org/u/abc?x=1&y=2",
                unsubscribe_mailto="unsubscribe@example.org?subject=unsubscribe",
                manage_url="https://example.org/manage/m1")
    base.update(changes)
    return Recipient(address=address, name=name, **base)


def _unstuffed(data: bytes) -> bytes:
    """What a relay makes of ``DATA`` content (RFC 5321 4.5.2): the ``.`` line ends it, and a
    dot that starts a line is taken away."""
    assert data.endswith(b"\r\n.\r\n") or data == b".\r\n"
    lines = data[:-3].split(b"\r\n")
    return b"\r\n".join(line[1:] if line.startswith(b".") else line for line in lines)


def _check(content: Content, message: bytes) -> None:
    """The parts are ``message``, and the stuffed parts are ``message`` stuffed whole."""
    assert bytes(content) == message
    assert len(content) == len(message)
    data = b"".join(content.data)
    assert data == stuffed(message)
    if message.count(b"\n") == message.count(b"\r\n"):  # else line ends become CRLF
        assert _unstuffed(data) == (message if message.endswith(b"\r\n")
                                    else message + b"\r\n")


# Text and HTML whose lines start with dots, Cyrillic and Kazakh letters, and holes where a
# value starts a line, or is the whole line, or is followed by a line that starts with a dot.
DOTTED_TEXT = (f"{GREETING_TOKEN}\n.\n.скрытая строка\n..два\nҚазақстандағы су тасқыны.\n"
               f"{GREETING_TOKEN}.после приветствия\n"
               f"{UNSUBSCRIBE_TOKEN}\n.{MANAGE_TOKEN}\n")
DOTTED_HTML = (f"<p>{GREETING_TOKEN}</p>\n.<p>скрытая</p>\n{GREETING_TOKEN}\n"
               f'<a href="{UNSUBSCRIBE_TOKEN}">.отписаться</a>\n{MANAGE_TOKEN}\n.\n')
GREETINGS = [
    {"named": "%(name)s, здравствуйте!", "anonymous": ""},  # the name starts the line
    {"named": "%(name)s", "anonymous": ".Сәлем!"},  # the name is the line; a dotted anonymous
    {"named": "Сәлем, %(name)s!", "anonymous": "Сәлем!"},
]
NAMES = [".Ева", "..", ".", "Айгүл Сейітова", None, "." + "Ж" * 300, ".=?utf-8?q?x?= Eve"]


@pytest.mark.parametrize("text_only", [False, True], ids=["html", "text"])
@pytest.mark.parametrize("greetings", GREETINGS, ids=["name-first", "name-only", "usual"])
@pytest.mark.parametrize("name", NAMES)
def test_the_stuffed_message_parts_are_the_whole_message_stuffed(
        text_only: bool, greetings: dict[str, str], name: str | None) -> None:
    rendered = Rendered("kk", ".Тақырып", "", html=DOTTED_HTML, text=DOTTED_TEXT,
                        greetings=greetings)
    template = build_template(rendered, MAIL, date=WHEN, text_only=text_only)
    for recipient in (_recipient(name), _recipient(name, address=".dot.@example.org"),
                      _recipient(name, unsubscribe_url=".x", manage_url=".y")):
        content = template.fill(recipient)
        message = template.personalise(recipient)
        _check(content, message)
        assert longest_line(message) <= 998


def test_a_name_at_the_start_of_a_line_is_stuffed() -> None:
    rendered = Rendered("ru", "Тема", "", html="<p>x</p>\n", text=f"{GREETING_TOKEN}\n",
                        greetings=GREETINGS[0])
    template = build_template(rendered, MAIL, date=WHEN, text_only=True)
    data = b"".join(template.fill(_recipient(".Ева")).data)
    assert "\r\n...Ева, здравствуйте!\r\n".encode() not in data
    assert "\r\n..Ева, здравствуйте!\r\n".encode() in data
    empty = b"".join(build_template(
        Rendered("ru", "Тема", "", html="", text=f"{GREETING_TOKEN}.после\n",
                 greetings=GREETINGS[0]), MAIL, date=WHEN, text_only=True
    ).fill(_recipient(None)).data)
    assert "\r\n..после\r\n".encode() in empty  # after an empty greeting, the line's dot


@pytest.mark.parametrize(("kind", "language"),
                         [("alert", "ru"), ("digest", "ru"), ("alert", "kk"), ("digest", "kk")])
def test_rendered_russian_and_kazakh_messages_in_parts(kind: str, language: str) -> None:
    items = tuple(MailItem(report_id=i, title=f".NET {i}: Паводки в Актюбинской области",
                           summary=(".Қазақстандағы су тасқыны. " * 40, ". " * 30),
                           sources=("OCHA",), kind="Situation Report",
                           published=date(2019, 6, 12), link=f"https://example.org/r/{i}",
                           original_language="en") for i in range(6))
    rendered = RENDERER.render(MailIssue(kind, language, "Daily", date(2026, 1, 15), items))
    for text_only in (False, True):
        template = build_template(rendered, MAIL, date=WHEN, text_only=text_only)
        for name in NAMES:
            recipient = _recipient(name)
            message = template.personalise(recipient)
            _check(template.fill(recipient), message)
            parsed = email.message_from_bytes(message, policy=email.policy.default)
            assert parsed["Message-ID"] == "<i1.s1@example.org>"


# Pieces of chunks and values: dots, line ends (some bare), Cyrillic, spaces.
PIECES = [b"a", b".", b"..", b" ", b"\r\n", b"\r\n.", b"\r\n ", "Ж".encode(), "қ".encode(),
          b"\n", b"\r"]
HOLES = ["h1", "h2", "h3"]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(HOLES),
                          st.lists(st.sampled_from(PIECES), max_size=8).map(b"".join)),
                max_size=12),
       st.fixed_dictionaries({hole: st.lists(st.sampled_from(PIECES), max_size=5).map(b"".join)
                              for hole in HOLES}))
def test_any_layout_filled_with_anything_is_the_message_stuffed(
        segments: list[bytes | str], values: dict[str, bytes]) -> None:
    message = b"".join(values[s] if isinstance(s, str) else s for s in segments)
    _check(Layout(segments).fill(values), message)


@settings(max_examples=60, deadline=None)
@given(name=st.one_of(st.none(), st.text(st.sampled_from(list(".Ж қa \r\n\t<&\"=?")),
                                         max_size=80)),
       lines=st.lists(st.text(st.sampled_from(list(".Жқa <>&")), max_size=12)
                      .map(lambda line: line.replace("@", "")), max_size=6),
       greeting=st.sampled_from(GREETINGS), text_only=st.booleans())
def test_any_reader_of_any_template_gets_the_message_stuffed(
        name: str | None, lines: list[str], greeting: dict[str, str], text_only: bool) -> None:
    text = "\n".join([GREETING_TOKEN, *lines, f"{GREETING_TOKEN}{UNSUBSCRIBE_TOKEN}",
                      *lines, MANAGE_TOKEN])
    html = "\n".join(f"<p>{line}</p>" if index % 2 else line
                     for index, line in enumerate([GREETING_TOKEN, *lines, UNSUBSCRIBE_TOKEN]))
    template = build_template(Rendered("ru", "Тема", "", html=html, text=text,
                                       greetings=greeting), MAIL, date=WHEN,
                              text_only=text_only)
    recipient = _recipient(name)
    _check(template.fill(recipient), template.personalise(recipient))


def test_a_field_on_top_keeps_the_parts_stuffed() -> None:
    rendered = Rendered("kk", "Тақырып", "", html="", text=f"{GREETING_TOKEN}\n.x\n",
                        greetings=GREETINGS[1])
    content = build_template(rendered, MAIL, date=WHEN, text_only=True).fill(_recipient(".Ева"))
    field = b"DKIM-Signature: v=1;\r\n b=abc\r\n"
    _check(content.headed(field), field + bytes(content))
    _check(Content.whole(b".one\r\n.two").headed(field), field + b".one\r\n.two")
    _check(content.headed(b".odd"), b".odd" + bytes(content))  # not a field: stuffed whole


def test_the_builder_signs_the_parts_it_sends() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    links = Links("https://updates.example.org/", "unsubscribe@example.org", "example.org",
                  "secret")
    signed = MessageBuilder(lambda name: MAIL, links, DkimSigner("news", "example.org", pem))
    plain = MessageBuilder(lambda name: MAIL, links)
    rendered = Rendered("ru", "Тема", "", html="", text=f"{GREETING_TOKEN}\n.x\n",
                        greetings=GREETINGS[0])
    template = plain.template(rendered, "daily", date=WHEN, format="text")
    to = Addressee(".e@example.org", ".Ева", "n1.2.daily@example.org", "daily",
                   date(2026, 1, 15), 2)
    content = signed.content(template, to)
    whole = bytes(content)
    assert whole.startswith(b"DKIM-Signature: ")
    assert whole.endswith(plain.message(template, to))
    _check(content, whole)
    assert plain.message(template, to) == bytes(plain.content(template, to))


def test_links_sign_the_tokens_the_tokens_module_signs() -> None:
    links = Links("https://updates.example.org/", "unsubscribe@example.org", "example.org",
                  "secret-Ж")
    day = date(2026, 1, 15)
    url, mailto = links.unsubscribe(12, "daily", day)
    token = sign_token(12, "daily", day, "secret-Ж", purpose=UNSUBSCRIBE)
    assert url == f"https://updates.example.org/unsubscribe/{token}"
    assert mailto == f"unsubscribe@example.org?subject=unsubscribe%20{token}"
    assert verify_token(token, ["secret-Ж"], day).subscriber_id == 12
    test_url, _ = links.test("daily", "kk", day)
    assert test_url.endswith("/" + sign_test_token("daily", "kk", day, "secret-Ж"))
    assert verify_token(test_url.rsplit("/", 1)[1], ["secret-Ж"], day,
                        purposes=(TEST,)).language == "kk"
    manage = links.manage(12, day)
    assert manage.endswith("/" + sign_token(12, "", day, "secret-Ж", purpose=MANAGE))
    assert links.manage(12, day) == manage  # the prepared key is copied, never consumed
    with pytest.raises(ValueError, match="signing key"):
        Links("https://u.example.org", "u@example.org", "example.org").unsubscribe(1, "d", day)
