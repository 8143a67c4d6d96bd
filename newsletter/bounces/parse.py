"""What a returned message says (pure).

A message that comes back to the return path is read, in this order, as:

1. an RFC 3464 delivery status notification (``multipart/report;
   report-type=delivery-status``): per recipient ``Action``, ``Status``, ``Final-Recipient``,
   ``Original-Recipient`` and ``Diagnostic-Code``; the worst failure counts;
2. an RFC 5965 (ARF) feedback report (``report-type=feedback-report``): ``abuse``, ``fraud``
   and ``other`` are complaints, ``not-spam`` is not;
3. a bounce in one of the many older formats (qmail, Exim, Exchange, …), by Mailman's
   detectors (``flufl.bounce``);
4. an auto-reply (RFC 3834 ``Auto-Submitted: auto-replied``, vacation and out-of-office
   headers and subjects), which is ignored;
5. anything else: :attr:`Kind.UNKNOWN`, kept for a person to look at.

Only the first ``max_bytes`` of a message are read (a bounce carrying a 10 MB original is read
from its head, where the report is). A message in a broken MIME structure is read as far as
it goes; nothing here raises on what came in.

Which message of ours it was is told by a return-path token (:mod:`newsletter.bounces.verp`):
the places it is looked for are listed by :func:`token_texts`, most trustworthy first.
"""

from __future__ import annotations

import email
import email.errors
import email.header
import email.message
import email.utils
import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from flufl.bounce import all_failures

from newsletter.bounces.rules import Kind, status_in

MAX_DIAGNOSTIC = 500  # characters of a diagnostic kept
_ENVELOPE_HEADERS = ("Delivered-To", "X-Original-To", "Envelope-To", "X-Envelope-To",
                     "X-Rcpt-To", "To")
_AUTO_SUBJECT = re.compile(
    r"^\s*(auto(matic)?[ -]?(reply|response|antwort)|out of (the )?office|away from|"
    r"on vacation|vacation|autoreply|abwesenheit|r[ée]ponse automatique|"
    r"автоответ|автоматический ответ|вне офиса|в отпуске|автожауап)",
    re.IGNORECASE)
_ACTION_RANK = {"failed": 3, "delayed": 2, "delivered": 1, "relayed": 1, "expanded": 1}


@dataclass(frozen=True)
class Returned:
    """A returned message, read."""

    kind: Kind
    fingerprint: str  # names this message whatever reads it: counted once
    recipient: str = ""  # the address the report names
    status: str | None = None  # the enhanced status code, or a complaint's feedback type
    diagnostic: str = ""
    detail: str = ""  # how it was read
    subject: str = ""
    texts: tuple[str, ...] = field(default=(), repr=False)  # where tokens are looked for


def fingerprint(raw: bytes, size: int) -> str:
    """A message's identity: the hash of what was read, and its whole size."""
    return f"{hashlib.sha256(raw).hexdigest()}:{size}"


def read_returned(raw: bytes, *, size: int | None = None) -> Returned:
    """Read a returned message (``raw``: its first bytes; ``size``: its whole size)."""
    key = fingerprint(raw, len(raw) if size is None else size)
    try:
        message = email.message_from_bytes(raw)
    except Exception as exc:  # noqa: BLE001 - the parser is lenient; this is a last resort
        return Returned(Kind.UNKNOWN, key, detail=f"not a mail message ({type(exc).__name__})")
    subject = _header(message, "Subject")
    try:
        read = _read(message)
    except Exception as exc:  # noqa: BLE001 - a broken structure is reported, never raised
        read = _Read(Kind.UNKNOWN, detail=f"a broken message ({type(exc).__name__}: {exc})"[:200])
    return Returned(read.kind, key, recipient=read.recipient, status=read.status,
                    diagnostic=read.diagnostic[:MAX_DIAGNOSTIC], detail=read.detail,
                    subject=subject[:300], texts=tuple(token_texts(message, read.fields)))


@dataclass(frozen=True)
class _Read:
    kind: Kind
    recipient: str = ""
    status: str | None = None
    diagnostic: str = ""
    detail: str = ""
    fields: tuple[str, ...] = ()  # report fields that name our envelope sender


