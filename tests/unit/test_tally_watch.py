"""SQLite's tally triggers watch ``next_attempt_at``, not ``state`` (newsletter.store.tally):
every statement that changes an outbox row's state must set ``next_attempt_at`` too, unless
it is marked as moving rows between the states on the way out only. This test reads every
``UPDATE outbox`` in the package and holds it to that, so that a new statement cannot
settle rows unseen by the counts."""

from __future__ import annotations

import re

from newsletter.store.tally import _WATCHED
from tests.helpers import REPO

_UPDATE = re.compile(r"UPDATE outbox SET (.*?)\bWHERE\b", re.S)
_SETS_STATE = re.compile(r"(?:^|[\s,}])state\s*=")
_MARKED_STATE = re.compile(r"\{_UNSETTLED\}state = '\{State\.(\w+)\}'")
_ON_THE_WAY = {"PENDING", "SENDING", "TRANSMITTING", "RETRY"}


def _updates() -> list[tuple[str, str]]:
    """Every ``UPDATE outbox SET …`` of the package: (module, its SET clause)."""
    found = []
    for path in sorted((REPO / "newsletter").rglob("*.py")):
        for match in _UPDATE.finditer(path.read_text(encoding="utf-8")):
            found.append((path.relative_to(REPO).as_posix(), match.group(1)))
    return found


def test_the_triggers_watch_next_attempt_at_and_not_state() -> None:
    watched = {column.strip() for column in _WATCHED.split(",")}
    assert "next_attempt_at" in watched
    assert "state" not in watched


def test_every_change_of_state_is_watched_or_marked_as_on_the_way_out() -> None:
    updates = _updates()
    assert len(updates) >= 10  # the reader found the statements
    unwatched = []
    for module, assignments in updates:
        if not _SETS_STATE.search(assignments) or "next_attempt_at" in assignments:
            continue
        marked = _MARKED_STATE.search(assignments)
        if marked is None or marked.group(1) not in _ON_THE_WAY:
            unwatched.append(f"{module}: UPDATE outbox SET {assignments.strip()[:80]}")
    assert not unwatched, "these change a row's state unseen by the tally's triggers: " \
        "set next_attempt_at too, or mark a move between unsettled states with _UNSETTLED"


def test_the_marked_statements_are_the_ways_out() -> None:
    marked = [m.group(1) for _, assignments in _updates()
              for m in [_MARKED_STATE.search(assignments)] if m]
    assert sorted(marked) == ["PENDING", "PENDING", "SENDING", "TRANSMITTING"]
