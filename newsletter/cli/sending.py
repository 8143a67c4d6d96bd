"""Commands that send: deliver, retry, outbox list, and the one-off send and digest."""

from __future__ import annotations

import asyncio
import dataclasses
import signal

import click

from newsletter.app import Instance
from newsletter.cli.common import (
    Context,
    emit_json,
    handle_errors,
    print_table,
    progress,
    utc_now,
)
from newsletter.delivery.rules import OutboxSummary, State
from newsletter.delivery.sender import DeliveryRun, Sender
from newsletter.errors import AlreadySent, RelayUnreachable
from newsletter.issues.create import CreatedIssue, audience, create_issue
from newsletter.issues.proof import make_proof, send_proof
from newsletter.languages import LANGUAGES
from newsletter.service import scheduler as schedule
from newsletter.store import Store
from newsletter.subscribers.core import (
    ListSpec,
)


@click.command()
@click.option("--dry-run", is_flag=True, help="Say what is due; send nothing.")
@click.option("--json", "as_json", is_flag=True, help="The run's figures as one JSON object.")
@click.pass_obj
@handle_errors
def deliver(obj: Context, dry_run: bool, as_json: bool) -> None:
    """Send every due message of the outbox (SIGTERM or Ctrl+C: finish the messages in
    flight, then stop; nothing is lost or sent twice)."""
    instance = obj.instance
    with instance.open_store() as store:
        if dry_run:
            summary = store.outbox.summary(utc_now())
            if as_json:
                emit_json({"due": summary.due, "waiting": summary.waiting,
                            "next_retry": summary.next_retry})
                return
            click.echo(f"{summary.due} message(s) due would be attempted; nothing sent "
                       f"(--dry-run){waiting_text(summary)}")
            return
        run = asyncio.run(_deliver(store, _sender(instance, store)))
        summary = store.outbox.summary(utc_now())
    if as_json:
        emit_json({**run.figures(), "unreachable": run.unreachable, "waiting": summary.waiting,
                    "next_retry": summary.next_retry})
    else:
        click.echo((_run_text(run) or "Nothing was due") + waiting_text(summary))
    check_relay(instance, run)


def _run_text(run: DeliveryRun) -> str:
    return ", ".join(f"{n} {name}" for name, n in run.figures().items() if n)


def waiting_text(summary: OutboxSummary) -> str:
    if not summary.waiting or summary.next_retry is None:
        return ""
    return (f"; {summary.waiting} waiting to retry, the next at "
            f"{summary.next_retry.isoformat()} (`newsletter retry` makes them due now)")


def check_relay(instance: Instance, run: DeliveryRun) -> None:
    """Exit 1 with the reason when the sweep gave up on an unreachable relay."""
    if run.unreachable is None:
        return
    raise RelayUnreachable(
        f"the relay {instance.smtp_options().relay} is unreachable: {run.unreachable}",
        hint="check that the relay is running and [smtp] host, port and security; the "
             "messages stay queued: run `newsletter deliver` again once it is up")


def stop_on_signals() -> asyncio.Event:
    """An event set by SIGTERM or SIGINT (call inside the running loop)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    return stop


def _sender(instance: Instance, store: Store) -> Sender:
    """This command's sending. Built before anything is queued: over SMTP, links that
    readers cannot follow are refused here (:meth:`Instance.sending_relay`)."""
    return instance.sender(store, owner=schedule.owner_name(), clock=store.clock())


def _sender_unless(queue_only: bool, instance: Instance, store: Store) -> Sender | None:
    """:func:`_sender`, or None with ``--queue-only`` (delivery workers send; the links are
    checked all the same, before anything is queued)."""
    if queue_only:
        instance.queueing_for_smtp()
        return None
    return _sender(instance, store)


async def _deliver(store: Store, sender: Sender) -> DeliveryRun:
    with progress("Sending") as advance:  # a bar on a terminal; the log says it otherwise
        if advance is not None:
            due = store.outbox.summary(sender.clock()).due
            sender.on_message = lambda run: advance(1, due, "messages")
        return await sender.sweep(stop_on_signals()) or DeliveryRun()


_QUEUE_ONLY = ("Queue the messages and leave the sending to the delivery workers "
               "(`newsletter worker deliver`).")


@click.command()
@click.option("--issue", "issue_id", type=int, help="Only the messages of this issue.")
@click.pass_obj
@handle_errors
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


@click.group()
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
@handle_errors
def outbox_list(obj: Context, states: tuple[str, ...], ambiguous: bool, issue_id: int | None,
                limit: int | None, as_json: bool) -> None:
    """List outbox rows: failed ones with the relay's reply, ambiguous ones, skipped ones."""
    with obj.instance.open_store() as store:
        entries = store.outbox.entries(issue_id=issue_id, states=states, ambiguous=ambiguous,
                                       limit=limit)
    if as_json:
        for entry in entries:
            emit_json(dataclasses.asdict(entry))
        return
    if not entries:
        click.echo("No messages match.")
        return
    print_table(("ID", "ISSUE", "LIST", "STATE", "TRIES", "AMBIG", "ADDRESS", "REPLY"),
                 [(str(e.id), str(e.issue_id), e.list_name, e.state, str(e.attempts),
                   "yes" if e.ambiguous else "-", e.address,
                   " ".join(filter(None, (str(e.last_code or ""), e.last_text or ""))) or "-")
                  for e in entries])


