"""The ``newsletter`` command line: the only module that prints or exits (I/O).

Exit codes: 0 success, 1 a :class:`NewsletterError` (message and hint on standard error),
2 a usage error (unknown option, missing argument).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import json
import os
import shutil
import signal
import socket
import sys
import traceback
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from newsletter import __version__
from newsletter.app import Instance, init_instance, load_instance
from newsletter.config import settings_table
from newsletter.delivery.rules import OutboxSummary, State
from newsletter.delivery.sender import DeliveryRun
from newsletter.errors import ListError, NewsletterError, RelayUnreachable
from newsletter.issues.create import CreatedIssue, create_issue
from newsletter.issues.plan import plan_issue
from newsletter.languages import LANGUAGES
from newsletter.logs import configure_logging
from newsletter.mail.compose import body_parts
from newsletter.mail.messages import Addressee
from newsletter.reports.ingest import ingest_inbox, scan
from newsletter.reports.model import IngestOutcome, IngestStatus, StoredReport
from newsletter.service import scheduler as schedule
from newsletter.service.cron import next_fire
from newsletter.store import Store
from newsletter.subscribers.core import (
    DEFAULT_FORMAT,
    DEFAULT_LANGUAGE,
    FORMATS,
    MAX_NAME,
    ListSpec,
    Mode,
    Status,
    Subscriber,
    check_subscriber,
    export_csv,
    list_to_table,
    normalise_address,
    parse_list,
    parse_subscriber_csv,
)
from newsletter.summarise.pending import summarise_pending
from newsletter.translate.core import plan_route
from newsletter.translate.editions import Edition, Policy, edition_view
from newsletter.translate.engine import InstalledModel, installed_models
from newsletter.translate.packages import Limits, install_from_index, plan_build
from newsletter.translate.packages import build as build_package
from newsletter.translate.packages import check as check_models
from newsletter.translate.packages import install as install_model
from newsletter.translate.packages import remove as remove_model
from newsletter.translate.pending import translate_pending

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
    """Turn a NewsletterError into ``Error: …`` plus its hint and exit status 1; a file that
    cannot be read or written (a path given on the command line, an output folder) too."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except NewsletterError as exc:
            _fail(exc.message, exc.hint)
        except BrokenPipeError:
            raise  # the reader went away (`| head`): click exits quietly, as Unix tools do
        except OSError as exc:
            where = f" ({exc.filename})" if exc.filename else ""
            _fail(f"{exc.strerror or exc}{where}",
                  "check that the path exists and that this user may read and write it")

    return wrapper  # type: ignore[return-value]


def _fail(message: str, hint: str | None) -> NoReturn:
    ctx = click.get_current_context()
    if isinstance(ctx.obj, Context) and ctx.obj.debug:
        traceback.print_exc()
    click.echo(f"Error: {message}", err=True)
    command = ctx.command_path.replace("newsletter", "newsletter --debug", 1)
    click.echo(f"Hint: {hint or f'`{command}` shows the details'}", err=True)
    ctx.exit(1)


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


def _edition_views(
    stored: StoredReport, summary: tuple[str, ...] | None, editions: dict[str, Edition],
    languages: Sequence[str], policy: Policy,
) -> list[dict[str, Any]]:
    """Each configured language's edition as it would be sent (:func:`edition_view`), with
    the machine's output for review whatever the decision."""
    report = stored.report
    views = []
    for language in languages:
        view = edition_view(stored.id, report.language, report.title, summary or (),
                            report.body, editions.get(language), language, policy)
        edition = view.edition
        shown: dict[str, Any] = {
            "language": language, "status": view.status.value,
            "model": edition.model if edition is not None else None,
            "flags": [f.as_dict() for f in view.flags],
            "title": None if view.held else view.title,
            "summary": None if view.held else " ".join(view.summary)}
        if edition is not None:
            shown.update(
                body_flags=[f.as_dict() for f in edition.body_flags],
                machine_title=edition.title,
                machine_summary=None if edition.summary is None else " ".join(edition.summary))
        views.append(shown)
    return views


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
        found = store.reports.newest(limit=limit)
        summaries = {stored.id: store.summaries.of(stored.id) for stored in found}
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
    settings = obj.instance.settings.translate
    with obj.instance.open_store() as store:
        stored = store.reports.get(report_id)
        summary = store.summaries.of(report_id)
        editions = _edition_views(stored, summary, store.editions.of(report_id),
                                  settings.languages, Policy(settings.policy))
    if as_json:
        _emit_json({**_report_dict(stored, summary), "editions": editions})
        return
    data = _report_dict(stored, summary, body=False)
    del data["summary"], data["summary_sentences"]
    width = max(len(key) for key in data)
    for key, value in data.items():
        click.echo(f"{key:<{width}}  {'-' if value is None else value}")
    for view in editions:
        click.echo(f"\nEdition {view['language']}: {view['status']}"
                   + (f" ({view['model']})" if view["model"] else ""))
        for flag in view["flags"]:
            click.echo(f"  ! {flag['code']}: {flag['detail']}")
        if view["title"]:
            click.echo(f"  {view['title']}")
            click.echo(f"  {view['summary']}")
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


# -- translation and models --------------------------------------------------------------


@cli.command("translate")
@click.option("--report", "report_id", type=int, metavar="ID", help="Only this report.")
@click.option("--all", "everything", is_flag=True, help="Translate every edition again.")
@click.option("--json", "as_json", is_flag=True, help="The run's figures as one JSON object.")
@click.pass_obj
@_handle_errors
def translate_command(obj: Context, report_id: int | None, everything: bool, as_json: bool) -> None:
    """Translate titles, summaries and bodies into every configured language, offline."""
    instance = obj.instance
    engine = instance.engine()
    glossary = instance.glossary()
    with instance.open_store() as store:
        summarise_pending(store, instance.settings.summary, now=_now())
        with _progress("Translating") as progress:
            run = translate_pending(store, engine, glossary, instance.settings.translate,
                                    now=_now(), report_id=report_id, force=everything,
                                    progress=progress)
    figures = {"editions": run.editions, "sentences": run.sentences, "from_cache": run.from_cache,
               "translated": run.translated, "batch_calls": run.batch_calls,
               "missing": [{"report_id": r, "language": lang, "reason": why}
                           for r, lang, why in run.missing]}
    if as_json:
        _emit_json(figures)
        return
    click.echo(f"{run.editions} edition(s) written; {run.translated} sentence(s) translated in "
               f"{run.batch_calls} batch call(s), {run.from_cache} from the cache")
    for language, why in sorted({(lang, why) for _, lang, why in run.missing}):
        count = sum(1 for _, lang, w in run.missing if (lang, w) == (language, why))
        click.echo(f"{language}: {count} report(s) not translated: {why}", err=True)


