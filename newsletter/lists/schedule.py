"""A list's schedule as times: its cron expression in its own timezone, never the machine's
(pure, over APScheduler's trigger arithmetic)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

from newsletter.errors import ListError
from newsletter.lists.spec import ListSpec


def cron_trigger(spec: ListSpec) -> CronTrigger:
    """The list's schedule in its own timezone (never the machine's)."""
    return CronTrigger.from_crontab(spec.schedule, timezone=ZoneInfo(spec.timezone))


def check_schedule(spec: ListSpec, now: datetime) -> None:
    """Refuse a schedule the scheduler cannot run: a field out of range (``0 25 * * *``) or
    a day that never comes (``0 9 31 2 *``), with the reason."""
    where = f"list {spec.name!r}"
    try:
        trigger = CronTrigger.from_crontab(spec.schedule, timezone=ZoneInfo(spec.timezone))
    except ValueError as exc:
        raise ListError(f"{where} schedule {spec.schedule!r} cannot be run: {exc}",
                        hint="minute 0-59, hour 0-23, day 1-31, month 1-12, weekday 0-6 or "
                             "mon-sun; e.g. '0 9 * * *' (09:00 daily)") from None
    if trigger.get_next_fire_time(None, now) is None:
        raise ListError(f"{where} schedule {spec.schedule!r} never fires (no such day)",
                        hint="e.g. '0 9 28 2 *' for the 28th of February, or '0 9 1 * *' "
                             "for the first of each month")


def next_fire(spec: ListSpec, after: datetime) -> datetime:
    fire: datetime | None = cron_trigger(spec).get_next_fire_time(None, after)
    assert fire is not None  # a valid five-field cron always fires again
    return fire.astimezone(UTC)


def previous_fire(spec: ListSpec, before: datetime, since: datetime) -> datetime | None:
    """The last scheduled time in (since, before], or None."""
    trigger = cron_trigger(spec)
    fire: datetime | None = trigger.get_next_fire_time(None, since + timedelta(seconds=1))
    last: datetime | None = None
    while fire is not None and fire <= before:
        last = fire
        fire = trigger.get_next_fire_time(fire, fire + timedelta(seconds=1))
    return last.astimezone(UTC) if last else None
