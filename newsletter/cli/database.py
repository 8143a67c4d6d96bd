"""Commands for the database itself: migrate it, and copy an office to another database."""

from __future__ import annotations

import click

from newsletter.cli.common import Context, emit_json, handle_errors, print_table
from newsletter.errors import StoreError


@click.group("db")
def db_group() -> None:
    """The database: its schema, and moving an office to PostgreSQL."""


@db_group.command("migrate")
@click.pass_obj
@handle_errors
def db_migrate(obj: Context) -> None:
    """Bring the database's schema up to this program's (each step once, under a lock on
    PostgreSQL, so several machines may start at once)."""
    with obj.instance.open_store() as store:
        applied, version, where = store.applied, store.schema_version, store.where
    if applied:
        click.echo(f"Applied {', '.join(applied)}")
    click.echo(f"{where}: schema at version {version}")


@db_group.command("copy")
@click.option("--to", "target", required=True, metavar="URL",
              help="The database to fill: postgresql://USER@HOST/NAME (or sqlite:///PATH).")
@click.option("--json", "as_json", is_flag=True, help="The rows copied, per table, as JSON.")
@click.pass_obj
@handle_errors
def db_copy(obj: Context, target: str, as_json: bool) -> None:
    """Copy everything of this office's database into an empty database, then check that
    every table holds as many rows on both sides. Stop the service first; afterwards point
    [database] url (or NEWSLETTER_DATABASE_URL) at the new one."""
    from newsletter.store import open_store
    from newsletter.store.copy import copy_database
    from newsletter.store.database import display_url

    if not target.startswith(("postgresql://", "postgres://", "sqlite:///")):
        raise StoreError(f"{display_url(target)} is not a database URL",
                         hint="give postgresql://USER@HOST/NAME or sqlite:///PATH")
    with obj.instance.open_store() as source, open_store(target) as destination:
        counts = copy_database(source, destination)
        where = destination.where
    if as_json:
        emit_json({"to": where, "tables": counts})
        return
    print_table(("TABLE", "ROWS"), [(name, f"{n:,}") for name, n in counts.items()])
    click.echo(f"Copied {sum(counts.values()):,} row(s) to {where}; every table's count "
               "matches. Point [database] url (or NEWSLETTER_DATABASE_URL) at it.")


COMMANDS: tuple[click.Command, ...] = (db_group,)
