"""Summaries are computed on ingest, stored with the report, shown, and kept current."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from click.testing import CliRunner

from newsletter.app import Instance
from newsletter.cli.main import cli
from newsletter.config_sections import SummarySettings
from newsletter.reports.ingest import ingest_inbox
from newsletter.store import Store
from newsletter.summarise.pending import summarise_pending
from tests.helpers import FIXED_NOW, SAMPLE_REPORT, drop


def _ingest(store: Store, instance: Instance) -> None:
    ingest_inbox(store, instance.inbox, instance.settings.ingest, now=FIXED_NOW)


def test_pending_reports_are_summarised_once(instance: Instance, store: Store) -> None:
    drop(instance.inbox.folder, "sample.txt", SAMPLE_REPORT.read_bytes())
    _ingest(store, instance)
    [done] = summarise_pending(store, SummarySettings(), now=FIXED_NOW)
    assert "550 individuals were charged" in " ".join(done.sentences)
    assert store.summaries.of(done.report_id) == done.sentences
    assert summarise_pending(store, SummarySettings(), now=FIXED_NOW) == []


def test_a_new_revision_or_a_new_length_is_summarised_again(
    instance: Instance, store: Store
) -> None:
    path = drop(instance.inbox.folder, "sample.txt", SAMPLE_REPORT.read_bytes())
    _ingest(store, instance)
    summarise_pending(store, SummarySettings(), now=FIXED_NOW)
    assert len(summarise_pending(store, SummarySettings(sentences=1), now=FIXED_NOW)) == 1
    assert summarise_pending(store, SummarySettings(sentences=1), now=FIXED_NOW) == []
    text = path.read_text(encoding="utf-8").replace("550 individuals", "600 individuals")
    drop(instance.inbox.folder, "sample.txt", text, modified=FIXED_NOW.replace(hour=8, minute=30))
    _ingest(store, instance)
    [again] = summarise_pending(store, SummarySettings(), now=FIXED_NOW)
    assert "600 individuals were charged" in " ".join(again.sentences)


def test_reports_show_json_includes_the_summary(cli_office: Path) -> None:
    runner = CliRunner()
    drop(cli_office / "seeds", "sample.txt", SAMPLE_REPORT.read_bytes())
    assert runner.invoke(cli, ["ingest"]).exit_code == 0
    shown = json.loads(runner.invoke(cli, ["reports", "show", "1", "--json"]).stdout)
    assert "at least 1000 arrests" in shown["summary"]
    assert shown["summary"] == " ".join(shown["summary_sentences"])
    text = runner.invoke(cli, ["reports", "show", "1"]).stdout
    assert "Summary\n  - " in text
    resummarised = runner.invoke(cli, ["--set", "summary.sentences=1", "summarise", "--json"])
    [line] = resummarised.stdout.splitlines()
    assert len(json.loads(line)["summary_sentences"]) == 1


def test_settings_reach_the_summariser(instance: Instance, store: Store) -> None:
    drop(instance.inbox.folder, "sample.txt", SAMPLE_REPORT.read_bytes())
    _ingest(store, instance)
    settings = replace(instance.settings.summary, sentences=2, words=30)
    [done] = summarise_pending(store, settings, now=FIXED_NOW)
    assert len(done.sentences) <= 2
    assert len(" ".join(done.sentences).split()) <= 31
