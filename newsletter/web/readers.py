"""The pages where readers help themselves (I/O): sign up (``/subscribe``), ask for the link
to their own page (``/manage``), that page (``/manage/TOKEN``: lists, languages, format, a
pause, a new address, leaving, their data) and the confirmation of a new address
(``/manage/address/TOKEN``). In the reader's language; plain HTML forms, no JavaScript.

Every form carries a token bound to the browser's form cookie by the signing key (CSRF); the
sign-up form has a field people leave empty (a robot that fills it is answered as everyone
is, and nothing happens). Signing up and asking for a link are throttled per client and per
address (:class:`~newsletter.web.edge.Throttle`, 429), and answer the same whatever the
address: nobody learns from them who is subscribed. The use cases are
:mod:`newsletter.subscribers.selfservice`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Mapping
from datetime import UTC, datetime, time

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from newsletter.errors import AddressError, LinkExpired, TokenError
from newsletter.languages import LANGUAGES
from newsletter.lists.spec import ListSpec
from newsletter.store import Store
from newsletter.subscribers import selfservice
from newsletter.subscribers.addresses import (
    FORMATS,
    MAX_NAME,
    Subscriber,
    check_subscriber,
    language_chain,
    normalise_address,
)
from newsletter.subscribers.tokens import ADDRESS, MANAGE, TokenClaim, verify_token
from newsletter.web.context import WebContext, context_of
from newsletter.web.edge import FormError, Throttle, client_of, read_form
from newsletter.web.links import PREVIEW_TOKEN, accepted_language

FORM_COOKIE = "newsletter_form"
_BY_CLIENT = Throttle(limit=10, window=600)  # sign-ups and link requests per client
_BY_ADDRESS = Throttle(limit=3, window=3600)  # … per address
_BY_PAGE = Throttle(limit=60, window=600)  # changes per reader's page
_BASE_FIELDS = {"csrf": 200, "email": 400, "name": MAX_NAME * 4, "language": 40,
                "second": 10, "third": 10, "format": 10, "website": 200, "action": 20,
                "until": 20, "confirm": 10}


class _Fields(dict[str, int]):
    """The lengths of a reader's form: its fixed fields, and a ``list:NAME`` or
    ``freq:NAME`` per list, whatever the lists are (they are checked against the lists
    once those are read, off the event loop)."""

    PER_LIST = ("list:", "freq:")

    def __contains__(self, name: object) -> bool:
        return super().__contains__(name) or (
            isinstance(name, str) and name.startswith(self.PER_LIST) and len(name) <= 70)

    def __missing__(self, name: str) -> int:
        return 10


_FORM = _Fields(_BASE_FIELDS)


def subscribe(request: Request) -> Response:
    """GET: the sign-up form (``?list=NAME`` ticks one list; ``?lang=`` its language)."""
    web = context_of(request)
    language = _language(request, web)
    public = _public(web)
    chosen = {request.query_params.get("list", "")[:63]} & set(public)
    return _form_page(web, request, "web/subscribe.html", language, state="form",
                      lists=public, chosen=chosen)


async def subscribe_post(request: Request) -> Response:
    web = context_of(request)
    try:
        fields: dict[str, str] | None = await read_form(request, _FORM)
    except FormError:
        fields = None
    return await run_in_threadpool(_sign_up, request, web, fields)


def _sign_up(request: Request, web: WebContext, fields: dict[str, str] | None) -> Response:
    """The lists are read here, in the thread pool, never on the event loop."""
    public = _public(web)
    if fields is None:
        return _Page(web, request, "web/subscribe.html", _language(request, web),
                     lists=public).show("form", 400, message="long")
    language = _chosen_language(fields.get("language"), _language(request, web))
    chosen = {name for name in public if fields.get(f"list:{name}")}
    page = _Page(web, request, "web/subscribe.html", language, lists=public, chosen=chosen,
                 fields=fields)
    if not _csrf_ok(web, request, fields):
        return page.show("form", 403, message="expired")
    if not _BY_CLIENT.allow(client_of(request, web.trusted_proxies)):
        return page.show("form", 429, message="busy")
    try:
        row = check_subscriber(fields.get("email", ""), fields.get("name"), language,
                               fields.get("format") if fields.get("format") in FORMATS
                               else None)
    except AddressError:
        return page.show("form", 400, message="address")
    if not chosen:
        return page.show("form", 400, message="lists")
    if not _BY_ADDRESS.allow(f"address:{row.email}"):
        return page.show("form", 429, message="busy")
    if not fields.get("website"):  # the field people do not see stays empty
        with web.instance.open_store() as store:
            selfservice.sign_up(store, public, row, sorted(chosen), mailer=_mailer(web, store),
                                forgotten=web.instance.forgotten(), now=store.clock()())
    return page.show("sent")


def manage_request(request: Request) -> Response:
    """GET: a form to be mailed the link to one's own page."""
    web = context_of(request)
    return _form_page(web, request, "web/manage.html", _language(request, web),
                      state="request")


