"""Settings: one table that drives defaults, validation, the example config and the docs.

Precedence, lowest first: the defaults below < ``newsletter.toml`` < ``NEWSLETTER_<SECTION>_<KEY>``
environment variables < command-line flags. Secrets (``secret=True``) are read from the
environment only; a secret found in a file is an error, so it never ends up in a repository.

Loading reads a file and the environment handed in as a mapping; nothing is read at import.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import re
import tomllib
import typing
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from newsletter.config_values import coerce
from newsletter.delivery.relays import PASSWORD_ENV, RelaySpec, parse_relays
from newsletter.errors import ConfigError, InstanceNotFound, ListError
from newsletter.languages import LANGUAGES
from newsletter.lists.parse import parse_list
from newsletter.lists.spec import ListSpec

CONFIG_NAME = "newsletter.toml"
ENV_PREFIX = "NEWSLETTER_"


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
        3, "Permanent refusals after which an address is marked bounced and never sent to.",
        bounds=(1, 1_000))
    poll_seconds: float = setting(
        5.0, "How often a delivery or translation worker looks for work when it has none.",
        bounds=(0.1, 3_600))


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


@dataclass(frozen=True)
class Settings:
    """Every setting of an instance, typed, plus where each value came from."""

    root: Path
    paths: PathsSettings = field(default_factory=PathsSettings)
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    ingest: IngestSettings = field(default_factory=IngestSettings)
    summary: SummarySettings = field(default_factory=SummarySettings)
    translate: TranslateSettings = field(default_factory=TranslateSettings)
    models: ModelsSettings = field(default_factory=ModelsSettings)
    mail: MailSettingsSection = field(default_factory=MailSettingsSection)
    web: WebSettings = field(default_factory=WebSettings)
    delivery: DeliverySettings = field(default_factory=DeliverySettings)
    smtp: SmtpSettings = field(default_factory=SmtpSettings)
    dkim: DkimSettings = field(default_factory=DkimSettings)
    schedule: ScheduleSettings = field(default_factory=ScheduleSettings)
    log: LogSettings = field(default_factory=LogSettings)
    lists: tuple[ListSpec, ...] = ()
    relays: tuple[RelaySpec, ...] = ()
    sources: Mapping[str, str] = field(default_factory=dict)

    def resolve(self, relative: str) -> Path:
        """A path setting made absolute against the instance folder."""
        path = Path(relative).expanduser()
        return path if path.is_absolute() else self.root / path

    @property
    def seeds_dir(self) -> Path:
        return self.resolve(self.paths.seeds)

    @property
    def quarantine_dir(self) -> Path:
        return self.resolve(self.paths.quarantine)

    @property
    def database_path(self) -> Path:
        return self.resolve(self.paths.database)

    @property
    def database_target(self) -> str | Path:
        """The database to open: a PostgreSQL URL, or the SQLite file (made absolute)."""
        url = self.database.url.strip()
        if not url:
            return self.database_path
        if url.startswith("sqlite:///"):  # sqlite:///relative/path, sqlite:////absolute/path
            return self.resolve(url.removeprefix("sqlite:///"))
        return url

    @property
    def argos_home(self) -> Path:
        return self.resolve(self.models.folder)

    @property
    def packages_dir(self) -> Path:
        return self.argos_home / "packages"


SECTIONS: dict[str, type] = {
    f.name: typing.get_type_hints(Settings)[f.name]
    for f in dataclasses.fields(Settings)
    if f.name not in ("root", "sources", "lists", "relays")
}


@dataclass(frozen=True)
class SettingSpec:
    """One row of the settings table."""

    section: str
    key: str
    type: Any
    default: Any
    doc: str
    secret: bool
    choices: tuple[str, ...]
    bounds: tuple[float, float] | None = None

    @property
    def name(self) -> str:
        return f"{self.section}.{self.key}"

    @property
    def env_var(self) -> str:
        return f"{ENV_PREFIX}{self.section.upper()}_{self.key.upper()}"


def settings_table(sections: Mapping[str, type] = SECTIONS) -> Iterator[SettingSpec]:
    """Every setting, in declaration order."""
    for section, cls in sections.items():
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            factory = f.default_factory
            default = factory() if factory is not dataclasses.MISSING else f.default
            yield SettingSpec(
                section=section,
                key=f.name,
                type=hints[f.name],
                default=default,
                doc=f.metadata["doc"],
                secret=f.metadata["secret"],
                choices=f.metadata["choices"],
                bounds=f.metadata["bounds"],
            )


def find_config(start: Path) -> Path:
    """The nearest ``newsletter.toml`` in ``start`` or a folder above it."""
    start = start.resolve()
    for folder in (start, *start.parents):
        candidate = folder / CONFIG_NAME
        if candidate.is_file():
            return candidate
    raise InstanceNotFound(start)


def load_settings(
    config_path: Path,
    *,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    sections: Mapping[str, type] = SECTIONS,
) -> Settings:
    """Read ``config_path``; layer the environment and flag ``overrides`` ("section.key") on it."""
    environ = os.environ if environ is None else environ
    data = _read_toml(config_path)
    return build_settings(
        config_path.parent.resolve(),
        data,
        environ=environ,
        overrides=overrides or {},
        origin=str(config_path),
        sections=sections,
    )


def _read_toml(config_path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(config_path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(
            f"cannot read {config_path}: {exc.strerror}", hint="check the path given to --config"
        ) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{config_path} is not UTF-8 text (byte {exc.start} cannot be read)",
            hint="save the file as UTF-8 (TOML files are UTF-8)") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f"{config_path} is not valid TOML: {exc}", hint="fix the line named above"
        ) from exc


def read_file_lists(config_path: Path) -> tuple[ListSpec, ...]:
    """The ``[lists.NAME]`` tables of ``config_path`` as it is now (a running service reads
    them again when the file changes)."""
    return _parse_lists(_read_toml(config_path).get("lists", {}), str(config_path))


def build_settings(
    root: Path,
    data: Mapping[str, Any],
    *,
    environ: Mapping[str, str],
    overrides: Mapping[str, Any],
    origin: str = CONFIG_NAME,
    sections: Mapping[str, type] = SECTIONS,
) -> Settings:
    """Pure core of :func:`load_settings`: validate and merge already-parsed layers."""
    table = {spec.name: spec for spec in settings_table(sections)}
    data = dict(data)
    lists_table = data.pop("lists", {})
    relays_table = data.pop("relays", {})
    _reject_unknown(data, sections, origin)
    _reject_unknown_env(environ, table)
    for name in overrides:
        if name not in table:
            near = difflib.get_close_matches(name, list(table), n=1)
            raise ConfigError(
                f"unknown setting {name!r} in --set", setting=name,
                hint=(f"did you mean {near[0]}? " if near else "")
                + "`newsletter config` lists every setting")
    values: dict[str, dict[str, Any]] = {s: {} for s in sections}
    sources: dict[str, str] = {}
    for name, spec in table.items():
        value, source = spec.default, "default"
        file_section = data.get(spec.section, {})
        if spec.key in file_section:
            if spec.secret:
                raise ConfigError(
                    f"[{spec.section}] {spec.key} is a secret and must not be written in {origin}",
                    setting=name,
                    hint=f"delete it from the file and set {spec.env_var} in the environment",
                )
            value, source = coerce(spec, file_section[spec.key], origin), "file"
        if spec.env_var in environ:
            value, source = coerce(spec, environ[spec.env_var], spec.env_var), "env"
        if name in overrides:
            value, source = coerce(spec, overrides[name], "command line"), "flag"
        values[spec.section][spec.key] = value
        sources[name] = source
    _check_database_url(values.get("database", {}).get("url", ""), sources.get("database.url"),
                        origin)
    built = {section: cls(**values[section]) for section, cls in sections.items()}
    return Settings(root=root, sources=sources, lists=_parse_lists(lists_table, origin),
                    relays=parse_relays(relays_table, environ, origin), **built)


_URL_PASSWORD = re.compile(r"^[a-z]+://[^/@:]*:[^/@]*@")


def _check_database_url(url: str, source: str | None, origin: str) -> None:
    """A database URL is a file, ``sqlite:///PATH`` or ``postgresql://…``; one carrying a
    password is a secret, so it may come from the environment only."""
    if not url:
        return
    if not url.startswith(("sqlite:///", "postgresql://", "postgres://")):
        raise ConfigError(
            f"[database] url {url.split('@')[-1]!r} is neither sqlite:///PATH nor "
            "postgresql://…", setting="database.url",
            hint="e.g. postgresql://newsletter@db.example.org/newsletter, or leave it empty "
                 "for the SQLite file of [paths] database")
    if source == "file" and _URL_PASSWORD.match(url):
        raise ConfigError(
            f"[database] url in {origin} carries a password", setting="database.url",
            hint="delete it from the file and set NEWSLETTER_DATABASE_URL in the environment "
                 "(or use a password file: ~/.pgpass)")


def _parse_lists(tables: object, origin: str) -> tuple[ListSpec, ...]:
    """The ``[lists.NAME]`` tables of the file (lists are not set from the environment)."""
    if not isinstance(tables, dict) or not all(isinstance(t, dict) for t in tables.values()):
        raise ConfigError(f"lists in {origin} must be tables: [lists.NAME]")
    try:
        return tuple(parse_list(name, table) for name, table in tables.items())
    except ListError as exc:
        raise ConfigError(f"{exc.message} in {origin}", hint=exc.hint) from exc


def _reject_unknown(data: Mapping[str, Any], sections: Mapping[str, type], origin: str) -> None:
    for section, body in data.items():
        if section not in sections:
            raise ConfigError(
                f"unknown section [{section}] in {origin}",
                hint=f"known sections: {', '.join(sections)}",
            )
        if not isinstance(body, dict):
            raise ConfigError(f"{section} in {origin} must be a table: [{section}]")
        known = {f.name for f in dataclasses.fields(sections[section])}
        for key in body:
            if key not in known:
                raise ConfigError(
                    f"unknown setting [{section}] {key} in {origin}",
                    setting=f"{section}.{key}",
                    hint=f"settings of [{section}]: {', '.join(sorted(known))}",
                )


def _reject_unknown_env(environ: Mapping[str, str], table: Mapping[str, SettingSpec]) -> None:
    known = {spec.env_var for spec in table.values()}
    for var in environ:
        if (var.startswith(ENV_PREFIX) and var not in known and var not in _NON_SETTING_ENV
                and not PASSWORD_ENV.match(var)):
            raise ConfigError(
                f"unknown environment variable {var}",
                hint="remove it, or fix its spelling; `newsletter config` lists every setting",
            )


# Environment variables of ours that are not settings (read elsewhere, documented in README).
_NON_SETTING_ENV = frozenset({"NEWSLETTER_CONFIG", "NEWSLETTER_REVIEWER_PASSWORD"})
