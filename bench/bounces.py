"""Benchmark: returned messages read, matched and applied per second from a Maildir, against
flufl.bounce scanning the same messages alone, in one run.

A private Postfix (:mod:`tests.mailserver`) first makes ``--real`` real delivery status
notifications: messages from ``bounces+TOKEN@news.test`` to readers who do not exist. A
Maildir of ``--messages`` returned messages is then written: six in ten are those real DSNs,
each re-addressed to another sent message of an office with as many readers; the rest are the
hand-made kinds of :mod:`tests.bounce_mail` (complaints, auto-replies, qmail and Exim bounces,
Russian DSNs, and forged ones that match nothing).

* **ours**: ``BounceReader.read`` over the Maildir: each message read (its first
  ``[bounces] max_bytes``), parsed, matched by its signed token, recorded and applied in one
  SQLite transaction, then moved to ``cur/``;
* **flufl.bounce alone** (the baseline): each file read, parsed by ``email`` and scanned by
  ``flufl.bounce.all_failures``, with nothing matched, recorded or moved.

Prints messages/s of each and ours over the baseline, and the outcomes. Last line: one JSON
object with the figures.

    .venv/bin/python bench/bounces.py [--messages 10000] [--real 60]
"""

from __future__ import annotations

import argparse
import email
import json
import os
import re
import shutil
import smtplib
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from flufl.bounce import all_failures

from newsletter.app import Instance, init_instance, load_instance
from newsletter.bounces.sources import MaildirSource
from newsletter.bounces.verp import ReturnPath
from newsletter.issues.create import create_issue
from newsletter.reports.ingest import ingest_inbox
from newsletter.subscribers.addresses import SubscriberRow
from newsletter.summarise.pending import summarise_pending
from tests import bounce_mail
from tests.helpers import SAMPLE_REPORT
from tests.mailserver import Postfix

SECRET = "bench-bounces-secret-0123456789abcdef"
RETURN_PATH = "bounces@news.test"


def real_dsns(count: int) -> list[bytes]:
    """``count`` DSNs a real Postfix wrote, for messages from ``bounces+tokN@news.test`` to
    ``ghostN@readers.test`` (neither exists)."""
    with Postfix(mailboxes=[RETURN_PATH, "someone@readers.test"]) as postfix:
        with smtplib.SMTP("127.0.0.1", postfix.port, timeout=60) as smtp:
            for i in range(count):
                smtp.sendmail(f"bounces+tok{i}x@news.test", [f"ghost{i}@readers.test"],
                              f"From: updates@news.test\r\nTo: ghost{i}@readers.test\r\n"
                              f"Subject: Floods {i}\r\n\r\nFloods hit the north.\r\n")
        paths = postfix.wait_for_mail(RETURN_PATH, count, timeout=300)
        return [path.read_bytes() for path in paths]


def office(work: Path, readers: int) -> Instance:
    """An office whose one alert went to ``readers`` readers (every message sent)."""
    init_instance(work / "office")
    config = work / "office" / "newsletter.toml"
    config.write_text(config.read_text() + '\n[lists.bench]\ntitle = "Bench"\n')
    instance = load_instance(config, cwd=work, environ={
        "NEWSLETTER_WEB_SECRET": SECRET, "NEWSLETTER_BOUNCES_RETURN_PATH": RETURN_PATH})
    shutil.copy(SAMPLE_REPORT, instance.settings.seeds_dir / "sample.txt")
    os.utime(instance.settings.seeds_dir / "sample.txt", (time.time() - 3600,) * 2)  # settled
    now = datetime.now(UTC)
    with instance.open_store() as store:
        ingest_inbox(store, instance.inbox, instance.settings.ingest, now=now)
        summarise_pending(store, instance.settings.summary, now=now)
        store.subscribers.import_rows(
            [SubscriberRow(f"reader{i}@readers.test", None, ("en", "ru", "kk")[i % 3])
             for i in range(readers)], "bench", consent_source="bench", now=now)
        create_issue(store, instance.renderer(), instance.lists_of(store).named("bench"),
                     [1], "alert", base_url="https://u.example.org", domain="news.test",
                     now=now)
        with store.transaction():
            store.db.execute("UPDATE outbox SET state = 'sent', sent_at = ?", (now.isoformat(),))
    return instance


