"""Ingesting an inbox into a real SQLite file: new, duplicate, updated and quarantined files."""

from __future__ import annotations

import errno
import os
from datetime import timedelta
from pathlib import Path

import pytest

from newsletter.app import Instance
from newsletter.config_sections import IngestSettings
from newsletter.reports.ingest import ingest_inbox
from newsletter.reports.model import IngestOutcome, IngestStatus
from newsletter.store import Store
from tests.helpers import FIXED_NOW, SAMPLE_REPORT, drop

FLOOD = """\
 date 2013-02-04 4 Feb 2013

Kazakhstan: Floods in Almaty region

News and Press Release
from Red Crescent Society of Kazakhstan
Published on 31 Jan 2013

ASTANA, 31 January 2013 – The Red Crescent Society of Kazakhstan has released relief to
1,250 families affected by floods.

About 340 houses were damaged.
"""

OPTIONS = IngestSettings()


def run(store: Store, instance: Instance, **changes: object) -> list[IngestOutcome]:
    options = IngestSettings(**{**vars(OPTIONS), **changes})  # type: ignore[arg-type]
    return ingest_inbox(store, instance.inbox, options, now=FIXED_NOW)


def statuses(outcomes: list[IngestOutcome]) -> dict[str, IngestStatus]:
    return {Path(o.path).name: o.status for o in outcomes}


def test_new_reports_are_ingested_once(instance: Instance, store: Store) -> None:
    inbox = instance.inbox.folder
    drop(inbox, "sample.txt", SAMPLE_REPORT.read_bytes())
    drop(inbox, "flood.txt", FLOOD)
    first = run(store, instance)
    assert statuses(first) == {"flood.txt": IngestStatus.INGESTED,
                               "sample.txt": IngestStatus.INGESTED}
    assert run(store, instance) == []  # unchanged files are not read again
    stored = store.reports.newest()
    assert [s.report.published.isoformat() for s in stored if s.report.published] == [
        "2019-06-12", "2013-01-31"]
    assert (inbox / "sample.txt").exists()
    assert (inbox / "flood.txt").exists()


def test_the_same_report_under_another_name_or_encoding_is_a_duplicate(
    instance: Instance, store: Store
) -> None:
    inbox = instance.inbox.folder
    drop(inbox, "flood.txt", FLOOD)
    [first] = run(store, instance)
    drop(inbox, "copy of flood.txt", FLOOD.replace("\n", "\r\n"), encoding="utf-16")
    drop(inbox, "sub/flood-again.txt", "\ufeff" + FLOOD)
    outcomes = run(store, instance)
    assert {o.status for o in outcomes} == {IngestStatus.DUPLICATE}
    assert {o.report_id for o in outcomes} == {first.report_id}
    assert len(store.reports.newest()) == 1


def test_a_changed_body_is_an_update_of_the_same_report(instance: Instance, store: Store) -> None:
    inbox = instance.inbox.folder
    path = drop(inbox, "flood.txt", FLOOD)
    [first] = run(store, instance)
    # the same file edited in place
    drop(inbox, "flood.txt", FLOOD.replace("340 houses", "410 houses"),
         modified=FIXED_NOW - timedelta(minutes=30))
    [edited] = run(store, instance)
    assert (edited.status, edited.report_id) == (IngestStatus.UPDATED, first.report_id)
    # a new file with the same title, source and date but a changed body
    drop(inbox, "flood-v3.txt", FLOOD.replace("340 houses", "415 houses"))
    [renamed] = run(store, instance)
    assert (renamed.status, renamed.report_id) == (IngestStatus.UPDATED, first.report_id)
    stored = store.reports.get(first.report_id or 0)
    assert stored.revision == 3
    assert "415 houses" in stored.report.body
    # an old version seen again is a duplicate, not a rollback
    drop(inbox, "flood-old.txt", FLOOD)
    [old] = run(store, instance)
    assert old.status is IngestStatus.DUPLICATE
    assert store.reports.get(first.report_id or 0).revision == 3
    assert path.exists()


def test_files_still_being_written_are_left_for_the_next_run(
    instance: Instance, store: Store
) -> None:
    inbox = instance.inbox.folder
    drop(inbox, "fresh.txt", FLOOD, modified=FIXED_NOW - timedelta(seconds=1))
    drop(inbox, "download.txt.part", FLOOD)
    drop(inbox, ".hidden.txt", FLOOD)
    drop(inbox, "~$draft.txt", FLOOD)
    drop(inbox, "notes.docx", b"PK\x03\x04")
    [outcome] = run(store, instance)
    assert (Path(outcome.path).name, outcome.status, outcome.reason) == (
        "fresh.txt", IngestStatus.SKIPPED, "still_being_written")
    assert store.reports.newest() == []
    drop(inbox, "fresh.txt", FLOOD)  # now settled
    assert statuses(run(store, instance)) == {"fresh.txt": IngestStatus.INGESTED}
    assert (inbox / "download.txt.part").exists()
    assert (inbox / "notes.docx").exists()


BAD_INPUTS = {
    "empty.txt": (b"", "empty"),
    "binary.txt": (b"%PDF-1.4\n\x00\x01\x02", "binary"),
    "latin1.txt": ("Le café est fermé à Genève.\n\nTexte.".encode("latin-1"), "undecodable"),
    "untitled.txt": (b"Report\nfrom OCHA\nPublished on 1 Jun 2019\n\nSome body.", "missing_title"),
    "headless.txt": (b"Only a title\n", "missing_body"),
    "huge.txt": (b"Title\n\n" + b"word " * 300, "too_large"),
}


