"""Build the MIME message of an issue once per language, then fill it in per subscriber (pure).

A :class:`MessageTemplate` holds the complete message (headers, a plain-text part and an HTML
part, ``multipart/alternative``) as byte segments with holes for what differs per subscriber:
the ``To`` header, the ``Message-ID``, the unsubscribe links (``List-Unsubscribe`` and the body's
link) and the greeting. :meth:`MessageTemplate.fill` computes only those values and lays them
out between the template's chunks (:mod:`newsletter.mail.content`: the chunks are dot-stuffed
once per template, so the SMTP session sends the parts as they are, and nothing copies the
body per reader); :meth:`MessageTemplate.personalise` is the same message joined into bytes.
A list of 100,000 does not re-render templates, rebuild MIME or re-encode a constant header.

Header safety: every header value that comes from content (subject, display names, list names)
has all its whitespace, CR and LF included, folded into single spaces before it is encoded
(RFC 2047 for non-ASCII text and for text that contains ``=?``, which a decoder would otherwise
take for an encoded-word, and RFC 5322 folding at 78 octets); addresses, Message-IDs and URLs
that contain CR, LF or other control characters are refused.

Line length: RFC 5322 allows 998 octets a line (CRLF excluded), and a relay answers a longer one
with ``500 Line too long``; a Cyrillic letter is two octets, so lengths are counted in octets of
UTF-8. Headers are folded at 78 octets (a ``To`` with a 2,000-letter name becomes many
encoded-words). The body parts travel as 8-bit UTF-8 (RFC 6152), so :meth:`fill` stays
a byte splice; :func:`build_template` wraps their lines at :data:`BODY_LINE_OCTETS`, at a space
(HTML also between tags), only as a last resort between two characters, counting each hole at
the most its value may take (:data:`VALUE_OCTETS` for links and IDs; the name in the greeting
is cut to :data:`GREETING_NAME_OCTETS`), and refuses a template with a longer line. The wrapped
text differs from the rendered text only in whitespace. :func:`longest_line` measures a
finished message.
"""

from __future__ import annotations

import base64
import email
import email.policy
import functools
import hashlib
import html
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from email.header import Header
from email.message import EmailMessage
from email.utils import format_datetime, formataddr

from newsletter.errors import ComposeError
from newsletter.mail.content import Content, Layout
from newsletter.mail.render import GREETING_TOKEN, MANAGE_TOKEN, UNSUBSCRIBE_TOKEN, Rendered

_PLAIN = 'Content-Type: text/plain; charset="utf-8"\r\nContent-Transfer-Encoding: 8bit\r\n'
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_UNSAFE_VALUE = re.compile(r'[\x00-\x20"<>\x7f]')  # control characters, space, quote, <, >
_ADDRESS = re.compile(r"^[^\s<>()\[\]\\,;:\"@]+@[A-Za-z0-9.-]+\.[A-Za-z0-9-]{2,}$")
_MESSAGE_ID = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@[A-Za-z0-9.-]+$")
_INDENT = re.compile(r"[ \t]*(?:[*•-] )?")

MAX_LINE_OCTETS = 998  # RFC 5322 2.1.1, CRLF excluded
FOLD_OCTETS = 78  # where headers are folded (RFC 5322 2.1.1's "SHOULD")
BODY_LINE_OCTETS = 900  # where body lines are wrapped, with room to spare under the limit
VALUE_OCTETS = 512  # the most a Message-ID, an unsubscribe link (as the HTML has it) may take
ADDRESS_OCTETS = 254  # RFC 5321 4.5.3.1.3: a path is 256 octets with its angle brackets
GREETING_NAME_CHARS = 200  # the name in the greeting is cut after this many characters…
GREETING_NAME_OCTETS = 400  # …or octets as the HTML part has it (escaped); "…" marks the cut
_WORD_OCTETS = 45  # text in one encoded-word of a name: 72 characters in base64


def header_text(value: str) -> str:
    """Content for a header: every run of whitespace or control characters, CR and LF
    included, becomes one space, so nothing from a report or a setting can start a header."""
    if (value.isprintable() and "  " not in value and value[:1] != " "
            and value[-1:] != " "):  # no whitespace but single spaces inside: as it is
        return value
    return " ".join(_CONTROL.sub(" ", value).split())


