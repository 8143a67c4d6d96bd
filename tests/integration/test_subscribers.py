"""Subscribers in a real SQLite file: import, export, suppression, lists, and the CLI."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from newsletter.app import load_instance
from newsletter.cli.main import cli
from newsletter.errors import ConfigError
from newsletter.store import Store
from newsletter.subscribers.addresses import check_subscriber
from tests.helpers import FIXED_NOW
from tests.office import (
    add_config,
)

CSV = (
    "email,name,language,format,department\n"
    "aigul@example.kz,Айгүл,kk,html,WASH\n"
    "Boris@Example.org,Борис,ru,text,Health\n"
    "chen@example.org,=HYPERLINK(\"http://evil\"),en,html,Logistics\n"
    "broken-address,Nobody,en,html,\n"
)


@pytest.fixture
def office(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "office"
    CliRunner().invoke(cli, ["init", str(folder)])
    add_config(folder / "newsletter.toml", '[lists.daily]\ntitle = "Central Asia daily"\n'
               'countries = ["Kazakhstan"]\n')
    monkeypatch.chdir(folder)
    (folder / "subscribers.csv").write_text(CSV, encoding="utf-8")
    return folder


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_import_reports_bad_rows_and_unknown_columns_and_is_idempotent(office: Path) -> None:
    code, out, err = invoke("subscribers", "import", "subscribers.csv", "--list", "daily")
    assert code == 1  # a row was refused: the others are in, and the exit status says so
    assert "3 added, 0 updated, 0 unchanged; 3 newly subscribed to daily" in out
    assert "line 5: 'broken-address' must contain exactly one @" in err
    assert "Ignored unknown columns: department" in err
    assert "Error: 1 row(s) were refused (the others were imported)" in err
    assert "--allow-errors" in err
    code, out, _ = invoke("subscribers", "import", "subscribers.csv", "--list", "daily", "--json",
                          "--allow-errors")
    assert code == 0
    figures = json.loads(out)
    assert (figures["added"], figures["updated"], figures["unchanged"], figures["subscribed"]) == (
        0, 0, 3, 0)
    listed = [json.loads(line) for line in invoke("subscribers", "list", "--json")[1].splitlines()]
    assert [s["email"] for s in listed] == ["aigul@example.kz", "boris@example.org",
                                            "chen@example.org"]
    assert listed[0]["name"] == "Айгүл"
    assert listed[0]["language"] == "kk"


def test_export_round_trips_and_is_safe_in_a_spreadsheet(office: Path) -> None:
    invoke("subscribers", "import", "subscribers.csv", "--list", "daily")
    code, out, _ = invoke("subscribers", "export", "--list", "daily")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["email"] for r in rows] == ["aigul@example.kz", "boris@example.org",
                                          "chen@example.org"]
    assert rows[2]["name"] == "'=HYPERLINK(\"http://evil\")"
    assert all(r["list_status"] == "active" for r in rows)
    # the export imports back to the same state
    Path("again.csv").write_text(out, encoding="utf-8")
    code, out, err = invoke("subscribers", "import", "again.csv", "--list", "daily")
    assert "0 added" in out
    assert ("Ignored unknown columns: status, list_status, frequency, consent_source, "
            "consent_at") in err
    # for Excel: a UTF-8 byte order mark first, and the file still imports back
    assert invoke("subscribers", "export", "--list", "daily", "--bom", "--out", "excel.csv",
                  )[0] == 0
    data = Path("excel.csv").read_bytes()
    assert data.startswith(b"\xef\xbb\xbfemail,")
    assert "0 added" in invoke("subscribers", "import", "excel.csv", "--list", "daily")[1]
    # for Excel in a Russian locale, where the comma is the decimal mark: semicolons
    assert invoke("subscribers", "export", "--list", "daily", "--bom", "--delimiter", ";",
                  "--out", "excel-ru.csv")[0] == 0
    data = Path("excel-ru.csv").read_bytes()
    assert data.startswith(b"\xef\xbb\xbfemail;name;language;")
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig")), delimiter=";"))
    assert rows[0]["name"] == "Айгүл"
    assert "0 added" in invoke("subscribers", "import", "excel-ru.csv", "--list", "daily")[1]


def test_an_unsubscribed_or_suppressed_address_is_never_sent_to(store: Store) -> None:
    rows = [check_subscriber(f"reader{i}@example.org") for i in range(5)]
    store.subscribers.import_rows(rows, "daily", consent_source="test", now=FIXED_NOW)
    ids = [store.subscribers.get(r.email).id for r in rows]
    store.subscribers.unsubscribe(ids[0], "daily", "web", FIXED_NOW)
    store.subscribers.set_status(ids[1], "suppressed", "command line", FIXED_NOW)
    store.subscribers.set_status(ids[2], "bounced", "smtp 550", FIXED_NOW)
    store.subscribers.import_rows([check_subscriber("pending@example.org")], "daily",
                             consent_source="invite", now=FIXED_NOW, status="pending")
    assert [s.email for s in store.subscribers.recipients("daily")] == ["reader3@example.org",
                                                            "reader4@example.org"]
    # importing them again resubscribes nobody
    counts = store.subscribers.import_rows(rows, "daily", consent_source="again", now=FIXED_NOW)
    assert sorted(counts.not_resubscribed) == ["reader1@example.org", "reader2@example.org"]
    assert [s.email for s in store.subscribers.recipients("daily")] == ["reader3@example.org",
                                                            "reader4@example.org"]
    assert list(store.subscribers.recipients("weekly")) == []


def test_cli_add_show_remove_and_errors(office: Path) -> None:
    code, out, _ = invoke("subscribers", "add", "Dana@Example.org", "--name", "Dana",
                          "--language", "ru", "--list", "daily")
    assert (code, out.strip()) == (0, "Added dana@example.org (subscribed to daily)")
    shown = json.loads(invoke("subscribers", "show", "dana@example.org", "--json")[1])
    assert shown["lists"] == {"daily": "active"}
    text = invoke("subscribers", "show", "dana@example.org")[1]
    assert "daily (active)" in text
    assert "{" not in text  # for people, not a Python dict
    assert shown["consent_source"] == "command line"
    assert invoke("subscribers", "remove", "dana@example.org", "--list", "daily")[0] == 0
    assert json.loads(invoke("subscribers", "show", "dana@example.org", "--json")[1])[
        "lists"] == {"daily": "unsubscribed"}
    invoke("subscribers", "remove", "dana@example.org", "--suppress")
    code, _, err = invoke("subscribers", "add", "dana@example.org", "--list", "daily")
    assert code == 1
    assert "not resubscribed" in err
    code, _, err = invoke("subscribers", "add", "not an address")
    assert code == 1
    assert "Error:" in err
    code, _, err = invoke("subscribers", "import", "subscribers.csv", "--list", "nope")
    assert code == 1
    assert "no list called 'nope'" in err
    assert "Hint:" in err


def test_lists_from_the_file_and_from_the_command_line(office: Path) -> None:
    assert invoke("lists", "add", "weekly-kk", "--mode", "weekly", "--languages", "kk",
                  "--timezone", "Asia/Almaty")[0] == 0
    lists = json.loads(invoke("lists", "show", "--json")[1])
    by_name = {entry["name"]: entry for entry in lists}
    assert by_name["daily"]["origin"] == "config"
    assert by_name["daily"]["countries"] == ["KZ"]  # the file says "Kazakhstan"
    assert (by_name["weekly-kk"]["origin"], by_name["weekly-kk"]["schedule"]) == (
        "database", "0 9 * * mon")
    code, _, err = invoke("lists", "add", "bad", "--schedule", "tomorrow")
    assert code == 1
    assert "cron" in err
    assert invoke("lists", "remove", "weekly-kk")[0] == 0
    code, _, err = invoke("lists", "remove", "daily")
    assert code == 1
    assert "editing the file" in err


def test_a_malformed_list_in_the_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "newsletter.toml").write_text('[lists.daily]\nmode = "hourly"\n')
    with pytest.raises(ConfigError, match=r"\[lists.daily\] mode must be alerts, daily or weekly"):
        load_instance(tmp_path, cwd=tmp_path, environ={})


def test_unreadable_inputs_and_outputs_are_clear_errors(office: Path) -> None:
    Path("latin1.csv").write_bytes("email,name\nm@example.org,Müller\n".encode("latin-1"))
    code, _, err = invoke("subscribers", "import", "latin1.csv", "--list", "daily")
    assert code == 1
    assert "is not UTF-8 text" in err
    assert "CSV UTF-8" in err
    code, _, err = invoke("subscribers", "export", "--list", "daily", "--out",
                          "no/such/folder/out.csv")
    assert code == 1
    assert "No such file or directory" in err
    assert "Hint:" in err


def run(*args: str) -> tuple[int, str, str]:
    """:func:`invoke`, checking that the command ended on its own: no uncaught exception."""
    result = CliRunner().invoke(cli, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


def shown(email: str) -> dict[str, Any]:
    code, out, err = run("subscribers", "show", email, "--json")
    assert code == 0, err
    data: dict[str, Any] = json.loads(out)
    return data


def fields(email: str) -> tuple[str | None, str, str]:
    data = shown(email)
    return data["name"], data["language"], data["format"]


def test_adding_to_another_list_keeps_name_language_and_format(office: Path) -> None:
    assert run("lists", "add", "other")[0] == 0
    code, _, err = run("subscribers", "add", "dana@example.org", "--name", "Dana", "--language",
                       "ru", "--format", "text", "--list", "daily")
    assert code == 0, err
    code, out, _ = run("subscribers", "add", "Dana@Example.org", "--list", "other")
    assert (code, out.strip()) == (0, "Unchanged: dana@example.org (subscribed to other)")
    assert fields("dana@example.org") == ("Dana", "ru", "text")
    assert shown("dana@example.org")["lists"] == {"daily": "active", "other": "active"}
    code, out, _ = run("subscribers", "add", "dana@example.org", "--language", "kk")
    assert (code, out.strip()) == (0, "Updated dana@example.org: language ru → kk")
    code, out, _ = run("subscribers", "add", "dana@example.org", "--name", "Dana K", "--format",
                       "html")
    assert out.strip() == "Updated dana@example.org: name 'Dana' → 'Dana K', format text → html"
    assert fields("dana@example.org") == ("Dana K", "kk", "html")
    code, out, _ = run("subscribers", "add", "new@example.org")  # a new subscriber: defaults
    assert (code, out.strip()) == (0, "Added new@example.org")
    assert fields("new@example.org") == (None, "en", "html")


def test_importing_a_csv_changes_only_the_columns_it_gives(office: Path) -> None:
    run("subscribers", "add", "dana@example.org", "--name", "Dana", "--language", "ru",
        "--format", "text")
    Path("emails.csv").write_text("email\nDana@Example.org\nnew@example.org\n", encoding="utf-8")
    code, out, err = run("subscribers", "import", "emails.csv", "--list", "daily")
    assert code == 0, err
    assert "1 added, 0 updated, 1 unchanged; 2 newly subscribed to daily" in out
    assert fields("dana@example.org") == ("Dana", "ru", "text")
    assert fields("new@example.org") == (None, "en", "html")
    # an empty cell in a column that is there gives nothing either
    Path("language.csv").write_text("email,name,language,format\ndana@example.org,,kk,\n",
                                    encoding="utf-8")
    code, out, _ = run("subscribers", "import", "language.csv", "--list", "daily")
    assert "0 added, 1 updated, 0 unchanged" in out
    assert fields("dana@example.org") == ("Dana", "kk", "text")


def test_the_store_keeps_fields_a_row_does_not_give(store: Store) -> None:
    store.subscribers.import_rows([check_subscriber("a@example.org", "Ann", "kk", "text")], "daily",
                             consent_source="test", now=FIXED_NOW)
    counts = store.subscribers.import_rows([check_subscriber("a@example.org")], "weekly",
                                      consent_source="test", now=FIXED_NOW)
    assert (counts.added, counts.updated, counts.unchanged, counts.subscribed) == (0, 0, 1, 1)
    kept = store.subscribers.get("a@example.org")
    assert (kept.name, kept.language, kept.format) == ("Ann", "kk", "text")
    counts = store.subscribers.import_rows([check_subscriber("a@example.org", fmt="html")], None,
                                      consent_source="test", now=FIXED_NOW)
    assert counts.updated == 1
    changed = store.subscribers.get("a@example.org")
    assert (changed.name, changed.language, changed.format) == ("Ann", "kk", "html")


def test_a_huge_cell_is_reported_by_line_and_the_good_rows_import(office: Path) -> None:
    Path("huge.csv").write_text("email,name\n"
                                "a@example.org,Ann\n"
                                f"b@example.org,{'x' * 200_000}\n"
                                "c@example.org,Cem\n", encoding="utf-8")
    code, out, err = run("subscribers", "import", "huge.csv", "--list", "daily")
    assert code == 1
    assert "2 added, 0 updated, 0 unchanged; 2 newly subscribed to daily" in out
    assert "line 3: a cell is longer than 131,072 characters" in err
    assert "Traceback" not in err
    figures = json.loads(run("subscribers", "import", "huge.csv", "--list", "daily", "--json")[1])
    assert [p["line"] for p in figures["problems"]] == [3]


def test_an_unterminated_quote_is_reported_and_the_rows_after_it_import(office: Path) -> None:
    Path("quote.csv").write_text("email,name,language\n"
                                 'b@example.org,"Bob,en\n'
                                 "c@example.org,Cem,ru\n"
                                 'd@example.org,"Dan",kk\n'
                                 "e@example.org,Eve,en\n", encoding="utf-8")
    code, out, err = run("subscribers", "import", "quote.csv", "--list", "daily")
    assert code == 1
    assert "3 added, 0 updated, 0 unchanged; 3 newly subscribed to daily" in out
    assert "line 2: unterminated quote: a quoted cell must end on the line it starts on" in err
    listed = [json.loads(line) for line in run("subscribers", "list", "--json")[1].splitlines()]
    assert [(s["email"], s["name"]) for s in listed] == [
        ("c@example.org", "Cem"), ("d@example.org", "Dan"), ("e@example.org", "Eve")]


def test_a_2000_character_name_is_refused_with_a_reason(office: Path) -> None:
    code, _, err = run("subscribers", "add", "long@example.org", "--name", "N" * 2_000)
    assert code == 1
    assert "Error: the name is 2,000 characters long; at most 200 are allowed" in err
    assert run("subscribers", "show", "long@example.org")[0] == 1  # nothing was stored
    Path("long.csv").write_text(f"email,name\nlong@example.org,{'N' * 2_000}\nok@example.org,Ok\n",
                                encoding="utf-8")
    code, out, err = run("subscribers", "import", "long.csv", "--list", "daily")
    assert code == 1
    assert "1 added" in out
    assert "line 2: the name is 2,000 characters long; at most 200 are allowed" in err


@pytest.mark.parametrize("schedule", ["0 25 * * *", "0 9 31 2 *"])
def test_an_impossible_schedule_is_refused_where_it_is_given(office: Path,
                                                             schedule: str) -> None:
    code, _, err = invoke("lists", "add", "odd", "--schedule", schedule)
    assert code == 1
    assert "Error:" in err
    assert "Hint:" in err
    code, out, _ = invoke("lists", "show")
    assert code == 0  # nothing was saved, nothing crashes
    assert "odd" not in out
    config = office / "newsletter.toml"
    config.write_text(config.read_text() + f'\n[lists.odd]\ntitle = "Odd"\nschedule = "{schedule}"\n')
    for command in (("status",), ("run", "--once")):
        code, _, err = invoke(*command)
        assert code == 1, command
        assert "schedule" in err
        assert "Traceback" not in err


def test_a_semicolon_csv_from_russian_excel_imports_and_kz_is_taken_for_kk(office: Path) -> None:
    Path("excel.csv").write_bytes("\ufeffemail;name;language\r\n"
                                  "aigul@example.kz;Айгүл;kk\r\n"
                                  "boris@example.org;Борис Петров;ru\r\n"
                                  "dana@example.org;Dana;kz\r\n".encode("utf-8"))
    code, out, err = run("subscribers", "import", "excel.csv", "--list", "daily")
    assert code == 1  # one row refused, with what was meant
    assert "2 added" in out
    assert "line 4: language 'kz' is not one of en, ru, kk (did you mean kk?)" in err
    assert fields("boris@example.org") == ("Борис Петров", "ru", "html")
