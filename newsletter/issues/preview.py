"""Preview an alert or a digest: what each language's mail would say, written as files
(.html, .txt, .eml, and the .text.eml a text-only reader gets). Reads the store only."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from newsletter.errors import NewsletterError
from newsletter.issues.plan import PlannedIssue, plan_issue
from newsletter.lists.spec import ListSpec, Policy, ReviewRule
from newsletter.mail.compose import body_parts
from newsletter.mail.messages import MessageBuilder
from newsletter.mail.render import Renderer
from newsletter.reports.model import StoredReport
from newsletter.store import Store


@dataclass(frozen=True)
class PreviewPlan:
    """What a preview shows: ``name`` prefixes its files; ``note`` says why a digest shows
    something else than what is due."""

    name: str
    list_name: str
    title: str
    planned: PlannedIssue
    note: str | None = None


@dataclass(frozen=True)
class PreviewFile:
    language: str
    kind: str  # html, text, eml, text-eml
    path: Path


def digest_selection(spec: ListSpec | None, due: list[StoredReport],
                     newest: list[StoredReport], limit: int,
                     start: datetime | None = None) -> tuple[list[int], str | None]:
    """The reports a digest preview shows: what is due for the list, else its latest matching
    reports (all the latest when ``spec`` is no list), at most ``limit``; and a note when
    nothing is due, saying that those will not be in its digests (they came before the list
    started, at ``start``, or were sent to it already)."""
    note = None
    chosen = newest
    if spec is not None:
        if not due:
            since = f" (it gets the reports that arrived from {start:%Y-%m-%d %H:%M} UTC on)" \
                if start is not None else ""
            note = (f"Nothing is due for {spec.name} yet: previewing its latest matching "
                    "reports instead, to show what its mail looks like. Its digests will not "
                    "carry these: they arrived before the list started" + since
                    + " or were sent to it already (`newsletter send --list "
                    f"{spec.name} --report ID` sends one by hand)")
        chosen = due or [r for r in newest if spec.matches(r.report, r.places)]
    ids = [r.id for r in chosen[:limit]]
    if not ids:
        raise NewsletterError("there are no reports to put in a digest",
                              hint="run `newsletter ingest` first")
    return ids, note


def plan_preview(store: Store, *, report_id: int | None, digest: str | None,
                 spec: ListSpec | None, due: list[StoredReport], languages: list[str],
                 limit: int, default_title: str, default_policy: Policy, base_url: str,
                 now: datetime, start: datetime | None = None) -> PreviewPlan:
    """The alert of ``report_id``, or the next digest of the list ``digest`` (``spec`` when it
    is a list; ``due``: what is due for it; ``start``: when it started getting reports). An
    alert with ``spec`` is previewed as that list's readers get it: its title, footer,
    languages, policy, review rule and summary length."""
    title: str | dict[str, str] = default_title
    policy, budget, note, review = default_policy, None, None, ReviewRule.FLAGGED
    if spec is not None:
        title, policy = spec.titles, spec.policy
        budget = (spec.summary_sentences, spec.summary_words)
        review = spec.review
        languages = [language for language in languages if language in spec.languages]
        if not languages:
            raise NewsletterError(f"{spec.name} is not sent in that language",
                                  hint=f"its languages: {', '.join(spec.languages)}")
    if report_id is not None:
        ids, kind = [store.reports.get(report_id).id], "alert"
        name = f"report-{report_id}" + (f".{spec.name}" if spec is not None else "")
    else:
        kind, name = "digest", f"digest-{digest}"
        ids, note = digest_selection(spec, due, store.reports.newest(), limit, start)
    planned = plan_issue(store, ids, kind=kind, languages=languages, policy=policy,
                         list_title=title, base_url=base_url,
                         issue_date=spec.local_date(now) if spec else now.date(),
                         summary_budget=budget, review=review)
    list_name = spec.name if spec is not None else (digest or "alerts")
    return PreviewPlan(name, list_name, spec.title if spec else default_title, planned, note)


def write_preview(plan: PreviewPlan, renderer: Renderer, builder: MessageBuilder, folder: Path,
                  now: datetime) -> list[PreviewFile]:
    """Write each language's files into ``folder``; returns them in order."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for language, issue in plan.planned.mails.items():
        rendered = renderer.render(issue)
        stem = f"{plan.name}.{language}"
        message = builder.preview(builder.template(rendered, plan.list_name, date=now), stem)
        text_only = builder.preview(builder.template(rendered, plan.list_name, date=now,
                                                     format="text"), stem)
        plain, html_text = body_parts(message)
        for kind, suffix, data in (("html", "html", html_text.encode("utf-8")),
                                   ("text", "txt", plain.encode("utf-8")),
                                   ("eml", "eml", message),
                                   ("text-eml", "text.eml", text_only)):
            path = folder / f"{stem}.{suffix}"
            path.write_bytes(data)
            written.append(PreviewFile(language, kind, path))
    return written
