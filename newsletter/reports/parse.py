"""Parse report page text into a :class:`Report` (pure; no I/O).

The layout, as a ReliefWeb page saved as text::

     date 2019-06-12 12 Jun 2019          <- page date line (optional)
    Title of the report
    Report                                <- kind (optional)
    from UN Office of the High Commissioner for Human Rights   <- source (optional)
    Published on 12 Jun 2019 View Original
    Originally published 10 Jun 2019      <- optional, with or without a from line
    BISHKEK (12 June 2019) – Body ...     <- body; may open with a dateline
    Informing humanitarians worldwide.    <- site footer, dropped with everything after it

and the same page as a browser's "select all, copy" gives it: site chrome above and around the
title (a banner, skip links, a lone country line, country tags, ``Attachments``), and the
page's field block (``Countries … Sources … Publication date … Origin View original``) in
English, French, Spanish or Russian; or a news site's page with share buttons, counters, a
byline and a date line under the headline. :mod:`newsletter.reports.chrome` tells the chrome
apart; its fields (source, kind, dates) are kept and its lines dropped.

**The title** is the first line that is not chrome, a header or a date; lines of one or two
words above it (a section name, ``Politics``) are passed over, and a line that repeats the
title is dropped. **The publication date** is, in order: ``Originally published``; a
``Published on`` / ``Publication date`` / ``Date of issue`` field; the dateline's date
(:mod:`newsletter.reports.datelines`, its year taken from the page when it gives none); a
date line under the title; a date line above it; the page date line; a date in the title
that is not a period covered ("as of 27 November 2013", not "22 October - 6 November").
**The source** is the ``from`` line or the ``Sources`` field, else a ``Source:`` line, else
the dateline's agency, else "This report is produced by ORG".

A file that is only a title line and paragraphs parses too. The one hard requirement is a title.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace

from newsletter.errors import ReportError
from newsletter.reports.chrome import KINDS, site_line
from newsletter.reports.datelines import dateline_of, read_dateline, split_dateline
from newsletter.reports.dates import find_date, parse_date
from newsletter.reports.head import (
    MAX_TITLE_CHARS,
    PageHead,
    agency,
    fold,
    known_place,
    meta_line,
    produced_by,
    publication_date,
    read_head,
    sentence,
    squash,
)
from newsletter.reports.identity import content_hash
from newsletter.reports.language import detect_language
from newsletter.reports.model import Report

__all__ = ["KINDS", "MAX_TITLE_CHARS", "content_hash", "dateline_of", "parse_date",
           "parse_report", "split_dateline"]

# Lines that open the ReliefWeb site footer: the footer and everything after it are dropped.
_FOOTER_OPENERS = frozenset(
    s.casefold()
    for s in (
        "Informing humanitarians worldwide.",
        "Informing humanitarians worldwide",
        "A service provided by UN OCHA",
        "Connect With ReliefWeb",
        "Learn more about ReliefWeb",
        "The ReliefWeb blog",
        "Submit Content",
        "Related Sites",
        "Related content",
        "Related news",
        "Связанные новости",
        "Последние новости",
        "Latest news",
        "(окончено)",
    )
)

_BULLET = re.compile(r"^\s*(?:[•\-*–·▪]|\d+[.)])\s+")
_ISSUED = re.compile(r"\b(?:Date of issue|Issued on|Date d[’']émission|Fecha de emisión)\s*:\s*"
                     r"(?P<date>[^:]{6,30})", re.IGNORECASE)
_LEAD_PARAGRAPHS = 6  # where a dateline, a byline or a date line may still stand


def parse_report(text: str, *, is_place: Callable[[str], bool] | None = None) -> Report:
    """Parse report text; raise :class:`ReportError` when there is no title or no body.
    ``is_place`` tells whether a line names a known country or region (default: the shipped
    gazetteer), for lone country lines and datelines such as "FIJI."."""
    place = is_place or known_place
    lines = _clean_lines(text)
    head = PageHead()
    start = read_head(lines, head, place)
    if head.title is None:
        raise ReportError(
            "missing_title",
            "no title line: the first line of text is "
            + ("missing" if start >= len(lines) else f"the header line {lines[start]!r}"),
            hint="put the report's title on the first line",
        )
    paragraphs = _lead(_paragraphs(_body_lines(lines[start:])), head, place)
    if not paragraphs:
        raise ReportError(
            "missing_body",
            f"the report {head.title!r} has a title but no body text",
            hint="check that the file holds the report's text, not only its header",
        )
    body = "\n\n".join(paragraphs)
    dateline = next((d for d in head.datelines if d.opens_body), None)
    return Report(
        title=head.title,
        source=head.field_source or head.source_line or agency(head) or produced_by(body),
        kind=head.kind,
        published=publication_date(head),
        language=detect_language(head.title + "\n" + body),
        body=body,
        dateline=dateline.text if dateline else None,
        posted=head.published or head.posted or head.page_date,
    )


def _body_lines(lines: list[str]) -> list[str]:
    """The body's lines: the site footer and everything after it cut, chrome lines dropped."""
    kept: list[str] = []
    for line in lines:
        stripped = line.strip()
        if stripped.casefold() in _FOOTER_OPENERS:
            break
        if stripped and site_line(stripped):
            continue
        kept.append(line)
    return kept


