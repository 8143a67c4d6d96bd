"""The exception tree of the package: every error a user can meet is defined here (pure).

Each derives from :class:`NewsletterError`, carries the fields that locate it, and may carry a
``hint``: the next thing to do. ``cli`` prints ``Error: <message>`` and the hint, and exits 1.

    NewsletterError
    ├── ConfigError           a setting is unknown, malformed, or a secret sits in a file
    │   └── InstanceNotFound  no newsletter.toml in the current folder or its parents
    ├── StoreError            the database cannot be opened or migrated
    │   └── DatabaseFault     a statement failed for a reason of the database's own
    │       ├── DatabaseBusy         another process holds the write lock (try again)
    │       ├── DatabaseFull         the disk (or the database's quota) is full
    │       ├── DatabaseReadOnly     the file or its folder cannot be written
    │       └── DatabaseUnavailable  the server went away (a restart, a network outage)
    ├── ReportError           a report file cannot become a report (quarantine reason)
    ├── NotFound              an ID or name that does not exist
    ├── GlossaryFormatError   the glossary CSV is malformed
    ├── PlacesFormatError     a places CSV (gazetteer) row is malformed (also a ValueError)
    ├── ModelError            a translation model is missing, malformed or fails to load
    ├── AddressError          an address that cannot be a subscriber's
    ├── TokenError            an unsubscribe or confirmation link that is not valid
    │   └── LinkExpired       … because it is too old (what it said is kept, to offer a new one)
    ├── ListError             a list declaration that makes no sense, or no such list
    ├── ComposeError          a value that cannot go into a message safely
    ├── DeliveryError         a transport could not deliver (no connection, cannot write)
    │   └── RelayUnreachable  the relay failed several connections in a row
    ├── BounceSourceError     returned mail cannot be read (a Maildir, an mbox, IMAP, POP3)
    ├── AlreadyRunning        another scheduler holds the scheduler lease
    ├── AlreadySent           a report already went out to a list
    └── LeaseLost             a lease ran out and another process took it over
"""

from __future__ import annotations

from pathlib import Path


class NewsletterError(Exception):
    """Base class; ``hint`` says what the user can do about it."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class ConfigError(NewsletterError):
    """A setting is unknown, has the wrong type, or a secret was put in a file."""

    def __init__(
        self, message: str, *, setting: str | None = None, hint: str | None = None
    ) -> None:
        super().__init__(message, hint=hint)
        self.setting = setting


class InstanceNotFound(ConfigError):
    """No ``newsletter.toml`` was found."""

    def __init__(self, start: Path) -> None:
        super().__init__(
            f"no newsletter.toml in {start} or any folder above it",
            hint="run `newsletter init DIR` to create an instance, "
            "or pass --config PATH/newsletter.toml",
        )
        self.start = start


class StoreError(NewsletterError):
    """The database cannot be opened, or its schema is newer than this program."""


class DatabaseFault(StoreError):
    """A statement failed for a reason of the database's own, not of the statement's: the
    driver's error, converted once where statements are run (``__cause__`` holds it).
    ``where`` names the database (a file, or a URL without its password)."""

    def __init__(self, message: str, *, where: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.where = where


class DatabaseBusy(DatabaseFault):
    """Another process held the write lock longer than the wait allows."""


class DatabaseFull(DatabaseFault):
    """The disk holding the database, or the database's quota, is full."""


class DatabaseReadOnly(DatabaseFault):
    """The database file, its folder or the server refuses writes."""


class DatabaseUnavailable(DatabaseFault, ConnectionError):
    """The connection to the database server was lost and could not be made again."""


class ReportError(NewsletterError):
    """A report file cannot be turned into a report.

    ``reason`` is a short stable code (``empty``, ``too_large``, ``binary``, ``undecodable``,
    ``missing_title``, ``missing_body``) used in quarantine reason files and ``--json`` output;
    the message says what was seen.
    """

    def __init__(self, reason: str, message: str, *, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.reason = reason


class NotFound(NewsletterError):
    """A report, list or subscriber that does not exist was asked for."""


class GlossaryFormatError(NewsletterError):
    """The glossary CSV lacks a language column or has a malformed row."""


class PlacesFormatError(NewsletterError, ValueError):
    """A row of a places CSV (the shipped gazetteer or an office's own) is malformed.

    ``line`` is the 1-based line number in that text; the message starts with it.
    """

    def __init__(self, line: int, message: str) -> None:
        super().__init__(
            f"line {line}: {message}",
            hint="each row is code,alpha3,parent,en,ru,kk (a header line first; lines starting "
            "with # are comments); names are separated by |, the first is the display name",
        )
        self.line = line


class ModelError(NewsletterError):
    """A translation model is missing, malformed or fails to load."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message, hint=hint or "build the package again or take it from a "
                         "source you trust; `newsletter models list` shows what is installed")


class AddressError(NewsletterError):
    """An address that cannot be a subscriber's."""


class TokenError(NewsletterError):
    """An unsubscribe token that is malformed, forged, signed with an unknown key, or too old."""


class LinkExpired(TokenError):
    """A reader's link that was signed by us but is too old; ``claim`` is what it said, so
    that a page can offer to mail a fresh one to the same reader."""

    def __init__(self, message: str, claim: object, *, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.claim = claim


class ListError(NewsletterError):
    """A list declaration that does not make sense, or a list that does not exist."""


class ComposeError(NewsletterError):
    """A value cannot be put into a message header safely."""


class DeliveryError(NewsletterError):
    """The transport could not deliver: no connection, refused, or the folder is unwritable."""


class RelayUnreachable(DeliveryError, ConnectionError):
    """The relay could not be reached for several messages in a row: the sweep stopped and
    left the rest of the outbox queued."""


class BounceSourceError(NewsletterError):
    """Where returned mail is kept cannot be read: a folder that is no Maildir, a server
    that cannot be reached or refuses the login."""


class AlreadyRunning(NewsletterError):
    """Another ``newsletter run`` holds the sending lease."""


class AlreadySent(NewsletterError):
    """A report already went out to a list (another sender may have just sent it)."""

    def __init__(self, list_name: str, report_id: int, issue_id: int) -> None:
        super().__init__(f"report {report_id} was already sent to {list_name} "
                         f"(issue {issue_id})",
                         hint="`newsletter send --test-to ADDRESS` sends a copy")
        self.list_name = list_name
        self.report_id = report_id
        self.issue_id = issue_id


class NothingToSend(NewsletterError):
    """A one-off send whose every language is held back: it would make an empty issue."""

    def __init__(self, list_name: str, report_id: int, why: list[str]) -> None:
        super().__init__(f"nothing of report {report_id} can go to {list_name} now: "
                         + "; ".join(why),
                         hint="approve its translations (`newsletter review list`), or send "
                              "the languages that are ready with --lang")
        self.list_name = list_name
        self.report_id = report_id


class LeaseLost(NewsletterError):
    """A lease ran out and another owner took it: what its old holder was doing is not done."""

    def __init__(self, name: str, owner: str, holder: str | None = None) -> None:
        taker = holder or "another process"
        super().__init__(f"{owner} no longer holds the {name} lease: {taker} took it over",
                         hint="this process stops; the one holding the lease carries on")
        self.name = name
        self.owner = owner
        self.holder = holder
