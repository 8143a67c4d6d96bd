"""Commands for reports: init, ingest, reports list/show, summarise, translate, preview and
serve."""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from newsletter.app import init_instance
from newsletter.cli.common import (
    Context,
    display_path,
    emit_json,
    failure_dict,
    failure_text,
    handle_errors,
    print_table,
    progress,
)
from newsletter.config_sections import (
    CAP_CATEGORIES,
    CAP_CERTAINTIES,
    CAP_SEVERITIES,
    CAP_URGENCIES,
)
from newsletter.errors import NewsletterError
from newsletter.languages import LANGUAGES

if TYPE_CHECKING:
    from newsletter.lists.spec import Policy
    from newsletter.reports.model import IngestOutcome, StoredReport
    from newsletter.reports.places import Gazetteer
    from newsletter.reports.split import RevisionLine
    from newsletter.translate.editions import Edition

# -- init ---------------------------------------------------------------------------------


@click.command()
@click.argument("folder", type=click.Path(path_type=Path))
@handle_errors
def init(folder: Path) -> None:
    """Create a new instance in FOLDER: a commented newsletter.toml and a seeds/ inbox."""
    config = init_instance(folder)
    click.echo(f"Created {display_path(config)} and {display_path(folder / 'seeds')}/")
    click.echo(f"Next: drop report files into {display_path(folder / 'seeds')}/ and run "
               f"`newsletter --config {display_path(config)} ingest`")


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


@click.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object per file acted on.")
@click.pass_obj
@handle_errors
def ingest(obj: Context, as_json: bool) -> None:
    """Pick up new and changed report files from the inbox, and summarise them."""
    from newsletter.reports.ingest import ingest_inbox
    from newsletter.reports.model import IngestStatus
    from newsletter.summarise.pending import summarise_pending

    instance = obj.instance
    with instance.open_store() as store:
        now = store.clock()()
        instance.lists_of(store).record_starts()  # every list gets the reports that arrive now
        outcomes = ingest_inbox(store, instance.inbox, instance.settings.ingest, now=now)
        summarise_pending(store, instance.settings.summary, now=now)
    if as_json:
        for outcome in outcomes:
            emit_json(_outcome_dict(outcome))
        return
    if not outcomes:
        click.echo(f"No new reports in {display_path(instance.inbox.folder)}/")
        return
    for outcome in outcomes:
        ident = f"#{outcome.report_id}" if outcome.report_id is not None else ""
        line = f"{outcome.status.value:<11} {ident:>5}  {display_path(outcome.path)}"
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
            f"Quarantined files are in {display_path(instance.inbox.quarantine)}/ with a "
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
    from newsletter.translate.editions import edition_view

    views = []
    for language in languages:
        view = edition_view(stored, editions.get(language), language, policy=policy,
                            summary=summary or ())
        edition = view.edition
        shown: dict[str, Any] = {
            "language": language, "status": view.status.value,
            "model": edition.model if edition is not None else None,
            "flags": [f.as_dict() for f in view.flags],
            "title": None if view.held else view.title,
            "summary": None if view.held else " ".join(view.summary)}
        if edition is not None:
            review = edition.review
            shown.update(
                body_flags=[f.as_dict() for f in edition.body_flags],
                machine_title=edition.title,
                machine_summary=None if edition.summary is None else " ".join(edition.summary),
                review=review.state.value if review else "machine",
                reviewed_by=review.by if review else None,
                reviewed_at=review.at.isoformat() if review else None,
                reviewed=view.reviewed)
        views.append(shown)
    return views


def _report_dict(
    stored: StoredReport, summary: tuple[str, ...] | None, places: Gazetteer, *,
    body: bool = True,
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
        "places": [{"code": code, "name": places.name(code, "en")} for code in stored.places],
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


@click.group()
def reports() -> None:
    """Inspect stored reports."""


@reports.command("list")
@click.option("--json", "as_json", is_flag=True, help="A JSON array of reports (with bodies).")
@click.option("--limit", type=click.IntRange(min=1), help="Show at most this many, newest first.")
@click.pass_obj
@handle_errors
def reports_list(obj: Context, as_json: bool, limit: int | None) -> None:
    """List stored reports, newest publication first."""
    with obj.instance.open_store() as store:
        found = store.reports.newest(limit=limit)
        summaries = {stored.id: store.summaries.of(stored.id) for stored in found}
    if as_json:
        emit_json([_report_dict(stored, summaries[stored.id], obj.instance.gazetteer)
                   for stored in found])
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
            ",".join(code for code in s.places if "-" not in code) or "-",
            s.report.title,
        )
        for s in found
    ]
    print_table(("ID", "PUBLISHED", "LANG", "KIND", "SOURCE", "COUNTRIES", "TITLE"), rows)


