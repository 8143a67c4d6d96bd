"""Commands for the feeds: feeds write."""

from __future__ import annotations

import os
from pathlib import Path

import click

from newsletter.cli.common import Context, display_path, handle_errors


@click.group()
def feeds() -> None:
    """The Atom feeds and CAP alerts `newsletter serve` publishes."""


@feeds.command("write")
@click.argument("folder", type=click.Path(path_type=Path, file_okay=False))
@click.pass_obj
@handle_errors
def feeds_write(obj: Context, folder: Path) -> None:
    """Write every feed and CAP alert into FOLDER, at the paths `serve` answers them at
    (feeds/LIST/LANG.atom, feeds/LIST/cap.atom, cap/ID.xml) and byte for byte the same: for
    an office that publishes on a plain web server, or carries them to another network."""
    written = 0
    with obj.instance.open_store() as store:
        for path, document in obj.instance.publisher(store).files():
            target = folder.joinpath(*path.parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_name(target.name + ".part")
            partial.write_bytes(document)
            os.replace(partial, target)  # a reader of the folder never sees half a file
            written += 1
    click.echo(f"Wrote {written} file(s) to {display_path(folder)}/")


COMMANDS: tuple[click.Command, ...] = (feeds,)
