"""The bytes of each queued message: its issue's template, filled in per recipient (reads the
store). The sender takes them as :class:`~newsletter.mail.content.Content` (parts, not joined)."""

from __future__ import annotations

import json
import logging
from datetime import date

from newsletter.delivery.rules import OutboxRow
from newsletter.mail.compose import MessageTemplate
from newsletter.mail.content import Content
from newsletter.mail.messages import Addressee, MessageBuilder
from newsletter.mail.render import Rendered, with_edition_notice
from newsletter.store import Store

log = logging.getLogger(__name__)


class IssueMessages:
    """The bytes of each outbox row: its issue's template for its language and format, filled
    in by the one :class:`MessageBuilder`. Templates are built once per (issue, language,
    format, language wanted first) and kept for the life of the sender, so later sweeps
    reuse them."""

    def __init__(self, store: Store, builder: MessageBuilder) -> None:
        self.store = store
        self.builder = builder
        self._templates: dict[tuple[int, str, str, str | None],
                              tuple[MessageTemplate, str, date]] = {}

    def template(self, issue_id: int, language: str, format: str = "html",
                 wanted: str | None = None) -> tuple[MessageTemplate, str, date]:
        """The template of ``issue_id`` in ``language``; for a reader who ``wanted`` another
        language first, with the notice that this is the next of their chain."""
        key = (issue_id, language, format, wanted)
        found = self._templates.get(key)
        if found is None:
            issue = self.store.issues.get(issue_id)
            rendered = with_edition_notice(
                Rendered(**json.loads(self.store.issues.bodies(issue_id)[language])), wanted)
            template = self.builder.template(rendered, issue.list_name, date=issue.created_at,
                                             format=format)
            found = self._templates[key] = (template, issue.list_name, issue.created_at.date())
        return found

    def content(self, row: OutboxRow) -> Content:
        """The message of ``row`` in parts, as the sender hands it to a session (the SMTP one
        writes them, already dot-stuffed, without joining them)."""
        template, list_name, sent_on = self.template(row.issue_id, row.language, row.format,
                                                     row.wanted)
        return self.builder.content(template, Addressee(
            row.address, row.name, row.message_id, subscriber_id=row.subscriber_id,
            list_name=list_name, issued=sent_on))

    def message(self, row: OutboxRow) -> bytes:
        """The message of ``row`` as one ``bytes``."""
        return bytes(self.content(row))
