"""Proofs: a copy of an alert sent to one address and recorded nowhere (``send --test-to``),
one per language asked for, or else in the language the address reads (when it is a
subscriber) or the list's first. Its unsubscribe links carry a signed token of the test
purpose: the web app says the message was a test and changes no subscription. Every proof
has a Message-ID of its own, so a mail client shows a second test beside the first."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from newsletter.delivery.transport import Transport
from newsletter.errors import NewsletterError, NotFound
from newsletter.issues.plan import plan_issue
from newsletter.lists.spec import ListSpec
from newsletter.mail.messages import Addressee, MessageBuilder
from newsletter.mail.render import Renderer
from newsletter.store import Store
from newsletter.subscribers.addresses import normalise_address


@dataclass(frozen=True)
class Proof:
    address: str
    language: str
    message: bytes


def proof_languages(store: Store, spec: ListSpec, address: str,
                    asked: Sequence[str] = ()) -> list[str]:
    """The languages of the proofs to send: those ``asked`` for (each once), else the
    language the address reads in ``spec`` when it is a subscriber, else the list's first."""
    if asked:
        return list(dict.fromkeys(asked))
    try:
        reader = store.subscribers.get(normalise_address(address))
    except NotFound:
        return [spec.languages[0]]
    return [spec.reader_language(reader.language)]


def make_proof(store: Store, spec: ListSpec, report_id: int, address: str, language: str, *,
               builder: MessageBuilder, renderer: Renderer, base_url: str,
               now: datetime) -> Proof:
    """The alert of ``report_id`` as a reader of ``spec`` in ``language`` would get it."""
    planned = plan_issue(store, [report_id], kind="alert", languages=[language],
                         policy=spec.policy, list_title=spec.titles, base_url=base_url,
                         issue_date=spec.local_date(now))
    if language not in planned.mails:
        raise NewsletterError(f"nothing to send in {language}: "
                              + "; ".join(planned.held.get(language, [])),
                              hint="approve the translation (`newsletter review`), or send "
                                   "the test in another language with --lang")
    rendered = renderer.render(planned.mails[language])
    address = normalise_address(address)
    unique = secrets.token_hex(6)  # a second test is a second message, not a duplicate
    message = builder.message(
        builder.template(rendered, spec.name, date=now),
        Addressee(address, None,
                  builder.links.message_id(f"test.{report_id}.{language}.{unique}"),
                  list_name=spec.name, issued=now.date()))
    return Proof(address, language, message)


def send_proof(proof: Proof, transport: Transport, sender: str, report_id: int) -> None:
    outcome = transport.deliver(sender, proof.address, proof.message, f"test-{report_id}")
    if not outcome.accepted:
        raise NewsletterError(f"the test message was refused: {outcome.code} {outcome.text}")