@reports.command("show")
@click.argument("report_id", type=int, metavar="ID")
@click.option("--json", "as_json", is_flag=True, help="The report as one JSON object.")
@click.pass_obj
@handle_errors
def reports_show(obj: Context, report_id: int, as_json: bool) -> None:
    """Show one stored report in full."""
    from newsletter.lists.spec import Policy
    from newsletter.reports.split import history

    settings = obj.instance.settings.translate
    with obj.instance.open_store() as store:
        stored = store.reports.get(report_id)
        summary = store.summaries.of(report_id)
        editions = _edition_views(stored, summary, store.editions.of(report_id),
                                  settings.languages, Policy(settings.policy))
        revisions = history(store, report_id)
        failures = store.failures.of(report_id)
    places = obj.instance.gazetteer
    if as_json:
        emit_json({**_report_dict(stored, summary, places), "editions": editions,
                   "revisions": [_revision_dict(line) for line in revisions],
                   "failures": [failure_dict(f) for f in failures]})
        return
    data = _report_dict(stored, summary, places, body=False)
    del data["summary"], data["summary_sentences"]
    data["places"] = ", ".join(f"{p['name']} ({p['code']})" for p in data["places"]) or (
        "none detected")
    width = max(len(key) for key in data)
    for key, value in data.items():
        click.echo(f"{key:<{width}}  {'-' if value is None else value}")
    for failure in failures:
        click.echo(f"! {failure_text(failure)}")
    for view in editions:
        click.echo(f"\nEdition {view['language']}: {view['status']}"
                   + (f" ({view['model']})" if view["model"] else ""))
        for flag in view["flags"]:
            click.echo(f"  ! {flag['code']}: {flag['detail']}")
        if view["title"]:
            click.echo(f"  {view['title']}")
            click.echo(f"  {view['summary']}")
    click.echo("\nRevisions")
    for line in revisions:
        click.echo(f"  {_revision_text(line)}")
    if sum(1 for line in revisions if line.split_into is None) > 1:
        click.echo(f"  (a revision that is another report: `newsletter reports split {report_id} "
                   "--revision N`)")
    click.echo("\nSummary")
    if summary is None:
        click.echo("  (not summarised yet: run `newsletter summarise`)")
    for sentence in summary or ():
        click.echo(f"  - {sentence}")
    click.echo("\nBody")
    click.echo(stored.report.body)


def _revision_dict(line: RevisionLine) -> dict[str, Any]:
    revision = line.revision
    return {
        "revision": revision.split_revision if line.split_into else revision.revision,
        "ingested_at": revision.ingested_at.isoformat(), "path": revision.path,
        "content_hash": revision.content_hash,
        "title": revision.report.title if revision.report else None,
        "text_kept": revision.report is not None,
        "body_changed": None if line.changed is None else round(line.changed, 3),
        "title_changed": line.title_changed, "split_into": line.split_into,
        "split_from": ({"report": line.split_from[0], "revision": line.split_from[1]}
                       if line.split_from else None),
    }


def _revision_text(line: RevisionLine) -> str:
    revision = line.revision
    when = revision.ingested_at.strftime("%Y-%m-%d %H:%M")
    if line.split_into is not None:
        return (f"{revision.split_revision:>3}  {when}  {revision.path}  split off: now report "
                f"{line.split_into}")
    notes = []
    if line.split_from is not None:
        notes.append(f"was revision {line.split_from[1]} of report {line.split_from[0]}")
    if line.changed is not None:
        notes.append(f"{line.changed:.0%} of the body changed")
    if line.title_changed:
        notes.append("new title")
    if revision.report is None:
        notes.append("text not kept")
    elif line.changed is None and line.split_from is None:
        notes.append("first")
    return f"{revision.revision:>3}  {when}  {revision.path}  " + "; ".join(notes)


@reports.command("split")
@click.argument("report_id", type=int, metavar="ID")
@click.option("--revision", type=click.IntRange(min=1), required=True, metavar="N",
              help="The revision that is really another report.")
