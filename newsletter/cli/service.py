"""Commands that keep running: the service (run), the scheduler, the workers, and the list of
who is running (workers)."""

from __future__ import annotations

import signal
import threading
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import click

from newsletter.app import Instance
from newsletter.cli.common import Context, display_path, emit_json, handle_errors, print_table
from newsletter.delivery import loop as event_loop
from newsletter.errors import NewsletterError

if TYPE_CHECKING:
    from newsletter.delivery.sender import DeliveryRun
    from newsletter.service import scheduler as schedule
    from newsletter.service.model import WorkerBeat
    from newsletter.store import Store

_STANDBY = "Exit instead of waiting when another scheduler holds the lease."


@click.command()
@click.option("--once", is_flag=True,
              help="Run the whole pipeline once (inbox, translation, alerts, the digests that "
                   "are due by their schedules, delivery) and exit.")
@click.option("--digest", "digests", multiple=True, metavar="LIST",
              help="With --once: also make this list's digest now, whatever its schedule. "
                   "Repeatable.")
@click.option("--exit-if-running", is_flag=True, help=_STANDBY)
@click.pass_obj
@handle_errors
def run(obj: Context, once: bool, digests: tuple[str, ...], exit_if_running: bool) -> None:
    """Everything in one process: picks up reports, translates them (in a thread of its
    own), sends alerts and scheduled digests, sweeps the outbox. SIGTERM or Ctrl+C: no new
    work, messages in flight finish, exit 0."""
    instance = obj.instance
    instance.signing_secrets()  # fail now, not at the first send, when no key is set
    if digests and not once:
        raise NewsletterError("--digest makes a digest now, which only `run --once` does",
                         hint="run `newsletter run --once --digest LIST`, or "
                              "`newsletter digest --list LIST` beside the service")
    with instance.open_store() as store:
        for name in digests:
            instance.lists_of(store).named(name)  # an unknown list is an error, with "did you mean"
        if once:
            summary = event_loop.run(_run_once(instance, store, digests))
            _print_run(instance, summary)
            return
        click.echo("Running; Ctrl+C or SIGTERM stops after the messages in flight.", err=True)
        event_loop.run(_forever(instance, store, role="run", standby=not exit_if_running))


@click.command()
@click.option("--exit-if-running", is_flag=True, help=_STANDBY)
@click.pass_obj
@handle_errors
def scheduler(obj: Context, exit_if_running: bool) -> None:
    """The scheduler alone, for several machines on one PostgreSQL database: reads the
    inbox, summarises, queues translations, makes alerts and scheduled digests, and takes back
    the leases of workers that died. Delivery and translation workers do the rest. One
    scheduler fires at a time; a second waits as a standby."""
    instance = obj.instance
    instance.queueing_for_smtp()  # its issues' links go out with the delivery workers
    with instance.open_store() as store:
        click.echo("Scheduling; Ctrl+C or SIGTERM stops.", err=True)
        event_loop.run(_forever(instance, store, role="scheduler", standby=not exit_if_running))


async def _run_once(instance: Instance, store: Store,
                    digests: tuple[str, ...]) -> schedule.RunSummary:
    from newsletter.delivery.processes import stop_on_signals
    from newsletter.service import scheduler as schedule
    from newsletter.service.model import owner_name

    clock, owner = store.clock(), owner_name()
    sender = instance.sender(store, owner=owner, clock=clock)  # first: it may refuse to send
    return await schedule.run_once(instance.service(store, clock=clock), sender,
                                   instance.scheduler_lease(store, owner, clock),
                                   stop=stop_on_signals(), digests=digests,
                                   bounces=instance.bounce_reading())


async def _forever(instance: Instance, store: Store, *, role: str, standby: bool) -> None:
    from newsletter.delivery.processes import stop_on_signals
    from newsletter.service import scheduler as schedule
    from newsletter.service.model import owner_name

    clock, owner = store.clock(), owner_name()
    sending = role == "run"
    # The sender first: over SMTP it refuses unreachable links before the service records
    # or queues anything.
    sender = instance.sender(store, owner=owner, clock=clock) if sending else None
    await schedule.run_forever(
        instance.service(store, clock=clock), instance.scheduler_lease(store, owner, clock),
        sender=sender,
        translator=instance.translation_thread(f"{owner}/translate") if sending else None,
        heartbeat=instance.heartbeat(store, owner, role, clock), standby=standby,
        stop=stop_on_signals(), bounces=instance.bounce_reading())


def _print_run(instance: Instance, summary: schedule.RunSummary) -> None:
    from newsletter.cli.sending import check_relay

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
        click.echo(f"Messages are in {display_path(settings.resolve(settings.delivery.folder))}/")
    else:
        click.echo(f"Messages went to {settings.smtp.host}:{settings.smtp.port}")
    click.echo("`newsletter status` shows the outbox; `newsletter serve` the previews.")
    check_relay(instance, delivered)


@click.group()
def worker() -> None:
    """Workers: run any number, on any machine that reaches the database."""


@worker.command("deliver")
@click.option("--relay", metavar="NAME",
              help="Send through [relays.NAME] instead of [smtp] (another relay or sending IP).")