@contextlib.contextmanager
def _progress(label: str) -> Iterator[Callable[[int, int, str], None] | None]:
    """Progress bars on a terminal, one per model; elsewhere the structured logs say how far
    the work got."""
    if not sys.stderr.isatty():
        yield None
        return
    current: dict[str, Any] = {}

    def advance(step: int, total: int, what: str) -> None:
        if current.get("what") != what:
            if "bar" in current:
                current["bar"].__exit__(None, None, None)
            current["bar"] = click.progressbar(length=total, label=f"{label} {what}",
                                               file=sys.stderr)
            current["bar"].__enter__()
            current["what"] = what
        current["bar"].update(step)

    try:
        yield advance
    finally:
        if "bar" in current:
            current["bar"].__exit__(None, None, None)


@cli.group()
def models() -> None:
    """Install, list, check and build offline translation models (Argos packages)."""


def _model_dict(model: InstalledModel) -> dict[str, Any]:
    return {"name": model.name, "from": model.from_code, "to": model.to_code,
            "version": model.version, "target_prefix": model.target_prefix or None,
            "sha256": model.sha256, "path": str(model.path)}


@models.command("list")
@click.option("--json", "as_json", is_flag=True, help="A JSON array of installed models.")
@click.pass_obj
@_handle_errors
def models_list(obj: Context, as_json: bool) -> None:
    """List installed models and the languages they connect."""
    settings = obj.instance.settings
    found = installed_models(settings.packages_dir)
    if as_json:
        _emit_json([_model_dict(m) for m in found])
        return
    if found:
        _print_table(("NAME", "PAIR", "VERSION", "SHA256"),
                     [(m.name, f"{m.from_code}→{m.to_code}", m.version, (m.sha256 or "-")[:12])
                      for m in found])
    else:
        click.echo(f"No models installed in {_display_path(settings.packages_dir)}/.")
    refs = [m.ref for m in found]
    languages = settings.translate.languages
    for source in languages:
        for target in languages:
            if source != target and plan_route(refs, source, target) is None:
                click.echo(f"missing: {source}→{target}: install one with "
                           f"`newsletter models install translate-{source}_{target}.argosmodel`",
                           err=True)


@models.command("install")
@click.argument("archive", required=False, type=click.Path(path_type=Path))
@click.option("--from-index", "from_index", metavar="LANG",
              help="Download en→LANG from the public Argos index (needs a network).")
@click.option("--replace", is_flag=True, help="Replace an installed model of the same pair.")
@click.pass_obj
@_handle_errors
def models_install(obj: Context, archive: Path | None, from_index: str | None,
                   replace: bool) -> None:
    """Install a model from an .argosmodel FILE (or --from-index LANG)."""
    settings = obj.instance.settings
    if (archive is None) == (from_index is None):
        raise click.UsageError("give an .argosmodel FILE or --from-index LANG")
    if from_index is not None:
        model = install_from_index(from_index, settings.packages_dir,
                                   limits=Limits(max_bytes=settings.models.max_bytes))
    else:
        assert archive is not None
        model = install_model(archive, settings.packages_dir,
                              limits=Limits(max_bytes=settings.models.max_bytes), replace=replace)
    click.echo(f"Installed {model.name} ({model.from_code}→{model.to_code}, version "
               f"{model.version}, sha256 {model.sha256})")


@models.command("build")
@click.argument("checkpoint", type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.option("--from", "from_code", required=True, metavar="LANG", help="Source language (en).")
@click.option("--to", "to_code", required=True, metavar="LANG", help="Target language (kk).")
@click.option("--source-token", metavar="TOKEN",
              help="Marian multi-target models: the target token, e.g. '>>kaz_Cyrl<<'.")
@click.option("--target-prefix", metavar="TOKEN",
              help="Force this first target token (NLLB: derived from --to, e.g. kaz_Cyrl).")
@click.option("--version", "package_version", default="1.0", show_default=True)
@click.option("--quantization", type=click.Choice(["int8", "int8_float32", "float16"]),
              help="Smaller, faster weights (int8 suits CPUs).")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=Path("."),
              show_default=True, help="Folder for the .argosmodel file.")
@click.option("--install", "install_after", is_flag=True, help="Install the package when built.")
@click.pass_obj
@_handle_errors
def models_build(obj: Context, checkpoint: Path, from_code: str, to_code: str,
                 source_token: str | None, target_prefix: str | None, package_version: str,
                 quantization: str | None, out_dir: Path, install_after: bool) -> None:
    """Build an Argos package from a local OPUS-MT (Marian) or NLLB CHECKPOINT folder.

    Needs the optional converter dependencies: pip install 'newsletter[build]'.
    """
    plan = plan_build(checkpoint, from_code, to_code, source_token=source_token,
                      target_prefix=target_prefix, version=package_version,
                      quantization=quantization)
    archive = build_package(plan, out_dir)
    click.echo(f"Built {_display_path(archive)} ({plan.kind}; source token "
               f"{plan.source_token or 'none'}; target prefix {plan.target_prefix or 'none'})")
    if install_after:
        settings = obj.instance.settings
        model = install_model(archive, settings.packages_dir,
                              limits=Limits(max_bytes=settings.models.max_bytes), replace=True)
        click.echo(f"Installed {model.name} ({model.from_code}→{model.to_code})")


@models.command("remove")
@click.argument("name")
@click.pass_obj
@_handle_errors
def models_remove(obj: Context, name: str) -> None:
    """Uninstall the model called NAME (see `newsletter models list`)."""
    model = remove_model(name, obj.instance.settings.packages_dir)
    click.echo(f"Removed {model.name} ({model.from_code}→{model.to_code})")


