"""Reading what came back: each returned message read, matched to the message of ours it
returns, recorded with what it did, then marked read at its source.

A message is matched only by a return-path token this office signed
(:mod:`newsletter.bounces.verp`); the address a report names is recorded but never trusted, so
a forged bounce, or one for another reader, changes nothing. One message that cannot be read
never stops the others: it is recorded as unrecognised, for a person to look at.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from newsletter.bounces.parse import Returned, fingerprint, read_returned
from newsletter.bounces.rules import BounceRules, Outcome
from newsletter.bounces.sources import Incoming, Source
from newsletter.bounces.verp import Claim, ReturnPath
from newsletter.store import Store
from newsletter.store.bounces import Entry

log = logging.getLogger(__name__)


@dataclass
class ReadRun:
    """What one reading of a source did."""

    read: int = 0  # messages looked at
    again: int = 0  # recorded before (another reader, or a reading cut short): not counted
    outcomes: Counter[str] = field(default_factory=Counter)
    expired: int = 0  # soft suppressions that ended
    more: bool = False  # stopped at max_messages: the rest wait for the next reading

    def figures(self) -> dict[str, object]:
        return {"read": self.read, "again": self.again, "outcomes": dict(self.outcomes),
                "expired": self.expired, "more": self.more}


class BounceReader:
    def __init__(self, store: Store, return_path: ReturnPath | None, rules: BounceRules, *,
                 clock: Callable[[], datetime], max_messages: int = 2_000) -> None:
        self.store = store
        self.return_path = return_path
        self.rules = rules
        self.clock = clock
        self.max_messages = max_messages

    def read(self, source: Source, *, stop: Callable[[], bool] = lambda: False,
             progress: Callable[[ReadRun], None] | None = None) -> ReadRun:
        """Read ``source`` up to ``max_messages``; each message is recorded, then marked
        read."""
        run = ReadRun(expired=self.store.bounces.expire(self.clock()))
        try:
            for incoming in source.messages():
                if stop():
                    break
                if run.read >= self.max_messages:
                    run.more = True
                    break
                run.read += 1
                outcome = self.take(incoming, source.name)
                if outcome is None:
                    run.again += 1
                else:
                    run.outcomes[outcome] += 1
                source.done(incoming)
                if progress is not None:
                    progress(run)
        finally:
            source.close()
        log.info("read %d returned message(s) from %s", run.read, source.name,
                 extra={"event": "bounces_read", "source": source.name, **run.figures()})
        return run

    def take(self, incoming: Incoming, source: str) -> Outcome | None:
        """Record one returned message; None when it was recorded before."""
        if self.store.bounces.known(fingerprint(incoming.raw, incoming.size)):
            return None
        returned = read_returned(incoming.raw, size=incoming.size)
        claim = self.match(returned)
        entry = Entry(returned.fingerprint, source, returned.kind, returned.recipient,
                      returned.status, returned.diagnostic,
                      returned.detail + (f" (subject: {returned.subject})"
                                         if returned.subject else ""),
                      outbox_id=claim.outbox_id, problem=claim.problem)
        outcome = self.store.bounces.record(entry, self.rules, self.clock())
        if outcome is not None:
            log.info("%s %s: %s", returned.kind, returned.recipient or "(no recipient)",
                     outcome, extra={"event": "bounce", "kind": str(returned.kind),
                                     "outcome": str(outcome), "outbox_id": claim.outbox_id,
                                     "status": returned.status})
        return outcome

    def match(self, returned: Returned) -> Claim:
        """The message of ours ``returned`` came back for: the first token this office
        signed, looked for where :func:`~newsletter.bounces.parse.token_texts` says."""
        if self.return_path is None:
            return Claim(None, "no [bounces] return_path is set, so no message can be matched")
        problem = ""
        for text in returned.texts:
            for token in self.return_path.tokens(text):
                claim = self.return_path.claim(token)
                if claim.outbox_id is not None:
                    return claim
                problem = problem or claim.problem
        return Claim(None, problem or "no return-path token in it: not a reply to our mail")
