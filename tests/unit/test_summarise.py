"""The extractive summariser: content, cleaning, readability rules, budgets and languages."""

from __future__ import annotations

from dataclasses import replace

import pytest

from newsletter.reports.decode import decode_report
from newsletter.reports.parse import parse_report
from newsletter.summarise.core import SummaryOptions, split_sentences, summarise
from tests.helpers import REPO, SAMPLE_REPORT


def _sample() -> tuple[str, str, str | None]:
    report = parse_report(SAMPLE_REPORT.read_text(encoding="utf-8"))
    return report.title, report.body, report.dateline


def test_the_sample_report_summary_carries_the_arrests_and_the_charges() -> None:
    title, body, dateline = _sample()
    summary = summarise(title, body, dateline=dateline)
    assert "at least 1000 arrests of peaceful protesters" in summary.text
    assert "550 individuals were charged" in summary.text
    assert len(summary.sentences) <= 3
    assert len(summary.text.split()) <= 120


def test_the_sample_report_summary_has_no_contact_line_dateline_or_footer() -> None:
    title, body, dateline = _sample()
    text = summarise(title, body, dateline=dateline).text
    for unwanted in ("pnaderer@ohchr.org", "+996", "For more information", "BISHKEK",
                     "ReliefWeb", "Informing humanitarians"):
        assert unwanted not in text


def test_summaries_are_deterministic() -> None:
    title, body, dateline = _sample()
    first = summarise(title, body, dateline=dateline)
    assert all(summarise(title, body, dateline=dateline) == first for _ in range(5))


def test_sentences_keep_their_original_order() -> None:
    title, body, dateline = _sample()
    summary = summarise(title, body, dateline=dateline)
    positions = [body.index(sentence) for sentence in summary.sentences]
    assert positions == sorted(positions)


@pytest.mark.parametrize(("sentences", "words"), [(1, 120), (2, 40), (5, 60), (3, 25)])
def test_budgets_are_respected(sentences: int, words: int) -> None:
    title, body, dateline = _sample()
    options = SummaryOptions(sentences=sentences, words=words)
    summary = summarise(title, body, options, dateline=dateline)
    assert 1 <= len(summary.sentences) <= sentences
    assert len(summary.text.split()) <= words + 1  # +1: the ellipsis of a cut sentence


def test_empty_and_short_bodies() -> None:
    assert summarise("Title", "").sentences == ()
    assert summarise("Title", "Too short.").sentences == ()
    one = "Floods damaged 340 houses in the Almaty region on Monday."
    assert summarise("Floods", one).sentences == (one,)


def test_a_single_sentence_over_the_word_budget_is_cut() -> None:
    long = "Floods damaged " + " ".join(f"house{i}" for i in range(60)) + " in the region."
    summary = summarise("Floods", long, SummaryOptions(words=20))
    assert summary.sentences[0].endswith(" …")
    assert len(summary.sentences[0].split()) == 21


def test_contact_lines_emails_phones_and_headings_are_never_chosen() -> None:
    body = (
        "HIGHLIGHTS\n\n"
        "Floods damaged 340 houses in the Almaty region and displaced 4,800 people.\n\n"
        "Write to press@example.org for the photographs of the damaged villages today.\n\n"
        "Call +7 727 291 6012 to speak with the emergency team about the floods.\n\n"
        "For more information on the floods in Almaty, please contact the office.\n\n"
        "The Red Crescent released relief for 1,250 families affected by the floods."
    )
    summary = summarise("Floods in Almaty", body, SummaryOptions(sentences=5))
    assert summary.sentences == (
        "Floods damaged 340 houses in the Almaty region and displaced 4,800 people.",
        "The Red Crescent released relief for 1,250 families affected by the floods.",
    )


def test_at_most_one_quote_and_only_with_its_speaker() -> None:
    body = (
        '"We are working day and night to reach every family," said the Secretary General.\n\n'
        '"Nobody must be left without heating this winter in the flooded villages," she said.\n\n'
        '"The situation in the villages is very serious for all the families there."\n\n'
        "Floods damaged 340 houses in the Almaty region and displaced 4,800 people."
    )
    summary = summarise("Floods", body, SummaryOptions(sentences=4, words=200))
    quotes = [s for s in summary.sentences if s.startswith('"')]
    assert len(quotes) == 1
    assert "said" in quotes[0]
    assert '"The situation in the villages' not in summary.text


def test_a_short_quoted_term_is_not_a_quote() -> None:
    body = ('Officials confirmed that 550 people were charged for "participating in an assembly" '
            "in three cities.")
    assert summarise("Charges", body).sentences == (body,)


def test_a_sentence_opening_with_a_pronoun_comes_only_with_its_predecessor() -> None:
    body = (
        "The Red Crescent Society of Kazakhstan opened six relief centres in the flooded region.\n\n"
        "Heavy rain closed 23 mountain roads across the northern districts this week.\n\n"
        "They distributed blankets, heaters and food to 1,250 flooded families in the region.\n\n"
        "However, funding for the flood response in the region covers only 41% of needs."
    )
    options = SummaryOptions(sentences=2, words=200)
    summary = summarise("Relief centres for flooded families", body, options)
    for sentence in summary.sentences:
        if sentence.startswith(("They", "However")):
            index = body.split("\n\n").index(sentence)
            assert body.split("\n\n")[index - 1] in summary.sentences


