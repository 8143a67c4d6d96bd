"""Datelines as agencies write them: place, date (with or without a year) and agency."""

from __future__ import annotations

from datetime import date

import pytest

from newsletter.reports.datelines import read_dateline, split_dateline
from newsletter.reports.dates import complete, parse_date, parse_day_month
from newsletter.reports.parse import parse_report
from newsletter.reports.places import load_gazetteer
from newsletter.summarise.core import summarise

KNOWN = load_gazetteer()


def is_place(name: str) -> bool:
    return KNOWN.resolve(name) is not None


Expected = tuple[str | None, date | tuple[int, int] | None, str | None]


@pytest.mark.parametrize(("text", "expected"), [
    ("ASTANA, 31 January 2013 – The Red Crescent", ("ASTANA", date(2013, 1, 31), None)),
    ("BISHKEK (12 June 2019) – \"Kazakhstan’s actions", ("BISHKEK", date(2019, 6, 12), None)),
    ("ALMATY, 24 April 2007 (IRIN) - Aid workers", ("ALMATY", date(2007, 4, 24), "IRIN")),
    ("(Dushanbe/New York/Geneva, 18 February 2008): The United Nations",
     ("Dushanbe/New York/Geneva", date(2008, 2, 18), None)),
    ("ДУШАНБЕ, 24.05.2023 /НИАТ «Ховар»/. Управление ООН",
     ("ДУШАНБЕ", date(2023, 5, 24), "НИАТ «Ховар»")),
    ("Бишкек, 15 мая /Кабар/. Текст новости", ("Бишкек", (5, 15), "Кабар")),
    ("Bishkek, June 22 2010", ("Bishkek", date(2010, 6, 22), None)),
    ("ООН, 24 октября. /ТАСС/. Более 120 человек", ("ООН", (10, 24), "ТАСС")),
    ("Нью-Йорк (ООН). 11 августа. INTERFAX.RU - ООН в среду",
     ("Нью-Йорк", (8, 11), "INTERFAX.RU")),
    ("Баку. 24 февраля. REPORT.AZ/ Международный комитет", ("Баку", (2, 24), "REPORT.AZ")),
    ("МОСКВА, 6 июн — РИА Новости. Власти области", ("МОСКВА", (6, 6), "РИА Новости")),
    ("Нью-Йорк (UNA/WAM) – Управление ООН", ("Нью-Йорк", None, "UNA/WAM")),
    ("JUBA, South Sudan, February 17, 2015/African Press Organization (APO)/ — The United",
     ("JUBA, South Sudan", date(2015, 2, 17), "African Press Organization (APO)")),
    ("UNITED NATIONS, Dec. 11, (Xinhua/GNA) – The needy", ("UNITED NATIONS", (12, 11),
                                                           "Xinhua/GNA")),
    ("KHARTOUM, Sudan (AP) - Flash floods swept", ("KHARTOUM, Sudan", None, "AP")),
    ("New York, Apr 28 (IBNS): The United Nations", ("New York", (4, 28), "IBNS")),
    ("9 December 2010: In response to flooding", (None, date(2010, 12, 9), None)),
    ("FIJI. Tropical Cyclone (TC) Winston, one", ("FIJI", None, None)),
    ("New York/Beirut, 14 August 2020) The UN and", ("New York/Beirut", date(2020, 8, 14), None)),
    ("GENEVA/NEW YORK – The UN", ("GENEVA/NEW YORK", None, None)),
    ("АҚТАУ, 15 сәуір 2021 жыл – Маңғыстау облысында", ("АҚТАУ", date(2021, 4, 15), None)),
    ("Нур-Султан, 20 марта 2020 г. – В Казахстане", ("Нур-Султан", date(2020, 3, 20), None)),
])
def test_datelines_as_agencies_write_them(text: str, expected: Expected) -> None:
    found = read_dateline(text, is_place)
    assert found is not None
    when = found.when or found.month_day
    assert (found.place, when, found.agency) == expected


@pytest.mark.parametrize("text", [
    "Floods - Kazakhstan hit by rain.",
    "UNICEF. The agency said it would help.",
    "On 9 and 10 June, various independent sources reported arrests.",
    "Heavy rainfall between 11 to 14 August 2017 caused widespread floods.",
    "Cyclone Nargis struck Myanmar on 2 and 3 May 2008, sweeping through the delta.",
    "Summary: CHF 314,208 was allocated from the fund.",
    "February 2022: First cholera suspect case in Machinga district.",
    "Bangladesh Red Crescent Society (BDRCS) Actions: Emergency coordination meetings.",
    "Tropical Storm Gamma, the 24th named storm of the season, killed 14 people.",
])
def test_sentences_that_are_not_datelines(text: str) -> None:
    assert read_dateline(text, is_place) is None


def test_a_date_without_a_year_takes_the_year_of_the_page() -> None:
    assert complete((5, 15), date(2023, 5, 16)) == date(2023, 5, 15)
    assert complete((12, 28), date(2025, 1, 2)) == date(2024, 12, 28)  # the year before
    assert complete((5, 15), None) is None
    report = parse_report("Паводки в Чуйской области\n\n27.05.2024, 16:40\n\n"
                          "Бишкек, 25 мая /Кабар/. Паводки повредили 40 домов в Чуйской области.")
    assert (report.published, report.source) == (date(2024, 5, 25), "Кабар")


def test_dates_in_french_and_spanish_and_with_a_weekday() -> None:
    assert parse_date("16 avr. 2024") == date(2024, 4, 16)
    assert parse_date("12 de junio de 2023") == date(2023, 6, 12)
    assert parse_date("четверг, 30 января 2025 г.") == date(2025, 1, 30)
    assert parse_day_month("6 июн") == (6, 6)


def test_a_dateline_on_a_line_of_its_own_or_after_a_subtitle_leaves_the_summary() -> None:
    alone = parse_report("Kyrgyzstan: floods\n\nBishkek, June 22 2010\n\n"
                         "Floods destroyed 120 houses in the Osh region on Monday night.")
    assert alone.published == date(2010, 6, 22)
    subtitled = parse_report(
        "ООН: в Нигере от наводнений пострадали 550 тыс. человек\n\n"
        "Управление ООН и его партнеры оказывают поддержку правительству\n\n"
        "Редакция сайта ТАСС\n\n"
        "ООН, 24 октября. /ТАСС/. Более 120 человек погибли от наводнений в Нигере в этом году.")
    assert subtitled.dateline == "ООН, 24 октября. /ТАСС/"
    assert subtitled.source == "ТАСС"
    assert "Редакция" not in subtitled.body
    summary = summarise(subtitled.title, subtitled.body, dateline=subtitled.dateline)
    assert summary.sentences == ("Более 120 человек погибли от наводнений в Нигере в этом году.",)
    assert "ТАСС" not in split_dateline(subtitled.body, subtitled.dateline)
