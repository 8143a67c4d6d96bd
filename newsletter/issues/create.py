"""Create an issue: render it per language and queue one outbox row per recipient, in one
transaction (I/O)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime

from newsletter.delivery.rules import QueuedMessage
from newsletter.errors import AlreadySent, NothingToSend
from newsletter.issues.model import Hold, edition_for
from newsletter.issues.plan import PlannedIssue, plan_issue
from newsletter.lists.spec import ListSpec, ReviewRule
from newsletter.mail.links import issue_local, message_id
from newsletter.mail.render import Renderer
from newsletter.store import Store

log = logging.getLogger(__name__)


@dataclass
class CreatedIssue:
    """An issue written to the outbox."""

    issue_id: int
    queued: int
    languages: list[str]
    held: dict[str, list[str]]
    skipped: int  # subscribers whose language was held back


def create_issue(
    store: Store, renderer: Renderer, spec: ListSpec, report_ids: Sequence[int], kind: str, *,
    base_url: str, domain: str, now: datetime, claim_reports: bool = True,
    only_languages: Sequence[str] | None = None,
    releases: Sequence[Hold] = (), refuse_empty: bool = False,
    audience_at: datetime | None = None,
) -> CreatedIssue:
    """Render ``kind`` (alert or digest) for every language of ``spec``, record the issue and
    one outbox row per recipient, in the recipient's language (the list's first language when
    the list does not offer theirs); nothing is sent here. With ``claim_reports`` the reports
    are recorded as sent to the list in the same transaction, so neither the scheduler nor a
    one-off send can send them to it again. ``only_languages`` limits the recipients to
    subscribers reading those languages.

    A report held back from a language (its translation is flagged, missing or waiting for a
    reviewer, under the ``hold`` policy) is recorded as held for the list, unless the list
    reviews nothing; ``releases`` are such holds that this issue now carries, to their
    language's readers only, each released in the same transaction (once: a hold another
    issue released already is :class:`AlreadySent`). With ``refuse_empty`` (a one-off send),
    an issue with nothing to send in any language asked for is :class:`NothingToSend`.
    ``audience_at``: the moment whose readers it goes to (a digest's scheduled time: a reader
    who changed frequency is in the digests after the change takes effect), else ``now``."""
    extra: dict[str, list[int]] = {}
    for hold in releases:
        extra.setdefault(hold.language, []).append(hold.report_id)
    planned = plan_for_list(store, spec, report_ids, kind, base_url=base_url, now=now,
                            extra=extra)
    if refuse_empty:
        refuse_if_empty(planned, spec, report_ids, only_languages)
    bodies = {language: json.dumps(asdict(renderer.render(mail)), ensure_ascii=False)
              for language, mail in planned.mails.items()}
    skipped = 0
    readers: dict[str, int] = {}  # readers whose first language's holds matter, by language
    only_released = not report_ids  # an issue of released holds goes to their readers only
    complete = {language for language in bodies if not planned.held_reports.get(language)}
    # Readers who got a released report in another language of their chain, when it was
    # held back from their first: it is not sent to them again.
    served = store.holds.served_elsewhere(releases) if only_released else set()

    def recipients(issue_id: int) -> Iterator[QueuedMessage]:
        nonlocal skipped
        for subscriber in store.subscribers.recipients(spec.name, audience_at or now):
            language, wanted = edition_for(subscriber.chain, spec.languages, bodies, complete)
            if only_languages and wanted not in only_languages:
                continue
            if language in (None, wanted):
                readers[wanted] = readers.get(wanted, 0) + 1
            if only_released:
                if wanted not in extra or subscriber.id in served:
                    continue
                language = wanted if wanted in bodies else None
            if language is None:
                skipped += 1
                continue
            yield QueuedMessage(subscriber.id, subscriber.email, subscriber.name, language,
                                message_id(issue_local(issue_id, subscriber.id, spec.name),
                                           domain),
                                subscriber.format,
                                wanted=wanted if wanted != language else None)

    # The issue, its reports' claim, its holds and releases and every outbox row commit
    # together, or none of them.
    with store.transaction():
        issue_id, queued = store.issues.create(spec.members_of, kind, report_ids, bodies,
                                               now, recipients=recipients,
                                               claim=claim_reports, claim_as=spec.name)
        if spec.review is not ReviewRule.NONE:
            store.holds.record(spec.name, [(rid, language)
                                           for language, rids in planned.held_reports.items()
                                           if readers.get(language) for rid in rids
                                           if rid not in extra.get(language, ())],
                               issue_id, now)
        for hold in releases:
            if hold.report_id in planned.held_reports.get(hold.language, ()):
                continue  # still held back: it waits for a later issue
            if not store.holds.release(hold, issue_id, now):
                raise AlreadySent(spec.name, hold.report_id, issue_id)
    log.info("issue %s of %s: %d messages queued", issue_id, spec.name, queued,
             extra={"event": "issue", "issue_id": issue_id, "list": spec.name, "kind": kind,
                    "queued": queued, "held": planned.held})
    return CreatedIssue(issue_id, queued, sorted(bodies), planned.held, skipped)


def plan_for_list(store: Store, spec: ListSpec, report_ids: Sequence[int], kind: str, *,
                  base_url: str, now: datetime,
                  extra: dict[str, list[int]] | None = None) -> PlannedIssue:
    """Each language's mail of an issue of ``report_ids`` as ``spec``'s readers get it."""
    return plan_issue(store, report_ids, kind=kind, languages=spec.languages,
                      policy=spec.policy, list_title=spec.titles, base_url=base_url,
                      issue_date=spec.local_date(now),
                      summary_budget=(spec.summary_sentences, spec.summary_words),
                      review=spec.review, extra=extra)


def refuse_if_empty(planned: PlannedIssue, spec: ListSpec, report_ids: Sequence[int],
                    only_languages: Sequence[str] | None = None) -> None:
    """:class:`NothingToSend` when no language asked for has a mail: every one is held."""
    wanted = set(only_languages or spec.languages)
    if wanted & set(planned.mails):
        return
    why = [reason for language in sorted(wanted) for reason in planned.held.get(language, [])
           if not reason.startswith("nothing left")]
    raise NothingToSend(spec.name, report_ids[0] if report_ids else 0, why)


def audience(store: Store, spec: ListSpec) -> dict[str, int]:
    """How many of the list's recipients would get each language now (for dry runs)."""
    counts: dict[str, int] = {}
    for subscriber in store.subscribers.recipients(spec.name, store.clock()()):
        language = spec.reader_language(subscriber.chain[0])
        counts[language] = counts.get(language, 0) + 1
    return dict(sorted(counts.items()))
