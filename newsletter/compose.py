"""Build the MIME message of an issue once per language, then fill it in per subscriber (pure).

A :class:`MessageTemplate` holds the complete message (headers, a plain-text part and an HTML
part, ``multipart/alternative``) as byte segments with holes for what differs per subscriber:
the ``To`` header, the ``Message-ID``, the unsubscribe links (``List-Unsubscribe`` and the body's
link) and the greeting. :meth:`MessageTemplate.personalise` only joins bytes, so a list of
100,000 does not re-render templates or rebuild MIME.

Header safety: every header value that comes from content (subject, display names, list names)
has all its whitespace, CR and LF included, folded into single spaces before it is encoded
(RFC 2047 for non-ASCII, RFC 5322 folding); addresses, Message-IDs and URLs that contain CR, LF
or other control characters are refused. The body parts travel as 8-bit UTF-8 (RFC 6152) with
lines kept under RFC 5322's 998 characters.
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import html
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from email.header import Header
from email.message import EmailMessage
from email.utils import format_datetime, formataddr

from newsletter.errors import NewsletterError
from newsletter.render import GREETING_TOKEN, UNSUBSCRIBE_TOKEN, Rendered

CRLF = b"\r\n"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_ADDRESS = re.compile(r"^[^\s<>()\[\]\\,;:\"@]+@[A-Za-z0-9.-]+\.[A-Za-z0-9-]{2,}$")
_MESSAGE_ID = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@[A-Za-z0-9.-]+$")


class ComposeError(NewsletterError):
    """A value cannot be put into a message header safely."""


def header_text(value: str) -> str:
    """Content for a header: every run of whitespace or control characters, CR and LF
    included, becomes one space, so nothing from a report or a setting can start a header."""
    return " ".join(_CONTROL.sub(" ", value).split())


def encode_header(value: str, name: str) -> str:
    """An unstructured header value, RFC 2047-encoded when it is not ASCII, folded at 78."""
    text = header_text(value)
    if text.isascii():
        return Header(text, "us-ascii", header_name=name).encode(linesep="\r\n")
    return Header(text, "utf-8", header_name=name).encode(linesep="\r\n")


def address_header(name: str | None, address: str) -> str:
    """``Display Name <local@domain>`` with the name encoded as RFC 2047 when needed and an
    internationalised domain in its ASCII (IDNA) form."""
    if _CONTROL.search(address) or " " in address:
        raise ComposeError(f"the address {address!r} contains spaces or control characters")
    local, _, domain = address.rpartition("@")
    try:
        ascii_domain = domain.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise ComposeError(f"the address {address!r} has an invalid domain") from exc
    addr = f"{local}@{ascii_domain}"
    if not local.isascii() or not _ADDRESS.match(addr):
        raise ComposeError(f"{address!r} is not an address we can send to")
    return formataddr((header_text(name or ""), addr), charset="utf-8")


def _checked(value: str, what: str) -> str:
    if _CONTROL.search(value) or any(ch in value for ch in " <>\""):
        raise ComposeError(f"the {what} {value!r} contains spaces, quotes or control characters")
    return value


@dataclass(frozen=True)
class MailSettings:
    """Who a list's mail comes from and how it identifies itself."""

    from_name: str
    from_address: str
    list_id: str  # e.g. "daily.updates.example.org" (RFC 2919)
    list_name: str


@dataclass(frozen=True)
class Recipient:
    """What differs per subscriber."""

    address: str
    name: str | None
    message_id: str  # without angle brackets: "issue-12.sub-34@updates.example.org"
    unsubscribe_url: str  # signed https link (RFC 8058 one-click target)
    unsubscribe_mailto: str  # e.g. "unsubscribe@example.org?subject=unsubscribe%20TOKEN"


_HOLES = ("to", "message_id", "unsubscribe_http", "unsubscribe_mailto", "unsubscribe_url_html",
          "unsubscribe_url_text", "greeting_html", "greeting_text")
Segment = bytes | str  # literal bytes, or the name of a hole


@dataclass(frozen=True)
class MessageTemplate:
    """A complete message with holes; :meth:`personalise` fills them for one subscriber."""

    segments: tuple[Segment, ...]
    language: str
    greetings: tuple[str, str]  # named ("… %(name)s …") and anonymous

    def personalise(self, recipient: Recipient) -> bytes:
        """The message for one subscriber, as bytes ready for SMTP ``DATA``."""
        unsubscribe = _checked(recipient.unsubscribe_url, "unsubscribe URL")
        if recipient.name:
            greeting = self.greetings[0] % {"name": header_text(recipient.name)}
        else:
            greeting = self.greetings[1]
        values = {
            "to": address_header(recipient.name, recipient.address),
            "message_id": _checked(recipient.message_id, "Message-ID"),
            "unsubscribe_http": unsubscribe,
            "unsubscribe_mailto": _checked(recipient.unsubscribe_mailto, "unsubscribe address"),
            "unsubscribe_url_html": html.escape(unsubscribe),
            "unsubscribe_url_text": unsubscribe,
            "greeting_html": html.escape(greeting),
            "greeting_text": greeting,
        }
        if not _MESSAGE_ID.match(values["message_id"]):
            raise ComposeError(f"{recipient.message_id!r} is not a valid Message-ID")
        encoded = {key: value.encode("utf-8") for key, value in values.items()}
        return b"".join(s if isinstance(s, bytes) else encoded[s] for s in self.segments)