def _lead(paragraphs: list[str], head: PageHead, place: Callable[[str], bool]) -> list[str]:
    """The paragraphs with the chrome of the first few taken out (a byline, a date line, a
    caption, the title again, or the headline of a page whose tab title we took), and the
    dateline found: it opens the first paragraph, or one after headings and a subtitle only."""
    assert head.title is not None
    head.body_started = True
    lead = paragraphs[:_LEAD_PARAGRAPHS]
    folds = [_short_fold(p) for p in lead]
    twice = {f for f in folds if f and folds.count(f) > 1}
    kept: list[str] = []
    looking = True  # for the dateline
    for index, paragraph in enumerate(lead):
        title = fold(head.title)
        folded = folds[index]
        if title.startswith(folded + " ") and title[len(folded):].lstrip()[:1] in "-|–—":
            # "Headline - РИА Новости, 06.06.2023" was the browser tab's title
            if (found := find_date(head.title[len(paragraph):])) is not None:
                head.dates_before_title.append(found[0])
            head.title = squash(paragraph)
            continue
        lines = [ln for ln in paragraph.split("\n")
                 if not (len(ln) <= 600 and fold(ln) in (title, *head.dropped))
                 and not meta_line([ln], 0, head, place, before_title=False)]
        if not lines or folded in twice and index < len(lead) - 1 and folded != title \
                and not sentence(paragraph):
            continue  # chrome, or a caption printed twice
        paragraph = "\n".join(lines)
        cut = len(head.title)
        rest = paragraph[cut:].strip()
        if fold(paragraph[:cut]) == title and paragraph[cut : cut + 1] == " " and len(
                rest) > 20 and (rest[:1].isupper() or rest[:1].isdigit() or rest[:1] in "\"«“'"):
            # "Title Title's first sentence…": the headline glued to the text. Not "Floods in
            # Kazakhstan damaged…", whose first words merely are the title.
            paragraph = rest
        if head.published is None and (m := _ISSUED.search(paragraph)):
            head.published = parse_date(m.group("date"))
        if looking:
            dateline = read_dateline(paragraph, place)
            if dateline is not None and (dateline.place or not kept):
                head.datelines.insert(0, replace(dateline, opens_body=True))
                looking = False
            elif sentence(paragraph) and len(paragraph.split()) >= 6:
                looking = False  # the text has begun: a dateline would have opened it
        kept.append(paragraph)
    return kept + paragraphs[_LEAD_PARAGRAPHS:]


def _short_fold(text: str) -> str:
    """``text`` folded for comparison with titles and chrome lines, which are short: a long
    paragraph is none of them (and folding 2 MB eight times is what a long report cost)."""
    return fold(text) if len(text) <= 600 else ""


_INVISIBLE = re.compile("[\ufeff\u200b\u200c\u200d\u2060]")


def _clean_lines(text: str) -> list[str]:
    text = _INVISIBLE.sub("", text).replace("\r\n", "\n").replace("\r", "\n")
    text = text.replace("\u00a0", " ").replace("\u2028", "\n").replace("\u2029", "\n\n")
    return [line.rstrip() for line in text.split("\n")]


_WRAP_WIDTH = 160  # a text with no line longer than this may be hard-wrapped
_FULL_LINE = 0.6  # a wrapped line fills at least this share of the text's widest line


def _paragraphs(lines: list[str]) -> list[str]:
    """Blank-line separated paragraphs, list items kept on their own line. In a hard-wrapped
    text (no line over :data:`_WRAP_WIDTH` characters) a line that fills the width goes on in
    the next one; in a browser copy each line is a paragraph of its own. Either way a line that
    starts in lower case goes on from the one before."""
    width = max((len(line.strip()) for line in lines), default=0)
    hard_wrapped = width <= _WRAP_WIDTH
    paragraphs: list[str] = []
    current: list[str] = []
    for line in [*lines, ""]:
        if line.strip():
            stripped = squash(line)
            goes_on = bool(current) and (
                stripped[:1].islower()
                or hard_wrapped and (len(current[-1].rsplit("\n", 1)[-1]) >= _FULL_LINE * width
                                     or stripped[:1].isdigit()))
            if current and not _BULLET.match(line) and goes_on:
                current[-1] = current[-1] + " " + stripped
            elif current and not _BULLET.match(line):
                paragraphs.append("\n".join(current))
                current = [stripped]
            else:
                current.append(stripped)
            continue
        if current:
            paragraphs.append("\n".join(current))
            current = []
    return paragraphs