def _read(message: email.message.Message) -> _Read:
    report = message.get_param("report-type", header="content-type")
    if message.get_content_type() == "multipart/report" and isinstance(report, str):
        if report.lower() == "delivery-status":
            dsn = _delivery_status(message)
            if dsn is not None:
                return dsn
        elif report.lower() == "feedback-report":
            arf = _feedback(message)
            if arf is not None:
                return arf
    if _auto_reply(message):
        return _Read(Kind.AUTO_REPLY, recipient=_sender(message), detail="an auto-reply")
    temporary, permanent = all_failures(message)
    if permanent or temporary:
        kind = Kind.PERMANENT if permanent else Kind.TEMPORARY
        address = sorted(permanent or temporary)[0].decode("utf-8", "replace")
        text = _body_text(message)
        return _Read(kind, recipient=address,
                     status=status_in(text) or ("5.0.0" if permanent else "4.0.0"),
                     diagnostic=_diagnostic_near(text, address),
                     detail="a bounce in a non-standard format")
    if _header(message, "Auto-Submitted").lower().startswith("auto-replied"):
        return _Read(Kind.AUTO_REPLY, recipient=_sender(message),
                     detail="an automatic reply (Auto-Submitted)")
    return _Read(Kind.UNKNOWN, detail="not a bounce, complaint or auto-reply this program "
                                      "understands")


def _delivery_status(message: email.message.Message) -> _Read | None:
    for part in message.walk():
        if part.get_content_type() != "message/delivery-status":
            continue
        blocks = _blocks(part)
        if not blocks:
            continue
        per_message, recipients = blocks[0], blocks[1:] or blocks[:1]
        worst: dict[str, str] | None = None
        for block in recipients:
            if "action" not in block and "status" not in block:
                continue
            if worst is None or _rank(block) > _rank(worst):
                worst = block
        if worst is None:
            continue
        action = worst.get("action", "").lower()
        status = status_in(worst.get("status", "")) or status_in(
            worst.get("diagnostic-code", ""))
        if action in ("delivered", "relayed", "expanded"):
            kind = Kind.DELIVERED
        elif action == "delayed" or (status or "").startswith("4"):
            kind = Kind.TEMPORARY
        else:
            kind = Kind.PERMANENT
        recipient = _address(worst.get("final-recipient") or worst.get("original-recipient")
                             or "")
        diagnostic = worst.get("diagnostic-code", "").partition(";")[2].strip() or worst.get(
            "diagnostic-code", "")
        return _Read(kind, recipient=recipient, status=status,
                     diagnostic=" ".join(diagnostic.split()),
                     detail="a delivery status notification (RFC 3464)",
                     fields=(per_message.get("original-envelope-id", ""),))
    return None


def _feedback(message: email.message.Message) -> _Read | None:
    for part in message.walk():
        if part.get_content_type() != "message/feedback-report":
            continue
        blocks = _blocks(part)
        fields = {k: v for block in blocks for k, v in block.items()}
        feedback = fields.get("feedback-type", "").strip().lower()
        if not feedback:
            continue
        recipient = _address(fields.get("original-rcpt-to", ""))
        found = (fields.get("original-mail-from", ""),)
        if feedback == "not-spam":
            return _Read(Kind.NOT_SPAM, recipient=recipient, status=feedback,
                         detail="a feedback report that the message is not spam", fields=found)
        return _Read(Kind.COMPLAINT, recipient=recipient, status=feedback,
                     diagnostic=fields.get("user-agent", ""),
                     detail=f"a complaint ({feedback}, ARF RFC 5965)", fields=found)
    return None


def _rank(block: dict[str, str]) -> int:
    return _ACTION_RANK.get(block.get("action", "").lower(), 0)


def _blocks(part: email.message.Message) -> list[dict[str, str]]:
    """The field blocks of a ``message/delivery-status`` or ``message/feedback-report`` part,
    field names lower case; read from its text when the parser made no blocks of it."""
    payload = part.get_payload()
    if isinstance(payload, list):
        return [{str(k).lower(): _unfold(_utf8(v)) for k, v in block.items()}
                for block in payload if isinstance(block, email.message.Message)]
    raw = part.get_payload(decode=True)
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(payload)
    blocks: list[dict[str, str]] = []
    for chunk in re.split(r"\r?\n\s*\r?\n", text):
        fields: dict[str, str] = {}
        name = ""
        for line in chunk.splitlines():
            if line[:1] in (" ", "\t") and name:
                fields[name] += " " + line.strip()
            elif ":" in line:
                name, _, value = line.partition(":")
                name = name.strip().lower()
                fields[name] = value.strip()
        if fields:
            blocks.append(fields)
    return blocks


