"""Create an issue: render it per language and queue one outbox row per recipient, in one
transaction (I/O)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime

from newsletter.delivery.rules import QueuedMessage
from newsletter.issues.plan import plan_issue
from newsletter.mail.render import Renderer
from newsletter.store import Store
from newsletter.subscribers.core import ListSpec
from newsletter.translate.editions import Policy

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
) -> CreatedIssue:
    """Render ``kind`` (alert or digest) for every language of ``spec``, record the issue and
    one outbox row per recipient, in the recipient's language (the list's first language when
    the list does not offer theirs); nothing is sent here. With ``claim_reports`` the reports
    are recorded as sent to the list in the same transaction, so neither the scheduler nor a
    one-off send can send them to it again. ``only_languages`` limits the recipients to
    subscribers reading those languages."""
    planned = plan_issue(store, report_ids, kind=kind, languages=spec.languages,
                         policy=Policy(spec.policy), list_title=spec.title, base_url=base_url,
                         issue_date=now.date(),
                         summary_budget=(spec.summary_sentences, spec.summary_words))
    bodies = {language: json.dumps(asdict(renderer.render(mail)), ensure_ascii=False)
              for language, mail in planned.mails.items()}
    skipped = 0

    def recipients(issue_id: int) -> Iterator[QueuedMessage]:
        nonlocal skipped
        for subscriber in store.subscribers.recipients(spec.name):
            if only_languages and subscriber.language not in only_languages:
                continue
            language = spec.reader_language(subscriber.language)
            if language not in bodies:
                skipped += 1
                continue
            yield QueuedMessage(subscriber.id, subscriber.email, subscriber.name, language,
                                f"n{issue_id}.{subscriber.id}.{spec.name}@{domain}",
                                subscriber.format)

    # The issue, its reports' claim and every outbox row commit together, or none of them.
    issue_id, queued = store.issues.create(spec.name, kind, report_ids, bodies, now,
                                          recipients=recipients, claim=claim_reports)
    log.info("issue %s of %s: %d messages queued", issue_id, spec.name, queued,
             extra={"event": "issue", "issue_id": issue_id, "list": spec.name, "kind": kind,
                    "queued": queued, "held": planned.held})
    return CreatedIssue(issue_id, queued, sorted(bodies), planned.held, skipped)


def audience(store: Store, spec: ListSpec) -> dict[str, int]:
    """How many of the list's recipients would get each language (for dry runs)."""
    counts: dict[str, int] = {}
    for subscriber in store.subscribers.recipients(spec.name):
        language = spec.reader_language(subscriber.language)
        counts[language] = counts.get(language, 0) + 1
    return dict(sorted(counts.items()))