def _folded(value: str, name: str) -> bool:
    """Whether every line of the header ``name: value`` is at most :data:`FOLD_OCTETS`."""
    if value.isascii() and len(name) + 2 + len(value) <= FOLD_OCTETS:
        return True  # one short line, or shorter ones
    lines = f"{name}: {value}".split("\r\n")
    return max(len(line.encode("utf-8")) for line in lines) <= FOLD_OCTETS


def encode_header(value: str, name: str) -> str:
    """An unstructured header value folded at 78 octets, RFC 2047-encoded when it is not ASCII,
    when it contains ``=?`` (a title ``Floods =?utf-8?q?=0D=0ABcc:_x?=`` must reach the reader
    as written, not decoded into CR LF) or when a word is too long to fold."""
    text = header_text(value)
    if text.isascii() and "=?" not in text:
        plain = Header(text, "us-ascii", header_name=name).encode(linesep="\r\n")
        if _folded(plain, name):
            return plain
    return Header(text, "utf-8", header_name=name).encode(linesep="\r\n")


def _then(value: str, name: str, token: str) -> str:
    """``value`` (folded for header ``name``) followed by ``token``, on the last line when it
    fits in :data:`FOLD_OCTETS`, else on a line of its own."""
    last = f"{name}: {value}".rsplit("\r\n", 1)[-1]
    gap = " " if len(last.encode("utf-8")) + 1 + len(token) <= FOLD_OCTETS else "\r\n "
    return f"{value}{gap}{token}"


def greeting_name(name: str) -> str:
    """The name as the greeting shows it: header text, cut with "…" to at most
    :data:`GREETING_NAME_CHARS` characters and :data:`GREETING_NAME_OCTETS` octets as it is
    written into the HTML part (escaped), so the greeting's line stays short."""
    text = header_text(name)
    if len(text) * 6 <= GREETING_NAME_OCTETS:  # an escaped character takes at most 6 octets
        return text
    costs = [len(html.escape(ch).encode("utf-8")) for ch in text[:GREETING_NAME_CHARS + 1]]
    if len(text) <= GREETING_NAME_CHARS and sum(costs) <= GREETING_NAME_OCTETS:
        return text
    room, kept = GREETING_NAME_OCTETS - len("…".encode()), 0
    for cost in costs[:GREETING_NAME_CHARS - 1]:
        if cost > room:
            break
        room -= cost
        kept += 1
    return text[:kept].rstrip() + "…"


def _phrase(text: str) -> str:
    """``text`` as RFC 2047 encoded-words (UTF-8, base64), one a line: at most
    :data:`_WORD_OCTETS` octets of text each (72 characters, so 78 with ``From: `` before the
    first), cut after a space where there is one, the space kept inside the encoded-word:
    decoders drop the white space *between* encoded-words (RFC 2047 6.2), so they show the
    name as written."""
    words, start = [], 0
    while start < len(text):
        end, size = start, 0
        while end < len(text) and size + _octets(text[end]) <= _WORD_OCTETS:
            size += _octets(text[end])
            end += 1
        if end < len(text) and (space := text.rfind(" ", start, end)) >= start:
            end = space + 1
        chunk = base64.b64encode(text[start:end].encode("utf-8")).decode("ascii")
        words.append(f"=?utf-8?b?{chunk}?=")
        start = end
    return "\r\n ".join(words)


def address_header(name: str | None, address: str, header: str = "To") -> str:
    """``Display Name <local@domain>`` for header ``header``, folded at 78 octets: the name
    RFC 2047-encoded when it is not ASCII, in as many encoded-words as it needs
    (:func:`_phrase`) when it contains ``=?`` or is too long for one line, and an
    internationalised domain in its ASCII (IDNA) form."""
    if _CONTROL.search(address) or " " in address:
        raise ComposeError(f"the address {address!r} contains spaces or control characters")
    local, _, domain = address.rpartition("@")
    ascii_domain = _ascii_domain(domain)
    if ascii_domain is None:
        raise ComposeError(f"the address {address!r} has an invalid domain")
    addr = f"{local}@{ascii_domain}"
    if not local.isascii() or not _ADDRESS.match(addr):
        raise ComposeError(f"{address!r} is not an address we can send to")
    if len(addr) > ADDRESS_OCTETS:
        raise ComposeError(f"the address {address!r} is longer than {ADDRESS_OCTETS} octets")
    display = header_text(name or "")
    if not display:
        return addr
    if "=?" not in display:
        plain = formataddr((display, addr), charset="utf-8")
        if _folded(plain, header):
            return plain
    return _then(_phrase(display), header, f"<{addr}>")


