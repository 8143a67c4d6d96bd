"""Builders for the offices the integration tests work in: lists added to the configuration,
the sample report ingested and summarised, readers subscribed, an alert queued.

Each builder does one step as the program itself would, so a test composes the office it
needs and says only what is particular to it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from click.testing import CliRunner

from newsletter.app import Instance, load_instance
from newsletter.cli.main import cli
from newsletter.issues.create import CreatedIssue, create_issue
from newsletter.reports.ingest import ingest_inbox
from newsletter.store import Store
from newsletter.subscribers.addresses import check_subscriber
from newsletter.summarise.pending import summarise_pending
from tests.helpers import FIXED_NOW, SAMPLE_REPORT, Clock, drop

DAILY = '[lists.daily]\ntitle = "Daily"\n'
DAILY_AND_WEEKLY = DAILY + '[lists.weekly]\ntitle = "Weekly"\nmode = "weekly"\n'


def run_cli(args: Sequence[str], env: Mapping[str, str], code: int = 0) -> str:
    """The output of the command ``args`` with environment ``env``, which must exit with
    ``code`` and never show a traceback."""
    result = CliRunner().invoke(cli, list(args), env=dict(env))
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    return result.output


def with_sample(folder: Path, lists: str = DAILY_AND_WEEKLY) -> Path:
    """The instance in ``folder`` with ``lists`` added to its configuration and the sample
    report in its inbox (not yet ingested)."""
    add_config(folder / "newsletter.toml", lists)
    drop(folder / "seeds", "sample.txt", SAMPLE_REPORT.read_bytes())
    return folder


def relay_env(port: int) -> dict[str, str]:
    """The settings that send through the test relay (:mod:`tests.smtp_server`) on
    127.0.0.1:``port``, in plain SMTP. Test offices keep the default ``web.base_url``,
    ``http://127.0.0.1:8025``, whose links no reader could follow: real mail is refused with
    it, and ``web.allow_insecure_links`` lets the test relay have it."""
    return {"NEWSLETTER_DELIVERY_TRANSPORT": "smtp", "NEWSLETTER_SMTP_HOST": "127.0.0.1",
            "NEWSLETTER_SMTP_PORT": str(port), "NEWSLETTER_SMTP_SECURITY": "none",
            "NEWSLETTER_WEB_ALLOW_INSECURE_LINKS": "true"}


def report_text(title: str, day: date, country: str = "Kazakhstan") -> str:
    """A short situation report published on ``day`` (a fresh one is alerted; the sample
    report, from 2019, is too old for an alert)."""
    return (f" date {day.isoformat()} {day:%d %b %Y}\n\n{title}\n\nSituation Report\n"
            f"from OCHA\nPublished on {day:%d %b %Y}\n\nFloods in {country} damaged 340 houses "
            f"and displaced 1,200 people this week. Relief teams delivered food to 800 families."
            f"\n\nMore rain is forecast for the coming days in the north.\n")


def add_config(config: Path, text: str) -> None:
    """Append TOML (e.g. a ``[lists.NAME]`` table) to an instance's configuration."""
    config.write_text(config.read_text() + "\n" + text)


def with_config(instance: Instance, text: str, environ: Mapping[str, str]) -> Instance:
    """``instance`` with ``text`` appended to its configuration, loaded again with
    ``environ``."""
    add_config(instance.config_path, text)
    return load_instance(instance.config_path, cwd=instance.root, environ=dict(environ))


def ingest_sample(office: Instance, *, now: datetime = FIXED_NOW,
                  reports: Mapping[str, str | bytes] | None = None) -> None:
    """Drop ``reports`` (file name → content; by default the sample report) in the inbox,
    ingest and summarise them."""
    for name, content in (reports or {"sample.txt": SAMPLE_REPORT.read_bytes()}).items():
        drop(office.inbox.folder, name, content)
    with office.open_store() as store:
        ingest_inbox(store, office.inbox, office.settings.ingest, now=now)
        summarise_pending(store, office.settings.summary, now=now)


def subscribe(store: Store, list_name: str, addresses: Sequence[str], *,
              now: datetime = FIXED_NOW, language: str | None = None) -> list[str]:
    """Subscribe ``addresses`` (active, with consent) to ``list_name``."""
    store.subscribers.import_rows(
        [check_subscriber(address, language=language) for address in addresses], list_name,
        consent_source="test", now=now)
    return list(addresses)


def readers(count: int, prefix: str = "r") -> list[str]:
    """``count`` distinct reader addresses: r0@example.org, r1@example.org, …"""
    return [f"{prefix}{i}@example.org" for i in range(count)]


def queue_alert(office: Instance, store: Store, list_name: str = "daily",
                report_ids: Sequence[int] = (1,), *, now: datetime | None = None,
                base_url: str = "https://u.example.org") -> CreatedIssue:
    """Create an alert of ``report_ids`` for ``list_name``: one outbox row per reader."""
    return create_issue(store, office.renderer(), office.lists_of(store).named(list_name),
                        list(report_ids), "alert", base_url=base_url, domain="example.org",
                        now=now or datetime.now(UTC))


def arrive(office: Instance, clock: Clock, name: str = "floods.txt",
           title: str = "Floods") -> None:
    """A report ``title`` of ``clock``'s day lands in the inbox as ``name`` (five minutes old)
    and the service reads, summarises and translates it (the tiny models)."""
    drop(office.inbox.folder, name, report_text(title, clock.now.date()),
         modified=clock.now - timedelta(minutes=5))
    with office.open_store() as store:
        service = office.service(store, clock=clock)
        service.prepare()
        service.translate("test")
