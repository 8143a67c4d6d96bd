"""The review pages of the web app: log in, the queue, a side-by-side editor per edition with
the flags marked and the mail as its readers would get it, approve and reject (I/O).

Every page here needs a session: a reviewer logs in with a name and password (argon2id
hashes, set with ``newsletter reviewers add``); the session cookie is random, HttpOnly,
SameSite=Strict (Secure when the app is served over HTTPS) and expires after
:data:`SESSION_HOURS`; only its hash is stored. Every form carries the session's CSRF token,
and a POST without it changes nothing. Failed logins are counted by name and by client:
after :data:`MAX_FAILURES` in :data:`FAILURE_WINDOW` the login answers 429. The public pages
(archive, unsubscribe, confirm) are apart: their signed links give no access here.
"""

from __future__ import annotations

import hmac
import re
import secrets
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from urllib.parse import parse_qs

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from newsletter.app import Instance
from newsletter.errors import NewsletterError
from newsletter.issues.plan import plan_issue
from newsletter.mail.compose import body_parts
from newsletter.store import Store
from newsletter.store.reviewers import Session
from newsletter.translate.core import Flag
from newsletter.translate.editions import Policy, ReviewRule
from newsletter.translate.review import (
    approve,
    current_text,
    edit,
    edition_to_review,
    reject,
    waiting,
)

COOKIE = "newsletter_review"
SESSION_HOURS = 8
MAX_FAILURES = 5
FAILURE_WINDOW = timedelta(minutes=15)
HASHER = PasswordHasher()


def hash_password(password: str) -> str:
    return HASHER.hash(password)


def check_password(stored: str | None, password: str) -> bool:
    if stored is None:
        HASHER.hash(password)  # as slow for an unknown name as for a wrong password
        return False
    try:
        return HASHER.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


_MENTIONED = re.compile(r"\d[\d.,\u00a0\u202f]*\d|\d|«[^»]+»|\"[^\"]+\"|'[^']+'")


def mentioned(flags: Sequence[Flag]) -> list[str]:
    """What the flags' details point at (numbers, quoted words), to mark in the texts."""
    found: list[str] = []
    for flag in flags:
        for match in _MENTIONED.findall(flag.detail):
            needle = match.strip("«»\"'")
            if needle and needle not in found:
                found.append(needle)
    return found


def marked(text: str, needles: Sequence[str]) -> Markup:
    """``text`` escaped, with every occurrence of ``needles`` in <mark>."""
    if not needles:
        return Markup.escape(text)
    pattern = re.compile("|".join(re.escape(n) for n in sorted(needles, key=len, reverse=True)))
    pieces, cursor = [], 0
    for match in pattern.finditer(text):
        pieces += [Markup.escape(text[cursor:match.start()]),
                   Markup("<mark>%s</mark>") % match.group()]
        cursor = match.end()
    pieces.append(Markup.escape(text[cursor:]))
    return Markup("").join(pieces)


