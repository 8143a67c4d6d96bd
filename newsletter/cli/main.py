"""The ``newsletter`` command line: the only package that prints or exits (I/O).

Each module holds one group of commands (:mod:`~newsletter.cli.reports`,
:mod:`~newsletter.cli.models`, :mod:`~newsletter.cli.subscribers`,
:mod:`~newsletter.cli.sending`, :mod:`~newsletter.cli.service`,
:mod:`~newsletter.cli.database`, :mod:`~newsletter.cli.status`) as thin wrappers over the use
cases; this one assembles them. Exit codes: 0 success, 1 a :class:`NewsletterError` (message
and hint on standard error), 2 a usage error (unknown option, missing argument).
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from pathlib import Path

import click

from newsletter import __version__
from newsletter.cli.common import Context, parse_overrides

# Each command, and the module of newsletter.cli that holds it. A module is imported when one
# of its commands runs (or `--help` lists them all), so `newsletter reports list` does not
# load the sending, web or translation commands and what they need.
COMMANDS = {
    "init": "reports", "ingest": "reports", "reports": "reports", "summarise": "reports",
    "translate": "reports", "preview": "reports", "serve": "reports",
    "models": "models",
    "subscribers": "subscribers", "lists": "lists",
    "deliver": "sending", "retry": "sending", "outbox": "sending", "send": "sending",
    "digest": "sending",
    "run": "service", "scheduler": "service", "worker": "service", "workers": "service",
    "bounces": "bounces", "feeds": "feeds",
    "db": "database",
    "review": "review", "reviewers": "review",
    "status": "status", "config": "status",
}


class LazyGroup(click.Group):
    """The top-level group, loading a command's module when the command is asked for."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        module = COMMANDS.get(cmd_name)
        if module is None:
            return None
        commands: tuple[click.Command, ...] = importlib.import_module(
            f"newsletter.cli.{module}").COMMANDS
        return next(command for command in commands if command.name == cmd_name)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
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

