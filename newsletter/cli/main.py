"""The ``newsletter`` command line: the only package that prints or exits (I/O).

Each module holds one group of commands (:mod:`~newsletter.cli.reports`,
:mod:`~newsletter.cli.models`, :mod:`~newsletter.cli.subscribers`,
:mod:`~newsletter.cli.sending`, :mod:`~newsletter.cli.service`,
:mod:`~newsletter.cli.database`, :mod:`~newsletter.cli.status`) as thin wrappers over the use
cases; this one assembles them. Exit codes: 0 success, 1 a :class:`NewsletterError` (message
and hint on standard error), 2 a usage error (unknown option, missing argument).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import click

from newsletter import __version__
from newsletter.cli import (
    database,
    models,
    reports,
    review,
    sending,
    service,
    status,
    subscribers,
)
from newsletter.cli.common import Context, parse_overrides


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="newsletter")
@click.option(
    "--config", "config", type=click.Path(path_type=Path),
    help="newsletter.toml (or its folder) to use instead of searching from the current folder.",
)
@click.option(
    "--set", "overrides", multiple=True, metavar="SECTION.KEY=VALUE",
    help="Override one setting for this run (highest precedence). Repeatable.",
)
@click.option("--debug", is_flag=True, help="Show debug logs and full tracebacks.")
@click.pass_context
def cli(ctx: click.Context, config: Path | None, overrides: tuple[str, ...], debug: bool) -> None:
    """Offline, multilingual alert and digest mailer for humanitarian reports."""
    ctx.obj = Context(config, parse_overrides(overrides), debug)



def main(argv: Sequence[str] | None = None) -> None:
    """Console-script entry point."""
    cli.main(args=list(argv) if argv is not None else None, prog_name="newsletter")



for _command in (*reports.COMMANDS, *models.COMMANDS, *subscribers.COMMANDS,
                 *sending.COMMANDS, *service.COMMANDS, *database.COMMANDS, *review.COMMANDS,
                 *status.COMMANDS):
    cli.add_command(_command)