def test_russian_and_kazakh_reports_are_summarised_in_their_own_language() -> None:
    for name, marker in (("2020-03-20_situation-report-covid-ru.txt", "подтверждено 44 случая"),
                         ("2021-04-15_drought-advisory-kk.txt", "2 000-нан астам мал")):
        report = parse_report(decode_report((REPO / "seeds" / name).read_bytes()).text)
        summary = summarise(report.title, report.body, dateline=report.dateline)
        assert 1 <= len(summary.sentences) <= 3
        assert marker in summary.text
        assert all(sentence in report.body for sentence in summary.sentences)
        assert not any(sentence.startswith(("НУР-СУЛТАН", "АҚТАУ")) for sentence in summary.sentences)


def test_changing_a_weight_changes_the_choice() -> None:
    """The options reach the scorer: an extreme lead prior yields the first sentences."""
    title, body, dateline = _sample()
    lead_heavy = replace(SummaryOptions(), position=100.0, forward=0.0, title=0.0, figures=0.0)
    summary = summarise(title, body, lead_heavy, dateline=dateline)
    assert summary.sentences[0].startswith('"Kazakhstan’s actions')
    assert "On 9 and 10 June" in summary.sentences[1]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("He paid approx. 5 dollars. Then he left.", ["He paid approx. 5 dollars.", "Then he left."]),
        ("Camp No. 1 is full. Camp No. 2 is not.", ["Camp No. 1 is full.", "Camp No. 2 is not."]),
        ("Aid rose 3.5 per cent. Needs rose too.", ["Aid rose 3.5 per cent.", "Needs rose too."]),
        ("Talks in the U.S. were held. The U.S. Senate agreed.",
         ["Talks in the U.S. were held.", "The U.S. Senate agreed."]),
        ("Aid reached the U.S. The talks ended.", ["Aid reached the U.S.", "The talks ended."]),
        ("Costs, i.e. fuel and food, rose. Then prices fell.",
         ["Costs, i.e. fuel and food, rose.", "Then prices fell."]),
        ("Mr. J. Smith arrived. He spoke.", ["Mr. J. Smith arrived.", "He spoke."]),
        ('"Help is coming." The team left!', ['"Help is coming."', "The team left!"]),
        ("В г. Алматы т.е. в городе. Новое предложение.",
         ["В г. Алматы т.е. в городе.", "Новое предложение."]),
        ("Title line\n\n• First item\n• Second item", ["Title line", "• First item", "• Second item"]),
        ("Пострадали около 550 тыс. Об этом сообщило УКГВ.",
         ["Пострадали около 550 тыс.", "Об этом сообщило УКГВ."]),
        ("Около 550 тыс. человек пострадали.", ["Около 550 тыс. человек пострадали."]),
        ("Это было в 2020 г. В городе снова паводки.",
         ["Это было в 2020 г.", "В городе снова паводки."]),
    ],
)
def test_split_sentences(text: str, expected: list[str]) -> None:
    assert split_sentences(text) == expected


# A DREF report as real pages give it: the fund's stock paragraph, the period, a heading, the
# next report's date, an attribution alone.
STOCK_BODY = """\
The International Federation's Disaster Relief Emergency Fund (DREF) is a source of un-earmarked \
money created by the Federation in 1985 to ensure that immediate financial support is available.

Period covered by this update: 10 November to 19 December 2023.

What happened, where and when?

Floods in the Aktobe region destroyed 340 houses and forced 4,800 people to leave 12 villages.

The Kazakh Red Crescent distributed food parcels and hygiene kits to 1,250 families in April.

The Government asked the United Nations for help with shelter and clean water on 10 April.

The next report will be issued on or around 20 April.

This report is produced by OCHA Kazakhstan in collaboration with humanitarian partners.
"""


def test_stock_paragraphs_headings_and_attributions_are_never_chosen() -> None:
    summary = summarise("Kazakhstan: Floods DREF update", STOCK_BODY)
    assert summary.sentences == (
        "Floods in the Aktobe region destroyed 340 houses and forced 4,800 people to leave 12 "
        "villages.",
        "The Kazakh Red Crescent distributed food parcels and hygiene kits to 1,250 families in "
        "April.",
        "The Government asked the United Nations for help with shelter and clean water on 10 "
        "April.",
    )


def test_figure_labels_captions_and_the_title_again_are_never_chosen() -> None:
    body = ("Kazakhstan: floods in Aktobe\n\n"
            "912,000 Children in need of humanitarian assistance\n\n"
            "A boy rescued from the water in Aktobe on Sunday evening\n\n"
            "Floods in the Aktobe region forced 4,800 people from their homes this week.\n\n"
            "Об этом сообщила пресс-служба МЧС, передает ТАСС.\n\n"
            "Saule Shalgymbaeva, Red Crescent of Kazakhstan, Assel Tastanova, IFRC Almaty.")
    summary = summarise("Kazakhstan: floods in Aktobe", body)
    assert summary.sentences == (
        "Floods in the Aktobe region forced 4,800 people from their homes this week.",)


def test_a_russian_reference_to_an_earlier_speaker_comes_only_with_its_antecedent() -> None:
    body = ("Президент Красного Полумесяца назвал ситуацию тяжелой для всех пострадавших сел.\n\n"
            "Паводки повредили 340 домов в Актюбинской области за последнюю неделю.\n\n"
            "По ее данным, помощь получили 1 250 семей в шести районах области.")
    summary = summarise("Паводки", body, SummaryOptions(sentences=1, words=100))
    assert not summary.sentences[0].startswith("По ее данным")


def test_a_page_of_fragments_alone_is_still_summarised() -> None:
    body = "• 340 houses damaged in Aktobe\n• 4,800 people evacuated from 12 villages"
    assert summarise("Floods", body).sentences
