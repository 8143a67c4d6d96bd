"""The local web app (Starlette, served by uvicorn): the archive of sent issues and of reports,
and previews of every issue in every language with their quality flags (I/O).

Pages are rendered with the same template set and catalogs as the mails. The database is opened
per request, so the app always shows what is stored now; the public pages only read it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Route

from newsletter.app import Instance
from newsletter.errors import NotFound, TokenError
from newsletter.issues.plan import PlannedIssue, fallback_reason, plan_issue
from newsletter.languages import LANGUAGES
from newsletter.mail.compose import body_parts
from newsletter.mail.render import Rendered
from newsletter.reports.model import StoredReport
from newsletter.review_web import review_routes
from newsletter.store import Store
from newsletter.subscribers.core import CONFIRM, TEST, UNSUBSCRIBE, verify_token
from newsletter.translate.editions import EditionStatus, EditionView, Policy, edition_view


def create_app(instance: Instance) -> Starlette:
    """The web app of ``instance``."""
    settings = instance.settings
    renderer = instance.renderer()
    languages = list(settings.translate.languages)
    policy = Policy(settings.translate.policy)
    builder = instance.message_builder(signed=False, mail=instance.mail_settings)

    def language_of(request: Request) -> str:
        wanted = request.query_params.get("lang", languages[0])
        return wanted if wanted in languages else languages[0]

    def page(name: str, language: str, status_code: int = 200,
             **context: object) -> HTMLResponse:
        return HTMLResponse(renderer.page(name, language, languages=languages, **context),
                            status_code=status_code)

    def shown(rendered: Rendered, list_name: str, date: datetime) -> tuple[str, str]:
        """The text and HTML of a rendered mail as the made-up preview reader gets it: its
        links change no subscription."""
        raw = builder.preview(builder.template(rendered, list_name, date=date), "preview")
        return body_parts(raw)

    async def index(request: Request) -> Response:
        """The archive: each list's issues, newest first, and the recent reports."""
        language = language_of(request)
        with instance.open_store() as store:
            lists = [{"name": spec.name, "title": spec.title_in(language), "issues": [
                {"id": issue.id, "kind": issue.kind, "reports": len(issue.report_ids),
                 "date": spec.local_date(issue.created_at),
                 "languages": _ordered(issue.languages)}
                for issue in store.issues.archive(spec.name)]}
                for spec in instance.lists(store).values()]
            reports = store.reports.newest(limit=50)
        countries = {r.id: [instance.gazetteer.name(code, language) for code in r.places
                            if "-" not in code] for r in reports}
        return page("web/index.html", language,
                    page_title=renderer.gettext(language)("Archive"), lists=lists,
                    reports=reports, countries=countries)

    async def issue_page(request: Request) -> Response:
        """One sent issue in one of its languages, as its readers got it."""
        issue_id = int(request.path_params["issue_id"])
        with instance.open_store() as store:
            issue = store.issues.archived(issue_id)
            rendered_in = _ordered(issue.languages)
            language = request.query_params.get("lang") or next(iter(rendered_in), "")
            bodies = store.issues.bodies(issue_id)
            if language not in bodies:
                raise NotFound(f"issue {issue_id} has no mail in {language}")
            spec = instance.lists(store).get(issue.list_name)
            reports = [{"id": stored.id, "title": _view(store, stored, language, policy).title}
                       for stored in store.reports.get_many(issue.report_ids).values()]
        rendered = Rendered(**json.loads(bodies[language]))
        text, html = shown(rendered, issue.list_name, issue.created_at)
        return page("web/issue.html", language, page_title=rendered.subject,
                    issue_languages=rendered_in, subject=rendered.subject, kind=issue.kind,
                    list_title=spec.title_in(language) if spec else issue.list_name,
                    date=(spec.local_date(issue.created_at) if spec
                          else issue.created_at.date()),
                    reports=reports, email_html=html, email_text=text)

    def preview(request: Request, planned: PlannedIssue, language: str, title: str,
                notes: list[dict[str, object]]) -> Response:
        mail = planned.mails.get(language)
        context: dict[str, Any] = {"page_title": title, "notes": notes,
                                      "held": planned.held.get(language, []),
                                      "email_html": "", "email_text": "", "subject": ""}
        if mail is not None:
            rendered = renderer.render(mail)
            text, html = shown(rendered, "preview", datetime.now(UTC))
            context.update(subject=rendered.subject, email_html=html, email_text=text)
        return page("web/preview.html", language, **context)

    async def preview_alert(request: Request) -> Response:
        language = language_of(request)
        report_id = int(request.path_params["report_id"])
        with instance.open_store() as store:
            stored = store.reports.get(report_id)
            planned = _plan(instance, store, [report_id], "alert", language, policy)
            notes = [_note(store, stored, language, policy)]
        return preview(request, planned, language, f"Alert {report_id}", notes)

    async def preview_digest(request: Request) -> Response:
        language = language_of(request)
        with instance.open_store() as store:
            reports = store.reports.newest(limit=10)
            planned = _plan(instance, store, [r.id for r in reports], "digest", language, policy)
            notes = [_note(store, r, language, policy) for r in reports]
        if not reports:
            return PlainTextResponse("no reports yet", status_code=404)
        return preview(request, planned, language, "Digest of the latest reports", notes)

    async def report_page(request: Request) -> Response:
        """A report in the reader's language: the machine's translation, named as such with
        its model and a link to the original, or the original with the reason it is shown
        (:func:`fallback_reason`, in the mail's words), and the places it is about."""
        language = language_of(request)
        report_id = int(request.path_params["report_id"])
        with instance.open_store() as store:
            stored = store.reports.get(report_id)
            view = _view(store, stored, language, policy)
        report = stored.report
        status, reason = "original", ""
        if view.body_translated:
            status = "machine"
        elif view.status is not EditionStatus.ORIGINAL:
            flags = view.flags
            if view.status is EditionStatus.TRANSLATED and view.edition is not None:
                flags = view.edition.body_flags  # the title passed, the body did not (or none)
            status, reason = "fallback", fallback_reason(flags) if flags else "no_model"
        title = view.title if view.body_translated else report.title
        return page("web/report.html", language, page_title=title, title=title,
                    source=report.source, published=report.published,
                    paragraphs=view.body.split("\n\n"), status=status, reason=reason,
                    original_language=report.language, model=view.model,
                    reviewed=view.reviewed,
                    places=[instance.gazetteer.name(code, language) for code in stored.places])

    def subscription_page(request: Request, purpose: str) -> Response:
        """GET shows the question; POST (a form, or RFC 8058's one-click
        ``List-Unsubscribe=One-Click`` from a mail client) carries it out at once. A test
        send's link (a token of the test purpose, on the unsubscribe page only) says that it
        was a test, in the test message's language, on GET and POST alike, and changes
        nothing."""
        token = request.path_params["token"]
        language = _accepted_language(request, languages)
        if token == "preview":
            return page("web/subscription.html", language, page_title="Preview",
                        state="preview")
        purposes = (UNSUBSCRIBE, TEST) if purpose == UNSUBSCRIBE else (purpose,)
        try:
            claim = verify_token(token, instance.signing_secrets(), datetime.now(UTC).date(),
                                 purposes=purposes)
            with instance.open_store() as store:
                spec = instance.lists(store).get(claim.list_name)
                title = spec.title if spec else claim.list_name
                if claim.subscriber_id is None:  # a test send: nothing to change
                    return page("web/subscription.html",
                                claim.language if claim.language in languages else language,
                                page_title=title, state="test", list_title=title)
                subscriber = store.subscribers.by_id(claim.subscriber_id)
                language = subscriber.language if subscriber.language in languages else language
                if request.method == "POST":
                    if purpose == UNSUBSCRIBE:
                        store.subscribers.unsubscribe(subscriber.id, claim.list_name,
                                                      _method(request), datetime.now(UTC))
                        state = "unsubscribed"
                    else:
                        confirmed = store.subscribers.confirm(subscriber.id, claim.list_name,
                                                              datetime.now(UTC))
                        active = store.subscribers.memberships(subscriber.id).get(
                            claim.list_name) == "active"
                        # Only what is true: a link whose invitation no longer stands (the
                        # reader left since, or was suppressed) confirms nothing.
                        state = "subscribed" if confirmed or active else "invalid"
                else:
                    state = ("confirm-unsubscribe" if purpose == UNSUBSCRIBE
                             else "confirm-subscription")
        except (TokenError, NotFound):
            return page("web/subscription.html", language, page_title="Invalid link",
                        state="invalid", status_code=400)
        return page("web/subscription.html", language, page_title=title, state=state,
                    list_title=title, email=subscriber.email,
                    status_code=400 if state == "invalid" else 200)

    async def unsubscribe(request: Request) -> Response:
        if request.method == "POST":
            await request.body()
        return subscription_page(request, UNSUBSCRIBE)

    async def confirm(request: Request) -> Response:
        return subscription_page(request, CONFIRM)

    async def health(request: Request) -> Response:
        return PlainTextResponse("ok")

    async def not_found(request: Request, exc: Exception) -> Response:
        return PlainTextResponse(str(exc), status_code=404)

    return Starlette(exception_handlers={NotFound: not_found}, routes=[
        *review_routes(instance, page),
        Route("/", index),
        Route("/issues/{issue_id:int}", issue_page),
        Route("/preview/alert/{report_id:int}", preview_alert),
        Route("/preview/digest", preview_digest),
        Route("/reports/{report_id:int}", report_page),
        Route("/unsubscribe/{token}", unsubscribe, methods=["GET", "POST"]),
        Route("/confirm/{token}", confirm, methods=["GET", "POST"]),
        Route("/healthz", health),
    ])


