"""How many messages the outbox has settled, per state and per what came back, without
reading them.

The outbox keeps every message it ever sent, so a count over it grows with the archive
(1,000,000 sent rows made ``status`` take 1.5 s). The messages still on their way (pending,
claimed, transmitting, waiting to retry) are counted from their partial indexes, whose size
follows the waiting work; the settled ones (sent, failed, skipped), which pile up, are
counted here. Triggers on the outbox append each change of a settled row's counted columns
(issue, language, state, what came back, whether a duplicate is possible) to
``outbox_moves``: -1 for what it was, +1 for what it is; a message's way out (queued,
claimed, transmitting) writes nothing, and its settling one move. A message enters the
outbox pending (:meth:`~newsletter.store.issues.Issues.create`), so inserts are not watched
(a trigger on them cost SQLite 7 µs a queued row); what puts settled rows in by other means
(``db copy``) counts them again with :meth:`OutboxTally.rebuild`. An append never waits for
another writer, so two senders on PostgreSQL never block each other on a shared counter.
:meth:`OutboxTally.fold` (every sweep of a sender, every poll of the service) adds the moves
into ``outbox_tally``, one row per (issue, language, state, returned, ambiguous), and deletes
them. A count reads the tally plus the moves not yet folded, in one statement (one
snapshot): exact, and its cost follows the number of issues and the work since the last
sweep, not the messages ever sent (``bench/history.py``). Every path that settles or
unsettles a message is counted, whatever it is (a send, ``retry``, an erasure), because the
database does the counting.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime

from newsletter.delivery.rules import State
from newsletter.store.database import Database, literals, stamp
from newsletter.store.migration import Migration

SETTLED = literals(State.SENT, State.FAILED, State.SKIPPED)
# What the outbox's triggers write to outbox_moves for a row as it was (OLD) or is (NEW).
_MOVE_COLUMNS = "(issue_id, language, state, returned, ambiguous, n)"
_OLD = "OLD.issue_id, OLD.language, OLD.state, COALESCE(OLD.returned, ''), OLD.ambiguous"
_NEW = "NEW.issue_id, NEW.language, NEW.state, COALESCE(NEW.returned, ''), NEW.ambiguous"
_WATCHED = "issue_id, language, next_attempt_at, returned, ambiguous"
_CHANGED = " OR ".join(f"OLD.{column} IS DISTINCT FROM NEW.{column}" for column in (
    "issue_id", "language", "state", "returned", "ambiguous"))

# The settled messages, counted from the outbox's rows: all at once (the migration), or one
# issue's (OutboxTally.rebuild).
_REBUILD = f"""INSERT INTO outbox_tally (issue_id, language, state, returned, ambiguous, n)
    SELECT issue_id, language, state, COALESCE(returned, ''), ambiguous, count(*)
      FROM outbox WHERE state IN {SETTLED}
     GROUP BY issue_id, language, state, COALESCE(returned, ''), ambiguous"""

_REBUILD_ISSUE = f"""INSERT INTO outbox_tally (issue_id, language, state, returned, ambiguous, n)
    SELECT issue_id, language, state, COALESCE(returned, ''), ambiguous, count(*)
      FROM outbox WHERE issue_id = ? AND state IN {SETTLED}
     GROUP BY issue_id, language, state, COALESCE(returned, ''), ambiguous"""

OUTBOX_TALLY = Migration(
    "0023_outbox_tally",
    """
    -- How many settled messages (sent, failed, skipped) there are per issue, language,
    -- state, what came back and whether a duplicate is possible: what `status`, `deliver`
    -- and `lists show` count, without reading the outbox's settled rows (they pile up for
    -- ever). Triggers write each change of a settled row to outbox_moves (-1 for what it
    -- was, +1 for what it is: an append, so two senders never wait for each other); a
    -- sweep folds the moves into outbox_tally (OutboxTally.fold). A count is the tally plus
    -- the moves not yet folded: its cost follows the issues and the work since the last
    -- sweep. A message comes in pending: inserts are not watched (db copy counts again).
    CREATE TABLE outbox_tally (
        issue_id   INTEGER NOT NULL,
        language   TEXT NOT NULL,
        state      TEXT NOT NULL,
        returned   TEXT NOT NULL,
        ambiguous  INTEGER NOT NULL,
        n          BIGINT NOT NULL,
        PRIMARY KEY (issue_id, language, state, returned, ambiguous)
    );
    CREATE TABLE outbox_moves (
        id         {id},
        issue_id   INTEGER NOT NULL,
        language   TEXT NOT NULL,
        state      TEXT NOT NULL,
        returned   TEXT NOT NULL,
        ambiguous  INTEGER NOT NULL,
        n          INTEGER NOT NULL
    );
    {rebuild};
    -- The latest refusals (`status`) newest first, without walking the sent rows.
    CREATE INDEX outbox_refused ON outbox(id) WHERE state IN ('retry', 'failed');
    -- One reader's messages (their data export and their erasure: pages a reader opens).
    CREATE INDEX outbox_by_subscriber ON outbox(subscriber_id);
    """.replace("{rebuild}", _REBUILD),
    only={
        "sqlite": (
            # Two triggers with one plain INSERT each: SQLite runs them several microseconds
            # a row faster than one whose body chooses (INSERT … SELECT … WHERE); a change
            # that leaves a settled row's counted columns as they were adds -1 and +1 to the
            # same count. They watch next_attempt_at, not state: every statement that can
            # settle or unsettle a row sets it, and the claim, the fence, the release and a
            # recovery to pending (unsettled to unsettled, each a row's way out) do not, so
            # SQLite does not even weigh the triggers for them (5 µs a message less).
            # tests/unit/test_tally_watch.py holds every UPDATE of the outbox to this.
            f"""CREATE TRIGGER outbox_moves_unsettled
                  AFTER UPDATE OF {_WATCHED} ON outbox
                  WHEN OLD.state IN {SETTLED} BEGIN
                  INSERT INTO outbox_moves {_MOVE_COLUMNS} VALUES ({_OLD}, -1);
                END""",
            f"""CREATE TRIGGER outbox_moves_settled
                  AFTER UPDATE OF {_WATCHED} ON outbox
                  WHEN NEW.state IN {SETTLED} BEGIN
                  INSERT INTO outbox_moves {_MOVE_COLUMNS} VALUES ({_NEW}, 1);
                END""",
            f"""CREATE TRIGGER outbox_moves_delete AFTER DELETE ON outbox
                  WHEN OLD.state IN {SETTLED} BEGIN
                  INSERT INTO outbox_moves {_MOVE_COLUMNS} VALUES ({_OLD}, -1);
                END""",
        ),
        "postgresql": (
            # Each fold leaves the moves it took as dead rows: vacuum them every 10,000
            # rather than at a fifth of the table, as a queue's table should be.
            """ALTER TABLE outbox_moves SET (autovacuum_vacuum_scale_factor = 0,
                 autovacuum_vacuum_threshold = 10000, autovacuum_analyze_threshold = 10000)""",
            # NEW is NULL in a DELETE's call.
            f"""CREATE FUNCTION outbox_moves_made() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                  IF OLD.state IN {SETTLED} THEN
                    INSERT INTO outbox_moves {_MOVE_COLUMNS} VALUES ({_OLD}, -1);
                  END IF;
                  IF TG_OP <> 'DELETE' AND NEW.state IN {SETTLED} THEN
                    INSERT INTO outbox_moves {_MOVE_COLUMNS} VALUES ({_NEW}, 1);
                  END IF;
                  RETURN NULL;
                END $$""",
            f"""CREATE TRIGGER outbox_moves_delete AFTER DELETE ON outbox
                 FOR EACH ROW WHEN (OLD.state IN {SETTLED})
                 EXECUTE FUNCTION outbox_moves_made()""",
            f"""CREATE TRIGGER outbox_moves_update AFTER UPDATE ON outbox
                 FOR EACH ROW WHEN ((OLD.state IN {SETTLED} OR NEW.state IN {SETTLED})
                                    AND ({_CHANGED}))
                 EXECUTE FUNCTION outbox_moves_made()""",
        ),
    },
)


# The counted rows: the folded tally and the moves since, as one relation.
_COUNTED = """(SELECT issue_id, language, state, returned, ambiguous, n FROM outbox_tally
               UNION ALL
               SELECT issue_id, language, state, returned, ambiguous, n FROM outbox_moves)"""
_FOLD_LOCK = 7_232_852  # PostgreSQL: one folder at a time (an advisory lock's key)
_FOLD_BATCH = 50_000  # moves read into memory at once


class OutboxTally:
    def __init__(self, db: Database) -> None:
        self.db = db

    def fold(self) -> int:
        """Add the moves into the tally and delete them, in one transaction; returns how
        many moves were folded. On PostgreSQL a fold that finds another one running leaves
        the moves to it (a counter read is right either way). A move is deleted and added
        by the same statement's rows (``DELETE … RETURNING``), so a move another
        transaction has not yet committed is never lost: the next fold takes it."""
        folded = 0
        with self.db.transaction():
            lock = self.db.dialect.try_lock
            if lock and not self.db.scalar(lock, (_FOLD_LOCK,)):
                return 0
            span = self.db.one("SELECT min(id), max(id) FROM outbox_moves")
            low, top = (None, None) if span is None else span
            while low is not None and top is not None and int(low) <= int(top):
                moved = self.db.all(
                    """DELETE FROM outbox_moves WHERE id < ?
                       RETURNING issue_id, language, state, returned, ambiguous, n""",
                    (min(int(low) + _FOLD_BATCH, int(top) + 1),))
                low = int(low) + _FOLD_BATCH
                sums: Counter[tuple[int, str, str, str, int]] = Counter()
                for issue_id, language, state, returned, ambiguous, n in moved:
                    sums[int(issue_id), str(language), str(state), str(returned),
                         int(ambiguous)] += int(n)
                # In key order: two folds could only ever wait for each other, never
                # deadlock (PostgreSQL takes the advisory lock first anyway).
                self.db.executemany(
                    """INSERT INTO outbox_tally
                           (issue_id, language, state, returned, ambiguous, n)
                       VALUES (?, ?, ?, ?, ?, ?)
                       ON CONFLICT (issue_id, language, state, returned, ambiguous)
                       DO UPDATE SET n = outbox_tally.n + excluded.n""",
                    [(*key, n) for key, n in sorted(sums.items()) if n])
                # A count that came to nothing goes: only those just touched are looked at,
                # so a fold's cost follows its moves, not the tally's size.
                self.db.executemany(
                    """DELETE FROM outbox_tally WHERE issue_id = ? AND language = ?
                         AND state = ? AND returned = ? AND ambiguous = ? AND n = 0""",
                    sorted(key for key, n in sums.items() if n))
                folded += len(moved)
        return folded

    def rebuild(self) -> None:
        """Count the settled messages again from the outbox's rows, one issue at a time (a
        whole scan, with memory for one issue's sort: for rows that came in settled, as
        ``db copy`` writes them)."""
        with self.db.transaction():
            self.db.execute("DELETE FROM outbox_moves")
            self.db.execute("DELETE FROM outbox_tally")
            for (issue_id,) in self.db.all("SELECT id FROM issues ORDER BY id"):
                self.db.execute(_REBUILD_ISSUE, (issue_id,))

    def settled(self) -> tuple[dict[str, int], int]:
        """Settled messages per state, and how many of them had an unknown outcome once (a
        duplicate is possible)."""
        states: dict[str, int] = {}
        ambiguous = 0
        for state, flag, n in self.db.all(
                f"""SELECT state, ambiguous, sum(n) FROM {_COUNTED} t GROUP BY state, ambiguous
                    HAVING sum(n) != 0"""):
            states[str(state)] = states.get(str(state), 0) + int(n)
            ambiguous += int(n) if int(flag) else 0
        return states, ambiguous

    def returns(self, delivered_before: datetime, lists: Sequence[str] | None = None,
                ) -> list[tuple[str, str, int, int, int, int]]:
        """Per list and language: messages sent; delivered (sent in an issue made before
        ``delivered_before`` and nothing came back); bounced (refused while sending, or came
        back); complained."""
        where, params = [f"t.state IN {literals(State.SENT, State.FAILED)}"], \
            [stamp(delivered_before)]
        if lists is not None:
            if not lists:
                return []
            where.append(f"i.list_name IN ({', '.join('?' for _ in lists)})")
            params.extend(lists)
        rows = self.db.all(
            f"""SELECT i.list_name, t.language,
                       sum(CASE WHEN t.state = '{State.SENT}' THEN t.n ELSE 0 END),
                       sum(CASE WHEN t.state = '{State.SENT}' AND t.returned = ''
                                 AND i.created_at <= ? THEN t.n ELSE 0 END),
                       sum(CASE WHEN t.returned = 'bounced' THEN t.n ELSE 0 END),
                       sum(CASE WHEN t.returned = 'complained' THEN t.n ELSE 0 END)
                  FROM {_COUNTED} t JOIN issues i ON i.id = t.issue_id
                 WHERE {' AND '.join(where)}
                 GROUP BY i.list_name, t.language HAVING sum(t.n) > 0
                 ORDER BY i.list_name, t.language""", params)
        return [(str(r[0]), str(r[1]), int(r[2] or 0), int(r[3] or 0), int(r[4] or 0),
                 int(r[5] or 0)) for r in rows]
