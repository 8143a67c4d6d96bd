"""Atom 1.0 (RFC 4287) documents: a list's feed in one language, and its index of CAP
alerts (pure: values in, bytes out, by feedgen; the same values give the same bytes)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from feedgen.feed import FeedGenerator

from newsletter.feeds.xml import xml_text

PLACES_SCHEME = "urn:iso:std:iso:3166"
TRANSLATION_SCHEME = "urn:newsletter:translation"  # original, machine or reviewed
EMPTY_UPDATED = datetime(2000, 1, 1, tzinfo=UTC)  # a feed with no entry yet


@dataclass(frozen=True)
class Entry:
    """One report as a list's readers of one language got it."""

    id: str  # a URL that stays the entry's
    title: str
    text: str  # the summary, then the line that says what the text is
    published: datetime
    updated: datetime
    link: str  # the report page in the feed's language
    original: str  # the report page in its own language
    original_language: str
    places: tuple[str, ...]  # ISO 3166 codes
    translation: str  # original, machine or reviewed
    translation_label: str  # the same, in the feed's language


@dataclass(frozen=True)
class Feed:
    id: str  # the feed's own URL
    title: str
    language: str
    alternate: str  # the archive page
    entries: Sequence[Entry]


def atom(feed: Feed) -> bytes:
    """The Atom document of ``feed``."""
    generator = FeedGenerator()
    generator.id(feed.id)
    generator.title(xml_text(feed.title))
    generator.language(feed.language)
    generator.link(href=feed.id, rel="self", type="application/atom+xml")
    generator.link(href=feed.alternate, rel="alternate", type="text/html")
    generator.generator("newsletter")
    generator.updated(max((e.updated for e in feed.entries), default=EMPTY_UPDATED))
    for entry in feed.entries:
        item = generator.add_entry(order="append")
        item.id(entry.id)
        item.title(xml_text(entry.title))
        item.content(xml_text(entry.text), type="text")
        item.published(entry.published)
        item.updated(entry.updated)
        item.link(href=entry.link, rel="alternate", type="text/html", hreflang=feed.language)
        if entry.original != entry.link:
            item.link(href=entry.original, rel="related", type="text/html",
                      hreflang=entry.original_language)
        for code in entry.places:
            item.category(term=code, scheme=PLACES_SCHEME)
        item.category(term=entry.translation, scheme=TRANSLATION_SCHEME,
                      label=xml_text(entry.translation_label))
    document: bytes = generator.atom_str(pretty=True)
    return document


@dataclass(frozen=True)
class CapLink:
    """One CAP alert in a list's index."""

    url: str
    title: str
    sent: datetime


def cap_index(feed_id: str, title: str, alternate: str, alerts: Sequence[CapLink]) -> bytes:
    """A list's CAP alerts as an Atom feed, as GDACS and SAMBRO publish them."""
    generator = FeedGenerator()
    generator.id(feed_id)
    generator.title(xml_text(title))
    generator.link(href=feed_id, rel="self", type="application/atom+xml")
    generator.link(href=alternate, rel="alternate", type="text/html")
    generator.generator("newsletter")
    generator.updated(max((a.sent for a in alerts), default=EMPTY_UPDATED))
    for alert in alerts:
        item = generator.add_entry(order="append")
        item.id(alert.url)
        item.title(xml_text(alert.title))
        item.updated(alert.sent)
        item.link(href=alert.url, rel="alternate", type="application/cap+xml")
    document: bytes = generator.atom_str(pretty=True)
    return document
