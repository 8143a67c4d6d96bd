"""Subscribers and lists: address validation, subscriber rows, signed unsubscribe tokens
(pure; no I/O). Reading and writing subscriber CSV files is :mod:`newsletter.subscribers.csvfile`.

Addresses are validated offline: a dot-atom local part (plus-addressing allowed; quoted local
parts and non-ASCII local parts, which need SMTPUTF8, are refused with that reason) and a domain
that IDNA-encodes to valid labels with an alphabetic or ``xn--`` top-level label. The stored form
is lower-cased, with the domain in ASCII (punycode), which is also what makes addresses unique.

A subscriber row (a CSV row, or ``subscribers add``) gives only what it gives: a name, language
or format that is missing, empty or blank is *not given*, so an existing subscriber keeps the
stored value and a new one gets the default (no name, ``en``, ``html``). A name is at most
:data:`MAX_NAME` characters.

Unsubscribe tokens are HMAC-SHA256 signatures over (subscriber, list, issue day), tagged with a
key id derived from the secret, so links keep working across a key rotation while the old key is
still listed, and for :data:`TOKEN_LIFETIME` after the mail was sent. Each token is signed for
one purpose, under the signature: unsubscribe, confirm a subscription, or a test send's link
(:data:`TEST`), which names no subscriber and changes nothing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from enum import StrEnum

import idna

from newsletter.errors import AddressError, ListError, TokenError
from newsletter.languages import DEFAULT, LANGUAGES
from newsletter.reports.model import Report
from newsletter.reports.places import Gazetteer

FORMATS = ("html", "text")
DEFAULT_LANGUAGE = DEFAULT
DEFAULT_FORMAT = "html"
MAX_NAME = 200  # characters in a display name, after white space is collapsed
# Codes people write for our languages: a country code, or ISO 639-2/3 instead of 639-1.
LANGUAGE_SLIPS = {"kz": "kk", "kaz": "kk", "qaz": "kk", "rus": "ru", "eng": "en", "gb": "en",
                  "uk": "en", "us": "en"}
TOKEN_LIFETIME = timedelta(days=400)  # a mail may be read, and acted on, for a year and more
_LOCAL = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


class Status(StrEnum):
    PENDING = "pending"  # invited, not yet confirmed (double opt-in)
    ACTIVE = "active"
    UNSUBSCRIBED = "unsubscribed"
    BOUNCED = "bounced"
    SUPPRESSED = "suppressed"  # never to be sent to again, whatever list or path



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
    language: str | None = None
    format: str | None = None

    def applied_to(
        self, stored: tuple[str | None, str, str] | None,
    ) -> tuple[str | None, str, str]:
        """The (name, language, format) a subscriber has once this row is taken: the fields
        it gives, and for the others the ``stored`` ones, or the defaults if there are none
        (a new subscriber)."""
        name, language, fmt = stored or (None, DEFAULT_LANGUAGE, DEFAULT_FORMAT)
        return (name if self.name is None else self.name,
                language if self.language is None else self.language,
                fmt if self.format is None else self.format)


def check_subscriber(email: str, name: str | None = None, language: str | None = None,
                     fmt: str | None = None) -> SubscriberRow:
    """Validate and normalise one subscriber's fields. A field that is ``None``, empty or only
    white space is *not given* (``None`` in the row); a name has its white space collapsed and
    may be at most :data:`MAX_NAME` characters long."""
    language = (language or "").strip().lower() or None
    fmt = (fmt or "").strip().lower() or None
    if language is not None and language not in LANGUAGES:
        meant = LANGUAGE_SLIPS.get(language)
        raise AddressError(f"language {language!r} is not one of {', '.join(LANGUAGES)}"
                           + (f" (did you mean {meant}?)" if meant else ""))
    if fmt is not None and fmt not in FORMATS:
        raise AddressError(f"format {fmt!r} is not one of {', '.join(FORMATS)}")
    cleaned_name = " ".join((name or "").split()) or None
    if cleaned_name is not None and len(cleaned_name) > MAX_NAME:
        raise AddressError(f"the name is {len(cleaned_name):,} characters long; at most "
                           f"{MAX_NAME} are allowed")
    return SubscriberRow(normalise_address(email), cleaned_name, language, fmt)


def key_id(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()[:8]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


UNSUBSCRIBE = "u"
CONFIRM = "c"
TEST = "t"  # a test send's link (`send --test-to`): answered, and nothing changes


def sign_token(subscriber_id: int, list_name: str, issued: date, secret: str, *,
               purpose: str = UNSUBSCRIBE) -> str:
    """A URL-safe token that lets its holder unsubscribe ``subscriber_id`` from ``list_name``
    (or, with ``purpose=CONFIRM``, confirm that subscription)."""
    return _signed(f"{purpose}:{subscriber_id}:{list_name}:{issued.toordinal()}", secret)


def sign_test_token(list_name: str, language: str, issued: date, secret: str) -> str:
    """The token of a test send's unsubscribe link: it names no subscriber, only the list and
    the language the test message was in, and its purpose (:data:`TEST`) is signed with the
    rest, so it cannot be turned into a token that unsubscribes or confirms anyone."""
    return _signed(f"{TEST}:{language}:{list_name}:{issued.toordinal()}", secret)


def _signed(payload_text: str, secret: str) -> str:
    payload = payload_text.encode()
    kid = key_id(secret)
    mac = hmac.new(secret.encode("utf-8"), kid.encode() + b"." + payload, hashlib.sha256)
    return f"{_b64(payload)}.{kid}.{_b64(mac.digest()[:18])}"


@dataclass(frozen=True)
class TokenClaim:
    subscriber_id: int | None  # None for a test send's token, which names no subscriber
    list_name: str
    issued: date
    purpose: str = UNSUBSCRIBE
    language: str | None = None  # a test send's token: the language of the test message


def verify_token(token: str, secrets: Sequence[str], today: date, *,
                 purposes: Collection[str] = (UNSUBSCRIBE,)) -> TokenClaim:
    """What a token says, if one of ``secrets`` (current first, then retired ones) signed it
    for one of ``purposes`` and it is not older than :data:`TOKEN_LIFETIME`."""
    try:
        payload_part, kid, mac_part = token.split(".")
        payload = _unb64(payload_part)
        mac = _unb64(mac_part)
    except ValueError:
        raise TokenError("this unsubscribe link is damaged") from None
    keys: Mapping[str, str] = {key_id(secret): secret for secret in secrets if secret}
    secret = keys.get(kid)
    if secret is None:
        raise TokenError("this unsubscribe link was signed with a key that is no longer valid")
    expected = hmac.new(secret.encode("utf-8"), kid.encode() + b"." + payload,
                        hashlib.sha256).digest()[:18]
    if not hmac.compare_digest(mac, expected):
        raise TokenError("this unsubscribe link has been altered")
    try:
        kind, subject, list_name, ordinal = payload.decode("utf-8").split(":")
        issued = date.fromordinal(int(ordinal))
        if kind == TEST:
            if subject not in LANGUAGES:
                raise ValueError(subject)
            claim = TokenClaim(None, list_name, issued, kind, language=subject)
        else:
            claim = TokenClaim(int(subject), list_name, issued, kind)
    except (ValueError, UnicodeDecodeError):
        raise TokenError("this unsubscribe link is damaged") from None
    if kind not in purposes:
        raise TokenError("this link is not meant for this page")
    if today - claim.issued > TOKEN_LIFETIME:
        raise TokenError("this unsubscribe link has expired",
                         hint="use the link of a more recent mail, or write to the sender")
    return claim


# -- lists ----------------------------------------------------------------------------------------


class Mode(StrEnum):
    ALERTS = "alerts"  # a mail as soon as a matching report arrives
    DAILY = "daily"  # a digest on the list's schedule, daily by default
    WEEKLY = "weekly"


# An alerts list uses its schedule for a digest of the reports that were too old to alert.
DEFAULT_SCHEDULES = {Mode.ALERTS: "0 9 * * *", Mode.DAILY: "0 9 * * *",
                     Mode.WEEKLY: "0 9 * * mon"}
_LIST_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


REVIEW_RULES = ("none", "flagged", "all")  # newsletter.translate.editions.ReviewRule's values


@dataclass(frozen=True)
class ListSpec:
    """A mailing list: who it is for, when it goes out, and which reports it carries."""

    name: str
    title: str
    description: str = ""
    mode: Mode = Mode.DAILY
    schedule: str = "0 9 * * *"  # cron: minute hour day-of-month month day-of-week
    timezone: str = "Asia/Almaty"
    languages: tuple[str, ...] = LANGUAGES
    countries: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    summary_sentences: int = 3
    summary_words: int = 120
    policy: str = "fallback"  # hold | fallback, for flagged or missing translations
    review: str = "flagged"  # none | flagged | all: which machine translations wait for a person
    origin: str = "config"  # "config" (newsletter.toml) or "database" (`newsletter lists add`)
    # The title in other languages (``title_ru``, ``title_kk`` keys): (language, title) pairs.
    translated_titles: tuple[tuple[str, str], ...] = ()

    def title_in(self, language: str) -> str:
        """The list's title for readers of ``language``: its own title there, else ``title``."""
        return dict(self.translated_titles).get(language, self.title)

    @property
    def titles(self) -> dict[str, str]:
        """The title in each language."""
        return {language: self.title_in(language) for language in LANGUAGES}

    def local_date(self, moment: datetime) -> date:
        """The date of ``moment`` where the list's readers are (its timezone), as an issue's
        subject and heading give it: a 01:30 Almaty digest on 3 March is of 3 March."""
        from zoneinfo import ZoneInfo

        return moment.astimezone(ZoneInfo(self.timezone)).date()

    def reader_language(self, language: str) -> str:
        """The language a reader of ``language`` gets: theirs when the list offers it, else
        the list's first."""
        return language if language in self.languages else self.languages[0]

    def matches(self, report: Report, places: Collection[str]) -> bool:
        """Whether a report belongs in this list: every filter that is set must match.
        ``countries`` are ISO 3166 codes (:func:`with_place_codes`) matched against the
        report's detected ``places``, whatever language it is written in; keywords match
        the start of a word of the title or body as written (``паводк`` finds ``паводки``)."""
        if self.countries and not set(self.countries) & set(places):
            return False
        text = f"{report.title}\n{report.body}".casefold()
        if self.keywords and not any(_word_in(k, text) for k in self.keywords):
            return False
        if self.sources and not any(s.casefold() in (report.source or "").casefold()
                                    for s in self.sources):
            return False
        return not self.kinds or (report.kind or "").casefold() in {k.casefold()
                                                                     for k in self.kinds}


