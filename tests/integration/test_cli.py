"""The command line: output for people and scripts, exit codes and error messages."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from newsletter.cli.main import cli
from tests.helpers import REPO, SAMPLE_REPORT, drop


@pytest.fixture
def office(cli_office: Path) -> Path:
    """An instance made with `newsletter init`, as the current folder, with two reports waiting."""
    drop(cli_office / "seeds", "sample.txt", SAMPLE_REPORT.read_bytes())
    drop(cli_office / "seeds", "empty.txt", b"")
    return cli_office


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def test_init_writes_a_config_and_an_inbox_and_refuses_to_overwrite(office: Path) -> None:
    assert (office / "newsletter.toml").read_text().startswith("# newsletter instance")
    assert (office / "seeds").is_dir()
    again = invoke("init", str(office))
    assert again.exit_code == 1
    assert "already exists" in again.output
    assert "Hint:" in again.output


def test_ingest_json_prints_one_object_per_file(office: Path) -> None:
    result = invoke("ingest", "--json")
    assert result.exit_code == 0, result.output
    objects = [json.loads(line) for line in result.stdout.splitlines()]
    by_name = {Path(o["path"]).name: o for o in objects}
    assert by_name["sample.txt"]["status"] == "ingested"
    assert by_name["sample.txt"]["report_id"] == 1
    assert by_name["empty.txt"]["status"] == "quarantined"
    assert by_name["empty.txt"]["reason"] == "empty"
    assert by_name["empty.txt"]["report_id"] is None
    assert set(objects[0]) >= {"path", "status", "report_id", "reason"}


def test_ingest_for_people_names_each_file_and_where_quarantine_is(office: Path) -> None:
    result = invoke("ingest")
    assert result.exit_code == 0
    assert "ingested" in result.output
    assert "seeds/sample.txt" in result.output
    assert "1 ingested, 1 quarantined" in result.output
    assert "var/quarantine" in result.output
    assert "No new reports" in invoke("ingest").output


def test_reports_list_and_show(office: Path) -> None:
    invoke("ingest")
    listed = json.loads(invoke("reports", "list", "--json").stdout)
    assert [r["id"] for r in listed] == [1]
    shown = json.loads(invoke("reports", "show", "1", "--json").stdout)
    assert shown["title"].startswith("UN Human Rights Office calls on Kazakhstan")
    assert shown["source"] == "UN Office of the High Commissioner for Human Rights"
    assert shown["kind"] == "Report"
    assert shown["published"] == "2019-06-12"
    assert shown["language"] == "en"
    assert "ReliefWeb" not in shown["body"]
    table = invoke("reports", "list").output
    assert table.splitlines()[0].split() == ["ID", "PUBLISHED", "LANG", "KIND", "SOURCE",
                                             "COUNTRIES", "TITLE"]
    assert "2019-06-12" in table
    text = invoke("reports", "show", "1").output
    assert "BISHKEK (12 June 2019)" in text


def test_status_shows_stored_waiting_and_quarantined(office: Path) -> None:
    before = json.loads(invoke("status", "--json").stdout)
    assert (before["reports"], before["inbox_waiting"], before["quarantined"]) == (0, 2, 0)
    invoke("ingest")
    after = json.loads(invoke("status", "--json").stdout)
    assert (after["reports"], after["inbox_waiting"], after["quarantined"]) == (1, 0, 1)
    assert after["reports_by_language"] == {"en": 1}
    assert "Reports      1 (en 1)" in invoke("status").output


def test_unknown_report_is_an_error_with_a_hint(office: Path) -> None:
    result = invoke("reports", "show", "42")
    assert result.exit_code == 1
    assert "Error: no report with ID 42" in result.output
    assert "Hint: `newsletter reports list`" in result.output


def test_no_instance_is_an_error_that_says_what_to_do(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = invoke("status")
    assert result.exit_code == 1
    assert "Error: no newsletter.toml" in result.output
    assert "newsletter init DIR" in result.output


def test_settings_from_environment_and_flags(office: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSLETTER_INGEST_MAX_BYTES", "100")
    rows = json.loads(invoke("config", "--json").stdout)["settings"]
    by_name = {row["setting"]: row for row in rows}
    assert (by_name["ingest.max_bytes"]["value"], by_name["ingest.max_bytes"]["source"]) == (
        100, "env")
    flagged = json.loads(invoke("--set", "ingest.max_bytes=5000", "config", "--json").stdout)
    assert {r["setting"]: r["value"] for r in flagged["settings"]}["ingest.max_bytes"] == 5000
    result = invoke("ingest", "--json")  # 100 bytes: the sample report is too large
    objects = [json.loads(line) for line in result.stdout.splitlines()]
    reasons = {Path(o["path"]).name: o["reason"] for o in objects}
    assert reasons["sample.txt"] == "too_large"


def test_bad_setting_and_bad_flag_exit_codes(office: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSLETTER_LOG_LEVEL", "chatty")
    result = invoke("status")
    assert result.exit_code == 1
    assert "Error: log.level from NEWSLETTER_LOG_LEVEL" in result.output
    monkeypatch.delenv("NEWSLETTER_LOG_LEVEL")
    bad_flag = invoke("--set", "nonsense", "status")
    assert bad_flag.exit_code == 2
    assert "SECTION.KEY=VALUE" in bad_flag.output
    assert invoke("reports", "show", "not-a-number").exit_code == 2


def test_console_script_runs_against_the_repository_instance(tmp_path: Path) -> None:
    """The installed entry point, in a real process, with the database put aside."""
    env = {**os.environ, "NEWSLETTER_PATHS_DATABASE": str(tmp_path / "n.db"),
           "NEWSLETTER_PATHS_QUARANTINE": str(tmp_path / "q")}
    done = subprocess.run(
        [sys.executable, "-m", "newsletter", "--config", str(REPO), "status", "--json"],
        capture_output=True, text=True, env=env, check=False, timeout=60,
    )
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout)
    assert figures["reports"] == 0
    assert figures["inbox_waiting"] == len(list((REPO / "seeds").glob("*.txt")))


def test_config_json_keeps_cyrillic_readable(office: Path) -> None:
    result = invoke("--set", "mail.from_name=Гуманитарные новости", "config", "--json")
    assert result.exit_code == 0, result.output
    assert '"Гуманитарные новости"' in result.stdout  # not \u0413\u0443…
    settings = {row["setting"]: row for row in json.loads(result.stdout)["settings"]}
    assert settings["mail.from_name"]["source"] == "flag"