def test_bad_input_is_quarantined_with_a_reason_and_the_batch_proceeds(
    instance: Instance, store: Store
) -> None:
    inbox, quarantine = instance.inbox.folder, instance.inbox.quarantine
    for name, (data, _) in BAD_INPUTS.items():
        drop(inbox, name, data)
    drop(inbox, "good.txt", FLOOD)
    outcomes = run(store, instance, max_bytes=1000)
    by_name = {Path(o.path).name: o for o in outcomes}
    assert by_name.pop("good.txt").status is IngestStatus.INGESTED
    for name, (data, reason) in BAD_INPUTS.items():
        outcome = by_name[name]
        assert (outcome.status, outcome.reason) == (IngestStatus.QUARANTINED, reason), name
        moved = quarantine / name
        assert not (inbox / name).exists()
        assert moved.read_bytes() == data  # nothing is lost
        reason_text = (quarantine / f"{name}.reason.txt").read_text(encoding="utf-8")
        assert f"reason: {reason}" in reason_text
        assert f"original: {inbox / name}" in reason_text
        [advice] = [line for line in reason_text.splitlines()
                    if line.startswith("what to do: ")]
        # said once: "… and drop it in again" is not followed by "then put it back…"
        assert advice.count("inbox") + advice.count("again") == 1, advice
    assert store.inbox.quarantined() == len(BAD_INPUTS)
    assert run(store, instance) == []


def test_quarantine_never_overwrites_an_earlier_file(instance: Instance, store: Store) -> None:
    inbox, quarantine = instance.inbox.folder, instance.inbox.quarantine
    drop(inbox, "bad.txt", b"")
    run(store, instance)
    drop(inbox, "bad.txt", b"   ")
    [second] = run(store, instance)
    assert second.quarantined_to == str(quarantine / "bad.1.txt")
    assert (quarantine / "bad.txt").read_bytes() == b""
    assert (quarantine / "bad.1.txt").read_bytes() == b"   "
    assert (quarantine / "bad.1.txt.reason.txt").exists()


def test_a_file_that_cannot_be_moved_is_copied_and_not_quarantined_twice(
    instance: Instance, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A read-only or network inbox: the rename fails, so a copy is kept and the original stays."""
    inbox, quarantine = instance.inbox.folder, instance.inbox.quarantine
    drop(inbox, "bad.txt", b"")

    def refuse(src: object, dst: object) -> None:
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    monkeypatch.setattr(os, "rename", refuse)
    monkeypatch.setattr(Path, "unlink", lambda self, missing_ok=False: refuse(self, None))
    [outcome] = run(store, instance)
    assert outcome.status is IngestStatus.QUARANTINED
    assert (inbox / "bad.txt").exists()
    assert (quarantine / "bad.txt").exists()
    assert "stays in place" in (quarantine / "bad.txt.reason.txt").read_text(encoding="utf-8")
    assert run(store, instance) == []


def test_folders_named_like_reports_are_ignored_and_dangling_links_refused(
    instance: Instance, store: Store
) -> None:
    inbox = instance.inbox.folder
    drop(inbox, "flood.txt", FLOOD)
    (inbox / "archive.txt").mkdir()
    (inbox / "dangling.txt").symlink_to(inbox / "missing-target.txt")
    assert statuses(run(store, instance)) == {"flood.txt": IngestStatus.INGESTED,
                                              "dangling.txt": IngestStatus.QUARANTINED}


def test_links_out_of_the_inbox_and_pipes_are_refused_never_read(
    instance: Instance, store: Store, tmp_path: Path
) -> None:
    inbox = instance.inbox.folder
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    secret = drop(outside, "secret.txt", FLOOD)
    drop(outside / "deep", "other.txt", FLOOD.replace("Kazakhstan", "Tajikistan"))
    (inbox / "secret.txt").symlink_to(secret)
    (inbox / "linked-folder").symlink_to(outside / "deep", target_is_directory=True)
    os.mkfifo(inbox / "pipe.txt")  # reading it would block ingest for ever
    drop(inbox, "inside.txt", FLOOD.replace("Kazakhstan", "Kyrgyzstan"))
    (inbox / "alias.txt").symlink_to(inbox / "inside.txt")  # resolves inside: read
    outcomes = run(store, instance)
    found = statuses(outcomes)
    assert found == {"secret.txt": IngestStatus.QUARANTINED,
                     "linked-folder": IngestStatus.QUARANTINED,
                     "pipe.txt": IngestStatus.QUARANTINED,
                     "alias.txt": IngestStatus.INGESTED, "inside.txt": IngestStatus.DUPLICATE}
    reasons = {Path(o.path).name: o.reason for o in outcomes}
    assert (reasons["secret.txt"], reasons["linked-folder"], reasons["pipe.txt"]) == (
        "outside_inbox", "outside_inbox", "not_a_file")
    assert secret.read_bytes() == FLOOD.encode()  # the target is untouched
    assert (inbox / "secret.txt").is_symlink()  # and the link left where it was
    assert len(store.reports.newest()) == 1  # nothing from outside was read
    reason_files = list(instance.inbox.quarantine.glob("*.reason.txt"))
    assert len(reason_files) == 3
    assert all("what to do: " in f.read_text() for f in reason_files)
    assert run(store, instance) == []  # refused once, not again on every run
