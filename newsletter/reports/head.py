"""The head of a report page: its chrome, title and header fields (pure; no I/O).

Read line by line from the top, until the body starts (see :mod:`newsletter.reports.parse`
for the rules on the title, the publication date and the source): chrome lines are dropped,
field blocks and header lines read into :class:`PageHead`, date lines and bylines noted.
:func:`meta_line` also serves the body's first paragraphs, where news sites put the byline,
the date line and captions under the headline.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

from newsletter.errors import ReportError
from newsletter.reports.chrome import (
    KINDS,
    country_tags,
    field_label,
    flat_fields,
    kind_of,
    site_line,
    without_letters,
)
from newsletter.reports.datelines import Dateline, read_dateline
from newsletter.reports.dates import complete, find_date, parse_date
from newsletter.reports.identity import normalise

MAX_TITLE_CHARS = 300
_LONGEST_META = 400  # characters: a longer line is never chrome, a header or a date line

_DATE_LINE = re.compile(r"^\s*date\s+(\d{4}-\d{2}-\d{2})\b.*$", re.IGNORECASE)
_FROM_LINE = re.compile(r"^from\s+(?P<org>\S.*)$", re.IGNORECASE)
_KIND_FROM = re.compile(
    r"^(?P<kind>" + "|".join(re.escape(k) for k in KINDS) + r")(?:\s+from\s+(?P<org>\S.*))?$",
    re.IGNORECASE,
)
_PUBLISHED = re.compile(
    r"\bPublished on\s+(?P<date>.+?)(?=\s+(?:View Original|Originally)|$)", re.IGNORECASE
)
_ORIGINAL = re.compile(
    r"\bOriginally published\s+(?:on\s+)?(?P<date>.+?)(?=\s+View Original|$)", re.IGNORECASE
)
_POSTED = re.compile(r"^Posted\s+(?:on\s+)?(?P<date>.+)$", re.IGNORECASE)
_DATE_FIELD = re.compile(r"\s+(?:Published on|Originally published|Posted)\b.*$", re.IGNORECASE)


def _organisation(text: str) -> str:
    """The source of "from OCHA", without the date fields a one-line header runs on with
    ("Report from OCHA Published on 3 Dec 2026")."""
    return squash(_DATE_FIELD.sub("", text))


_SOURCE_LINE = re.compile(
    r"^(?:Source|Источник|Fuente|Sources|Источники)\s*:\s*(?P<org>\S.{0,80})$")
_ORG = r"[A-Z][\w&'’.-]*(?:\s+(?:[A-Z(][\w&'’.()-]*|of|for|the|and)){0,8}"
_PRODUCED_BY = re.compile(
    r"\bThis (?:situation )?(?:report|update|bulletin) (?:is|was) (?:produced|prepared|issued) "
    rf"by (?:the )?(?P<org>{_ORG})"
    rf"|^(?:The )?(?P<publisher>{_ORG}?)(?:\s+\([A-Z]{{2,8}}\))? is (?:publishing|issuing) "
    r"this (?:update|report|bulletin)", re.MULTILINE)
_BYLINE = re.compile(
    r"^(?:By|Par|Por|Автор:?|Редакция(?: сайта)?|Корреспондент)\s+\S"
    r"|^(?:Photo|Фото|Foto|Credit|Изображение|Авторское право|Copyright)\b"
    r"|©",
    re.IGNORECASE)
_CREDIT = re.compile(r"\b(?:Photo|Фото|Foto|Credit)\s*:|©")
_NAME_AND_AFFILIATION = re.compile(
    r"^(?P<name>[A-ZА-ЯЁ][\w'’-]+(?: [A-ZА-ЯЁ][\w'’-]+){1,2}), [A-ZА-ЯЁ][\w'’ -]{2,60}$")
_TIME = re.compile(r"\b\d{1,2}:\d{2}(?:\s*(?:am|pm|AM|PM))?\b|\([A-Z]{2,4}\)"
                   r"|(?<!\w)(?:г|гг|года|год|жыл\w*)\.?(?!\w)")
_TITLE_PERIOD = re.compile(
    r"\bcovering\b|\bperiod\b|\d{1,2}(?:\s+[^\W\d_]+)?\s*[-–—]\s*\d{1,2}\s+[^\W\d_]+|"
    r"\bfrom\b.{0,30}\bto\b", re.IGNORECASE)
_WORDS = re.compile(r"[^\W\d_]+")
_SPACES = re.compile(r"\s+")


def known_place(name: str) -> bool:
    """Whether the gazetteer knows ``name`` (a country or region, in en, ru or kk)."""
    from newsletter.reports.places import load_gazetteer  # the tables load on first use

    return load_gazetteer().resolve(name) is not None


@dataclass
class PageHead:
    """What the page says about the report, gathered while its chrome is read."""

    title: str | None = None
    fallback_title: str | None = None  # a short line, the title only if nothing better comes
    kind: str | None = None
    source: str | None = None
    field_source: str | None = None
    source_line: str | None = None
    published: date | None = None
    original: date | None = None
    posted: date | None = None
    page_date: date | None = None
    dates_before_title: list[date] = field(default_factory=list)
    dates_after_title: list[date] = field(default_factory=list)
    datelines: list[Dateline] = field(default_factory=list)
    dropped: set[str] = field(default_factory=set)  # lines seen as chrome (folded)
    body_started: bool = False


def read_head(lines: list[str], head: PageHead, place: Callable[[str], bool]) -> int:
    """Read the page's chrome, header and title; the index of the first body line."""
    i = 0
    while i < len(lines):
        line = lines[i].strip()
        if not line:
            i += 1
            continue
        if head.title is None and (m := _DATE_LINE.match(line)):
            head.page_date = date.fromisoformat(m.group(1)) if _valid_iso(m.group(1)) else None
            i += 1
            continue
        consumed = meta_line(lines, i, head, place, before_title=head.title is None)
        if consumed:
            i += consumed
            continue
        if head.title is not None:
            if fold(line) == fold(head.title):
                i += 1  # the title again (news sites print it twice)
                continue
            return i  # the body starts here
        if head.fallback_title is not None and (
                _paragraph_like(line) or _opens_with_dateline(line, place)
                or sentence(line) and len(line.split()) >= 6):
            head.title = head.fallback_title  # "Kyrgyzstan: mudflows" above the first paragraph
            return i
        if _too_long_for_title(line) or (_weak_title(line) and sentence(line)):
            if head.fallback_title is not None:
                head.title = head.fallback_title  # "Kazakhstan floods" above the first paragraph
                return i
            shown = squash(line)
            raise ReportError(
                "missing_title",
                f"no title line: the first line is a {len(shown)}-character paragraph"
                if len(shown) > 80 else f"no title line: the first line of text is {shown!r}",
                hint="put the report's title on its own first line")
        if _weak_title(line):
            head.fallback_title = head.fallback_title or squash(line)
            head.dropped.add(fold(line))
            i += 1
            continue
        head.title = squash(line)
        if len(head.title) > MAX_TITLE_CHARS:
            raise ReportError(
                "missing_title",
                f"no title line: the first line is a {len(head.title)}-character paragraph",
                hint="put the report's title on its own first line",
            )
        i += 1
    if head.title is None and head.fallback_title is not None:
        head.title = head.fallback_title
    return i


