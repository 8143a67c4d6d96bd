"""The benchmarks run: each bench/*.py at a tiny size, as a process of its own, ends well with
its figures as one JSON object on its last line, so that a benchmark the code moved away from
fails here rather than on the day someone measures. And bench/scale.py ends its PostgreSQL
cluster however it is stopped, and ends at once when a worker fails.

A new benchmark needs an entry in :data:`TINY` (its test fails until it has one). The whole
file takes about 30 s on a 2-core machine; each entry says what its run took there.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import wait_until
from tests.processes import started

REPO = Path(__file__).resolve().parents[2]
BENCH = REPO / "bench"
# Arguments that make each benchmark run in seconds, with every part of it still run.
TINY: dict[str, list[str]] = {
    "bounces.py": ["--messages", "20", "--real", "2"],  # 0.8 s (a private Postfix)
    "digest.py": ["--readers", "30", "--naive", "5"],  # 4 s (six stages, each a process)
    "dkim.py": ["--messages", "10", "--naive", "3", "--items", "1"],  # 0.3 s
    "feeds.py": ["--reports", "60", "--requests", "5"],  # 0.9 s
    "history.py": ["--sizes", "2000"],  # 1.3 s
    "ingest.py": ["--reports", "30"],  # 0.3 s
    "places.py": ["--words", "200", "--runs", "3"],  # 1.9 s (the naive baselines)
    "render.py": ["--recipients", "20", "--items", "2"],  # 0.2 s
    "reports.py": [],  # 0.6 s: the labelled corpus in tests/data/reports, fixed in size
    "scale.py": ["--rows", "100", "--messages", "50", "--sent", "1000", "--rounds", "1",
                 "--workers", "1,2"],  # 5 s (a PostgreSQL cluster, 16 worker processes)
    "send.py": ["--messages", "60", "--naive", "10", "--rounds", "2"],  # 2.2 s
    "startup.py": ["--runs", "1"],  # 1 s
    "subscribers.py": ["--rows", "200"],  # 0.1 s
    "summarise.py": ["--long", "--sizes", "1000"],  # 0.4 s (the default reads shared/ data)
    "translate.py": ["--tiny", "--reports", "1", "--argos", "2", "--words", "50",
                     "--rounds", "2"],  # 3.4 s
    "web.py": ["--probes", "5", "--logins", "1", "--slow", "2", "--floods", "1", "--feeds",
               "1", "--request-timeout", "1"],  # 3.6 s (the slow clients are cut off at 1 s)
}
HELPERS = {"sink.py"}  # imported by the benchmarks; not one itself
BENCHMARKS = sorted(path.name for path in BENCH.glob("*.py") if path.name not in HELPERS)
TIMEOUT = 300  # a guard against a hang, not a figure the test relies on


def _run(name: str, *args: str) -> tuple[int, str, str]:
    """``bench/NAME ARGS`` from the repository's root: its exit code, stdout and stderr."""
    with started([sys.executable, str(BENCH / name), *args], cwd=REPO, text=True,
                 stdout=subprocess.PIPE, stderr=subprocess.PIPE) as process:
        out, err = process.communicate(timeout=TIMEOUT)
    return process.returncode, out, err


@pytest.mark.parametrize("name", BENCHMARKS)
def test_each_benchmark_runs_at_a_tiny_size(name: str) -> None:
    assert name in TINY, f"bench/{name} has no tiny size: give its arguments in TINY"
    code, out, err = _run(name, *TINY[name])
    assert code == 0, f"bench/{name} exited with {code}:\n{err[-3000:]}"
    lines = out.strip().splitlines()
    assert lines, f"bench/{name} printed nothing:\n{err[-3000:]}"
    figures = json.loads(lines[-1])
    assert isinstance(figures, dict), lines[-1]
    assert figures


def test_scale_ends_its_postgresql_cluster_on_sigterm() -> None:
    """SIGTERM to the benchmark alone (``kill PID``) while its workers run: it stops the
    cluster, removes its folder, ends its workers and says so."""
    command = [sys.executable, str(BENCH / "scale.py"), *TINY["scale.py"]]
    with started(command, cwd=REPO, text=True, stdout=subprocess.DEVNULL,
                 stderr=subprocess.PIPE) as process:
        assert process.stderr is not None
        said: list[str] = []
        while not (said and said[-1].startswith("sqlite_w1_b1:")):  # a first run is done
            said.append(process.stderr.readline())
            assert said[-1], f"bench/scale.py ended early:\n{''.join(said)}"
        root = Path(next(line for line in said if line.startswith("PostgreSQL:")).split()[-1])
        assert (root / "data").is_dir()
        process.send_signal(signal.SIGTERM)
        err = process.stderr.read()
        process.wait(timeout=TIMEOUT)
        # What it started is gone (multiprocessing's resource tracker leaves as it sees the
        # benchmark go), before `started` would end what is left.
        wait_until(lambda: not _in_session(process.pid), "the benchmark's processes to end",
                   timeout=30)
    assert process.returncode == 1, err
    assert "the PostgreSQL cluster is stopped" in err
    assert not root.exists()
    assert not [pid for pid in _all_processes() if str(root) in _command(pid)]


def test_scale_ends_at_once_when_a_worker_fails(tmp_path: Path) -> None:
    """Workers on a file that is no database fail as they open it: the run ends with the
    worker's traceback, without waiting for the others."""
    broken = tmp_path / "not-a-database.db"
    broken.write_bytes(b"not a database " * 512)
    script = f"""
import sys, time
sys.path.insert(0, {str(REPO)!r})
from bench.scale import WorkerFailed, run_workers
if __name__ == "__main__":
    began = time.monotonic()
    try:
        run_workers({str(broken)!r}, 2, 1)
    except WorkerFailed as exc:
        print(round(time.monotonic() - began, 1), exc)
"""
    began = time.monotonic()
    with started([sys.executable, "-c", script], cwd=REPO, text=True,
                 stdout=subprocess.PIPE, stderr=subprocess.PIPE) as process:
        out, err = process.communicate(timeout=TIMEOUT)
    assert process.returncode == 0, err
    assert "failed:" in out, out + err
    assert "Traceback" in out, out + err
    assert time.monotonic() - began < 60, out


def _all_processes() -> list[int]:
    return [int(path.name) for path in Path("/proc").iterdir() if path.name.isdigit()]


def _in_session(session: int) -> list[int]:
    """The live processes of ``session`` (the benchmark's, which ``started`` gives its own)."""
    found = []
    for pid in _all_processes():
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[3]) == session and fields[0] != "Z":
            found.append(pid)
    return found


def _command(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""
