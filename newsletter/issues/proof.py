"""A proof: one copy of an alert in a list's first language, sent to one address and
recorded nowhere (``send --test-to``). Its unsubscribe links carry a signed token of the test
purpose: the web app says the message was a test and changes no subscription."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from newsletter.delivery.transport import Transport
from newsletter.errors import NewsletterError
from newsletter.issues.plan import plan_issue
from newsletter.mail.messages import Addressee, MessageBuilder
from newsletter.mail.render import Renderer
from newsletter.store import Store
from newsletter.subscribers.core import ListSpec, normalise_address
from newsletter.translate.editions import Policy


@dataclass(frozen=True)
class Proof:
    address: str
    language: str
    message: bytes


def make_proof(store: Store, spec: ListSpec, report_id: int, address: str, *,
               builder: MessageBuilder, renderer: Renderer, base_url: str,
               now: datetime) -> Proof:
    """The alert of ``report_id`` as a reader of ``spec``'s first language would get it."""
    language = spec.languages[0]
    planned = plan_issue(store, [report_id], kind="alert", languages=[language],
                         policy=Policy(spec.policy), list_title=spec.titles, base_url=base_url,
                         issue_date=spec.local_date(now))
    if language not in planned.mails:
        raise NewsletterError(f"nothing to send in {language}: "
                              + "; ".join(planned.held.get(language, [])))
    rendered = renderer.render(planned.mails[language])
    address = normalise_address(address)
    message = builder.message(
        builder.template(rendered, spec.name, date=now),
        Addressee(address, None, builder.links.message_id(f"test.{report_id}.{language}"),
                  list_name=spec.name, issued=now.date()))
    return Proof(address, language, message)


def send_proof(proof: Proof, transport: Transport, sender: str, report_id: int) -> None:
    outcome = transport.deliver(sender, proof.address, proof.message, f"test-{report_id}")
    if not outcome.accepted:
        raise NewsletterError(f"the test message was refused: {outcome.code} {outcome.text}")
