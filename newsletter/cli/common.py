"""What every command shares: the context of the top-level options, errors as ``Error:``
plus ``Hint:`` and exit status 1, and the ways output is printed."""

from __future__ import annotations

import contextlib
import functools
import json
import os
import sys
import traceback
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

from newsletter.errors import DatabaseBusy, NewsletterError

if TYPE_CHECKING:  # the composition root and the store load when a command first needs them
    from newsletter.app import Instance
    from newsletter.store.bounces import Returns
    from newsletter.store.failures import Failure

F = TypeVar("F", bound=Callable[..., Any])


class Context:
    """What the top-level options decided, handed to every command."""

    def __init__(self, config: Path | None, overrides: dict[str, str], debug: bool) -> None:
        self.config = config
        self.overrides = overrides
        self.debug = debug
        self._instance: Instance | None = None

    @property
    def instance(self) -> Instance:
        if self._instance is None:
            from newsletter.app import load_instance
            from newsletter.logs import configure_logging

            self._instance = load_instance(
                self.config, cwd=Path.cwd(), environ=os.environ, overrides=self.overrides
            )
            log = self._instance.settings.log
            configure_logging("debug" if self.debug else log.level, log.format)
        return self._instance

    @property
    def loaded(self) -> bool:
        return self._instance is not None


def parse_overrides(values: Sequence[str]) -> dict[str, str]:
    overrides = {}
    for item in values:
        name, sep, value = item.partition("=")
        if not sep or "." not in name:
            raise click.BadParameter(
                f"{item!r} is not SECTION.KEY=VALUE (e.g. ingest.max_bytes=5000000)",
                param_hint="--set",
            )
        overrides[name.strip()] = value
    return overrides


def handle_errors(command: F) -> F:
    """Turn a NewsletterError into ``Error: …`` plus its hint and exit status 1; a file that
    cannot be read or written (a path given on the command line, an output folder) too."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except DatabaseBusy as exc:
            from newsletter.store import live_processes

            ctx = click.get_current_context()
            holders = (live_processes(ctx.obj.instance.settings.database_target)
                       if isinstance(ctx.obj, Context) and ctx.obj.loaded else [])
            fail(exc.message, (exc.hint or "") + (
                f"; alive now: {', '.join(holders)}" if holders else ""))
        except NewsletterError as exc:
            fail(exc.message, exc.hint)
        except BrokenPipeError:
            raise  # the reader went away (`| head`): click exits quietly, as Unix tools do
        except OSError as exc:
            where = f" ({exc.filename})" if exc.filename else ""
            fail(f"{exc.strerror or exc}{where}",
                  "check that the path exists and that this user may read and write it")
        except Exception as exc:
            from newsletter.store.faults import database_fault

            fault = database_fault(exc, "the database")
            if fault is None:
                raise
            fail(fault.message, fault.hint)

    return wrapper  # type: ignore[return-value]


def fail(message: str, hint: str | None) -> NoReturn:
    ctx = click.get_current_context()
    if isinstance(ctx.obj, Context) and ctx.obj.debug:
        traceback.print_exc()
    click.echo(f"Error: {message}", err=True)
    command = ctx.command_path.replace("newsletter", "newsletter --debug", 1)
    click.echo(f"Hint: {hint or f'`{command}` shows the details'}", err=True)
    ctx.exit(1)


def display_path(path: str | Path) -> str:
    """A path relative to the current folder when it lies below it, for people to read."""
    try:
        return str(Path(path).relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def emit_json(value: Any) -> None:
    click.echo(json.dumps(value, ensure_ascii=False, default=str))


def print_table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> None:
    """Columns sized to their content, every value whole: an address, a setting's name or a
    value cut short with "…" is one nobody can copy (a long last column wraps on a narrow
    terminal instead)."""
    rows = list(rows)
    widths = [max(len(header[i]), *(len(r[i]) for r in rows)) for i in range(len(header) - 1)]
    for row in (tuple(header), *rows):
        cells = [cell.ljust(w) for cell, w in zip(row, widths, strict=False)]
        click.echo("  ".join([*cells, row[-1]]).rstrip())


@contextlib.contextmanager
def progress(label: str) -> Iterator[Callable[..., None] | None]:
    """Progress bars on a terminal, one per model (``advance(step, total, what)``, and a
    ``detail`` shown after the bar); elsewhere the structured logs say how far the work
    got."""
    if not sys.stderr.isatty():
        yield None
        return
    current: dict[str, Any] = {}

    def advance(step: int, total: int, what: str, detail: str | None = None) -> None:
        if current.get("what") != what:
            if "bar" in current:
                current["bar"].__exit__(None, None, None)
            current["bar"] = click.progressbar(length=total, label=f"{label} {what}",
                                               file=sys.stderr,
                                               item_show_func=lambda item: item)
            current["bar"].__enter__()
            current["what"] = what
        current["bar"].update(step, detail)

    try:
        yield advance
    finally:
        if "bar" in current:
            current["bar"].__exit__(None, None, None)




def failure_dict(failure: Failure) -> dict[str, Any]:
    """A step that failed for one report (``store.failures``), as JSON."""
    return {"report_id": failure.report_id, "step": failure.step, "attempts": failure.attempts,
            "error": failure.error, "first_failed_at": failure.first_failed_at.isoformat(),
            "next_attempt_at": failure.next_attempt_at.isoformat()}


def failure_text(failure: Failure) -> str:
    """The same, for people."""
    return (f"report {failure.report_id}: {failure.step} failed {failure.attempts} time(s), "
            f"last: {failure.error}; next try {failure.next_attempt_at:%Y-%m-%d %H:%M} UTC")


def returns_dict(returns: Iterable[Returns]) -> dict[str, dict[str, dict[str, int]]]:
    """What became of each list's mail per language (``store.bounces.returns``), as JSON."""
    data: dict[str, dict[str, dict[str, int]]] = {}
    for r in returns:
        data.setdefault(r.list_name, {})[r.language] = {
            "sent": r.sent, "delivered": r.delivered, "bounced": r.bounced,
            "complained": r.complained}
    return data


def returns_text(r: Returns) -> str:
    """The same, for people."""
    return (f"{r.sent} sent, {r.delivered} delivered, {r.bounced} bounced, "
            f"{r.complained} complained")
