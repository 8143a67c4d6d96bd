"""The ``newsletter`` command line: the only module that prints or exits (I/O).

Exit codes: 0 success, 1 a :class:`NewsletterError` (message and hint on standard error),
2 a usage error (unknown option, missing argument).
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import traceback
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import click

from newsletter import __version__
from newsletter.app import Instance, init_instance, load_instance
from newsletter.config import settings_table
from newsletter.errors import NewsletterError
from newsletter.ingest import ingest_inbox, scan
from newsletter.logs import configure_logging
from newsletter.model import IngestOutcome, IngestStatus, StoredReport
from newsletter.pipeline import summarise_pending

F = TypeVar("F", bound=Callable[..., Any])


class Context:
    """What the top-level options decided, handed to every command."""

    def __init__(self, config: Path | None, overrides: dict[str, str], debug: bool) -> None:
        self.config = config
        self.overrides = overrides
        self.debug = debug
        self._instance: Instance | None = None

    @property
    def instance(self) -> Instance:
        if self._instance is None:
            self._instance = load_instance(
                self.config, cwd=Path.cwd(), environ=os.environ, overrides=self.overrides
            )
            log = self._instance.settings.log
            configure_logging("debug" if self.debug else log.level, log.format)
        return self._instance


def _parse_overrides(values: Sequence[str]) -> dict[str, str]:
    overrides = {}
    for item in values:
        name, sep, value = item.partition("=")
        if not sep or "." not in name:
            raise click.BadParameter(
                f"{item!r} is not SECTION.KEY=VALUE (e.g. ingest.max_bytes=5000000)",
                param_hint="--set",
            )
        overrides[name.strip()] = value
    return overrides


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="newsletter")
@click.option(
    "--config", "config", type=click.Path(path_type=Path),
    help="newsletter.toml (or its folder) to use instead of searching from the current folder.",
)
@click.option(
    "--set", "overrides", multiple=True, metavar="SECTION.KEY=VALUE",
    help="Override one setting for this run (highest precedence). Repeatable.",
)
@click.option("--debug", is_flag=True, help="Show debug logs and full tracebacks.")
@click.pass_context
def cli(ctx: click.Context, config: Path | None, overrides: tuple[str, ...], debug: bool) -> None:
    """Offline, multilingual alert and digest mailer for humanitarian reports."""
    ctx.obj = Context(config, _parse_overrides(overrides), debug)


def _handle_errors(command: F) -> F:
    """Turn a NewsletterError into ``Error: …`` plus its hint and exit status 1."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except NewsletterError as exc:
            ctx = click.get_current_context()
            if isinstance(ctx.obj, Context) and ctx.obj.debug:
                traceback.print_exc()
            click.echo(f"Error: {exc.message}", err=True)
            if exc.hint:
                click.echo(f"Hint: {exc.hint}", err=True)
            ctx.exit(1)

    return wrapper  # type: ignore[return-value]


def _now() -> datetime:
    return datetime.now(UTC)