def with_place_codes(spec: ListSpec, gazetteer: Gazetteer) -> ListSpec:
    """``spec`` with its countries as ISO 3166 codes: a list may name a country or region by
    code (``KZ``, ``KAZ``, ``KZ-75``) or by any of its names in en, ru or kk; a name the
    gazetteer does not know is an error that suggests the nearest."""
    codes = []
    for name in spec.countries:
        code = gazetteer.resolve(name)
        if code is None:
            near = gazetteer.suggest(name)
            raise ListError(
                f"[lists.{spec.name}] countries: {name!r} is not a country or region newsletter "
                "knows",
                hint=(f"did you mean {' or '.join(near)}? " if near else "")
                + "name it by ISO 3166 code (KZ, KZ-75) or by its name in en, ru or kk; an "
                  "office adds its own places in [ingest] places")
        codes.append(code)
    return replace(spec, countries=tuple(dict.fromkeys(codes)))


def _word_in(needle: str, text: str) -> bool:
    return re.search(rf"(?<!\w){re.escape(needle.casefold())}", text) is not None


_TITLE_KEYS = {f"title_{language}": language for language in LANGUAGES}
_LIST_KEYS = {*_TITLE_KEYS, "title", "description", "mode", "schedule", "timezone", "languages",
              "countries", "keywords", "sources", "kinds", "summary_sentences", "summary_words",
              "policy", "review"}


