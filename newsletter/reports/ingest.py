"""Pick up new report files from the inbox (I/O edge around the pure parser).

For each file: skip it if it is unchanged since the last run or still being written; read,
decode and parse it; then record it as a new report, a duplicate of a known one (same normalised
content under any name) or an update of a stored report, as
:func:`newsletter.reports.identity.same_report` decides: the same file or the same title, and
substantially the same text or document code; never a different report's. A file that
cannot become a report is moved to the quarantine folder with a ``.reason.txt`` beside it,
and the batch goes on. Good files stay where they are:
ingest never deletes a user's file.
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from newsletter.config_sections import IngestSettings
from newsletter.errors import ConfigError, ReportError
from newsletter.reports.decode import decode_report
from newsletter.reports.identity import content_hash, same_report, title_key
from newsletter.reports.model import InboxFile, IngestOutcome, IngestStatus
from newsletter.reports.parse import parse_report
from newsletter.reports.places import Gazetteer, load_gazetteer
from newsletter.store import Store

log = logging.getLogger(__name__)

# Names that editors, browsers and copy tools give files while they are still being written.
_BATCH = 200
PLACES_STEP = "place"
_TEMPORARY_SUFFIXES = (".part", ".partial", ".tmp", ".crdownload", ".download", "~", ".swp")


@dataclass(frozen=True)
class Inbox:
    """Where reports arrive, where bad ones go, and the gazetteer that tells which countries
    and regions each is about."""

    folder: Path
    quarantine: Path
    places: Gazetteer = field(default_factory=load_gazetteer)


def scan(inbox: Inbox, options: IngestSettings) -> Iterator[Path]:
    """Report files in the inbox, in a stable order, leaving out hidden and temporary files.

    Folders are walked without following links, so a linked folder is never entered (it is
    yielded itself, and refused by :func:`ingest_inbox`); links and other entries that are not
    regular files are yielded too, to be refused with a reason, never read."""
    extensions = tuple(ext.lower() for ext in options.extensions)
    quarantine = inbox.quarantine.resolve()
    # Only a quarantine folder inside the inbox needs each path checked against it.
    nested = quarantine.is_relative_to(inbox.folder.resolve())
    found: list[Path] = []
    for folder, subfolders, files in os.walk(inbox.folder, followlinks=False):
        here = Path(folder)
        if nested and here.resolve().is_relative_to(quarantine):
            subfolders[:] = []
            continue
        linked = [name for name in subfolders if (here / name).is_symlink()]
        subfolders[:] = sorted(name for name in subfolders
                               if name not in linked and options.recursive)
        for name in [*files, *linked]:
            path = here / name
            relative = path.relative_to(inbox.folder)
            if any(part.startswith((".", "~$")) for part in relative.parts):
                continue
            if name.lower().endswith(_TEMPORARY_SUFFIXES):
                continue
            if name in linked or name.lower().endswith(extensions):
                found.append(path)
    yield from sorted(found)


def _unsafe(path: Path, inbox: Inbox) -> ReportError | None:
    """Why ``path`` must not be read, or None: only regular files that resolve inside the
    inbox are read (a link could make ingest read, or later move, a file elsewhere)."""
    mode = path.lstat().st_mode
    if stat.S_ISLNK(mode):
        target = path.resolve()
        if (target.is_relative_to(inbox.folder.resolve()) and target.is_file()
                and not target.is_symlink()):
            return None
        return ReportError(
            "outside_inbox", f"a link to {target}, outside the inbox or not a regular file: "
            "it was not followed",
            hint="copy the report itself into the inbox instead of linking to it")
    if not stat.S_ISREG(mode):
        return ReportError(
            "not_a_file", "not a regular file (a pipe, socket or device): it was not read",
            hint="copy the report into the inbox as an ordinary file")
    return None


def ingest_inbox(
    store: Store, inbox: Inbox, options: IngestSettings, *, now: datetime
) -> list[IngestOutcome]:
    """Ingest every new or changed file of the inbox; one outcome per file acted on."""
    if not inbox.folder.is_dir():
        raise ConfigError(
            f"the inbox folder {inbox.folder} does not exist",
            hint="create it, or point [paths] seeds at the folder where reports arrive",
        )
    known = store.inbox.known()
    store.reports.refresh_title_keys(title_key)
    outcomes = []
    paths = list(scan(inbox, options))
    # One transaction per batch: a crash loses only the batch's records, and its files are still
    # in the inbox (or already in quarantine with their reason files), so the next run redoes it.
    for start in range(0, len(paths), _BATCH):
        with store.transaction():
            for path in paths[start : start + _BATCH]:
                try:
                    outcome = _ingest_file(store, inbox, options, path, known, now)
                except OSError as exc:
                    outcome = IngestOutcome(
                        path=str(path), status=IngestStatus.SKIPPED, reason="unreadable",
                        detail=f"cannot read the file: {exc.strerror or exc}",
                    )
                if outcome is not None:
                    log.info(
                        "ingest %s: %s", outcome.status.value, path,
                        extra={"event": "ingest", "path": str(path),
                               "status": outcome.status.value, "report_id": outcome.report_id,
                               "reason": outcome.reason},
                    )
                    outcomes.append(outcome)
    locate(store, inbox.places, now=now)
    return outcomes


def locate(store: Store, gazetteer: Gazetteer, *, now: datetime | None = None) -> int:
    """Detect the places of every report not yet placed with this gazetteer (new, changed,
    or placed with a gazetteer the office has extended since); returns how many. A report
    whose detection fails is recorded in ``store.failures`` and tried again with backoff."""
    when = now or store.now()
    waiting = store.failures.waiting(PLACES_STEP, when)
    stale = [r for r in store.reports.unplaced(gazetteer.fingerprint) if r.id not in waiting]
    found: dict[int, tuple[str, ...]] = {}
    for stored in stale:
        report = stored.report
        try:
            found[stored.id] = gazetteer.detect(report.title, report.body, report.dateline)
        except Exception as exc:  # one report's failure is recorded; the others go on
            failure = store.failures.record(stored.id, PLACES_STEP,
                                            f"{type(exc).__name__}: {exc}", when)
            log.error("could not place report %s: %s", stored.id, failure.error,
                      extra={"event": "places_failed", "report_id": stored.id})
    if found:
        with store.transaction():
            store.reports.set_places(found, gazetteer.fingerprint)
            for report_id in found:
                store.failures.clear(report_id, PLACES_STEP)
        log.info("placed %d report(s)", len(found),
                 extra={"event": "places", "reports": len(found)})
    return len(found)


def _ingest_file(
    store: Store,
    inbox: Inbox,
    options: IngestSettings,
    path: Path,
    known: dict[str, InboxFile],
    now: datetime,
) -> IngestOutcome | None:
    relative = path.relative_to(inbox.folder).as_posix()
    refusal = _unsafe(path, inbox)
    if refusal is not None:
        entry = path.lstat()
        seen = known.get(relative)
        if seen and (seen.size, seen.mtime_ns) == (entry.st_size, entry.st_mtime_ns):
            return None  # refused before, and unchanged
        return _quarantine(store, inbox, path, error=refusal, relative=relative, stat=entry,
                           now=now, move=False)
    before = path.stat()
    seen = known.get(relative)
    if seen and (seen.size, seen.mtime_ns) == (before.st_size, before.st_mtime_ns):
        return None  # unchanged since we last looked
    if now.timestamp() - before.st_mtime < options.settle_seconds:
        return IngestOutcome(
            path=str(path), status=IngestStatus.SKIPPED, reason="still_being_written",
            detail=f"modified less than {options.settle_seconds:g} s ago; taken on the next run",
        )
    if before.st_size > options.max_bytes:
        error = ReportError(
            "too_large",
            f"the file is {before.st_size:,} bytes, over the {options.max_bytes:,}-byte limit",
            hint="raise [ingest] max_bytes if reports this large are expected",
        )
        return _quarantine(store, inbox, path, error=error, relative=relative, stat=before,
                           now=now)

    data = path.read_bytes()
    after = path.stat()
    if (after.st_size, after.st_mtime_ns) != (before.st_size, before.st_mtime_ns):
        return IngestOutcome(
            path=str(path), status=IngestStatus.SKIPPED, reason="still_being_written",
            detail="the file changed while it was read; taken on the next run",
        )
    try:
        decoded = decode_report(data)
        report = parse_report(decoded.text)
    except ReportError as error:
        return _quarantine(store, inbox, path, error=error, relative=relative, stat=before,
                           now=now)

    digest = content_hash(report)
    key = title_key(report.title)
    duplicate_of = store.reports.id_by_hash(digest)
    if duplicate_of is not None:
        store.inbox.remember(relative, size=before.st_size, mtime_ns=before.st_mtime_ns,
                            status="duplicate", report_id=duplicate_of, now=now)
        if seen is not None and seen.report_id == duplicate_of:
            return None  # the same file saved again without a change
        return IngestOutcome(
            path=str(path), status=IngestStatus.DUPLICATE, report_id=duplicate_of,
            reason="same_content", detail=f"same content as report {duplicate_of}",
        )
    same_file = seen.report_id if seen and seen.report_id else None
    target, detail = None, None
    for candidate in store.reports.candidates(key, same_file):
        verdict = same_report(report, candidate.report, same_file=candidate.id == same_file)
        if verdict.same:
            target, detail = candidate.id, verdict.reason
            break
        detail = detail or f"not an update of report {candidate.id}: {verdict.reason}"
    if target is not None:
        revision = store.reports.update(
            target, report, content_hash=digest, identity_key=key, path=relative,
            encoding=decoded.encoding, now=now,
        )
        status, report_id = IngestStatus.UPDATED, target
        detail = f"revision {revision}: {detail}"
    else:
        report_id = store.reports.add(
            report, content_hash=digest, identity_key=key, path=relative,
            encoding=decoded.encoding, now=now,
        )
        status = IngestStatus.INGESTED
    store.inbox.remember(relative, size=before.st_size, mtime_ns=before.st_mtime_ns,
                        status=status.value, report_id=report_id, now=now)
    return IngestOutcome(path=str(path), status=status, report_id=report_id, detail=detail)


def _quarantine(
    store: Store, inbox: Inbox, path: Path, *, error: ReportError, relative: str,
    stat: os.stat_result, now: datetime, move: bool = True,
) -> IngestOutcome:
    """Move ``path`` to the quarantine folder beside a reason file, and record it. With
    ``move`` False (a link, a pipe), nothing is read or moved: a link is copied as a link,
    anything else left in place, and the reason file says so."""
    inbox.quarantine.mkdir(parents=True, exist_ok=True)
    target = _free_name(inbox.quarantine / path.name)
    reason_file = target.with_name(target.name + ".reason.txt")
    lines = [
        f"reason: {error.reason}",
        f"detail: {error.message}",
        f"original: {path}",
        f"quarantined_at: {now.isoformat(timespec='seconds')}",
    ]
    advice = (error.hint or "fix the file").rstrip(".")
    if move and "inbox" not in advice and "again" not in advice:
        advice += f", then put it back in the inbox ({inbox.folder})"
    lines.append(f"what to do: {advice}")
    # The reason is written before the move, so a crash never leaves a file without its reason.
    reason_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
    if not move:
        if path.is_symlink():
            os.symlink(os.readlink(path), target)
        with reason_file.open("a", encoding="utf-8") as handle:
            handle.write("note: left in place and not read" +
                         (" (the link is copied here as a link)" if path.is_symlink() else "")
                         + "\n")
    elif _move_or_copy(path, target):
        with reason_file.open("a", encoding="utf-8") as handle:
            handle.write("note: the original could not be moved, so it was copied; "
                         "it stays in place\n")
    store.inbox.quarantine(relative, str(target), error.reason, error.message, now)
    # Remembered so that a copy left in a read-only inbox is not quarantined again.
    store.inbox.remember(relative, size=stat.st_size, mtime_ns=stat.st_mtime_ns,
                        status="quarantined", report_id=None, now=now)
    log.warning(
        "quarantined %s: %s", path, error.message,
        extra={"event": "quarantine", "path": str(path), "reason": error.reason},
    )
    return IngestOutcome(
        path=str(path), status=IngestStatus.QUARANTINED, reason=error.reason,
        detail=error.message, quarantined_to=str(target),
    )


def _free_name(candidate: Path) -> Path:
    """``candidate``, or ``name.1.txt``, ``name.2.txt``… if taken: never overwrite."""
    counter = 0
    path = candidate
    while path.exists() or path.with_name(path.name + ".reason.txt").exists():
        counter += 1
        path = candidate.with_name(f"{candidate.stem}.{counter}{candidate.suffix}")
    return path


def _move_or_copy(source: Path, target: Path) -> bool:
    """Move ``source`` to ``target``; returns True when only a copy could be made.

    The copy is complete and flushed before the original is removed, so a crash in between
    leaves two copies, never none.
    """
    try:
        os.rename(source, target)
        return False
    except OSError as exc:
        if exc.errno not in (errno.EXDEV, errno.EACCES, errno.EPERM, errno.EROFS):
            raise
    shutil.copy2(source, target)
    with open(target, "rb") as handle:
        os.fsync(handle.fileno())
    try:
        source.unlink()
    except OSError:
        return True
    return False

