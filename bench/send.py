"""Benchmark: messages/s into a local SMTP sink, our outbox path against the naive one and
against the ceiling, in one run.

* ours: ``send_outbox`` through the outbox (claim, fill in per subscriber, commit every outcome)
  over a pool of aiosmtplib connections;
* naive: a fresh ``EmailMessage`` and one ``smtplib`` connection per message;
* ceiling: raw aiosmtplib sending the same pre-built bytes over the same number of
  connections, with no outbox at all.

The sink is aiosmtpd in its own process on 127.0.0.1, accepting and discarding. Messages are a
digest of the sample reports, about 20 KB each. Last line: one JSON object with the figures.

    .venv/bin/python bench/send.py [--messages 10000] [--naive 1000] [--connections 4]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import smtplib
import sys
import tempfile
import time
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import aiosmtplib

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.sink import discarding_sink
from newsletter.app import init_instance, load_instance
from newsletter.delivery.rules import OutboxRow
from newsletter.delivery.sender import SendOptions, send_outbox
from newsletter.delivery.smtp import SmtpOptions
from newsletter.issues.create import create_issue
from newsletter.issues.messages import IssueMessages
from newsletter.mail.links import Links
from newsletter.mail.messages import MessageBuilder
from newsletter.reports.ingest import ingest_inbox
from newsletter.subscribers.core import SubscriberRow
from newsletter.summarise.pending import summarise_pending

SECRET = "bench-secret-0123456789"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--naive", type=int, default=1_000, help="messages for the naive path")
    parser.add_argument("--connections", type=int, default=4)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-send-"))
    try:
        with discarding_sink() as port:
            figures = run(work, port, args)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"sink: aiosmtpd in its own process on 127.0.0.1:{port}; "
          f"{figures['bytes_per_message']:,} bytes per message; "
          f"{args.connections} connections")
    print(f"ours (outbox, pooled)       {figures['messages_per_s']:10,.0f} messages/s")
    print(f"naive (EmailMessage+smtplib){figures['naive_messages_per_s']:10,.0f} messages/s")
    print(f"ceiling (raw aiosmtplib)    {figures['ceiling_messages_per_s']:10,.0f} messages/s")
    print(f"ours/naive {figures['ratio_vs_naive']:.1f}x; ours/ceiling "
          f"{figures['share_of_ceiling']:.0%}")
    print(json.dumps(figures))


def run(work: Path, port: int, args: argparse.Namespace) -> dict[str, object]:
    init_instance(work / "office")
    config = work / "office" / "newsletter.toml"
    config.write_text(config.read_text() + '\n[lists.bench]\ntitle = "Central Asia daily"\n')
    office = load_instance(config, cwd=work, environ={"NEWSLETTER_WEB_SECRET": SECRET})
    for path in sorted((REPO / "seeds").glob("*.txt")):
        shutil.copy(path, office.settings.seeds_dir)
        os.utime(office.settings.seeds_dir / path.name, (time.time() - 3600,) * 2)
    now = datetime.now(UTC)
    store = office.open_store()
    ingest_inbox(store, office.inbox, office.settings.ingest, now=now)
    summarise_pending(store, office.settings.summary, now=now)
    store.subscribers.import_rows(
        [SubscriberRow(f"reader{i}@example.org", f"Reader {i}", ("en", "ru", "kk")[i % 3])
         for i in range(args.messages)], "bench", consent_source="bench", now=now)
    spec = office.list_named(store, "bench")
    ids = [r.id for r in store.reports.newest()]
    create_issue(store, office.renderer(), spec, ids, "digest",
                 base_url="https://updates.example.org", domain="example.org", now=now)
    links = Links("https://updates.example.org", "unsubscribe@example.org", "example.org", SECRET)
    source = IssueMessages(store, MessageBuilder(lambda n: office.mail_settings(n, spec.title),
                                                 links))
    smtp = SmtpOptions("127.0.0.1", port, "none", "", "", 60)
    options = SendOptions(sender="updates@example.org", connections=args.connections, lease=600)

    started = time.perf_counter()
    result = asyncio.run(send_outbox(store, source, smtp, options, owner="bench",
                                     clock=lambda: datetime.now(UTC)))
    ours_s = time.perf_counter() - started
    assert result.sent == args.messages, result

    rows = [OutboxRow(r["id"], r["issue_id"], r["subscriber_id"], r["address"], None, "ru",
                      r["message_id"], 0) for r in store.outbox.rows()]
    prebuilt = [source.message(row) for row in rows]
    size = sum(map(len, prebuilt)) // len(prebuilt)

    started = time.perf_counter()
    asyncio.run(_ceiling(port, prebuilt, args.connections))
    ceiling_s = time.perf_counter() - started

    template, _, _ = source.template(rows[0].issue_id, "ru")
    sample = source.message(rows[0]).decode("utf-8")
    text = sample.split("Content-Transfer-Encoding: 8bit\r\n\r\n")[1].split("\r\n--=_nl_")[0]
    html = sample.split("Content-Transfer-Encoding: 8bit\r\n\r\n")[2].split("\r\n--=_nl_")[0]
    started = time.perf_counter()
    for row in rows[: args.naive]:
        message = EmailMessage()
        message["From"] = "Humanitarian updates <updates@example.org>"
        message["To"] = row.address
        message["Subject"] = "Central Asia daily"
        message["Message-ID"] = f"<{row.message_id}>"
        message.set_content(text)
        message.add_alternative(html, subtype="html")
        with smtplib.SMTP("127.0.0.1", port) as client:
            client.send_message(message)
    naive_s = time.perf_counter() - started
    store.close()

    ours = args.messages / ours_s
    naive = args.naive / naive_s
    ceiling = args.messages / ceiling_s
    return {"bench": "send", "messages": args.messages, "connections": args.connections,
            "bytes_per_message": size, "messages_per_s": round(ours),
            "naive_messages_per_s": round(naive), "ceiling_messages_per_s": round(ceiling),
            "ratio_vs_naive": round(ours / naive, 1), "share_of_ceiling": round(ours / ceiling, 3),
            "sink": "aiosmtpd (separate process, 127.0.0.1)"}


async def _ceiling(port: int, messages: list[bytes], connections: int) -> None:
    async def one(share: list[bytes]) -> None:
        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False)
        await client.connect()
        for index, data in enumerate(share):
            await client.sendmail("updates@example.org", [f"r{index}@example.org"], data)
        await client.quit()

    await asyncio.gather(*(one(messages[i::connections]) for i in range(connections)))


if __name__ == "__main__":
    main()
