"""Digest planning: near-duplicate reports merge into one item, figures are not repeated."""

from __future__ import annotations

from newsletter.reports.decode import decode_report
from newsletter.reports.parse import parse_report
from newsletter.summarise.core import summarise
from newsletter.summarise.digest import DigestEntry, containment, plan_digest, shingles
from newsletter.summarise.figures import key_facts, key_figures
from tests.helpers import REPO


def _entry(report_id: int, name: str) -> DigestEntry:
    report = parse_report(decode_report((REPO / "seeds" / name).read_bytes()).text)
    summary = summarise(report.title, report.body, dateline=report.dateline)
    return DigestEntry(report_id, report.title, report.source, report.body, summary.sentences)


def test_the_same_event_reposted_by_another_agency_is_one_item_crediting_both() -> None:
    original = _entry(1, "2013-01-31_kazakhstan-floods-dref.txt")
    repost = _entry(2, "2013-02-01_kazakhstan-floods-ifrc-repost.txt")
    other = _entry(3, "000_613cf9316ff160d9.txt")
    items = plan_digest([original, other, repost])
    assert [item.report_ids for item in items] == [(1, 2), (3,)]
    merged = items[0]
    assert merged.title == original.title
    assert merged.sources == ("International Federation of Red Cross and Red Crescent Societies",)
    assert merged.summary == original.summary


def test_sources_are_credited_once_each_in_order() -> None:
    body = " ".join(f"Sentence number {i} about the floods in the northern region." for i in range(9))
    a = DigestEntry(1, "Floods", "OCHA", body, ("Floods hit 300 homes.",))
    b = DigestEntry(2, "Floods (repost)", "IFRC", body + " One more line.", ("x",))
    c = DigestEntry(3, "Floods again", "OCHA", body, ("y",))
    [item] = plan_digest([a, b, c])
    assert item.report_ids == (1, 2, 3)
    assert item.sources == ("OCHA", "IFRC")


def test_different_reports_stay_apart() -> None:
    a = DigestEntry(1, "A", "OCHA", "Floods damaged roads and bridges in the north this week.", ("a",))
    b = DigestEntry(2, "B", "WFP", "Food prices rose sharply in markets across the south today.", ("b",))
    assert [item.report_ids for item in plan_digest([a, b])] == [(1,), (2,)]


def test_a_sentence_repeating_only_known_figures_is_dropped() -> None:
    a = DigestEntry(1, "A", "OCHA", "alpha " * 10, ("Floods displaced 4,800 people.",
                                                    "Roads were closed."))
    b = DigestEntry(2, "B", "WFP", "beta " * 10, ("Some 4 800 people were displaced.",
                                                  "WFP fed 3,400 families of the 4,800 people."))
    items = plan_digest([a, b])
    assert items[1].summary == ("WFP fed 3,400 families of the 4,800 people.",)
    assert items[0].summary == a.summary


def test_containment_and_figures() -> None:
    long = "the red crescent released relief to families affected by floods in almaty"
    assert containment(shingles(long), shingles(long + " and more words here")) == 1.0
    assert containment(shingles("a b c d"), shingles(long)) == 0.0
    assert key_figures("On 9 and 10 June 2019, 1,000 people; 35 per cent; 41%") == {
        "1000", "35 per cent", "41%"}


def test_sentences_are_repeats_only_when_they_state_the_same_facts() -> None:
    """"40 т" is not "40 км", "14 кишлаков" not "14 км": the later report keeps its news."""
    first = DigestEntry(1, "A", "OCHA", "alpha " * 10, (
        "Сель перекрыл дорогу на 40 км в 14 км от Душанбе.",))
    update = DigestEntry(2, "B", "WFP", "beta " * 10, (
        "ВПП доставила 40 т муки в 14 кишлаков района.",
        "Дорогу перекрыло на 40 км в 14 км от Душанбе.",))
    items = plan_digest([first, update])
    assert items[0].summary == first.summary
    assert items[1].summary == ("ВПП доставила 40 т муки в 14 кишлаков района.",)
    assert key_facts("40 т муки и 14 кишлаков") == {("40", "т муки"), ("14", "кишлак")}
    assert key_facts("Floods displaced 4,800 people.") == key_facts("Some 4 800 people fled.")
