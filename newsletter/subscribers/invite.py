"""Invite an address to a list (double opt-in): store it as pending and send it one
confirmation mail; it gets nothing else until its owner confirms through the web app."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from newsletter.delivery.transport import Outcome, Transport
from newsletter.errors import NewsletterError
from newsletter.lists.spec import ListSpec
from newsletter.mail.messages import Addressee, MessageBuilder
from newsletter.mail.render import Renderer
from newsletter.store import Store
from newsletter.subscribers.addresses import Status, SubscriberRow
from newsletter.subscribers.privacy import Forgotten


@dataclass(frozen=True)
class Invitation:
    """What became of an invitation: ``outcome`` is None when the address was already an
    active member (nothing sent)."""

    email: str
    outcome: Outcome | None


def invite(store: Store, spec: ListSpec, row: SubscriberRow, *, builder: MessageBuilder,
           renderer: Renderer, transport: Transport, sender: str,
           now: datetime, forgotten: Forgotten | None = None) -> Invitation:
    """Add ``row`` to ``spec`` as pending and mail it the confirmation link, in the language
    and format it ends up with (an address already stored keeps what ``row`` does not give).
    A reader who had unsubscribed is pending again, and active again only once they follow
    the link (their consent, given anew). A bounced or suppressed address is refused, and
    nothing is sent."""
    subscribers = store.subscribers
    known = subscribers.find(row.email)
    if known is not None and known.status in (Status.BOUNCED, Status.SUPPRESSED):
        raise NewsletterError(f"{row.email} is {known.status}: not invited",
                              hint="a bounced or suppressed address is never written to again")
    counts = subscribers.import_rows([row], spec.name, consent_source="invitation", now=now,
                                     status="pending", forgotten=forgotten)
    if counts.not_resubscribed and known is None:
        raise NewsletterError(f"{row.email} asked to be forgotten: not invited",
                              hint="a reader who was erased subscribes again by themselves")
    subscriber = subscribers.get(row.email)
    if subscriber.status == Status.ACTIVE and subscribers.memberships(
            subscriber.id).get(spec.name) == "active":
        return Invitation(row.email, None)
    subscribers.reinvite(subscriber.id, spec.name, now)
    today = now.date()
    rendered = renderer.render_confirmation(
        subscriber.language, spec.title_in(subscriber.language),
        builder.links.confirm(subscriber.id, spec.name, today),
        today)
    message = builder.message(
        builder.template(rendered, spec.name, date=now, format=subscriber.format),
        Addressee(row.email, subscriber.name,
                  builder.links.message_id(f"confirm.{subscriber.id}.{today:%Y%m%d}.{spec.name}"),
                  subscriber_id=subscriber.id, list_name=spec.name, issued=today))
    outcome = transport.deliver(sender, row.email, message,
                                f"confirm-{subscriber.id}-{spec.name}")
    if not outcome.accepted:
        raise NewsletterError(f"the relay refused the invitation: {outcome.code} {outcome.text}",
                              hint="check the address; it stays pending")
    return Invitation(row.email, outcome)
