"""A reader's language chain: when the first language's edition is held, the next one that
is ready goes, with a notice saying so; when the first is approved, nothing goes twice."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner

from newsletter.app import Instance
from newsletter.cli.main import cli
from newsletter.translate.packages import install
from tests.helpers import Clock
from tests.office import arrive, subscribe, with_config
from tests.tiny_argos import TinyPackage

SECRET = "chain-test-secret-0123456789abcdef"
LISTS = ('[lists.kz]\ntitle = "Kazakhstan alerts"\nmode = "alerts"\n'
         'languages = ["en", "ru", "kk"]\npolicy = "hold"\nreview = "all"\n')


def _cli(office: Instance, *args: str) -> str:
    result = CliRunner().invoke(cli, ["--config", str(office.config_path), *args],
                                env={"NEWSLETTER_WEB_SECRET": SECRET})
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture
def office(instance: Instance, tiny_models: dict[str, TinyPackage]) -> Instance:
    loaded = with_config(instance, LISTS, {"NEWSLETTER_WEB_SECRET": SECRET})
    install(tiny_models["en_kk"].archive, loaded.settings.packages_dir)
    install(tiny_models["en_ru"].archive, loaded.settings.packages_dir)
    with loaded.open_store() as store:
        subscribe(store, "kz", ["only-kk@example.org"], language="kk")
        subscribe(store, "kz", ["ru@example.org"], language="ru")
        subscribe(store, "kz", ["en@example.org"], language="en")
    _cli(loaded, "subscribers", "add", "chain@example.org", "--list", "kz",
         "--language", "kk, ru, en")
    return loaded


def _rows(office: Instance) -> dict[str, list[tuple[int, str, str | None]]]:
    with office.open_store() as store:
        found: dict[str, list[tuple[int, str, str | None]]] = {}
        for row in store.outbox.rows():
            found.setdefault(row["address"], []).append((row["issue_id"], row["language"],
                                                         None))
        return found


def test_a_held_first_language_sends_the_next_ready_one_and_nothing_twice(
        office: Instance) -> None:
    shown = _cli(office, "subscribers", "show", "chain@example.org", "--json")
    assert '"languages": ["kk", "ru", "en"]' in shown
    clock = Clock(datetime.now(UTC))
    arrive(office, clock)
    _cli(office, "review", "approve", "1", "--lang", "ru", "--by", "Ruslan")
    with office.open_store() as store:
        first = office.service(store, clock=clock).alerts()
    assert first.issues[0].held["kk"]
    rows = _rows(office)
    assert sorted(rows) == ["chain@example.org", "en@example.org", "ru@example.org"]
    assert [language for _, language, _ in rows["chain@example.org"]] == ["ru"]

    # The chain reader's Russian mail says that the Kazakh edition is not ready yet.
    with office.open_store() as store:
        [row] = [r for r in store.outbox.rows() if r["address"] == "chain@example.org"]
        claimed = store.outbox.claim("t", 10, clock.now, 30).rows
        mine = next(r for r in claimed if r.address == "chain@example.org")
        others = [r for r in claimed if r.address == "ru@example.org"]
        assert mine.wanted == "kk"
        source = office.issue_messages(store)
        message = email.message_from_bytes(source.message(mine), policy=email.policy.default)
        plain = email.message_from_bytes(source.message(others[0]),
                                         policy=email.policy.default)
        store.outbox.release("t")
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "казах" in text.lower()  # "… выпуск на языке «казахский» ещё не готов."
    assert "ещё не готов" in text
    assert "ещё не готов" not in plain.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert "ещё не готов" in html

    _cli(office, "review", "approve", "1", "--lang", "kk", "--by", "Aigul")
    with office.open_store() as store:
        released = office.service(store, clock=clock).releases()
    assert len(released.issues) == 1
    rows = _rows(office)
    assert rows["only-kk@example.org"] == [(released.issues[0].issue_id, "kk", None)]
    assert len(rows["chain@example.org"]) == 1  # it had the report in Russian: not again
    assert all(len(got) == 1 for got in rows.values())
