"""Preview: golden .eml per language, and the files `newsletter preview` writes."""

from __future__ import annotations

import email
import email.policy
import json
import re
import shutil
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from newsletter.app import Instance
from newsletter.cli.main import cli
from newsletter.issues.plan import plan_issue
from newsletter.lists.spec import Policy
from newsletter.mail.compose import Recipient, build_template, longest_line
from newsletter.reports.ingest import ingest_inbox
from newsletter.store import Store
from newsletter.summarise.pending import summarise_pending
from newsletter.translate.packages import install
from newsletter.translate.pending import translate_pending
from tests.helpers import FIXED_NOW, REPO, SAMPLE_REPORT, drop, wait_until
from tests.tiny_argos import TinyPackage

GOLDEN = REPO / "tests" / "golden"


def _normalise(raw: bytes) -> str:
    """Volatile parts (Date, MIME boundary) replaced by fixed markers."""
    text = raw.decode("utf-8")
    text = re.sub(r"^Date: [^\r\n]*", "Date: <DATE>", text, flags=re.MULTILINE)
    return re.sub(r"=_nl_[0-9a-f]{32}", "=_nl_<BOUNDARY>", text)


@pytest.fixture
def translated(instance: Instance, store: Store, tiny_models: dict[str, TinyPackage]) -> Store:
    shutil.copy(REPO / "translations" / "glossary.csv", instance.root / "translations")
    for name in ("en_ru", "en_kk"):
        install(tiny_models[name].archive, instance.settings.packages_dir)
    drop(instance.inbox.folder, "sample.txt", SAMPLE_REPORT.read_bytes())
    ingest_inbox(store, instance.inbox, instance.settings.ingest, now=FIXED_NOW)
    summarise_pending(store, instance.settings.summary, now=FIXED_NOW)
    translate_pending(store, instance.engine(), instance.glossary(), instance.settings.translate,
                      now=FIXED_NOW)
    return store


@pytest.mark.parametrize("language", ["en", "ru", "kk"])
def test_golden_alert_eml(instance: Instance, translated: Store, language: str,
                          regenerate_golden: bool) -> None:
    planned = plan_issue(translated, [1], kind="alert", languages=[language],
                         policy=Policy.FALLBACK, list_title="Central Asia alerts",
                         base_url="https://updates.example.org", issue_date=date(2026, 1, 15))
    rendered = instance.renderer().render(planned.mails[language])
    template = build_template(rendered, instance.mail_settings("alerts", "Central Asia alerts"),
                              date=datetime(2026, 1, 15, 9, tzinfo=UTC))
    raw = template.personalise(Recipient(
        "aigul@example.org", "Айгүл", "alert-1.sub-7@example.org",
        "https://updates.example.org/unsubscribe/TOKEN",
        "unsubscribe@example.org?subject=unsubscribe",
        "https://updates.example.org/manage/TOKEN"))
    golden = GOLDEN / f"alert.{language}.eml"
    assert longest_line(raw) <= 998  # what a relay accepts (RFC 5322 2.1.1), in octets
    if regenerate_golden:
        golden.write_bytes(_normalise(raw).encode("utf-8"))
    assert _normalise(raw) == golden.read_bytes().decode("utf-8"), (
        f"{golden.name} differs; if the change is intended, run pytest --regenerate-golden")
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert parsed["Content-Language"] == language


