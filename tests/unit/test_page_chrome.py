"""Report pages as a browser's "select all, copy" gives them: the site's chrome is dropped, the
fields it carries (title, source, kind, dates) are read, in English, French, Spanish, Russian."""

from __future__ import annotations

import json
from datetime import date

import pytest

from newsletter.reports.decode import decode_report
from newsletter.reports.parse import parse_report
from tests.helpers import REPO

CORPUS = REPO / "tests" / "data" / "reports"

BANNER_AND_COUNTRY = """\
Informing humanitarians worldwide 24/7 — a service provided by UN OCHA

Tajikistan

Tajikistan: Floods - Jun 2009

Heavy rains on 12 June caused floods and mudflows in Khatlon province, damaging 300 houses.

The Committee of Emergency Situations evacuated 1,200 people to safer areas.
"""

TAGS_AND_ATTACHMENTS = """\
Afghanistan + 4 more
Tajikistan: Cold wave - Jan 2023
Attachments
Temperatures fell to -25°C in the Rasht valley, and 40 villages were cut off by snow.
"""

ENGLISH_BLOCK = """\
Skip to main content

Kazakhstan: Floods - Operation Update n° 2 (MDRKZ013)

Countries
Kazakhstan
Sources
IFRC
Format
Situation Report
Publication date
12 Apr 2024
Origin
View original

Floods in the Akmola and Aktobe regions forced 96,000 people from their homes.
"""

FLAT_SPANISH_BLOCK = """\
Saltar al contenido principal
Kazajstán: Inundaciones - Informe de situación n.º 3
Países Kazajstán Fuentes IFRC Fecha de publicación 15 abr 2024 Origen Ver original
Las inundaciones en la región de Aktobe obligaron a evacuar a 12.000 personas el domingo.
"""

FLAT_FRENCH_BLOCK = """\
Aller au contenu principal
Kazakhstan : Inondations - Rapport de situation n° 4
Pays Kazakhstan Sources OCHA Format Rapport de situation Date de publication 16 avr. 2024 Origine Voir l'original
Les crues ont touché 14 districts et 96 000 personnes ont été évacuées.
"""

RUSSIAN_BLOCK = """\
Перейти к основному содержанию

Казахстан: паводки, оперативная сводка № 1

Страны
Казахстан
Источники
UNICEF
Дата публикации
10 апр 2024
Происхождение
Просмотреть оригинал

Паводки в Актюбинской области затронули 30 000 детей, сообщает ЮНИСЕФ.
"""

NEWS_SITE = """\
Рейтинг@Mail.ru
USD
398.27
четверг, 30 января 2025 г.
погода в
Ереване

Спасатели в Армении проводят эвакуацию жителей поселка Санаин

27.05.2024, 16:40
Спасатели проводят эвакуацию жителей поселка Санаин в Лорийской области
Спасатели в Армении проводят эвакуацию жителей поселка Санаин

ЕРЕВАН, 27 мая. /АРКА/. Спасатели проводят эвакуацию жителей поселка Санаин, сообщает МВД.
"""

CAPTION_THEN_TITLE = """\
Sudan
Situation Report
Flash Update
People affected by heavy rainfall in Kassala
People affected by heavy rainfall in Kassala Photo: OCHA/Lokuju Peter
SUDAN: Humanitarian impact of heavy rains, Flash Update No. 1 (28 July 2024)
HIGHLIGHTS
Heavy rainfall and flash floods have affected thousands of people in Kassala State.
"""

TAB_TITLE_AND_BYLINE = """\
Kyrgyzstan: mudflows hit Jalal-Abad - News Agency, 06.06.2023
Registration completed!
Kyrgyzstan: mudflows hit Jalal-Abad
By Aida Sultanova
BISHKEK, 6 Jun (Kabar) - Mudflows damaged 40 houses in the Jalal-Abad region on Monday.
"""


def test_the_banner_and_a_lone_country_line_are_not_the_title() -> None:
    report = parse_report(BANNER_AND_COUNTRY)
    assert report.title == "Tajikistan: Floods - Jun 2009"
    assert "Informing humanitarians" not in report.body
    assert not report.body.startswith("Tajikistan\n")


def test_country_tags_and_attachments_are_dropped() -> None:
    report = parse_report(TAGS_AND_ATTACHMENTS)
    assert report.title == "Tajikistan: Cold wave - Jan 2023"
    assert report.body.startswith("Temperatures fell")