@click.pass_obj
@handle_errors
def worker_deliver(obj: Context, relay: str | None) -> None:
    """Send the outbox, again and again: claims a few messages at a time under fenced leases,
    so any number of delivery workers never send one message twice. SIGTERM or Ctrl+C: the
    messages in flight finish, the rest are given back."""
    from newsletter.service.model import owner_name

    instance = obj.instance
    instance.signing_secrets()
    with instance.open_store() as store:
        instance.unsubscribe_journal().apply(store)  # readers who left first
        clock, owner = store.clock(), owner_name()
        sender = instance.sender(store, owner=owner, clock=clock, relay=relay)
        heartbeat = instance.heartbeat(store, owner, "deliver", clock,
                                       detail=f"relay {sender.relay.name}")
        click.echo(f"Delivering through {sender.relay.name}; Ctrl+C or SIGTERM stops.", err=True)
        total = event_loop.run(_deliver_forever(instance, sender, heartbeat))
    click.echo(", ".join(f"{n} {name}" for name, n in total.figures().items() if n)
               or "Nothing was sent")


async def _deliver_forever(instance: Instance, sender: Any, heartbeat: Any) -> DeliveryRun:
    from newsletter.delivery.processes import stop_on_signals
    from newsletter.service.outage import Outage
    from newsletter.service.workers import deliver_forever

    return await deliver_forever(sender, heartbeat,
                                 poll=instance.settings.delivery.poll_seconds,
                                 stop=stop_on_signals(),
                                 outage=Outage(instance.settings.database.outage_seconds))


@worker.command("translate")
@click.option("--again", is_flag=True,
              help="Queue every report again first (after installing a model here).")
@click.pass_obj
@handle_errors
def worker_translate(obj: Context, again: bool) -> None:
    """Translate the queued reports, one job at a time, with the models of this machine
    loaded once. SIGTERM or Ctrl+C: stops after the batch in hand; an unfinished job goes
    back to the queue."""
    from newsletter.service.model import owner_name
    from newsletter.service.workers import translate_forever

    instance = obj.instance
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    with instance.open_store() as store:
        clock, owner = store.clock(), owner_name()
        if again:
            click.echo(f"{store.jobs.requeue_all(clock())} report(s) queued again", err=True)
        models = ", ".join(m.name for m in instance.engine().models()) or "none"
        heartbeat = instance.heartbeat(store, owner, "translate", clock,
                                       detail=f"models {models}")
        click.echo(f"Translating with {models}; Ctrl+C or SIGTERM stops.", err=True)
        done = translate_forever(instance.service(store, clock=clock), heartbeat,
                                 open_store=instance.open_store,
                                 poll=instance.settings.delivery.poll_seconds, stop=stop)
    click.echo(f"{done} report(s) translated")


@click.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object per process.")
@click.option("--all", "everything", is_flag=True, help="Also the processes that stopped.")
@click.pass_obj
@handle_errors
def workers(obj: Context, as_json: bool, everything: bool) -> None:
    """Who is running on this database: each scheduler and worker, whether it is alive (by
    its heartbeats), and what it holds."""
    from newsletter.service import scheduler as schedule

    with obj.instance.open_store() as store:
        now = store.now()
        beats = store.workers.listing()
        messages = store.workers.messages_held()
        jobs = store.jobs.held_by()
        holder = store.leases.holder(schedule.LEASE)
    rows: list[dict[str, Any]] = []
    for beat in beats:
        state = _state(beat, now)
        if state == "stopped" and not everything:
            continue
        holds = []
        if messages.get(beat.id):
            holds.append(f"{messages[beat.id]} message(s)")
        report = jobs.get(beat.id) or jobs.get(f"{beat.id}/translate")
        if report is not None:
            holds.append(f"report {report}")
        if (holder is not None and holder.owner == beat.id and holder.expires_at > now
                and beat.role in ("run", "scheduler")):
            holds.append(f"scheduler lease (epoch {holder.epoch})")
        rows.append({"id": beat.id, "role": beat.role, "host": beat.host, "pid": beat.pid,
                     "state": state, "detail": beat.detail,
                     "started_at": beat.started_at.isoformat(),
                     "heartbeat_at": beat.heartbeat_at.isoformat(),
                     "seconds_since_heartbeat": int((now - beat.heartbeat_at).total_seconds()),
                     "holds": holds})
    if as_json:
        for row in rows:
            emit_json(row)
        return
    if not rows:
        click.echo("No scheduler or worker is running on this database.")
        return
    print_table(("ID", "ROLE", "STATE", "BEAT", "HOLDS", "DETAIL"),
                [(r["id"], r["role"], r["state"], f"{r['seconds_since_heartbeat']}s ago",
                  ", ".join(r["holds"]) or "-", r["detail"] or "-") for r in rows])


def _state(beat: WorkerBeat, now: Any) -> str:
    from newsletter.service.workers import ALIVE_SECONDS

    if beat.stopped_at is not None:
        return "stopped"
    if now - beat.heartbeat_at > timedelta(seconds=ALIVE_SECONDS):
        return "silent"  # killed, frozen or cut off: its leases run out and are taken back
    return "alive"


COMMANDS: tuple[click.Command, ...] = (run, scheduler, worker, workers)
