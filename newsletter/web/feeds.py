"""The public feeds (I/O): ``/feeds/{list}/{lang}.atom``, ``/feeds/{list}/cap.atom`` and
``/cap/{issue_id}.xml`` (:mod:`newsletter.feeds.publish`). Each answer carries an ``ETag``
made by one query; a request whose ``If-None-Match`` holds it is answered 304 without
building anything, and a document once built is kept (a few dozen, by path and ETag) for
the next reader who asks without one: a feed is built once per change, not per request."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime
from email.utils import format_datetime

from starlette.requests import Request
from starlette.responses import Response

from newsletter.errors import NotFound
from newsletter.feeds.publish import Publisher
from newsletter.store import Store
from newsletter.web.context import WebContext, context_of

ATOM = "application/atom+xml; charset=utf-8"
CAP = "application/cap+xml; charset=utf-8"
KEPT = 64  # documents kept built


class _Built:
    """The documents built last, by (path, ETag), with when each was built; the oldest go
    first."""

    def __init__(self) -> None:
        self.documents: OrderedDict[tuple[str, str], tuple[bytes, datetime]] = OrderedDict()
        self.lock = threading.Lock()

    def answer(self, request: Request, tag: str, store: Store, media_type: str,
               build: Callable[[], bytes | None]) -> Response:
        """The document of ``request.url.path`` at ``tag``: kept, or built now and kept.
        ``Last-Modified`` is when it was built, the same on every answer of one version."""
        key = (request.url.path, tag)
        with self.lock:
            kept = self.documents.get(key)
        if kept is None:
            document = build()
            if document is None:
                raise NotFound(f"nothing at {request.url.path}")
            kept = (document, store.clock()())
            with self.lock:
                self.documents[key] = kept
                while len(self.documents) > KEPT:
                    self.documents.popitem(last=False)
        document, built = kept
        return Response(document, media_type=media_type, headers={
            "ETag": tag, "Last-Modified": format_datetime(built, usegmt=True),
            "Cache-Control": "public, max-age=60"})


_BUILT = _Built()


def list_feed(request: Request) -> Response:
    web = context_of(request)
    name, language = request.path_params["list"], request.path_params["language"]
    with web.instance.open_store() as store:
        tag = _tag(web, store.feeds.fingerprint(name, language))
        if _fresh(request, tag):  # one query, and nothing built
            return _not_modified(tag)

        def build() -> bytes | None:
            publisher = _publisher(web, store)
            spec = publisher.lists.get(name)
            if spec is None or language not in spec.languages:
                return None
            return publisher.feed(spec, language)
        return _BUILT.answer(request, tag, store, ATOM, build)


def cap_feed(request: Request) -> Response:
    web = context_of(request)
    name = request.path_params["list"]
    with web.instance.open_store() as store:
        tag = _tag(web, store.feeds.fingerprint(name, "cap"))
        if _fresh(request, tag):
            return _not_modified(tag)

        def build() -> bytes | None:
            publisher = _publisher(web, store)
            spec = publisher.lists.get(name)
            return None if spec is None else publisher.cap_index(spec)
        return _BUILT.answer(request, tag, store, ATOM, build)


def cap_alert(request: Request) -> Response:
    web = context_of(request)
    issue_id = int(request.path_params["issue_id"])
    with web.instance.open_store() as store:
        tag = _tag(web, store.feeds.alert_fingerprint(issue_id))
        if _fresh(request, tag):
            return _not_modified(tag)
        return _BUILT.answer(request, tag, store, CAP,
                             lambda: _publisher(web, store).cap(issue_id))


def _tag(web: WebContext, fingerprint: str) -> str:
    """An ETag: the store's fingerprint, and when newsletter.toml (its lists) last changed."""
    try:
        changed = web.instance.config_path.stat().st_mtime_ns
    except OSError:
        changed = 0
    return f'"{fingerprint}-{changed:x}"'


def _publisher(web: WebContext, store: Store) -> Publisher:
    return web.instance.publisher(store, web.renderer)


def _fresh(request: Request, tag: str) -> bool:
    asked = request.headers.get("if-none-match", "")
    return tag in [part.strip() for part in asked.split(",")] or asked.strip() == "*"


def _not_modified(tag: str) -> Response:
    return Response(status_code=304, headers={"ETag": tag})
