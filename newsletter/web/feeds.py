"""The public feeds (I/O): ``/feeds/{list}/{lang}.atom``, ``/feeds/{list}/cap.atom`` and
``/cap/{issue_id}.xml`` (:mod:`newsletter.feeds.publish`). Each answer carries an ``ETag``
made by one query; a request whose ``If-None-Match`` holds it is answered 304 without
building anything."""

from __future__ import annotations

from email.utils import format_datetime

from starlette.requests import Request
from starlette.responses import Response

from newsletter.errors import NotFound
from newsletter.feeds.publish import Publisher
from newsletter.store import Store
from newsletter.web.context import WebContext, context_of

ATOM = "application/atom+xml; charset=utf-8"
CAP = "application/cap+xml; charset=utf-8"


def list_feed(request: Request) -> Response:
    web = context_of(request)
    name, language = request.path_params["list"], request.path_params["language"]
    with web.instance.open_store() as store:
        tag = f'"{store.feeds.fingerprint(name, language)}"'
        if _fresh(request, tag):  # one query, and nothing built
            return _not_modified(tag)
        publisher = _publisher(web, store)
        spec = publisher.lists.get(name)
        if spec is None or language not in spec.languages:
            raise NotFound(f"no feed of {name} in {language}")
        return _answer(publisher.feed(spec, language), ATOM, tag, store)


def cap_feed(request: Request) -> Response:
    web = context_of(request)
    name = request.path_params["list"]
    with web.instance.open_store() as store:
        tag = f'"{store.feeds.fingerprint(name, "cap")}"'
        if _fresh(request, tag):
            return _not_modified(tag)
        publisher = _publisher(web, store)
        spec = publisher.lists.get(name)
        if spec is None:
            raise NotFound(f"no list {name}")
        return _answer(publisher.cap_index(spec), ATOM, tag, store)


def cap_alert(request: Request) -> Response:
    web = context_of(request)
    issue_id = int(request.path_params["issue_id"])
    with web.instance.open_store() as store:
        tag = f'"{store.feeds.alert_fingerprint(issue_id)}"'
        if _fresh(request, tag):
            return _not_modified(tag)
        document = _publisher(web, store).cap(issue_id)
        if document is None:
            raise NotFound(f"no alert {issue_id}")
        return _answer(document, CAP, tag, store)


def _publisher(web: WebContext, store: Store) -> Publisher:
    return web.instance.publisher(store, web.renderer)


def _fresh(request: Request, tag: str) -> bool:
    asked = request.headers.get("if-none-match", "")
    return tag in [part.strip() for part in asked.split(",")] or asked.strip() == "*"


def _not_modified(tag: str) -> Response:
    return Response(status_code=304, headers={"ETag": tag})


def _answer(document: bytes, media_type: str, tag: str, store: Store) -> Response:
    return Response(document, media_type=media_type, headers={
        "ETag": tag, "Last-Modified": format_datetime(store.clock()(), usegmt=True),
        "Cache-Control": "public, max-age=60"})