# -- one-off sends ---------------------------------------------------------------------------


@click.command()
@click.option("--list", "list_name", required=True)
@click.option("--report", "report_id", type=int, required=True, metavar="ID")
@click.option("--lang", "languages", multiple=True, type=click.Choice(LANGUAGES),
              help="Only subscribers reading these languages (repeatable).")
@click.option("--test-to", "test_to", metavar="ADDRESS",
              help="Send one test message to ADDRESS instead; nothing is recorded as sent.")
@click.option("--dry-run", is_flag=True, help="Say what would be sent; send nothing.")
@click.option("--queue-only", is_flag=True, help=_QUEUE_ONLY)
@click.pass_obj
@handle_errors
def send(obj: Context, list_name: str, report_id: int, languages: tuple[str, ...],
         test_to: str | None, dry_run: bool, queue_only: bool) -> None:
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
        # A language held back when it went out is sent now, to its readers only.
        held = [h for h in store.holds.waiting(list_name) if h.report_id == report_id
                and (not languages or h.language in languages)]
        if already is not None and not held:
            raise AlreadySent(list_name, report_id, already)
        if dry_run:
            _dry_run(store, spec, [report_id], "alert")
            return
        sender = _sender_unless(queue_only, instance, store)
        full = instance.list_named(store, list_name)
        created = create_issue(store, instance.renderer(), full if held else spec,
                               [] if held else [report_id], "alert",
                               base_url=instance.settings.web.base_url,
                               domain=instance.settings.mail.from_address.rpartition("@")[2],
                               now=store.clock()(),
                               only_languages=None if held else languages or None,
                               releases=held)
        if sender is None:
            _print_queued(created)
            return
        run = asyncio.run(_deliver(store, sender))
    _print_issue_sent(created, run)
    check_relay(instance, run)


@click.command()
@click.option("--list", "list_name", required=True)
@click.option("--dry-run", is_flag=True, help="Say what would be sent; send nothing.")
@click.option("--queue-only", is_flag=True, help=_QUEUE_ONLY)
@click.pass_obj
@handle_errors
def digest(obj: Context, list_name: str, dry_run: bool, queue_only: bool) -> None:
    """Make and send a list's digest now, of everything not yet sent to it."""
    instance = obj.instance
    with instance.open_store() as store:
        spec = instance.list_named(store, list_name)
        sender = None if dry_run else _sender_unless(queue_only, instance, store)
        service = instance.service(store, clock=store.clock(), looking=dry_run)
        if dry_run:
            _dry_run(store, spec, [r.id for r in service.due(spec)], "digest")
            return
        created = service.digest(spec)
        if created is None:
            click.echo(f"Nothing new for {list_name}: no digest made")
            return
        if sender is None:
            _print_queued(created)
            return
        run = asyncio.run(_deliver(store, sender))
    _print_issue_sent(created, run)
    check_relay(instance, run)


def _dry_run(store: Store, spec: ListSpec, report_ids: list[int], kind: str) -> None:
    counts = ", ".join(f"{n} in {lang}" for lang, n in audience(store, spec).items()) or "nobody"
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


def _print_queued(created: CreatedIssue) -> None:
    click.echo(f"Issue {created.issue_id}: {created.queued} message(s) queued; the delivery "
               "workers send them (`newsletter workers` shows them)")
    _report_held(created.held)


def _report_held(held: dict[str, list[str]]) -> None:
    for language, reasons in held.items():
        for reason in reasons:
            click.echo(f"{language}: held back: {reason}", err=True)


def _send_test(instance: Instance, store: Store, spec: ListSpec, report_id: int, address: str,
               dry_run: bool) -> None:
    proof = make_proof(store, spec, report_id, address, builder=instance.message_builder(store),
                       renderer=instance.renderer(), base_url=instance.settings.web.base_url,
                       now=utc_now())
    if dry_run:
        click.echo(f"--dry-run: a {len(proof.message):,}-byte test message to {proof.address}")
        return
    send_proof(proof, instance.transport(), instance.settings.mail.from_address, report_id)
    click.echo(f"Test message sent to {proof.address} ({proof.language}); nothing recorded")



COMMANDS: tuple[click.Command, ...] = (deliver, retry, outbox, send, digest)