async def manage_request_post(request: Request) -> Response:
    web = context_of(request)
    try:
        fields = await read_form(request, _BASE_FIELDS)
    except FormError:
        return _Page(web, request, "web/manage.html", _language(request, web)).show(
            "request", 400, message="long")
    return await run_in_threadpool(_mail_link, request, web, fields)


def _mail_link(request: Request, web: WebContext, fields: dict[str, str]) -> Response:
    language = _language(request, web)
    page = _Page(web, request, "web/manage.html", language, fields=fields)
    if not _csrf_ok(web, request, fields):
        return page.show("request", 403, message="expired")
    if not _BY_CLIENT.allow(client_of(request, web.trusted_proxies)):
        return page.show("request", 429, message="busy")
    try:
        address = normalise_address(fields.get("email", ""))
    except AddressError:
        return page.show("request", 400, message="address")
    if not _BY_ADDRESS.allow(f"link:{address}"):
        return page.show("request", 429, message="busy")
    with web.instance.open_store() as store:
        selfservice.mail_manage_link(store, address, mailer=_mailer(web, store),
                                     now=store.clock()())
    return page.show("sent")


def manage(request: Request) -> Response:
    """GET: the reader's own page (their token in the path)."""
    web = context_of(request)
    token = request.path_params["token"]
    if token == PREVIEW_TOKEN:
        return _Page(web, request, "web/manage.html", _language(request, web)).show("preview")
    with web.instance.open_store() as store:
        claim, failure = _claim(web, token, MANAGE, store.clock()())
        if failure or claim is None or claim.subscriber_id is None:
            return _failure_page(web, request, failure)
        subscriber = store.subscribers.find_id(claim.subscriber_id)
        if subscriber is None:
            return _failure_page(web, request, "invalid")
        return _reader_page(web, request, store, subscriber, message="")


async def manage_post(request: Request) -> Response:
    web = context_of(request)
    try:
        fields = await read_form(request, _FORM)
    except FormError:
        return _Page(web, request, "web/manage.html", _language(request, web)).show(
            "invalid", 400)
    return await run_in_threadpool(_change, request, web, fields)


def _change(request: Request, web: WebContext, fields: dict[str, str]) -> Response:
    token = request.path_params["token"]
    with web.instance.open_store() as store:
        now = store.clock()()
        claim, failure = _claim(web, token, MANAGE, now)
        if failure == "expired" and fields.get("action") == "renew" and claim is not None:
            # A reader whose link is too old asks for a fresh one, sent to their address.
            subscriber = (store.subscribers.find_id(claim.subscriber_id)
                          if claim.subscriber_id is not None else None)
            if subscriber is not None and _csrf_ok(web, request, fields):
                selfservice.mail_manage_link(store, subscriber.email, mailer=_mailer(web, store),
                                             now=now)
            return _Page(web, request, "web/manage.html",
                         subscriber.chain[0] if subscriber else _language(request, web)
                         ).show("sent")
        if failure or claim is None or claim.subscriber_id is None:
            return _failure_page(web, request, failure)
        subscriber = store.subscribers.find_id(claim.subscriber_id)
        if subscriber is None:
            return _failure_page(web, request, "invalid")
        if not _csrf_ok(web, request, fields):
            return _reader_page(web, request, store, subscriber, "expired", 403)
        if not _BY_PAGE.allow(f"page:{subscriber.id}"):
            return _reader_page(web, request, store, subscriber, "busy", 429)
        return _act(web, request, store, subscriber, fields, now)