@functools.lru_cache(maxsize=4096)
def _ascii_domain(domain: str) -> str | None:
    """``domain`` in its ASCII (IDNA) form, or None when it has none; readers share domains,
    so each is encoded once."""
    try:
        return domain.encode("idna").decode("ascii")
    except UnicodeError:
        return None


def _checked(value: str, what: str) -> str:
    if _UNSAFE_VALUE.search(value):
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
    manage_url: str = ""  # the reader's own page (signed); "" where a mail has none


_HOLES = ("to", "message_id", "unsubscribe_http", "unsubscribe_mailto", "unsubscribe_url_html",
          "unsubscribe_url_text", "greeting_html", "greeting_text", "manage_url_html",
          "manage_url_text")
Segment = bytes | str  # literal bytes, or the name of a hole
# Holes whose value personalise refuses beyond VALUE_OCTETS ("unsubscribe_url_text" is the
# same link as "unsubscribe_http", unescaped).
_CAPPED = ("message_id", "unsubscribe_http", "unsubscribe_mailto", "unsubscribe_url_html",
           "manage_url_html")
_HTML_HOLES = frozenset({"unsubscribe_url_html", "greeting_html", "manage_url_html"})


def _reserve(greetings: tuple[str, str]) -> dict[str, int]:
    """The most octets each hole's value may put on one line, for wrapping around holes."""
    named, anonymous = greetings
    names = named.count("%(name)s") * GREETING_NAME_OCTETS
    bare = named % {"name": ""}
    return {
        # A line of the folded To value: an encoded-word line, or the address on its own.
        "to": max(FOLD_OCTETS, ADDRESS_OCTETS + 3),
        **{hole: VALUE_OCTETS for hole in _CAPPED},
        "unsubscribe_url_text": VALUE_OCTETS,
        "manage_url_text": VALUE_OCTETS,
        "greeting_text": max(len(bare.encode("utf-8")) + names, len(anonymous.encode("utf-8"))),
        "greeting_html": max(len(html.escape(bare).encode("utf-8")) + names,
                             len(html.escape(anonymous).encode("utf-8"))),
    }


@dataclass(frozen=True)
class MessageTemplate:
    """A complete message with holes; :meth:`fill` fills them for one subscriber.

    What does not depend on the reader is prepared once, when the template is made: the
    :class:`~newsletter.mail.content.Layout` of its chunks (dot-stuffed for SMTP) and the
    anonymous greeting, as text and as HTML."""

    segments: tuple[Segment, ...]
    language: str
    greetings: tuple[str, str]  # named ("… %(name)s …") and anonymous
    _layout: Layout = field(init=False, repr=False, compare=False)
    _anonymous: tuple[bytes, bytes] = field(init=False, repr=False, compare=False)
    _html: bool = field(init=False, repr=False, compare=False)  # has an HTML part's holes

    def __post_init__(self) -> None:
        anonymous = self.greetings[1]
        object.__setattr__(self, "_layout", Layout(self.segments))
        object.__setattr__(self, "_anonymous", (anonymous.encode("utf-8"),
                                                html.escape(anonymous).encode("utf-8")))
        object.__setattr__(self, "_html", any(segment in _HTML_HOLES
                                              for segment in self.segments))

    def fill(self, recipient: Recipient) -> Content:
        """The message for one subscriber, as the parts it is made of: ``bytes()`` of it is the
        message, its :attr:`~newsletter.mail.content.Content.data` what SMTP ``DATA`` sends.
        Every line stays within :data:`MAX_LINE_OCTETS`: the name in ``To`` is folded, the one
        in the greeting cut (:func:`greeting_name`), and an ID or link longer than
        :data:`VALUE_OCTETS` is refused."""
        return self._layout.fill(self._values(recipient))

    def personalise(self, recipient: Recipient) -> bytes:
        """The message for one subscriber (:meth:`fill`), as one ``bytes``."""
        return bytes(self.fill(recipient))

    def _values(self, recipient: Recipient) -> dict[str, bytes]:
        """What fills each hole for ``recipient``, checked (no CR, LF or other control
        character reaches a header) and encoded."""
        unsubscribe = _checked(recipient.unsubscribe_url, "unsubscribe URL")
        manage = _checked(recipient.manage_url or unsubscribe, "manage URL")
        to = address_header(recipient.name, recipient.address)
        message_id = _checked(recipient.message_id, "Message-ID")
        mailto = _checked(recipient.unsubscribe_mailto, "unsubscribe address")
        if not _MESSAGE_ID.match(message_id):
            raise ComposeError(f"{recipient.message_id!r} is not a valid Message-ID")
        if recipient.name:
            greeting = self.greetings[0] % {"name": greeting_name(recipient.name)}
            greeting_text = greeting.encode("utf-8")
            greeting_html = _escaped(greeting) if self._html else b""
        else:
            greeting_text, greeting_html = self._anonymous
        unsubscribe_bytes = unsubscribe.encode("utf-8")
        values = {
            "to": to.encode("utf-8"),
            "message_id": message_id.encode("utf-8"),
            "unsubscribe_http": unsubscribe_bytes,
            "unsubscribe_mailto": mailto.encode("utf-8"),
            "unsubscribe_url_text": unsubscribe_bytes,
            "manage_url_text": manage.encode("utf-8"),
            "greeting_text": greeting_text,
            # The HTML part's links, as escaped text (a text/plain template has no such holes,
            # but a link still must not be too long for one).
            "unsubscribe_url_html": _escaped(unsubscribe),
            "manage_url_html": _escaped(manage),
            "greeting_html": greeting_html,
        }
        for key in _CAPPED:
            if len(values[key]) > VALUE_OCTETS:
                raise ComposeError(f"the {key.replace('_', ' ')} of {recipient.address} is "
                                   f"longer than {VALUE_OCTETS} octets")
        return values


