"""Heavy and poisoned reports never take an office down: a 2 MB report is summarised under a
fixed memory ceiling, and a report whose step fails is recorded, retried with backoff and
blocks no other report's alert."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from newsletter.app import Instance
from newsletter.cli.main import cli
from newsletter.store.failures import backoff
from newsletter.summarise import pending
from newsletter.summarise.core import summarise
from tests.helpers import REPO, Clock, drop
from tests.office import report_text, subscribe, with_config

# A 2 MB report summarised in a process whose heap may not pass 300 MiB: the all-pairs
# summariser needed 1.7 GB for 8,000 sentences and ran out of memory at 16,000.
CEILING = textwrap.dedent("""
    import random, resource, sys
    limit = 300 * 2**20
    resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))
    from newsletter.reports.parse import parse_report
    from newsletter.reports.places import load_gazetteer
    from newsletter.summarise.core import summarise
    words = "floods damaged houses roads schools families people evacuated food water shelter \\
        kits teams delivered assessed needs funding appeal cash winter rains river crops".split()
    rng = random.Random(7)
    sentences = []
    for i in range(19_000):
        chosen = [rng.choice(words) for _ in range(rng.randint(8, 20))]
        chosen.insert(3, f"{rng.randint(10, 99_999):,}")
        sentences.append(" ".join(chosen).capitalize() + ("." if i % 7 else ".\\n\\n"))
    text = "Floods in the north\\n\\n" + " ".join(sentences)
    assert len(text.encode()) > 2_000_000, len(text)
    report = parse_report(text)
    places = load_gazetteer().detect(report.title, report.body, report.dateline)
    summary = summarise(report.title, report.body, dateline=report.dateline)
    print(len(summary.sentences), flush=True)
""")


def test_a_2_mb_report_is_summarised_under_a_fixed_memory_ceiling() -> None:
    done = subprocess.run([sys.executable, "-c", CEILING], capture_output=True, text=True,
                          cwd=REPO, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "3"


@pytest.fixture
def office(instance: Instance) -> Instance:
    loaded = with_config(instance, (
        '[lists.alerts]\ntitle = "Alerts"\nmode = "alerts"\ncountries = ["Kazakhstan"]\n'),
        {"NEWSLETTER_WEB_SECRET": "heavy-input-secret-0123456789"})
    with loaded.open_store() as store:
        subscribe(store, "alerts", ["a@example.org"], now=datetime.now(UTC))
    return loaded


def test_a_report_whose_summary_fails_is_recorded_retried_and_blocks_no_alert(
        office: Instance, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock(datetime(2026, 5, 4, 4, 0, tzinfo=UTC))
    for name in ("poison", "fine"):
        drop(office.inbox.folder, f"{name}.txt",
             report_text(f"Floods {name}", clock.now.date()),
             modified=clock.now - timedelta(minutes=5))

    def fragile(title: str, body: str, *args: object, **kwargs: object) -> object:
        if "poison" in title:  # a fault nobody foresaw, in one report only
            raise RecursionError("maximum recursion depth exceeded")
        return summarise(title, body, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(pending, "summarise", fragile)
    with office.open_store() as store:
        service = office.service(store, clock=clock)
        assert service.prepare() == 2
        poisoned = next(r.id for r in store.reports.newest() if "poison" in r.report.title)
        [failure] = store.failures.of(poisoned)
        assert (failure.step, failure.attempts) == ("summarise", 1)
        assert "RecursionError" in failure.error
        assert failure.next_attempt_at == clock.now + backoff(1)
        # the other report is summarised and alerted; the poisoned one still goes, unsummarised
        service.translate("test")
        alerts = service.alerts()
        assert len(alerts.issues) == 2
        service.prepare()  # within the backoff: not tried again
        assert store.failures.of(poisoned)[0].attempts == 1

    runner = CliRunner()
    config = ["--config", str(office.config_path)]
    env = {"NEWSLETTER_WEB_SECRET": "heavy-input-secret-0123456789"}
    status = json.loads(runner.invoke(cli, [*config, "status", "--json"], env=env).stdout)
    assert status["failing_steps"] == 1
    assert status["failures"][0]["report_id"] == poisoned
    shown = runner.invoke(cli, [*config, "reports", "show", str(poisoned)], env=env).output
    assert "summarise failed 1 time(s)" in shown
    assert "RecursionError" in shown

    monkeypatch.setattr(pending, "summarise", summarise)  # mended
    clock.now += backoff(1) + timedelta(seconds=1)
    with office.open_store() as store:
        office.service(store, clock=clock).prepare()
        assert store.failures.of(poisoned) == []
        assert store.summaries.of(poisoned)


IMPORT_UNDER_A_CEILING = textwrap.dedent("""
    import resource, sys
    limit = 120 * 2**20  # a whole-file import of 300,000 rows needed well over 180 MiB
    resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))
    from newsletter.cli import main
    sys.argv = ["newsletter", "subscribers", "import", sys.argv[1], "--list", "daily"]
    main()
""")


def test_a_300000_row_import_is_streamed_under_a_fixed_memory_ceiling(tmp_path: Path) -> None:
    office = tmp_path / "office"
    assert CliRunner().invoke(cli, ["init", str(office)]).exit_code == 0
    (office / "newsletter.toml").write_text(
        (office / "newsletter.toml").read_text() + '\n[lists.daily]\ntitle = "Daily"\n')
    rows = office / "readers.csv"
    with rows.open("w", encoding="utf-8") as handle:
        handle.write("email,name,language\n")
        for i in range(300_000):
            handle.write(f"reader{i}@example{i % 97}.org,Читатель {i},ru\n")
    done = subprocess.run([sys.executable, "-c", IMPORT_UNDER_A_CEILING, str(rows)],
                          capture_output=True, text=True, cwd=office, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "300000 added" in done.stdout