def meta_line(lines: list[str], i: int, head: PageHead, place: Callable[[str], bool], *,
               before_title: bool) -> int:
    """How many lines from ``i`` are chrome, a header, a field block or a date line (recording
    what they say in ``head``); 0 when line ``i`` is text."""
    line = lines[i].strip()
    if len(line) > _LONGEST_META:  # headers and date lines are short: a long line is text,
        return 1 if site_line(line) else 0  # or a news ticker
    if (before_title or not head.body_started) and _header(line, head):
        return 1
    if _date_line(line, head, before_title):
        return 1
    if site_line(line) or (before_title and (country_tags(line) or without_letters(line))):
        head.dropped.add(fold(line))
        return 1
    label = field_label(line)
    if label is not None:
        return _field_block(lines, i, head, place)
    if (pairs := flat_fields(line)) is not None:
        for name, value in pairs:
            _field(head, name, [value] if value else [])
        return 1
    if m := _SOURCE_LINE.match(line):
        head.source_line = head.source_line or m.group("org").strip().strip("\"'«»")
        return 1
    if (_BYLINE.search(line) and len(line.split()) <= 12) or (
            _CREDIT.search(line) and len(line.split()) <= 40):
        head.dropped.add(fold(line))
        if head.title is not None and fold(line).startswith(fold(head.title)):
            # "People affected by flooding in Kassala Photo: OCHA/…": the line taken for the
            # title was a photo's caption.
            head.dropped.add(fold(head.title))
            head.title = None
        return 1
    if not before_title and _byline_with_affiliation(line, place):
        return 1
    if before_title and place(line) and len(line.split()) <= 4:
        head.dropped.add(fold(line))  # a lone country line above the title
        return 1
    if len(line) <= 80 and (dateline := read_dateline(line, place)) is not None \
            and dateline.length >= len(line) - 1 and (dateline.agency or dateline.when):
        head.datelines.append(dateline)  # "Кишинёв, / ИА Красная Весна" on its own line
        return 1
    return 0


