"""Dates as report pages write them, in English, Russian, Kazakh, French and Spanish (pure).

A full date (``12 Jun 2019``, ``June 9, 2019``, ``20 марта 2020 г.``, ``2021 жылғы 15 сәуір``,
``24.05.2023``, ``2019-06-12``, ``12 juin 2023``, ``12 de junio de 2023``) is read by
:func:`parse_date`. A news agency's dateline often gives only a day and a month (``Бишкек,
15 мая /Кабар/.``, ``UNITED NATIONS, Dec. 11``): :func:`parse_day_month` reads those, and
:func:`complete` gives them the year of a nearby full date on the page (the one just after the
title, a ``Published`` field…), never the year of the machine's clock.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from types import MappingProxyType

# Month names and their abbreviations, by language. The machine translation masks dates with
# the English, Russian and Kazakh ones (:data:`MONTH_NUMBERS`); pages are read with all five.
_MONTHS: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "en": ("january jan", "february feb", "march mar", "april apr", "may", "june jun",
           "july jul", "august aug", "september sep sept", "october oct", "november nov",
           "december dec"),
    "ru": ("январь января янв", "февраль февраля фев февр", "март марта мар",
           "апрель апреля апр", "май мая", "июнь июня июн", "июль июля июл",
           "август августа авг", "сентябрь сентября сен сент", "октябрь октября окт",
           "ноябрь ноября ноя нояб", "декабрь декабря дек"),
    "kk": ("қаңтар", "ақпан", "наурыз", "сәуір", "мамыр", "маусым", "шілде", "тамыз",
           "қыркүйек", "қазан", "қараша", "желтоқсан"),
    "fr": ("janvier janv", "février févr fevrier", "mars", "avril avr", "mai", "juin",
           "juillet juil", "août aout", "septembre sept", "octobre oct", "novembre nov",
           "décembre déc decembre"),
    "es": ("enero ene", "febrero feb", "marzo mar", "abril abr", "mayo may", "junio jun",
           "julio jul", "agosto ago", "septiembre setiembre sept sep", "octubre oct",
           "noviembre nov", "diciembre dic"),
})


def _numbers(languages: tuple[str, ...]) -> dict[str, int]:
    numbers: dict[str, int] = {}
    for language in languages:
        for number, names in enumerate(_MONTHS[language], start=1):
            for name in names.split():
                numbers.setdefault(name, number)
    return numbers


MONTH_NUMBERS: Mapping[str, int] = MappingProxyType(_numbers(("en", "ru", "kk")))
PAGE_MONTH_NUMBERS: Mapping[str, int] = MappingProxyType(
    _numbers(("en", "ru", "kk", "fr", "es")))
MONTH_NAMES = frozenset(PAGE_MONTH_NUMBERS)

_MONTH_WORD = r"[^\W\d_]{3,10}\.?"
_YEAR_WORD = r"(?:\s*(?:г\.|года|год|жыл\w*))?"
_DATE_PATTERNS = (
    re.compile(r"(?<!\d)(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})(?!\d)"),
    re.compile(rf"(?<!\d)(?P<d>\d{{1,2}})(?:er)?\s+(?:de\s+)?(?P<mon>{_MONTH_WORD})"
               rf",?\s+(?:de\s+)?(?P<y>\d{{4}})(?!\d)"),
    re.compile(rf"(?P<mon>{_MONTH_WORD})\s+(?P<d>\d{{1,2}})(?:st|nd|rd|th)?,?\s+"
               rf"(?P<y>\d{{4}})(?!\d)"),
    re.compile(rf"(?<!\d)(?P<y>\d{{4}})\s+(?:жылғы\s+)?(?P<d>\d{{1,2}})\s+"
               rf"(?P<mon>{_MONTH_WORD})"),
    re.compile(r"(?<![\d.])(?P<d>\d{1,2})[./](?P<m>\d{1,2})[./](?P<y>\d{4})(?!\d)"),
)
_DAY_MONTH_PATTERNS = (
    re.compile(rf"(?<!\d)(?P<d>\d{{1,2}})(?:er)?\s+(?:de\s+)?(?P<mon>{_MONTH_WORD})"),
    re.compile(rf"(?P<mon>{_MONTH_WORD})\s+(?P<d>\d{{1,2}})(?:st|nd|rd|th)?(?!\d)"),
)


def _month(parts: dict[str, str]) -> int:
    if parts.get("m"):
        return int(parts["m"])
    return PAGE_MONTH_NUMBERS.get(parts["mon"].rstrip(".").casefold(), 0)


def parse_date(text: str) -> date | None:
    """The first full date in ``text`` (see the module docstring), or None."""
    for pattern in _DATE_PATTERNS:
        for match in pattern.finditer(text):
            parts = match.groupdict()
            try:
                return date(int(parts["y"]), _month(parts), int(parts["d"]))
            except ValueError:
                continue
    return None


def find_date(text: str) -> tuple[date, int, int] | None:
    """The earliest full date in ``text`` with its start and end, or None."""
    best: tuple[date, int, int] | None = None
    for pattern in _DATE_PATTERNS:
        for match in pattern.finditer(text):
            parts = match.groupdict()
            try:
                found = date(int(parts["y"]), _month(parts), int(parts["d"]))
            except ValueError:
                continue
            if best is None or match.start() < best[1]:
                best = (found, match.start(), match.end())
            break
    return best


def parse_day_month(text: str) -> tuple[int, int] | None:
    """The first (month, day) written without a year (``15 мая``, ``Dec. 11``), or None."""
    for pattern in _DAY_MONTH_PATTERNS:
        for match in pattern.finditer(text):
            parts = match.groupdict()
            month, day = _month(parts), int(parts["d"])
            if 1 <= month <= 12 and 1 <= day <= 31:
                return month, day
    return None


def complete(month_day: tuple[int, int], context: date | None) -> date | None:
    """The date of ``month_day`` in the year of ``context`` (the year before, when that would
    put it more than a month after ``context``); None without a context."""
    if context is None:
        return None
    month, day = month_day
    for year in (context.year, context.year - 1):
        try:
            candidate = date(year, month, day)
        except ValueError:
            return None
        if (candidate - context).days <= 31:
            return candidate
    return None
