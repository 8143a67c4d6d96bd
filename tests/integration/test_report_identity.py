"""Which files are one report: an update never swallows a different report, and an operator
sees the revisions and splits a wrong merge, on a real SQLite file."""

from __future__ import annotations

import json
import sqlite3
from datetime import timedelta
from pathlib import Path

from click.testing import CliRunner, Result

from newsletter.app import Instance, load_instance
from newsletter.cli.main import cli
from newsletter.config_sections import IngestSettings
from newsletter.reports.identity import content_hash
from newsletter.reports.ingest import ingest_inbox
from newsletter.reports.model import IngestStatus
from newsletter.reports.parse import parse_report
from newsletter.reports.split import split_revision
from newsletter.store import MIGRATIONS, Store, open_store
from newsletter.store.database import stamp
from tests.helpers import FIXED_NOW, drop

# Three unrelated pages whose titles came out the same, with no source and no date: the old
# identity (title, source, date) stored them as revisions 1-3 of one report.
FLOODS_2009 = ("Floods\n\nHeavy rains on 12 June 2009 caused floods and mudflows in Khatlon "
               "province, damaging 300 houses and a school.\n\nThe Committee of Emergency "
               "Situations evacuated 1,200 people to tents near Kulob.\n")
COLD_WAVE = ("Floods\n\nA cold wave brought temperatures of -25°C to the Rasht valley in January,"
             " and snow cut off 40 villages.\n\nFamilies need coal, stoves and warm clothing; "
             "8,000 people are affected.\n")
KAZAKH_FLOODS = ("Floods\n\nSpring floods in the Aktobe and Akmola regions of Kazakhstan forced "
                 "96,000 people from their homes in April 2024.\n\nDams broke on the Ilek river "
                 "and 4,000 houses were flooded.\n")
SITREP = ("Kyrgyzstan: Mudflows Situation Report No. {n}\n\nMudflows in the Jalal-Abad region "
          "damaged 140 houses and three bridges over the Kara-Darya river.\n\nThe Ministry of "
          "Emergency Situations evacuated 900 people to schools in Suzak district.\n\n{news}\n")


def run(store: Store, instance: Instance) -> dict[str, tuple[IngestStatus, int | None]]:
    outcomes = ingest_inbox(store, instance.inbox, IngestSettings(), now=FIXED_NOW)
    return {Path(o.path).name: (o.status, o.report_id) for o in outcomes}


def test_different_reports_with_the_same_title_stay_different(
        instance: Instance, store: Store) -> None:
    inbox = instance.inbox.folder
    drop(inbox, "page-1.txt", FLOODS_2009)
    drop(inbox, "page-2.txt", COLD_WAVE)
    drop(inbox, "page-3.txt", KAZAKH_FLOODS)
    outcomes = run(store, instance)
    assert {status for status, _ in outcomes.values()} == {IngestStatus.INGESTED}
    assert len({rid for _, rid in outcomes.values()}) == 3
    assert "Rasht" in store.reports.get(outcomes["page-2.txt"][1] or 0).report.body


def test_successive_situation_reports_are_new_reports_and_a_corrected_one_an_update(
        instance: Instance, store: Store) -> None:
    inbox = instance.inbox.folder
    drop(inbox, "sitrep-5.txt", SITREP.format(n=5, news="Roads to Suzak are closed."))
    [(_, fifth)] = run(store, instance).values()
    drop(inbox, "sitrep-6.txt", SITREP.format(n=6, news="Roads to Suzak are open again."))
    [(status, sixth)] = run(store, instance).values()
    assert status is IngestStatus.INGESTED
    assert sixth != fifth
    # the sixth report sent again with a figure corrected: an update of it
    drop(inbox, "sitrep-6-corrected.txt",
         SITREP.format(n=6, news="Roads to Suzak are open again.").replace("900", "950"))
    [(status, corrected)] = run(store, instance).values()
    assert (status, corrected) == (IngestStatus.UPDATED, sixth)


