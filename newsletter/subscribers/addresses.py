"""Subscribers: address validation and the rows that add or change one (pure; no I/O).
Reading and writing subscriber CSV files is :mod:`newsletter.subscribers.csvfile`.

Addresses are validated offline: a dot-atom local part (plus-addressing allowed; quoted local
parts and non-ASCII local parts, which need SMTPUTF8, are refused with that reason) and a domain
that IDNA-encodes to valid labels with an alphabetic or ``xn--`` top-level label. The stored form
is lower-cased, with the domain in ASCII (punycode), which is also what makes addresses unique.

A subscriber row (a CSV row, or ``subscribers add``) gives only what it gives: a name, language
or format that is missing, empty or blank is *not given*, so an existing subscriber keeps the
stored value and a new one gets the default (no name, ``en``, ``html``). A name is at most
:data:`MAX_NAME` characters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

import idna

from newsletter.errors import AddressError
from newsletter.languages import DEFAULT, LANGUAGES

FORMATS = ("html", "text")
DEFAULT_LANGUAGE = DEFAULT
DEFAULT_FORMAT = "html"
MAX_NAME = 200  # characters in a display name, after white space is collapsed
# Codes people write for our languages: a country code, or ISO 639-2/3 instead of 639-1.
LANGUAGE_SLIPS = {"kz": "kk", "kaz": "kk", "qaz": "kk", "rus": "ru", "eng": "en", "gb": "en",
                  "uk": "en", "us": "en"}
_LOCAL = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


class Status(StrEnum):
    PENDING = "pending"  # invited, not yet confirmed (double opt-in)
    ACTIVE = "active"
    UNSUBSCRIBED = "unsubscribed"
    BOUNCED = "bounced"
    SUPPRESSED = "suppressed"  # never to be sent to again, whatever list or path
    COMPLAINED = "complained"  # reported a message as abuse: no list writes to them again



@dataclass(frozen=True)
class Subscriber:
    """A subscriber as stored."""

    id: int
    email: str
    name: str | None
    language: str
    format: str
    status: str
    consent_source: str
    consent_at: datetime
    bounces: int = 0
    status_reason: str | None = None  # why the status is what it is (a bounce's status code)
    status_at: datetime | None = None
    suppressed_until: datetime | None = None  # a soft suppression's end
    bounce_score: float = 0.0
    paused_until: datetime | None = None  # nothing is queued for them before this
    languages: tuple[str, ...] = ()  # their language chain, first choice first (() : language)

    @property
    def chain(self) -> tuple[str, ...]:
        """The languages they read, first choice first."""
        return self.languages or (self.language,)


@dataclass(frozen=True)
class ImportCounts:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    subscribed: int = 0  # new memberships in the list
    not_resubscribed: list[str] = field(default_factory=list)  # unsubscribed/suppressed/bounced

    def __add__(self, other: ImportCounts) -> ImportCounts:
        """The counts of two batches of one import."""
        return ImportCounts(self.added + other.added, self.updated + other.updated,
                            self.unchanged + other.unchanged, self.subscribed + other.subscribed,
                            [*self.not_resubscribed, *other.not_resubscribed])


def normalise_address(raw: str) -> str:
    """The canonical form of an e-mail address, or :class:`AddressError` saying what is wrong."""
    address = raw.strip()
    if not address:
        raise AddressError("the address is empty")
    if any(ch.isspace() for ch in address) or any(ord(ch) < 32 for ch in address):
        raise AddressError(f"{raw!r} contains spaces or control characters")
    if address.count("@") != 1:
        raise AddressError(f"{raw!r} must contain exactly one @")
    local, domain = address.split("@")
    if not local:
        raise AddressError(f"{raw!r} has nothing before the @")
    if local.startswith('"'):
        raise AddressError(f"{raw!r}: quoted local parts are not supported")
    if not local.isascii():
        raise AddressError(f"{raw!r}: a non-ASCII local part needs SMTPUTF8, not supported")
    if len(local) > 64 or not _LOCAL.match(local):
        raise AddressError(f"{raw!r} has an invalid part before the @")
    ascii_domain = _ascii_domain(domain.rstrip(".").lower(), raw)
    normalised = f"{local.lower()}@{ascii_domain}"
    if len(normalised) > 254:
        raise AddressError(f"{raw!r} is longer than 254 characters")
    return normalised


def _ascii_domain(domain: str, raw: str) -> str:
    if not domain:
        raise AddressError(f"{raw!r} has no domain")
    try:
        # IDNA 2008 with UTS 46 mapping (the idna package): it refuses what the 2003 codec
        # of the standard library lets through, such as a label that starts with a hyphen.
        ascii_domain = idna.encode(domain, uts46=True).decode("ascii")
    except (idna.IDNAError, UnicodeError) as exc:
        raise AddressError(f"{raw!r} has an invalid domain") from exc
    labels = ascii_domain.split(".")
    if len(labels) < 2 or len(ascii_domain) > 253:
        raise AddressError(f"{raw!r}: the domain needs a dot, as in example.org")
    if not all(_LABEL.match(label) for label in labels):
        raise AddressError(f"{raw!r} has an invalid domain")
    top = labels[-1]
    if not (top.isalpha() and len(top) >= 2) and not top.startswith("xn--"):
        raise AddressError(f"{raw!r} has an invalid top-level domain")
    return ascii_domain


@dataclass(frozen=True)
class SubscriberRow:
    """One subscriber as given in a CSV file or on the command line, validated.

    ``None`` in ``name``, ``language`` or ``format`` means *not given*: an existing subscriber
    keeps the stored value and a new one gets the default (no name, :data:`DEFAULT_LANGUAGE`,
    :data:`DEFAULT_FORMAT`); see :meth:`applied_to`."""

    email: str
    name: str | None = None
    language: str | None = None  # the first of ``languages`` when a chain is given
    format: str | None = None
    languages: str | None = None  # a language chain, "kk,ru,en" (None: not given)

    def applied_to(
        self, stored: tuple[str | None, str, str, str | None] | None,
    ) -> tuple[str | None, str, str, str | None]:
        """The (name, language, format, language chain) a subscriber has once this row is
        taken: the fields it gives, and for the others the ``stored`` ones, or the defaults
        if there are none (a new subscriber). A language given alone ends the chain."""
        name, language, fmt, chain = stored or (None, DEFAULT_LANGUAGE, DEFAULT_FORMAT, None)
        if self.language is not None:
            chain = self.languages
        return (name if self.name is None else self.name,
                language if self.language is None else self.language,
                fmt if self.format is None else self.format, chain)


def language_chain(text: str | None) -> tuple[str, ...]:
    """``"kk, ru, en"`` → ``("kk", "ru", "en")``: a reader's languages, first choice first
    (commas, semicolons, ``>`` or spaces between them), each once; an unknown one is an
    :class:`AddressError` naming it."""
    chain: list[str] = []
    for part in re.split(r"[\s,;>]+", (text or "").strip().lower()):
        if not part:
            continue
        if part not in LANGUAGES:
            meant = LANGUAGE_SLIPS.get(part)
            raise AddressError(f"language {part!r} is not one of {', '.join(LANGUAGES)}"
                               + (f" (did you mean {meant}?)" if meant else ""))
        if part not in chain:
            chain.append(part)
    return tuple(chain)


def check_subscriber(email: str, name: str | None = None, language: str | None = None,
                     fmt: str | None = None) -> SubscriberRow:
    """Validate and normalise one subscriber's fields. A field that is ``None``, empty or only
    white space is *not given* (``None`` in the row); a name has its white space collapsed and
    may be at most :data:`MAX_NAME` characters long."""
    chain = language_chain(language)
    language = chain[0] if chain else None
    fmt = (fmt or "").strip().lower() or None
    if fmt is not None and fmt not in FORMATS:
        raise AddressError(f"format {fmt!r} is not one of {', '.join(FORMATS)}")
    cleaned_name = " ".join((name or "").split()) or None
    if cleaned_name is not None and len(cleaned_name) > MAX_NAME:
        raise AddressError(f"the name is {len(cleaned_name):,} characters long; at most "
                           f"{MAX_NAME} are allowed")
    return SubscriberRow(normalise_address(email), cleaned_name, language, fmt,
                         ",".join(chain) if len(chain) > 1 else None)
