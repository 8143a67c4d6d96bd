"""Drive Debian's headless Chromium over the DevTools protocol, for browser tests.

No browser is downloaded: the machine's ``chromium`` (Debian package) is started with a fresh
profile, background networking off, and a DevTools port on 127.0.0.1.
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import shutil
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import uvicorn
from websockets.sync.client import ClientConnection, connect

from newsletter.web.server import uvicorn_config
from tests.helpers import wait_until
from tests.processes import stop

FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-extensions", "--window-size=1200,1000", "--remote-debugging-port=0"]


def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        raise RuntimeError("Debian's chromium is not installed: apt-get install chromium "
                           "(.ci/run installs it)")
    return path


class Page:
    """One browser tab, over an open DevTools connection."""

    def __init__(self, socket: ClientConnection) -> None:
        self.socket = socket
        self.ids = itertools.count(1)
        self.call("Page.enable")
        self.call("Runtime.enable")

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        ident = next(self.ids)
        self.socket.send(json.dumps({"id": ident, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.recv(timeout=30))
            if message.get("id") == ident:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return dict(message.get("result", {}))

    def wait_for(self, event: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            message = json.loads(self.socket.recv(timeout=deadline - time.monotonic()))
            if message.get("method") == event:
                return
        raise TimeoutError(event)

    def goto(self, url: str) -> None:
        self.call("Page.navigate", url=url)
        self.wait_for("Page.loadEventFired")

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True,
                           awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(result["exceptionDetails"])
        return result["result"].get("value")

    def viewport(self, width: int, height: int = 900) -> None:
        """Lay pages out as a phone ``width`` CSS pixels wide does (a mobile viewport that
        honours ``<meta name="viewport">``), until the tab closes."""
        self.call("Emulation.setDeviceMetricsOverride", width=width, height=height,
                  deviceScaleFactor=1, mobile=True)

    def overflow(self) -> int:
        """How many CSS pixels the page is wider than the viewport (0: no sideways scroll)."""
        return int(self.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"))

    def click(self, selector: str) -> None:
        """Click a link and wait for the page it opens to load."""
        self.evaluate(f"document.querySelector({json.dumps(selector)}).click()")
        self.wait_for("Page.loadEventFired")

    def screenshot(self, path: Path) -> Path:
        data = self.call("Page.captureScreenshot", format="png")["data"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))
        return path


@contextmanager
def chromium(profile: Path) -> Iterator[Page]:
    """A headless Chromium with one open tab."""
    process = subprocess.Popen([chromium_path(), *FLAGS, f"--user-data-dir={profile}",
                                "about:blank"], stderr=subprocess.PIPE, text=True,
                               start_new_session=True)  # its renderers end with it
    drain: threading.Thread | None = None
    try:
        port = None
        assert process.stderr is not None
        deadline = time.monotonic() + 60
        while port is None and time.monotonic() < deadline:
            line = process.stderr.readline()
            if not line and process.poll() is not None:
                raise RuntimeError("chromium exited before opening its DevTools port")
            found = re.search(r"DevTools listening on ws://127\.0\.0\.1:(\d+)/", line)
            if found:
                port = int(found.group(1))
        if port is None:
            raise RuntimeError("chromium did not open its DevTools port in 60 s")
        drain = threading.Thread(target=process.stderr.read, daemon=True)
        drain.start()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as reply:
            targets = json.loads(reply.read())
        url = next(t for t in targets if t["type"] == "page")["webSocketDebuggerUrl"]
        with connect(url, max_size=None, open_timeout=20) as socket:
            yield Page(socket)
    finally:
        stop(process, grace=10)
        if drain is not None:
            drain.join(timeout=10)
        if process.stderr is not None:
            process.stderr.close()


@contextmanager
def serving(app: Any) -> Iterator[str]:
    """Run the web app on a free port of 127.0.0.1 as ``newsletter serve`` runs it (uvicorn
    with the instance's limits); yield its base URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    settings = app.state.web.instance.settings.web
    server = uvicorn.Server(uvicorn_config(app, settings, host="127.0.0.1", port=port))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    wait_until(lambda: server.started or not thread.is_alive(), "the web server to start", 60)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