def _header(line: str, head: PageHead) -> bool:
    """Read a ReliefWeb header line (kind, ``from``, ``Published on``, ``Originally
    published``, ``Posted``); whether it was one."""
    found = False
    if m := _KIND_FROM.match(line):
        head.kind = kind_of(m.group("kind"))
        if m.group("org"):
            head.field_source = _organisation(m.group("org"))
        found = True
    elif (kind := kind_of(line)) is not None:
        head.kind = kind
        found = True
    elif m := _FROM_LINE.match(line):
        head.field_source = _organisation(m.group("org"))
        found = True
    elif m := _POSTED.match(line):
        head.posted = parse_date(m.group("date"))
        found = True
    if m := _PUBLISHED.search(line):
        if line.lower().startswith("published") or found:
            head.published = parse_date(m.group("date")) or head.published
            found = True
    if m := _ORIGINAL.search(line):
        if line.lower().startswith("originally published") or found:
            head.original = parse_date(m.group("date")) or head.original
            found = True
    if line.casefold() == "originally published":
        found = True
    return found


def _field_block(lines: list[str], i: int, head: PageHead, place: Callable[[str], bool]) -> int:
    """Read a field block that starts with a label line at ``i``; lines consumed."""
    name = field_label(lines[i]) or "other"
    j = i + 1
    values: list[str] = []
    while j < len(lines):
        value = lines[j].strip()
        if not value:
            j += 1
            continue
        if field_label(value) is not None or not _value_like(value):
            break
        if name in ("published", "original"):
            if parse_date(value) is None:
                break
            values.append(value)
            j += 1
            break
        if name == "kind" and kind_of(value) is None:
            break
        values.append(value)
        j += 1
        if name in ("kind", "origin"):
            break
    if name in ("countries", "sources") and len(values) > 1:
        following = next((ln for ln in lines[j:] if ln.strip()), "")
        if field_label(following) is None:
            # No label follows: only the first line is surely a value; the rest may be the
            # body's first heading.
            j -= len(values) - 1
            while j > i + 1 and not lines[j - 1].strip():
                j -= 1
            values = values[:1]
    _field(head, name, values)
    return j - i


def _field(head: PageHead, name: str, values: list[str]) -> None:
    if name == "sources" and values:
        head.field_source = head.field_source or ", ".join(values)
    elif name == "kind" and values:
        head.kind = kind_of(values[0]) or head.kind
    elif name == "published" and values:
        head.published = head.published or parse_date(values[0])
    elif name == "original" and values:
        head.original = head.original or parse_date(values[0])


def _value_like(line: str) -> bool:
    """A field's value: a short line, not a sentence."""
    return len(line) <= 80 and len(line.split()) <= 8 and not line.endswith((".", "!", "?", ":"))


