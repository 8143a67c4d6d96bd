"""Composition root: build an instance's adapters from its settings (I/O)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from newsletter.config import CONFIG_NAME, Settings, example_config, find_config, load_settings
from newsletter.errors import ConfigError
from newsletter.ingest import Inbox
from newsletter.store import Store, open_store


@dataclass(frozen=True)
class Instance:
    """One newsletter instance: a folder with ``newsletter.toml``, and its settings."""

    config_path: Path
    settings: Settings

    @property
    def root(self) -> Path:
        return self.settings.root

    def open_store(self) -> Store:
        return open_store(self.settings.database_path)

    @property
    def inbox(self) -> Inbox:
        return Inbox(folder=self.settings.seeds_dir, quarantine=self.settings.quarantine_dir)


def load_instance(
    config: Path | None,
    *,
    cwd: Path,
    environ: Mapping[str, str],
    overrides: Mapping[str, Any] | None = None,
) -> Instance:
    """The instance named by ``config`` (a file or a folder), else the one around ``cwd``."""
    if config is None and environ.get("NEWSLETTER_CONFIG"):
        config = Path(environ["NEWSLETTER_CONFIG"])
    if config is None:
        path = find_config(cwd)
    else:
        path = config / CONFIG_NAME if config.is_dir() else config
        if not path.is_file():
            raise ConfigError(
                f"no configuration file at {path}",
                hint="pass the path of a newsletter.toml, or run `newsletter init DIR`",
            )
    return Instance(path.resolve(), load_settings(path, environ=environ, overrides=overrides))


def init_instance(folder: Path) -> Path:
    """Create a new instance in ``folder``: a commented ``newsletter.toml`` and an inbox."""
    config = folder / CONFIG_NAME
    if config.exists():
        raise ConfigError(
            f"{config} already exists",
            hint="this folder is an instance already; edit that file, or choose another folder",
        )
    folder.mkdir(parents=True, exist_ok=True)
    config.write_text(example_config(), encoding="utf-8")
    (folder / "seeds").mkdir(exist_ok=True)
    return config
