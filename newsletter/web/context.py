"""What the web app's endpoints share, built once per app (I/O: the renderer's files)."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import HTMLResponse

from newsletter.app import Instance
from newsletter.lists.spec import Policy
from newsletter.mail.messages import MessageBuilder
from newsletter.mail.render import Renderer
from newsletter.subscribers.links import Links


@dataclass(frozen=True)
class WebContext:
    """What every endpoint may use, built once per app."""

    instance: Instance
    renderer: Renderer
    languages: list[str]
    policy: Policy
    builder: MessageBuilder
    links: Links
    trusted_proxies: tuple[str, ...]
    secure_cookies: bool

    def page(self, name: str, language: str, status_code: int = 200,
             **context: object) -> HTMLResponse:
        return HTMLResponse(self.renderer.page(name, language, languages=self.languages,
                                               **context), status_code=status_code)


def context_of(request: Request) -> WebContext:
    """The app's :class:`WebContext`."""
    found: WebContext = request.app.state.web
    return found
