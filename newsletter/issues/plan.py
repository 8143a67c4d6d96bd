"""Plan an issue: what each language's mail of an alert or digest says, from stored reports,
summaries and editions (reads the store only)."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date

from newsletter.lists.spec import Policy, ReviewRule
from newsletter.mail.render import MailIssue, MailItem
from newsletter.reports.model import StoredReport
from newsletter.store import Store
from newsletter.summarise.digest import DigestEntry, DigestItem, plan_digest
from newsletter.translate.core import Flag
from newsletter.translate.editions import Edition, EditionStatus, edition_view

log = logging.getLogger(__name__)


@dataclass
class PlannedIssue:
    """An issue's mail per language, and why any language or item was held back."""

    mails: dict[str, MailIssue] = field(default_factory=dict)
    held: dict[str, list[str]] = field(default_factory=dict)
    held_reports: dict[str, list[int]] = field(default_factory=dict)  # by language


def plan_issue(
    store: Store,
    report_ids: Sequence[int],
    *,
    kind: str,
    languages: Sequence[str],
    policy: Policy,
    list_title: str | Mapping[str, str],
    base_url: str,
    issue_date: date,
    summary_budget: tuple[int, int] | None = None,
    review: ReviewRule = ReviewRule.FLAGGED,
    extra: Mapping[str, Sequence[int]] | None = None,
    as_approved: bool = False,
) -> PlannedIssue:
    """What each language's mail of an alert or digest says, from the stored editions.

    A digest merges near-duplicate reports into one item crediting every source; per language,
    an item whose translation is flagged, missing or waiting for a reviewer (``review``)
    follows ``policy``: the original text with a notice (fallback) or left out with the reason
    recorded (hold; :attr:`PlannedIssue.held_reports` names them); ``as_approved`` plans it as
    it would go once every edition is approved as it stands. ``extra`` adds reports for
    one language's readers only (held back from them before, and free to go now).
    ``list_title`` is one title for every language or the title in each of ``languages``.
    ``summary_budget`` (sentences, words) is a list's own summary length: the stored summary,
    which is the longest any list gets, is cut to it (its translations stay sentence for
    sentence).
    """
    extra = extra or {}
    every = list(dict.fromkeys([*report_ids, *(r for ids in extra.values() for r in ids)]))
    # Three queries whatever the number of reports: reports, summaries, editions.
    stored = store.reports.get_many(every)
    found = store.summaries.of_many(every)
    editions = store.editions.of_many(every)
    entries = {rid: DigestEntry(rid, s.report.title, s.report.source, s.report.body,
                                _within(found.get(rid, ()), summary_budget))
               for rid, s in stored.items()}
    result = PlannedIssue()
    for language in languages:
        ids = list(dict.fromkeys([*report_ids, *extra.get(language, ())]))
        chosen = [entries[rid] for rid in ids]
        if kind == "digest":
            planned = plan_digest(chosen)
        else:
            planned = [DigestItem((e.report_id,), e.title, (e.source,) if e.source else (),
                                  e.summary, tuple(range(len(e.summary)))) for e in chosen]
        items = []
        for plan in planned:
            leader = stored[plan.report_ids[0]]
            edition = editions.get(leader.id, {}).get(language)
            item = _mail_item(leader, plan, edition, language, policy=policy,
                              base_url=base_url, review=review, as_approved=as_approved)
            if isinstance(item, str):
                result.held.setdefault(language, []).append(item)
                result.held_reports.setdefault(language, []).extend(plan.report_ids)
            else:
                items.append(item)
        if items:
            title = list_title if isinstance(list_title, str) else list_title[language]
            result.mails[language] = MailIssue(kind, language, title, issue_date, tuple(items))
        else:
            result.held.setdefault(language, []).append("nothing left to send in this language")
    return result


def _within(summary: tuple[str, ...], budget: tuple[int, int] | None) -> tuple[str, ...]:
    """The leading sentences of ``summary`` that fit ``budget`` (at least one)."""
    if budget is None or not summary:
        return summary
    sentences, words = budget
    kept: list[str] = []
    for sentence in summary[:sentences]:
        if kept and sum(len(s.split()) for s in kept) + len(sentence.split()) > words:
            break
        kept.append(sentence)
    return tuple(kept)


def fallback_reason(flags: Sequence[Flag]) -> str:
    """Why a reader gets the original: no translation yet (no model, or not made yet), one
    waiting for a reviewer, or one that did not pass the checks."""
    codes = {flag.code for flag in flags}
    if codes & {"no_model", "pending"}:
        return "no_model"
    if "review" in codes:
        return "review"
    return "flagged"


def _mail_item(
    leader: StoredReport, plan: DigestItem, edition: Edition | None, language: str, *,
    policy: Policy, base_url: str, review: ReviewRule, as_approved: bool = False,
) -> MailItem | str:
    """The item in ``language`` as :func:`edition_view` decides it, or the reason it is held
    back."""
    report = leader.report
    view = edition_view(leader, edition, language, policy=policy, summary=plan.summary,
                        indices=plan.summary_indices, review=review, as_approved=as_approved)
    if view.held:
        return view.held_reason(leader.id)
    return MailItem(
        report_id=leader.id, title=view.title, summary=view.summary, sources=plan.sources,
        kind=report.kind, published=report.published,
        link=f"{base_url.rstrip('/')}/reports/{leader.id}?lang={language}",
        original_language=report.language, model=view.model,
        fallback=view.status is EditionStatus.FALLBACK, reviewed=view.reviewed,
        fallback_reason=fallback_reason(view.flags) if view.status is EditionStatus.FALLBACK
        else "",
        original_link=f"{base_url.rstrip('/')}/reports/{leader.id}?lang={report.language}",
    )
