"""The web app's edge: limits on what a request may bring, the headers every response carries,
who the client is, and forms read within bounds (I/O).

- **Bodies** are read up to ``[web] max_body_bytes``: a larger ``Content-Length`` is answered
  413 before a byte is read, and a body that grows past the limit as it streams is cut off
  with 413 too (:class:`Limits`). A client that goes away before its body is in gets no
  answer and leaves no error behind.
- **Forms** are URL-encoded only, with at most :data:`MAX_FIELDS` fields; each field has its
  own length (:func:`read_form`), and a field too long is a 400 naming it.
- **Every response** says what the browser may do with it: a Content-Security-Policy that
  runs no script and lets no other site frame the page, ``nosniff``, no Referer (links carry
  signed tokens), and ``X-Frame-Options: DENY`` for older browsers.
- **The client** is the peer of the connection; ``X-Forwarded-For`` is believed only when
  that peer is one of ``[web] trusted_proxies`` (:func:`client_of`).
- **IDs in paths** are at most 18 digits (:class:`IdConvertor`): a longer number is no page
  (404), never an integer too large for the database (500).
"""

from __future__ import annotations

import ipaddress
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Mapping, MutableMapping, Sequence
from typing import Any
from urllib.parse import parse_qsl

from starlette.convertors import Convertor, register_url_convertor
from starlette.requests import ClientDisconnect, Request

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

MAX_FIELDS = 20
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-security-policy",
     b"default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
     b"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
)


class BodyTooLarge(Exception):
    pass


class Limits:
    """ASGI middleware: the body limit and the security headers (see the module docstring)."""

    def __init__(self, app: App, *, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_secured(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                names = {name.lower() for name, _ in message.get("headers", [])}
                message["headers"] = [*message.get("headers", []),
                                      *(h for h in SECURITY_HEADERS if h[0] not in names)]
            await send(message)

        length = _content_length(scope)
        if length is not None and length > self.max_body_bytes:
            await _too_large(send_secured, self.max_body_bytes)
            return
        seen = 0

        async def receive_bounded() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body_bytes:
                    raise BodyTooLarge
            return message

        try:
            await self.app(scope, receive_bounded, send_secured)
        except BodyTooLarge:
            if not started:
                await _too_large(send_secured, self.max_body_bytes)
        except ClientDisconnect:
            pass  # gone before its body was in (too slow, or it gave up): no one to answer


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _too_large(send: Send, limit: int) -> None:
    body = f"the request is larger than {limit:,} bytes\n".encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                            (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


class FormError(ValueError):
    """A form that cannot be taken: too many fields, a field too long, not a form."""


async def read_form(request: Request, lengths: Mapping[str, int]) -> dict[str, str]:
    """The fields of a URL-encoded form, each at most ``lengths[name]`` characters; fields not
    named in ``lengths`` are dropped. The body itself is bounded by :class:`Limits`."""
    body = await request.body()
    try:
        text = body.decode("utf-8")
        pairs = parse_qsl(text, keep_blank_values=True, max_num_fields=MAX_FIELDS)
    except (UnicodeDecodeError, ValueError) as exc:
        raise FormError("the form cannot be read") from exc
    fields: dict[str, str] = {}
    for name, value in pairs:
        if name not in lengths or name in fields:
            continue
        if len(value) > lengths[name]:
            raise FormError(f"the {name} field is longer than {lengths[name]:,} characters")
        fields[name] = value
    return fields


def client_of(request: Request, trusted_proxies: Sequence[str]) -> str:
    """The client's address: the connection's peer, or, when the peer is a trusted proxy,
    the last address in X-Forwarded-For that is not one itself."""
    peer = request.client.host if request.client else "?"
    if not trusted_proxies or not _trusted(peer, trusted_proxies):
        return peer
    forwarded = [part.strip() for part in request.headers.get("x-forwarded-for", "").split(",")
                 if part.strip()]
    for address in reversed(forwarded):
        if not _trusted(address, trusted_proxies):
            return address[:64]
    return peer


def _trusted(address: str, proxies: Sequence[str]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    for proxy in proxies:
        try:
            if ip in ipaddress.ip_network(proxy, strict=False):
                return True
        except ValueError:
            continue
    return False


class IdConvertor(Convertor[int]):
    """An ID in a path: 1 to 18 digits (a longer number cannot be an ID)."""

    regex = "[0-9]{1,18}"

    def convert(self, value: str) -> int:
        return int(value)

    def to_string(self, value: int) -> str:
        return str(value)


register_url_convertor("id", IdConvertor())


class Throttle:
    """At most ``limit`` events per key in ``window`` seconds, in this process (each worker
    of ``serve --workers N`` keeps its own); the keys kept are bounded, oldest dropped first."""

    def __init__(self, limit: int, window: float, keys: int = 10_000) -> None:
        self.limit = limit
        self.window = window
        self.keys = keys
        self._events: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def allow(self, key: str) -> bool:
        """Count one event for ``key``; False when it is over the limit (not counted)."""
        now = time.monotonic()
        with self._lock:
            events = self._events.pop(key, None) or deque()
            while events and events[0] <= now - self.window:
                events.popleft()
            allowed = len(events) < self.limit
            if allowed:
                events.append(now)
            self._events[key] = events
            while len(self._events) > self.keys:
                self._events.popitem(last=False)
            return allowed
