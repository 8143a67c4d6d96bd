"""Benchmark: personalised messages/s, our path against the naive one, in one run.

Ours renders a digest once per language (Jinja2, catalogs, CSS inlining), builds its MIME once,
then fills in each subscriber's To, Message-ID, greeting and unsubscribe links. The naive path
does what a simple mailer does for every recipient: a full Jinja2 render plus a fresh
``EmailMessage`` serialised to bytes. Both produce a complete multipart/alternative message per
recipient. Last line: one JSON object with the figures.

    .venv/bin/python bench/render.py [--recipients 3000] [--items 10]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, date, datetime
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from newsletter.mail.compose import MailSettings, Recipient, build_template
from newsletter.mail.render import (
    GREETING_TOKEN,
    UNSUBSCRIBE_TOKEN,
    MailIssue,
    MailItem,
    Renderer,
    load_translations,
)
from newsletter.reports.decode import decode_report
from newsletter.reports.parse import parse_report
from newsletter.summarise.core import summarise


def digest(items: int, language: str) -> MailIssue:
    reports = [parse_report(decode_report(p.read_bytes()).text)
               for p in sorted((REPO / "seeds").glob("*.txt"))]
    mail_items = []
    for i in range(items):
        report = reports[i % len(reports)]
        summary = summarise(report.title, report.body, dateline=report.dateline).sentences
        mail_items.append(MailItem(i + 1, report.title, summary, (report.source or "OCHA",),
                                   report.kind, report.published,
                                   f"https://updates.example.org/reports/{i + 1}", report.language,
                                   model="en→ru translate-en_ru@1.0"))
    return MailIssue("digest", language, "Central Asia daily", date(2026, 1, 15), tuple(mail_items))


def recipients(count: int) -> list[Recipient]:
    return [Recipient(f"reader{i}@example.org", f"Reader {i}", f"issue-1.sub-{i}@example.org",
                      f"https://updates.example.org/unsubscribe/token{i:08d}",
                      f"unsubscribe@example.org?subject=unsubscribe%20token{i:08d}")
            for i in range(count)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=3000)
    parser.add_argument("--items", type=int, default=10)
    args = parser.parse_args()
    renderer = Renderer(REPO / "templates", load_translations(REPO / "translations"))
    mail = MailSettings("Humanitarian updates", "updates@example.org", "daily.example.org",
                        "Central Asia daily")
    when = datetime(2026, 1, 15, 9, tzinfo=UTC)
    issue = digest(args.items, "ru")
    people = recipients(args.recipients)

    started = time.perf_counter()
    template = build_template(renderer.render(issue), mail, date=when)
    ours_bytes = sum(len(template.personalise(person)) for person in people)
    ours_s = time.perf_counter() - started

    naive_n = max(1, args.recipients // 10)  # the naive path is slow: a tenth of the list
    started = time.perf_counter()
    naive_bytes = 0
    for person in people[:naive_n]:
        rendered = renderer.render(issue)  # full Jinja2 render and CSS inlining, every time
        greeting = rendered.greetings["named"] % {"name": person.name}
        message = EmailMessage()
        message["From"] = formataddr((mail.from_name, mail.from_address))
        message["To"] = formataddr((person.name or "", person.address))
        message["Subject"] = rendered.subject
        message["Date"] = format_datetime(when)
        message["Message-ID"] = f"<{person.message_id}>"
        message["List-Id"] = f"{mail.list_name} <{mail.list_id}>"
        message["List-Unsubscribe"] = (f"<{person.unsubscribe_url}>, "
                                       f"<mailto:{person.unsubscribe_mailto}>")
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        message.set_content(rendered.text.replace(GREETING_TOKEN, greeting)
                            .replace(UNSUBSCRIBE_TOKEN, person.unsubscribe_url))
        message.add_alternative(rendered.html.replace(GREETING_TOKEN, greeting)
                                .replace(UNSUBSCRIBE_TOKEN, person.unsubscribe_url),
                                subtype="html")
        naive_bytes += len(message.as_bytes())
    naive_s = time.perf_counter() - started

    ours = args.recipients / ours_s
    naive = naive_n / naive_s
    print(f"digest of {args.items} items in Russian, ~{ours_bytes // args.recipients:,} bytes "
          "per message")
    print(f"ours (render once, fill per subscriber) {ours:10,.0f} messages/s "
          f"({args.recipients} in {ours_s:.2f} s)")
    print(f"naive (render + EmailMessage each)      {naive:10,.0f} messages/s "
          f"({naive_n} in {naive_s:.2f} s, ~{naive_bytes // naive_n:,} bytes each)")
    print(f"ratio ours/naive                        {ours / naive:10.1f}")
    print(json.dumps({"bench": "render", "recipients": args.recipients, "items": args.items,
                      "bytes_per_message": ours_bytes // args.recipients,
                      "messages_per_s": round(ours), "naive_messages_per_s": round(naive, 1),
                      "ratio_vs_naive": round(ours / naive, 1)}))


if __name__ == "__main__":
    main()