def _escaped(text: str) -> bytes:
    """``text`` escaped for HTML (as :func:`html.escape`), in UTF-8."""
    if "&" in text or "<" in text or ">" in text or '"' in text or "'" in text:
        text = html.escape(text)
    return text.encode("utf-8")


def build_template(rendered: Rendered, mail: MailSettings, *, date: datetime,
                   text_only: bool = False) -> MessageTemplate:
    """Headers and both body parts of ``rendered`` (``multipart/alternative``), or with
    ``text_only`` the plain text alone as a single ``text/plain`` body (for subscribers whose
    format is ``text``), assembled once, every line within :data:`MAX_LINE_OCTETS` whatever the
    holes are filled with (body lines wrapped, see the module docstring); a template that
    cannot be, e.g. for an overlong List-Id, is refused."""
    greetings = (rendered.greetings["named"], rendered.greetings["anonymous"])
    reserve = _reserve(greetings)
    text = _crlf(rendered.text.replace("\x00", ""))
    body_html = _crlf(rendered.html.replace("\x00", ""))
    boundary = "=_nl_" + hashlib.sha256((text + body_html).encode("utf-8")).hexdigest()[:32]
    list_id = _checked(mail.list_id, "List-Id")
    list_header = _then(encode_header(mail.list_name, "List-Id"), "List-Id", f"<{list_id}>")
    headers = [
        f"From: {address_header(mail.from_name, mail.from_address, 'From')}",
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
    ]
    plain_part = _wrap(text.replace(GREETING_TOKEN, "\x00greeting_text\x00")
                       .replace(UNSUBSCRIBE_TOKEN, "\x00unsubscribe_url_text\x00")
                       .replace(MANAGE_TOKEN, "\x00manage_url_text\x00"), reserve,
                       markup=False)
    if text_only:
        parts = ["\r\n".join(headers), "\r\n", _PLAIN, "\r\n", plain_part]
        if not plain_part.endswith("\r\n"):
            parts.append("\r\n")
    else:
        parts = [
            "\r\n".join(headers), "\r\n",
            f'Content-Type: multipart/alternative;\r\n boundary="{boundary}"\r\n\r\n',
            f"--{boundary}\r\n", _PLAIN, "\r\n", plain_part,
            f"\r\n--{boundary}\r\n",
            'Content-Type: text/html; charset="utf-8"\r\nContent-Transfer-Encoding: 8bit\r\n\r\n',
            _wrap(body_html.replace(GREETING_TOKEN, "\x00greeting_html\x00")
                  .replace(UNSUBSCRIBE_TOKEN, "\x00unsubscribe_url_html\x00")
                  .replace(MANAGE_TOKEN, "\x00manage_url_html\x00"), reserve,
                  markup=True),
            f"\r\n--{boundary}--\r\n",
        ]
    message = "".join(parts)
    for line in message.split("\r\n"):
        if _width(line, reserve) > MAX_LINE_OCTETS:
            raise ComposeError(f"a line of the message would be longer than {MAX_LINE_OCTETS} "
                               f"octets: {line[:60]!r}…")
    return MessageTemplate(segments=tuple(_segments(message)), language=rendered.language,
                           greetings=greetings)