@click.option("--json", "as_json", is_flag=True, help="The new report's ID as JSON.")
@click.pass_obj
@handle_errors
def reports_split(obj: Context, report_id: int, revision: int, as_json: bool) -> None:
    """Make revision N of report ID a report of its own (when ingest took another report for
    an update). Nothing is deleted; a list that got ID while it showed revision N is not sent
    the new report again; other lists get it as new."""
    from newsletter.reports.split import split_revision
    from newsletter.summarise.pending import summarise_pending

    instance = obj.instance
    with instance.open_store() as store:
        now = store.clock()()
        new_id = split_revision(store, instance.inbox, report_id, revision, now=now)
        summarise_pending(store, instance.settings.summary, now=now)
        new = store.reports.get(new_id)
        back = store.reports.get(report_id)
    if as_json:
        emit_json({"report_id": report_id, "revision": revision, "new_report_id": new_id,
                   "report_revision": back.revision})
        return
    click.echo(f"Revision {revision} of report {report_id} is now report {new_id}: "
               f"{new.report.title}")
    click.echo(f"Report {report_id} shows revision {back.revision}: {back.report.title}")


@reports.command("cap")
@click.argument("report_id", type=int, metavar="ID")
@click.option("--category", type=click.Choice(CAP_CATEGORIES))
@click.option("--urgency", type=click.Choice(CAP_URGENCIES))
@click.option("--severity", type=click.Choice(CAP_SEVERITIES))
@click.option("--certainty", type=click.Choice(CAP_CERTAINTIES))
@click.pass_obj
@handle_errors
def reports_cap(obj: Context, /, report_id: int, **values: str | None) -> None:
    """Set what the CAP alerts of report ID say of it (before its list's and [cap]'s)."""
    chosen = {key: value for key, value in values.items() if value}
    with obj.instance.open_store() as store:
        store.reports.get(report_id)  # an unknown ID is an error with a hint
        if chosen:
            store.feeds.set_cap_values(report_id, chosen)
        now = store.feeds.cap_values(report_id)
    click.echo(f"Report {report_id}: " + (", ".join(f"{k} {v}" for k, v in sorted(now.items()))
                                          or "the list's and [cap]'s CAP values"))


@click.command("summarise")
@click.option("--report", "report_id", type=int, metavar="ID", help="Only this report.")
@click.option("--all", "everything", is_flag=True, help="Summarise every report again.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per report summarised.")
@click.pass_obj
@handle_errors
def summarise_command(obj: Context, report_id: int | None, everything: bool, as_json: bool) -> None:
    """Summarise reports that have no current summary (ingest does this too)."""
    from newsletter.summarise.pending import summarise_pending

    instance = obj.instance
    with instance.open_store() as store:
        done = summarise_pending(store, instance.settings.summary, now=store.clock()(),
                                 report_id=report_id, force=everything)
    if as_json:
        for item in done:
            emit_json({"report_id": item.report_id, "summary": " ".join(item.sentences),
                        "summary_sentences": list(item.sentences)})
        return
    click.echo(f"Summarised {len(done)} report(s)" if done else "Every report is summarised.")


@click.command("translate")
@click.option("--report", "report_id", type=int, metavar="ID", help="Only this report.")
@click.option("--all", "everything", is_flag=True, help="Translate every edition again.")
@click.option("--json", "as_json", is_flag=True, help="The run's figures as one JSON object.")
@click.pass_obj
@handle_errors
def translate_command(obj: Context, report_id: int | None, everything: bool, as_json: bool) -> None:
    """Translate titles, summaries and bodies into every configured language, offline: every
    title and summary first, saved (mail can go out), then the bodies."""
    from newsletter.summarise.pending import summarise_pending
    from newsletter.translate.pending import translate_pending

    instance = obj.instance
    engine = instance.engine()
    glossary = instance.glossary()
    with instance.open_store() as store:
        now = store.clock()()
        summarise_pending(store, instance.settings.summary, now=now)
        with progress("Translating") as report_progress:
            run = translate_pending(store, engine, glossary, instance.settings.translate,
                                    now=now, report_id=report_id, force=everything,
                                    progress=report_progress)
    figures = {"editions": run.editions, "bodies": run.bodies, "sentences": run.sentences,
               "from_cache": run.from_cache, "from_memory": run.from_memory,
               "translated": run.translated, "batch_calls": run.batch_calls,
               "missing": [{"report_id": r, "language": lang, "reason": why}
                           for r, lang, why in run.missing]}
    if as_json:
        emit_json(figures)
        return
    click.echo(f"{run.editions} edition(s) and {run.bodies} bod{'y' if run.bodies == 1 else 'ies'} "
               f"written; {run.translated} sentence(s) translated in {run.batch_calls} batch "
               f"call(s), {run.from_cache} from the cache, {run.from_memory} from the "
               "translation memory")
    for language, why in sorted({(lang, why) for _, lang, why in run.missing}):
        count = sum(1 for _, lang, w in run.missing if (lang, w) == (language, why))
        click.echo(f"{language}: {count} report(s) not translated: {why}", err=True)


