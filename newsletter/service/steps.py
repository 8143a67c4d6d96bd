"""The work of the running service, one step at a time, with the clock as a parameter (I/O).

:class:`Service` does what ``newsletter run`` schedules: pick up and prepare new reports,
send alerts, make each list's digest, catch up after downtime, and sweep the outbox. Every
issue carries exactly the matching reports not yet sent to its list (the ``issue_reports``
table is the record), so a restart repeats nothing and skips nothing, and an empty issue is not
made. :mod:`newsletter.service.scheduler` only decides *when* these steps run.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from functools import cached_property

from newsletter.config import Settings
from newsletter.errors import AlreadySent, DatabaseFault, NotFound
from newsletter.issues.create import (
    CreatedIssue,
    create_issue,
    plan_for_list,
    refuse_if_empty,
)
from newsletter.issues.model import Hold
from newsletter.lists.registry import Lists
from newsletter.lists.schedule import previous_fire
from newsletter.lists.spec import ListSpec, Mode
from newsletter.mail.render import Renderer
from newsletter.reports.ingest import Inbox, ingest_inbox
from newsletter.reports.model import StoredReport
from newsletter.store import Store
from newsletter.subscribers.pending import UnsubscribeJournal
from newsletter.subscribers.privacy import Forgotten
from newsletter.summarise.pending import summarise_pending
from newsletter.translate.core import Glossary
from newsletter.translate.editions import edition_view
from newsletter.translate.pending import Engine, translate_pending

log = logging.getLogger(__name__)
TRANSLATE_STEP = "translate"


def report_date(stored: StoredReport) -> date:
    """How old a report is, for an office: its original publication date (a repost of an old
    report is old news), else the page's posting date, else its arrival."""
    report = stored.report
    return report.published or report.posted or stored.ingested_at.date()


@dataclass
class StepOutcome:
    issues: list[CreatedIssue] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