def parse_list(name: str, table: Mapping[str, object], *, origin: str = "config") -> ListSpec:
    """A list from its ``[lists.NAME]`` table (or the same keys from the command line)."""
    where = f"[lists.{name}]"
    if not _LIST_NAME.match(name):
        raise ListError(f"list name {name!r} must be lower-case letters, digits and hyphens")
    unknown = set(table) - _LIST_KEYS
    if unknown:
        raise ListError(f"unknown keys in {where}: {', '.join(sorted(unknown))}",
                        hint=f"keys of a list: {', '.join(sorted(_LIST_KEYS))}")

    def text(key: str, default: str) -> str:
        value = table.get(key, default)
        if not isinstance(value, str):
            raise ListError(f"{where} {key} must be a string")
        return value

    def words(key: str, default: Sequence[str] = ()) -> tuple[str, ...]:
        value = table.get(key, list(default))
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ListError(f"{where} {key} must be a list of strings")
        return tuple(value)

    def number(key: str, default: int) -> int:
        value = table.get(key, default)
        if isinstance(value, str) and value.isdigit():
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ListError(f"{where} {key} must be a positive whole number")
        return value

    try:
        mode = Mode(text("mode", "daily"))
    except ValueError:
        raise ListError(f"{where} mode must be alerts, daily or weekly") from None
    schedule = text("schedule", DEFAULT_SCHEDULES[mode])
    check_cron(schedule, where)
    timezone = text("timezone", "Asia/Almaty")
    check_timezone(timezone, where)
    languages = words("languages", LANGUAGES)
    if not languages or any(lang not in LANGUAGES for lang in languages):
        raise ListError(f"{where} languages must be among {', '.join(LANGUAGES)}")
    policy = text("policy", "fallback")
    if policy not in ("hold", "fallback"):
        raise ListError(f"{where} policy must be hold or fallback")
    review = text("review", "flagged")
    if review not in REVIEW_RULES:
        raise ListError(f"{where} review must be one of {', '.join(REVIEW_RULES)}")
    return ListSpec(
        name=name, title=text("title", name), description=text("description", ""), mode=mode,
        schedule=schedule, timezone=timezone, languages=languages,
        countries=words("countries"), keywords=words("keywords"), sources=words("sources"),
        kinds=words("kinds"), summary_sentences=number("summary_sentences", 3),
        summary_words=number("summary_words", 120), policy=policy, review=review,
        origin=origin,
        translated_titles=tuple((language, text(key, "")) for key, language in _TITLE_KEYS.items()
                                if text(key, "").strip()),
    )


