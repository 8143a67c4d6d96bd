"""Commands that show the instance: status and config."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import click

from newsletter.cli.common import (
    Context,
    display_path,
    emit_json,
    failure_dict,
    failure_text,
    handle_errors,
    print_table,
    returns_dict,
    returns_text,
)
from newsletter.config import settings_table

# -- status and config --------------------------------------------------------------------


@click.command()
@click.option("--json", "as_json", is_flag=True, help="The figures as one JSON object.")
@click.pass_obj
@handle_errors
def status(obj: Context, as_json: bool) -> None:
    """Show what is stored, waiting in the inbox and quarantined."""
    from newsletter.cli.sending import waiting_text
    from newsletter.delivery.rules import State
    from newsletter.lists.schedule import next_fire
    from newsletter.reports.ingest import scan
    from newsletter.translate.engine import installed_models

    instance = obj.instance
    with instance.open_store() as store:
        by_language = store.reports.by_language()
        revisions = store.reports.revision_count()
        quarantined = store.inbox.quarantined()
        unsummarised = store.summaries.missing()
        last_ingest = store.inbox.last_seen()
        known = store.inbox.known()
        schema = store.schema_version
        where, backend = store.where, store.backend
        translations = store.editions.totals()
        jobs = store.jobs.counts()
        now = store.clock()()
        outbox_now = store.outbox.summary(now)
        outbox = outbox_now.states
        errors = store.outbox.last_errors()
        failures = store.failures.listing(limit=10)
        returns = store.bounces.returns(
            now, timedelta(days=instance.settings.bounces.delivered_days))
        came_back = store.bounces.counts()
        failing = store.failures.count()
        schedules: list[dict[str, Any]] = []
        for spec in instance.lists_of(store).all().values():
            previous = store.runs.last(spec.name, "digest")
            schedules.append({
                "list": spec.name, "mode": spec.mode.value, "schedule": spec.schedule,
                "timezone": spec.timezone,
                "next_digest": next_fire(spec, now).isoformat(),
                "next_digest_local": next_fire(spec, now).astimezone(
                    ZoneInfo(spec.timezone)).isoformat(),
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
        "database": where,
        "backend": backend,
        "schema_version": schema,
        "reports": sum(by_language.values()),
        "reports_by_language": by_language,
        "revisions": revisions,
        "inbox": str(inbox.folder),
        "inbox_waiting": waiting,
        "quarantined": quarantined,
        "unsummarised": unsummarised,
        "editions": translations.editions,
        "editions_without_model": translations.without_model,
        "cached_translations": translations.cached,
        "translation_jobs": jobs,
        "models": model_names,
        "outbox": outbox,
        "outbox_due": outbox_now.due,
        "outbox_waiting": outbox_now.waiting,
        "outbox_next_retry": outbox_now.next_retry,
        "outbox_ambiguous": outbox_now.ambiguous,
        "lists": schedules,
        "mail": returns_dict(returns),
        "bounces": came_back,
        "last_errors": [{"address": e.address, "code": e.code, "text": e.text} for e in errors],
        "failing_steps": failing,
        "failures": [failure_dict(f) for f in failures],
        "quarantine": str(inbox.quarantine),
        "last_ingest": last_ingest.isoformat() if last_ingest else None,
    }
    if as_json:
        emit_json(figures)
        return
    languages = ", ".join(f"{lang} {n}" for lang, n in by_language.items())
    click.echo(f"Instance     {display_path(instance.root) or '.'}")
    shown = display_path(where) if backend == "sqlite" else where
    click.echo(f"Database     {shown} ({backend}, schema {schema})")
    click.echo(f"Reports      {sum(by_language.values())}"
               + (f" ({languages})" if languages else "") + f", {revisions} revisions")
    click.echo(f"Inbox        {display_path(inbox.folder)}/: {waiting} new or changed file(s)"
               + (" waiting; run `newsletter ingest`" if waiting else ""))
    if unsummarised:
        click.echo(f"Summaries    {unsummarised} report(s) without a current summary; "
                   "run `newsletter summarise`")
    if failing:
        click.echo(f"Failing      {failing} report step(s) failed and are tried again with "
                   "backoff; the other reports go on:")
        for failure in failures:
            click.echo(f"  {failure_text(failure)}")
    click.echo(f"Editions     {translations.editions} translated edition(s)"
               + (f" ({translations.without_model} waiting for a model)"
                  if translations.without_model else "") + "; "
               f"{translations.cached} cached sentence(s); "
               f"models: {', '.join(model_names) or 'none (see `newsletter models`)'}")
    bodies = jobs.get("body", 0) + jobs.get("body_running", 0)
    waiting_jobs = jobs.get("pending", 0) + jobs.get("running", 0) + bodies
    if waiting_jobs or jobs.get("failed"):
        click.echo(f"Translation  {jobs.get('pending', 0)} report(s) queued, "
                   f"{jobs.get('running', 0)} being translated, {bodies} with a body still to "
                   f"translate, {jobs.get('failed', 0)} failed "
                   "(`newsletter workers` shows who translates)")
    click.echo("Outbox       " + (", ".join(f"{n} {state}" for state, n in sorted(outbox.items()))
                                  or "empty"))
    if outbox:
        click.echo(f"             {outbox_now.due} due now{waiting_text(outbox_now)}")
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
    for r in returns:
        click.echo(f"Mail         {r.list_name}/{r.language}: {returns_text(r)}")
    unmatched = came_back.get("unmatched", 0) + came_back.get("unrecognised", 0)
    if came_back:
        click.echo(f"Came back    {sum(came_back.values())} message(s): "
                   + ", ".join(f"{n} {o}" for o, n in sorted(came_back.items()))
                   + ("; `newsletter bounces list --unmatched` shows what matched nothing"
                      if unmatched else ""))
    for entry in schedules:
        done = entry["last_digest"]
        local = datetime.fromisoformat(entry["next_digest_local"])
        click.echo(f"List         {entry['list']} ({entry['mode']}): next digest "
                   f"{local:%Y-%m-%d %H:%M} {entry['timezone']} ({entry['next_digest']}); "
                   "last " + (f"{done['at']} {done['outcome']}" if done else "never"))
    click.echo(f"Quarantine   {quarantined} file(s) in {display_path(inbox.quarantine)}/")
    last = last_ingest.isoformat() if last_ingest else "never"
    click.echo(f"Last ingest  {last}")


@click.command("config")
@click.option("--json", "as_json", is_flag=True, help="Every setting as JSON.")
@click.pass_obj
@handle_errors
def config_command(obj: Context, as_json: bool) -> None:
    """Show every setting's value and where it came from (secrets are masked)."""
    from newsletter.store.database import display_url

    instance = obj.instance
    settings = instance.settings
    rows = []
    for spec in settings_table():
        value = getattr(getattr(settings, spec.section), spec.key)
        if spec.secret and value:
            value = "********"
        elif spec.name == "database.url" and value:
            value = display_url(value)
        rows.append({"setting": spec.name, "value": value,
                     "source": settings.sources[spec.name], "env": spec.env_var})
    if as_json:
        emit_json({"config": str(instance.config_path), "settings": rows})
        return
    click.echo(f"# {display_path(instance.config_path)}")
    print_table(("SETTING", "SOURCE", "ENV", "VALUE"),
                 [(r["setting"], r["source"], r["env"], json.dumps(r["value"])) for r in rows])


COMMANDS: tuple[click.Command, ...] = (status, config_command)
