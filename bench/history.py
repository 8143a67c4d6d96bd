"""Benchmark: what the outbox's periodic queries cost as its history grows, on SQLite and on
PostgreSQL, in one run.

The outbox keeps every message it sent. The queries a service runs again and again (a
claim, a lease renewal, the recovery of every sweep, the tally's fold, the summary that
`deliver` and `status` print, the latest refusals, what came back per list, the messages
each worker holds) must cost what the waiting work costs, not what the archive holds. For
each backend the outbox is filled with sent messages (one issue per 100,000, one in 1,000
refused, in three languages) up to each ``--sizes`` in turn, with the same live work beside
them each time (``--live`` messages due, a few waiting to retry); each query's median time
over ``--runs`` runs is printed against the table's size.

Two baselines, in the same run: the same query with no history (``growth``: its time at a
size over its time with an empty archive; 1.0 means it does not grow), and the queries as
they were before the tally (``old``: a count over every row, a recovery whose condition did
not name the partial index), whose time grows with the table (``speedup``: old over new).

The history is written through the real schema as settled rows, as ``db copy`` writes them,
and the tally is counted again from them once (``OutboxTally.rebuild``, what a copy does;
its time is printed too); on PostgreSQL the tables are then vacuumed and analysed, as
autovacuum would after such a load.
The PostgreSQL cluster is a throwaway one (tests/postgres.py), ended whatever happens.
Last line: one JSON object with every figure.

    .venv/bin/python bench/history.py [--sizes 1000000 10000000] [--live 1000] [--runs 5]
        [--backends sqlite postgresql]
"""

from __future__ import annotations

import argparse
import json
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from newsletter.delivery.rules import QueuedMessage
from newsletter.store import Store, open_store
from newsletter.subscribers.addresses import check_subscriber
from tests.postgres import Cluster

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
PER_ISSUE = 100_000
OWNER = "bench/holder"

# The queries as they were before the tally (the ``old`` baseline).
OLD = {
    "summary": """SELECT state, count(*) FROM outbox GROUP BY state""",
    "recover": """UPDATE outbox SET state = 'pending', lease_owner = NULL, lease_until = NULL
                  WHERE state = 'sending' AND lease_until <= ?""",
    "returns": """SELECT i.list_name, o.language, count(*),
                         sum(CASE WHEN o.returned = 'bounced' THEN 1 ELSE 0 END)
                    FROM outbox o JOIN issues i ON i.id = o.issue_id
                   WHERE o.state IN ('sent', 'failed') GROUP BY 1, 2""",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--live", type=int, default=1_000, help="messages due beside them")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--backends", nargs="+", default=["sqlite", "postgresql"],
                        choices=["sqlite", "postgresql"])
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, _interrupted)
    figures: dict[str, Any] = {"sizes": sorted(args.sizes), "live": args.live,
                               "runs": args.runs}
    with tempfile.TemporaryDirectory(prefix="newsletter-history-") as work:
        for backend in args.backends:
            with _target(backend, Path(work)) as target:
                figures[backend] = measure(target, backend, sorted(args.sizes), args)
    print(json.dumps(figures))


