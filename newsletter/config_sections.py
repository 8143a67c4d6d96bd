"""The sections of the settings table: each setting's default, one line of documentation,
whether it is a secret, and for a number its range. :mod:`newsletter.config` loads them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from newsletter.languages import LANGUAGES


def setting(default: Any, doc: str, *, secret: bool = False, choices: tuple[str, ...] = (),
            bounds: tuple[float, float] | None = None) -> Any:
    """Declare one setting: its default, one line of documentation, whether it is a secret,
    and for a number the range it must fall in (a number setting must declare one)."""
    meta = {"doc": doc, "secret": secret, "choices": choices, "bounds": bounds}
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class PathsSettings:
    """Where an instance keeps its files; relative paths are relative to the instance folder."""

    seeds: str = setting("seeds", "Inbox folder scanned for new report files.")
    quarantine: str = setting(
        "var/quarantine", "Where unreadable reports are moved, each with a .reason.txt beside it."
    )
    database: str = setting("var/newsletter.db", "SQLite database file (created on first use).")
    templates: str = setting("templates", "Email templates (Jinja2): base, alert and digest.")
    translations: str = setting(
        "translations", "Gettext catalogs of the templates' words, <locale>/LC_MESSAGES/."
    )
    outbox: str = setting("var/outbox", "Where `newsletter preview` writes .html, .txt and .eml.")


@dataclass(frozen=True)
class DatabaseSettings:
    """Where the data lives: SQLite on this machine, or PostgreSQL shared by several."""

    url: str = setting(
        "", "Empty: the SQLite file of [paths] database. sqlite:///PATH for another file, or "
        "postgresql://USER@HOST/NAME; a URL with a password only in NEWSLETTER_DATABASE_URL.",
    )
    pool_size: int = setting(4, "Most PostgreSQL connections one process keeps open.",
        bounds=(1, 100))
    busy_seconds: float = setting(
        30.0, "How long a SQLite writer waits for another process's write to finish before "
        "it says that the database is locked.", bounds=(0.1, 3_600))
    outage_seconds: float = setting(
        300.0, "How long a running service or worker waits for a database that went away "
        "(a restart, a lock held too long) before it exits with an error.", bounds=(0, 7 * 86_400))


@dataclass(frozen=True)
class IngestSettings:
    """How `newsletter ingest` picks up report files."""

    extensions: list[str] = setting(
        [".txt"], "File name endings treated as reports; other files are left alone."
    )
    recursive: bool = setting(True, "Also scan sub-folders of the inbox (hidden ones excepted).")
    max_bytes: int = setting(
        2_000_000, "Files larger than this are quarantined as too large, without being read.",
        bounds=(1, 100_000_000))
    settle_seconds: float = setting(
        2.0,
        "A file modified less than this many seconds ago is taken to be still being written "
        "and is left for the next run.",
        bounds=(0, 86_400))
    places: str = setting(
        "translations/places.csv",
        "An office's own additions to the gazetteer of countries and regions that list "
        "filters match on (CSV: code, alpha3, parent, en, ru, kk); used when the file exists.",
    )


@dataclass(frozen=True)
class SummarySettings:
    """The summary stored with every report, in the report's own language."""

    sentences: int = setting(3, "Most sentences in a report's summary.", bounds=(1, 20))
    words: int = setting(120, "Most words in a report's summary.", bounds=(5, 1_000))


@dataclass(frozen=True)
class TranslateSettings:
    """Offline machine translation of titles, summaries and bodies."""

    languages: list[str] = setting(
        list(LANGUAGES), "Editions to produce; a report in one of them is its own original."
    )
    policy: str = setting(
        "fallback",
        "What a flagged or missing translation does by default (lists may override): hold "
        "keeps that language back and says why; fallback sends the original with a notice.",
        choices=("hold", "fallback"),
    )
    glossary: str = setting(
        "translations/glossary.csv", "CSV of fixed translations (columns en, ru, kk)."
    )
    bodies: bool = setting(True, "Also translate report bodies (for the web archive).")
    threads: int = setting(0, "CTranslate2 threads per batch; 0 picks 1 on machines of <= 2 cores.",
        bounds=(0, 256))
    parallel: int = setting(
        0, "Batches each model decodes at once, each on its own threads; 0 picks the cores "
        "divided by threads (2 on a machine of 2 cores).",
        bounds=(0, 64))
    beam_size: int = setting(2, "Beam width: 1 is fastest, 4 is argostranslate's default.",
        bounds=(1, 16))
    batch_sentences: int = setting(
        256, "Sentences per CTranslate2 batch call (each language is translated in such chunks).",
        bounds=(1, 4_096))
    alert_wait_seconds: float = setting(
        600.0, "How long an alert waits for its report's translations; then the list's policy "
        "decides what readers of a language not yet translated get.",
        bounds=(0, 7 * 86_400))
    job_lease_seconds: float = setting(
        300.0, "A translation job's lease, renewed after each batch; when it runs out (the "
        "worker died) another worker takes the job.",
        bounds=(1, 86_400))


