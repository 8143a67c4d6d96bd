"""Benchmark: rows/s importing generated subscribers, against parsing the same CSV alone.

Generates N rows (default 100,000: valid, some with IDN domains, names in three scripts),
imports them into a fresh SQLite database through the CSV parser and ``import_subscribers``,
then imports the same file again (nothing changes), and times parsing alone as the floor.
Last line: one JSON object with the figures.

    .venv/bin/python bench/subscribers.py [--rows 100000]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from newsletter.store import open_store
from newsletter.subscribers.csvfile import parse_subscriber_csv

NAMES = ["Aigul", "Айгүл", "Борис", "Chen", "Дана", "Ерлан", "Fatima", "Гүлнар"]
DOMAINS = ["example.org", "почта.kz", "mail.example.kz", "un.example.org"]


def generate(rows: int) -> str:
    lines = ["email,name,language,format"]
    for i in range(rows):
        lines.append(f"reader.{i}+news@{DOMAINS[i % len(DOMAINS)]},{NAMES[i % len(NAMES)]} {i},"
                     f"{('en', 'ru', 'kk')[i % 3]},{('html', 'text')[i % 7 == 0]}")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    text = generate(args.rows)
    now = datetime.now(UTC)
    with tempfile.TemporaryDirectory() as tmp, open_store(Path(tmp) / "bench.db") as store:
        started = time.perf_counter()
        parsed = parse_subscriber_csv(text)
        parse_s = time.perf_counter() - started

        started = time.perf_counter()
        first = store.subscribers.import_rows(parse_subscriber_csv(text).rows, "daily",
                                         consent_source="bench", now=now)
        import_s = time.perf_counter() - started

        started = time.perf_counter()
        again = store.subscribers.import_rows(parse_subscriber_csv(text).rows, "daily",
                                         consent_source="bench", now=now)
        reimport_s = time.perf_counter() - started
        recipients = sum(1 for _ in store.subscribers.recipients("daily"))
    print(f"{args.rows:,} rows, {len(parsed.problems)} refused")
    print(f"import (parse, validate, insert, subscribe) {args.rows / import_s:10,.0f} rows/s "
          f"({import_s:.2f} s; {first.added:,} added)")
    print(f"re-import of the same file                  {args.rows / reimport_s:10,.0f} rows/s "
          f"({reimport_s:.2f} s; {again.added} added, {again.updated} updated)")
    print(f"parse and validate only (the floor)         {args.rows / parse_s:10,.0f} rows/s")
    print(f"ratio import/floor                          {parse_s / import_s:10.2f}")
    print(json.dumps({"bench": "subscribers", "rows": args.rows,
                      "import_rows_per_s": round(args.rows / import_s),
                      "reimport_rows_per_s": round(args.rows / reimport_s),
                      "parse_rows_per_s": round(args.rows / parse_s),
                      "ratio_vs_parse": round(parse_s / import_s, 3),
                      "recipients": recipients}))


if __name__ == "__main__":
    main()
