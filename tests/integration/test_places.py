"""Lists filter on the countries and regions a report is about, detected in any of the three
languages, and name them by code or by any of their names."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from newsletter.app import Instance, load_instance
from newsletter.cli.main import cli
from newsletter.errors import ConfigError
from newsletter.reports.ingest import ingest_inbox
from tests.office import add_config, ingest_sample, report_text, with_config

TODAY = date(2026, 5, 4)
NOW = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)


def _report(title: str, body: str) -> str:
    return (f" date {TODAY.isoformat()} {TODAY:%d %b %Y}\n\n{title}\n\nSituation Report\n"
            f"from OCHA\nPublished on {TODAY:%d %b %Y}\n\n{body}\n")


REPORTS = {
    "ru.txt": _report("Казахстан: паводки в Актюбинской области",
                      "В результате паводков в Актюбинской области эвакуированы 1200 человек. "
                      "Спасатели доставили продукты в 800 семей."),
    "kk.txt": _report("Су тасқыны: жағдай туралы есеп",
                      "Қазақстанда су тасқынынан 1200 адам көшірілді. Ақтөбе облысындағы "
                      "құтқарушылар 800 отбасына азық-түлік жеткізді."),
    "kg.txt": report_text("Snow closes roads", TODAY, country="Kyrgyzstan"),
    "jp.txt": _report("Floods in Kazakhstan's west",
                      "Floods displaced 1,200 people in Zhem, in the west of the country.\n\n"
                      "Relief teams delivered food to 800 families.\n\n"
                      "The response is funded in part by Japan."),
}


def _office(instance: Instance, countries: str) -> Instance:
    office = with_config(instance, f'[lists.kz]\ntitle = "Kazakhstan"\ncountries = {countries}\n',
                         {})
    ingest_sample(office, now=NOW, reports=REPORTS)
    return office


def _due_titles(office: Instance) -> set[str]:
    with office.open_store() as store:
        service = office.service(store, clock=lambda: NOW)
        spec = service.lists()["kz"]
        every = store.reports.newest()
        return {r.report.title for r in every if spec.matches(r.report, r.places)}


@pytest.mark.parametrize("countries", ['["Kazakhstan"]', '["KZ"]', '["Қазақстан"]',
                                       '["Казахстан"]', '["kaz"]'])
def test_a_kazakhstan_list_gets_reports_in_every_language_by_any_name(
    instance: Instance, countries: str
) -> None:
    office = _office(instance, countries)
    assert _due_titles(office) == {"Казахстан: паводки в Актюбинской области",
                                   "Су тасқыны: жағдай туралы есеп",
                                   "Floods in Kazakhstan's west"}


def test_a_region_list_gets_the_reports_that_name_the_region(instance: Instance) -> None:
    office = _office(instance, '["Aktobe"]')
    assert _due_titles(office) == {"Казахстан: паводки в Актюбинской области",
                                   "Су тасқыны: жағдай туралы есеп"}


def test_a_country_named_in_passing_is_not_what_a_report_is_about(instance: Instance) -> None:
    office = _office(instance, '["Japan"]')
    assert _due_titles(office) == set()
    with office.open_store() as store:
        places = {r.report.title: r.places for r in store.reports.newest()}
    assert places["Floods in Kazakhstan's west"] == ("KZ",)
    assert places["Snow closes roads"] == ("KG",)


def test_an_unknown_country_is_refused_with_the_nearest_names(instance: Instance) -> None:
    add_config(instance.config_path, '[lists.kz]\ntitle = "K"\ncountries = ["Kazakstan"]\n')
    with pytest.raises(ConfigError) as raised:
        load_instance(instance.config_path, cwd=instance.root, environ={})
    assert "Kazakstan" in raised.value.message
    assert "Kazakhstan" in (raised.value.hint or "")


def test_lists_add_stores_codes_and_refuses_unknown_names(cli_office: Path) -> None:
    runner = CliRunner()
    wrong = runner.invoke(cli, ["lists", "add", "kz", "--countries", "Казахтан"])
    assert wrong.exit_code == 1
    assert "Error:" in wrong.output
    assert "Казахстан" in wrong.output  # did you mean
    added = runner.invoke(cli, ["lists", "add", "kz", "--countries", "Қазақстан,Kyrgyzstan"])
    assert added.exit_code == 0, added.output
    shown = json.loads(runner.invoke(cli, ["lists", "show", "--json"]).stdout)
    (kz,) = [entry for entry in shown if entry["name"] == "kz"]
    assert kz["countries"] == ["KZ", "KG"]


def test_reports_show_names_the_detected_places(cli_office: Path) -> None:
    runner = CliRunner()
    (cli_office / "seeds" / "ru.txt").write_text(REPORTS["ru.txt"], encoding="utf-8")
    ingested = runner.invoke(cli, ["--set", "ingest.settle_seconds=0", "ingest"])
    assert ingested.exit_code == 0, ingested.output
    shown = runner.invoke(cli, ["reports", "show", "1"])
    assert "Kazakhstan (KZ)" in shown.output
    assert "Aktobe" in shown.output
    data = json.loads(runner.invoke(cli, ["reports", "show", "1", "--json"]).stdout)
    assert {p["code"] for p in data["places"]} >= {"KZ", "KZ-15"}
    listed = runner.invoke(cli, ["reports", "list"])
    assert "KZ" in listed.output
    assert "KZ-15" not in listed.output  # the list names countries only


def test_an_office_adds_its_own_places_and_reports_are_placed_again(
    instance: Instance
) -> None:
    office = _office(instance, '["KZ"]')
    (office.root / "translations" / "places.csv").write_text(  # a district of its own
        "code,alpha3,parent,en,ru,kk\n"
        "KZ-ZHA,,KZ,Zhem district|Zhem,Жемский район|Жем,Жем ауданы|Жем\n",
        encoding="utf-8")
    add_config(office.config_path, '[lists.zhem]\ntitle = "Zhem"\ncountries = ["Zhem"]\n')
    again = load_instance(office.config_path, cwd=office.root, environ={})
    with again.open_store() as store:  # no new file: the reports are placed again
        assert ingest_inbox(store, again.inbox, again.settings.ingest, now=NOW) == []
        zhem = again.lists_of(store).named("zhem")
        assert zhem.countries == ("KZ-ZHA",)
        assert [r.report.title for r in store.reports.newest()
                if zhem.matches(r.report, r.places)] == ["Floods in Kazakhstan's west"]
