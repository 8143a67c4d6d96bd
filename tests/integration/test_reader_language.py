"""What a Russian or Kazakh reader sees of a list is in their language: its title, and the
source organisations the instance's glossary knows."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from click.testing import CliRunner

from newsletter.app import BUILTIN_TRANSLATIONS, Instance
from newsletter.cli.main import cli
from newsletter.issues.create import create_issue
from newsletter.store import Store
from tests.office import ingest_sample, subscribe, with_config

TITLED = """[lists.ca]
title = "Central Asia weekly digest"
title_ru = "Еженедельный обзор: Центральная Азия"
title_kk = "Апталық шолу: Орталық Азия"
"""


def _digest_bodies(office: Instance, store: Store) -> dict[str, dict[str, str]]:
    for language in ("en", "ru", "kk"):
        subscribe(store, "ca", [f"{language}@example.org"], language=language)
    created = create_issue(store, office.renderer(), office.lists_of(store).named("ca"), [1],
                           "digest", base_url="https://u.example.org", domain="example.org",
                           now=datetime(2026, 3, 3, 9, 0, tzinfo=UTC))
    return {language: json.loads(body)
            for language, body in store.issues.bodies(created.issue_id).items()}


def test_a_digest_carries_the_lists_title_in_each_readers_language(instance: Instance) -> None:
    office = with_config(instance, TITLED, {})
    ingest_sample(office)
    with office.open_store() as store:
        bodies = _digest_bodies(office, store)
    assert bodies["ru"]["subject"].startswith("Еженедельный обзор: Центральная Азия: ")
    assert "Central Asia weekly digest" not in bodies["ru"]["subject"] + bodies["ru"]["html"]
    assert bodies["kk"]["subject"].startswith("Апталық шолу: Орталық Азия: ")
    assert "Апталық шолу: Орталық Азия" in bodies["kk"]["text"]
    assert bodies["en"]["subject"].startswith("Central Asia weekly digest: ")


def test_a_list_without_a_translated_title_keeps_its_own(instance: Instance) -> None:
    office = with_config(instance, '[lists.ca]\ntitle = "Central Asia"\n', {})
    ingest_sample(office)
    with office.open_store() as store:
        bodies = _digest_bodies(office, store)
    assert bodies["ru"]["subject"].startswith("Central Asia: ")


def test_source_organisations_are_named_in_the_readers_language(instance: Instance) -> None:
    office = with_config(instance, TITLED, {})
    ingest_sample(office)  # from UN Office of the High Commissioner for Human Rights
    with office.open_store() as store:
        bodies = _digest_bodies(office, store)
    assert "Управление Верховного комиссара ООН по правам человека" in bodies["ru"]["text"]
    assert "Адам құқықтары жөніндегі жоғарғы комиссарының" in bodies["kk"]["html"]
    assert "UN Office of the High Commissioner for Human Rights" in bodies["en"]["text"]


def test_a_new_instance_gets_its_own_copy_of_the_shipped_glossary(instance: Instance) -> None:
    own = instance.settings.resolve(instance.settings.translate.glossary)
    assert own.read_text(encoding="utf-8") == (BUILTIN_TRANSLATIONS / "glossary.csv").read_text(
        encoding="utf-8")
    assert instance.glossary().name_in("World Food Programme", "kk") == (
        "Дүниежүзілік азық-түлік бағдарламасы")
    own.write_text(own.read_text(encoding="utf-8")
                   + "Kazhydromet,Казгидромет,Қазгидромет,\n", encoding="utf-8")
    assert instance.glossary().name_in("Kazhydromet", "ru") == "Казгидромет"
    assert "Kazhydromet" not in (BUILTIN_TRANSLATIONS / "glossary.csv").read_text(
        encoding="utf-8")


def test_lists_add_keeps_a_title_per_language(cli_office: object) -> None:
    runner = CliRunner()
    added = runner.invoke(cli, ["lists", "add", "kz-floods", "--title", "Kazakhstan floods",
                                "--title-ru", "Паводки в Казахстане",
                                "--title-kk", "Қазақстандағы су тасқыны"])
    assert added.exit_code == 0, added.output
    shown = runner.invoke(cli, ["lists", "show", "--json"])
    (stored,) = [entry for entry in json.loads(shown.output) if entry["name"] == "kz-floods"]
    assert stored["title_ru"] == "Паводки в Казахстане"
    assert stored["title_kk"] == "Қазақстандағы су тасқыны"