def _date_line(line: str, head: PageHead, before_title: bool) -> bool:
    """A line that only gives a date (and a time, a place or a byline): ``27.05.2024, 16:40``,
    ``October 1, 2018``, ``India Blooms News Service | 28 Apr 2018, 07:19 am``."""
    if len(line) > 120:
        return False
    found = find_date(line)
    if found is None:
        return False
    when, start, end = found
    rest = _TIME.sub(" ", line[:start] + " " + line[end:])
    words = len(_WORDS.findall(rest))
    if words > 5 or sentence(rest):
        return False
    # Above the title a date line opens with its date ("20 июл 2010 15:53 Молдова / Политика",
    # "четверг, 30 января 2025 г."); a headline with a date in it is the title.
    if before_title and words > 2 and len(_WORDS.findall(line[:start])) > 1:
        return False
    (head.dates_before_title if before_title else head.dates_after_title).append(when)
    return True


def _byline_with_affiliation(line: str, place: Callable[[str], bool]) -> bool:
    """"Silvia Ballen, Colombian Red Cross" under a title (not "Almaty, Kazakhstan")."""
    m = _NAME_AND_AFFILIATION.match(line)
    return m is not None and not place(m.group("name")) and len(line.split()) <= 10


def _opens_with_dateline(line: str, place: Callable[[str], bool]) -> bool:
    """"ASTANA, 31 January 2013 – Something happened.": the body's first line, not a title."""
    dateline = read_dateline(line, place)
    return dateline is not None and dateline.length < len(line) and bool(
        dateline.when or dateline.month_day or dateline.agency)


def _weak_title(line: str) -> bool:
    """A line that is a title only when nothing better comes before the body: one or two
    words (a section name), or a label ending with a colon."""
    return len(_WORDS.findall(line)) <= 2 or line.rstrip().endswith(":")


def _too_long_for_title(line: str) -> bool:
    return len(line.split()) >= 40 or len(squash(line)) > MAX_TITLE_CHARS


def sentence(line: str) -> bool:
    return line.rstrip().endswith((".", "!", "?", "…"))


def _paragraph_like(line: str) -> bool:
    """A line of body text rather than a heading: a long one, or a sentence."""
    words = len(line.split())
    return words >= 40 or len(line) > MAX_TITLE_CHARS or (
        words >= 12 and line.rstrip().endswith((".", "!", "?", ".»", ".\"", ".”")))


def agency(head: PageHead) -> str | None:
    return next((d.agency for d in head.datelines if d.agency), None)


def produced_by(body: str) -> str | None:
    m = _PRODUCED_BY.search(body[:1500])
    if m is None:
        return None
    words = (m.group("org") or m.group("publisher")).split()
    while words and words[-1] in ("of", "for", "the", "and", "in"):
        words.pop()
    return " ".join(words).rstrip(".,") or None


def publication_date(head: PageHead) -> date | None:
    """The publication date by the order in the module docstring."""
    context = (head.original or head.published or next(iter(head.dates_after_title), None)
               or next(iter(head.dates_before_title), None) or head.page_date or head.posted)
    dated = next((d.when for d in head.datelines if d.when), None)
    completed = next((complete(d.month_day, context) for d in head.datelines if d.month_day),
                     None)
    for candidate in (head.original, head.published, dated, completed,
                      next(iter(head.dates_after_title), None),
                      next(iter(head.dates_before_title), None), head.page_date, head.posted,
                      _title_date(head.title or "")):
        if candidate is not None:
            return candidate
    return None


def _title_date(title: str) -> date | None:
    """A report date in the title ("Situation Report No. 18 (as of 27 November 2013)"), not
    the period it covers ("Covering 22 October - 6 November 2018")."""
    if _TITLE_PERIOD.search(title):
        return None
    return parse_date(title)




def fold(text: str) -> str:
    return normalise(text)


def squash(text: str) -> str:
    return _SPACES.sub(" ", text).strip()


def _valid_iso(value: str) -> bool:
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True
