"""Commands for subscribers: add, invite, import, export, their data, and erasing them."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from newsletter.cli.common import (
    Context,
    display_path,
    emit_json,
    handle_errors,
    print_table,
)
from newsletter.errors import ListError, NewsletterError
from newsletter.subscribers.addresses import (
    DEFAULT_FORMAT,
    DEFAULT_LANGUAGE,
    FORMATS,
    MAX_NAME,
    Status,
)

if TYPE_CHECKING:
    from newsletter.subscribers.addresses import Subscriber, SubscriberRow

# -- subscribers and lists -----------------------------------------------------------------


@click.group()
def subscribers() -> None:
    """Add, import, export and inspect subscribers."""


def _subscriber_dict(subscriber: Subscriber, lists: dict[str, str]) -> dict[str, Any]:
    return {"id": subscriber.id, "email": subscriber.email, "name": subscriber.name,
            "language": subscriber.language, "format": subscriber.format,
            "status": subscriber.status, "consent_source": subscriber.consent_source,
            "consent_at": subscriber.consent_at.isoformat(), "bounces": subscriber.bounces,
            "bounce_score": round(subscriber.bounce_score, 2),
            "status_reason": subscriber.status_reason,
            "status_since": subscriber.status_at.isoformat() if subscriber.status_at else None,
            "suppressed_until": subscriber.suppressed_until.isoformat()
            if subscriber.suppressed_until else None,
            "languages": list(subscriber.chain),
            "paused_until": subscriber.paused_until.isoformat()
            if subscriber.paused_until else None,
            "lists": lists}


_NAME_HELP = (f"Display name (at most {MAX_NAME} characters; an address already stored keeps "
              "its name unless this is given).")
_LANGUAGE_HELP = (f"Language of the mails, or a chain of them, first choice first (\"kk,ru,en\": "
                  "when the Kazakh edition is not ready, the Russian one goes). Default for a "
                  f"new address: {DEFAULT_LANGUAGE}; an address already stored keeps its "
                  "languages unless this is given.")
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
@click.option("--language", metavar="LANG[,LANG…]", help=_LANGUAGE_HELP)
@click.option("--format", "fmt", type=click.Choice(FORMATS), help=_FORMAT_HELP)
@click.option("--list", "list_name", help="Subscribe to this list too.")
@click.option("--frequency", type=click.Choice(["default", "daily", "weekly"]),
              help="How often they get --list: daily (an alerts list as a daily digest), "
                   "weekly (a daily list as a weekly digest), or default (as it goes out). "
                   "It takes effect after the next digest of that frequency.")
@click.option("--consent", default="command line", show_default=True,
              help="Where the consent was given (recorded with the time).")
@click.pass_obj
@handle_errors
def subscribers_add(obj: Context, email: str, name: str | None, language: str | None,
                    fmt: str | None, list_name: str | None, frequency: str | None,
                    consent: str) -> None:
    """Add one subscriber (and subscribe them to --list). For an address already stored only
    the options given change anything: adding it to another list keeps its name, language
    and format."""
    from newsletter.lists.spec import frequencies
    from newsletter.subscribers.addresses import check_subscriber
    from newsletter.subscribers.selfservice import set_frequency

    row = check_subscriber(email, name, language, fmt)
    if frequency is not None and list_name is None:
        raise click.UsageError("--frequency needs --list")
    with obj.instance.open_store() as store:
        spec = obj.instance.lists_of(store).named(list_name) if list_name else None
        if spec is not None and frequency not in (None, "default", *frequencies(spec)):
            raise ListError(f"{list_name} has no {frequency} frequency",
                            hint="an alerts list can go daily, a daily list weekly")
        before = store.subscribers.find(row.email)
        counts = store.subscribers.import_rows([row], list_name, consent_source=consent,
                                                now=store.clock()(),
                                                forgotten=obj.instance.forgotten())
        if counts.not_resubscribed:
            raise NewsletterError(
                f"{row.email} has unsubscribed, is suppressed or was erased: not resubscribed",
                hint="only the subscriber can subscribe again")
        after = store.subscribers.get(row.email)
        if spec is not None and frequency is not None:
            set_frequency(store, after, spec, None if frequency == "default" else frequency,
                          store.clock()(), via="office")
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
@click.option("--language", metavar="LANG[,LANG…]", help=_LANGUAGE_HELP)
@click.option("--format", "fmt", type=click.Choice(FORMATS), help=_FORMAT_HELP)
@click.pass_obj
@handle_errors
def subscribers_invite(obj: Context, email: str, list_name: str, name: str | None,
                       language: str | None, fmt: str | None) -> None:
    """Double opt-in: add EMAIL as pending and send a confirmation mail; the address gets
    nothing else until its owner confirms through the web app. An address already stored
    keeps its name, language and format unless the options give them; the mail is in the
    language it ends up with."""
    from newsletter.subscribers.addresses import check_subscriber
    from newsletter.subscribers.invite import invite

    instance = obj.instance
    instance.signing_secrets()  # fail now, before anything is stored, when no key is set
    row = check_subscriber(email, name, language, fmt)
    with instance.open_store() as store:
        spec = instance.lists_of(store).named(list_name)
        builder = instance.message_builder(
            mail=lambda _: instance.mail_settings(list_name, spec.title))
        transport = instance.transport()  # before the address is stored: it may refuse
        invitation = invite(store, spec, row, builder=builder, renderer=instance.renderer(),
                            transport=transport, sender=instance.envelope_sender(),
                            now=store.clock()(), forgotten=instance.forgotten())
    if invitation.outcome is None:
        click.echo(f"{row.email} is already subscribed to {list_name}")
        return
    click.echo(f"Invited {row.email} to {list_name}; pending until confirmed"
               + (f" (written to {display_path(invitation.outcome.text)})"
                  if instance.settings.delivery.transport == "file" else ""))


@subscribers.command("remove")
@click.argument("email")
@click.option("--list", "list_name", help="Only from this list (default: from every list).")
@click.option("--suppress", is_flag=True, help="Never send to this address again, on any list.")
@click.pass_obj
@handle_errors
def subscribers_remove(obj: Context, email: str, list_name: str | None, suppress: bool) -> None:
    """Unsubscribe EMAIL from a list, from every list, or suppress it for good."""
    from newsletter.subscribers.addresses import normalise_address

    address = normalise_address(email)
    with obj.instance.open_store() as store:
        subscriber = store.subscribers.get(address)
        if list_name is not None and not suppress:
            changed = store.subscribers.unsubscribe(subscriber.id, list_name, "command line",
                                                    store.clock()())
            click.echo(f"{address} unsubscribed from {list_name}" if changed
                       else f"{address} was not subscribed to {list_name}")
            return
        status = "suppressed" if suppress else "unsubscribed"
        store.subscribers.set_status(subscriber.id, status, "command line", store.clock()())
    click.echo(f"{address} is now {status}: nothing will be sent to it")


@subscribers.command("show")
@click.argument("email")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
@handle_errors
def subscribers_show(obj: Context, email: str, as_json: bool) -> None:
    """Show one subscriber and their lists."""
    from newsletter.subscribers.addresses import normalise_address

    with obj.instance.open_store() as store:
        subscriber = store.subscribers.get(normalise_address(email))
        lists = store.subscribers.memberships(subscriber.id)
        history = store.readers.history(subscriber.id)
        often = dict(store.subscribers.frequencies(subscriber.id, current=True))
    data = _subscriber_dict(subscriber, lists)
    data["frequencies"] = often
    data["history"] = [{"at": c.at.isoformat(), "what": c.what, "detail": c.detail,
                        "via": c.via} for c in history]
    if as_json:
        emit_json(data)
        return
    for key, value in data.items():
        if key in ("history", "frequencies"):
            continue
        if key == "lists":
            value = {name: status + (f", {often[name]}" if name in often else "")
                     for name, status in value.items()}
        if isinstance(value, dict):  # the lists: "daily (active), weekly (unsubscribed)"
            value = ", ".join(f"{name} ({status})" for name, status in value.items())
        click.echo(f"{key:<15} {value if value not in (None, '') else '-'}")
    for change in history:
        click.echo(f"{'changed':<15} {change.at:%Y-%m-%d %H:%M} {change.what}"
                   + (f" {change.detail}" if change.detail else "") + f" ({change.via})")


@subscribers.command("list")
@click.option("--list", "list_name", help="Only members of this list.")
@click.option("--status", type=click.Choice([s.value for s in Status]))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per subscriber.")
@click.pass_obj
@handle_errors
def subscribers_list(obj: Context, list_name: str | None, status: str | None,
                     as_json: bool) -> None:
    """List subscribers."""
    with obj.instance.open_store() as store:
        found = list(store.subscribers.listing(list_name=list_name, status=status))
    if as_json:
        for subscriber, membership in found:
            data = _subscriber_dict(subscriber, {list_name: membership} if list_name and membership
                                    else {})
            emit_json(data)
        return
    if not found:
        click.echo("No subscribers.")
        return
    stopped = status is not None and status != Status.ACTIVE
    print_table(("ID", "LANG", "FORMAT", "STATUS", "EMAIL", "NAME",
                 *(("SINCE", "UNTIL", "REASON") if stopped else ())),
                [(str(s.id), ">".join(s.chain), s.format, s.status + (f"/{m}" if m else ""),
                  s.email,
                  s.name or "-", *((f"{s.status_at:%Y-%m-%d}" if s.status_at else "-",
                                    f"{s.suppressed_until:%Y-%m-%d}" if s.suppressed_until
                                    else "-", s.status_reason or "-") if stopped else ()))
                 for s, m in found])


@subscribers.command("reactivate")
@click.argument("email")
@click.pass_obj
@handle_errors
def subscribers_reactivate(obj: Context, email: str) -> None:
    """Send to a bounced or complained address again, with a clean bounce score (after the
    reader fixed their mailbox, or said the complaint was a mistake). Lists a complaint
    unsubscribed them from stay so: subscribe them again with `subscribers add`."""
    from newsletter.subscribers.addresses import normalise_address

    address = normalise_address(email)
    with obj.instance.open_store() as store:
        subscriber = store.subscribers.get(address)
        now = store.clock()()
        with store.transaction():
            reactivated = store.bounces.reactivate(subscriber.id, now)
            if reactivated:
                store.readers.record(subscriber.id, "reactivated", "office", now)
        if not reactivated:
            raise NewsletterError(
                f"{address} is {subscriber.status}, not bounced or complained",
                hint="only a bounced or complained address is reactivated; an unsubscribed "
                     "or suppressed one chose so, and `subscribers add` asks again")
    click.echo(f"{address} is active again: the next issues of its lists go to it")


@subscribers.command("import")
@click.argument("csv_file", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option("--list", "list_name", required=True, help="Subscribe everyone to this list.")
@click.option("--consent", default=None, help="Where consent was given (default: the file).")
@click.option("--json", "as_json", is_flag=True, help="The counts and problems as JSON.")
@click.option("--allow-errors", is_flag=True,
              help="Exit 0 even when rows were refused (they are still reported).")
@click.pass_obj
@handle_errors
def subscribers_import(obj: Context, csv_file: Path, list_name: str, consent: str | None,
                       as_json: bool, allow_errors: bool) -> None:
    """Import a CSV (header row; email required; name, language, format optional; comma,
    semicolon or tab). A column that is missing, or a cell that is empty, leaves an address
    already stored as it is; a row that cannot be read is reported with its line number, the
    others are imported, and the command exits 1 (unless --allow-errors)."""
    from newsletter.subscribers.addresses import ImportCounts
    from newsletter.subscribers.csvfile import SubscriberCsv

    consent_source = consent or f"import of {csv_file.name}"
    with obj.instance.open_store() as store:
        obj.instance.lists_of(store).named(list_name)
        try:
            with csv_file.open(encoding="utf-8-sig", newline="") as handle, \
                    store.transaction():
                reader = SubscriberCsv(handle)
                counts = ImportCounts(added=0, updated=0, unchanged=0, subscribed=0,
                                      not_resubscribed=[])
                for batch in _batches(reader, _IMPORT_BATCH):
                    counts = counts + store.subscribers.import_rows(
                        batch, list_name, consent_source=consent_source, now=store.clock()(),
                        forgotten=obj.instance.forgotten())
        except UnicodeDecodeError as exc:
            raise NewsletterError(f"{csv_file} is not UTF-8 text (byte {exc.start})",
                                  hint="save the spreadsheet as \"CSV UTF-8\" and import that; "
                                       "nothing was imported") from exc
    problems = reader.problems
    figures = {"added": counts.added, "updated": counts.updated, "unchanged": counts.unchanged,
               "subscribed": counts.subscribed, "not_resubscribed": counts.not_resubscribed,
               "problems": [{"line": p.line, "reason": p.reason} for p in problems],
               "problem_count": reader.problem_count,
               "unknown_columns": list(reader.unknown_columns)}
    if as_json:
        emit_json(figures)
        _refused(reader.problem_count, allow_errors)
        return
    click.echo(f"{counts.added} added, {counts.updated} updated, {counts.unchanged} unchanged; "
               f"{counts.subscribed} newly subscribed to {list_name}")
    if reader.unknown_columns:
        click.echo(f"Ignored unknown columns: {', '.join(reader.unknown_columns)} "
                   "(known: email, name, language, format)", err=True)
    for problem in problems:
        click.echo(f"line {problem.line}: {problem.reason}", err=True)
    if reader.problem_count > len(problems):
        click.echo(f"… and {reader.problem_count - len(problems):,} more refused row(s)", err=True)
    for address in counts.not_resubscribed:
        click.echo(f"{address}: unsubscribed or suppressed, not resubscribed", err=True)
    _refused(reader.problem_count, allow_errors)


_IMPORT_BATCH = 5_000  # rows written per statement batch: memory stays flat, however big the file


def _batches(rows: Iterable[SubscriberRow], size: int) -> Iterator[list[SubscriberRow]]:
    batch: list[SubscriberRow] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _refused(problems: int, allow_errors: bool) -> None:
    if problems and not allow_errors:
        raise NewsletterError(
            f"{problems} row(s) were refused (the others were imported)",
            hint="fix those lines and import the file again (nothing is added twice), or "
                 "pass --allow-errors to accept the file as it is")


@subscribers.command("export")
@click.option("--list", "list_name", required=True)
@click.option("--out", "out_file", type=click.Path(path_type=Path),
              help="Write to this file instead of standard output.")
@click.option("--bom", is_flag=True,
              help="Start with a UTF-8 byte order mark, so Excel reads Cyrillic right.")
@click.option("--delimiter", type=click.Choice([",", ";", "tab"]), default=",",
              show_default=True,
              help="What separates cells: ';' for Excel in a Russian or Kazakh locale.")
@click.pass_obj
@handle_errors
def subscribers_export(obj: Context, list_name: str, out_file: Path | None, bom: bool,
                       delimiter: str) -> None:
    """Export a list's subscribers as CSV, safe to open in a spreadsheet (a file `subscribers
    import` reads back, with or without the mark)."""
    from newsletter.subscribers.csvfile import export_csv

    header = ("email", "name", "language", "format", "status", "list_status", "frequency",
              "consent_source", "consent_at")
    with obj.instance.open_store() as store:
        obj.instance.lists_of(store).named(list_name)
        often = store.subscribers.frequency_of(list_name)
        rows = ((s.email, s.name or "", " ".join(s.chain), s.format, s.status, m or "",
                 often.get(s.id, ""), s.consent_source, s.consent_at.isoformat())
                for s, m in store.subscribers.listing(list_name=list_name))
        lines = export_csv(rows, header, delimiter="\t" if delimiter == "tab" else delimiter)
        if bom:
            lines = itertools.chain(["\ufeff"], lines)
        if out_file is None:
            for line in lines:
                click.echo(line, nl=False)
        else:
            with out_file.open("w", encoding="utf-8", newline="") as handle:
                handle.writelines(lines)


@subscribers.command("pause")
@click.argument("email")
@click.option("--until", "until", type=click.DateTime(["%Y-%m-%d"]),
              help="Send nothing before this day (UTC).")
@click.option("--end", is_flag=True, help="End the pause now.")
@click.pass_obj
@handle_errors
def subscribers_pause(obj: Context, email: str, until: datetime | None, end: bool) -> None:
    """Pause a reader: no issue made before --until is queued for them (nothing is lost:
    they get what arrives after)."""
    from datetime import UTC

    from newsletter.subscribers.addresses import normalise_address

    if (until is None) == (not end):
        raise click.UsageError("give --until DAY or --end")
    address = normalise_address(email)
    with obj.instance.open_store() as store:
        subscriber = store.subscribers.get(address)
        now = store.clock()()
        when = until.replace(tzinfo=UTC) if until is not None else None
        if when is not None and when <= now:
            raise NewsletterError(f"{when:%Y-%m-%d} has passed",
                                  hint="give a day to come, or --end")
        store.readers.pause(subscriber.id, when, "office", now)
    click.echo(f"{address} is paused until {when:%Y-%m-%d}" if when
               else f"{address} is no longer paused")


@subscribers.command("export-data")
@click.argument("email")
@click.option("--out", "out_file", type=click.Path(path_type=Path, dir_okay=False),
              help="Write to this file instead of standard output.")
@click.pass_obj
@handle_errors
def subscribers_export_data(obj: Context, email: str, out_file: Path | None) -> None:
    """Everything held about one reader, as JSON (their right of access): their record,
    lists, history, the messages sent to them and what came back."""
    from newsletter.subscribers.addresses import normalise_address

    with obj.instance.open_store() as store:
        subscriber = store.subscribers.get(normalise_address(email))
        data = store.readers.data(subscriber.id)
    text = json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n"
    if out_file is None:
        click.echo(text, nl=False)
        return
    out_file.write_text(text, encoding="utf-8")
    click.echo(f"Wrote {display_path(out_file)}", err=True)


@subscribers.command("erase")
@click.argument("email")
@click.option("--yes", is_flag=True, help="Do not ask to confirm.")
@click.pass_obj
@handle_errors
def subscribers_erase(obj: Context, email: str, yes: bool) -> None:
    """Forget a reader (their right to erasure): their record, lists and history are
    removed in one transaction, the messages sent to them keep only what counts, and an HMAC
    of the address stays so that no import brings them back."""
    from newsletter.subscribers.addresses import normalise_address

    address = normalise_address(email)
    forgotten = obj.instance.forgotten()
    if forgotten is None:
        raise NewsletterError("a reader cannot be erased without the signing key",
                              hint="set NEWSLETTER_WEB_SECRET: the digest that keeps the "
                                   "address from coming back is made with it")
    with obj.instance.open_store() as store:
        subscriber = store.subscribers.get(address)
        if not yes and not click.confirm(f"Erase {address} and everything about them?",
                                         err=True):
            raise NewsletterError("nothing was erased", hint="add --yes to erase without "
                                                             "being asked")
        erased = store.readers.erase(subscriber.id, forgotten.digest(address),
                                     store.clock()())
    click.echo(f"Erased {address}: {erased.messages} message(s) sent to them now keep only "
               f"their state; {erased.returned} returned message(s) no longer name them")


COMMANDS: tuple[click.Command, ...] = (subscribers,)
