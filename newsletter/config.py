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

from newsletter.config_sections import (
    BouncesSettings,
    CapSettings,
    DatabaseSettings,
    DeliverySettings,
    DkimSettings,
    IngestSettings,
    LogSettings,
    MailSettingsSection,
    ModelsSettings,
    PathsSettings,
    PrivacySettings,
    ScheduleSettings,
    SmtpSettings,
    SummarySettings,
    TranslateSettings,
    WebSettings,
)
from newsletter.config_values import coerce
from newsletter.delivery.relays import PASSWORD_ENV, RelaySpec, parse_relays
from newsletter.errors import ConfigError, InstanceNotFound, ListError
from newsletter.lists.parse import parse_list
from newsletter.lists.spec import ListSpec

CONFIG_NAME = "newsletter.toml"
ENV_PREFIX = "NEWSLETTER_"


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
    bounces: BouncesSettings = field(default_factory=BouncesSettings)
    privacy: PrivacySettings = field(default_factory=PrivacySettings)
    cap: CapSettings = field(default_factory=CapSettings)
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
    _check_cap_sender(values.get("cap", {}).get("sender", ""))
    built = {section: cls(**values[section]) for section, cls in sections.items()}
    return Settings(root=root, sources=sources, lists=_parse_lists(lists_table, origin),
                    relays=parse_relays(relays_table, environ, origin), **built)


_URL_PASSWORD = re.compile(r"^[a-z]+://[^/@:]*:[^/@]*@")
_CAP_SENDER = re.compile(r"^[^\s,<&]{1,200}$")


def _check_cap_sender(sender: str) -> None:
    """CAP 1.2 forbids spaces, commas and the restricted characters < and & in a sender."""
    if sender and not _CAP_SENDER.match(sender):
        raise ConfigError(f"[cap] sender {sender!r} would make invalid CAP documents",
                          setting="cap.sender",
                          hint="an address or a name without spaces, commas, < or &, e.g. "
                               "alerts@news.example.org")


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
