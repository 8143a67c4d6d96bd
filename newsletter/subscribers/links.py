"""Following a reader's signed link: unsubscribe, confirm a subscription, or a test send's
link (I/O: the database, and the pending journal when the database cannot take a write).

:func:`follow` says what the link's page shows; with ``act`` (a POST: the form, or RFC 8058's
one-click ``List-Unsubscribe=One-Click`` from a mail client) it also carries the request out.
An unsubscribe is never lost: when the database is locked or gone, it goes to the
:class:`~newsletter.subscribers.pending.UnsubscribeJournal` and the reader is told it was
received. A test send's link names no reader and changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from newsletter.errors import DatabaseFault, NotFound, TokenError
from newsletter.lists.spec import ListSpec
from newsletter.store import Store
from newsletter.subscribers.pending import PendingUnsubscribe, UnsubscribeJournal
from newsletter.subscribers.tokens import CONFIRM, TEST, UNSUBSCRIBE, verify_token


@dataclass(frozen=True)
class LinkPage:
    """What the page of a link says. ``state``: ``test``, ``confirm-unsubscribe``,
    ``confirm-subscription``, ``unsubscribed``, ``recorded`` (kept in the journal),
    ``subscribed``, ``invalid`` or ``busy`` (a confirmation the database could not take)."""

    state: str
    language: str | None = None
    list_title: str | None = None
    email: str | None = None


@dataclass(frozen=True)
class Links:
    """What following a link needs: the database, the keys links are signed with, the lists
    (for their titles) and the journal."""

    open_store: Callable[[], Store]
    secrets: Sequence[str]
    lists: Callable[[Store], Mapping[str, ListSpec]]
    journal: UnsubscribeJournal


def follow(links: Links, token: str, purpose: str, *, act: bool, method: str) -> LinkPage:
    """The page of ``token`` for ``purpose`` (:data:`UNSUBSCRIBE` or :data:`CONFIRM`); with
    ``act``, the request carried out first. What is recorded is dated by the database's
    clock (the local one only for an entry of the journal, when the database is away)."""
    purposes = (UNSUBSCRIBE, TEST) if purpose == UNSUBSCRIBE else (purpose,)
    try:  # tokens are dated by the day: the local clock decides, without the database
        claim = verify_token(token, links.secrets, datetime.now(UTC).date(), purposes=purposes)
    except TokenError:
        return LinkPage("invalid")
    now = datetime.now(UTC)
    try:
        with links.open_store() as store:
            now = store.clock()()
            links.journal.apply(store)
            spec = links.lists(store).get(claim.list_name)
            if claim.subscriber_id is None:  # a test send: nothing to change
                language = claim.language or ""
                return LinkPage("test", claim.language,
                                spec.title_in(language) if spec else claim.list_name)
            subscriber = store.subscribers.by_id(claim.subscriber_id)
            title = spec.title_in(subscriber.language) if spec else claim.list_name
            page = LinkPage("", subscriber.language, title, subscriber.email)
            if not act:
                state = ("confirm-unsubscribe" if purpose == UNSUBSCRIBE
                         else "confirm-subscription")
            elif purpose == UNSUBSCRIBE:
                store.subscribers.unsubscribe(subscriber.id, claim.list_name, method, now)
                state = "unsubscribed"
            else:
                confirmed = store.subscribers.confirm(subscriber.id, claim.list_name, now)
                if confirmed:
                    store.readers.record(subscriber.id, "confirmed", "their confirmation link",
                                         now, detail=claim.list_name)
                active = store.subscribers.memberships(subscriber.id).get(
                    claim.list_name) == "active"
                # Only what is true: a link whose invitation no longer stands (the reader
                # left since, or was suppressed) confirms nothing.
                state = "subscribed" if confirmed or active else "invalid"
            return LinkPage(state, page.language, page.list_title, page.email)
    except NotFound:
        return LinkPage("invalid")
    except DatabaseFault:
        if not (act and purpose == UNSUBSCRIBE and claim.subscriber_id is not None):
            return LinkPage("busy")
        links.journal.record(PendingUnsubscribe(claim.subscriber_id, claim.list_name,
                                                method, now))
        return LinkPage("recorded")


__all__ = ["CONFIRM", "UNSUBSCRIBE", "LinkPage", "Links", "follow"]
