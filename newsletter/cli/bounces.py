"""Commands for what comes back: bounces read and bounces list."""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import click

from newsletter.cli.common import Context, emit_json, handle_errors, print_table

if TYPE_CHECKING:
    from newsletter.bounces.read import ReadRun


@click.group()
def bounces() -> None:
    """Bounces and complaints that came back to the return path."""


@bounces.command("read")
@click.option("--maildir", type=click.Path(path_type=Path, file_okay=False),
              help="Read this Maildir instead of [bounces] source.")
@click.option("--mbox", type=click.Path(path_type=Path, dir_okay=False),
              help="Read this mbox file instead of [bounces] source.")
@click.option("--imap", "imap", is_flag=True, help="Read the IMAP mailbox of [bounces].")
@click.option("--pop3", "pop3", is_flag=True, help="Read the POP3 mailbox of [bounces].")
@click.option("--json", "as_json", is_flag=True, help="What was read and done, as JSON.")
@click.pass_obj
@handle_errors
def bounces_read(obj: Context, maildir: Path | None, mbox: Path | None, imap: bool, pop3: bool,
                 as_json: bool) -> None:
    """Read returned mail once: each bounce, complaint or auto-reply is recorded with what it
    did to its reader, then marked read (moved, flagged or deleted) at its source."""
    chosen = [kind for kind, given in (("maildir", maildir), ("mbox", mbox), ("imap", imap),
                                       ("pop3", pop3)) if given]
    if len(chosen) > 1:
        raise click.UsageError("give one of --maildir, --mbox, --imap and --pop3")
    instance = obj.instance
    with instance.open_store() as store:
        reader = instance.bounce_reader(store)
        source = instance.bounce_source(chosen[0] if chosen else None, maildir or mbox)
        shown = _Counter()
        run = reader.read(source, progress=shown.show if sys.stderr.isatty() else None)
        shown.end()
    if as_json:
        emit_json(run.figures())
        return
    done = ", ".join(f"{n} {outcome}" for outcome, n in sorted(run.outcomes.items()))
    click.echo(f"Read {run.read} returned message(s) from {source.name}"
               + (f": {done}" if done else "")
               + (f"; {run.again} recorded before" if run.again else ""))
    if run.expired:
        click.echo(f"{run.expired} soft suppression(s) ended: those readers are sent to again")
    if run.more:
        click.echo("More are waiting: [bounces] max_messages were read; run it again")
    if run.outcomes.get("unmatched") or run.outcomes.get("unrecognised"):
        click.echo("`newsletter bounces list --unmatched` shows what matched none of our mail")


class _Counter:
    """A count of messages read, on a terminal, at most ten times a second."""

    def __init__(self) -> None:
        self.last = 0.0
        self.shown = False

    def show(self, run: ReadRun) -> None:
        now = time.monotonic()
        if now - self.last >= 0.1:
            self.last, self.shown = now, True
            click.echo(f"\rReading returned mail: {run.read}", nl=False, err=True)

    def end(self) -> None:
        if self.shown:
            click.echo("", err=True)


def _since(value: str | None, now: datetime) -> datetime | None:
    """``--since``: a date (2026-12-01), a time stamp, or an age (7d, 12h) before ``now``."""
    if value is None:
        return None
    text = value.strip().lower()
    if text[:-1].isdigit() and text[-1:] in ("d", "h"):
        amount = int(text[:-1])
        return now - (timedelta(days=amount) if text[-1] == "d"
                                    else timedelta(hours=amount))
    try:
        moment = datetime.fromisoformat(text.upper() if "t" in text else text)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date (2026-12-01) or an age (7d, 12h)",
                                 param_hint="--since") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@bounces.command("list")
@click.option("--since", help="Only what came back since a date (2026-12-01) or an age (7d).")
@click.option("--unmatched", is_flag=True,
              help="Only what matched none of our mail, or was not understood: for a person "
                   "to look at.")
@click.option("--limit", type=click.IntRange(1, 1_000_000), default=200, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per returned message.")
@click.pass_obj
@handle_errors
def bounces_list(obj: Context, since: str | None, unmatched: bool, limit: int,
                 as_json: bool) -> None:
    """What came back, newest first: what each was, which reader and list it was for, and
    what it did."""
    with obj.instance.open_store() as store:
        found = store.bounces.listing(since=_since(since, store.clock()()),
                                      unmatched=unmatched, limit=limit)
    if as_json:
        for entry in found:
            emit_json({"id": entry.id, "received_at": entry.received_at.isoformat(),
                       "source": entry.source, "kind": entry.kind, "outcome": entry.outcome,
                       "address": entry.address, "status": entry.status,
                       "diagnostic": entry.diagnostic, "detail": entry.detail,
                       "outbox_id": entry.outbox_id, "subscriber_id": entry.subscriber_id,
                       "list": entry.list_name, "language": entry.language})
        return
    if not found:
        click.echo("Nothing came back." if not unmatched else "Nothing unmatched.")
        return
    print_table(("RECEIVED", "SOURCE", "KIND", "OUTCOME", "STATUS", "LIST", "ADDRESS",
                 "DETAIL"),
                [(f"{e.received_at:%Y-%m-%d %H:%M}", e.source, e.kind, e.outcome,
                  e.status or "-", f"{e.list_name}/{e.language}" if e.list_name else "-",
                  e.address or "-", " ".join(filter(None, [e.diagnostic, e.detail])))
                 for e in found])


COMMANDS: tuple[click.Command, ...] = (bounces,)
