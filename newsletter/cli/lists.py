"""Commands for lists: add, set, show, remove."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import click

from newsletter.cli.common import (
    Context,
    emit_json,
    handle_errors,
    print_table,
    returns_dict,
    returns_text,
)
from newsletter.errors import ListError
from newsletter.languages import LANGUAGES

if TYPE_CHECKING:
    from newsletter.lists.spec import ListSpec
    from newsletter.store.bounces import Returns


@click.group("lists")
def lists_group() -> None:
    """Show and manage mailing lists."""


@lists_group.command("show")
@click.argument("name", required=False)
@click.option("--json", "as_json", is_flag=True, help="A JSON array of lists (one object with "
              "NAME).")
@click.pass_obj
@handle_errors
def lists_show(obj: Context, name: str | None, as_json: bool) -> None:
    """Every list, where it is declared, and how many subscribers it has; with NAME, all of
    that list."""
    from newsletter.lists.parse import list_to_table

    with obj.instance.open_store() as store:
        lists = obj.instance.lists_of(store).all()
        counts = store.subscribers.counts_by_list()
        if name is not None:
            spec = obj.instance.lists_of(store).named(name)
            start = store.runs.list_start(name)
            wait = timedelta(days=obj.instance.settings.bounces.delivered_days)
            returns = store.bounces.returns(store.clock()(), wait, [name])
    if name is not None:
        _show_list(spec, counts.get(name, {}), start, returns, as_json)
        return
    data = [{"name": spec.name, **list_to_table(spec), "origin": spec.origin,
             "subscribers": counts.get(spec.name, {})} for spec in lists.values()]
    if as_json:
        emit_json(data)
        return
    if not data:
        click.echo("No lists: declare one in newsletter.toml ([lists.NAME]) or run "
                   "`newsletter lists add NAME`.")
        return
    print_table(("NAME", "MODE", "SCHEDULE", "TIMEZONE", "LANGUAGES", "ACTIVE", "TITLE"),
                 [(spec.name, spec.mode.value, spec.schedule or "-", spec.timezone,
                   ",".join(spec.languages),
                   str(counts.get(spec.name, {}).get("active", 0)), spec.title)
                  for spec in lists.values()])


def _show_list(spec: ListSpec, counts: dict[str, int], start: datetime | None,
               returns: list[Returns], as_json: bool) -> None:
    from newsletter.lists.parse import list_to_table

    table = list_to_table(spec)
    data = {"name": spec.name, **table, "origin": spec.origin,
            "starts": start.isoformat() if start else None, "subscribers": counts,
            "mail": returns_dict(returns)}
    if as_json:
        emit_json(data)
        return
    where = ("newsletter.toml" if spec.origin == "config"
             else "the database (`newsletter lists set` changes it)")
    rows: list[tuple[str, str]] = [("name", spec.name), ("declared in", where)]
    for key, value in table.items():
        shown = ", ".join(str(v) for v in value) if isinstance(value, list) else str(value)
        rows.append((key.replace("_", " "), shown or "-"))
    rows.append(("gets reports that arrived from",
                 start.isoformat() if start else "its first run (not yet)"))
    rows.append(("subscribers", ", ".join(f"{n} {state}" for state, n in sorted(counts.items()))
                 or "none"))
    rows += [(f"mail in {r.language}", returns_text(r)) for r in returns]
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        click.echo(f"{label:<{width}}  {value}")


def _list_options(defaults: bool) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """The options of `lists add` (with their defaults) and `lists set` (without: only what
    is given changes)."""
    from newsletter.lists.spec import Mode, Policy, ReviewRule

    def default(value: str) -> dict[str, Any]:
        return {"default": value, "show_default": True} if defaults else {"default": None}

    options = [
        click.option("--title", help="The list's title (default: its name)."),
        click.option("--title-ru", "title_ru", help="The title for Russian readers."),
        click.option("--title-kk", "title_kk", help="The title for Kazakh readers."),
        click.option("--description"),
        click.option("--mode", type=click.Choice([m.value for m in Mode]), **default("daily")),
        click.option("--schedule", help="Cron: minute hour day month weekday (default by "
                                        "mode)."),
        click.option("--timezone", **default("Asia/Almaty")),
        click.option("--languages", help="Comma-separated.",
                     **default(",".join(LANGUAGES))),
        click.option("--countries", help="Comma-separated names or codes; \"\" for none."),
        click.option("--keywords", help="Comma-separated; \"\" for none."),
        click.option("--sources", help="Comma-separated; \"\" for none."),
        click.option("--kinds", help="Comma-separated; \"\" for none."),
        click.option("--policy", type=click.Choice([policy.value for policy in Policy]),
                     **default("fallback")),
        click.option("--review", type=click.Choice([rule.value for rule in ReviewRule]),
                     help="Which machine translations wait for a reviewer: none, flagged "
                          "ones, all.", **default("flagged")),
        click.option("--public/--private", "public", default=False if defaults else None,
                     show_default=defaults,
                     help="Whether readers may sign up for it themselves (the /subscribe and "
                          "/manage pages of `newsletter serve`)."),
    ]

    def apply(command: Callable[..., None]) -> Callable[..., None]:
        for option in reversed(options):
            command = option(command)
        return command
    return apply


def _save_list(obj: Context, name: str, table: dict[str, object], verb: str) -> None:
    from newsletter.lists.parse import list_to_table, parse_list, with_place_codes
    from newsletter.lists.schedule import check_schedule
    from newsletter.lists.spec import Mode, Origin

    spec = with_place_codes(parse_list(name, table, origin=Origin.DATABASE),
                            obj.instance.gazetteer)  # countries by code, whatever was typed
    with obj.instance.open_store() as store:
        now = store.clock()()
        check_schedule(spec, now)  # with the scheduler's own parser
        with store.transaction():
            store.lists.save(name, list_to_table(spec), now)
            # The list gets the reports that arrive from its creation on (a change keeps it).
            store.runs.record_list_start(name, now)
    digest = "its digest " if spec.mode is Mode.ALERTS else ""
    click.echo(f"{verb} list {name} ({spec.mode.value}, {digest}{spec.schedule} "
               f"{spec.timezone})")
    titled = dict(spec.translated_titles)
    untitled = [language for language in spec.languages
                if language != "en" and language not in titled]
    if untitled:
        options = " ".join(f"--title-{language} TITLE" for language in untitled)
        click.echo(f"Note: its {', '.join(untitled)} readers see the title {spec.title!r} in "
                   f"their mails and pages: `newsletter lists set {name} {options}` gives "
                   "them one in their language", err=True)


def _declared_in_file(obj: Context, name: str) -> None:
    if any(s.name == name for s in obj.instance.list_registry.file_lists()):
        raise ListError(f"{name} is declared in newsletter.toml",
                        hint=f"change it there, in [lists.{name}]: the service reads the "
                             "change within a poll")


@lists_group.command("add")
@click.argument("name")
@_list_options(defaults=True)
@click.pass_obj
@handle_errors
def lists_add(obj: Context, /, name: str, **options: str | bool | None) -> None:
    """Create a list kept in the database. It gets the reports that arrive from now on."""
    _declared_in_file(obj, name)
    with obj.instance.open_store() as store:
        exists = name in store.lists.stored()
    if exists:
        raise ListError(f"there is a list called {name} already",
                        hint=f"`newsletter lists set {name} --OPTION VALUE` changes only what "
                             f"it is given; `newsletter lists show {name}` shows it all")
    table: dict[str, object] = {key: value for key, value in options.items()
                                if value is not None}
    table.setdefault("title", name)
    _save_list(obj, name, table, "Added")


@lists_group.command("set")
@click.argument("name")
@_list_options(defaults=False)
@click.pass_obj
@handle_errors
def lists_set(obj: Context, /, name: str, **options: str | bool | None) -> None:
    """Change a list kept in the database: only the options given change."""
    from newsletter.lists.spec import DEFAULT_SCHEDULES, Mode

    _declared_in_file(obj, name)
    with obj.instance.open_store() as store:
        stored = store.lists.stored().get(name)
    if stored is None:
        raise ListError(f"no database list called {name!r}",
                        hint=f"`newsletter lists add {name}` creates it; `newsletter lists "
                             "show` lists them all")
    changes = {key: value for key, value in options.items() if value is not None}
    if not changes:
        raise ListError("nothing to change", hint=f"give an option, e.g. `newsletter lists set "
                                                  f"{name} --policy hold`; `--help` lists them")
    table = dict(stored)
    mode_changed = "mode" in changes and changes["mode"] != table.get("mode")
    if mode_changed and "schedule" not in changes and table.get("schedule") == \
            DEFAULT_SCHEDULES.get(Mode(str(table.get("mode", "daily")))):
        table.pop("schedule", None)  # the old mode's default schedule: the new mode's instead
    table.update(changes)
    _save_list(obj, name, table, "Changed")


@lists_group.command("remove")
@click.argument("name")
@click.pass_obj
@handle_errors
def lists_remove(obj: Context, name: str) -> None:
    """Delete a list kept in the database (memberships are kept, for the record)."""
    with obj.instance.open_store() as store, store.transaction():
        if not store.lists.delete(name):
            raise ListError(f"no database list called {name!r}",
                            hint="lists of newsletter.toml are removed by editing the file")
        store.runs.forget_list_start(name)  # added again, it starts again
    click.echo(f"Removed list {name}")


COMMANDS: tuple[click.Command, ...] = (lists_group,)