def review_routes(instance: Instance, page: Callable[..., HTMLResponse]) -> list[Route]:
    """The routes under /review, rendered with the web app's ``page``."""
    settings = instance.settings
    secure = settings.web.base_url.startswith("https://")
    languages = list(settings.translate.languages)
    builder = instance.message_builder(signed=False, mail=instance.mail_settings)

    async def form(request: Request) -> dict[str, str]:
        body = (await request.body()).decode("utf-8", errors="replace")
        return {k: v[0] for k, v in parse_qs(body, keep_blank_values=True).items()}

    def session_of(request: Request, store: Store) -> tuple[str, Session] | None:
        token = request.cookies.get(COOKIE, "")
        found = store.reviewers.session(token, store.clock()()) if token else None
        return None if found is None else (token, found)

    def login_page(message: str = "", status_code: int = 200) -> HTMLResponse:
        return page("web/login.html", "en", status_code=status_code, page_title="Log in",
                    message=message)

    Handler = Callable[[Request, Store, Session], Awaitable[Response]]

    def guarded(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        """No session: to the login page (GET) or 401 (POST). A POST must carry the
        session's CSRF token."""
        async def endpoint(request: Request) -> Response:
            with instance.open_store() as store:
                found = session_of(request, store)
                if found is None:
                    if request.method == "POST":
                        return HTMLResponse("log in first", status_code=401)
                    return RedirectResponse("/review/login", status_code=303)
                _, session = found
                if request.method == "POST":
                    fields = await form(request)
                    if not hmac.compare_digest(fields.get("csrf", ""), session.csrf):
                        return HTMLResponse("the form has expired: reload the page",
                                            status_code=403)
                    request.state.fields = fields
                return await handler(request, store, session)
        return endpoint

    async def login(request: Request) -> Response:
        if request.method == "GET":
            return login_page()
        fields = await form(request)
        name, password = fields.get("name", "").strip(), fields.get("password", "")
        client = f"client:{request.client.host if request.client else '?'}"
        with instance.open_store() as store:
            now = store.clock()()
            since = now - FAILURE_WINDOW
            if max(store.reviewers.failures_since(f"name:{name}", since),
                   store.reviewers.failures_since(client, since)) >= MAX_FAILURES:
                return login_page("Too many failed logins: wait a quarter of an hour.", 429)
            if not check_password(store.reviewers.password_hash(name), password):
                store.reviewers.failed([f"name:{name}", client], now)
                return login_page("Wrong name or password.", 401)
            token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
            store.reviewers.open_session(token, name, csrf, now,
                                         now + timedelta(hours=SESSION_HOURS))
        response = RedirectResponse("/review", status_code=303)
        response.set_cookie(COOKIE, token, max_age=SESSION_HOURS * 3600, httponly=True,
                            samesite="strict", secure=secure, path="/review")
        return response

    async def logout(request: Request, store: Store, session: Session) -> Response:
        store.reviewers.close_session(request.cookies.get(COOKIE, ""))
        response = RedirectResponse("/review/login", status_code=303)
        response.delete_cookie(COOKIE, path="/review")
        return response

    async def queue(request: Request, store: Store, session: Session) -> Response:
        rules = {name: ReviewRule(spec.review) for name, spec in instance.lists(store).items()}
        return page("web/review_queue.html", "en", page_title="Review", reviewer=session.reviewer,
                    csrf=session.csrf, entries=waiting(store, rules))

    async def editor(request: Request, store: Store, session: Session) -> Response:
        report_id = int(request.path_params["report_id"])
        language = request.path_params["language"]
        if language not in languages:
            return HTMLResponse("unknown language", status_code=404)
        try:
            edition = edition_to_review(store, report_id, language)
        except NewsletterError as exc:
            return HTMLResponse(exc.message, status_code=404)
        stored = store.reports.get(report_id)
        source_summary = store.summaries.of(report_id) or ()
        title, summary = current_text(edition)
        planned = plan_issue(store, [report_id], kind="alert", languages=[language],
                             policy=Policy.HOLD, list_title=settings.mail.list_title,
                             base_url=settings.web.base_url,
                             issue_date=store.clock()().date(), review=ReviewRule.NONE)
        mail_html = ""
        if language in planned.mails:
            rendered = instance.renderer().render(planned.mails[language])
            raw = builder.preview(builder.template(rendered, "preview",
                                                   date=store.clock()()), "preview")
            mail_html = body_parts(raw)[1]
        needles = mentioned(edition.flags)
        machine = [edition.title or "", *(edition.summary or ())]
        return page("web/review_edit.html", "en", page_title=f"Review report {report_id}",
                    reviewer=session.reviewer, csrf=session.csrf, report_id=report_id,
                    target_language=language, source_language=stored.report.language,
                    source_title=stored.report.title, source_summary=list(source_summary),
                    title=title, summary=list(summary), flags=edition.flags,
                    source_marked=[marked(t, needles) for t in
                                   (stored.report.title, *source_summary)],
                    machine_marked=[marked(t, needles) for t in machine],
                    state=edition.review.state.value if edition.review
                    else "machine", mail_html=mail_html)

    async def act(request: Request, store: Store, session: Session) -> Response:
        report_id = int(request.path_params["report_id"])
        language = request.path_params["language"]
        fields: dict[str, str] = request.state.fields
        action, now = fields.get("action", ""), store.clock()()
        try:
            if action == "save":
                edit(store, report_id, language, fields.get("title", ""),
                     fields.get("summary", "").splitlines(), session.reviewer, now)
            elif action == "approve":
                title, summary = fields.get("title"), fields.get("summary")
                if title is not None and summary is not None:
                    edit(store, report_id, language, title, summary.splitlines(),
                         session.reviewer, now)
                approve(store, report_id, language, session.reviewer, now, instance.glossary())
            elif action == "reject":
                reject(store, report_id, language, fields.get("reason", "") or "rejected",
                       session.reviewer, now)
            else:
                return HTMLResponse("unknown action", status_code=400)
        except NewsletterError as exc:
            return HTMLResponse(exc.message, status_code=404)
        return RedirectResponse(f"/review/{report_id}/{language}", status_code=303)

    return [
        Route("/review/login", login, methods=["GET", "POST"]),
        Route("/review/logout", guarded(logout), methods=["POST"]),
        Route("/review", guarded(queue)),
        Route("/review/{report_id:int}/{language}", guarded(editor)),
        Route("/review/{report_id:int}/{language}", guarded(act), methods=["POST"]),
    ]
