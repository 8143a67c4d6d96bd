"""The review pages of the web app: log in, the queue, a side-by-side editor per edition with
the flags marked and the mail as its readers would get it, approve and reject (I/O).

Every page here needs a session: a reviewer logs in with a name and password (argon2id
hashes, :mod:`newsletter.reviewers`, set with ``newsletter reviewers add``); the session
cookie is random, HttpOnly, SameSite=Strict (Secure when the app is served over HTTPS) and
expires after :data:`SESSION_HOURS`; only its hash is stored, and a new password or a removed
reviewer ends every session of theirs. Every form carries a CSRF token (the login form too,
bound to a cookie of its own), and a POST without it changes nothing. Failed logins are
counted by a hash of the name and by client (``[web] trusted_proxies`` says whose
X-Forwarded-For is believed): after :data:`MAX_FAILURES` in :data:`FAILURE_WINDOW` the login
answers 429. At most :data:`LOGINS_AT_ONCE` logins are checked at once; more answer 429 at
once, and password hashing waits for a core (:mod:`newsletter.reviewers`), so the other pages
and ``/healthz`` never wait behind it. The public pages (archive, unsubscribe, confirm) are
apart: their signed links give no access here.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta

from markupsafe import Markup
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from newsletter.errors import NewsletterError
from newsletter.issues.plan import plan_issue
from newsletter.lists.spec import Policy, ReviewRule
from newsletter.mail.compose import body_parts
from newsletter.reviewers import (
    MAX_NAME,
    MAX_PASSWORD,
    PasswordsBusy,
    Session,
    check_password,
    login_subject,
)
from newsletter.store import Store
from newsletter.translate.core import Flag
from newsletter.translate.review import (
    approve,
    current_text,
    edit,
    edition_to_review,
    reject,
    waiting,
)
from newsletter.web.context import WebContext, context_of
from newsletter.web.edge import FormError, client_of, read_form

COOKIE = "newsletter_review"
LOGIN_COOKIE = "newsletter_login"
SESSION_HOURS = 8
MAX_FAILURES = 5
FAILURE_WINDOW = timedelta(minutes=15)
LOGINS_AT_ONCE = 8
_LOGINS = threading.BoundedSemaphore(LOGINS_AT_ONCE)
_LOGIN_FIELDS = {"name": MAX_NAME, "password": MAX_PASSWORD, "csrf": 200}
_EDIT_FIELDS = {"csrf": 200, "action": 20, "title": 2_000, "summary": 20_000, "reason": 2_000}

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


# -- logging in ----------------------------------------------------------------------------------


def _login_token(web: WebContext, cookie: str) -> str:
    """The login form's CSRF token: bound to the browser's login cookie by the signing key,
    so another site can neither read nor forge it."""
    key = web.links.secrets[0].encode("utf-8") if web.links.secrets else b"review"
    return hmac.new(key, b"login:" + cookie.encode("utf-8"), hashlib.sha256).hexdigest()


def _login_page(web: WebContext, message: str = "", status_code: int = 200,
                cookie: str | None = None) -> HTMLResponse:
    cookie = cookie or secrets.token_urlsafe(32)
    response = web.page("web/login.html", "en", status_code=status_code, page_title="Log in",
                        message=message, csrf=_login_token(web, cookie))
    response.set_cookie(LOGIN_COOKIE, cookie, max_age=3600, httponly=True, samesite="strict",
                        secure=web.secure_cookies, path="/review")
    return response


def login_form(request: Request) -> Response:
    return _login_page(context_of(request))


async def login(request: Request) -> Response:
    web = context_of(request)
    try:
        fields = await read_form(request, _LOGIN_FIELDS)
    except FormError as exc:
        return _login_page(web, f"{exc}.", 400)
    cookie = request.cookies.get(LOGIN_COOKIE, "")
    if not cookie or not hmac.compare_digest(fields.get("csrf", ""), _login_token(web, cookie)):
        return _login_page(web, "The form has expired: log in again.", 403)
    if not _LOGINS.acquire(blocking=False):
        return _login_page(web, "Too many logins at once: try again in a moment.", 429, cookie)
    try:
        return await run_in_threadpool(_check_login, request, web, fields, cookie)
    finally:
        _LOGINS.release()


def _check_login(request: Request, web: WebContext, fields: dict[str, str],
                 cookie: str) -> Response:
    name, password = fields.get("name", "").strip(), fields.get("password", "")
    client = f"client:{client_of(request, web.trusted_proxies)}"
    subject = login_subject(name)
    with web.instance.open_store() as store:
        now = store.clock()()
        since = now - FAILURE_WINDOW
        if max(store.reviewers.failures_since(subject, since),
               store.reviewers.failures_since(client, since)) >= MAX_FAILURES:
            return _login_page(web, "Too many failed logins: wait a quarter of an hour.", 429,
                               cookie)
        stored = store.reviewers.password_hash(name) if name else None
        try:
            accepted = check_password(stored, password)
        except PasswordsBusy:
            return _login_page(web, "The server is busy: try again in a moment.", 503, cookie)
        if not accepted:
            store.reviewers.failed([subject, client], now)
            return _login_page(web, "Wrong name or password.", 401, cookie)
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        store.reviewers.open_session(token, name, csrf, now,
                                     now + timedelta(hours=SESSION_HOURS))
    response = RedirectResponse("/review", status_code=303)
    response.set_cookie(COOKIE, token, max_age=SESSION_HOURS * 3600, httponly=True,
                        samesite="strict", secure=web.secure_cookies, path="/review")
    response.delete_cookie(LOGIN_COOKIE, path="/review")
    return response


# -- pages behind the login --------------------------------------------------------------------


def _session(request: Request, store: Store) -> Session | None:
    token = request.cookies.get(COOKIE, "")
    return store.reviewers.session(token, store.clock()()) if token else None


def _guarded_get(page: Callable[[Request, WebContext, Store, Session], Response]
                 ) -> Callable[[Request], Response]:
    """A page behind the login (GET): no session, to the login page."""
    def endpoint(request: Request) -> Response:
        web = context_of(request)
        with web.instance.open_store() as store:
            session = _session(request, store)
            if session is None:
                return RedirectResponse("/review/login", status_code=303)
            return page(request, web, store, session)
    return endpoint


def _guarded_post(action: Callable[[Request, WebContext, Store, Session, dict[str, str]],
                                   Response], lengths: dict[str, int]
                  ) -> Callable[[Request], Awaitable[Response]]:
    """A form behind the login (POST): no session, 401; no matching CSRF token, 403."""
    async def endpoint(request: Request) -> Response:
        web = context_of(request)
        try:
            fields = await read_form(request, lengths)
        except FormError as exc:
            return HTMLResponse(f"{exc}", status_code=400)

        def run() -> Response:
            with web.instance.open_store() as store:
                session = _session(request, store)
                if session is None:
                    return HTMLResponse("log in first", status_code=401)
                if not hmac.compare_digest(fields.get("csrf", ""), session.csrf):
                    return HTMLResponse("the form has expired: reload the page",
                                        status_code=403)
                return action(request, web, store, session, fields)
        return await run_in_threadpool(run)
    return endpoint


def _logout(request: Request, web: WebContext, store: Store, session: Session,
            fields: dict[str, str]) -> Response:
    store.reviewers.close_session(request.cookies.get(COOKIE, ""))
    response = RedirectResponse("/review/login", status_code=303)
    response.delete_cookie(COOKIE, path="/review")
    return response


def _queue(request: Request, web: WebContext, store: Store, session: Session) -> Response:
    rules = {name: spec.review for name, spec in web.instance.lists_of(store).all().items()}
    return web.page("web/review_queue.html", "en", page_title="Review",
                    reviewer=session.reviewer, csrf=session.csrf,
                    entries=waiting(store, rules))


def _editor(request: Request, web: WebContext, store: Store, session: Session) -> Response:
    report_id = int(request.path_params["report_id"])
    language = request.path_params["language"]
    if language not in web.languages:
        return HTMLResponse("unknown language", status_code=404)
    try:
        edition = edition_to_review(store, report_id, language)
    except NewsletterError as exc:
        return HTMLResponse(exc.message, status_code=404)
    settings = web.instance.settings
    stored = store.reports.get(report_id)
    source_summary = store.summaries.of(report_id) or ()
    title, summary = current_text(edition)
    planned = plan_issue(store, [report_id], kind="alert", languages=[language],
                         policy=Policy.HOLD, list_title=settings.mail.list_title,
                         base_url=settings.web.base_url,
                         issue_date=store.clock()().date(), review=ReviewRule.NONE,
                         as_approved=True)
    mail_html = ""
    if language in planned.mails:
        rendered = web.renderer.render(planned.mails[language])
        raw = web.builder.preview(web.builder.template(rendered, "preview",
                                                       date=store.clock()()), "preview")
        mail_html = body_parts(raw)[1]
    needles = mentioned(edition.flags)
    machine = [edition.title or "", *(edition.summary or ())]
    return web.page("web/review_edit.html", "en", page_title=f"Review report {report_id}",
                    reviewer=session.reviewer, csrf=session.csrf, report_id=report_id,
                    target_language=language, source_language=stored.report.language,
                    source_title=stored.report.title, source_summary=list(source_summary),
                    title=title, summary=list(summary), flags=edition.flags,
                    source_marked=[marked(t, needles) for t in
                                   (stored.report.title, *source_summary)],
                    machine_marked=[marked(t, needles) for t in machine],
                    state=edition.review.state.value if edition.review
                    else "machine", mail_html=mail_html)


def _act(request: Request, web: WebContext, store: Store, session: Session,
         fields: dict[str, str]) -> Response:
    report_id = int(request.path_params["report_id"])
    language = request.path_params["language"]
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
            approve(store, report_id, language, session.reviewer, now,
                    web.instance.glossary())
        elif action == "reject":
            reject(store, report_id, language, fields.get("reason", "") or "rejected",
                   session.reviewer, now)
        else:
            return HTMLResponse("unknown action", status_code=400)
    except NewsletterError as exc:
        return HTMLResponse(exc.message, status_code=404)
    return RedirectResponse(f"/review/{report_id}/{language}", status_code=303)


ROUTES = [
    Route("/review/login", login_form, methods=["GET"]),
    Route("/review/login", login, methods=["POST"]),
    Route("/review/logout", _guarded_post(_logout, {"csrf": 200}), methods=["POST"]),
    Route("/review", _guarded_get(_queue)),
    Route("/review/{report_id:id}/{language}", _guarded_get(_editor), methods=["GET"]),
    Route("/review/{report_id:id}/{language}", _guarded_post(_act, _EDIT_FIELDS),
          methods=["POST"]),
]