@models.command("check")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per model.")
@click.pass_obj
@_handle_errors
def models_check(obj: Context, as_json: bool) -> None:
    """Load each installed model and translate a probe sentence with it."""
    results = check_models(obj.instance.engine())
    if as_json:
        for r in results:
            _emit_json({**_model_dict(r.model), "ok": r.ok, "output": r.output,
                        "seconds": round(r.seconds, 3), "error": r.error})
    else:
        if not results:
            click.echo("No models installed: nothing to check.")
        for r in results:
            state = "ok  " if r.ok else "FAIL"
            click.echo(f"{state} {r.model.name} ({r.model.from_code}→{r.model.to_code}) "
                       f"{r.seconds:.2f} s: {r.output or r.error}")
    if any(not r.ok for r in results):
        raise NewsletterError("some models failed their check",
                              hint="remove or reinstall the models marked FAIL")


# -- preview ------------------------------------------------------------------------------


@cli.command()
@click.option("--report", "report_id", type=int, metavar="ID", help="Preview the alert for ID.")
@click.option("--digest", "digest", metavar="LIST",
              help="Preview LIST's next digest (what is due for it, else its latest matching "
                   "reports); a name that is no list previews the latest reports.")
@click.option("--limit", type=click.IntRange(min=1), default=10, show_default=True,
              help="Most reports in a digest preview.")
@click.option("--lang", "language", type=click.Choice([*LANGUAGES, "all"]), default="all",
              show_default=True)
@click.option("--out", "out_dir", type=click.Path(path_type=Path),
              help="Folder for the files (default: [paths] outbox/preview).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per file written.")
@click.pass_obj
@_handle_errors
def preview(obj: Context, report_id: int | None, digest: str | None, limit: int, language: str,
            out_dir: Path | None, as_json: bool) -> None:
    """Write the .html, .txt and .eml of an alert or digest in each language (and the
    .text.eml a subscriber whose format is text gets), and print where."""
    if (report_id is None) == (digest is None):
        raise click.UsageError("give --report ID or --digest LIST")
    instance = obj.instance
    settings = instance.settings
    languages = settings.translate.languages if language == "all" else [language]
    renderer = instance.renderer()
    with instance.open_store() as store:
        spec = instance.lists(store).get(digest or "")
        title, policy = settings.mail.list_title, Policy(settings.translate.policy)
        budget = None
        if report_id is not None:
            ids, kind, name = [store.reports.get(report_id).id], "alert", f"report-{report_id}"
        else:
            kind, name = "digest", f"digest-{digest}"
            recent = store.reports.newest()
            if spec is not None:
                title, policy = spec.title, Policy(spec.policy)
                budget = (spec.summary_sentences, spec.summary_words)
                due = instance.service(store, clock=_now, looking=True).due(spec)
                if not due:
                    click.echo(f"Nothing is due for {spec.name} yet: previewing its latest "
                               "matching reports instead", err=True)
                recent = due or [r for r in recent if spec.matches(
                    r.report.title, r.report.body, r.report.source, r.report.kind)]
            ids = [r.id for r in recent[:limit]]
            if not ids:
                raise NewsletterError("there are no reports to put in a digest",
                                      hint="run `newsletter ingest` first")
        planned = plan_issue(store, ids, kind=kind, languages=languages, policy=policy,
                             list_title=title, base_url=settings.web.base_url,
                             issue_date=_now().date(), summary_budget=budget)
    folder = out_dir or settings.resolve(settings.paths.outbox) / "preview"
    folder.mkdir(parents=True, exist_ok=True)
    mail = instance.mail_settings(digest or "alerts", title)
    builder = instance.message_builder(signed=False, mail=lambda _: mail)
    written = []
    for lang, issue in planned.mails.items():
        rendered = renderer.render(issue)
        message = builder.preview(builder.template(rendered, digest or "alerts", date=_now()),
                                  f"{name}.{lang}")
        text_only = builder.preview(builder.template(rendered, digest or "alerts", date=_now(),
                                                     format="text"), f"{name}.{lang}")
        plain, html_text = body_parts(message)
        for kind_of_file, suffix, data in (("html", "html", html_text.encode("utf-8")),
                                           ("text", "txt", plain.encode("utf-8")),
                                           ("eml", "eml", message),
                                           ("text-eml", "text.eml", text_only)):
            path = folder / f"{name}.{lang}.{suffix}"
            path.write_bytes(data)
            written.append({"lang": lang, "kind": kind_of_file, "path": str(path)})
    for lang, reasons in planned.held.items():
        for reason in reasons:
            click.echo(f"{lang}: held back: {reason}", err=True)
    if as_json:
        for entry in written:
            _emit_json(entry)
        return
    for entry in written:
        click.echo(_display_path(entry["path"]))


@cli.command()
@click.option("--host", help="Interface to listen on (default: [web] host).")
@click.option("--port", type=int, help="Port to listen on (default: [web] port).")
@click.pass_obj
@_handle_errors
def serve(obj: Context, host: str | None, port: int | None) -> None:
    """Serve the local web app: previews of every issue in every language, and the archive."""
    import uvicorn

    from newsletter.web import create_app

    instance = obj.instance
    web = instance.settings.web
    host, port = host or web.host, port or web.port
    try:  # uvicorn reports a busy port with a traceback line and exit status 3
        with socket.create_server((host, port)):
            pass
    except OSError as exc:
        raise NewsletterError(f"cannot listen on {host}:{port}: {exc.strerror or exc}",
                              hint="another program (perhaps another `newsletter serve`) uses "
                                   "that port: stop it, or pick another with --port") from exc
    app = create_app(instance)
    click.echo(f"Serving on http://{host}:{port}/ (Ctrl+C stops)")
    uvicorn.run(app, host=host, port=port, log_level="warning")


# -- subscribers and lists -----------------------------------------------------------------


@cli.group()
def subscribers() -> None:
    """Add, import, export and inspect subscribers."""


def _subscriber_dict(subscriber: Subscriber, lists: dict[str, str]) -> dict[str, Any]:
    return {"id": subscriber.id, "email": subscriber.email, "name": subscriber.name,
            "language": subscriber.language, "format": subscriber.format,
            "status": subscriber.status, "consent_source": subscriber.consent_source,
            "consent_at": subscriber.consent_at.isoformat(), "bounces": subscriber.bounces,
            "lists": lists}


_NAME_HELP = (f"Display name (at most {MAX_NAME} characters; an address already stored keeps "
              "its name unless this is given).")
_LANGUAGE_HELP = (f"Language of the mails (default for a new address: {DEFAULT_LANGUAGE}; an "
                  "address already stored keeps its language unless this is given).")
