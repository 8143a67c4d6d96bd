"""The pages of readers' signed links: unsubscribe and confirm (I/O).

GET shows the question; POST (a form, or RFC 8058's one-click ``List-Unsubscribe=One-Click``
from a mail client) carries it out at once, through
:func:`newsletter.subscribers.links.follow`. The database is given a short wait here: a reader
must not wait half a minute behind another process's lock, and an unsubscribe the database
cannot take at once is kept in the journal and answered as received (200), never lost. The
page is in the reader's language (the browser's when the link names nobody), with the list's
title in that language.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from newsletter.subscribers.links import follow
from newsletter.subscribers.tokens import CONFIRM, UNSUBSCRIBE
from newsletter.web.context import WebContext, context_of

PREVIEW_TOKEN = "preview"


async def unsubscribe(request: Request) -> Response:
    return await _link(request, UNSUBSCRIBE)


async def confirm(request: Request) -> Response:
    return await _link(request, CONFIRM)


async def _link(request: Request, purpose: str) -> Response:
    # The body of a one-click POST says nothing we need; it is not read (Limits bounds it).
    return await run_in_threadpool(_page, request, purpose)


def _page(request: Request, purpose: str) -> Response:
    web = context_of(request)
    token = request.path_params["token"]
    browser = accepted_language(request, web.languages)
    if token == PREVIEW_TOKEN:
        return web.page("web/subscription.html", browser, page_title="Preview",
                        state="preview")
    shown = follow(web.links, token, purpose, act=request.method == "POST",
                   method=_method(request))
    language = shown.language if shown.language in web.languages else browser
    status = {"invalid": 400, "busy": 503}.get(shown.state, 200)
    return web.page("web/subscription.html", language,
                    page_title=shown.list_title or _title(web, language, shown.state),
                    state=shown.state, list_title=shown.list_title, email=shown.email,
                    status_code=status)


def _title(web: WebContext, language: str, state: str) -> str:
    words = web.renderer.gettext(language)
    return {"invalid": words("This link is not valid"),
            "recorded": words("Unsubscribed")}.get(state, words("Please try again"))


def accepted_language(request: Request, languages: list[str]) -> str:
    """The first of our languages in the browser's Accept-Language, else the first we have."""
    for part in request.headers.get("accept-language", "")[:200].split(","):
        code = part.split(";")[0].strip().lower()[:2]
        if code in languages:
            return code
    return languages[0]


def _method(request: Request) -> str:
    """How an unsubscription was asked for, for the record."""
    user_agent = "".join(ch for ch in request.headers.get("user-agent", "")[:80]
                         if ch.isprintable())
    return f"web ({user_agent})" if user_agent else "web"
