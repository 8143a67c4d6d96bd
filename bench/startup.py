"""Benchmark: how long a command takes to start, beside the interpreter's own start.

In a fresh office with the sample reports ingested, runs `newsletter --help`, `newsletter
reports list` and `newsletter status` ``--runs`` times each, and `python -c pass` (the
floor no command can go under, the named baseline) as often, in one run, alternating so a
busy moment hurts them alike. Prints the median and the best wall time of each, and each
command's median over the floor's. Last line: one JSON object with the figures.

    .venv/bin/python bench/startup.py [--runs 20] [--newsletter .venv/bin/newsletter]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
COMMANDS = {"--help": ["--help"], "reports list": ["reports", "list"], "status": ["status"]}


def timed(args: list[str], cwd: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(args, cwd=cwd, env=env, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--newsletter", default=str(Path(sys.executable).parent / "newsletter"))
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-startup-"))
    env = {**os.environ, "NEWSLETTER_WEB_SECRET": "bench-startup-secret-0123456789"}
    try:
        subprocess.run([args.newsletter, "init", str(folder / "office")], env=env, check=True,
                       stdout=subprocess.DEVNULL)
        office = folder / "office"
        for report in sorted((REPO / "seeds").glob("*.txt")):
            shutil.copy(report, office / "seeds" / report.name)
            os.utime(office / "seeds" / report.name, (time.time() - 3600,) * 2)
        subprocess.run([args.newsletter, "ingest"], cwd=office, env=env, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times: dict[str, list[float]] = {"python -c pass": [], **{name: [] for name in COMMANDS}}
        for _ in range(args.runs):
            times["python -c pass"].append(timed([sys.executable, "-c", "pass"], office, env))
            for name, command in COMMANDS.items():
                times[name].append(timed([args.newsletter, *command], office, env))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    floor = statistics.median(times["python -c pass"])
    figures = {}
    for name, seconds in times.items():
        median = statistics.median(seconds)
        figures[name] = {"median_s": round(median, 4), "best_s": round(min(seconds), 4),
                         "ratio_vs_floor": round(median / floor, 2)}
        print(f"{name:<16} median {median * 1000:7.1f} ms  best {min(seconds) * 1000:7.1f} ms  "
              f"{median / floor:5.1f} × python -c pass")
    print(json.dumps({"bench": "startup", "baseline": "python -c pass", "runs": args.runs,
                      "commands": figures}))


if __name__ == "__main__":
    main()