@click.command()
@click.option("--report", "report_id", type=int, metavar="ID", help="Preview the alert for ID.")
@click.option("--digest", "digest", metavar="LIST",
              help="Preview LIST's next digest (what is due for it, else its latest matching "
                   "reports).")
@click.option("--list", "list_name", metavar="LIST",
              help="With --report: preview the alert as LIST's readers get it (its title, "
                   "footer, languages and policy).")
@click.option("--limit", type=click.IntRange(min=1), default=10, show_default=True,
              help="Most reports in a digest preview.")
@click.option("--lang", "language", type=click.Choice([*LANGUAGES, "all"]), default="all",
              show_default=True)
@click.option("--out", "out_dir", type=click.Path(path_type=Path),
              help="Folder for the files (default: [paths] outbox/preview).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per file written.")
@click.pass_obj
@handle_errors
def preview(obj: Context, report_id: int | None, digest: str | None, list_name: str | None,
            limit: int, language: str, out_dir: Path | None, as_json: bool) -> None:
    """Write the .html, .txt and .eml of an alert or digest in each language (and the
    .text.eml a subscriber whose format is text gets), and print where."""
    from newsletter.issues.preview import plan_preview, write_preview
    from newsletter.lists.spec import Policy

    if (report_id is None) == (digest is None):
        raise click.UsageError("give --report ID or --digest LIST")
    if list_name is not None and report_id is None:
        raise click.UsageError("--list goes with --report (a digest is a list's already)")
    instance = obj.instance
    settings = instance.settings
    with instance.open_store() as store:
        now = store.clock()()
        named = digest or list_name
        spec = None if named is None else instance.lists_of(store).named(named)
        due: list[StoredReport] = []
        start = None
        if spec is not None and report_id is None:
            service = instance.service(store, clock=store.clock(), looking=True)
            due, start = service.due(spec), service.start_of(spec.name)
        plan = plan_preview(
            store, report_id=report_id, digest=digest, spec=spec, due=due,
            languages=settings.translate.languages if language == "all" else [language],
            limit=limit, default_title=settings.mail.list_title,
            default_policy=Policy(settings.translate.policy), base_url=settings.web.base_url,
            now=now, start=start)
    if plan.note:
        click.echo(plan.note, err=True)
    mail = instance.mail_settings(plan.list_name, plan.title)
    builder = instance.message_builder(signed=False, mail=lambda _: mail)
    written = write_preview(plan, instance.renderer(), builder,
                            out_dir or settings.resolve(settings.paths.outbox) / "preview", now)
    for lang, reasons in plan.planned.held.items():
        for reason in reasons:
            click.echo(f"{lang}: held back: {reason}", err=True)
    for entry in written:
        if as_json:
            emit_json({"lang": entry.language, "kind": entry.kind, "path": str(entry.path)})
        else:
            click.echo(display_path(entry.path))


@click.command()
@click.option("--host", help="Interface to listen on (default: [web] host).")
@click.option("--port", type=int, help="Port to listen on (default: [web] port).")
@click.option("--workers", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Processes serving at once, for an office with many readers.")
@click.pass_obj
@handle_errors
def serve(obj: Context, host: str | None, port: int | None, workers: int) -> None:
    """Serve the local web app: previews of every issue in every language, and the archive."""
    from newsletter.web import create_app
    from newsletter.web.server import serve as serve_app

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
    app = create_app(instance)  # also checks, before any worker starts, that it can be built
    if workers > 1:
        # Each worker process loads the instance itself: the same file, the same settings.
        os.environ["NEWSLETTER_CONFIG"] = str(instance.config_path)
        os.environ.update({f"NEWSLETTER_{name.replace('.', '_').upper()}": value
                           for name, value in obj.overrides.items()})
    click.echo(f"Serving on http://{host}:{port}/ with {workers} process(es) (Ctrl+C stops)")
    serve_app(app, web, host=host, port=port, workers=workers)


COMMANDS: tuple[click.Command, ...] = (init, ingest, reports, summarise_command,
                                       translate_command, preview, serve)
