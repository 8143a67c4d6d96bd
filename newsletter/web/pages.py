"""The public pages: the archive of sent issues, one issue as its readers got it, a report in
the reader's language, and previews of an alert and a digest (I/O: reads the database).

Each is a plain function that Starlette runs in its thread pool: the database is read there,
never on the event loop.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from newsletter.errors import NotFound
from newsletter.issues.model import ArchivedIssue
from newsletter.issues.plan import PlannedIssue, fallback_reason, plan_issue
from newsletter.languages import LANGUAGES
from newsletter.lists.spec import ListSpec, Policy
from newsletter.mail.compose import body_parts
from newsletter.mail.render import Rendered
from newsletter.reports.model import StoredReport
from newsletter.store import Store
from newsletter.translate.editions import EditionStatus, EditionView, edition_view
from newsletter.web.context import WebContext, context_of


def language_of(request: Request, web: WebContext) -> str:
    wanted = request.query_params.get("lang", web.languages[0])
    return wanted if wanted in web.languages else web.languages[0]


def shown(web: WebContext, rendered: Rendered, list_name: str,
          date: datetime) -> tuple[str, str]:
    """The text and HTML of a rendered mail as the made-up preview reader gets it: its links
    change no subscription."""
    raw = web.builder.preview(web.builder.template(rendered, list_name, date=date), "preview")
    return body_parts(raw)


def index(request: Request) -> Response:
    """The archive: each list's issues, newest first, and the recent reports."""
    web = context_of(request)
    language = language_of(request, web)
    instance = web.instance
    with instance.open_store() as store:
        specs = list(instance.lists_of(store).all().values())
        archives = {spec.name: store.issues.archive(spec.name) for spec in specs}
        alerted = sorted({issue.report_ids[0] for issues in archives.values()
                          for issue in issues if issue.kind == "alert" and issue.report_ids})
        stored = store.reports.get_many(alerted)
        editions = store.editions.of_many(alerted)
        reports = store.reports.newest(limit=50)

    def headline(spec: ListSpec, issue: ArchivedIssue) -> str | None:
        """An alert's report title as the list's readers of this language got it."""
        if issue.kind != "alert" or not issue.report_ids or issue.report_ids[0] not in stored:
            return None
        found = stored[issue.report_ids[0]]
        return edition_view(found, editions.get(found.id, {}).get(language), language,
                            policy=spec.policy, review=spec.review).title

    lists = [{"name": spec.name, "title": spec.title_in(language),
              "feed": language in spec.languages, "issues": [
        {"id": issue.id, "kind": issue.kind, "reports": len(issue.report_ids),
         "date": spec.local_date(issue.created_at), "headline": headline(spec, issue),
         "languages": ordered(issue.languages)}
        for issue in archives[spec.name]]} for spec in specs]
    countries = {r.id: [instance.gazetteer.name(code, language) for code in r.places
                        if "-" not in code] for r in reports}
    feeds = [{"href": f"/feeds/{spec.name}/{language}.atom", "title": spec.title_in(language)}
             for spec in specs if language in spec.languages]
    return web.page("web/index.html", language,
                    page_title=web.renderer.gettext(language)("Archive"), lists=lists,
                    reports=reports, countries=countries, feeds=feeds)


def issue_page(request: Request) -> Response:
    """One sent issue in one of its languages, as its readers got it."""
    web = context_of(request)
    issue_id = int(request.path_params["issue_id"])
    with web.instance.open_store() as store:
        issue = store.issues.archived(issue_id)
        rendered_in = ordered(issue.languages)
        language = request.query_params.get("lang") or next(iter(rendered_in), "")
        bodies = store.issues.bodies(issue_id)
        if language not in bodies:
            raise NotFound(f"issue {issue_id} has no mail in {language}")
        spec = web.instance.lists_of(store).all().get(issue.list_name)
        reports = [{"id": stored.id, "title": view(store, stored, language, web.policy).title}
                   for stored in store.reports.get_many(issue.report_ids).values()]
    rendered = Rendered(**json.loads(bodies[language]))
    text, html = shown(web, rendered, issue.list_name, issue.created_at)
    return web.page("web/issue.html", language, page_title=rendered.subject,
                    issue_languages=rendered_in, subject=rendered.subject, kind=issue.kind,
                    list_title=spec.title_in(language) if spec else issue.list_name,
                    date=(spec.local_date(issue.created_at) if spec
                          else issue.created_at.date()),
                    reports=reports, email_html=html, email_text=text)


