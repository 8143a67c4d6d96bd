"""When a text is an update of a stored report: never when it is a different report."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from newsletter.reports.identity import (
    changed_share,
    document_codes,
    report_numbers,
    same_report,
    title_key,
)
from newsletter.reports.model import Report

BODY = ("Heavy rains on 12 June caused floods and mudflows in Khatlon province. The Committee of "
        "Emergency Situations evacuated 1,200 people and 300 houses were damaged. Relief teams "
        "distributed food, blankets and hygiene kits to 450 families in six districts.")


def report(title: str, body: str = BODY, source: str | None = None) -> Report:
    return Report(title=title, source=source, kind=None, published=None, language="en",
                  body=body)


def test_three_unrelated_pages_with_the_same_chrome_title_are_three_reports() -> None:
    chrome = "Informing humanitarians worldwide 24/7"
    floods = report(chrome, BODY)
    cold = report(chrome, "A cold wave brought temperatures of -25°C to the Rasht valley and "
                          "cut off 40 villages; 8,000 people need fuel and warm clothes now.")
    kazakh = report(chrome, "Spring floods in the Aktobe and Akmola regions of Kazakhstan forced "
                            "96,000 people from their homes in April 2024 after the dams broke.")
    assert not same_report(cold, floods, same_file=False).same
    assert not same_report(kazakh, cold, same_file=False).same


def test_successive_numbered_reports_are_different_even_with_most_text_shared() -> None:
    fifth = report("Pakistan: Floods OCHA Situation Report No. 5")
    sixth = report("Pakistan: Floods OCHA Situation Report No. 6", BODY + " Two more died.")
    verdict = same_report(sixth, fifth, same_file=True)
    assert not verdict.same
    assert "report numbers" in verdict.reason
    assert report_numbers("DREF Operation Update n° 04") == {("operation update", "4")}


def test_a_corrected_report_with_the_same_title_is_an_update() -> None:
    old = report("Tajikistan: Floods - Jun 2009")
    new = report("Tajikistan: Floods, Jun 2009", BODY.replace("300 houses", "340 houses"))
    verdict = same_report(new, old, same_file=False)
    assert verdict.same
    assert verdict.resemblance > 0.5


def test_the_same_file_saved_again_with_a_new_body_and_title_is_an_update_when_it_shares_text(
) -> None:
    old = report("Floods in Khatlon")
    assert same_report(report("Floods in Khatlon: update", BODY + " 20 more houses were lost."),
                       old, same_file=True).same
    other = report("Avalanche in Rasht", "An avalanche buried the road to Garm and 30 cars.")
    assert not same_report(other, old, same_file=True).same


def test_a_shared_document_code_makes_an_update_only_with_the_same_title_or_file() -> None:
    appeal = report("Kazakhstan: Floods DREF operation MDRKZ013", "Allocation of CHF 148,000.")
    revised = report("Kazakhstan: Floods DREF operation MDRKZ013",
                     "The allocation for MDRKZ013 was raised to CHF 200,000 in March.")
    update = report("Kazakhstan: Floods MDRKZ013 Operation Update n° 1",
                    "Operation MDRKZ013 reached 6,000 people with winter clothing.")
    assert document_codes(revised) == {"MDRKZ013"}
    assert same_report(revised, appeal, same_file=False).same
    assert not same_report(update, appeal, same_file=False).same


def test_a_repost_by_another_agency_under_its_own_title_stays_a_report_of_its_own() -> None:
    original = report("Red Crescent responds to floods", source="Red Crescent Society")
    repost = replace(original, title="Floods in Khatlon - IFRC", source="IFRC")
    assert not same_report(repost, original, same_file=False).same


def test_title_keys_and_how_much_changed() -> None:
    assert title_key("Cyclone Bulbul Situation Report 1, 4:00PM") == title_key(
        "Cyclone  bulbul situation report 1 4:00PM")
    assert changed_share(BODY, BODY) == 0.0
    assert changed_share(BODY, "Completely different words make up this new text now.") == 1.0


def test_a_report_published_on_another_day_is_another_report() -> None:
    monday = replace(report("Daily floods update"), published=date(2024, 4, 8))
    tuesday = replace(monday, published=date(2024, 4, 9), body=BODY + " Two more villages.")
    assert not same_report(tuesday, monday, same_file=False).same
    assert same_report(replace(tuesday, published=date(2024, 4, 8)), monday,
                       same_file=False).same