def _act(web: WebContext, request: Request, store: Store, subscriber: Subscriber,
         fields: dict[str, str], now: datetime) -> Response:
    action = fields.get("action", "")
    via = selfservice.VIA
    if action == "lists":
        every = web.instance.lists_of(store).all()
        wanted = {name for name in every if fields.get(f"list:{name}")}
        selfservice.set_lists(store, subscriber, wanted,
                              {name: spec for name, spec in every.items() if spec.public}, now)
        for name in sorted(wanted):
            if f"freq:{name}" in fields:
                selfservice.set_frequency(store, subscriber, every[name],
                                          fields[f"freq:{name}"] or None, now)
    elif action == "languages":
        try:
            chain = language_chain(" ".join(fields.get(key, "") for key in
                                            ("language", "second", "third")))
        except AddressError:
            chain = ()
        if not chain:
            return _reader_page(web, request, store, subscriber, "languages", 400)
        store.readers.set_preferences(subscriber.id, chain=chain, via=via, now=now)
    elif action == "format" and fields.get("format") in FORMATS:
        store.readers.set_preferences(subscriber.id, fmt=fields["format"], via=via, now=now)
    elif action == "pause":
        try:
            until = datetime.combine(datetime.strptime(fields.get("until", ""), "%Y-%m-%d"),
                                     time(), tzinfo=UTC)
        except ValueError:
            return _reader_page(web, request, store, subscriber, "date", 400)
        if until <= now:
            return _reader_page(web, request, store, subscriber, "date", 400)
        store.readers.pause(subscriber.id, until, via, now)
    elif action == "resume":
        store.readers.pause(subscriber.id, None, via, now)
    elif action == "address":
        try:
            address = normalise_address(fields.get("email", ""))
        except AddressError:
            return _reader_page(web, request, store, subscriber, "address", 400)
        if not _BY_ADDRESS.allow(f"new:{address}"):
            return _reader_page(web, request, store, subscriber, "busy", 429)
        selfservice.ask_new_address(store, subscriber, address, mailer=_mailer(web, store),
                                    now=now)
        return _reader_page(web, request, store, subscriber, "address-sent")
    elif action == "leave":
        selfservice.leave(store, subscriber, now)
        return _Page(web, request, "web/manage.html", subscriber.chain[0]).show("left")
    elif action == "erase":
        forgotten = web.instance.forgotten()
        if fields.get("confirm") != "yes" or forgotten is None:
            return _reader_page(web, request, store, subscriber, "erase", 400)
        store.readers.erase(subscriber.id, forgotten.digest(subscriber.email), now)
        return _Page(web, request, "web/manage.html", subscriber.chain[0]).show("erased")
    else:
        return _reader_page(web, request, store, subscriber, "unknown", 400)
    fresh = store.subscribers.find_id(subscriber.id) or subscriber
    return _reader_page(web, request, store, fresh, "saved")


def manage_data(request: Request) -> Response:
    """GET: everything held about the reader, as a JSON download."""
    web = context_of(request)
    with web.instance.open_store() as store:
        claim, failure = _claim(web, request.path_params["token"], MANAGE, store.clock()())
        if failure or claim is None or claim.subscriber_id is None:
            return _failure_page(web, request, failure)
        data = store.readers.data(claim.subscriber_id)
    if not data:
        return _failure_page(web, request, "invalid")
    return Response(json.dumps(data, ensure_ascii=False, indent=2, default=str),
                    media_type="application/json", headers={
                        "Content-Disposition": 'attachment; filename="my-data.json"'})


def new_address(request: Request) -> Response:
    """GET: confirm a new address; POST: make it the reader's."""
    web = context_of(request)
    with web.instance.open_store() as store:
        now = store.clock()()
        claim, failure = _claim(web, request.path_params["token"], ADDRESS, now)
        if failure or claim is None or claim.subscriber_id is None:
            return _failure_page(web, request, failure)
        subscriber = store.subscribers.find_id(claim.subscriber_id)
        if subscriber is None:
            return _failure_page(web, request, "invalid")
        page = _Page(web, request, "web/manage.html", subscriber.chain[0],
                     address=claim.list_name, email=subscriber.email)
        if request.method != "POST":
            return page.show("address-confirm")
        if not store.readers.change_address(subscriber.id, claim.list_name,
                                            selfservice.VIA, now):
            return page.show("address-taken", 409)
        return page.show("address-done")


