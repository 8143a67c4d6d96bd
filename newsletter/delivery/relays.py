"""Named relays: ``[relays.NAME]`` tables, for delivery workers that send through another
relay or sending address than ``[smtp]`` (``newsletter worker deliver --relay NAME``) (pure).

A table gives any of ``host``, ``port``, ``security``, ``username``, ``timeout``, ``ca_file``,
``connections`` and ``rate``; what it leaves out is taken from ``[smtp]`` and ``[delivery]``.
The password is a secret: ``NEWSLETTER_RELAY_<NAME>_PASSWORD`` in the environment (the name
upper-cased, ``-`` as ``_``), never the file.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from newsletter.errors import ConfigError

KEYS = {"host": str, "port": int, "security": str, "username": str, "timeout": float,
        "ca_file": str, "connections": int, "rate": float}
SECURITY = ("starttls", "tls", "none")
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
PASSWORD_ENV = re.compile(r"^NEWSLETTER_RELAY_([A-Z0-9_]+)_PASSWORD$")


@dataclass(frozen=True)
class RelaySpec:
    """One named relay: the settings it changes (None: as in [smtp] / [delivery])."""

    name: str
    host: str | None = None
    port: int | None = None
    security: str | None = None
    username: str | None = None
    password: str | None = None
    timeout: float | None = None
    ca_file: str | None = None
    connections: int | None = None
    rate: float | None = None


def password_env(name: str) -> str:
    return f"NEWSLETTER_RELAY_{name.upper().replace('-', '_')}_PASSWORD"


def parse_relays(tables: object, environ: Mapping[str, str],
                 origin: str) -> tuple[RelaySpec, ...]:
    """The ``[relays.NAME]`` tables of the file, with their passwords from ``environ``."""
    if not isinstance(tables, dict) or not all(isinstance(t, dict) for t in tables.values()):
        raise ConfigError(f"relays in {origin} must be tables: [relays.NAME]")
    relays = []
    for name, table in tables.items():
        if not _NAME.match(name):
            raise ConfigError(f"relay name {name!r} in {origin} is not a short lower-case name",
                              hint="use letters, digits, - and _, e.g. [relays.second-ip]")
        values: dict[str, object] = {}
        for key, value in table.items():
            if key == "password":
                raise ConfigError(f"[relays.{name}] password is a secret and must not be "
                                  f"written in {origin}",
                                  hint=f"delete it and set {password_env(name)} in the "
                                       "environment")
            if key not in KEYS:
                raise ConfigError(f"unknown setting [relays.{name}] {key} in {origin}",
                                  hint=f"settings of a relay: {', '.join(sorted(KEYS))}")
            values[key] = _coerce(name, key, value, origin)
        if values.get("security") not in (None, *SECURITY):
            raise ConfigError(f"[relays.{name}] security must be one of {', '.join(SECURITY)}")
        relays.append(RelaySpec(name, password=environ.get(password_env(name)),
                                **values))  # type: ignore[arg-type]
    return tuple(relays)


def _coerce(name: str, key: str, value: object, origin: str) -> object:
    wanted = KEYS[key]
    if wanted is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, wanted) or isinstance(value, bool):
        raise ConfigError(f"[relays.{name}] {key} in {origin} must be a {wanted.__name__}")
    if wanted in (int, float) and value < 0:  # type: ignore[operator]
        raise ConfigError(f"[relays.{name}] {key} in {origin} must not be negative")
    return value
