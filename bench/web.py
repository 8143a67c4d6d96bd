"""Benchmark: the web app's answer times alone and under hostile load, in one run.

A fresh office (the sample reports ingested, a reviewer) is served by ``newsletter serve`` in
its own process, as an office runs it. Four phases, each timing ``--probes`` requests to
``/healthz`` and to the archive (``/``) one after another:

* **alone** (the baseline): nothing else runs;
* **logins**: ``--logins`` clients fail to log in over and over (each from its own forwarded
  address, so the lockout does not stop the hashing), as many at once as
  ``LOGINS_AT_ONCE`` and more;
* **logins+feeds**: the logins, and ``--feeds`` clients reading a list's Atom feed at once
  (without ``If-None-Match``, as most feed readers ask);
* **hostile**: all that, plus ``--slow`` slow clients that send their headers a byte at a
  time, ``--floods`` clients announcing 300 MiB bodies, and as many archive readers as logins.

Prints p50 and p99 in milliseconds per phase and path, the ratio of each phase's p99 to the
alone baseline, the server's peak resident memory (VmHWM), and how the hostile clients were
answered. Last line: one JSON object with the figures.

    .venv/bin/python bench/web.py [--probes 200] [--logins 8] [--slow 100] [--floods 4]
        [--feeds 8] [--request-timeout 5]

``--request-timeout`` is the server's ``[web] request_timeout``: the hostile phase starts once
a slow client has been cut off, so no run is shorter than it.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SECRET = "bench-web-secret-0123456789-abcdef"
PASSWORD = "correct horse battery staple"


def newsletter(folder: Path, env: dict[str, str], *args: str) -> None:
    done = subprocess.run([sys.executable, "-m", "newsletter", *args], cwd=folder, env=env,
                          capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise SystemExit(f"newsletter {' '.join(args)} failed:\n{done.stderr}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def get(port: int, path: str) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request("GET", path)
        reply = connection.getresponse()
        reply.read()
        return reply.status
    finally:
        connection.close()


def probe(port: int, path: str, count: int) -> list[float]:
    """Answer times of ``count`` requests to ``path``, one after another, in seconds."""
    times = []
    for _ in range(count):
        started = time.perf_counter()
        status = get(port, path)
        times.append(time.perf_counter() - started)
        if status != 200:
            raise SystemExit(f"GET {path} answered {status}")
    return times


def percentiles(times: list[float]) -> dict[str, float]:
    ordered = sorted(times)
    return {"p50_ms": round(statistics.median(ordered) * 1000, 2),
            "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000, 2)}


def failed_login(port: int, n: int, answers: Counter[int]) -> None:
    """One failed login as a browser makes it: the form, then the post."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request("GET", "/review/login")
        reply = connection.getresponse()
        page = reply.read().decode("utf-8")
        cookie = reply.getheader("set-cookie", "").split(";", 1)[0]
        csrf = page.split('name="csrf" value="', 1)[1].split('"', 1)[0]
        body = urllib.parse.urlencode({"name": f"guess{n}", "password": "wrong password",
                                       "csrf": csrf})
        connection.request("POST", "/review/login", body=body, headers={
            "Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie,
            "X-Forwarded-For": f"10.{n // 65536 % 256}.{n // 256 % 256}.{n % 256}"})
        reply = connection.getresponse()
        reply.read()
        answers[reply.status] += 1
    finally:
        connection.close()


def slow_client(port: int, stop: threading.Event, answers: Counter[str]) -> None:
    """Headers a byte at a time, never finished, again and again: the server should cut each
    connection off after ``[web] request_timeout``."""
    while not stop.is_set():
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
                for byte in b"GET / HTTP/1.1\r\nHost: bench\r\nX-Padding: " + b"a" * 10_000:
                    if stop.is_set():
                        return
                    sock.sendall(bytes([byte]))
                    time.sleep(0.2)
                answers["never cut off"] += 1
        except OSError:
            answers["cut off"] += 1


def flood(port: int, stop: threading.Event, answers: Counter[str]) -> None:
    """Announce a 300 MiB body and start sending it."""
    while not stop.is_set():
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
                sock.sendall(b"POST /unsubscribe/x HTTP/1.1\r\nHost: bench\r\n"
                             b"Content-Length: 314572800\r\n\r\n")
                reply = sock.recv(64)
                answers[reply.split(b"\r\n", 1)[0].decode() or "closed"] += 1
        except OSError:
            answers["cut off"] += 1


