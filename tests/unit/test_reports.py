"""Parsing report text: the ReliefWeb layouts, boilerplate removal, and the content hash."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from newsletter.errors import ReportError
from newsletter.reports.decode import decode_report
from newsletter.reports.identity import content_hash
from newsletter.reports.parse import parse_date, parse_report
from newsletter.summarise.core import SummaryOptions, summarise
from tests.helpers import SAMPLE_REPORT

ORIGINALLY_PUBLISHED = """\
 date 2013-02-04 4 Feb 2013

Kazakhstan: Floods in Almaty region

News and Press Release
Originally published 31 Jan 2013

ASTANA, 31 January 2013 – The Red Crescent Society of Kazakhstan has released relief to
1,250 families affected by floods.

About 340 houses were damaged.
"""

KIND_AND_SOURCE_ON_ONE_LINE = """\
Central Asia: Winter Situation Report No. 3
Situation Report from UN Office for the Coordination of Humanitarian Affairs
Published on 10 Jan 2022 View Original

HIGHLIGHTS

• Extreme cold forecast for northern Kazakhstan.
• 18,500 households need winter assistance.
"""

PLAIN = """Drought in Mangystau

Pastures have dried up and fodder prices doubled.
"""


def test_the_real_sample_report_parses_into_its_fields() -> None:
    report = parse_report(decode_report(SAMPLE_REPORT.read_bytes()).text)
    assert report.title == (
        "UN Human Rights Office calls on Kazakhstan to respect freedoms of peaceful assembly, "
        "expression and right to political participation"
    )
    assert report.kind == "Report"
    assert report.source == "UN Office of the High Commissioner for Human Rights"
    assert report.published == date(2019, 6, 12)
    assert report.language == "en"
    assert report.dateline == "BISHKEK (12 June 2019)"
    assert len(report.paragraphs) == 4
    assert report.paragraphs[0].startswith("BISHKEK (12 June 2019) – \"Kazakhstan’s actions")
    assert report.paragraphs[-1].startswith("For more information and media requests")


def test_the_site_footer_and_navigation_are_stripped_completely() -> None:
    report = parse_report(SAMPLE_REPORT.read_text(encoding="utf-8"))
    for boilerplate in ("ReliefWeb", "Informing humanitarians", "UN OCHA", "View Original",
                        "Submit Content", "API - Real-time", "Contact Us"):
        assert boilerplate not in report.body
    assert report.body.endswith("pnaderer@ohchr.org).")


def test_originally_published_without_a_from_line() -> None:
    report = parse_report(ORIGINALLY_PUBLISHED)
    assert report.title == "Kazakhstan: Floods in Almaty region"
    assert report.kind == "News and Press Release"
    assert report.source is None
    assert report.published == date(2013, 1, 31)
    assert report.posted == date(2013, 2, 4)
    assert report.dateline == "ASTANA, 31 January 2013"
    # hard-wrapped lines are joined; paragraphs are kept
    assert report.paragraphs == [
        "ASTANA, 31 January 2013 – The Red Crescent Society of Kazakhstan has released relief "
        "to 1,250 families affected by floods.",
        "About 340 houses were damaged.",
    ]


def test_kind_and_source_on_one_line_and_list_items_kept_apart() -> None:
    report = parse_report(KIND_AND_SOURCE_ON_ONE_LINE)
    assert report.kind == "Situation Report"
    assert report.source == "UN Office for the Coordination of Humanitarian Affairs"
    assert report.published == date(2022, 1, 10)
    assert report.paragraphs == [
        "HIGHLIGHTS",
        "• Extreme cold forecast for northern Kazakhstan.\n"
        "• 18,500 households need winter assistance.",
    ]


def test_a_title_and_paragraphs_alone_are_a_report() -> None:
    report = parse_report(PLAIN)
    assert (report.title, report.kind, report.source, report.published) == (
        "Drought in Mangystau", None, None, None)
    assert report.body == "Pastures have dried up and fodder prices doubled."


def test_dateline_date_is_the_publication_date_when_the_header_has_none() -> None:
    report = parse_report("Title\n\nASTANA, 31 January 2013 – Something happened.")
    assert report.published == date(2013, 1, 31)
    assert report.dateline == "ASTANA, 31 January 2013"


def test_windows_line_endings_and_a_bom_make_no_difference() -> None:
    text = SAMPLE_REPORT.read_text(encoding="utf-8")
    crlf = ("\ufeff" + text.replace("\n", "\r\n"))
    assert parse_report(crlf) == parse_report(text)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        pytest.param(" date 2019-06-12 12 Jun 2019\n\n", "missing_title", id="date-line-only"),
        pytest.param(" date 2019-06-12 12 Jun 2019\n\nReport\nfrom OCHA\nPublished on 1 Jun 2019"
                     "\n\nBody text.", "missing_title", id="header-without-title"),
        pytest.param("x" * 400 + "\n\nBody.", "missing_title", id="paragraph-as-title"),
        pytest.param("A title\nReport\nfrom OCHA\n", "missing_body", id="no-body"),
        pytest.param("A title\n\nInforming humanitarians worldwide.\nA service provided by UN OCHA",
                     "missing_body", id="footer-only-body"),
    ],
)
def test_missing_parts_raise_a_report_error(text: str, reason: str) -> None:
    with pytest.raises(ReportError) as caught:
        parse_report(text)
    assert caught.value.reason == reason


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("12 Jun 2019", date(2019, 6, 12)),
        ("31 January 2013", date(2013, 1, 31)),
        ("June 9, 2019", date(2019, 6, 9)),
        ("2019-06-12", date(2019, 6, 12)),
        ("20 марта 2020 г.", date(2020, 3, 20)),
        ("2021 жылғы 15 сәуір", date(2021, 4, 15)),
        ("15 сәуір 2021 жыл", date(2021, 4, 15)),
        ("05.03.2020", date(2020, 3, 5)),
        ("31 Feb 2020", None),
        ("no date here", None),
    ],
)
def test_parse_date(text: str, expected: date | None) -> None:
    assert parse_date(text) == expected


def test_content_hash_ignores_encoding_wrapping_quotes_and_case() -> None:
    original = parse_report(ORIGINALLY_PUBLISHED)
    rewrapped = parse_report(
        ORIGINALLY_PUBLISHED.replace("released relief to\n1,250", "released relief to 1,250")
        .replace("–", "-")
    )
    assert content_hash(rewrapped) == content_hash(original)
    shouting = replace(original, title=original.title.upper())
    assert content_hash(shouting) == content_hash(original)


def test_content_hash_changes_with_the_body() -> None:
    original = parse_report(ORIGINALLY_PUBLISHED)
    changed = parse_report(ORIGINALLY_PUBLISHED.replace("340 houses", "410 houses"))
    assert content_hash(changed) != content_hash(original)


@pytest.mark.parametrize(("first", "body"), [
    # A headline glued to the text ("Title Title's first sentence"): the copy is dropped.
    ("Floods in Kazakhstan Floods in Kazakhstan damaged 340 houses this week.",
     "Floods in Kazakhstan damaged 340 houses this week."),
    ("Floods in Kazakhstan The Red Crescent released relief to 1,250 families.",
     "The Red Crescent released relief to 1,250 families."),
    # A first sentence that merely begins with the title's words keeps them.
    ("Floods in Kazakhstan damaged 340 houses and displaced 1,200 people this week.",
     "Floods in Kazakhstan damaged 340 houses and displaced 1,200 people this week."),
])
def test_the_title_is_cut_from_the_text_only_when_it_was_glued_to_it(first: str,
                                                                    body: str) -> None:
    text = ("Floods in Kazakhstan\n\nSituation Report\nfrom OCHA\nPublished on 3 Dec 2026\n\n"
            f"{first}\n\nMore rain is forecast.\n")
    report = parse_report(text)
    assert report.title == "Floods in Kazakhstan"
    assert report.body.split("\n\n")[0] == body


@pytest.mark.parametrize("header", [
    "from OCHA\nPublished on 3 Dec 2026",  # no kind line
    "Report from OCHA Published on 3 Dec 2026",  # the header on one line
    "Report\nfrom OCHA\nPublished on 3 Dec 2026",
])
def test_a_header_without_its_kind_line_is_read_as_a_header_not_as_text(header: str) -> None:
    text = (f" date 2026-12-03 03 Dec 2026\n\nFloods in Kazakhstan\n\n{header}\n\n"
            "Floods damaged 340 houses and displaced 1,200 people this week. Relief teams "
            "delivered food to 800 families.\n\nMore rain is forecast for the north.\n")
    report = parse_report(text)
    assert (report.source, report.published) == ("OCHA", date(2026, 12, 3))
    assert report.body.startswith("Floods damaged 340 houses")
    summary = summarise(report.title, report.body, SummaryOptions())
    assert not any("Published" in s or "from OCHA" in s for s in summary.sentences)
