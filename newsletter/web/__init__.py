"""The web app (Starlette, served by uvicorn): the archive of sent issues and of reports,
previews of every issue in every language with their quality flags, the pages of readers'
links (unsubscribe, confirm), and the login-protected review pages (I/O).

Endpoints are functions at module level that read what they need from ``request.app.state``
(:class:`WebContext`, built once by :func:`create_app`). Those that touch the database or
hash a password are plain ``def``: Starlette runs them in its thread pool, so the event loop
never waits on a lock or on argon2, and ``/healthz`` answers whatever the others are doing.
Pages are rendered with the same template set and catalogs as the mails; the database is
opened per request, so the app always shows what is stored now.

    web/__init__   the app: routes, limits, state
    web/context    what every endpoint may use (WebContext)
    web/edge       body and form limits, security headers, the client's address, path IDs
    web/pages      archive, issue, report, previews, health
    web/links      the pages of readers' signed links (unsubscribe, confirm)
    web/readers    readers helping themselves: sign up, their own page
    web/feeds      Atom feeds and CAP alerts, with ETags
    web/review     log in, the queue, the editor, approve and reject
    web/server     uvicorn with timeouts and a connection limit (``newsletter serve``)
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from newsletter.app import Instance
from newsletter.errors import NotFound
from newsletter.lists.spec import Policy
from newsletter.web import feeds, links, pages, readers, review
from newsletter.web.context import WebContext
from newsletter.web.edge import Limits


def create_app(instance: Instance) -> Starlette:
    """The web app of ``instance``."""
    settings = instance.settings
    web = WebContext(
        instance=instance, renderer=instance.renderer(),
        languages=list(settings.translate.languages), policy=Policy(settings.translate.policy),
        builder=instance.message_builder(signed=False, mail=instance.mail_settings),
        links=instance.reader_links(), trusted_proxies=tuple(settings.web.trusted_proxies),
        secure_cookies=settings.web.base_url.startswith("https://"))
    app = Starlette(
        exception_handlers={NotFound: _not_found},
        middleware=[Middleware(Limits, max_body_bytes=settings.web.max_body_bytes)],
        routes=[
            *review.ROUTES,
            Route("/", pages.index),
            Route("/issues/{issue_id:id}", pages.issue_page),
            Route("/preview/alert/{report_id:id}", pages.preview_alert),
            Route("/preview/digest", pages.preview_digest),
            Route("/reports/{report_id:id}", pages.report_page),
            Route("/unsubscribe/{token}", links.unsubscribe, methods=["GET", "POST"]),
            Route("/confirm/{token}", links.confirm, methods=["GET", "POST"]),
            Route("/subscribe", readers.subscribe, methods=["GET"]),
            Route("/subscribe", readers.subscribe_post, methods=["POST"]),
            Route("/manage", readers.manage_request, methods=["GET"]),
            Route("/manage", readers.manage_request_post, methods=["POST"]),
            Route("/manage/address/{token}", readers.new_address, methods=["GET", "POST"]),
            Route("/manage/{token}/data.json", readers.manage_data),
            Route("/manage/{token}", readers.manage, methods=["GET"]),
            Route("/manage/{token}", readers.manage_post, methods=["POST"]),
            Route("/feeds/{list}/cap.atom", feeds.cap_feed),
            Route("/feeds/{list}/{language}.atom", feeds.list_feed),
            Route("/cap/{issue_id:id}.xml", feeds.cap_alert),
            Route("/healthz", health),
        ])
    app.state.web = web
    return app


async def health(request: Request) -> Response:
    """Alive: answered on the event loop, without the database."""
    return PlainTextResponse("ok")


async def _not_found(request: Request, exc: Exception) -> Response:
    return PlainTextResponse(str(exc), status_code=404)


__all__ = ["create_app"]
