"""Readers helping themselves: signing up, asking for the link to their own page, and what
they change there (their lists, languages, format, a pause, their address, leaving, their
data). The web app calls these; every change is recorded as made through the reader's own
link (``store.readers``).

Nothing here tells whether an address is known: signing up and asking for a link answer the
same whatever the address, and an address that bounced, complained, was suppressed or erased
is passed over in silence.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from newsletter.delivery.transport import Transport
from newsletter.errors import NewsletterError
from newsletter.lists.schedule import next_fire
from newsletter.lists.spec import ListSpec, frequencies, variant_of
from newsletter.mail.messages import Addressee, MessageBuilder
from newsletter.mail.render import ADDRESS_SUBJECT, MANAGE_SUBJECT, Renderer
from newsletter.store import Store
from newsletter.subscribers.addresses import Status, Subscriber, SubscriberRow
from newsletter.subscribers.invite import invite
from newsletter.subscribers.privacy import Forgotten

log = logging.getLogger(__name__)
VIA = "their own link"
READER_MAIL = "subscriptions"  # the List-Id of mails about a reader's subscriptions
STOPPED = (Status.BOUNCED, Status.COMPLAINED, Status.SUPPRESSED)


@dataclass(frozen=True)
class Mailer:
    """What mailing a reader a link needs."""

    renderer: Renderer
    builder: MessageBuilder
    transport: Transport
    sender: str  # the envelope sender

    def send(self, subscriber: Subscriber, name: str, subject: str, url: str, now: datetime,
             *, to: str | None = None, **context: object) -> None:
        language = subscriber.chain[0]
        rendered = self.renderer.render_link_mail(name, language, subject, url, now.date(),
                                                  **context)
        address = to or subscriber.email
        message = self.builder.message(
            self.builder.template(rendered, READER_MAIL, date=now, format=subscriber.format),
            Addressee(address, subscriber.name,
                      self.builder.links.message_id(f"{name}.{subscriber.id}.{now:%Y%m%d%H%M%S}"),
                      subscriber_id=subscriber.id, list_name=READER_MAIL, issued=now.date()))
        outcome = self.transport.deliver(self.sender, address, message,
                                         f"{name}-{subscriber.id}")
        if not outcome.accepted:
            log.warning("%s to subscriber %d not accepted: %s %s", name, subscriber.id,
                        outcome.code, outcome.text, extra={"event": "reader_mail"})


def sign_up(store: Store, public: Mapping[str, ListSpec], row: SubscriberRow,
            chosen: Sequence[str], *, mailer: Mailer, forgotten: Forgotten | None,
            now: datetime) -> None:
    """Ask ``row`` to confirm each chosen public list (double opt-in: nothing is active
    until they follow the link). A stopped or erased address is passed over in silence; a
    reader already in a list gets nothing for it."""
    for name in chosen:
        spec = public.get(name)
        if spec is None:
            continue
        try:
            invite(store, spec, row, builder=mailer.builder, renderer=mailer.renderer,
                   transport=mailer.transport, sender=mailer.sender, now=now,
                   forgotten=forgotten)
        except NewsletterError as exc:  # bounced, suppressed, erased: said to nobody
            log.info("sign-up passed over: %s", exc.message, extra={"event": "sign_up"})


def mail_manage_link(store: Store, address: str, *, mailer: Mailer, now: datetime) -> None:
    """Mail the reader of ``address`` a fresh link to their own page (nothing, silently,
    when there is no such reader or they are stopped)."""
    subscriber = store.subscribers.find(address)
    if subscriber is None or subscriber.status in STOPPED:
        return
    mailer.send(subscriber, "manage_link", MANAGE_SUBJECT,
                mailer.builder.links.manage(subscriber.id, now.date()), now)


def ask_new_address(store: Store, subscriber: Subscriber, address: str, *, mailer: Mailer,
                    now: datetime) -> None:
    """Mail the new address a link that makes it the reader's (it changes nothing until
    followed)."""
    url = mailer.builder.links.new_address(subscriber.id, address, now.date())
    mailer.send(subscriber, "new_address", ADDRESS_SUBJECT, url, now, to=address,
                address=subscriber.email)
    store.readers.record(subscriber.id, "asked to change address", VIA, now)


def set_lists(store: Store, subscriber: Subscriber, wanted: set[str],
              public: Mapping[str, ListSpec], now: datetime) -> None:
    """The reader is in the public lists of ``wanted`` and leaves the others they were in."""
    memberships = store.subscribers.memberships(subscriber.id)
    with store.transaction():
        for name in sorted(wanted):
            if name in public and memberships.get(name) != Status.ACTIVE:
                store.readers.join(subscriber.id, name, VIA, now)
        for name, status in sorted(memberships.items()):
            if name not in wanted and status != Status.UNSUBSCRIBED:
                store.subscribers.unsubscribe(subscriber.id, name, VIA, now)


def set_frequency(store: Store, subscriber: Subscriber, spec: ListSpec, frequency: str | None,
                  now: datetime, *, via: str = VIA) -> bool:
    """How often ``subscriber`` gets ``spec`` (None: as it goes out). The change takes
    effect after the next digest of the frequency taken or left, so that the reader gets
    every report once across it. False when the list has no such frequency, or nothing
    changed."""
    if frequency and frequency not in frequencies(spec):
        return False
    current = dict(store.subscribers.frequencies(subscriber.id, current=True))
    switching = frequency or current.get(spec.name)
    variant = variant_of(spec, switching) if switching else None
    if variant is None:
        return False
    return store.readers.set_frequency(subscriber.id, spec.name, frequency or None,
                                       next_fire(variant, now), via, now)


def leave(store: Store, subscriber: Subscriber, now: datetime) -> None:
    """Unsubscribe from everything."""
    with store.transaction():
        for name, status in store.subscribers.memberships(subscriber.id).items():
            if status != Status.UNSUBSCRIBED:
                store.subscribers.unsubscribe(subscriber.id, name, VIA, now)
        store.subscribers.set_status(subscriber.id, Status.UNSUBSCRIBED, VIA, now)