@dataclass(frozen=True)
class ModelsSettings:
    """Where translation packages live and how large an archive may be."""

    folder: str = setting(
        "var/argos", "Argos folder of the instance: packages/ holds installed models."
    )
    max_bytes: int = setting(
        2_000_000_000, "Largest size a model archive may unpack to; larger ones are refused.",
        bounds=(1, 50_000_000_000))


@dataclass(frozen=True)
class MailSettingsSection:
    """How outgoing mail identifies itself."""

    from_name: str = setting("Humanitarian updates", "Display name of the sender.")
    from_address: str = setting(
        "updates@example.org", "Sender address (also the domain of Message-IDs and List-Ids)."
    )
    unsubscribe_address: str = setting(
        "unsubscribe@example.org", "Address of the mailto: unsubscribe link (List-Unsubscribe)."
    )
    list_title: str = setting("Humanitarian updates", "Name shown in mails for the default list.")

    @property
    def domain(self) -> str:
        """The sender's domain: of every Message-ID and List-Id, and DKIM's by default."""
        return self.from_address.rpartition("@")[2]


@dataclass(frozen=True)
class DeliverySettings:
    """How finished messages leave."""

    transport: str = setting(
        "file", "smtp sends through [smtp]; file writes .eml files to [delivery] folder.",
        choices=("smtp", "file"),
    )
    folder: str = setting("var/outbox/mail", "Folder of the file transport.")
    file_format: str = setting(
        "eml", "The file transport writes one .eml per message, or appends to outbox.mbox.",
        choices=("eml", "mbox"),
    )
    connections: int = setting(4, "SMTP connections used at once.", bounds=(1, 100))
    rate: float = setting(0.0, "Most messages per second over all connections; 0 for no limit.",
        bounds=(0, 100_000))
    lease: float = setting(
        120.0, "Seconds a claim lasts unless its sender renews it (a live sender does, every "
        "third of this); after a crash or freeze, its messages are taken up again.",
        bounds=(0.5, 86_400))
    max_attempts: int = setting(8, "Attempts for a temporary failure before it counts as failed.",
        bounds=(1, 100))
    retry_base_seconds: float = setting(
        60.0, "Delay before the first retry of a temporary failure; it doubles with each "
        "attempt (with jitter) up to retry_cap_seconds.",
        bounds=(0.1, 86_400))
    retry_cap_seconds: float = setting(21600.0, "Longest delay between two retries.",
        bounds=(0.1, 30 * 86_400))
    breaker_failures: int = setting(
        5, "Consecutive failures to connect to the relay after which a sweep stops and leaves "
        "the rest queued (the relay is taken to be down).",
        bounds=(1, 1_000))
    bounce_threshold: int = setting(
        3, "Bounce score at which an address is stopped: each permanent failure, refused "
        "while sending or returned later, adds 1 ([bounces] says how it decays).",
        bounds=(1, 1_000))
    poll_seconds: float = setting(
        5.0, "How often a delivery or translation worker looks for work when it has none.",
        bounds=(0.1, 3_600))