def _plan(instance: Instance, store: Store, ids: list[int], kind: str, language: str,
          policy: Policy) -> PlannedIssue:
    settings = instance.settings
    return plan_issue(store, ids, kind=kind, languages=[language], policy=policy,
                      list_title=settings.mail.list_title, base_url=settings.web.base_url,
                      issue_date=datetime.now(UTC).date())


def _view(store: Store, stored: StoredReport, language: str, policy: Policy) -> EditionView:
    """What a reader of ``language`` gets of a report (:func:`edition_view`)."""
    report = stored.report
    return edition_view(stored.id, report.language, report.title, (), report.body,
                        store.editions.of(stored.id).get(language), language, policy)


def _note(store: Store, stored: StoredReport, language: str, policy: Policy) -> dict[str, object]:
    """One report's status in ``language``, with its flags, for the preview page."""
    view = _view(store, stored, language, policy)
    return {"title": stored.report.title, "status": view.status.value,
            "model": view.edition.model if view.edition else None,
            "flags": [f.as_dict() for f in view.flags]}


def _ordered(languages: tuple[str, ...]) -> list[str]:
    """``languages`` in the order newsletter lists its languages."""
    return sorted(languages, key=lambda code: (LANGUAGES + (code,)).index(code))


def _accepted_language(request: Request, languages: list[str]) -> str:
    """The first of our languages in the browser's Accept-Language, else the first we have."""
    for part in request.headers.get("accept-language", "").split(","):
        code = part.split(";")[0].strip().lower()[:2]
        if code in languages:
            return code
    return languages[0]


def _method(request: Request) -> str:
    """How an unsubscription was asked for, for the record."""
    user_agent = request.headers.get("user-agent", "")[:80]
    return f"web ({user_agent})" if user_agent else "web"