# -- what the endpoints share ----------------------------------------------------------------


class _Page:
    """One of these pages in ``language``, with a form token bound to the browser."""

    def __init__(self, web: WebContext, request: Request, name: str, language: str,
                 **context: object) -> None:
        self.web, self.request, self.name, self.language = web, request, name, language
        self.context = context

    def show(self, state: str, status_code: int = 200, **more: object) -> Response:
        cookie = self.request.cookies.get(FORM_COOKIE) or secrets.token_urlsafe(32)
        words = self.web.renderer.gettext(self.language)
        response = self.web.page(self.name, self.language, status_code=status_code,
                                 page_title=words("Your subscription"), state=state,
                                 csrf=_csrf(self.web, cookie), path=self.request.url.path,
                                 **{"message": "", "fields": {}, "lists": {},
                                    "chosen": set(), **self.context, **more})
        response.set_cookie(FORM_COOKIE, cookie, max_age=86_400, httponly=True,
                            samesite="strict", secure=self.web.secure_cookies, path="/")
        return response


def _form_page(web: WebContext, request: Request, name: str, language: str, *, state: str,
               **context: object) -> Response:
    return _Page(web, request, name, language, **context).show(state)


def _reader_page(web: WebContext, request: Request, store: Store, subscriber: Subscriber,
                 message: str, status_code: int = 200) -> Response:
    memberships = store.subscribers.memberships(subscriber.id)
    lists = {name: spec for name, spec in web.instance.lists_of(store).all().items()
             if spec.public or name in memberships}
    chosen = dict(store.subscribers.frequencies(subscriber.id, current=True))
    return _Page(web, request, "web/manage.html", subscriber.chain[0], lists=lists,
                 subscriber=subscriber, memberships=memberships, frequency=chosen,
                 languages_offered=LANGUAGES).show("page", status_code, message=message)


def _failure_page(web: WebContext, request: Request, failure: str) -> Response:
    status = {"expired": 410}.get(failure, 400)
    return _Page(web, request, "web/manage.html", _language(request, web)).show(failure,
                                                                                 status)


def _claim(web: WebContext, token: str, purpose: str,
           now: datetime) -> tuple[TokenClaim | None, str]:
    """What a reader's token says, or why it says nothing (``invalid`` or ``expired``: an
    expired token's claim is still given, to mail a fresh link)."""
    try:
        return verify_token(token, web.links.secrets, now.date(), purposes=(purpose,)), ""
    except LinkExpired as exc:
        return (exc.claim if isinstance(exc.claim, TokenClaim) else None), "expired"
    except TokenError:
        return None, "invalid"


def _csrf(web: WebContext, cookie: str) -> str:
    key = web.links.secrets[0].encode("utf-8") if web.links.secrets else b"forms"
    return hmac.new(key, b"reader-form:" + cookie.encode("utf-8"), hashlib.sha256).hexdigest()


def _csrf_ok(web: WebContext, request: Request, fields: Mapping[str, str]) -> bool:
    cookie = request.cookies.get(FORM_COOKIE, "")
    return bool(cookie) and hmac.compare_digest(fields.get("csrf", ""), _csrf(web, cookie))


def _language(request: Request, web: WebContext) -> str:
    asked = request.query_params.get("lang", "")
    return asked if asked in web.languages else accepted_language(request, web.languages)


def _chosen_language(value: str | None, default: str) -> str:
    return value if value in LANGUAGES else default


def _all_lists(web: WebContext) -> dict[str, ListSpec]:
    with web.instance.open_store() as store:
        return web.instance.lists_of(store).all()


def _public(web: WebContext) -> dict[str, ListSpec]:
    return {name: spec for name, spec in _all_lists(web).items() if spec.public}


def _mailer(web: WebContext, store: Store) -> selfservice.Mailer:
    instance = web.instance
    return selfservice.Mailer(instance.renderer(), instance.message_builder(store),
                              instance.transport(), instance.envelope_sender())

