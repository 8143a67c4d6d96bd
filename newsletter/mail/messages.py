"""The one message builder: every message that leaves newsletter (an issue's, a test send, an
invitation) or is shown before it does (previews on disk and on the web) is built here (pure,
given a DKIM signer).

A message is a :class:`~newsletter.mail.compose.MessageTemplate` of a rendered mail, built once
per (list, language, format), filled in for one recipient with a Message-ID and signed
unsubscribe links (:class:`~newsletter.mail.links.Links`). :meth:`MessageBuilder.message` is
the one path that finishes a message to be sent, whatever its kind: its links are always
signed (a subscriber's, or a test send's, which change nothing), so it needs the signing key,
and it DKIM-signs every message when signing is on. Previews (:meth:`MessageBuilder.preview`)
get a made-up reader whose unsubscribe link changes nothing, are not signed and never leave.
``tests/unit/test_architecture.py`` checks that no other module fills in a template.

:meth:`MessageBuilder.content` is the sending path: the message as the parts the template
laid out (:class:`~newsletter.mail.content.Content`), which the SMTP session writes as they
are, already dot-stuffed; :meth:`MessageBuilder.message` is the same message as one
``bytes``. With DKIM the signature field goes on top of the same parts (the signature itself
hashes the whole message, joined once).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime

from newsletter.mail.compose import MailSettings, MessageTemplate, Recipient, build_template
from newsletter.mail.content import Content
from newsletter.mail.dkim import DkimSigner
from newsletter.mail.links import Links
from newsletter.mail.render import Rendered

TEXT = "text"  # the subscriber format that gets a single text/plain body
PREVIEW_NAME = "Preview Reader"


@dataclass(frozen=True)
class Addressee:
    """Who one message goes to, and what its links are signed for: ``subscriber_id``'s
    membership of ``list_name``, or, with no subscriber (a test send), the test purpose, whose
    links unsubscribe nobody."""

    address: str
    name: str | None
    message_id: str  # without angle brackets (:meth:`Links.message_id` makes one)
    list_name: str
    issued: date  # the day the links are signed for
    subscriber_id: int | None = None  # None: a test send


class MessageBuilder:
    """Builds templates and fills them in; ``mail`` gives a list's From, List-Id and title."""

    def __init__(self, mail: Callable[[str], MailSettings], links: Links,
                 dkim: DkimSigner | None = None) -> None:
        self.mail = mail
        self.links = links
        self.dkim = dkim

    def template(self, rendered: Rendered, list_name: str, *, date: datetime,
                 format: str = "html") -> MessageTemplate:
        return build_template(rendered, self.mail(list_name), date=date,
                              text_only=format == TEXT)

    def content(self, template: MessageTemplate, to: Addressee) -> Content:
        """The finished message for ``to``, with signed links, DKIM-signed when signing is on,
        in parts: every message that is sent comes from here."""
        if to.subscriber_id is None:
            url, mailto = self.links.test(to.list_name, template.language, to.issued)
        else:
            url, mailto = self.links.unsubscribe(to.subscriber_id, to.list_name, to.issued)
        raw = template.fill(Recipient(
            address=to.address, name=to.name, message_id=to.message_id,
            unsubscribe_url=url, unsubscribe_mailto=mailto,
            manage_url=self.links.manage(to.subscriber_id, to.issued)))
        if self.dkim is None:
            return raw
        return raw.headed(self.dkim.signature(bytes(raw)))

    def message(self, template: MessageTemplate, to: Addressee) -> bytes:
        """:meth:`content` as one ``bytes``."""
        return bytes(self.content(template, to))

    def preview(self, template: MessageTemplate, name: str) -> bytes:
        """``template`` as the made-up preview reader gets it (never signed, never sent)."""
        url, mailto = self.links.preview()
        return template.personalise(Recipient(
            address=f"preview@{self.links.domain}", name=PREVIEW_NAME,
            message_id=self.links.message_id(f"{name}.preview"), unsubscribe_url=url,
            unsubscribe_mailto=mailto, manage_url=self.links.manage(None, date.min)))
