"""Mail with long Cyrillic lines, for the line-length tests: 1,500-character paragraphs with no
line breaks, long titles, sources, sender and list names, and a 2,000-character display name, in
Russian and Kazakh (two octets a letter)."""

from __future__ import annotations

import email
import email.policy
from dataclasses import dataclass
from datetime import UTC, date, datetime
from email.header import decode_header, make_header

from newsletter.mail.compose import MailSettings, Recipient, build_template
from newsletter.mail.render import MailIssue, MailItem, Rendered, Renderer, load_translations
from tests.helpers import REPO

RENDERER = Renderer(REPO / "templates", load_translations(REPO / "translations"))
WHEN = datetime(2026, 1, 15, 9, 0, tzinfo=UTC)
SENTENCES = {
    "ru": ("Наводнение затронуло более тысячи домохозяйств в Алматинской области, и "
           "гуманитарные партнёры доставили питьевую воду, палатки и медикаменты."),
    "kk": ("Су тасқыны Алматы облысындағы мыңнан астам үй шаруашылығын зардап шектірді, "
           "гуманитарлық серіктестер ауыз су, шатыр және дәрі-дәрмек жеткізді."),
}
NAMES = {"ru": "Александра Константиновна Преображенская-Рождественская",
         "kk": "Айгүл Сейітқызы Нұрсұлтанова-Жұмабаева"}


def words(source: str, chars: int) -> str:
    """``source`` repeated, one line of about ``chars`` characters cut at a space."""
    text = " ".join([source] * (chars // len(source) + 2))
    return text[:chars].rsplit(" ", 1)[0]


def paragraph(language: str, chars: int = 1500) -> str:
    return words(SENTENCES[language], chars)


def long_name(language: str, chars: int = 2000) -> str:
    return words(NAMES[language], chars)


@dataclass(frozen=True)
class LongMail:
    raw: bytes
    rendered: Rendered
    recipient: Recipient
    mail: MailSettings
    name: str  # the recipient's display name


def long_issue(kind: str, language: str) -> MailIssue:
    count = 1 if kind == "alert" else 3
    items = tuple(
        MailItem(report_id=i, title=paragraph(language, 400),
                 summary=(paragraph(language), paragraph(language)),
                 sources=(paragraph(language, 300), "OCHA"), kind="Situation Report",
                 published=date(2019, 6, 12), link=f"https://example.org/reports/{i}",
                 original_language=language)
        for i in range(1, count + 1))
    return MailIssue(kind, language, paragraph(language, 200), date(2026, 1, 15), items)


def decoded(raw: bytes, header: str) -> str:
    """Header ``header`` of message ``raw``, unfolded and RFC 2047-decoded as its section 6.2
    says: white space between two encoded-words is dropped. (policy.default's address parser
    keeps a space there on the Python this runs on, CPython gh-128110, so a display name that
    takes several encoded-words reads back from it with doubled spaces.)"""
    value = email.message_from_bytes(raw, policy=email.policy.compat32)[header]
    return str(make_header(decode_header(value)))


def long_message(kind: str, language: str) -> LongMail:
    """An alert or a digest in ``language`` whose every paragraph, title and name is long."""
    rendered = RENDERER.render(long_issue(kind, language))
    mail = MailSettings(paragraph(language, 300), "updates@example.org", "daily.example.org",
                        paragraph(language, 300))
    name = long_name(language)
    recipient = Recipient("reader@example.org", name, "i1.s1@example.org",
                          "https://updates.example.org/unsubscribe/TOKEN-123",
                          "unsubscribe@example.org?subject=unsubscribe%20TOKEN-123")
    raw = build_template(rendered, mail, date=WHEN).personalise(recipient)
    return LongMail(raw, rendered, recipient, mail, name)
