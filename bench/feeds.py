"""Benchmark: a list's Atom feed (50 entries) and its CAP index, with 10,000 reports in the
database: built (what a change costs), served as kept (a reader without ``If-None-Match``)
and answered 304 (a reader that has it), against the archive page (the named baseline), in
one run.

An office with ``--reports`` reports (the sample's text, each its own report) is served by
``newsletter serve`` in its own process; its alerts list carried the newest 50. Requests go
one after another over one keep-alive connection. Building is timed in this process, by the
same ``Publisher`` the server uses, as documents built per second. Prints requests/s per
path and the ratio to the archive page; last line: one JSON object with the figures.

    .venv/bin/python bench/feeds.py [--reports 10000] [--requests 200]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from newsletter.app import init_instance, load_instance
from newsletter.reports.model import Report

SECRET = "bench-feeds-secret-0123456789abcdef"


def office(folder: Path, reports: int) -> None:
    init_instance(folder)
    config = folder / "newsletter.toml"
    config.write_text(config.read_text() + '\n[lists.alerts]\ntitle = "Alerts"\n'
                      'mode = "alerts"\nlanguages = ["en", "ru", "kk"]\n')
    instance = load_instance(config, cwd=folder, environ={"NEWSLETTER_WEB_SECRET": SECRET})
    now = datetime.now(UTC)
    body = ("Floods in Kazakhstan damaged 340 houses and displaced 1,200 people this week. "
            "Relief teams delivered food to 800 families.\n\nMore rain is forecast.")
    with instance.open_store() as store, store.transaction():
        ids = []
        for number in range(reports):
            day = date(2026, 1, 1) + timedelta(days=number % 300)
            report = Report(title=f"Kazakhstan: Floods, report {number}", source="OCHA",
                            kind="Flash Update", published=day, language="en", body=body,
                            dateline="ASTANA", posted=day)
            ids.append(store.reports.add(report, content_hash=f"h{number}",
                                         identity_key=f"k{number}", path=f"r{number}.txt",
                                         encoding="utf-8", now=now))
        for report_id in ids[-50:]:
            store.issues.create("alerts", "alert", [report_id], {"en": "{}"}, now,
                                recipients=lambda _issue: iter(()))


def built(folder: Path, count: int) -> dict[str, float]:
    """Documents built per second: the feed and the CAP index, as a change makes them."""
    instance = load_instance(folder / "newsletter.toml", cwd=folder,
                             environ={"NEWSLETTER_WEB_SECRET": SECRET})
    renderer = instance.renderer()
    found = {}
    with instance.open_store() as store:
        publisher = instance.publisher(store, renderer)
        spec = publisher.lists["alerts"]
        for name, build in (("/feeds/alerts/en.atom built", lambda: publisher.feed(spec, "en")),
                            ("/feeds/alerts/cap.atom built",
                             lambda: publisher.cap_index(spec))):
            build()
            started = time.perf_counter()
            for _ in range(count):
                build()
            found[name] = count / (time.perf_counter() - started)
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def rate(port: int, path: str, count: int, headers: dict[str, str] | None = None
         ) -> tuple[float, int]:
    """Requests per second for ``path``, and the status of the last answer."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    status = 0
    started = time.perf_counter()
    for _ in range(count):
        connection.request("GET", path, headers=headers or {})
        reply = connection.getresponse()
        reply.read()
        status = reply.status
    elapsed = time.perf_counter() - started
    connection.close()
    return count / elapsed, status


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-feeds-")) / "office"
    server: subprocess.Popen[bytes] | None = None
    try:
        office(folder, args.reports)
        port = free_port()
        server = subprocess.Popen(
            [sys.executable, "-m", "newsletter", "serve", "--port", str(port)], cwd=folder,
            env={**os.environ, "NEWSLETTER_WEB_SECRET": SECRET}, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while True:
            try:
                rate(port, "/healthz", 1)
                break
            except ConnectionRefusedError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        figures: dict[str, float] = {}
        figures.update(built(folder, args.requests))
        for path in ("/", "/feeds/alerts/en.atom", "/feeds/alerts/cap.atom"):
            rate(port, path, 3)  # warm: templates compiled, the database opened once
            kept, status = rate(port, path, args.requests)
            assert status == 200, (path, status)
            figures[f"{path} kept" if path != "/" else "/"] = kept
            if path != "/":
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                connection.request("GET", path)
                reply = connection.getresponse()
                reply.read()
                tag = reply.headers["ETag"]
                connection.close()
                cached, status = rate(port, path, args.requests, {"If-None-Match": tag})
                assert status == 304, (path, status)
                figures[f"{path} cached"] = cached
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        shutil.rmtree(folder.parent, ignore_errors=True)
    baseline = figures["/"]
    print(f"{args.reports} reports; {args.requests} requests per path, one after another")
    for name, value in figures.items():
        unit = "built/s   " if name.endswith("built") else "requests/s"
        print(f"{name:<30} {value:8.0f} {unit}  {value / baseline:6.2f} × the archive page")
    print(json.dumps({"bench": "feeds", "baseline": "the archive page (/)",
                      "reports": args.reports, "per_s": {
                          k: round(v, 1) for k, v in figures.items()},
                      "ratio_to_archive": {k: round(v / baseline, 2)
                                           for k, v in figures.items()}}))


if __name__ == "__main__":
    main()