_FORMAT_HELP = (f"html or plain text (default for a new address: {DEFAULT_FORMAT}; an address "
                "already stored keeps its format unless this is given).")


def _quoted(name: str | None) -> str:
    return "(none)" if name is None else repr(name)


def _changes(before: Subscriber, after: Subscriber) -> str:
    """What changed in a subscriber, as ``name 'Ann' → 'Anna', language en → ru``."""
    changes = []
    if before.name != after.name:
        changes.append(f"name {_quoted(before.name)} → {_quoted(after.name)}")
    if before.language != after.language:
        changes.append(f"language {before.language} → {after.language}")
    if before.format != after.format:
        changes.append(f"format {before.format} → {after.format}")
    return ", ".join(changes)


@subscribers.command("add")
@click.argument("email")
@click.option("--name", help=_NAME_HELP)
@click.option("--language", type=click.Choice(LANGUAGES), help=_LANGUAGE_HELP)
@click.option("--format", "fmt", type=click.Choice(FORMATS), help=_FORMAT_HELP)
@click.option("--list", "list_name", help="Subscribe to this list too.")
@click.option("--consent", default="command line", show_default=True,
              help="Where the consent was given (recorded with the time).")
@click.pass_obj
@_handle_errors
def subscribers_add(obj: Context, email: str, name: str | None, language: str | None,
                    fmt: str | None, list_name: str | None, consent: str) -> None:
    """Add one subscriber (and subscribe them to --list). For an address already stored only
    the options given change anything: adding it to another list keeps its name, language
    and format."""
    row = check_subscriber(email, name, language, fmt)
    with obj.instance.open_store() as store:
        if list_name is not None:
            obj.instance.list_named(store, list_name)
        before = store.subscribers.find(row.email)
        counts = store.subscribers.import_rows([row], list_name, consent_source=consent, now=_now())
        after = store.subscribers.get(row.email)
    if counts.not_resubscribed:
        raise NewsletterError(f"{row.email} has unsubscribed or is suppressed: not resubscribed",
                              hint="only the subscriber can subscribe again")
    joined = f" (subscribed to {list_name})" if counts.subscribed else ""
    if before is None:
        click.echo(f"Added {row.email}{joined}")
    elif counts.updated:
        click.echo(f"Updated {row.email}: {_changes(before, after)}{joined}")
    else:
        click.echo(f"Unchanged: {row.email}{joined}")


@subscribers.command("invite")
@click.argument("email")
@click.option("--list", "list_name", required=True)
@click.option("--name", help=_NAME_HELP)
@click.option("--language", type=click.Choice(LANGUAGES), help=_LANGUAGE_HELP)
@click.option("--format", "fmt", type=click.Choice(FORMATS), help=_FORMAT_HELP)
@click.pass_obj
@_handle_errors
def subscribers_invite(obj: Context, email: str, list_name: str, name: str | None,
                       language: str | None, fmt: str | None) -> None:
    """Double opt-in: add EMAIL as pending and send a confirmation mail; the address gets
    nothing else until its owner confirms through the web app. An address already stored
    keeps its name, language and format unless the options give them; the mail is in the
    language it ends up with."""
    instance = obj.instance
    settings = instance.settings
    instance.signing_secrets()  # fail now, before anything is stored, when no key is set
    row = check_subscriber(email, name, language, fmt)
    with instance.open_store() as store:
        spec = instance.list_named(store, list_name)
        counts = store.subscribers.import_rows([row], list_name, consent_source="invitation",
                                          now=_now(), status="pending")
        if counts.not_resubscribed:
            raise NewsletterError(f"{row.email} has unsubscribed or is suppressed: not invited")
        subscriber = store.subscribers.get(row.email)
        if store.subscribers.memberships(subscriber.id).get(list_name) == "active":
            click.echo(f"{row.email} is already subscribed to {list_name}")
            return
    today = _now().date()
    builder = instance.message_builder(mail=lambda _: instance.mail_settings(list_name,
                                                                             spec.title))
    rendered = instance.renderer().render_confirmation(
        subscriber.language, spec.title, builder.links.confirm(subscriber.id, list_name, today),
        today)
    message = builder.message(
        builder.template(rendered, list_name, date=_now(), format=subscriber.format),
        Addressee(row.email, subscriber.name,
                  builder.links.message_id(f"confirm.{subscriber.id}.{today:%Y%m%d}.{list_name}"),
                  subscriber_id=subscriber.id, list_name=list_name, issued=today))
    outcome = instance.transport().deliver(settings.mail.from_address, row.email, message,
                                           f"confirm-{subscriber.id}-{list_name}")
    if not outcome.accepted:
        raise NewsletterError(f"the relay refused the invitation: {outcome.code} {outcome.text}",
                              hint="check the address; it stays pending")
    click.echo(f"Invited {row.email} to {list_name}; pending until confirmed"
               + (f" (written to {_display_path(outcome.text)})"
                  if settings.delivery.transport == "file" else ""))


@subscribers.command("remove")
@click.argument("email")
@click.option("--list", "list_name", help="Only from this list (default: from every list).")
@click.option("--suppress", is_flag=True, help="Never send to this address again, on any list.")
@click.pass_obj
@_handle_errors
def subscribers_remove(obj: Context, email: str, list_name: str | None, suppress: bool) -> None:
    """Unsubscribe EMAIL from a list, from every list, or suppress it for good."""
    address = normalise_address(email)
    with obj.instance.open_store() as store:
        subscriber = store.subscribers.get(address)
        if list_name is not None and not suppress:
            changed = store.subscribers.unsubscribe(subscriber.id, list_name, "command line",
                                                    _now())
            click.echo(f"{address} unsubscribed from {list_name}" if changed
                       else f"{address} was not subscribed to {list_name}")
            return
        status = "suppressed" if suppress else "unsubscribed"
        store.subscribers.set_status(subscriber.id, status, "command line", _now())
    click.echo(f"{address} is now {status}: nothing will be sent to it")


@subscribers.command("show")
@click.argument("email")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
@_handle_errors
def subscribers_show(obj: Context, email: str, as_json: bool) -> None:
    """Show one subscriber and their lists."""
    with obj.instance.open_store() as store:
        subscriber = store.subscribers.get(normalise_address(email))
        lists = store.subscribers.memberships(subscriber.id)
    data = _subscriber_dict(subscriber, lists)
    if as_json:
        _emit_json(data)
        return
    for key, value in data.items():
        click.echo(f"{key:<15} {value if value not in (None, {}) else '-'}")


