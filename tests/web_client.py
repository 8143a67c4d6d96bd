"""An HTTP client for the web app's tests: a cookie jar, no redirects followed, and the
review login as a browser does it."""

from __future__ import annotations

import http.cookiejar
import urllib.error
import urllib.parse
import urllib.request


class Client:
    """HTTP with a cookie jar and no redirect following, to see each answer as it is."""

    class _NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: object, **kwargs: object) -> None:
            return None

    def __init__(self, base: str) -> None:
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.jar), self._NoRedirect)
        self.last_headers: dict[str, str] = {}

    def request(self, path: str, fields: dict[str, str] | None = None, *,
                headers: dict[str, str] | None = None) -> tuple[int, str]:
        data = None if fields is None else urllib.parse.urlencode(fields).encode()
        request = urllib.request.Request(self.base + path, data=data, headers=headers or {})
        try:
            with self.opener.open(request, timeout=30) as reply:
                self.last_headers = dict(reply.headers)
                return reply.status, reply.read().decode("utf-8")
        except urllib.error.HTTPError as error:
            with error:  # it holds the connection: closed here, not by the GC
                self.last_headers = dict(error.headers)
                return error.code, error.read().decode("utf-8")

    def csrf(self, path: str) -> str:
        status, page = self.request(path)
        assert status == 200, page
        marker = 'name="csrf" value="'
        return page.split(marker, 1)[1].split('"', 1)[0]

    def login(self, name: str, password: str, *,
              headers: dict[str, str] | None = None) -> tuple[int, str]:
        """The login as a browser does it: the form first (its cookie and token), then the
        post."""
        return self.request("/review/login", {"name": name, "password": password,
                                              "csrf": self.csrf("/review/login")},
                            headers=headers)
