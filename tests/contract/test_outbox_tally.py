"""The outbox's tally counts what the outbox holds, on every backend, whatever changed it and
however many writers change it at once (newsletter.store.tally).

Each test compares the tally's counts with a count over the outbox's rows themselves (what
the counts were before the tally), before and after folding.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from newsletter.bounces.rules import BounceRules, Kind
from newsletter.delivery.rules import Change, State
from newsletter.store import Store, open_store
from newsletter.store.bounces import Entry
from newsletter.store.copy import copy_database
from tests.contract.conftest import Reopen
from tests.contract.test_storage_contract import NOW, _add, _at_once, _issue, _subscribe
from tests.helpers import mark


def _counted(store: Store) -> tuple[dict[str, int], int]:
    """Rows per state and ambiguous rows, counted over the outbox's rows."""
    states = {str(s): int(n) for s, n in store.db.all(
        "SELECT state, count(*) FROM outbox GROUP BY state")}
    return states, int(store.db.scalar("SELECT COALESCE(sum(ambiguous), 0) FROM outbox"))


def _tallied(store: Store) -> tuple[dict[str, int], int]:
    summary = store.outbox.summary(NOW)
    return summary.states, summary.ambiguous


def _agree(store: Store) -> None:
    """The tally agrees with the rows, before and after a fold."""
    assert _tallied(store) == _counted(store)
    store.outbox.tally.fold()
    assert int(store.db.scalar("SELECT count(*) FROM outbox_moves")) == 0
    assert _tallied(store) == _counted(store)


def test_every_kind_of_change_is_counted(store: Store) -> None:
    emails = [f"r{i}@example.org" for i in range(8)]
    ids = dict(zip(emails, _subscribe(store, *emails), strict=True))
    issue_id, queued = _issue(store, [_add(store)])
    assert queued == 8
    _agree(store)
    # one reader leaves before the claim (skipped by it), one after (skipped at the fence)
    store.subscribers.unsubscribe(ids[emails[7]], "daily", "test", NOW)
    rows = {row.address: row for row in store.outbox.claim("one", 8, NOW, 30).rows}
    assert len(rows) == 7
    _agree(store)
    store.subscribers.unsubscribe(ids[emails[6]], "daily", "test", NOW)
    assert store.outbox.skip_departed([rows[e].id for e in emails[:7]], "one") == 1
    _agree(store)
    fenced = store.outbox.fence([rows[e].id for e in emails[:6]], "one")
    assert len(fenced) == 6
    for email in emails[:3]:
        assert mark(store.outbox, rows[email].id, "one", State.TRANSMITTING, State.SENT,
                    now=NOW)
    assert mark(store.outbox, rows[emails[3]].id, "one", State.TRANSMITTING, State.FAILED,
                now=NOW, code=550, text="5.1.1 no such user")
    assert mark(store.outbox, rows[emails[4]].id, "one", State.TRANSMITTING, State.RETRY,
                now=NOW, code=451, next_attempt_at=NOW + timedelta(hours=1))
    _agree(store)
    # the owner dies: its one transmitted row without an outcome becomes ambiguous
    recovered = store.outbox.recover(NOW + timedelta(minutes=5))
    assert (recovered.requeued, recovered.ambiguous) == (0, 1)
    _agree(store)
    assert store.outbox.summary(NOW).ambiguous == 1
    # what comes back for a sent message, then an erasure, then `retry`
    rules = BounceRules(threshold=2, suppress_days=30)
    store.bounces.record(Entry("c", "imap", Kind.COMPLAINT, status="abuse",
                               outbox_id=rows[emails[0]].id), rules, NOW)
    store.readers.erase(ids[emails[1]], "digest-1", NOW)
    store.outbox.requeue(issue_id)
    _agree(store)
    [returns] = store.bounces.returns(NOW + timedelta(days=5), timedelta(days=3))
    assert (returns.sent, returns.delivered, returns.complained) == (3, 2, 1)


def test_two_senders_at_once_are_counted_exactly(store: Store, reopen: Reopen) -> None:
    """Two writers claim, fence and send from one outbox at once, and fold as they go (each
    sweep does): no move is lost or counted twice."""
    _subscribe(store, *(f"r{i}@example.org" for i in range(120)))
    _issue(store, [_add(store)])

    def send(other: Store, index: int) -> int:
        owner, sent = f"sender-{index}", 0
        while rows := other.outbox.claim(owner, 7, NOW, 30).rows:
            moving = sorted(other.outbox.fence([r.id for r in rows], owner))
            made = other.outbox.write(
                [Change(i, State.TRANSMITTING, State.SENT) for i in moving], owner, NOW)
            sent += sum(made)
            other.outbox.recover(NOW)  # nothing has run out: this folds the moves
        return sent

    assert sum(_at_once(reopen, send, 2)) == 120
    assert _tallied(store) == _counted(store) == ({"sent": 120}, 0)
    _agree(store)


def test_a_copied_outbox_is_counted(store: Store, tmp_path: Path) -> None:
    """``db copy`` writes settled rows straight in: the copy's tally counts them."""
    _subscribe(store, *(f"r{i}@example.org" for i in range(5)))
    _issue(store, [_add(store)])
    rows = store.outbox.claim("one", 5, NOW, 30).rows
    moving = sorted(store.outbox.fence([r.id for r in rows[:3]], "one"))
    store.outbox.write([Change(i, State.TRANSMITTING, State.SENT) for i in moving], "one", NOW)
    with open_store(tmp_path / "copy.db") as target:
        copy_database(store, target)
        assert _tallied(target) == _counted(target) == _counted(store)
        assert _tallied(target)[0] == {"sent": 3, "sending": 2}
