"""Benchmark: the outbox under several workers, on SQLite and on PostgreSQL, in one run.

1. Claim and mark: W worker processes (1, 2, 4) each claim B rows at a time (1, 50) and move
   every row sending → transmitting → sent with fenced writes, until the queue is empty;
   rows/s, client CPU per row (the workers' own) and machine CPU per row (workers plus
   database server, from /proc/stat). Every configuration runs in interleaved rounds; the
   baseline is SQLite with one worker claiming one row at a time.
2. End to end: messages/s from `newsletter worker deliver` processes on PostgreSQL to an
   aiosmtpd sink in its own process, 1 worker against 3, from the first message sent (the
   workers' start-up is left out).
3. Claim latency with 1,000,000 sent rows in the outbox: one claim of 50 due rows, with the
   schema's (state, next_attempt_at) index and without it (the baseline).

The PostgreSQL cluster is a throwaway one from the distribution's binaries (tests/postgres.py).
Last line: one JSON object with every figure.

    .venv/bin/python bench/scale.py [--rows 4000] [--messages 3000] [--sent 1000000]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.sink import discarding_sink
from newsletter.app import init_instance, load_instance
from newsletter.delivery.rules import QueuedMessage, State
from newsletter.issues.create import create_issue
from newsletter.lists.parse import parse_list
from newsletter.reports.model import Report
from newsletter.store import Store, open_store
from newsletter.subscribers.addresses import check_subscriber
from tests.postgres import Cluster

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SECRET = "bench-scale-secret-0123456789-abcdefgh"


def _queue(store: Store, rows: int) -> int:
    """``rows`` subscribers of list "b" and one issue with a pending row for each."""
    store.subscribers.import_rows([check_subscriber(f"r{i}@example.org") for i in range(rows)],
                                  "b", consent_source="bench", now=NOW)

    def recipients(issue_id: int) -> Any:
        for s in store.subscribers.recipients("b"):
            yield QueuedMessage(s.id, s.email, s.name, s.language,
                                f"n{issue_id}.{s.id}@example.org", s.format)

    issue_id, _ = store.issues.create("b", "alert", [], {"en": "{}"}, NOW,
                                      recipients=recipients, claim=False)
    return issue_id


def _reset(store: Store) -> None:
    store.db.execute(f"""UPDATE outbox SET state = '{State.PENDING}', lease_owner = NULL,
                           lease_until = NULL, sent_at = NULL, attempts = 0
                         WHERE state <> '{State.PENDING}' AND message_id NOT LIKE 'old%'""")


def _drain(target: str, owner: str, batch: int, ready: Any, go: Any, out: Any) -> None:
    """One worker: claim ``batch`` rows at a time and mark each through to sent."""
    with open_store(target) as store:
        ready.wait()
        go.wait()
        cpu, rows = time.process_time(), 0
        while True:
            claimed = store.outbox.claim(owner, batch, NOW, 60).rows
            if not claimed:
                break
            for row in claimed:
                store.outbox.mark(row.id, owner, State.SENDING, State.TRANSMITTING)
                store.outbox.mark(row.id, owner, State.TRANSMITTING, State.SENT, code=250,
                                  now=NOW, attempted=True)
            rows += len(claimed)
        out.put((rows, time.process_time() - cpu))


def _machine_cpu() -> float:
    """Seconds of CPU the whole machine spent (user, nice, system), from /proc/stat."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    return (int(fields[0]) + int(fields[1]) + int(fields[2])) / os.sysconf("SC_CLK_TCK")


def claim_and_mark(target: str, workers: int, batch: int) -> dict[str, float]:
    with open_store(target) as store:
        _reset(store)
        total = int(store.db.scalar(f"SELECT count(*) FROM outbox WHERE state = "
                                    f"'{State.PENDING}'"))
    context = multiprocessing.get_context("spawn")
    ready, go, out = context.Barrier(workers + 1), context.Event(), context.Queue()
    processes = [context.Process(target=_drain, args=(target, f"w{i}", batch, ready, go, out))
                 for i in range(workers)]
    for process in processes:
        process.start()
    ready.wait()
    machine, started = _machine_cpu(), time.perf_counter()
    go.set()
    results = [out.get(timeout=600) for _ in processes]
    elapsed = time.perf_counter() - started
    machine = _machine_cpu() - machine
    for process in processes:
        process.join()
    rows = sum(r for r, _ in results)
    assert rows == total, (rows, total)
    return {"rows_per_s": rows / elapsed,
            "client_cpu_us_per_row": 1e6 * sum(c for _, c in results) / rows,
            "machine_cpu_us_per_row": 1e6 * machine / rows}