def _display_path(path: str | Path) -> str:
    """A path relative to the current folder when it lies below it, for people to read."""
    try:
        return str(Path(path).relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _emit_json(value: Any) -> None:
    click.echo(json.dumps(value, ensure_ascii=False, default=str))


# -- init ---------------------------------------------------------------------------------


@cli.command()
@click.argument("folder", type=click.Path(path_type=Path))
@_handle_errors
def init(folder: Path) -> None:
    """Create a new instance in FOLDER: a commented newsletter.toml and a seeds/ inbox."""
    config = init_instance(folder)
    click.echo(f"Created {_display_path(config)} and {_display_path(folder / 'seeds')}/")
    click.echo(f"Next: drop report files into {_display_path(folder / 'seeds')}/ and run "
               f"`newsletter --config {_display_path(config)} ingest`")


# -- ingest -------------------------------------------------------------------------------


def _outcome_dict(outcome: IngestOutcome) -> dict[str, Any]:
    return {
        "path": outcome.path,
        "status": outcome.status.value,
        "report_id": outcome.report_id,
        "reason": outcome.reason,
        "detail": outcome.detail,
        "quarantined_to": outcome.quarantined_to,
    }


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object per file acted on.")
@click.pass_obj
@_handle_errors
def ingest(obj: Context, as_json: bool) -> None:
    """Pick up new and changed report files from the inbox, and summarise them."""
    instance = obj.instance
    with instance.open_store() as store:
        outcomes = ingest_inbox(store, instance.inbox, instance.settings.ingest, now=_now())
        summarise_pending(store, instance.settings.summary, now=_now())
    if as_json:
        for outcome in outcomes:
            _emit_json(_outcome_dict(outcome))
        return
    if not outcomes:
        click.echo(f"No new reports in {_display_path(instance.inbox.folder)}/")
        return
    for outcome in outcomes:
        ident = f"#{outcome.report_id}" if outcome.report_id is not None else ""
        line = f"{outcome.status.value:<11} {ident:>5}  {_display_path(outcome.path)}"
        if outcome.detail:
            line += f"  ({outcome.detail})"
        click.echo(line, err=outcome.status is IngestStatus.QUARANTINED)
    counts = {status: 0 for status in IngestStatus}
    for outcome in outcomes:
        counts[outcome.status] += 1
    summary = ", ".join(f"{n} {status.value}" for status, n in counts.items() if n)
    click.echo(summary)
    if counts[IngestStatus.QUARANTINED]:
        click.echo(
            f"Quarantined files are in {_display_path(instance.inbox.quarantine)}/ with a "
            ".reason.txt each; fix them and drop them into the inbox again.",
            err=True,
        )


# -- reports ------------------------------------------------------------------------------


def _report_dict(
    stored: StoredReport, summary: tuple[str, ...] | None, *, body: bool = True
) -> dict[str, Any]:
    report = stored.report
    data: dict[str, Any] = {
        "id": stored.id,
        "title": report.title,
        "source": report.source,
        "kind": report.kind,
        "published": report.published.isoformat() if report.published else None,
        "posted": report.posted.isoformat() if report.posted else None,
        "language": report.language,
        "dateline": report.dateline,
        "revision": stored.revision,
        "path": stored.path,
        "encoding": stored.encoding,
        "content_hash": stored.content_hash,
        "ingested_at": stored.ingested_at.isoformat(),
        "updated_at": stored.updated_at.isoformat(),
        "summary": " ".join(summary) if summary is not None else None,
        "summary_sentences": list(summary) if summary is not None else None,
    }
    if body:
        data["body"] = report.body
    return data


@cli.group()
def reports() -> None:
    """Inspect stored reports."""


@reports.command("list")
@click.option("--json", "as_json", is_flag=True, help="A JSON array of reports (with bodies).")
@click.option("--limit", type=click.IntRange(min=1), help="Show at most this many, newest first.")
@click.pass_obj
@_handle_errors
def reports_list(obj: Context, as_json: bool, limit: int | None) -> None:
    """List stored reports, newest publication first."""
    with obj.instance.open_store() as store:
        found = store.list_reports(limit=limit)
        summaries = {stored.id: store.summary_of(stored.id) for stored in found}
    if as_json:
        _emit_json([_report_dict(stored, summaries[stored.id]) for stored in found])
        return
    if not found:
        click.echo("No reports stored yet. Run `newsletter ingest` first.")
        return
    rows = [
        (
            str(s.id),
            s.report.published.isoformat() if s.report.published else "-",
            s.report.language,
            s.report.kind or "-",
            s.report.source or "-",
            s.report.title,
        )
        for s in found
    ]
    _print_table(("ID", "PUBLISHED", "LANG", "KIND", "SOURCE", "TITLE"), rows)


@reports.command("show")
@click.argument("report_id", type=int, metavar="ID")
@click.option("--json", "as_json", is_flag=True, help="The report as one JSON object.")
@click.pass_obj
@_handle_errors
def reports_show(obj: Context, report_id: int, as_json: bool) -> None:
    """Show one stored report in full."""
    with obj.instance.open_store() as store:
        stored = store.get_report(report_id)
        summary = store.summary_of(report_id)
    if as_json:
        _emit_json(_report_dict(stored, summary))
        return
    data = _report_dict(stored, summary, body=False)
    del data["summary"], data["summary_sentences"]
    width = max(len(key) for key in data)
    for key, value in data.items():
        click.echo(f"{key:<{width}}  {'-' if value is None else value}")
    click.echo("\nSummary")
    if summary is None:
        click.echo("  (not summarised yet: run `newsletter summarise`)")
    for sentence in summary or ():
        click.echo(f"  - {sentence}")
    click.echo("\nBody")
    click.echo(stored.report.body)


@cli.command("summarise")
@click.option("--report", "report_id", type=int, metavar="ID", help="Only this report.")
@click.option("--all", "everything", is_flag=True, help="Summarise every report again.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per report summarised.")
@click.pass_obj
@_handle_errors
def summarise_command(obj: Context, report_id: int | None, everything: bool, as_json: bool) -> None:
    """Summarise reports that have no current summary (ingest does this too)."""
    instance = obj.instance
    with instance.open_store() as store:
        done = summarise_pending(store, instance.settings.summary, now=_now(),
                                 report_id=report_id, force=everything)
    if as_json:
        for item in done:
            _emit_json({"report_id": item.report_id, "summary": " ".join(item.sentences),
                        "summary_sentences": list(item.sentences)})
        return
    click.echo(f"Summarised {len(done)} report(s)" if done else "Every report is summarised.")


def _print_table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> None:
    """Columns sized to their content; the last column is cut to the terminal's width."""
    rows = list(rows)
    widths = [max(len(header[i]), *(len(r[i]) for r in rows)) for i in range(len(header) - 1)]
    widths = [min(w, 32) for w in widths]
    terminal = shutil.get_terminal_size((120, 24)).columns
    last = max(20, terminal - sum(widths) - 2 * len(widths))

    def fit(text: str, width: int) -> str:
        return text if len(text) <= width else text[: width - 1] + "…"

    for row in (tuple(header), *rows):
        cells = [fit(cell, w).ljust(w) for cell, w in zip(row, widths, strict=False)]
        click.echo("  ".join([*cells, fit(row[-1], last)]).rstrip())


# -- status and config --------------------------------------------------------------------


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="The figures as one JSON object.")
@click.pass_obj
@_handle_errors
def status(obj: Context, as_json: bool) -> None:
    """Show what is stored, waiting in the inbox and quarantined."""
    instance = obj.instance
    with instance.open_store() as store:
        counts = store.counts()
        known = store.known_files()
        schema = store.schema_version
    inbox = instance.inbox
    waiting = 0
    if inbox.folder.is_dir():
        for path in scan(inbox, instance.settings.ingest):
            seen = known.get(path.relative_to(inbox.folder).as_posix())
            stat = path.stat()
            if seen is None or (seen.size, seen.mtime_ns) != (stat.st_size, stat.st_mtime_ns):
                waiting += 1
    figures = {
        "instance": str(instance.root),
        "database": str(instance.settings.database_path),
        "schema_version": schema,
        "reports": counts.reports,
        "reports_by_language": counts.by_language,
        "revisions": counts.revisions,
        "inbox": str(inbox.folder),
        "inbox_waiting": waiting,
        "quarantined": counts.quarantined,
        "unsummarised": counts.unsummarised,
        "quarantine": str(inbox.quarantine),
        "last_ingest": counts.last_ingest.isoformat() if counts.last_ingest else None,
    }
    if as_json:
        _emit_json(figures)
        return
    languages = ", ".join(f"{lang} {n}" for lang, n in counts.by_language.items())
    click.echo(f"Instance     {_display_path(instance.root) or '.'}")
    click.echo(f"Database     {_display_path(instance.settings.database_path)} (schema {schema})")
    click.echo(f"Reports      {counts.reports}" + (f" ({languages})" if languages else "")
               + f", {counts.revisions} revisions")
    click.echo(f"Inbox        {_display_path(inbox.folder)}/: {waiting} new or changed file(s)"
               + (" waiting; run `newsletter ingest`" if waiting else ""))
    if counts.unsummarised:
        click.echo(f"Summaries    {counts.unsummarised} report(s) without a current summary; "
                   "run `newsletter summarise`")
    click.echo(f"Quarantine   {counts.quarantined} file(s) in {_display_path(inbox.quarantine)}/")
    last = counts.last_ingest.isoformat() if counts.last_ingest else "never"
    click.echo(f"Last ingest  {last}")


@cli.command("config")
@click.option("--json", "as_json", is_flag=True, help="Every setting as JSON.")
@click.pass_obj
@_handle_errors
def config_command(obj: Context, as_json: bool) -> None:
    """Show every setting's value and where it came from (secrets are masked)."""
    instance = obj.instance
    settings = instance.settings
    rows = []
    for spec in settings_table():
        value = getattr(getattr(settings, spec.section), spec.key)
        if spec.secret and value:
            value = "********"
        rows.append({"setting": spec.name, "value": value,
                     "source": settings.sources[spec.name], "env": spec.env_var})
    if as_json:
        _emit_json({"config": str(instance.config_path), "settings": rows})
        return
    click.echo(f"# {_display_path(instance.config_path)}")
    _print_table(("SETTING", "SOURCE", "ENV", "VALUE"),
                 [(r["setting"], r["source"], r["env"], json.dumps(r["value"])) for r in rows])


def main(argv: Sequence[str] | None = None) -> None:
    """Console-script entry point."""
    cli.main(args=list(argv) if argv is not None else None, prog_name="newsletter")