def body_parts(message: bytes) -> tuple[str, str]:
    """The plain-text and HTML bodies of a finished message, decoded: what a reader's mail
    client shows, for previews."""
    parsed = email.message_from_bytes(message, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    plain, html_part = parsed.get_body(("plain",)), parsed.get_body(("html",))
    return (str(plain.get_content()) if plain is not None else "",
            str(html_part.get_content()) if html_part is not None else "")


def longest_line(message: bytes) -> int:
    """The length in octets of the longest line of ``message``, its CR LF (or bare LF) not
    counted: at most :data:`MAX_LINE_OCTETS` for a message a relay accepts."""
    return max((len(line) - line.endswith(b"\r") for line in message.split(b"\n")), default=0)


def _octets(char: str) -> int:
    code = ord(char)
    return 1 if code < 0x80 else 2 if code < 0x800 else 3 if code < 0x10000 else 4


def _width(line: str, reserve: Mapping[str, int]) -> int:
    """The octets ``line`` takes once its holes are filled, each at its reserve."""
    if "\x00" not in line:
        return len(line) if line.isascii() else len(line.encode("utf-8"))
    pieces = line.split("\x00")
    return sum(reserve[piece] if index % 2 else len(piece.encode("utf-8"))
               for index, piece in enumerate(pieces))


def _fitting(line: str, reserve: Mapping[str, int]) -> int:
    """How many characters of ``line`` fit in :data:`BODY_LINE_OCTETS`; never ends inside a
    hole."""
    width = offset = 0
    for index, piece in enumerate(line.split("\x00")):
        if index % 2:
            width += reserve[piece]
            if width > BODY_LINE_OCTETS:
                return offset
            offset += len(piece) + 2
            continue
        for char in piece:
            width += _octets(char)
            if width > BODY_LINE_OCTETS:
                return offset
            offset += 1
    return offset


def _wrap(body: str, reserve: Mapping[str, int], *, markup: bool) -> str:
    """``body`` (CRLF lines, with holes) with every line longer than :data:`BODY_LINE_OCTETS`
    broken: at the last space that fits (the space becomes the line break: whitespace either
    way in HTML, a wrapped line in text, whose continuation keeps the line's indent), else in
    HTML between two tags (``><``), else between two characters (never inside a hole, nor in
    HTML inside a character reference)."""
    return "\r\n".join(piece for line in body.split("\r\n")
                       for piece in _wrap_line(line, reserve, markup))


def _wrap_line(line: str, reserve: Mapping[str, int], markup: bool) -> list[str]:
    if _width(line, reserve) <= BODY_LINE_OCTETS:
        return [line]
    indent = ""
    if not markup:
        prefix = _INDENT.match(line)
        indent = " " * min(len(prefix.group(0)) if prefix else 0, 16)
    start, pieces = len(indent), []
    while _width(line, reserve) > BODY_LINE_OCTETS:
        end = _fitting(line, reserve)
        space = line.rfind(" ", start + 1, end + 1)
        tags = line.rfind("><", start, end + 1) if markup else -1
        if space > start:
            head, rest = line[:space], line[space + 1:]
        elif tags >= start:
            head, rest = line[:tags + 1], line[tags + 1:]
        else:
            if end <= start:  # a hole right after the indent: it goes whole on this line
                end = line.index("\x00", start + 1) + 1 if line[start:start + 1] == "\x00" \
                    else start + 1
            if markup:
                amp = line.rfind("&", max(start + 1, end - 10), end)
                if amp > start and ";" not in line[amp:end]:
                    end = amp
            head, rest = line[:end], line[end:]
        pieces.append(head)
        line = indent + rest
    pieces.append(line)
    return pieces


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