def _preview(web: WebContext, planned: PlannedIssue, language: str, title: str,
             notes: list[dict[str, object]]) -> Response:
    mail = planned.mails.get(language)
    context: dict[str, Any] = {"page_title": title, "notes": notes,
                               "held": planned.held.get(language, []),
                               "email_html": "", "email_text": "", "subject": ""}
    if mail is not None:
        rendered = web.renderer.render(mail)
        text, html = shown(web, rendered, "preview", datetime.now(UTC))
        context.update(subject=rendered.subject, email_html=html, email_text=text)
    return web.page("web/preview.html", language, **context)


def preview_alert(request: Request) -> Response:
    web = context_of(request)
    language = language_of(request, web)
    report_id = int(request.path_params["report_id"])
    with web.instance.open_store() as store:
        stored = store.reports.get(report_id)
        planned = plan(web, store, [report_id], "alert", language)
        notes = [note(store, stored, language, web.policy)]
    return _preview(web, planned, language, f"Alert {report_id}", notes)


def preview_digest(request: Request) -> Response:
    web = context_of(request)
    language = language_of(request, web)
    with web.instance.open_store() as store:
        reports = store.reports.newest(limit=10)
        planned = plan(web, store, [r.id for r in reports], "digest", language)
        notes = [note(store, r, language, web.policy) for r in reports]
    if not reports:
        return PlainTextResponse("no reports yet", status_code=404)
    return _preview(web, planned, language, "Digest of the latest reports", notes)


def report_page(request: Request) -> Response:
    """A report in the reader's language: the machine's translation, named as such with its
    model and a link to the original, or the original with the reason it is shown
    (:func:`fallback_reason`, in the mail's words), and the places it is about."""
    web = context_of(request)
    language = language_of(request, web)
    report_id = int(request.path_params["report_id"])
    with web.instance.open_store() as store:
        stored = store.reports.get(report_id)
        shown_view = view(store, stored, language, web.policy)
    report = stored.report
    status, reason = "original", ""
    summary: tuple[str, ...] = ()
    if shown_view.body_translated:
        status = "machine"
    elif shown_view.reviewed:
        # The reviewed title and summary, as the mail gave them, above the original text.
        status, summary = "reviewed", shown_view.summary
    elif shown_view.status is not EditionStatus.ORIGINAL:
        flags = shown_view.flags
        if shown_view.status is EditionStatus.TRANSLATED and shown_view.edition is not None:
            flags = shown_view.edition.body_flags  # the title passed, the body did not
        status, reason = "fallback", fallback_reason(flags) if flags else "no_model"
    title = (shown_view.title if shown_view.body_translated or shown_view.reviewed
             else report.title)
    return web.page("web/report.html", language, page_title=title, title=title,
                    summary=summary,
                    source=report.source, published=report.published,
                    paragraphs=shown_view.body.split("\n\n"), status=status, reason=reason,
                    original_language=report.language, model=shown_view.model,
                    reviewed=shown_view.reviewed,
                    places=[web.instance.gazetteer.name(code, language)
                            for code in stored.places])


def plan(web: WebContext, store: Store, ids: list[int], kind: str,
         language: str) -> PlannedIssue:
    settings = web.instance.settings
    return plan_issue(store, ids, kind=kind, languages=[language], policy=web.policy,
                      list_title=settings.mail.list_title, base_url=settings.web.base_url,
                      issue_date=datetime.now(UTC).date())


def view(store: Store, stored: StoredReport, language: str, policy: Policy) -> EditionView:
    """What a reader of ``language`` gets of a report (:func:`edition_view`)."""
    return edition_view(stored, store.editions.of(stored.id).get(language), language,
                        policy=policy)


def note(store: Store, stored: StoredReport, language: str,
         policy: Policy) -> dict[str, object]:
    """One report's status in ``language``, with its flags, for the preview page."""
    found = view(store, stored, language, policy)
    return {"title": stored.report.title, "status": found.status.value,
            "model": found.edition.model if found.edition else None,
            "flags": [f.as_dict() for f in found.flags]}


def ordered(languages: tuple[str, ...]) -> list[str]:
    """``languages`` in the order newsletter lists its languages."""
    return sorted(languages, key=lambda code: (LANGUAGES + (code,)).index(code))
