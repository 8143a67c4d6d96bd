"""Parse ReliefWeb-style report text into a :class:`Report` (pure; no I/O).

The layout, as a ReliefWeb page saved as text::

     date 2019-06-12 12 Jun 2019          <- page date line (optional)
    Title of the report
    Report                                <- kind (optional)
    from UN Office of the High Commissioner for Human Rights   <- source (optional)
    Published on 12 Jun 2019 View Original
    Originally published 10 Jun 2019      <- optional, with or without a from line
    BISHKEK (12 June 2019) – Body ...     <- body; may open with a dateline
    Informing humanitarians worldwide.    <- site footer, dropped with everything after it

A file that is only a title line and paragraphs parses too. The one hard requirement is a title.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from datetime import date

from newsletter.errors import ReportError
from newsletter.reports.language import detect_language
from newsletter.reports.model import Report

MAX_TITLE_CHARS = 300

KINDS = (
    "Analysis",
    "Appeal",
    "Assessment",
    "Evaluation and Lessons Learned",
    "Flash Update",
    "Infographic",
    "Interactive",
    "Manual and Guideline",
    "Map",
    "News and Press Release",
    "Other",
    "Press Release",
    "Report",
    "Situation Report",
    "UN Document",
)
_KIND_BY_KEY = {k.casefold(): k for k in KINDS}

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
    )
)
# Navigation and page-chrome lines dropped wherever they stand.
_NAV_LINES = frozenset(
    s.casefold()
    for s in (
        "View Original",
        "Skip to main content",
        "Toggle navigation",
        "Share",
        "Print",
        "Download",
        "Download Report",
        "Download PDF",
        "Attachments",
        "Format",
        "Help",
        "Log in",
        "ReliefWeb",
    )
)

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
_BULLET = re.compile(r"^\s*(?:[•\-*–·▪]|\d+[.)])\s+")

MONTH_NUMBERS: dict[str, int] = {}
for _number, _names in enumerate(
    (
        "january jan январь января янв қаңтар",
        "february feb февраль февраля фев ақпан",
        "march mar март марта наурыз",
        "april apr апрель апреля апр сәуір",
        "may май мая мамыр",
        "june jun июнь июня маусым",
        "july jul июль июля шілде",
        "august aug август августа авг тамыз",
        "september sep sept сентябрь сентября сен қыркүйек",
        "october oct октябрь октября окт қазан",
        "november nov ноябрь ноября ноя қараша",
        "december dec декабрь декабря дек желтоқсан",
    ),
    start=1,
):
    for _name in _names.split():
        MONTH_NUMBERS[_name] = _number

MONTH_NAMES = frozenset(MONTH_NUMBERS)
_MONTH_WORD = r"[^\W\d_]{3,10}\.?"
_DATE_PATTERNS = (
    re.compile(r"(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})"),
    re.compile(rf"(?P<d>\d{{1,2}})\s+(?P<mon>{_MONTH_WORD})\s+(?P<y>\d{{4}})"),
    re.compile(rf"(?P<mon>{_MONTH_WORD})\s+(?P<d>\d{{1,2}}),?\s+(?P<y>\d{{4}})"),
    re.compile(rf"(?P<y>\d{{4}})\s+(?:жылғы\s+)?(?P<d>\d{{1,2}})\s+(?P<mon>{_MONTH_WORD})"),
    re.compile(r"(?P<d>\d{1,2})[./](?P<m>\d{1,2})[./](?P<y>\d{4})"),
)

# "ASTANA, 31 January 2013 –", "BISHKEK (12 June 2019) –", "GENEVA/NEW YORK –",
# "Nur-Sultan, 5 March 2020 –": a place, then an optional date, then a dash.
_UPPER = "A-ZА-ЯЁӘҒҚҢӨҰҮҺІ"
_DATELINE = re.compile(
    rf"^(?P<place>[{_UPPER}][\w'’.\-/ ]{{1,40}}?)"
    r"(?:,\s*(?P<date1>[^–—()]{4,40}?)|\s*\((?P<date2>[^)]{4,40})\))?"
    r"\s*[–—-]{1,2}\s+"
)


def parse_date(text: str) -> date | None:
    """The first date in ``text`` (English, Russian or Kazakh month names, or numeric)."""
    for pattern in _DATE_PATTERNS:
        for match in pattern.finditer(text):
            parts = match.groupdict()
            month = (
                int(parts["m"])
                if parts.get("m")
                else MONTH_NUMBERS.get(parts["mon"].rstrip(".").casefold(), 0)
            )
            try:
                return date(int(parts["y"]), month, int(parts["d"]))
            except ValueError:
                continue
    return None


def parse_report(text: str) -> Report:
    """Parse report text; raise :class:`ReportError` when there is no title or no body."""
    lines = _clean_lines(text)
    page_date: date | None = None
    i = _skip_blank(lines, 0)
    if i < len(lines) and (m := _DATE_LINE.match(lines[i])):
        page_date = date.fromisoformat(m.group(1)) if _valid_iso(m.group(1)) else None
        i = _skip_blank(lines, i + 1)

    if i >= len(lines) or _is_header_line(lines[i]):
        raise ReportError(
            "missing_title",
            "no title line: the first line of text is "
            + ("missing" if i >= len(lines) else f"the header line {lines[i]!r}"),
            hint="put the report's title on the first line",
        )
    title = _squash(lines[i])
    if len(title) > MAX_TITLE_CHARS:
        raise ReportError(
            "missing_title",
            f"no title line: the first line is a {len(title)}-character paragraph",
            hint="put the report's title on its own first line",
        )
    i += 1

    kind = source = None
    published = original = posted = None
    while (i := _skip_blank(lines, i)) < len(lines) and _is_header_line(lines[i]):
        line = lines[i].strip()
        if m := _KIND_FROM.match(line):
            kind = _KIND_BY_KEY[m.group("kind").casefold()]
            source = _squash(m.group("org")) if m.group("org") else source
        elif m := _FROM_LINE.match(line):
            source = _squash(m.group("org"))
        elif m := _POSTED.match(line):
            posted = parse_date(m.group("date"))
        if m := _PUBLISHED.search(line):
            published = parse_date(m.group("date"))
        if m := _ORIGINAL.search(line):
            original = parse_date(m.group("date"))
        i += 1

    paragraphs = _paragraphs(lines[i:])
    if not paragraphs:
        raise ReportError(
            "missing_body",
            f"the report {title!r} has a title but no body text",
            hint="check that the file holds the report's text, not only its header",
        )
    dateline, dateline_date = _dateline(paragraphs[0])
    body = "\n\n".join(paragraphs)
    return Report(
        title=title,
        source=source,
        kind=kind,
        published=original or published or dateline_date or page_date or posted,
        language=detect_language(title + "\n" + body),
        body=body,
        dateline=dateline,
        posted=published or posted or page_date,
    )


def content_hash(report: Report) -> str:
    """Hash of what a reader sees: the same report saved under another name or encoding, or
    re-wrapped, hashes the same."""
    canonical = "\n".join(
        [_normalise(report.title), _normalise(report.source or ""), _normalise(report.body)]
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def identity_key(report: Report) -> str:
    """What makes two versions the same report: its title, source and publication date."""
    canonical = "\n".join(
        [
            _normalise(report.title),
            _normalise(report.source or ""),
            report.published.isoformat() if report.published else "",
        ]
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


_PUNCTUATION_VARIANTS = {"‘": "'", "’": "'", "“": '"', "”": '"', "«": '"', "»": '"',
                         "–": "-", "—": "-"}
_VARIANT = re.compile("[" + "".join(_PUNCTUATION_VARIANTS) + "]")
_SPACES = re.compile(r"\s+")


def _normalise(text: str) -> str:
    """Case, Unicode form, quote and dash style and spacing do not change what a text says."""
    text = unicodedata.normalize("NFKC", text)
    text = _VARIANT.sub(lambda m: _PUNCTUATION_VARIANTS[m.group()], text)
    return _SPACES.sub(" ", text.casefold()).strip()


def _squash(text: str) -> str:
    return _SPACES.sub(" ", text).strip()


def _valid_iso(value: str) -> bool:
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


_INVISIBLE = re.compile("[\ufeff\u200b\u200c\u200d\u2060]")


def _clean_lines(text: str) -> list[str]:
    text = _INVISIBLE.sub("", text).replace("\r\n", "\n").replace("\r", "\n")
    text = text.replace("\u00a0", " ").replace("\u2028", "\n").replace("\u2029", "\n\n")
    lines = [line.rstrip() for line in text.split("\n")]
    for index, line in enumerate(lines):
        if line.strip().casefold() in _FOOTER_OPENERS:
            lines = lines[:index]
            break
    return [line for line in lines if line.strip().casefold() not in _NAV_LINES]


def _skip_blank(lines: list[str], i: int) -> int:
    while i < len(lines) and not lines[i].strip():
        i += 1
    return i


def _is_header_line(line: str) -> bool:
    stripped = line.strip()
    return bool(
        _KIND_FROM.match(stripped)
        or _FROM_LINE.match(stripped)
        or _PUBLISHED.search(stripped) and stripped.lower().startswith("published")
        or stripped.lower().startswith("originally published")
        or _POSTED.match(stripped)
    )


def _paragraphs(lines: list[str]) -> list[str]:
    """Blank-line separated paragraphs; wrapped lines joined, list items kept on their own line."""
    paragraphs: list[str] = []
    current: list[str] = []
    for line in [*lines, ""]:
        if line.strip():
            stripped = _squash(line)
            if current and not _BULLET.match(line):
                current[-1] = current[-1] + " " + stripped
            else:
                current.append(stripped)
            continue
        if current:
            paragraphs.append("\n".join(current))
            current = []
    return paragraphs


def _dateline(first_paragraph: str) -> tuple[str | None, date | None]:
    """The dateline opening the body ("ASTANA, 31 January 2013 –"), and its date."""
    m = _DATELINE.match(first_paragraph)
    if not m:
        return None, None
    place = m.group("place").strip()
    raw_date = m.group("date1") or m.group("date2")
    when = parse_date(raw_date) if raw_date else None
    # A mixed-case place needs a date to count ("Nur-Sultan, 5 March 2020 –"); an all-caps one
    # ("GENEVA –") does not. This keeps sentences like "Floods - ..." from being taken as one.
    if when is None and (raw_date or place != place.upper()):
        return None, None
    return m.group(0).strip(" –—-"), when


def split_dateline(body: str, dateline: str | None = None) -> str:
    """``body`` without the dateline that opens it ("ASTANA, 31 January 2013 – ")."""
    if dateline is None:
        dateline, _ = _dateline(body)
    if dateline and body.startswith(dateline):
        return body[len(dateline) :].lstrip(" –—-")
    return body