@subscribers.command("list")
@click.option("--list", "list_name", help="Only members of this list.")
@click.option("--status", type=click.Choice([s.value for s in Status]))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per subscriber.")
@click.pass_obj
@_handle_errors
def subscribers_list(obj: Context, list_name: str | None, status: str | None,
                     as_json: bool) -> None:
    """List subscribers."""
    with obj.instance.open_store() as store:
        found = list(store.subscribers.listing(list_name=list_name, status=status))
    if as_json:
        for subscriber, membership in found:
            data = _subscriber_dict(subscriber, {list_name: membership} if list_name and membership
                                    else {})
            _emit_json(data)
        return
    if not found:
        click.echo("No subscribers.")
        return
    _print_table(("ID", "LANG", "FORMAT", "STATUS", "EMAIL", "NAME"),
                 [(str(s.id), s.language, s.format, s.status + (f"/{m}" if m else ""), s.email,
                   s.name or "-") for s, m in found])


@subscribers.command("import")
@click.argument("csv_file", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option("--list", "list_name", required=True, help="Subscribe everyone to this list.")
@click.option("--consent", default=None, help="Where consent was given (default: the file).")
@click.option("--json", "as_json", is_flag=True, help="The counts and problems as JSON.")
@click.pass_obj
@_handle_errors
def subscribers_import(obj: Context, csv_file: Path, list_name: str, consent: str | None,
                       as_json: bool) -> None:
    """Import a CSV (header row; email required; name, language, format optional). A column
    that is missing, or a cell that is empty, leaves an address already stored as it is; a
    row that cannot be read is reported with its line number and the others are imported."""
    try:
        text = csv_file.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise NewsletterError(f"{csv_file} is not UTF-8 text (byte {exc.start})",
                              hint="save the spreadsheet as \"CSV UTF-8\" and import that") from exc
    parsed = parse_subscriber_csv(text)
    with obj.instance.open_store() as store:
        obj.instance.list_named(store, list_name)
        counts = store.subscribers.import_rows(parsed.rows, list_name,
                                          consent_source=consent or f"import of {csv_file.name}",
                                          now=_now())
    figures = {"added": counts.added, "updated": counts.updated, "unchanged": counts.unchanged,
               "subscribed": counts.subscribed, "not_resubscribed": counts.not_resubscribed,
               "problems": [{"line": p.line, "reason": p.reason} for p in parsed.problems],
               "unknown_columns": list(parsed.unknown_columns)}
    if as_json:
        _emit_json(figures)
        return
    click.echo(f"{counts.added} added, {counts.updated} updated, {counts.unchanged} unchanged; "
               f"{counts.subscribed} newly subscribed to {list_name}")
    if parsed.unknown_columns:
        click.echo(f"Ignored unknown columns: {', '.join(parsed.unknown_columns)} "
                   "(known: email, name, language, format)", err=True)
    for problem in parsed.problems:
        click.echo(f"line {problem.line}: {problem.reason}", err=True)
    for address in counts.not_resubscribed:
        click.echo(f"{address}: unsubscribed or suppressed, not resubscribed", err=True)


@subscribers.command("export")
@click.option("--list", "list_name", required=True)
@click.option("--out", "out_file", type=click.Path(path_type=Path),
              help="Write to this file instead of standard output.")
@click.pass_obj
@_handle_errors
def subscribers_export(obj: Context, list_name: str, out_file: Path | None) -> None:
    """Export a list's subscribers as CSV, safe to open in a spreadsheet."""
    header = ("email", "name", "language", "format", "status", "list_status", "consent_source",
              "consent_at")
    with obj.instance.open_store() as store:
        obj.instance.list_named(store, list_name)
        rows = ((s.email, s.name or "", s.language, s.format, s.status, m or "",
                 s.consent_source, s.consent_at.isoformat())
                for s, m in store.subscribers.listing(list_name=list_name))
        lines = export_csv(rows, header)
        if out_file is None:
            for line in lines:
                click.echo(line, nl=False)
        else:
            with out_file.open("w", encoding="utf-8", newline="") as handle:
                handle.writelines(lines)


@cli.group("lists")
def lists_group() -> None:
    """Show and manage mailing lists."""


@lists_group.command("show")
@click.option("--json", "as_json", is_flag=True, help="A JSON array of lists.")
@click.pass_obj
@_handle_errors
def lists_show(obj: Context, as_json: bool) -> None:
    """Every list, where it is declared, and how many subscribers it has."""
    with obj.instance.open_store() as store:
        lists = obj.instance.lists(store)
        counts = store.subscribers.counts_by_list()
    data = [{"name": spec.name, **list_to_table(spec), "origin": spec.origin,
             "subscribers": counts.get(spec.name, {})} for spec in lists.values()]
    if as_json:
        _emit_json(data)
        return
    if not data:
        click.echo("No lists: declare one in newsletter.toml ([lists.NAME]) or run "
                   "`newsletter lists add NAME`.")
        return
    _print_table(("NAME", "MODE", "SCHEDULE", "TIMEZONE", "LANGUAGES", "ACTIVE", "TITLE"),
                 [(spec.name, spec.mode.value, spec.schedule or "-", spec.timezone,
                   ",".join(spec.languages),
                   str(counts.get(spec.name, {}).get("active", 0)), spec.title)
                  for spec in lists.values()])


@lists_group.command("add")
@click.argument("name")
@click.option("--title")
@click.option("--description", default="")
@click.option("--mode", type=click.Choice([m.value for m in Mode]), default="daily",
              show_default=True)
@click.option("--schedule", help="Cron: minute hour day month weekday (default by mode).")
@click.option("--timezone", default="Asia/Almaty", show_default=True)
@click.option("--languages", default=",".join(LANGUAGES), show_default=True)
@click.option("--countries", default="")
@click.option("--keywords", default="")
@click.option("--sources", default="")
@click.option("--kinds", default="")
@click.option("--policy", type=click.Choice(["hold", "fallback"]), default="fallback",
              show_default=True)
@click.pass_obj
@_handle_errors
def lists_add(obj: Context, name: str, title: str | None, description: str, mode: str,
              schedule: str | None, timezone: str, languages: str, countries: str, keywords: str,
              sources: str, kinds: str, policy: str) -> None:
    """Create (or change) a list kept in the database."""
    table: dict[str, object] = {
        "title": title or name, "description": description, "mode": mode, "timezone": timezone,
        "languages": languages, "countries": countries, "keywords": keywords,
        "sources": sources, "kinds": kinds, "policy": policy}
    if schedule:
        table["schedule"] = schedule
    spec = parse_list(name, table, origin="database")
    if any(s.name == name for s in obj.instance.settings.lists):
        raise ListError(f"{name} is declared in newsletter.toml", hint="change it there")
    with obj.instance.open_store() as store:
        store.lists.save(name, list_to_table(spec), _now())
    click.echo(f"Saved list {name} ({spec.mode.value}"
               + (f", {spec.schedule} {spec.timezone}" if spec.schedule else "") + ")")


@lists_group.command("remove")
@click.argument("name")
@click.pass_obj
@_handle_errors
def lists_remove(obj: Context, name: str) -> None:
    """Delete a list kept in the database (memberships are kept, for the record)."""
    with obj.instance.open_store() as store:
        if not store.lists.delete(name):
            raise ListError(f"no database list called {name!r}",
                            hint="lists of newsletter.toml are removed by editing the file")
    click.echo(f"Removed list {name}")


# -- delivery -------------------------------------------------------------------------------


@cli.command()
@click.option("--dry-run", is_flag=True, help="Say what is due; send nothing.")
@click.option("--json", "as_json", is_flag=True, help="The run's figures as one JSON object.")
@click.pass_obj
@_handle_errors
def deliver(obj: Context, dry_run: bool, as_json: bool) -> None:
    """Send every due message of the outbox (SIGTERM or Ctrl+C: finish the messages in
    flight, then stop; nothing is lost or sent twice)."""
    instance = obj.instance
    with instance.open_store() as store:
        if dry_run:
            summary = store.outbox.summary(_now())
            if as_json:
                _emit_json({"due": summary.due, "waiting": summary.waiting,
                            "next_retry": summary.next_retry})
                return
            click.echo(f"{summary.due} message(s) due would be attempted; nothing sent "
                       f"(--dry-run){_waiting_text(summary)}")
            return
        run = asyncio.run(_deliver(instance, store))
        summary = store.outbox.summary(_now())
    if as_json:
        _emit_json({**run.figures(), "unreachable": run.unreachable, "waiting": summary.waiting,
                    "next_retry": summary.next_retry})
    else:
        click.echo((_run_text(run) or "Nothing was due") + _waiting_text(summary))
    _check_relay(instance, run)


def _run_text(run: DeliveryRun) -> str:
    return ", ".join(f"{n} {name}" for name, n in run.figures().items() if n)


def _waiting_text(summary: OutboxSummary) -> str:
    if not summary.waiting or summary.next_retry is None:
        return ""
    return (f"; {summary.waiting} waiting to retry, the next at "
            f"{summary.next_retry.isoformat()} (`newsletter retry` makes them due now)")


def _check_relay(instance: Instance, run: DeliveryRun) -> None:
    """Exit 1 with the reason when the sweep gave up on an unreachable relay."""
    if run.unreachable is None:
        return
    raise RelayUnreachable(
        f"the relay {instance.smtp_options().relay} is unreachable: {run.unreachable}",
        hint="check that the relay is running and [smtp] host, port and security; the "
             "messages stay queued: run `newsletter deliver` again once it is up")


def _stop_on_signals() -> asyncio.Event:
    """An event set by SIGTERM or SIGINT (call inside the running loop)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    return stop


async def _deliver(instance: Instance, store: Store) -> DeliveryRun:
    sender = instance.sender(store, owner=schedule.owner_name(), clock=_now)
    return await sender.sweep(_stop_on_signals()) or DeliveryRun()


@cli.command()
@click.option("--issue", "issue_id", type=int, help="Only the messages of this issue.")
@click.pass_obj
@_handle_errors
def retry(obj: Context, issue_id: int | None) -> None:
    """Make messages waiting to retry due now, and put failed ones back in the queue (then
    run `newsletter deliver`). Permanent refusals and addresses no longer active in the list
    are left as they are."""
    with obj.instance.open_store() as store:
        if issue_id is not None:
            store.issues.get(issue_id)  # a clear error for an unknown issue
        done = store.outbox.requeue(issue_id)
    click.echo(f"{done.made_due} message(s) waiting to retry are due now; {done.requeued} "
               "failed message(s) queued again; `newsletter deliver` sends them")
    if done.permanent:
        click.echo(f"{done.permanent} permanently refused message(s) left as they are "
                   "(`newsletter outbox list --state failed` shows the replies)", err=True)
    if done.inactive:
        click.echo(f"{done.inactive} failed message(s) to addresses no longer active in "
                   "their list left as they are", err=True)


@cli.group()
def outbox() -> None:
    """Look at the outbox: what was sent, what failed, what may have gone twice."""


@outbox.command("list")
@click.option("--state", "states", multiple=True,
              type=click.Choice([state.value for state in State]),
              help="Only rows in this state (repeatable).")
@click.option("--ambiguous", is_flag=True,
              help="Only rows whose outcome was unknown once (possibly duplicated).")
@click.option("--issue", "issue_id", type=int, help="Only the messages of this issue.")
@click.option("--limit", type=click.IntRange(min=1), help="Show at most this many.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per row.")
@click.pass_obj
@_handle_errors
def outbox_list(obj: Context, states: tuple[str, ...], ambiguous: bool, issue_id: int | None,
                limit: int | None, as_json: bool) -> None:
    """List outbox rows: failed ones with the relay's reply, ambiguous ones, skipped ones."""
    with obj.instance.open_store() as store:
        entries = store.outbox.entries(issue_id=issue_id, states=states, ambiguous=ambiguous,
                                       limit=limit)
    if as_json:
        for entry in entries:
            _emit_json(dataclasses.asdict(entry))
        return
    if not entries:
        click.echo("No messages match.")
        return
    _print_table(("ID", "ISSUE", "LIST", "STATE", "TRIES", "AMBIG", "ADDRESS", "REPLY"),
                 [(str(e.id), str(e.issue_id), e.list_name, e.state, str(e.attempts),
                   "yes" if e.ambiguous else "-", e.address,
                   " ".join(filter(None, (str(e.last_code or ""), e.last_text or ""))) or "-")
                  for e in entries])


# -- the service and one-off sends ------------------------------------------------------------


@cli.command()
@click.option("--once", is_flag=True,
              help="Run the whole pipeline once (inbox, translation, alerts, every list's "
                   "digest, delivery) and exit.")
@click.option("--exit-if-running", is_flag=True,
              help="Exit instead of waiting when another `newsletter run` is sending.")
@click.pass_obj
@_handle_errors
def run(obj: Context, once: bool, exit_if_running: bool) -> None:
    """The service: picks up reports, sends alerts and scheduled digests, sweeps the outbox.
    SIGTERM or Ctrl+C: no new work, messages in flight finish, exit 0."""
    instance = obj.instance
    instance.signing_secrets()  # fail now, not at the first send, when no key is set
    with instance.open_store() as store:
        if once:
            summary = asyncio.run(_run_once(instance, store))
            _print_run(instance, summary)
            return
        click.echo("Running; Ctrl+C or SIGTERM stops after the messages in flight.", err=True)
        asyncio.run(_run_forever(instance, store, standby=not exit_if_running))


async def _run_once(instance: Instance, store: Store) -> schedule.RunSummary:
    sender = instance.sender(store, owner=schedule.owner_name(), clock=_now)
    return await schedule.run_once(instance.service(store, clock=_now), sender, clock=_now,
                                   stop=_stop_on_signals())


async def _run_forever(instance: Instance, store: Store, *, standby: bool) -> None:
    sender = instance.sender(store, owner=schedule.owner_name(), clock=_now)
    await schedule.run_forever(instance.service(store, clock=_now), sender, standby=standby,
                               clock=_now, stop=_stop_on_signals())


def _print_run(instance: Instance, summary: schedule.RunSummary) -> None:
    settings = instance.settings
    delivered = summary.delivered
    click.echo(f"{summary.reports} new report(s); {summary.issues} issue(s); "
               f"{delivered.sent} message(s) sent, {delivered.retried} to retry, "
               f"{delivered.failed} failed"
               + (f", {delivered.skipped} skipped" if delivered.skipped else "")
               + (f", {delivered.deferred} deferred" if delivered.deferred else ""))
    for note in summary.notes:
        click.echo(f"  {note}", err=True)
    if settings.delivery.transport == "file":
        click.echo(f"Messages are in {_display_path(settings.resolve(settings.delivery.folder))}/")
    else:
        click.echo(f"Messages went to {settings.smtp.host}:{settings.smtp.port}")
    click.echo("`newsletter status` shows the outbox; `newsletter serve` the previews.")
    _check_relay(instance, delivered)


@cli.command()
@click.option("--list", "list_name", required=True)
@click.option("--report", "report_id", type=int, required=True, metavar="ID")
@click.option("--lang", "languages", multiple=True, type=click.Choice(LANGUAGES),
              help="Only subscribers reading these languages (repeatable).")
@click.option("--test-to", "test_to", metavar="ADDRESS",
              help="Send one test message to ADDRESS instead; nothing is recorded as sent.")
@click.option("--dry-run", is_flag=True, help="Say what would be sent; send nothing.")
@click.pass_obj
@_handle_errors
def send(obj: Context, list_name: str, report_id: int, languages: tuple[str, ...],
         test_to: str | None, dry_run: bool) -> None:
    """Send one report to a list now, as an alert, through the same outbox as the service
    (a report already sent to the list is refused, so nothing goes twice)."""
    instance = obj.instance
    with instance.open_store() as store:
        spec = instance.list_named(store, list_name)
        if languages:
            spec = dataclasses.replace(spec, languages=tuple(
                lang for lang in spec.languages if lang in languages) or tuple(languages))
        stored = store.reports.get(report_id)
        if test_to is not None:
            _send_test(instance, store, spec, stored.id, test_to, dry_run)
            return
        already = store.issues.sent_in(list_name, report_id)
        if already is not None:
            raise NewsletterError(f"report {report_id} was already sent to {list_name} "
                                  f"(issue {already})",
                                  hint="`newsletter send --test-to ADDRESS` sends a copy")
        if dry_run:
            _dry_run(store, spec, [report_id], "alert")
            return
        created = create_issue(store, instance.renderer(), spec, [report_id], "alert",
                               base_url=instance.settings.web.base_url,
                               domain=instance.settings.mail.from_address.rpartition("@")[2],
                               now=_now(), only_languages=languages or None)
        run = asyncio.run(_deliver(instance, store))
    _print_issue_sent(created, run)
    _check_relay(instance, run)


@cli.command()
@click.option("--list", "list_name", required=True)
@click.option("--dry-run", is_flag=True, help="Say what would be sent; send nothing.")
@click.pass_obj
@_handle_errors
def digest(obj: Context, list_name: str, dry_run: bool) -> None:
    """Make and send a list's digest now, of everything not yet sent to it."""
    instance = obj.instance
    with instance.open_store() as store:
        spec = instance.list_named(store, list_name)
        service = instance.service(store, clock=_now, looking=dry_run)
        if dry_run:
            _dry_run(store, spec, [r.id for r in service.due(spec)], "digest")
            return
        created = service.digest(spec)
        if created is None:
            click.echo(f"Nothing new for {list_name}: no digest made")
            return
        run = asyncio.run(_deliver(instance, store))
    _print_issue_sent(created, run)
    _check_relay(instance, run)


def _dry_run(store: Store, spec: ListSpec, report_ids: list[int], kind: str) -> None:
    by_language: dict[str, int] = {}
    for subscriber in store.subscribers.recipients(spec.name):
        language = (subscriber.language if subscriber.language in spec.languages
                    else spec.languages[0])
        by_language[language] = by_language.get(language, 0) + 1
    counts = ", ".join(f"{n} in {lang}" for lang, n in sorted(by_language.items())) or "nobody"
    click.echo(f"--dry-run: a {kind} of {len(report_ids)} report(s) to {spec.name}: {counts}; "
               "nothing sent")


def _print_issue_sent(created: CreatedIssue, run: DeliveryRun) -> None:
    """What became of the issue's own messages, and of any others that were due too."""
    sent = run.sent_by_issue.get(created.issue_id, 0)
    line = f"Issue {created.issue_id}: {created.queued} message(s) queued, {sent} sent"
    others = run.sent - sent
    if others:
        line += f"; {others} other due message(s) sent too"
    if run.retried or run.failed or run.deferred:
        line += (f" ({run.retried} to retry, {run.failed} failed, {run.deferred} deferred; "
                 "`newsletter outbox list` shows them)")
    click.echo(line)
    _report_held(created.held)


def _report_held(held: dict[str, list[str]]) -> None:
    for language, reasons in held.items():
        for reason in reasons:
            click.echo(f"{language}: held back: {reason}", err=True)


def _send_test(instance: Instance, store: Store, spec: ListSpec, report_id: int, address: str,
               dry_run: bool) -> None:
    language = spec.languages[0]
    planned = plan_issue(store, [report_id], kind="alert", languages=[language],
                         policy=Policy(spec.policy), list_title=spec.title,
                         base_url=instance.settings.web.base_url, issue_date=_now().date())
    if language not in planned.mails:
        raise NewsletterError(f"nothing to send in {language}: "
                              + "; ".join(planned.held.get(language, [])))
    rendered = instance.renderer().render(planned.mails[language])
    builder = instance.message_builder(store)
    address = normalise_address(address)
    message = builder.message(
        builder.template(rendered, spec.name, date=_now()),
        Addressee(address, None, builder.links.message_id(f"test.{report_id}.{language}")))
    if dry_run:
        click.echo(f"--dry-run: a {len(message):,}-byte test message to {address}")
        return
    outcome = instance.transport().deliver(instance.settings.mail.from_address, address,
                                           message, f"test-{report_id}")
    if not outcome.accepted:
        raise NewsletterError(f"the test message was refused: {outcome.code} {outcome.text}")
    click.echo(f"Test message sent to {address} ({language}); nothing recorded")


# -- status and config --------------------------------------------------------------------


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="The figures as one JSON object.")
@click.pass_obj
@_handle_errors
def status(obj: Context, as_json: bool) -> None:
    """Show what is stored, waiting in the inbox and quarantined."""
    instance = obj.instance
    with instance.open_store() as store:
        by_language = store.reports.by_language()
        revisions = store.reports.revisions()
        quarantined = store.inbox.quarantined()
        unsummarised = store.summaries.missing()
        last_ingest = store.inbox.last_seen()
        known = store.inbox.known()
        schema = store.schema_version
        translations = store.editions.totals()
        outbox_now = store.outbox.summary(_now())
        outbox = outbox_now.states
        errors = store.outbox.last_errors()
        schedules: list[dict[str, Any]] = []
        for spec in instance.lists(store).values():
            previous = store.runs.last(spec.name, "digest")
            schedules.append({
                "list": spec.name, "mode": spec.mode.value, "schedule": spec.schedule,
                "timezone": spec.timezone,
                "next_digest": next_fire(spec, _now()).isoformat(),
                "last_digest": None if previous is None else {
                    "at": previous.at.isoformat(), "outcome": previous.outcome,
                    "issue_id": previous.issue_id}})
    model_names = [m.name for m in installed_models(instance.settings.packages_dir)]
    inbox = instance.inbox
    waiting = 0
    if inbox.folder.is_dir():
        for path in scan(inbox, instance.settings.ingest):
            seen = known.get(path.relative_to(inbox.folder).as_posix())
            stat = path.lstat()  # a link is judged by itself, never followed
            if seen is None or (seen.size, seen.mtime_ns) != (stat.st_size, stat.st_mtime_ns):
                waiting += 1
    figures = {
        "instance": str(instance.root),
        "database": str(instance.settings.database_path),
        "schema_version": schema,
        "reports": sum(by_language.values()),
        "reports_by_language": by_language,
        "revisions": revisions,
        "inbox": str(inbox.folder),
        "inbox_waiting": waiting,
        "quarantined": quarantined,
        "unsummarised": unsummarised,
        "editions": translations.editions,
        "cached_translations": translations.cached,
        "models": model_names,
        "outbox": outbox,
        "outbox_due": outbox_now.due,
        "outbox_waiting": outbox_now.waiting,
        "outbox_next_retry": outbox_now.next_retry,
        "outbox_ambiguous": outbox_now.ambiguous,
        "lists": schedules,
        "last_errors": [{"address": e.address, "code": e.code, "text": e.text} for e in errors],
        "quarantine": str(inbox.quarantine),
        "last_ingest": last_ingest.isoformat() if last_ingest else None,
    }
    if as_json:
        _emit_json(figures)
        return
    languages = ", ".join(f"{lang} {n}" for lang, n in by_language.items())
    click.echo(f"Instance     {_display_path(instance.root) or '.'}")
    click.echo(f"Database     {_display_path(instance.settings.database_path)} (schema {schema})")
    click.echo(f"Reports      {sum(by_language.values())}"
               + (f" ({languages})" if languages else "") + f", {revisions} revisions")
    click.echo(f"Inbox        {_display_path(inbox.folder)}/: {waiting} new or changed file(s)"
               + (" waiting; run `newsletter ingest`" if waiting else ""))
    if unsummarised:
        click.echo(f"Summaries    {unsummarised} report(s) without a current summary; "
                   "run `newsletter summarise`")
    click.echo(f"Editions     {translations.editions} translated edition(s); "
               f"{translations.cached} cached sentence(s); "
               f"models: {', '.join(model_names) or 'none (see `newsletter models`)'}")
    click.echo("Outbox       " + (", ".join(f"{n} {state}" for state, n in sorted(outbox.items()))
                                  or "empty"))
    if outbox:
        click.echo(f"             {outbox_now.due} due now{_waiting_text(outbox_now)}")
    if outbox_now.ambiguous:
        click.echo(f"             {outbox_now.ambiguous} message(s) whose outcome was unknown "
                   "once: possibly delivered twice (`newsletter outbox list --ambiguous`)")
    if outbox.get(State.SKIPPED):
        click.echo(f"             {outbox[State.SKIPPED]} skipped: the address left the list "
                   "after queueing (`newsletter outbox list --state skipped`)")
    for error in errors:
        click.echo(f"  last error: {error.address}: {error.code or '-'} {error.text}")
    if errors:
        click.echo("  (`newsletter outbox list --state failed --state retry` shows them all)")
    for entry in schedules:
        done = entry["last_digest"]
        click.echo(f"List         {entry['list']} ({entry['mode']}): next digest "
                   f"{entry['next_digest']}; last "
                   + (f"{done['at']} {done['outcome']}" if done else "never"))
    click.echo(f"Quarantine   {quarantined} file(s) in {_display_path(inbox.quarantine)}/")
    last = last_ingest.isoformat() if last_ingest else "never"
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