def write_maildir(folder: Path, instance: Instance, dsns: list[bytes], count: int) -> None:
    """``count`` returned messages, one per sent message, in ``folder``/new."""
    for sub in ("tmp", "new", "cur"):
        (folder / sub).mkdir(parents=True)
    path = instance.return_path()
    assert path is not None
    forger = ReturnPath(RETURN_PATH, ["another-office-key-000000000000"])
    with instance.open_store() as store:
        rows = [(row["id"], row["address"]) for row in store.outbox.rows()][:count]
    made = (bounce_mail.arf, bounce_mail.auto_reply, bounce_mail.qmail)
    for index, (row_id, address) in enumerate(rows):
        to = path.address(row_id)
        kind = index % 10
        if kind < 6:
            real = dsns[index % len(dsns)]
            token = re.search(rb"bounces\+tok\d+x@news\.test", real)
            ghost = re.search(rb"ghost\d+@readers\.test", real)
            assert token is not None
            assert ghost is not None
            raw = (real.replace(token.group(), to.encode())
                   .replace(ghost.group(), address.encode()))
        elif kind < 9:
            raw = made[kind - 6](to, address)
        elif index % 30 == 9:
            raw = bounce_mail.russian_dsn(to, address)
        elif index % 30 == 19:
            raw = bounce_mail.exim(to, address)
        else:  # a forged DSN: it matches nothing
            raw = bounce_mail.dsn(forger.address(row_id), address)
        (folder / "new" / f"{index:06d}.bench:2,").write_bytes(raw)


def flufl_alone(folder: Path) -> tuple[float, int]:
    started = time.perf_counter()
    found = 0
    for path in sorted((folder / "new").iterdir()):
        temporary, permanent = all_failures(email.message_from_bytes(path.read_bytes()))
        found += bool(temporary or permanent)
    return time.perf_counter() - started, found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--real", type=int, default=60, help="real Postfix DSNs to make")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-bounces-"))
    try:
        dsns = real_dsns(args.real)
        instance = office(work, args.messages)
        maildir = work / "Maildir"
        write_maildir(maildir, instance, dsns, args.messages)
        baseline_s, found = flufl_alone(maildir)
        with instance.open_store() as store:
            reader = instance.bounce_reader(store)
            reader.max_messages = args.messages
            started = time.perf_counter()
            run = reader.read(MaildirSource(maildir, instance.settings.bounces.max_bytes))
            ours_s = time.perf_counter() - started
            stopped = Counter(s.status for s, _ in store.subscribers.listing())
    finally:
        shutil.rmtree(work, ignore_errors=True)
    assert run.read == args.messages, run.figures()
    assert not run.again, run.figures()  # every message is different
    ours, baseline = args.messages / ours_s, args.messages / baseline_s
    print(f"real Postfix DSNs: {len(dsns)}, messages: {args.messages}")
    print(f"ours (read, match, record, apply, move)  {ours:8.0f} messages/s  "
          f"{ours_s:6.2f} s")
    print(f"flufl.bounce scanning alone (baseline)   {baseline:8.0f} messages/s  "
          f"{baseline_s:6.2f} s  ({found} found bounces)")
    print(f"ours / baseline: {ours / baseline:.2f}")
    outcomes = {str(outcome): n for outcome, n in run.outcomes.items()}
    print(f"outcomes: {outcomes}; readers: {dict(stopped)}")
    print(json.dumps({"bench": "bounces", "baseline": "flufl.bounce all_failures alone",
                      "messages": args.messages, "real_postfix_dsns": len(dsns),
                      "ours_per_s": round(ours, 1), "baseline_per_s": round(baseline, 1),
                      "ratio": round(ours / baseline, 3), "outcomes": outcomes,
                      "readers": dict(stopped)}))


if __name__ == "__main__":
    main()
