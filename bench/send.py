"""Benchmark: messages/s into a discarding SMTP sink, our outbox path against the naive one and
against raw aiosmtplib, in one run.

* ours: what ``newsletter deliver`` does: the instance's sender (claims, fenced leases,
  messages filled in per subscriber, batched outcome writes, pipelined SMTP sessions), in
  ``--processes`` processes on one outbox;
* naive: a fresh ``EmailMessage`` per message and one ``smtplib`` connection per message;
* raw aiosmtplib: the same pre-built bytes through ``aiosmtplib.SMTP.sendmail`` over as many
  connections, with no outbox at all.

The sink (``--sink``) is Postfix's ``smtp-sink`` (C) when it is installed, else aiosmtpd,
each in its own process on 127.0.0.1, or a sink already running at HOST:PORT. Messages are a
digest of the sample reports in three languages, about 20 KB each. ``--dkim`` signs every
message (a fresh 2048-bit RSA key). Last line: one JSON object with the figures.

    .venv/bin/python bench/send.py [--messages 20000] [--naive 1000] [--connections 4]
        [--processes 1] [--sink auto|smtp-sink|aiosmtpd|HOST:PORT] [--dkim]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import smtplib
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import aiosmtplib

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.sink import sink
from newsletter.app import Instance, init_instance, load_instance
from newsletter.delivery.rules import OutboxRow
from newsletter.issues.create import create_issue
from newsletter.reports.ingest import ingest_inbox
from newsletter.subscribers.addresses import SubscriberRow
from newsletter.summarise.pending import summarise_pending

SECRET = "bench-secret-0123456789"
SENDER = "updates@example.org"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--naive", type=int, default=1_000, help="messages for the naive path")
    parser.add_argument("--connections", type=int, default=4, help="SMTP connections per process")
    parser.add_argument("--processes", type=int, default=1, help="sending processes (ours)")
    parser.add_argument("--sink", default="auto",
                        help="smtp-sink, aiosmtpd, auto (smtp-sink when installed) or HOST:PORT")
    parser.add_argument("--dkim", action="store_true", help="DKIM-sign every message (ours)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-send-"))
    try:
        with sink(args.sink) as (host, port, described):
            figures = run(work, host, port, args)
            figures["sink"] = described
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"sink: {figures['sink']}; {figures['bytes_per_message']:,} bytes per message; "
          f"{args.processes} process(es) x {args.connections} connections"
          + ("; DKIM-signed" if args.dkim else ""))
    print(f"ours (outbox, pipelined)      {figures['messages_per_s']:10,.0f} messages/s")
    print(f"naive (EmailMessage+smtplib)  {figures['naive_messages_per_s']:10,.0f} messages/s")
    print(f"raw aiosmtplib (prebuilt)     {figures['raw_aiosmtplib_messages_per_s']:10,.0f} "
          "messages/s")
    print(f"ours/naive {figures['ratio_vs_naive']:.1f}x; ours/raw aiosmtplib "
          f"{figures['ratio_vs_raw_aiosmtplib']:.2f}x")
    print(json.dumps(figures))


def office(work: Path, host: str, port: int, *, dkim: bool) -> Instance:
    """A new instance that sends over SMTP to the sink, with the sample reports ingested."""
    init_instance(work / "office")
    config = work / "office" / "newsletter.toml"
    config.write_text(config.read_text() + '\n[lists.bench]\ntitle = "Central Asia daily"\n'
                      'languages = ["en", "ru", "kk"]\n')
    environ = {"NEWSLETTER_WEB_SECRET": SECRET, "NEWSLETTER_DELIVERY_TRANSPORT": "smtp",
               "NEWSLETTER_SMTP_HOST": host, "NEWSLETTER_SMTP_PORT": str(port),
               "NEWSLETTER_SMTP_SECURITY": "none", "NEWSLETTER_MAIL_FROM_ADDRESS": SENDER,
               "NEWSLETTER_WEB_BASE_URL": "https://updates.example.org",
               "NEWSLETTER_DELIVERY_LEASE": "600"}
    if dkim:
        key = work / "dkim.pem"
        subprocess.run(["openssl", "genrsa", "-out", str(key), "2048"], check=True,
                       capture_output=True)
        environ["NEWSLETTER_DKIM_KEY_FILE"] = str(key)
    os.environ.update(environ)  # the other sending processes read the same settings
    instance = load_instance(config, cwd=work, environ=environ)
    for path in sorted((REPO / "seeds").glob("*.txt")):
        shutil.copy(path, instance.settings.seeds_dir)
        os.utime(instance.settings.seeds_dir / path.name, (time.time() - 3600,) * 2)
    return instance


def run(work: Path, host: str, port: int, args: argparse.Namespace) -> dict[str, object]:
    instance = office(work, host, port, dkim=args.dkim)
    now = datetime.now(UTC)
    with instance.open_store() as store:
        ingest_inbox(store, instance.inbox, instance.settings.ingest, now=now)
        summarise_pending(store, instance.settings.summary, now=now)
        store.subscribers.import_rows(
            [SubscriberRow(f"reader{i}@example.org", f"Reader {i}", ("en", "ru", "kk")[i % 3])
             for i in range(args.messages)], "bench", consent_source="bench", now=now)
        spec = instance.lists_of(store).named("bench")
        create_issue(store, instance.renderer(), spec, [r.id for r in store.reports.newest()],
                     "digest", base_url=instance.settings.web.base_url, domain="example.org",
                     now=now)

    ours_s = deliver(instance, args)
    with instance.open_store() as store:
        states = store.outbox.counts()
        assert states == {"sent": args.messages}, states
        source = instance.issue_messages(store)
        rows = [OutboxRow(r["id"], r["issue_id"], r["subscriber_id"], r["address"], None,
                          r["language"], r["message_id"], 0) for r in store.outbox.rows()]
        prebuilt = [source.message(row) for row in rows]
    size = sum(map(len, prebuilt)) // len(prebuilt)

    started = time.perf_counter()
    asyncio.run(_raw_aiosmtplib(host, port, prebuilt, args.connections * args.processes))
    raw_s = time.perf_counter() - started

    naive_s = _naive(host, port, prebuilt[: args.naive])

    ours = args.messages / ours_s
    naive = min(args.naive, len(prebuilt)) / naive_s
    raw = args.messages / raw_s
    return {"bench": "send", "messages": args.messages, "processes": args.processes,
            "connections": args.connections, "dkim": args.dkim, "bytes_per_message": size,
            "seconds": round(ours_s, 2), "messages_per_s": round(ours),
            "naive_messages_per_s": round(naive), "raw_aiosmtplib_messages_per_s": round(raw),
            "ratio_vs_naive": round(ours / naive, 1),
            "ratio_vs_raw_aiosmtplib": round(ours / raw, 2)}


def deliver(instance: Instance, args: argparse.Namespace) -> float:
    """``newsletter deliver`` in ``--processes`` processes at once; seconds until the
    outbox is sent."""
    command = [sys.executable, "-m", "newsletter", "--config", str(instance.config_path),
               "deliver", "--json"]
    env = {**os.environ, "NEWSLETTER_DELIVERY_CONNECTIONS": str(args.connections),
           "PYTHONPATH": str(REPO)}
    # Start them all, let them load, and time from the moment they are let go: stdin.
    go = [sys.executable, "-c", _AFTER_GO, *command[3:]]
    logs = [instance.root / f"deliver-{n}.log" for n in range(args.processes)]
    processes = [subprocess.Popen(go, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=log.open("wb"), env=env, cwd=instance.root)
                 for log in logs]
    for process in processes:
        assert process.stdout is not None
        process.stdout.readline()  # "ready": imported and configured
    started = time.perf_counter()
    for process in processes:
        assert process.stdin is not None
        process.stdin.write(b"go\n")
        process.stdin.close()
    for process, log in zip(processes, logs, strict=True):
        if process.wait(timeout=3600):
            raise SystemExit(f"deliver failed: {log.read_text(errors='replace')[-3000:]}")
    return time.perf_counter() - started


# A sending process: imports everything first, says so, waits for "go", then runs
# `newsletter deliver` in-process.
_AFTER_GO = """
import sys
from newsletter.cli.main import cli
import newsletter.delivery.sender, newsletter.mail.messages, newsletter.issues.messages
print("ready", flush=True)
sys.stdin.readline()
sys.argv = ["newsletter", *sys.argv[1:]]
cli()
"""


async def _raw_aiosmtplib(host: str, port: int, messages: list[bytes],
                          connections: int) -> None:
    async def one(share: list[bytes]) -> None:
        client = aiosmtplib.SMTP(hostname=host, port=port, start_tls=False)
        await client.connect()
        for index, data in enumerate(share):
            await client.sendmail(SENDER, [f"r{index}@example.org"], data)
        await client.quit()

    await asyncio.gather(*(one(messages[i::connections]) for i in range(connections)))


def _naive(host: str, port: int, prebuilt: list[bytes]) -> float:
    """Seconds to send one EmailMessage per message, built from the same text and HTML, over
    a new smtplib connection each."""
    from newsletter.mail.compose import body_parts

    text, html = body_parts(prebuilt[0])
    started = time.perf_counter()
    for index in range(len(prebuilt)):
        message = EmailMessage()
        message["From"] = f"Humanitarian updates <{SENDER}>"
        message["To"] = f"reader{index}@example.org"
        message["Subject"] = "Central Asia daily"
        message["Message-ID"] = f"<naive.{index}@example.org>"
        message.set_content(text)
        message.add_alternative(html, subtype="html")
        with smtplib.SMTP(host, port) as client:
            client.send_message(message)
    return time.perf_counter() - started


if __name__ == "__main__":
    main()
