"""Benchmark: reports/s through `ingest_inbox` against a plain read-and-hash loop (the I/O floor).

Generates N ReliefWeb-style reports (English UTF-8, Russian Windows-1251, Kazakh UTF-8) in a
temporary inbox, ingests them into a fresh SQLite database, then reads and hashes the same files.
Last line: one JSON object with the figures.

    .venv/bin/python bench/ingest.py [--reports 5000]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from newsletter.config_sections import IngestSettings
from newsletter.reports.ingest import Inbox, ingest_inbox, scan
from newsletter.store import open_store

EN = ("Floods damaged {n} houses in the {place} region, the Red Crescent Society of Kazakhstan "
      "said. About {m} people were evacuated and {k} families received food parcels.")
RU = ("Наводнения повредили {n} домов в регионе {place}. Около {m} человек эвакуированы, "
      "{k} семей получили продуктовые наборы.")
KK = ("Су тасқыны {place} өңірінде {n} үйді зақымдады. Шамамен {m} адам көшірілді және {k} "
      "отбасы азық-түлік алды.")
PLACES = ["Almaty", "Turkestan", "Kyzylorda", "Atyrau", "Mangystau", "Pavlodar", "Akmola"]


def generate(folder: Path, count: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    settled = (datetime.now(UTC) - timedelta(hours=1)).timestamp()
    for i in range(count):
        lang = ("en", "ru", "kk")[i % 3]
        template = {"en": EN, "ru": RU, "kk": KK}[lang]
        paragraphs = [
            template.format(n=rng.randint(10, 9000), m=rng.randint(10, 90000),
                            k=rng.randint(10, 900), place=rng.choice(PLACES))
            for _ in range(rng.randint(4, 9))
        ]
        day = datetime(2020, 1, 1) + timedelta(days=i % 1500)
        text = (
            f" date {day:%Y-%m-%d} {day:%d %b %Y}\n\nReport {i}: floods in {rng.choice(PLACES)}\n\n"
            f"Situation Report\nfrom Agency {i % 40}\nPublished on {day:%d %b %Y}\n\n"
            + "\n\n".join(paragraphs)
            + "\n\nInforming humanitarians worldwide.\nA service provided by UN OCHA\n"
        )
        path = folder / f"report-{i:05d}.txt"
        path.write_bytes(text.encode("cp1251" if lang == "ru" else "utf-8"))
        os.utime(path, (settled, settled))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=5000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        root = Path(tmp)
        inbox = Inbox(folder=root / "seeds", quarantine=root / "quarantine")
        inbox.folder.mkdir()
        generate(inbox.folder, args.reports)
        options = IngestSettings()

        # Floor first, so both runs see a warm page cache.
        started = time.perf_counter()
        digests = [hashlib.sha256(p.read_bytes()).hexdigest() for p in scan(inbox, options)]
        floor_s = time.perf_counter() - started

        with open_store(root / "bench.db") as store:
            started = time.perf_counter()
            outcomes = ingest_inbox(store, inbox, options, now=datetime.now(UTC))
            ours_s = time.perf_counter() - started
        ingested = sum(1 for o in outcomes if o.status.value == "ingested")

    ours = args.reports / ours_s
    floor = len(digests) / floor_s
    print(f"ingest_inbox      {ours:10,.0f} reports/s  ({ingested} ingested in {ours_s:.2f} s)")
    print(f"read+sha256 floor {floor:10,.0f} reports/s  ({len(digests)} files in {floor_s:.2f} s)")
    print(f"ratio ours/floor  {ours / floor:10.3f}")
    print(json.dumps({"bench": "ingest", "reports": args.reports, "ingested": ingested,
                      "reports_per_s": round(ours, 1), "floor_reports_per_s": round(floor, 1),
                      "ratio_vs_floor": round(ours / floor, 4)}))


if __name__ == "__main__":
    main()