_CRON_FIELD = re.compile(r"^(\*|\d+(-\d+)?|[a-z]{3}(-[a-z]{3})?)(/\d+)?(,(\d+(-\d+)?|[a-z]{3}))*$")


def check_cron(expression: str, where: str) -> None:
    """Five cron fields: minute hour day-of-month month day-of-week."""
    fields = expression.split()
    if len(fields) != 5 or not all(_CRON_FIELD.match(f.lower()) for f in fields):
        raise ListError(f"{where} schedule {expression!r} is not a five-field cron expression",
                        hint="e.g. '0 9 * * *' (09:00 daily) or '0 9 * * mon' (Mondays)")


def check_timezone(name: str, where: str) -> None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ListError(f"{where} timezone {name!r} is unknown",
                        hint="use an IANA name such as Asia/Almaty or Europe/Berlin") from None


def list_to_table(spec: ListSpec) -> dict[str, object]:
    """The keys of ``spec`` as a ``[lists.NAME]`` table would hold them."""
    return {"title": spec.title, "description": spec.description, "mode": spec.mode.value,
            "schedule": spec.schedule, "timezone": spec.timezone,
            "languages": list(spec.languages), "countries": list(spec.countries),
            "keywords": list(spec.keywords), "sources": list(spec.sources),
            "kinds": list(spec.kinds), "summary_sentences": spec.summary_sentences,
            "summary_words": spec.summary_words, "policy": spec.policy,
            "review": spec.review,
            **{f"title_{language}": title for language, title in spec.translated_titles}}
