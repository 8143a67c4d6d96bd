"""Benchmark: a 100,000-reader digest of 10 reports in three languages, end to end into a
discarding SMTP sink, stage by stage, as an office runs it: each stage is the ``newsletter``
command itself in its own process, timed, with its peak resident memory.

Stages: ingest the reports; summarise; translate (the tiny en→ru and en→kk test models, so
that this measures the pipeline rather than a model: bench/translate.py measures models);
import the readers from CSV; make the digest (plan, render three languages, queue one outbox
row per reader: ``digest --queue-only``); deliver it (``deliver``). Each stage is timed from
its process's launch to its end: what an operator waits for, start-up included. The baseline
is the naive path: one ``EmailMessage`` and one ``smtplib`` connection per message, over
``--naive`` messages of the same digest's text and HTML, in the same run and scaled to the
same number of readers; it is bench/send.py's naive contender, a process of its own timed
the same way (its input, the digest's bodies, is written before it starts). The goal is the
whole digest in 60 s or less. The sink is as in bench/send.py (Postfix's smtp-sink when
installed). Last line: one JSON object with the figures.

    .venv/bin/python bench/digest.py [--readers 100000] [--naive 1000] [--processes 1]
        [--connections 4] [--sink auto]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.send import contender
from bench.sink import sink

GOAL_SECONDS = 60.0
REPORTS = 10


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readers", type=int, default=100_000)
    parser.add_argument("--naive", type=int, default=1_000, help="messages for the naive path")
    parser.add_argument("--connections", type=int, default=4, help="per sending process")
    parser.add_argument("--processes", type=int, default=1, help="deliver --processes N")
    parser.add_argument("--sink", default="auto",
                        help="smtp-sink, aiosmtpd, auto (smtp-sink when installed) or HOST:PORT")
    parser.add_argument("--step", choices=tuple(STEPS), help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--relay", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.step:  # a part run in a process of its own (see run)
        host, _, port = args.relay.rpartition(":")
        print(json.dumps(STEPS[args.step](args.work, host, int(port), args)))
        return
    work = Path(tempfile.mkdtemp(prefix="bench-digest-"))
    try:
        with sink(args.sink) as (host, port, described):
            figures = run(work, host, port, args)
            figures["sink"] = described
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"{args.readers:,} readers, {REPORTS} reports, en/ru/kk; {args.processes} sending "
          f"process(es) x {args.connections} connections; sink: {figures['sink']}")
    for name, stage in figures["stages"].items():
        print(f"  {name:<12} {stage['seconds']:8.2f} s   peak RSS {stage['peak_rss_mib']:6.0f} MiB")
    print(f"  {'total':<12} {figures['seconds']:8.2f} s   (goal {GOAL_SECONDS:.0f} s)")
    print(f"delivery {figures['messages_per_s']:,.0f} messages/s; naive "
          f"{figures['naive_messages_per_s']:,.0f} messages/s, so "
          f"{figures['naive_seconds']:,.0f} s for the same readers; ours/naive "
          f"{figures['ratio_vs_naive']:.1f}x")
    print(json.dumps(figures))


def run(work: Path, host: str, port: int, args: argparse.Namespace) -> dict[str, Any]:
    """The stages, each a ``newsletter`` command in a process of its own. This process
    imports nothing of newsletter's (preparing and the naive path run in children too), so
    that what each stage's process reports as its peak memory is its own: Linux carries a
    parent's resident size over into a child's peak."""
    def step(name: str) -> dict[str, object]:
        done = subprocess.run([sys.executable, __file__, "--step", name, "--work", str(work),
                               "--relay", f"{host}:{port}", "--readers", str(args.readers),
                               "--naive", str(args.naive)], env=env, check=True,
                              capture_output=True, text=True)
        result: dict[str, object] = json.loads(done.stdout.splitlines()[-1])
        return result

    env = {**os.environ, "PYTHONPATH": str(REPO)}
    prepared = step("prepare")
    environ = prepared["environ"]
    assert isinstance(environ, dict)
    env.update(environ)
    env.update({"NEWSLETTER_DELIVERY_CONNECTIONS": str(args.connections),
                "NEWSLETTER_INGEST_SETTLE_SECONDS": "0"})
    config = Path(str(prepared["config"]))
    stages: dict[str, dict[str, float]] = {}
    for name, command in [
        ("ingest", ["ingest"]),
        ("summarise", ["summarise"]),
        ("translate", ["translate"]),
        ("import", ["subscribers", "import", str(work / "readers.csv"), "--list", "bench"]),
        ("digest", ["digest", "--list", "bench", "--queue-only"]),
        ("deliver", ["deliver", "--processes", str(args.processes)]),
    ]:
        stages[name] = _stage(config, command, env)
    step("naive")
    count = min(args.naive, args.readers)
    naive = count / contender("naive", host, port, work / "naive", count, 1,
                              work / "naive.log").seconds
    total = sum(stage["seconds"] for stage in stages.values())
    delivered = args.readers / stages["deliver"]["seconds"]
    return {"bench": "digest", "readers": args.readers, "reports": REPORTS,
            "languages": ["en", "ru", "kk"], "connections": args.connections,
            "processes": args.processes,
            "stages": stages, "seconds": round(total, 2), "goal_seconds": GOAL_SECONDS,
            "messages_per_s": round(delivered), "naive_messages_per_s": round(naive),
            "naive_seconds": round(args.readers / naive, 1),
            "ratio_vs_naive": round(delivered / naive, 1)}


def prepare(work: Path, host: str, port: int, args: argparse.Namespace) -> dict[str, object]:
    """An office sending to the sink, its list started before the reports arrive (as when
    it runs as a service), ten distinct reports in its inbox, the tiny models installed and
    a CSV of the readers."""
    from bench.send import office
    from newsletter.translate.packages import install
    from tests.tiny_argos import build_package

    before = dict(os.environ)
    instance = office(work, host, port, dkim=False)
    environ = {k: v for k, v in os.environ.items() if before.get(k) != v}
    inbox = instance.settings.seeds_dir
    for path in list(inbox.iterdir()):
        path.unlink()
    english = [p for p in sorted((REPO / "seeds").glob("*.txt"))
               if "-ru" not in p.stem and "-kk" not in p.stem]
    for index in range(REPORTS):  # ten distinct reports from the English samples
        text = english[index % len(english)].read_text(encoding="utf-8")
        (inbox / f"{index:02d}.txt").write_text(
            f"Situation update {index + 1}\n\n" + text.split("\n\n", 2)[-1], encoding="utf-8")
        os.utime(inbox / f"{index:02d}.txt", (time.time() - 3600,) * 2)
    for pair in (("en", "ru"), ("en", "kk")):
        package = build_package(work / f"model-{'_'.join(pair)}", *pair, splitter=True)
        install(package.archive, instance.settings.packages_dir)
    with (work / "readers.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["email", "name", "language"])
        for i in range(args.readers):
            writer.writerow([f"reader{i}@example.org", f"Reader {i}", ("en", "ru", "kk")[i % 3]])
    with instance.open_store() as store:  # the list was there before the reports came
        store.runs.record_list_start("bench", datetime.now(UTC) - timedelta(days=1))
    return {"config": str(instance.config_path), "environ": environ}


def naive(work: Path, host: str, port: int, args: argparse.Namespace) -> dict[str, object]:
    """The naive path's input (not timed): the text and HTML of the digest just sent, for
    bench/send.py's naive contender."""
    from bench.send import write_naive_input
    from newsletter.app import load_instance
    from newsletter.delivery.rules import OutboxRow

    instance = load_instance(work / "office" / "newsletter.toml", cwd=work, environ=os.environ)
    with instance.open_store() as store:
        states = store.outbox.counts()
        assert states == {"sent": args.readers}, states
        source = instance.issue_messages(store)
        first = store.outbox.rows()[0]
        write_naive_input(work / "naive", source.message(OutboxRow(
            first["id"], first["issue_id"], first["subscriber_id"], first["address"], None,
            first["language"], first["message_id"], 0)))
    return {}


STEPS = {"prepare": prepare, "naive": naive}


def _stage(config: Path, command: list[str], env: dict[str, str]) -> dict[str, float]:
    """Run one ``newsletter`` command; its wall time and peak resident memory."""
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "newsletter", "--config", str(config),
                                *command], env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
    assert process.stderr is not None
    errors = process.stderr.read()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - started
    if process.returncode:
        raise SystemExit(f"`newsletter {' '.join(command)}` failed:\n"
                         f"{errors.decode(errors='replace')[-3000:]}")
    return {"seconds": round(seconds, 2), "peak_rss_mib": round(usage.ru_maxrss / 1024, 1)}


if __name__ == "__main__":
    main()