def _interrupted(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # the finally blocks end the cluster and remove the files


@contextmanager
def _target(backend: str, work: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield str(work / "history.db")
        return
    cluster = Cluster()
    try:
        yield cluster.database("history")
    finally:
        cluster.stop()


def measure(target: str, backend: str, sizes: list[int], args: argparse.Namespace,
            ) -> dict[str, Any]:
    store = open_store(target)
    try:
        _live_work(store, args.live)
        result: dict[str, Any] = {"0": _timings(store, args.runs)}
        _print(backend, 0, result["0"])
        have = 0
        for size in sizes:
            started = time.perf_counter()
            _history(store, have, size)
            written = time.perf_counter() - started
            started = time.perf_counter()
            store.outbox.tally.rebuild()
            folded = time.perf_counter() - started
            if backend == "postgresql":
                # What autovacuum does after a bulk load (the moves table is vacuumed often:
                # the schema sets its threshold): fresh statistics, the folded moves gone.
                for table in ("outbox", "outbox_moves", "outbox_tally"):
                    store.db.execute(f"VACUUM ANALYZE {table}")
            have = size
            row = _timings(store, args.runs)
            row["write_s"], row["rebuild_s"] = round(written, 1), round(folded, 1)
            row["growth"] = {name: round(row[name] / max(result["0"][name], 1e-3), 2)
                             for name in _QUERIES}
            row["speedup"] = {name: round(row[f"old_{name}"] / max(row[name], 1e-3), 1)
                              for name in OLD}
            result[str(size)] = row
            _print(backend, size, row)
        return result
    finally:
        store.close()


def _live_work(store: Store, live: int) -> None:
    """``live`` readers of list "b" and one issue queued for them; the holder's claim."""
    store.subscribers.import_rows([check_subscriber(f"r{i}@example.org") for i in range(live)],
                                  "b", consent_source="bench", now=NOW)

    def recipients(issue_id: int) -> Iterator[QueuedMessage]:
        for s in store.subscribers.recipients("b"):
            yield QueuedMessage(s.id, s.email, s.name, s.language,
                                f"n{issue_id}.{s.id}@example.org", s.format)

    store.issues.create("b", "alert", [], {"en": "{}"}, NOW, recipients=recipients)


def _history(store: Store, start: int, end: int) -> None:
    """Sent messages ``start`` to ``end`` (one issue per 100,000), in chunks of one issue."""
    db = store.db
    postgresql = db.dialect.name == "postgresql"
    for low in range(start, end, PER_ISSUE):
        high = min(low + PER_ISSUE, end)
        issue_id = db.scalar(
            """INSERT INTO issues (list_name, kind, report_ids, created_at)
               VALUES ('archive', 'digest', '[]', ?) RETURNING id""",
            ((NOW - timedelta(days=1 + low // PER_ISSUE)).isoformat(),))
        rows = (f"SELECT n FROM generate_series({low}, {high - 1}) AS g(n)" if postgresql else
                f"""SELECT n FROM (WITH RECURSIVE g(n) AS (SELECT {low} UNION ALL
                      SELECT n + 1 FROM g WHERE n < {high - 1}) SELECT n FROM g)""")
        with db.transaction():
            db.execute(
                f"""INSERT INTO outbox (issue_id, subscriber_id, address, language, message_id,
                                        state, last_code, sent_at, format)
                    SELECT ?, n, 'h' || n || '@example.org',
                           CASE n % 3 WHEN 0 THEN 'en' WHEN 1 THEN 'ru' ELSE 'kk' END,
                           'h' || n || '@history.example.org',
                           CASE WHEN n % 1000 = 999 THEN 'failed' ELSE 'sent' END,
                           CASE WHEN n % 1000 = 999 THEN 550 END, ?, 'html'
                    FROM ({rows}) AS seq""", (int(issue_id), NOW.isoformat()))


_QUERIES = ("claim", "renew", "recover", "fold", "summary", "last_errors", "returns",
            "messages_held")


def _timings(store: Store, runs: int) -> dict[str, float]:
    """Each query's median time, in ms."""
    outbox = store.outbox
    later = NOW + timedelta(seconds=1)
    steps: dict[str, Callable[[], object]] = {
        "renew": lambda: outbox.renew(OWNER, NOW, 60),
        "recover": lambda: outbox.recover(later),
        "fold": outbox.tally.fold,
        "summary": lambda: outbox.summary(NOW),
        "last_errors": outbox.last_errors,
        "returns": lambda: store.bounces.returns(NOW, timedelta(days=3)),
        "messages_held": store.workers.messages_held,
    }
    times: dict[str, list[float]] = {name: [] for name in (*_QUERIES, *(f"old_{n}" for n in OLD))}
    for _ in range(runs):
        started = time.perf_counter()
        claimed = outbox.claim(OWNER, 50, NOW, 60)
        times["claim"].append(time.perf_counter() - started)
        for name, step in steps.items():
            started = time.perf_counter()
            step()
            times[name].append(time.perf_counter() - started)
        outbox.release(OWNER)
        assert claimed.rows, "the live work ran out"
        for name, sql in OLD.items():
            started = time.perf_counter()
            with store.db.transaction():
                store.db.execute(sql, (later.isoformat(),) if "?" in sql else ())
            times[f"old_{name}"].append(time.perf_counter() - started)
    return {name: round(statistics.median(spent) * 1000, 3) for name, spent in times.items()}


def _print(backend: str, size: int, row: dict[str, Any]) -> None:
    shown = "  ".join(f"{name} {row[name]:.2f}" for name in _QUERIES)
    old = "  ".join(f"old_{name} {row[f'old_{name}']:.1f}" for name in OLD)
    print(f"{backend:10} {size:>10,} sent rows (ms)  {shown}  |  {old}", flush=True)
    if "growth" in row:
        print(f"{'':10} {'':>10}  growth over no history: {row['growth']}; "
              f"speedup over old: {row['speedup']}; written in {row['write_s']} s, "
              f"tally rebuilt in {row['rebuild_s']} s", flush=True)


if __name__ == "__main__":
    main()