class Service:
    """The service's steps over ``store``, with the adapters it needs as parameters (built by
    :meth:`newsletter.app.Instance.service`); ``clock`` is injected so tests control time."""

    def __init__(self, store: Store, settings: Settings, *, inbox: Inbox,
                 lists: Lists, engine: Callable[[], Engine],
                 renderer: Callable[[], Renderer], glossary: Callable[[], Glossary],
                 clock: Callable[[], datetime], looking: bool = False,
                 fence: Callable[[], None] | None = None,
                 journal: UnsubscribeJournal | None = None,
                 forgotten: Forgotten | None = None) -> None:
        self.store = store
        self.settings = settings
        self.inbox = inbox
        self._lists = lists
        self._engine = engine
        self._renderer = renderer
        self._glossary = glossary
        self.clock = clock
        self.looking = looking
        # Unsubscribes the web app could not write at once: applied before any issue is made.
        self.journal = journal
        # How erased readers are remembered ([privacy] erase_unsubscribed_after_days).
        self.forgotten = forgotten
        # Run first in every transaction that makes an issue: a scheduler that lost its lease
        # (it froze, another took over) makes nothing.
        self.fence = fence
        # Every list gets the reports that arrive once it exists (:meth:`start_of`), never
        # the archive that was there before it. A preview or a dry run (``looking``) writes
        # nothing: the starts it assumed for lists never seen are kept here.
        self.starts: dict[str, datetime] = {}
        # Why languages went untranslated (no model for a pair), each with the command that
        # installs one, for the command line to print.
        self.missing_models: set[str] = set()
        for name in self.lists():
            self.start_of(name)

    def start_of(self, name: str) -> datetime:
        """When ``name`` started getting reports: recorded when it was created (`lists add`)
        or first seen by a command that writes, and recorded now when it is new (a preview
        or a dry run, which write nothing, take a new list as starting now)."""
        known = self.store.runs.list_start(name)
        if known is not None:
            return known
        if self.looking:
            return self.starts.setdefault(name, self.clock())
        return self.store.runs.record_list_start(name, self.clock())

    # Built once per service: the engine keeps its CTranslate2 models loaded between polls,
    # and the renderer its compiled catalogs and templates between issues.
    @cached_property
    def engine(self) -> Engine:
        return self._engine()

    @cached_property
    def renderer(self) -> Renderer:
        return self._renderer()

    def lists(self) -> dict[str, ListSpec]:
        """Every list as it is now (a list added or changed since is seen), and every other
        frequency of one that its readers chose (``NAME~daily``: a list of its own here)."""
        return self._lists.scheduled()

    def prepare(self) -> int:
        """Ingest new reports, summarise them and queue their translation; returns how many
        arrived. The translating is done by :meth:`translate` (a translation worker, or
        ``run``'s translation thread), so that alerts and sending never wait behind it.
        Readers whose soft suppression ended are sent to again from here on."""
        now = self.clock()
        if self.journal is not None:
            self.journal.apply(self.store)
        self.store.bounces.expire(now)
        self.retain(now)
        outcomes = ingest_inbox(self.store, self.inbox, self.settings.ingest, now=now)
        summarise_pending(self.store, self.settings.summary, now=now)
        self.store.jobs.enqueue(
            ((s.report_id, source_key(s.content_hash, s.summary))
             for s in self.store.editions.state()), now)
        self.store.jobs.retry(self.store.failures.due(TRANSLATE_STEP, now), now)
        return sum(1 for o in outcomes if o.status.value in ("ingested", "updated"))

    def retain(self, now: datetime) -> int:
        """Erase the readers who left more than ``[privacy] erase_unsubscribed_after_days``
        ago; returns how many."""
        days = self.settings.privacy.erase_unsubscribed_after_days
        if not days or self.looking:
            return 0
        if self.forgotten is None:
            log.warning("[privacy] erase_unsubscribed_after_days is set, but readers cannot "
                        "be erased without NEWSLETTER_WEB_SECRET", extra={"event": "retention"})
            return 0
        erased = self.store.readers.erase_departed(now - timedelta(days=days), self.forgotten,
                                                   now)
        if erased:
            log.info("erased %d reader(s) who left more than %g days ago", len(erased), days,
                     extra={"event": "retention", "erased": len(erased)})
        return len(erased)

    def translate(self, owner: str, *, stop: Callable[[], bool] = lambda: False,
                  bodies: bool = True, mailed: Callable[[], None] = lambda: None) -> int:
        """Do the waiting translation jobs until none waits (or ``stop()``); returns how many
        reports' titles and summaries were translated. Those come first, one report at a
        time, each report's editions saved and its job finished before the next (its alert
        may go); ``mailed()`` is told when they are all done. Then, with ``bodies``, the
        bodies for the web archive, one report at a time; a body gives way, between two
        chunks, to a report that arrived meanwhile. Each job is leased to ``owner`` and the
        lease renewed after every batch of sentences."""
        done = 0
        told = True  # mailed() knows of every title and summary done so far
        lease = self.settings.translate.job_lease_seconds
        jobs = self.store.jobs

        def renew(*_: object) -> None:
            jobs.renew(owner, self.clock(), lease)

        def give_way() -> bool:
            return stop() or jobs.waiting()

        while not stop():
            job = jobs.claim(owner, self.clock(), lease, bodies=bodies)
            if job is None:
                break
            if job.body and not told:
                mailed()
                told = True
            try:
                run = translate_pending(
                    self.store, self.engine, self._glossary(), self.settings.translate,
                    now=self.clock(), report_id=job.report_id, progress=renew,
                    bodies=job.body, stop=give_way)
                self.missing_models.update(why for _, _, why in run.missing)
            except NotFound:  # the report went away meanwhile
                jobs.finish(job.report_id, owner, self.clock(), "the report no longer exists")
            except DatabaseFault:
                raise  # not the report's fault: the job's lease runs out and it is done again
            except Exception as exc:
                # Recorded and tried again with backoff (prepare() queues it); the other
                # reports' jobs go on.
                error = f"{type(exc).__name__}: {exc}"
                jobs.finish(job.report_id, owner, self.clock(), error)
                failure = self.store.failures.record(job.report_id, TRANSLATE_STEP, error,
                                                     self.clock())
                log.exception("could not translate report %s (attempt %d; next at %s)",
                              job.report_id, failure.attempts,
                              failure.next_attempt_at.isoformat(),
                              extra={"event": "translate_failed", "report_id": job.report_id})
            else:
                jobs.finish(job.report_id, owner, self.clock(),
                            bodies_wait=run.bodies_waiting > 0)
                self.store.failures.clear(job.report_id, TRANSLATE_STEP)
                if not job.body:
                    done += 1
                    told = False
        if not told:
            mailed()
        return done

    def due(self, spec: ListSpec) -> list[StoredReport]:
        """Matching reports not yet sent to ``spec``, oldest first."""
        start = self.start_of(spec.name)  # the reports that arrived since the list exists
        return [r for r in self.store.issues.unsent_reports(spec.name, start)
                if spec.matches(r.report, r.places)]

    def alerts(self) -> StepOutcome:
        """One alert per new matching report of every alerts list; a report too old to be an
        alert is left for the list's next digest. A report whose translation is still queued
        or running waits for it up to [translate] alert_wait_seconds after it arrived; then
        it goes, and the list's policy decides what readers of the missing languages get."""
        outcome = StepOutcome()
        now = self.clock()
        oldest = (now - timedelta(hours=self.settings.schedule.alert_max_age_hours)).date()
        wait = timedelta(seconds=self.settings.translate.alert_wait_seconds)
        for spec in self.lists().values():
            if spec.mode is not Mode.ALERTS:
                continue
            due = self.due(spec)
            translating = self.store.jobs.unfinished([r.id for r in due])
            for stored in due:
                if report_date(stored) < oldest:
                    outcome.notes.append(f"report {stored.id} is too old for an alert to "
                                         f"{spec.name}: it goes into the next digest")
                    continue
                if stored.id in translating and now < stored.updated_at + wait:
                    outcome.notes.append(f"report {stored.id} waits for its translations "
                                         f"before its alert to {spec.name}")
                    continue
                created = self._issue(spec, [stored.id], "alert", now)
                if created is not None:
                    outcome.issues.append(created)
        return outcome

    def digest(self, spec: ListSpec, fire: datetime | None = None) -> CreatedIssue | None:
        """The list's digest of everything due, or None (recorded as empty) when nothing is.
        ``fire`` is the scheduled time this digest is for: a fire already done (by another
        scheduler, or before a restart) is not done again. The issue, its outbox rows and the
        run's record commit together."""
        now = self.clock()
        for _ in range(3):  # a one-off send may take one of the reports meanwhile: again
            try:
                return self._digest(spec, fire, now)
            except AlreadySent as exc:
                log.info("%s; making the digest again", exc.message,
                         extra={"event": "already_sent", "list": spec.name})
        return None

    def _digest(self, spec: ListSpec, fire: datetime | None, now: datetime) -> CreatedIssue | None:
        with self.store.transaction():
            if self.fence is not None:
                self.fence()
            run_id = None
            if fire is not None:
                run_id = self.store.runs.claim_fire(spec.name, "digest", fire, now)
                if run_id is None:
                    log.info("digest of %s for %s: done already", spec.name, fire.isoformat(),
                             extra={"event": "digest", "list": spec.name, "outcome": "done"})
                    return None
            due = self.due(spec)
            ready = self.releasable(spec)
            created = (None if not due and not ready
                       else self._create(spec, [r.id for r in due], "digest", now, ready,
                                         audience_at=fire))
            outcome = "empty" if created is None else f"{created.queued} queued"
            issue_id = None if created is None else created.issue_id
            if run_id is not None:
                self.store.runs.finish(run_id, outcome, issue_id)
            else:
                self.store.runs.record(spec.name, "digest", now, outcome, issue_id)
        if created is None:
            log.info("digest of %s: nothing new", spec.name,
                     extra={"event": "digest", "list": spec.name, "outcome": "empty"})
        return created

    def missed(self) -> list[tuple[ListSpec, datetime]]:
        """Each list whose scheduled digest time has passed since its last digest (or since
        the list was first seen), with the latest such time."""
        now = self.clock()
        found = []
        for spec in self.lists().values():
            last = self.store.runs.last(spec.name, "digest")
            fire = previous_fire(spec, now, last.at if last else self.start_of(spec.name))
            if fire is not None:
                found.append((spec, fire))
        return found

    def due_digests(self) -> list[CreatedIssue]:
        """One digest for each list whose scheduled run is due or was missed (not one per
        missed run)."""
        made = []
        for spec, fire in self.missed():
            log.info("digest of %s for %s", spec.name, fire.isoformat(),
                     extra={"event": "due", "list": spec.name})
            created = self.digest(spec, fire=fire)
            if created is not None:
                made.append(created)
        return made

    def catch_up(self) -> list[CreatedIssue]:
        """After downtime: the missed digests (:meth:`due_digests`), if [schedule] catch_up is
        "one"."""
        return self.due_digests() if self.settings.schedule.catch_up == "one" else []

    def _issue(self, spec: ListSpec, report_ids: list[int], kind: str,
               now: datetime) -> CreatedIssue | None:
        """An issue of ``report_ids``, made under the fence; None when another sender sent
        one of them to the list meanwhile."""
        try:
            with self.store.transaction():
                if self.fence is not None:
                    self.fence()
                return self._create(spec, report_ids, kind, now)
        except AlreadySent as exc:
            log.info("%s", exc.message, extra={"event": "already_sent", "list": spec.name})
            return None

    def send_report(self, spec: ListSpec, report_id: int, languages: Sequence[str] = (), *,
                    dry_run: bool = False) -> CreatedIssue | None:
        """`newsletter send`: one report to a list now, as an alert, through the same outbox
        and the same records as the service's alerts (so neither sends it twice). A report
        already sent is :class:`AlreadySent`, unless a language was held back when it went:
        then that language goes now, to its readers only. One whose every language asked for
        is held back is :class:`NothingToSend`. ``languages`` limits it to readers of those;
        with ``dry_run`` only the refusals are checked and nothing is made (None)."""
        already = self.store.issues.sent_in(spec.name, report_id)
        held = [h for h in self.store.holds.waiting(spec.name) if h.report_id == report_id
                and (not languages or h.language in languages)]
        if already is not None and not held:
            raise AlreadySent(spec.name, report_id, already)
        now = self.clock()
        if held:
            return None if dry_run else self._create(spec, [], "alert", now, held)
        narrowed = (replace(spec, languages=tuple(lang for lang in spec.languages
                                                  if lang in languages) or tuple(languages))
                    if languages else spec)
        if dry_run:
            refuse_if_empty(plan_for_list(self.store, narrowed, [report_id], "alert",
                                          base_url=self.settings.web.base_url, now=now),
                            narrowed, [report_id], languages or None)
            return None
        return self._create(narrowed, [report_id], "alert", now,
                            only_languages=languages or None, refuse_empty=True)

    def _create(self, spec: ListSpec, report_ids: list[int], kind: str, now: datetime,
                releases: Sequence[Hold] = (), *, only_languages: Sequence[str] | None = None,
                refuse_empty: bool = False, audience_at: datetime | None = None
                ) -> CreatedIssue:
        return create_issue(self.store, self.renderer, spec, report_ids, kind,
                            base_url=self.settings.web.base_url, domain=self.settings.mail.domain,
                            now=now, claim_reports=bool(report_ids), releases=releases,
                            only_languages=only_languages, refuse_empty=refuse_empty,
                            audience_at=audience_at)



    def releasable(self, spec: ListSpec) -> list[Hold]:
        """The list's held-back (report, language) pairs that may go now: the edition was
        approved, or translated cleanly since."""
        holds = self.store.holds.waiting(spec.name)
        if not holds:
            return []
        reports = self.store.reports.get_many(list({h.report_id for h in holds}))
        editions = self.store.editions.of_many(list(reports))
        ready = []
        for hold in holds:
            view = edition_view(reports[hold.report_id],
                                editions.get(hold.report_id, {}).get(hold.language),
                                hold.language, policy=spec.policy, review=spec.review)
            if not view.held:
                ready.append(hold)
        return ready

    def releases(self) -> StepOutcome:
        """Held-back languages whose editions may go now reach their readers: an alerts list
        sends each as an alert to that language's readers; a digest list's next digest
        carries them. Exactly once per reader, through the outbox."""
        outcome = StepOutcome()
        now = self.clock()
        for spec in self.lists().values():
            if spec.mode is not Mode.ALERTS:
                continue
            for hold in self.releasable(spec):
                try:
                    with self.store.transaction():
                        if self.fence is not None:
                            self.fence()
                        created = self._create(spec, [], "alert", now, [hold])
                except AlreadySent:
                    continue
                log.info("released report %s to the %s readers of %s", hold.report_id,
                         hold.language, spec.name,
                         extra={"event": "release", "list": spec.name,
                                "report_id": hold.report_id, "language": hold.language})
                outcome.issues.append(created)
        return outcome


def source_key(content_hash: str, summary: Sequence[str]) -> str:
    """What a report's editions are made from: its text and its summary."""
    return hashlib.sha256("\x1f".join((content_hash, *summary)).encode("utf-8")).hexdigest()