def end_to_end(url: str, messages: int, workers: int, port: int, work: Path) -> float:
    """Messages/s from ``workers`` `newsletter worker deliver` processes to the sink."""
    with open_store(url) as store:
        store.db.execute("DELETE FROM outbox")
        _queue_issue_rows(store)
    office = work / f"office-{workers}"
    if not office.exists():
        init_instance(office)
    env = {**os.environ, "NEWSLETTER_DATABASE_URL": url, "NEWSLETTER_WEB_SECRET": SECRET,
           "NEWSLETTER_DELIVERY_TRANSPORT": "smtp", "NEWSLETTER_SMTP_HOST": "127.0.0.1",
           "NEWSLETTER_SMTP_PORT": str(port), "NEWSLETTER_SMTP_SECURITY": "none",
           # the office's links point to this machine: allowed for the benchmark's sink only
           "NEWSLETTER_WEB_ALLOW_INSECURE_LINKS": "true",
           "NEWSLETTER_DELIVERY_POLL_SECONDS": "0.2", "NEWSLETTER_LOG_LEVEL": "error"}
    processes = [subprocess.Popen([sys.executable, "-m", "newsletter", "--config", str(office),
                                   "worker", "deliver"], env=env, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL) for _ in range(workers)]
    try:
        with open_store(url) as store:
            def sent() -> int:
                return int(store.db.scalar(
                    f"SELECT count(*) FROM outbox WHERE state = '{State.SENT}'"))

            while (first := sent()) == 0:  # the workers start (about a second each)
                time.sleep(0.01)
            started = time.perf_counter()
            while (done := sent()) < messages:
                time.sleep(0.05)
            elapsed = time.perf_counter() - started
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            process.wait(timeout=60)
    return (done - first) / elapsed


def _queue_issue_rows(store: Store) -> None:
    """A pending row for every subscriber of list "b", in a fresh alert with a real rendered
    body (the workers build each message from it)."""
    if store.reports.id_by_identity("bench") is None:
        store.reports.add(Report("Kazakhstan: Floods", "OCHA", "Situation Report", NOW.date(),
                                 "en", "Floods hit the north. " * 40, posted=NOW.date()),
                          content_hash="bench", identity_key="bench", path="bench.txt",
                          encoding="utf-8", now=NOW)
    office = Path(tempfile.mkdtemp(prefix="bench-office-"))
    init_instance(office)
    instance = load_instance(office, cwd=office, environ={"NEWSLETTER_WEB_SECRET": SECRET})
    create_issue(store, instance.renderer(), parse_list("b", {"title": "B"}),
                 [store.reports.id_by_identity("bench") or 1], "alert",
                 base_url="https://u.example.org", domain="example.org", now=NOW,
                 claim_reports=False)
    shutil.rmtree(office, ignore_errors=True)


DUE_INDEX = ("CREATE INDEX outbox_due ON outbox(state, next_attempt_at) "
             "WHERE state IN ('pending', 'retry')")  # as migration 0014 makes it