def test_preview_writes_html_text_and_eml_for_every_language(
    cli_office: Path, tiny_models: dict[str, TinyPackage]
) -> None:
    runner = CliRunner()
    drop(cli_office / "seeds", "sample.txt", SAMPLE_REPORT.read_bytes())
    drop(cli_office / "seeds", "flood.txt",
         (REPO / "seeds" / "2013-01-31_kazakhstan-floods-dref.txt").read_bytes())
    runner.invoke(cli, ["ingest"])
    runner.invoke(cli, ["models", "install", str(tiny_models["en_ru"].archive)])
    runner.invoke(cli, ["translate"])
    result = runner.invoke(cli, ["preview", "--report", "1", "--out", "out", "--json"])
    assert result.exit_code == 0, result.output
    files = [json.loads(line) for line in result.stdout.splitlines()]
    assert {(f["lang"], f["kind"]) for f in files} == {
        (lang, kind) for lang in ("en", "ru", "kk")
        for kind in ("html", "text", "eml", "text-eml")}
    for entry in files:
        assert Path(entry["path"]).is_file()
    text_only = email.message_from_bytes((cli_office / "out" / "report-1.ru.text.eml").read_bytes(),
                                         policy=email.policy.default)
    assert (text_only.get_content_type(), text_only.is_multipart()) == ("text/plain", False)
    ru_html = (cli_office / "out" / "report-1.ru.html").read_text(encoding="utf-8")
    assert "Читать полностью" in ru_html
    assert "Машинный перевод" in ru_html
    kk_text = (cli_office / "out" / "report-1.kk.txt").read_text(encoding="utf-8")
    # No en→kk model: the original, with a notice that says so, before the text.
    assert "аудармасы әлі жоқ: ол түпнұсқа тілінде" in " ".join(kk_text.split())
    assert kk_text.index("аудармасы") < kk_text.index("Толық оқу")  # before the text and link
    held = runner.invoke(cli, ["--set", "translate.policy=hold", "preview", "--report", "1",
                               "--lang", "kk", "--out", "held"])
    assert "kk: held back" in held.output
    assert "no en→kk model" in held.output
    config = cli_office / "newsletter.toml"
    config.write_text(config.read_text() + '\n[lists.daily]\ntitle = "Daily"\n')
    digest = runner.invoke(cli, ["preview", "--digest", "daily", "--lang", "en", "--out", "d"])
    assert digest.exit_code == 0, digest.output
    text = (cli_office / "d" / "digest-daily.en.txt").read_text(encoding="utf-8")
    assert "2 reports" in text
    usage = runner.invoke(cli, ["preview"])
    assert usage.exit_code == 2
    mistyped = runner.invoke(cli, ["preview", "--digest", "dayly"])  # no generic digest
    assert mistyped.exit_code == 1
    assert "no list called 'dayly'" in mistyped.output
    assert "did you mean daily?" in mistyped.output


def test_a_digest_preview_follows_the_list(cli_office: Path) -> None:
    config = cli_office / "newsletter.toml"
    config.write_text(config.read_text() + '\n[lists.kyrgyz]\ntitle = "Kyrgyz updates"\n'
                      'countries = ["Kyrgyzstan"]\nlanguages = ["en"]\n')
    drop(cli_office / "seeds", "sample.txt", SAMPLE_REPORT.read_bytes())
    drop(cli_office / "seeds", "winter.txt",
         (REPO / "seeds" / "2022-01-10_winter-situation-report.txt").read_bytes())
    runner = CliRunner()
    runner.invoke(cli, ["ingest"])
    result = runner.invoke(cli, ["preview", "--digest", "kyrgyz", "--out", "out"])
    assert result.exit_code == 0, result.output
    text = (cli_office / "out" / "digest-kyrgyz.en.txt").read_text(encoding="utf-8")
    assert text.startswith("Kyrgyz updates")
    assert "Winter Preparedness" in text
    assert "UN Human Rights Office calls" not in text


def test_a_digest_preview_of_what_came_before_the_list_says_it_will_not_be_sent(
        cli_office: Path) -> None:
    drop(cli_office / "seeds", "winter.txt",
         (REPO / "seeds" / "2022-01-10_winter-situation-report.txt").read_bytes())
    runner = CliRunner()
    assert runner.invoke(cli, ["ingest"]).exit_code == 0  # before the list exists
    arrived = datetime.now(UTC).replace(microsecond=0)
    wait_until(lambda: datetime.now(UTC).replace(microsecond=0) > arrived,
               "the clock to pass the report's arrival (times are stored to the second)")
    config = cli_office / "newsletter.toml"
    config.write_text(config.read_text() + '\n[lists.kyrgyz]\ntitle = "Kyrgyz updates"\n'
                      'title_ru = "Новости Кыргызстана"\ncountries = ["Kyrgyzstan"]\n'
                      'languages = ["en", "ru"]\n')
    assert runner.invoke(cli, ["ingest"]).exit_code == 0  # the list starts now
    result = runner.invoke(cli, ["preview", "--digest", "kyrgyz", "--out", "out"])
    assert result.exit_code == 0, result.output
    assert "Nothing is due for kyrgyz yet" in result.stderr
    assert "Its digests will not carry these" in result.stderr
    assert "newsletter send --list kyrgyz --report ID" in result.stderr

    # An alert previewed as the list's readers get it: its title, its languages only.
    result = runner.invoke(cli, ["preview", "--report", "1", "--list", "kyrgyz", "--out",
                                 "alert"])
    assert result.exit_code == 0, result.output
    files = sorted(path.name for path in (cli_office / "alert").iterdir())
    assert {name.split(".")[2] for name in files} == {"en", "ru"}  # report-1.kyrgyz.LANG.*
    russian = (cli_office / "alert" / "report-1.kyrgyz.ru.txt").read_text(encoding="utf-8")
    assert russian.startswith("Новости Кыргызстана")
    eml = (cli_office / "alert" / "report-1.kyrgyz.en.eml").read_bytes()
    assert b"List-Id: Kyrgyz updates <kyrgyz." in eml