@dataclass(frozen=True)
class BouncesSettings:
    """Bounces and complaints that come back: the return path, where they are read, the rules."""

    return_path: str = setting(
        "", "Return path, e.g. bounces@news.example.org: each message goes out from "
        "bounces+TOKEN@… (TOKEN signed with [web] secret), so what comes back names its "
        "message and reader. Empty: mail goes out from [mail] from_address.")
    source: str = setting(
        "none", "Where returned mail is read: maildir, mbox, imap, pop3, or none.",
        choices=("none", "maildir", "mbox", "imap", "pop3"))
    path: str = setting("", "The Maildir folder, or the mbox file, of returned mail.")
    host: str = setting("localhost", "IMAP or POP3 server.")
    port: int = setting(
        0, "IMAP or POP3 port; 0: 993 or 995 for tls, 143 or 110 otherwise.",
        bounds=(0, 65_535))
    security: str = setting(
        "tls", "tls (implicit) or starttls (certificates always verified); none is for a "
        "server on this machine only.", choices=("tls", "starttls", "none"))
    username: str = setting("", "IMAP or POP3 user name.")
    password: str = setting("", "IMAP or POP3 password.", secret=True)
    ca_file: str = setting(
        "", "PEM file of certificate authorities to trust besides the system's (a private CA).")
    folder: str = setting("INBOX", "IMAP folder that receives returned mail.")
    done_folder: str = setting(
        "newsletter-read", "IMAP folder each message read is moved to (made when missing).")
    timeout: float = setting(60.0, "Seconds to wait for the IMAP or POP3 server.",
        bounds=(1, 3_600))
    poll_seconds: float = setting(
        300.0, "How often `newsletter run` (or the scheduler) reads the source.",
        bounds=(1, 86_400))
    max_bytes: int = setting(
        1_000_000, "Bytes read of each returned message: its head, where the report is (the "
        "message it returns comes last).", bounds=(10_000, 100_000_000))
    max_messages: int = setting(
        2_000, "Most messages read in one go; the rest wait for the next.",
        bounds=(1, 10_000_000))
    temporary_weight: float = setting(
        0.5, "What a temporary failure (4.x.x) adds to a reader's bounce score; alone it never "
        "stops a reader. A permanent failure adds 1; [delivery] bounce_threshold stops them.",
        bounds=(0, 100))
    half_life_days: float = setting(
        7.0, "Days in which a reader's bounce score halves.", bounds=(0.01, 3_650))
    suppress_days: float = setting(
        30.0, "Days a reader stopped by their score is not written to (a soft suppression); "
        "0 for until `subscribers reactivate`. A 'user unknown' stops them for good.",
        bounds=(0, 3_650))
    complaint: str = setting(
        "list", "A complaint unsubscribes its reader from the list of that message, or from "
        "all lists.", choices=("list", "all"))
    delivered_days: float = setting(
        3.0, "Days after which a sent message that nothing came back for counts as delivered.",
        bounds=(0, 365))


CAP_CATEGORIES = ("Geo", "Met", "Safety", "Security", "Rescue", "Fire", "Health", "Env",
                  "Transport", "Infra", "CBRNE", "Other")
CAP_URGENCIES = ("Immediate", "Expected", "Future", "Past", "Unknown")
CAP_SEVERITIES = ("Extreme", "Severe", "Moderate", "Minor", "Unknown")
CAP_CERTAINTIES = ("Observed", "Likely", "Possible", "Unlikely", "Unknown")


@dataclass(frozen=True)
class CapSettings:
    """CAP 1.2 alerts: their sender, and what neither a list nor a report sets."""

    sender: str = setting(
        "", "CAP sender: an address or a name without spaces, commas, < or & (default: "
        "[mail] from_address).")
    status: str = setting("Actual", "CAP status of every alert.",
                          choices=("Actual", "Exercise", "System", "Test", "Draft"))
    category: str = setting("Other", "CAP category.", choices=CAP_CATEGORIES)
    urgency: str = setting("Unknown", "CAP urgency.", choices=CAP_URGENCIES)
    severity: str = setting("Unknown", "CAP severity.", choices=CAP_SEVERITIES)
    certainty: str = setting("Unknown", "CAP certainty.", choices=CAP_CERTAINTIES)


@dataclass(frozen=True)
class PrivacySettings:
    """What is kept of readers, and for how long."""

    erase_unsubscribed_after_days: float = setting(
        0.0, "Erase readers who left (unsubscribed from everything) more than this many days "
        "ago, as `subscribers erase` does; 0 keeps them.", bounds=(0, 36_500))