def claim_latency(target: str, sent: int) -> dict[str, float]:
    """ms for one claim of 50 due rows among ``sent`` sent ones, with the schema's index of
    due rows and without it (the baseline)."""
    with open_store(target) as store:
        store.db.execute("DELETE FROM outbox")
        issue_id = int(store.db.scalar(
            "INSERT INTO issues (list_name, kind, report_ids, created_at) "
            "VALUES ('b', 'alert', '[]', ?) RETURNING id", (NOW.isoformat(),)))
        series = ("SELECT generate_series(1, ?) AS i" if store.backend == "postgresql" else
                  "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < ?) "
                  "SELECT i FROM s")
        store.db.execute(
            f"""INSERT INTO outbox (issue_id, subscriber_id, address, language, message_id,
                  state, sent_at)
                SELECT ?, i, 'old' || i || '@example.org', 'en', 'old' || i,
                       '{State.SENT}', ? FROM ({series}) AS n""",
            (issue_id, NOW.isoformat(), sent))
        _queue(store, 200)
        if store.backend == "postgresql":
            # As in an outbox that grew over months: the sent rows fill the table's first
            # pages and the due ones sit at its end (no free space early on for new versions).
            store.db.execute("ALTER TABLE outbox SET (autovacuum_enabled = false)")
            store.db.execute("VACUUM FULL outbox")
            # A scan of a large table starts where the last one stopped (synchronized scans):
            # repeated claims would find the due rows at once and hide what a scan costs.
            store.db.execute("SET synchronize_seqscans = off")
        figures = {}
        for label in ("with_index", "without_index"):
            store.db.execute("ANALYZE")
            timings = []
            for _ in range(15):
                _reset(store)
                started = time.perf_counter()
                claimed = store.outbox.claim("latency", 50, NOW, 60).rows
                timings.append((time.perf_counter() - started) * 1000)
                assert len(claimed) == 50
            figures[label] = statistics.median(timings)
            if label == "with_index":
                store.db.execute("DROP INDEX outbox_due")
        store.db.execute(DUE_INDEX)
    figures["ratio_without_vs_with"] = figures["without_index"] / figures["with_index"]
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=4_000, help="rows per claim-and-mark run")
    parser.add_argument("--messages", type=int, default=3_000, help="end-to-end messages")
    parser.add_argument("--sent", type=int, default=1_000_000, help="sent rows for latency")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    cluster = Cluster()
    try:
        targets = {"sqlite": str(work / "bench.db"), "postgresql": cluster.database("bench")}
        for target in targets.values():
            with open_store(target) as store:
                _queue(store, args.rows)
        runs: dict[str, list[dict[str, float]]] = {}
        configs = [(b, w, n) for n in (1, 50) for w in (1, 2, 4) for b in targets]
        for _ in range(args.rounds):  # interleaved: every configuration once per round
            for backend, workers, batch in configs:
                key = f"{backend}_w{workers}_b{batch}"
                runs.setdefault(key, []).append(claim_and_mark(targets[backend], workers, batch))
                print(f"{key}: {runs[key][-1]['rows_per_s']:,.0f} rows/s", file=sys.stderr)
        claims = {key: {name: statistics.median(r[name] for r in results)
                        for name in results[0]} for key, results in runs.items()}
        baseline = claims["sqlite_w1_b1"]["rows_per_s"]
        for figures in claims.values():
            figures["ratio_vs_sqlite_w1_b1"] = figures["rows_per_s"] / baseline
        with discarding_sink() as port:
            e2e_db = cluster.database("e2e")
            with open_store(e2e_db) as store:
                _queue(store, args.messages)
                store.db.execute("DELETE FROM outbox")
            one = end_to_end(e2e_db, args.messages, 1, port, work)
            three = end_to_end(e2e_db, args.messages, 3, port, work)
        latency = {backend: claim_latency(cluster.database(f"latency_{backend}")
                                          if backend == "postgresql"
                                          else str(work / "latency.db"), args.sent)
                   for backend in targets}
    finally:
        cluster.stop()
        shutil.rmtree(work, ignore_errors=True)
    print(f"{'configuration':<22} {'rows/s':>9} {'client µs/row':>14} {'machine µs/row':>15} "
          f"{'× baseline':>11}")
    for key, figures in claims.items():
        print(f"{key:<22} {figures['rows_per_s']:>9,.0f} {figures['client_cpu_us_per_row']:>14,.0f}"
              f" {figures['machine_cpu_us_per_row']:>15,.0f} "
              f"{figures['ratio_vs_sqlite_w1_b1']:>10.2f}×")
    print(f"end to end on PostgreSQL: 1 worker {one:,.0f} msg/s, 3 workers {three:,.0f} msg/s "
          f"(×{three / one:.2f})")
    for backend, figures in latency.items():
        print(f"claim of 50 among {args.sent:,} sent rows on {backend}: "
              f"{figures['with_index']:.2f} ms with the (state, next_attempt_at) index, "
              f"{figures['without_index']:.2f} ms without "
              f"(×{figures['ratio_without_vs_with']:.1f})")
    print(json.dumps({"bench": "scale", "rows": args.rows, "baseline": "sqlite_w1_b1",
                      "claim_and_mark": claims,
                      "end_to_end_msgs_per_s": {"workers_1": one, "workers_3": three,
                                                "ratio_3_vs_1": three / one},
                      "claim_latency_ms": latency, "sent_rows": args.sent}))


if __name__ == "__main__":
    main()
