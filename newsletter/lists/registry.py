"""Where lists are found: the ``[lists.NAME]`` tables of newsletter.toml (read again when the
file changes) and the lists `newsletter lists add` keeps in the database; each name has one
home, and the file's wins when both name it (I/O).

:class:`ListRegistry` is built once per instance; :meth:`ListRegistry.of` binds it to an open
store as the :class:`Lists` a use case is given (the service, a one-off send, the web app),
which looks a list up by name with a "did you mean" and records when a list started getting
reports.
"""

from __future__ import annotations

import difflib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from newsletter.config import read_file_lists
from newsletter.errors import ConfigError, ListError
from newsletter.lists.parse import parse_list, with_place_codes
from newsletter.lists.schedule import check_schedule
from newsletter.lists.spec import ListSpec, Origin, variant_of
from newsletter.reports.places import Gazetteer
from newsletter.store import Store

log = logging.getLogger(__name__)


def check_lists(lists: tuple[ListSpec, ...], gazetteer: Gazetteer, path: Path) -> None:
    """What the scheduler cannot run, a country no one knows: an error naming the file."""
    for spec in lists:
        try:
            check_schedule(spec, datetime.now(UTC))  # with the scheduler's own parser
            if spec.countries:
                with_place_codes(spec, gazetteer)
        except ListError as exc:
            raise ConfigError(f"{exc.message} in {path}", hint=exc.hint) from exc


class FileLists:
    """The lists of ``newsletter.toml``, read again when the file changes, so a running
    service picks up a list added or changed there within a poll. A change that does not
    load (a typo, an unknown country) is logged once and the lists as they were stay."""

    def __init__(self, path: Path, loaded: tuple[ListSpec, ...], gazetteer: Gazetteer) -> None:
        self.path = path
        self.lists = loaded
        self.gazetteer = gazetteer
        self.seen = self._stamp()

    def _stamp(self) -> tuple[int, int] | None:
        try:
            found = self.path.stat()
        except OSError:
            return None
        return found.st_mtime_ns, found.st_size

    def current(self) -> tuple[ListSpec, ...]:
        stamp = self._stamp()
        if stamp is None or stamp == self.seen:
            return self.lists
        self.seen = stamp
        try:
            lists = read_file_lists(self.path)
            check_lists(lists, self.gazetteer, self.path)
        except ConfigError as exc:
            log.error("the lists of %s did not load, so they stay as they were: %s (%s)",
                      self.path, exc.message, exc.hint,
                      extra={"event": "lists_not_reloaded", "path": str(self.path)})
            return self.lists
        if lists != self.lists:
            log.info("lists of %s read again: %s", self.path,
                     ", ".join(spec.name for spec in lists) or "none",
                     extra={"event": "lists_reloaded", "path": str(self.path)})
        self.lists = lists
        return lists


class ListRegistry:
    """Every list of an instance: the file's, then the database's."""

    def __init__(self, config_path: Path, loaded: tuple[ListSpec, ...],
                 gazetteer: Gazetteer) -> None:
        self.file = FileLists(config_path, loaded, gazetteer)
        self.gazetteer = gazetteer
        self.warned: set[str] = set()  # lists in both places, said once

    def file_lists(self) -> tuple[ListSpec, ...]:
        """The lists of newsletter.toml as the file is now."""
        return self.file.current()

    def all(self, store: Store) -> dict[str, ListSpec]:
        """Every list, by name: those of newsletter.toml, then those of the database."""
        found = {spec.name: spec for spec in self.file_lists()}
        for name, table in store.lists.stored().items():
            if name in found:
                if name not in self.warned:
                    self.warned.add(name)
                    log.warning("list %s is in newsletter.toml and in the database; the file "
                                "wins", name)
                continue
            found[name] = parse_list(name, table, origin=Origin.DATABASE)
            check_schedule(found[name], datetime.now(UTC))
        return {name: with_place_codes(spec, self.gazetteer) if spec.countries else spec
                for name, spec in found.items()}

    def of(self, store: Store) -> Lists:
        return Lists(self, store)


@dataclass(frozen=True)
class Lists:
    """The lists as one open store sees them: what a use case is given."""

    registry: ListRegistry
    store: Store

    def all(self) -> dict[str, ListSpec]:
        return self.registry.all(self.store)

    def scheduled(self) -> dict[str, ListSpec]:
        """Every list, and every other frequency of a list that a reader chose
        (:func:`~newsletter.lists.spec.variant_of`): what the scheduler makes issues of."""
        lists = self.all()
        for name, frequency in sorted(self.store.subscribers.frequencies()):
            variant = variant_of(lists[name], frequency) if name in lists else None
            if variant is not None:
                lists[variant.name] = variant
        return lists

    def named(self, name: str) -> ListSpec:
        """The list called ``name``; an error that names the nearest one when there is none."""
        lists = self.all()
        if name not in lists:
            known = ", ".join(sorted(lists)) or "none yet"
            near = difflib.get_close_matches(name, list(lists), n=1)
            raise ListError(f"no list called {name!r}",
                            hint=(f"did you mean {near[0]}? " if near else "")
                            + f"lists: {known}; declare one in newsletter.toml "
                              "([lists.NAME]) or with `newsletter lists add NAME`")
        return lists[name]

    def record_starts(self) -> None:
        """Record, for each list not yet seen, that it gets the reports arriving from now on
        (`lists add` records it at creation; a list of newsletter.toml, at the first command
        that writes and sees it)."""
        now = self.store.clock()()
        for name in self.all():
            if self.store.runs.list_start(name) is None:
                self.store.runs.record_list_start(name, now)