@dataclass(frozen=True)
class SmtpSettings:
    """The SMTP relay."""

    host: str = setting("localhost", "Relay host name.")
    port: int = setting(587, "Relay port (587 for STARTTLS, 465 for implicit TLS).",
        bounds=(1, 65_535))
    security: str = setting(
        "starttls", "starttls or tls (certificates always verified); none sends in plain text "
        "and is meant for a relay on this machine only.", choices=("starttls", "tls", "none"),
    )
    username: str = setting("", "User name for AUTH; empty for none.")
    password: str = setting("", "Password for AUTH.", secret=True)
    timeout: float = setting(
        600.0, "Seconds to wait for the relay; RFC 5321 allows 10 minutes after the data.",
        bounds=(1, 3_600))
    ca_file: str = setting(
        "", "PEM file of certificate authorities to trust besides the system's (a private CA)."
    )


@dataclass(frozen=True)
class DkimSettings:
    """Optional DKIM signing of every message (List-Unsubscribe headers included)."""

    key_file: str = setting(
        "", "PEM private key (keep it outside the repository); empty turns signing off."
    )
    selector: str = setting("newsletter", "DKIM selector (the DNS record is SELECTOR._domainkey).")
    domain: str = setting("", "Signing domain; empty means the domain of [mail] from_address.")


@dataclass(frozen=True)
class ScheduleSettings:
    """The service that `newsletter run` keeps running."""

    poll_seconds: float = setting(60.0, "How often the inbox is checked for new reports.",
        bounds=(0.1, 86_400))
    deliver_seconds: float = setting(
        60.0, "How often the outbox is swept for messages due (retries included).",
        bounds=(0.1, 86_400))
    alert_max_age_hours: float = setting(
        48.0, "A report older than this (by its original publication date: a repost of an old "
        "report is old news) is not alerted but goes into the list's next digest.",
        bounds=(0, 8_760))
    catch_up: str = setting(
        "one", "After downtime: one digest for all the missed runs of a list, or none.",
        choices=("one", "none"),
    )
    lease_seconds: float = setting(
        30.0, "The sending lease; a second `newsletter run` waits until it runs out.",
        bounds=(1, 3_600))


@dataclass(frozen=True)
class WebSettings:
    """The local web app: previews, the archive and unsubscribe pages."""

    base_url: str = setting(
        "http://127.0.0.1:8025", "Public address of the web app, used in links inside mails; "
        "mail sent over SMTP needs an https address that readers can reach.",
    )
    allow_insecure_links: bool = setting(
        False, "Send over SMTP even though base_url is plain http or this machine (localhost, "
        "127.0.0.1, 0.0.0.0): for a test relay only, never for real readers.",
    )
    secret: str = setting(
        "", "Key that signs unsubscribe and confirmation links (32+ random characters).",
        secret=True,
    )
    old_secrets: list[str] = setting(
        [], "Retired signing keys, comma-separated: links they signed keep working.", secret=True
    )
    trusted_proxies: list[str] = setting(
        [], "Addresses of the reverse proxies in front of `newsletter serve`, comma-separated: "
        "only their X-Forwarded-For is believed (rate limits count by the client it names).")
    max_body_bytes: int = setting(
        65_536, "Largest request body the web app reads; a larger one is answered 413.",
        bounds=(1_024, 10_000_000))
    max_connections: int = setting(
        200, "Most connections `newsletter serve` keeps open; more are closed at once.",
        bounds=(1, 10_000))
    request_timeout: float = setting(
        15.0, "Seconds a client has to send a whole request (headers and body); a slower one is "
        "disconnected.", bounds=(1, 600))
    host: str = setting("127.0.0.1", "Interface `newsletter serve` listens on.")
    port: int = setting(8025, "Port `newsletter serve` listens on.", bounds=(1, 65_535))


@dataclass(frozen=True)
class LogSettings:
    """Diagnostics written to standard error."""

    level: str = setting(
        "warning", "Least severe log level shown.", choices=("debug", "info", "warning", "error")
    )
    format: str = setting(
        "auto",
        "text for people, json for one JSON object per line; auto picks text on a terminal.",
        choices=("auto", "text", "json"),
    )