def _auto_reply(message: email.message.Message) -> bool:
    auto = _header(message, "Auto-Submitted").lower()
    if any(message.get(name) is not None for name in ("X-Autoreply", "X-Autorespond",
                                                      "X-Vacation")):
        return True
    if _header(message, "Precedence").lower() == "auto_reply":
        return True
    return auto.startswith("auto-replied") and bool(_AUTO_SUBJECT.search(
        _header(message, "Subject")))


def token_texts(message: email.message.Message, fields: tuple[str, ...] = ()) -> Iterator[str]:
    """Where a return-path token may be, most trustworthy first: the headers that carry the
    envelope recipient (the return path the message came back to), the report's own fields
    (ARF's ``Original-Mail-From``), the returned message's ``Return-Path``, then the text
    of every part."""
    for name in _ENVELOPE_HEADERS:
        for value in message.get_all(name) or ():
            yield _utf8(value)
    yield from (value for value in fields if value)
    for part in message.walk():
        if part.get_content_type() in ("message/rfc822", "text/rfc822-headers"):
            payload = part.get_payload()
            inner = payload[0] if isinstance(payload, list) and payload else None
            if isinstance(inner, email.message.Message):
                for value in inner.get_all("Return-Path") or ():
                    yield str(value)
    yield _body_text(message)


def _body_text(message: email.message.Message) -> str:
    """Every text part (and text/rfc822-headers), decoded, up to 1 MB in all."""
    texts: list[str] = []
    budget = 1_000_000
    for part in message.walk():
        if part.is_multipart() or part.get_content_maintype() not in ("text", "message"):
            continue
        raw = part.get_payload(decode=True)
        if not isinstance(raw, bytes):
            continue
        charset = part.get_content_charset() or "utf-8"
        try:
            text = raw.decode(charset, "replace")
        except LookupError:
            text = raw.decode("utf-8", "replace")
        texts.append(text[:budget])
        budget -= len(texts[-1])
        if budget <= 0:
            break
    return "\n".join(texts)


def _diagnostic_near(text: str, address: str) -> str:
    """The lines around the failed address in a non-standard bounce: its reason, usually."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for index, line in enumerate(lines):
        if address.lower() in line.lower():
            return " ".join(lines[index:index + 3])[:MAX_DIAGNOSTIC]
    return " ".join(lines[:3])[:MAX_DIAGNOSTIC]


def _address(field_value: str) -> str:
    """``rfc822; someone@example.org`` → ``someone@example.org``."""
    value = field_value.partition(";")[2] if ";" in field_value else field_value
    return value.strip().strip("<>").strip()[:320]


def _utf8(value: object) -> str:
    """A header value as text: raw 8-bit bytes (kept by the parser as surrogates) read as
    UTF-8, as RFC 6532 allows in delivery status fields."""
    if isinstance(value, email.header.Header):  # the parser's wrapper of 8-bit bytes
        return "".join(part.decode("utf-8", "replace") if isinstance(part, bytes) else part
                       for part, _ in email.header.decode_header(value))
    text = str(value)
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    except UnicodeEncodeError:
        return text


def _sender(message: email.message.Message) -> str:
    """The address an auto-reply is from (the reader, usually)."""
    return email.utils.parseaddr(_header(message, "From"))[1][:320]


def _unfold(value: str) -> str:
    return " ".join(value.split())


def _header(message: email.message.Message, name: str) -> str:
    value = message.get(name)
    if value is None:
        return ""
    try:
        parts = email.header.decode_header(str(value))
        return _unfold("".join(text.decode(charset or "utf-8", "replace")
                               if isinstance(text, bytes) else text
                               for text, charset in parts))
    except (LookupError, ValueError, email.errors.HeaderParseError):
        return _unfold(str(value))