def build_template(rendered: Rendered, mail: MailSettings, *, date: datetime) -> MessageTemplate:
    """Headers and both body parts of ``rendered``, assembled once."""
    text = _crlf(rendered.text.replace("\x00", ""))
    body_html = _crlf(rendered.html.replace("\x00", ""))
    boundary = "=_nl_" + hashlib.sha256((text + body_html).encode("utf-8")).hexdigest()[:32]
    list_id = _checked(mail.list_id, "List-Id")
    list_header = f"{encode_header(mail.list_name, 'List-Id')} <{list_id}>"
    headers = [
        f"From: {address_header(mail.from_name, mail.from_address)}",
        "To: \x00to\x00",
        f"Subject: {encode_header(rendered.subject, 'Subject')}",
        f"Date: {format_datetime(date)}",
        "Message-ID: <\x00message_id\x00>",
        "MIME-Version: 1.0",
        f"Content-Language: {_checked(rendered.language, 'language')}",
        f"List-Id: {list_header}",
        # RFC 2369 and RFC 8058: a one-click HTTPS link and a mailto fallback.
        "List-Unsubscribe: <\x00unsubscribe_http\x00>,\r\n <mailto:\x00unsubscribe_mailto\x00>",
        "List-Unsubscribe-Post: List-Unsubscribe=One-Click",
        f'Content-Type: multipart/alternative; boundary="{boundary}"',
    ]
    parts = [
        "\r\n".join(headers), "\r\n\r\n",
        f"--{boundary}\r\n",
        'Content-Type: text/plain; charset="utf-8"\r\nContent-Transfer-Encoding: 8bit\r\n\r\n',
        text.replace(GREETING_TOKEN, "\x00greeting_text\x00")
        .replace(UNSUBSCRIBE_TOKEN, "\x00unsubscribe_url_text\x00"),
        f"\r\n--{boundary}\r\n",
        'Content-Type: text/html; charset="utf-8"\r\nContent-Transfer-Encoding: 8bit\r\n\r\n',
        body_html.replace(GREETING_TOKEN, "\x00greeting_html\x00")
        .replace(UNSUBSCRIBE_TOKEN, "\x00unsubscribe_url_html\x00"),
        f"\r\n--{boundary}--\r\n",
    ]
    return MessageTemplate(
        segments=tuple(_segments("".join(parts))),
        language=rendered.language,
        greetings=(rendered.greetings["named"], rendered.greetings["anonymous"]),
    )


# Headers a DKIM signature covers; RFC 8058 asks that List-Unsubscribe and
# List-Unsubscribe-Post be signed, which dkimpy does not do unless told.
DKIM_HEADERS = (b"from", b"to", b"subject", b"date", b"message-id", b"mime-version",
                b"content-type", b"content-language", b"list-id", b"list-unsubscribe",
                b"list-unsubscribe-post")


@dataclass(frozen=True)
class DkimSigner:
    """Signs finished messages (rsa-sha256, relaxed/relaxed) for ``domain`` with ``selector``."""

    selector: str
    domain: str
    private_key: bytes  # PEM

    def sign(self, message: bytes) -> bytes:
        import dkim

        header = dkim.sign(message, self.selector.encode(), self.domain.encode(),
                           self.private_key, canonicalize=(b"relaxed", b"relaxed"),
                           include_headers=list(DKIM_HEADERS))
        return bytes(header).replace(b"\r\n", b"\n").replace(b"\n", CRLF) + message


def body_parts(message: bytes) -> tuple[str, str]:
    """The plain-text and HTML bodies of a finished message, decoded: what a reader's mail
    client shows, for previews."""
    parsed = email.message_from_bytes(message, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    plain, html_part = parsed.get_body(("plain",)), parsed.get_body(("html",))
    return (str(plain.get_content()) if plain is not None else "",
            str(html_part.get_content()) if html_part is not None else "")


def _crlf(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\r\n")


def _segments(message: str) -> Iterable[Segment]:
    """Split on the NUL-delimited hole names (NUL never occurs in rendered text)."""
    for index, piece in enumerate(message.split("\x00")):
        if index % 2:
            if piece not in _HOLES:
                raise ValueError(f"unknown hole {piece!r}")
            yield piece
        elif piece:
            yield piece.encode("utf-8")
