"""Benchmark: the outbox under several workers, on SQLite and on PostgreSQL, in one run.

1. Claim and fence: W worker processes (``--workers``: 1, 2, 4) each claim B rows at a time
   (1, 50) and move them as the sender does (``Outbox.claim``; then, in one transaction per
   claimed group, ``Outbox.write`` of the previous group's outcomes, ``Outbox.skip_departed``
   and ``Outbox.fence``: sending → transmitting; each row's outcome, transmitting → sent, is
   a ``Change`` written with the next group), until the queue is empty; rows/s, client CPU
   per row (the workers' own) and machine CPU per row (workers plus database server, from
   /proc/stat), timed from the moment the loaded workers are let go. Every configuration
   runs in interleaved rounds; the baseline is SQLite with one worker claiming one row at a
   time.
2. End to end: messages/s from `newsletter worker deliver` processes on PostgreSQL to an
   aiosmtpd sink in its own process, 1 worker against 3: from the first message sent (the
   workers' start-up left out: they are long-running services) and from the workers' launch.
3. Claim latency with ``--sent`` sent rows in the outbox: one claim of 50 due rows, with the
   schema's (state, next_attempt_at) index and without it (the baseline).

The PostgreSQL cluster is a throwaway one from the distribution's binaries (tests/postgres.py),
stopped and removed whatever ends the run: an error, Ctrl-C or SIGTERM. A worker that fails
ends the run at once with its traceback. Last line: one JSON object with every figure.

    .venv/bin/python bench/scale.py [--rows 4000] [--messages 3000] [--sent 1000000]
        [--rounds 2] [--workers 1,2,4]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import queue
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.sink import discarding_sink
from newsletter.app import init_instance, load_instance
from newsletter.delivery.rules import Change, QueuedMessage, State
from newsletter.issues.create import create_issue
from newsletter.lists.parse import parse_list
from newsletter.reports.model import Report
from newsletter.store import Store, open_store
from newsletter.subscribers.addresses import check_subscriber
from tests.postgres import Cluster

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SECRET = "bench-scale-secret-0123456789-abcdefgh"
HANG = 600.0  # seconds without any word from live workers: a hang, not a slow run


class Terminated(BaseException):
    """SIGTERM, turned into an exception so that every ``finally`` runs (the cluster stops);
    like KeyboardInterrupt, no ``except Exception`` catches it on the way."""


class WorkerFailed(Exception):
    """A worker process of the benchmark failed or died: the run ends at once."""


def _terminated(signum: int, frame: FrameType | None) -> None:
    raise Terminated(f"stopped by signal {signum}")


@contextmanager
def _signals_deferred() -> Iterator[None]:
    """SIGINT and SIGTERM wait until the block ends (the cluster being made is kept, so that
    the run's ``finally`` stops it), then act as usual."""
    received: list[int] = []
    previous = {number: signal.signal(number, lambda n, _: received.append(n))
                for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        if signal.SIGTERM in received:
            raise Terminated(f"stopped by signal {signal.SIGTERM}")
        if signal.SIGINT in received:
            raise KeyboardInterrupt


@contextmanager
def _signals_ignored() -> Iterator[None]:
    """No SIGINT or SIGTERM cuts the cleanup short (a second Ctrl-C while the cluster stops)."""
    previous = {number: signal.signal(number, signal.SIG_IGN)
                for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


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


def _drain(target: str, owner: str, batch: int, go: Any, out: Any) -> None:
    """One worker: claim ``batch`` rows at a time and move them through to sent as the sender
    does (newsletter.delivery.sender's ``_Book``): the outcomes of a group are written in the
    transaction that fences the next one. Says "ready", then "done" with its rows and CPU
    seconds, or "failed" with the traceback."""
    try:
        with open_store(target) as store:
            out.put(("ready", owner))
            go.wait()
            cpu, rows = time.process_time(), 0
            outcomes: list[Change] = []
            while True:
                claimed = store.outbox.claim(owner, batch, NOW, 60).rows
                if not claimed:
                    break
                ids = [row.id for row in claimed]
                with store.transaction():
                    if outcomes:
                        store.outbox.write(outcomes, owner, NOW)
                    store.outbox.skip_departed(ids, owner)
                    fenced = store.outbox.fence(ids, owner)
                if fenced != set(ids):
                    raise AssertionError(f"{len(ids) - len(fenced)} claimed rows not fenced")
                outcomes = [Change(row_id, State.TRANSMITTING, State.SENT, 250, "2.0.0 Ok",
                                   attempted=True) for row_id in ids]
                rows += len(ids)
            if outcomes and not all(store.outbox.write(outcomes, owner, NOW)):
                raise AssertionError("an outcome was not written: the lease was lost")
            out.put(("done", owner, rows, time.process_time() - cpu))
    except Exception:
        out.put(("failed", owner, traceback.format_exc()))
        sys.exit(1)


def _gather(out: Any, processes: list[Any], kind: str) -> list[tuple[Any, ...]]:
    """One ``kind`` message from every worker; a worker that reports a failure, or dies
    without a word, ends the run at once (no waiting for the others)."""
    got: list[tuple[Any, ...]] = []
    quiet_since = time.monotonic()
    while len(got) < len(processes):
        try:
            message = out.get(timeout=0.1)
        except queue.Empty:
            dead = [p for p in processes if p.exitcode not in (None, 0)]
            if dead:
                raise WorkerFailed(f"worker {dead[0].name} died (exit code {dead[0].exitcode}) "
                                   "without saying why") from None
            if time.monotonic() - quiet_since > HANG:
                raise WorkerFailed(f"no word from the workers for {HANG:.0f} s: hung") from None
            continue
        quiet_since = time.monotonic()
        if message[0] == "failed":
            raise WorkerFailed(f"worker {message[1]} failed:\n{message[2]}")
        if message[0] != kind:
            raise WorkerFailed(f"worker {message[1]} said {message[0]!r}, not {kind!r}")
        got.append(message)
    return got


def _machine_cpu() -> float:
    """Seconds of CPU the whole machine spent (user, nice, system), from /proc/stat."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    return (int(fields[0]) + int(fields[1]) + int(fields[2])) / os.sysconf("SC_CLK_TCK")


def run_workers(target: str, workers: int, batch: int) -> tuple[list[tuple[Any, ...]], float,
                                                                 float]:
    """``workers`` draining processes on ``target``, let go together once loaded: their
    "done" messages, the seconds from letting them go to the last one done, and the machine's
    CPU seconds meanwhile. Every worker is ended when this returns or raises."""
    context = multiprocessing.get_context("spawn")
    go, out = context.Event(), context.Queue()
    processes = [context.Process(target=_drain, name=f"w{i}",
                                 args=(target, f"w{i}", batch, go, out))
                 for i in range(workers)]
    try:
        for process in processes:
            process.start()
        _gather(out, processes, "ready")
        machine, started = _machine_cpu(), time.perf_counter()
        go.set()
        results = _gather(out, processes, "done")
        elapsed = time.perf_counter() - started
        machine = _machine_cpu() - machine
        for process in processes:
            process.join(timeout=60)
    finally:
        for process in processes:
            if process.is_alive():
                process.terminate()
                process.join(timeout=10)
            if process.is_alive():
                process.kill()
                process.join()
        out.close()
        out.join_thread()
    return results, elapsed, machine


def claim_and_mark(target: str, workers: int, batch: int) -> dict[str, float]:
    with open_store(target) as store:
        _reset(store)
        total = int(store.db.scalar(f"SELECT count(*) FROM outbox WHERE state = "
                                    f"'{State.PENDING}'"))
    results, elapsed, machine = run_workers(target, workers, batch)
    rows = sum(int(r[2]) for r in results)
    if rows != total:
        raise WorkerFailed(f"the workers moved {rows} rows of {total}")
    return {"rows_per_s": rows / elapsed,
            "client_cpu_us_per_row": 1e6 * sum(float(r[3]) for r in results) / rows,
            "machine_cpu_us_per_row": 1e6 * machine / rows}


def end_to_end(url: str, messages: int, workers: int, port: int,
               work: Path) -> dict[str, float]:
    """Messages/s from ``workers`` `newsletter worker deliver` processes to the sink: from the
    first message sent, and from the workers' launch."""
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
    logs = [work / f"worker-{workers}-{n}.log" for n in range(workers)]
    processes: list[subprocess.Popen[bytes]] = []
    launched = time.perf_counter()
    try:
        for log in logs:
            with log.open("wb") as errors:
                processes.append(subprocess.Popen(
                    [sys.executable, "-m", "newsletter", "--config", str(office), "worker",
                     "deliver"], env=env, stdout=subprocess.DEVNULL, stderr=errors))
        with open_store(url) as store:
            def sent() -> int:
                for process, log in zip(processes, logs, strict=True):
                    if process.poll() is not None:
                        raise WorkerFailed(
                            f"`newsletter worker deliver` exited with {process.returncode}:\n"
                            f"{log.read_text(errors='replace')[-3000:]}")
                return int(store.db.scalar(
                    f"SELECT count(*) FROM outbox WHERE state = '{State.SENT}'"))

            deadline = time.monotonic() + HANG
            while (first := sent()) == 0:  # the workers start (about a second each)
                if time.monotonic() > deadline:
                    raise WorkerFailed(f"no message sent in {HANG:.0f} s")
                time.sleep(0.01)
            started = time.perf_counter()
            while (done := sent()) < messages:
                if time.monotonic() > deadline:
                    raise WorkerFailed(f"{done} of {messages} messages sent in {HANG:.0f} s")
                time.sleep(0.05)
            finished = time.perf_counter()
    finally:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    return {"msgs_per_s": (done - first) / max(finished - started, 1e-9),
            "msgs_per_s_from_launch": done / (finished - launched)}


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
    parser.add_argument("--rows", type=int, default=4_000, help="rows per claim-and-fence run")
    parser.add_argument("--messages", type=int, default=3_000, help="end-to-end messages")
    parser.add_argument("--sent", type=int, default=1_000_000, help="sent rows for latency")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--workers", default="1,2,4",
                        help="worker counts to claim and fence with (1 is the baseline's)")
    args = parser.parse_args()
    args.workers = sorted({int(n) for n in args.workers.split(",")})
    if 1 not in args.workers:
        parser.error("--workers must include 1 (the baseline)")
    signal.signal(signal.SIGTERM, _terminated)
    try:
        figures = measure(args)
    except WorkerFailed as exc:
        sys.exit(f"bench/scale.py: {exc}")
    except (Terminated, KeyboardInterrupt) as exc:
        sys.exit(f"bench/scale.py: {str(exc) or 'interrupted'}; the PostgreSQL cluster is "
                 "stopped")
    show(figures, args)


def measure(args: argparse.Namespace) -> dict[str, Any]:
    """Every figure; the cluster and the work folder go whatever happens."""
    work = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    cluster: Cluster | None = None
    try:
        with _signals_deferred():
            cluster = Cluster()
        print(f"PostgreSQL: a throwaway cluster in {cluster.root}", file=sys.stderr, flush=True)
        targets = {"sqlite": str(work / "bench.db"), "postgresql": cluster.database("bench")}
        for target in targets.values():
            with open_store(target) as store:
                _queue(store, args.rows)
        runs: dict[str, list[dict[str, float]]] = {}
        configs = [(b, w, n) for n in (1, 50) for w in args.workers for b in targets]
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
        with _signals_ignored():
            try:
                if cluster is not None:
                    cluster.stop()
            finally:
                shutil.rmtree(work, ignore_errors=True)
    return {"bench": "scale", "rows": args.rows, "rounds": args.rounds,
            "baseline": "sqlite_w1_b1", "claim_and_mark": claims,
            "end_to_end_msgs_per_s": {
                "workers_1": one["msgs_per_s"], "workers_3": three["msgs_per_s"],
                "ratio_3_vs_1": three["msgs_per_s"] / one["msgs_per_s"],
                "workers_1_from_launch": one["msgs_per_s_from_launch"],
                "workers_3_from_launch": three["msgs_per_s_from_launch"]},
            "messages": args.messages, "claim_latency_ms": latency, "sent_rows": args.sent}


def show(figures: dict[str, Any], args: argparse.Namespace) -> None:
    """The human summary, then the JSON line."""
    print(f"{'configuration':<22} {'rows/s':>9} {'client µs/row':>14} {'machine µs/row':>15} "
          f"{'× baseline':>11}")
    for key, row in figures["claim_and_mark"].items():
        print(f"{key:<22} {row['rows_per_s']:>9,.0f} {row['client_cpu_us_per_row']:>14,.0f}"
              f" {row['machine_cpu_us_per_row']:>15,.0f} {row['ratio_vs_sqlite_w1_b1']:>10.2f}×")
    e2e = figures["end_to_end_msgs_per_s"]
    print(f"end to end on PostgreSQL ({args.messages:,} messages): 1 worker "
          f"{e2e['workers_1']:,.0f} msg/s, 3 workers {e2e['workers_3']:,.0f} msg/s "
          f"(×{e2e['ratio_3_vs_1']:.2f}) from the first message sent; from the workers' launch "
          f"{e2e['workers_1_from_launch']:,.0f} and {e2e['workers_3_from_launch']:,.0f} msg/s")
    for backend, latency in figures["claim_latency_ms"].items():
        print(f"claim of 50 among {args.sent:,} sent rows on {backend}: "
              f"{latency['with_index']:.2f} ms with the (state, next_attempt_at) index, "
              f"{latency['without_index']:.2f} ms without "
              f"(×{latency['ratio_without_vs_with']:.1f})")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
