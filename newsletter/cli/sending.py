"""Commands that send: deliver, retry, outbox list, and the one-off send and digest."""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import click

from newsletter.app import Instance
from newsletter.cli.common import (
    Context,
    emit_json,
    handle_errors,
    print_table,
    progress,
)
from newsletter.delivery import loop as event_loop
from newsletter.delivery.rules import State
from newsletter.errors import RelayUnreachable
from newsletter.languages import LANGUAGES

if TYPE_CHECKING:
    from newsletter.delivery.rules import OutboxSummary
    from newsletter.delivery.sender import DeliveryRun, Sender
    from newsletter.issues.create import CreatedIssue
    from newsletter.lists.spec import ListSpec
    from newsletter.store import Store


@click.command()
@click.option("--dry-run", is_flag=True, help="Say what is due; send nothing.")
@click.option("--json", "as_json", is_flag=True, help="The run's figures as one JSON object.")
@click.option("--processes", type=click.IntRange(min=1), default=1, show_default=True,
              help="Sending processes on this machine, each with [delivery] connections, "
                   "sharing the outbox through its fenced leases (2 uses both cores of a "
                   "2-core machine).")
@click.pass_obj
@handle_errors
def deliver(obj: Context, dry_run: bool, as_json: bool, processes: int) -> None:
    """Send every due message of the outbox (SIGTERM or Ctrl+C: finish the messages in
    flight, then stop; nothing is lost or sent twice)."""
    from newsletter.delivery.processes import sweep_in_processes

    instance = obj.instance
    with instance.open_store() as store:
        summary = store.outbox.summary(store.clock()())
        if dry_run:
            if as_json:
                emit_json({"due": summary.due, "waiting": summary.waiting,
                            "next_retry": summary.next_retry})
                return
            click.echo(f"{summary.due} message(s) due would be attempted; nothing sent "
                       f"(--dry-run){waiting_text(summary)}")
            return
        instance.unsubscribe_journal().apply(store)  # readers who left first
        if processes == 1:
            run = event_loop.run(_deliver(store, _sender(instance, store), summary.due))
    if processes > 1:  # forked with no database connection open
        with progress("Sending") as advance:
            meter = _Meter(advance, summary.due) if advance is not None else None
            run = sweep_in_processes(
                instance.open_store, functools.partial(_sender, instance), processes,
                watch=None if meter is None else
                lambda totals: meter.show(totals, totals["done"] - meter.done, now=True))
    with instance.open_store() as store:
        summary = store.outbox.summary(store.clock()())
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


def _sender(instance: Instance, store: Store) -> Sender:
    """This command's sending. Built before anything is queued: over SMTP, links that
    readers cannot follow are refused here (:meth:`Instance.sending_relay`)."""
    from newsletter.service.model import owner_name

    return instance.sender(store, owner=owner_name(), clock=store.clock())


def _sender_unless(queue_only: bool, instance: Instance, store: Store) -> Sender | None:
    """:func:`_sender`, or None with ``--queue-only`` (delivery workers send; the links are
    checked all the same, before anything is queued)."""
    if queue_only:
        instance.queueing_for_smtp()
        return None
    return _sender(instance, store)


async def _deliver(store: Store, sender: Sender, due: int | None = None) -> DeliveryRun:
    from newsletter.delivery.processes import sweep_until_signalled

    with progress("Sending") as advance:  # a bar on a terminal; the log says it otherwise
        if advance is not None:
            if due is None:
                due = store.outbox.summary(sender.clock()).due
            meter = _Meter(advance, due)
            sender.on_message = lambda run: meter.show(run.figures(), 1)
        run = await sweep_until_signalled(sender)
        if advance is not None:
            meter.show(run.figures(), 0, now=True)  # the bar ends on the final figures
        return run


class _Meter:
    """Moves a progress bar at most ten times a second: messages done of those due, and
    how many were sent, are to be retried or failed, at what rate."""

    def __init__(self, advance: Callable[..., None], due: int) -> None:
        self.advance = advance
        self.due = due
        self.started = self.shown = time.monotonic()
        self.done = self.unshown = 0  # unshown: done since the bar last moved

    def show(self, figures: dict[str, int], done: int, *, now: bool = False) -> None:
        self.done += done
        self.unshown += done
        moment = time.monotonic()
        if not (now or moment - self.shown >= 0.1):
            return
        rate = self.done / max(moment - self.started, 1e-9)
        detail = (f"{figures['sent']} sent, {figures['retried']} to retry, "
                  f"{figures['failed']} failed, {rate:,.0f}/s")
        self.advance(self.unshown, self.due, "messages", detail)
        self.shown, self.unshown = moment, 0


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
        spec = instance.lists_of(store).named(list_name)
        stored = store.reports.get(report_id)
        if test_to is not None:
            if languages:
                spec = dataclasses.replace(spec, languages=tuple(
                    lang for lang in spec.languages if lang in languages) or tuple(languages))
            _send_test(instance, store, spec, stored.id, test_to, languages, dry_run)
            return
        if dry_run:
            looking = instance.service(store, clock=store.clock(), looking=True)
            looking.send_report(spec, report_id, languages, dry_run=True)
            _dry_run(store, spec, [report_id], "alert")
            return
        # The relay and the DKIM key are checked before anything is written.
        sender = _sender_unless(queue_only, instance, store)
        service = instance.service(store, clock=store.clock())
        created = service.send_report(spec, report_id, languages)
        assert created is not None
        if sender is None:
            _print_queued(created)
            return
        run = event_loop.run(_deliver(store, sender))
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
        spec = instance.lists_of(store).named(list_name)
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
        run = event_loop.run(_deliver(store, sender))
    _print_issue_sent(created, run)
    check_relay(instance, run)


def _dry_run(store: Store, spec: ListSpec, report_ids: list[int], kind: str) -> None:
    from newsletter.issues.create import audience

    counts = ", ".join(f"{n} in {lang}" for lang, n in audience(store, spec).items()) or "nobody"
    article = "an" if kind[:1] in "aeiou" else "a"
    click.echo(f"--dry-run: {article} {kind} of {len(report_ids)} report(s) to {spec.name}: "
               f"{counts}; nothing sent")


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
               languages: Sequence[str], dry_run: bool) -> None:
    from newsletter.issues.proof import make_proof, proof_languages, send_proof

    builder, renderer = instance.message_builder(store), instance.renderer()
    now = store.clock()()
    proofs = [make_proof(store, spec, report_id, address, language, builder=builder,
                         renderer=renderer, base_url=instance.settings.web.base_url, now=now)
              for language in proof_languages(store, spec, address, languages)]
    for proof in proofs:
        if dry_run:
            click.echo(f"--dry-run: a {len(proof.message):,}-byte test message in "
                       f"{proof.language} to {proof.address}")
            continue
        send_proof(proof, instance.transport(), instance.envelope_sender(), report_id)
        click.echo(f"Test message sent to {proof.address} ({proof.language}); nothing "
                   "recorded")


COMMANDS: tuple[click.Command, ...] = (deliver, retry, outbox, send, digest)