def test_the_field_block_gives_source_kind_and_date_and_leaves_the_body() -> None:
    report = parse_report(ENGLISH_BLOCK)
    assert (report.title, report.source, report.kind, report.published) == (
        "Kazakhstan: Floods - Operation Update n° 2 (MDRKZ013)", "IFRC", "Situation Report",
        date(2024, 4, 12))
    assert report.body == ("Floods in the Akmola and Aktobe regions forced 96,000 people from "
                           "their homes.")


@pytest.mark.parametrize(("text", "title", "source", "kind", "published"), [
    (FLAT_SPANISH_BLOCK, "Kazajstán: Inundaciones - Informe de situación n.º 3", "IFRC", None,
     date(2024, 4, 15)),
    (FLAT_FRENCH_BLOCK, "Kazakhstan : Inondations - Rapport de situation n° 4", "OCHA",
     "Situation Report", date(2024, 4, 16)),
    (RUSSIAN_BLOCK, "Казахстан: паводки, оперативная сводка № 1", "UNICEF", None,
     date(2024, 4, 10)),
], ids=["spanish-flat", "french-flat", "russian"])
def test_field_blocks_in_french_spanish_and_russian(
        text: str, title: str, source: str, kind: str | None, published: date) -> None:
    report = parse_report(text)
    assert (report.title, report.source, report.kind, report.published) == (
        title, source, kind, published)
    for chrome in ("Países", "Fuentes", "Origen", "Pays", "Origine", "Страны", "Источники",
                   "Просмотреть", "contenido principal", "contenu principal", "Перейти"):
        assert chrome not in report.body


def test_a_news_page_headline_date_line_and_agency() -> None:
    report = parse_report(NEWS_SITE)
    assert report.title == "Спасатели в Армении проводят эвакуацию жителей поселка Санаин"
    # the date under the headline, not the site's date of today above it
    assert report.published == date(2024, 5, 27)
    assert report.source == "АРКА"
    assert report.dateline == "ЕРЕВАН, 27 мая. /АРКА/"
    for chrome in ("Рейтинг", "398.27", "погода", "30 января"):
        assert chrome not in report.body


def test_a_photo_caption_above_the_headline_is_not_the_title() -> None:
    report = parse_report(CAPTION_THEN_TITLE)
    assert report.title == ("SUDAN: Humanitarian impact of heavy rains, Flash Update No. 1 "
                            "(28 July 2024)")
    assert report.kind == "Flash Update"
    assert report.published == date(2024, 7, 28)  # the title's date: the page gives no other


def test_a_browser_tab_title_gives_way_to_the_headline_and_a_byline_is_dropped() -> None:
    report = parse_report(TAB_TITLE_AND_BYLINE)
    assert report.title == "Kyrgyzstan: mudflows hit Jalal-Abad"
    assert report.source == "Kabar"
    assert report.published == date(2023, 6, 6)  # the day of the dateline, the tab's year
    assert "Aida Sultanova" not in report.body
    assert "Registration" not in report.body


def test_a_title_period_is_not_a_publication_date() -> None:
    text = ("Yemen Humanitarian Update Covering 22 October - 6 November 2018 | Issue 31\n\n"
            "Armed clashes continued around the airport for a third week.\n")
    assert parse_report(text).published is None


def test_every_labelled_page_of_the_corpus_gives_its_title_date_and_source() -> None:
    """The corpus of real pages (tests/data/reports): each page's title, date and source as a
    person read them off it. bench/reports.py measures the rest (places, summaries)."""
    labels = [json.loads(line) for line in
              (CORPUS / "labels.jsonl").read_text("utf-8").splitlines() if line.strip()]
    assert len(labels) >= 60
    assert sum(label["chrome"] for label in labels) >= 15
    wrong = []
    for label in labels:
        report = parse_report(decode_report((CORPUS / label["file"]).read_bytes()).text)
        got = (" ".join(report.title.split()),
               report.published.isoformat() if report.published else None, report.source)
        want = (" ".join(label["title"].split()), label["date"], label["source"])
        if got[:2] != want[:2] or (want[2] or "") not in (got[2] or "") and (
                got[2] or "") not in (want[2] or ""):
            wrong.append(f"{label['file']}: {got} != {want}")
    assert wrong == []
