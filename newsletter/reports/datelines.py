"""Datelines: the place, date and news agency that open a report's text (pure; no I/O).

Agencies and organisations write them in many ways; each of these is read (place, date,
agency), and the text after it is where the report's first sentence starts:

    ASTANA, 31 January 2013 – …                  BISHKEK (12 June 2019) – …
    ALMATY, 24 April 2007 (IRIN) - …             (Dushanbe/New York/Geneva, 18 February 2008): …
    ДУШАНБЕ, 24.05.2023 /НИАТ «Ховар»/. …        Бишкек, 15 мая /Кабар/. …   (no year)
    ООН, 24 октября. /ТАСС/. …                   МОСКВА, 6 июн — РИА Новости. …
    Нью-Йорк (ООН). 11 августа. INTERFAX.RU - …  Баку. 24 февраля. REPORT.AZ/ …
    JUBA, South Sudan, February 17, 2015/African Press Organization (APO)/ — …
    UNITED NATIONS, Dec. 11, (Xinhua/GNA) – …    KHARTOUM, Sudan (AP) - …
    New York, Apr 28 (IBNS): …                   9 December 2010: …
    Bishkek, June 22 2010                        (a paragraph of its own)
    GENEVA/NEW YORK – …                          FIJI. …

A dateline needs a date or an agency, or a place in capitals; a place in capitals closed by a
full stop must be a place the gazetteer knows ("FIJI." is a dateline, "UNICEF." is not). A date
without a year is completed from the page (:func:`newsletter.reports.dates.complete`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from newsletter.reports.dates import parse_date, parse_day_month

_UPPER = "A-ZА-ЯЁӘҒҚҢӨҰҮҺІ"
_WORD = rf"[{_UPPER}][\w'’-]*"
# A place: capitalised words, joined by spaces, slashes or ", " (JUBA, South Sudan), at most 60
# characters; "de", "of" and "и" may join words of one name.
_PLACE = rf"{_WORD}(?:(?:\s|/|,\s|\s(?:de|of|del|и)\s){_WORD}){{0,5}}"
_MONTH_WORD = r"[^\W\d_]{3,10}\.?"
_DATE = (
    r"\d{4}-\d{2}-\d{2}"
    r"|\d{1,2}[./]\d{1,2}[./]\d{4}"
    rf"|\d{{1,2}}\s+{_MONTH_WORD}(?:,?\s+\d{{4}})?(?:\s*(?:г\.|года|жыл\w*))?"
    rf"|{_MONTH_WORD}\s+\d{{1,2}}(?:,?\s+\d{{4}})?"
)
# An agency: "(IRIN)", "/ТАСС/", "— РИА Новости", "INTERFAX.RU", "REPORT.AZ/", "/ИА Красная Весна".
_AGENCY = (
    r"\((?P<a1>[^()]{1,40}(?:\([^()]{1,15}\))?[^()]{0,10})\)"
    r"|/\s*(?P<a2>[^/\n]{1,45}?)\s*/"
    r"|[–—]\s*(?P<a3>[" + _UPPER + r"][\w ]{1,30}?)(?=\.\s)"
    r"|(?P<a4>[A-Z][A-Z0-9]+(?:\.[A-Z]{2,4})+)\s*/?"
    r"|/\s*(?P<a5>[" + _UPPER + r"][^/\n]{1,40})$"
)
# What ends a dateline: a dash, a colon, a full stop before a capital, a closing bracket
# followed by a space, or the end of the paragraph.
_CAPITAL_NEXT = r"(?=[" + _UPPER + r"\"«“(])"
_END = (r"(?:\s*[–—]+\s*|\s+-{1,2}\s+|\s*-{1,2}\s+" + _CAPITAL_NEXT + r"|\s*:\s+|\.\s+"
        + _CAPITAL_NEXT + r"|\s+" + _CAPITAL_NEXT + r"|\s*$)")
_DATELINE = re.compile(
    r"^(?P<open>\()?"
    rf"(?:(?P<place>{_PLACE})"
    rf"(?:\s*\((?P<pdate>{_DATE})\)|\s*\((?P<note>[^()]{{1,20}})\))?"
    rf"(?:[,.]?\s+(?P<date>{_DATE}))?"
    rf"|(?P<dateonly>{_DATE}))"
    rf"(?:[,.]?\s*(?:{_AGENCY}))?"
    r"\s*(?P<close>\))?"
    rf"(?P<end>{_END})",
)
_CAPITALS_PLACE = re.compile(rf"[{_UPPER}][{_UPPER}'’.\- /,]+")
# Agencies a dateline names in brackets without a date: a slash (UNA/WAM, Xinhua/GNA) or a name
# known to sign wires; "(BDRCS)" after a society's name is an acronym, not an agency.
_WIRE = re.compile(
    r"/|^(?:AP|AFP|Reuters|IRIN|Xinhua|IBNS|APO|IPS|DPA|ANSA|EFE|PTI|IANS|UNB|ANI|KUNA|WAM|SPA|"
    r"MENA|ТАСС|РИА Новости|Интерфакс|Sputnik|Кабар|Kabar|Ховар|Khovar|Казинформ|Kazinform|"
    r"Тренд|Trend|АПА|APA|Арменпресс|Armenpress|Новости-Армения|БелТА|БЕЛТА|Молдпрес|"
    r"Moldpres|ИА [^\d]+|UN News|ООН)$")


@dataclass(frozen=True)
class Dateline:
    """What a dateline says. ``text`` is the dateline as written (without the dash or colon
    that ends it); ``when`` is a full date, ``month_day`` one given without a year."""

    text: str
    place: str | None
    when: date | None
    month_day: tuple[int, int] | None
    agency: str | None
    length: int  # characters of the paragraph it takes, end mark included
    opens_body: bool = False  # it opens one of the body's first paragraphs (not a line apart)


def read_dateline(paragraph: str,
                  is_place: Callable[[str], bool] = lambda _: False) -> Dateline | None:
    """The dateline opening ``paragraph``, or None. ``is_place`` tells whether a name is a
    known place (the gazetteer's), for a place in capitals that only a full stop ends."""
    match = _DATELINE.match(paragraph[:220])
    if match is None:
        return None
    groups = match.groupdict()
    place = groups["place"]
    raw_date = groups["pdate"] or groups["date"] or groups["dateonly"]
    agency = next((groups[f"a{i}"] for i in range(1, 6) if groups[f"a{i}"]), None)
    if agency is None and groups["note"] and _WIRE.search(groups["note"].strip()):
        agency = groups["note"]  # "KHARTOUM, Sudan (AP) -", "Нью-Йорк (UNA/WAM) –"
    when = parse_date(raw_date) if raw_date else None
    month_day = None if when or not raw_date else parse_day_month(raw_date)
    if raw_date and when is None and month_day is None:
        return None  # "Floods 12 km…": words and a number, not a date
    dated = when is not None or month_day is not None
    capitals = place is not None and bool(_CAPITALS_PLACE.fullmatch(place)) and \
        sum(c.isalpha() for c in place) >= 3
    end = groups["end"]
    bracketed = groups["a1"] or groups["note"]
    if agency is not None and not dated and bracketed and not _WIRE.search(agency.strip()):
        return None  # "Red Crescent Society (BDRCS) Actions:": an acronym, not an agency
    if not dated and agency is None:
        # Only a place: in capitals, and one the gazetteer knows when a full stop ends it
        # ("FIJI. Tropical Cyclone…", not "UNICEF. The agency…").
        if not capitals or place is None:
            return None
        if end.strip() in (".", "") and not is_place(place):
            return None
    if not end.strip() and match.end() < len(paragraph) and not groups["close"] \
            and agency is None:
        return None  # a plain space ends only a bracketed dateline
    if place is None and end.strip() != ":":
        return None  # a date alone opens a dateline only with a colon ("9 December 2010:")
    return Dateline(
        text=paragraph[: match.start("end")].strip(),
        place=place.strip(" ,.") if place else None, when=when, month_day=month_day,
        agency=agency.strip(" .") if agency else None, length=match.end())


def dateline_of(body: str, dateline: str | None) -> tuple[int, int] | None:
    """Where the dateline ``dateline`` stands in ``body`` (it opens one of the first
    paragraphs), as (start, end of the dateline and its closing dash or colon), or None."""
    if not dateline:
        return None
    if body.startswith(dateline):
        start = 0
    else:
        found = body.find(f"\n\n{dateline}", 0, 4000)
        if found < 0:
            return None
        start = found + 2
    end = start + len(dateline)
    while end < len(body) and body[end] in " –—-:/.)":
        end += 1
    return start, end


def split_dateline(body: str, dateline: str | None = None) -> str:
    """``body`` without the dateline that opens it or one of its first paragraphs ("ASTANA,
    31 January 2013 – "); a paragraph that is only the dateline goes with it."""
    if dateline is None:
        found = read_dateline(body)
        dateline = found.text if found else None
    where = dateline_of(body, dateline)
    if where is None:
        return body
    start, end = where
    rest = body[end:]
    if rest.startswith("\n\n") or not rest:
        rest = rest.lstrip("\n")
    return body[:start] + rest