def test_the_same_file_saved_again_with_another_report_in_it_is_a_new_report(
        instance: Instance, store: Store) -> None:
    """An office that pastes each new page into the same new.txt."""
    inbox = instance.inbox.folder
    drop(inbox, "new.txt", FLOODS_2009)
    [(_, first)] = run(store, instance).values()
    drop(inbox, "new.txt", COLD_WAVE.replace("Floods", "Cold wave"),
         modified=FIXED_NOW - timedelta(minutes=30))
    [(status, second)] = run(store, instance).values()
    assert status is IngestStatus.INGESTED
    assert second != first


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def _merged_the_old_way(store: Store) -> int:
    """Two different reports stored as revisions 1 and 2 of one, as the old identity did,
    with an alert to list "early" before the second arrived and to "late" after."""
    floods = parse_report(FLOODS_2009)
    cold = parse_report(COLD_WAVE)
    rid = store.reports.add(floods, content_hash="h1", identity_key="k", path="page-1.txt",
                            encoding="utf-8", now=FIXED_NOW - timedelta(days=2))
    store.issues.create("early", "alert", [rid], {}, FIXED_NOW - timedelta(days=1, hours=12),
                        recipients=lambda _: [])
    store.reports.update(rid, cold, content_hash="h2", identity_key="k", path="page-2.txt",
                         encoding="utf-8", now=FIXED_NOW - timedelta(days=1))
    store.issues.create("late", "alert", [rid], {}, FIXED_NOW - timedelta(hours=12),
                        recipients=lambda _: [])
    return rid


def test_an_operator_sees_the_revisions_and_splits_a_wrong_merge(cli_office: Path) -> None:
    instance = load_instance(None, cwd=cli_office, environ={})
    with instance.open_store() as store:
        rid = _merged_the_old_way(store)
        before = store.db.scalar("SELECT count(*) FROM report_revisions")
    shown = json.loads(invoke("reports", "show", str(rid), "--json").stdout)
    assert [(r["revision"], r["split_into"]) for r in shown["revisions"]] == [(1, None),
                                                                             (2, None)]
    assert shown["revisions"][1]["body_changed"] == 1.0  # nothing of the first is left
    text = invoke("reports", "show", str(rid)).output
    assert "100% of the body changed" in text
    assert "reports split" in text

    split = invoke("reports", "split", str(rid), "--revision", "2", "--json")
    assert split.exit_code == 0, split.output
    new = json.loads(split.stdout)["new_report_id"]
    with instance.open_store() as store:
        assert "Rasht" in store.reports.get(new).report.body
        back = store.reports.get(rid)
        assert (back.revision, back.report.body) == (1, parse_report(FLOODS_2009).body)
        # nothing deleted: every revision row is still there, one moved to the new report
        assert store.db.scalar("SELECT count(*) FROM report_revisions") == before
        # "late" got the report while it showed the cold wave: the new report is not new to
        # it; "early" only ever saw the floods: the cold wave is new to it
        assert store.issues.sent_in("late", new) is not None
        assert store.issues.sent_in("early", new) is None
        unsent = store.issues.unsent_reports("early", FIXED_NOW - timedelta(days=30))
        assert new in [r.id for r in unsent]
        assert store.summaries.of(new)  # summarised at once
    after = json.loads(invoke("reports", "show", str(rid), "--json").stdout)
    assert [(r["revision"], r["split_into"]) for r in after["revisions"]] == [(1, None),
                                                                             (2, new)]
    again = invoke("reports", "split", str(rid), "--revision", "1")
    assert again.exit_code == 1
    assert "only one revision" in again.output
    assert "Hint:" in again.output


def test_an_older_database_keeps_what_it_can_and_reads_old_revisions_again(
        tmp_path: Path, instance: Instance) -> None:
    """A database from before revisions kept their text: the current revision's text is
    copied at upgrade, an older one is read again from its file when it is split."""
    path = tmp_path / "old.db"
    open_store(path, migrations=MIGRATIONS[:14]).close()
    floods, cold = parse_report(FLOODS_2009), parse_report(COLD_WAVE)
    drop(instance.inbox.folder, "page-1.txt", FLOODS_2009)
    with sqlite3.connect(path) as db:
        db.execute(
            """INSERT INTO reports (id, identity_key, content_hash, revision, title, language,
                 body, path, encoding, ingested_at, updated_at)
               VALUES (1, 'old', ?, 2, ?, 'en', ?, 'page-2.txt', 'utf-8', ?, ?)""",
            (content_hash(cold), cold.title, cold.body, stamp(FIXED_NOW), stamp(FIXED_NOW)))
        db.executemany(
            """INSERT INTO report_revisions (report_id, revision, content_hash, path, ingested_at)
               VALUES (1, ?, ?, ?, ?)""",
            [(1, content_hash(floods), "page-1.txt", stamp(FIXED_NOW - timedelta(days=1))),
             (2, content_hash(cold), "page-2.txt", stamp(FIXED_NOW))])
    with open_store(path) as store:
        kept = store.reports.history(1)
        assert [r.report is not None for r in kept] == [False, True]
        assert store.reports.refresh_title_keys(lambda title: "fresh") == 1
        new = split_revision(store, instance.inbox, 1, 1, now=FIXED_NOW)
        assert store.reports.get(new).report.body == floods.body
        assert store.reports.get(1).report.body == cold.body