def peak_memory(pid: int) -> int:
    """The process's peak resident memory (VmHWM), in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def in_background(target: Callable[..., None], count: int, *args: object) -> list[threading.Thread]:
    threads = [threading.Thread(target=target, args=(*args,), daemon=True) for _ in range(count)]
    for thread in threads:
        thread.start()
    return threads


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--probes", type=int, default=200)
    parser.add_argument("--logins", type=int, default=8)
    parser.add_argument("--slow", type=int, default=100)
    parser.add_argument("--floods", type=int, default=4)
    parser.add_argument("--feeds", type=int, default=8, help="feed readers at once")
    parser.add_argument("--request-timeout", type=float, default=5.0,
                        help="the server's [web] request_timeout, in seconds (at least 1)")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="bench-web-"))
    port = free_port()
    env = {**os.environ, "NEWSLETTER_WEB_SECRET": SECRET, "NEWSLETTER_LOG_FORMAT": "json",
           "NEWSLETTER_REVIEWER_PASSWORD": PASSWORD,
           "NEWSLETTER_WEB_TRUSTED_PROXIES": "127.0.0.1",
           "NEWSLETTER_WEB_REQUEST_TIMEOUT": f"{args.request_timeout:g}",
           "PYTHONPATH": str(REPO)}
    server: subprocess.Popen[bytes] | None = None
    try:
        newsletter(folder, env, "init", str(folder / "office"))
        office = folder / "office"
        for report in sorted((REPO / "seeds").glob("*.txt"))[:5]:
            shutil.copy(report, office / "seeds" / report.name)
        newsletter(office, env, "--set", "ingest.settle_seconds=0", "ingest")
        newsletter(office, env, "reviewers", "add", "aigul")
        # A list that carried a report: its Atom feed is read under load too.
        newsletter(office, env, "lists", "add", "updates", "--mode", "alerts")
        newsletter(office, env, "subscribers", "add", "reader@example.org", "--list", "updates")
        newsletter(office, env, "send", "--list", "updates", "--report", "1")
        server = subprocess.Popen([sys.executable, "-m", "newsletter", "serve", "--port",
                                   str(port)], cwd=office, env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.DEVNULL)
        assert server.stdout is not None
        server.stdout.readline()  # "Serving on …": about to listen
        while True:
            try:
                get(port, "/")  # and warm: templates compiled, the database opened once
                break
            except ConnectionRefusedError:
                time.sleep(0.05)

        results: dict[str, dict[str, dict[str, float]]] = {}
        results["alone"] = {path: percentiles(probe(port, path, args.probes))
                            for path in ("/healthz", "/")}
        memory_alone = peak_memory(server.pid)

        stop = threading.Event()
        logins: Counter[int] = Counter()
        counter = iter(range(10**9))

        def log_in_badly() -> None:
            while not stop.is_set():
                failed_login(port, next(counter), logins)

        load = in_background(log_in_badly, args.logins)
        results["logins"] = {path: percentiles(probe(port, path, args.probes))
                             for path in ("/healthz", "/")}

        hostile: Counter[str] = Counter()
        floods: Counter[str] = Counter()

        def read_archive() -> None:
            while not stop.is_set():
                get(port, "/")

        def read_feed() -> None:  # as a feed reader asks: no If-None-Match
            while not stop.is_set():
                get(port, "/feeds/updates/en.atom")

        load += in_background(read_feed, args.feeds)
        results["logins+feeds"] = {path: percentiles(probe(port, path, args.probes))
                                   for path in ("/healthz", "/")}
        load += in_background(slow_client, args.slow, port, stop, hostile)
        load += in_background(flood, args.floods, port, stop, floods)
        load += in_background(read_archive, args.logins)
        while not hostile["cut off"]:  # the slow clients are at their worst: held to the end
            time.sleep(0.05)
        results["hostile"] = {path: percentiles(probe(port, path, args.probes))
                              for path in ("/healthz", "/")}
        stop.set()
        for thread in load:
            thread.join(timeout=120)
        memory_peak = peak_memory(server.pid)
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        shutil.rmtree(folder, ignore_errors=True)

    print(f"{'phase':<13} {'path':<9} {'p50 ms':>9} {'p99 ms':>9} {'p99 / alone':>12}")
    ratios: dict[str, float] = {}
    for phase, paths in results.items():
        for path, figures in paths.items():
            ratio = figures["p99_ms"] / max(results["alone"][path]["p99_ms"], 0.01)
            ratios[f"{phase} {path}"] = round(ratio, 2)
            print(f"{phase:<13} {path:<9} {figures['p50_ms']:>9.2f} {figures['p99_ms']:>9.2f} "
                  f"{ratio:>12.2f}")
    print(f"failed logins answered: {dict(logins)}")
    print(f"slow clients: {dict(hostile)}; 300 MiB bodies: {dict(floods)}")
    print(f"server peak memory: {memory_alone / 1024:.0f} MiB alone, "
          f"{memory_peak / 1024:.0f} MiB after the hostile load")
    memory = {"alone": round(memory_alone / 1024), "hostile": round(memory_peak / 1024)}
    print(json.dumps({"baseline": "alone", "latency": results, "p99_ratio": ratios,
                      "logins": dict(logins), "slow_clients": dict(hostile),
                      "floods": dict(floods), "peak_rss_mib": memory}))


if __name__ == "__main__":
    main()
