"""Settings: precedence, validation, secrets, and that every setting is documented."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from newsletter.config import (
    build_settings,
    find_config,
    load_settings,
    settings_table,
)
from newsletter.errors import ConfigError, InstanceNotFound
from newsletter.example_config import example_config
from tests.helpers import REPO

ROOT = Path("/srv/office")


def test_defaults_then_file_then_environment_then_flags() -> None:
    data = {"ingest": {"max_bytes": 10, "settle_seconds": 5}, "paths": {"seeds": "inbox"}}
    environ = {"NEWSLETTER_INGEST_MAX_BYTES": "20", "NEWSLETTER_INGEST_RECURSIVE": "no"}
    settings = build_settings(ROOT, data, environ=environ,
                              overrides={"ingest.max_bytes": "30"})
    assert settings.ingest.max_bytes == 30
    assert settings.ingest.recursive is False
    assert settings.ingest.settle_seconds == 5.0
    assert settings.paths.seeds == "inbox"
    assert settings.log.level == "warning"
    assert settings.sources["ingest.max_bytes"] == "flag"
    assert settings.sources["ingest.recursive"] == "env"
    assert settings.sources["paths.seeds"] == "file"
    assert settings.sources["log.level"] == "default"
    assert settings.seeds_dir == ROOT / "inbox"
    assert settings.database_path == ROOT / "var" / "newsletter.db"


def test_list_settings_from_the_environment_are_comma_separated() -> None:
    settings = build_settings(ROOT, {}, environ={"NEWSLETTER_INGEST_EXTENSIONS": ".txt, .text"},
                              overrides={})
    assert settings.ingest.extensions == [".txt", ".text"]


@pytest.mark.parametrize(
    ("data", "environ", "message"),
    [
        ({"ingest": {"max_byte": 1}}, {}, "unknown setting [ingest] max_byte"),
        ({"smtpd": {"host": "x"}}, {}, "unknown section [smtpd]"),
        ({"ingest": {"max_bytes": "lots"}}, {}, "ingest.max_bytes from newsletter.toml"),
        ({"ingest": {"max_bytes": -1}}, {}, "must be between 1 and 100,000,000"),
        ({"ingest": {"recursive": "maybe"}}, {}, "expected true or false"),
        ({"log": {"level": "loud"}}, {}, "expected one of debug, info, warning, error"),
        ({}, {"NEWSLETTER_INGEST_SETTLE_SECONDS": "soon"}, "NEWSLETTER_INGEST_SETTLE_SECONDS"),
        ({}, {"NEWSLETTER_INGEST_MAXBYTES": "1"}, "unknown environment variable"),
        # a number's range, for the file, the environment and --set alike
        ({"delivery": {"connections": 10**12}}, {}, "must be between 1 and 100"),
        ({}, {"NEWSLETTER_DELIVERY_LEASE": "1e12"}, "must be between 0.5 and 86,400"),
        ({"schedule": {"alert_max_age_hours": 10**9}}, {}, "must be between 0 and 8,760"),
        ({"smtp": {"port": 99999}}, {}, "must be between 1 and 65,535"),
        ({"database": {"pool_size": 0}}, {}, "must be between 1 and 100"),
        ({"summary": {"sentences": 10**9}}, {}, "must be between 1 and 20"),
        ({}, {"NEWSLETTER_DELIVERY_RETRY_CAP_SECONDS": "1e999"}, "expected a finite number"),
        ({}, {"NEWSLETTER_DELIVERY_RATE": "nan"}, "expected a finite number"),
        ({"delivery": {"connections": [4]}}, {}, "expected a whole number"),
        ({"delivery": {"lease": [4]}}, {}, "expected a number"),
        ({}, {"NEWSLETTER_MAIL_FROM_ADDRESS": "a@example.org\r\nBcc: all@example.org"},
         "a line break or control character is not allowed"),
        ({}, {"NEWSLETTER_TRANSLATE_LANGUAGES": "en,r\nu"}, "a line break"),
    ],
)
def test_bad_settings_are_refused_with_the_setting_named(
    data: dict[str, dict[str, object]], environ: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        build_settings(ROOT, data, environ=environ, overrides={})
    assert message in caught.value.message
    assert caught.value.hint


def test_secrets_come_from_the_environment_only() -> None:
    with pytest.raises(ConfigError) as caught:
        build_settings(ROOT, {"smtp": {"password": "hunter2"}}, environ={}, overrides={})
    assert "is a secret" in caught.value.message
    assert caught.value.hint is not None
    assert "NEWSLETTER_SMTP_PASSWORD" in caught.value.hint
    text = example_config()
    assert "# password =" not in text
    assert "NEWSLETTER_SMTP_PASSWORD" in text
    settings = build_settings(ROOT, {}, environ={"NEWSLETTER_SMTP_PASSWORD": "hunter2"},
                              overrides={})
    assert settings.smtp.password == "hunter2"


def test_example_config_lists_every_setting_and_parses_when_uncommented() -> None:
    text = example_config()
    keys = {spec.key for spec in settings_table()}
    uncommented = "\n".join(
        line[2:] if line.startswith("# ") and line[2:].split(" = ")[0] in keys else line
        for line in text.splitlines()
    )
    data = tomllib.loads(uncommented)
    for spec in settings_table():
        if spec.secret:  # documented by its environment variable only
            assert f"# (secret: set {spec.env_var} in the environment)" in text
            continue
        assert data[spec.section][spec.key] == spec.default, spec.name


def test_the_repository_instance_config_is_the_generated_example() -> None:
    """The demo instance's file is the generated example plus its demo list."""
    text = (REPO / "newsletter.toml").read_text(encoding="utf-8")
    assert text.startswith(example_config())
    assert "[lists.central-asia]" in text[len(example_config()):]


def test_every_setting_is_documented_in_the_readme() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    missing = [spec.name for spec in settings_table()
               if f"`{spec.name}`" not in readme or spec.env_var not in readme]
    assert not missing, f"README.md does not document: {missing}"


def test_find_config_searches_upwards(tmp_path: Path) -> None:
    (tmp_path / "newsletter.toml").write_text("")
    nested = tmp_path / "a" / "b"
    nested.mkdir(parents=True)
    assert find_config(nested) == tmp_path / "newsletter.toml"
    with pytest.raises(InstanceNotFound) as caught:
        find_config(tmp_path.parent / "elsewhere")
    assert caught.value.hint is not None
    assert "newsletter init" in caught.value.hint


def test_named_relays_take_their_password_from_the_environment_only() -> None:
    data = {"relays": {"second-ip": {"host": "relay2.example.org", "port": 2525}}}
    settings = build_settings(ROOT, data, environ={
        "NEWSLETTER_RELAY_SECOND_IP_PASSWORD": "s3cret"}, overrides={})
    (relay,) = settings.relays
    assert (relay.name, relay.host, relay.port, relay.password) == (
        "second-ip", "relay2.example.org", 2525, "s3cret")
    with pytest.raises(ConfigError, match="secret"):
        build_settings(ROOT, {"relays": {"r": {"password": "x"}}}, environ={}, overrides={})
    with pytest.raises(ConfigError, match="unknown setting"):
        build_settings(ROOT, {"relays": {"r": {"hots": "x"}}}, environ={}, overrides={})
    with pytest.raises(ConfigError, match="must be a int"):
        build_settings(ROOT, {"relays": {"r": {"port": "25"}}}, environ={}, overrides={})


def test_a_database_url_is_sqlite_or_postgresql_and_a_password_stays_in_the_environment(
) -> None:
    env_url = "postgresql://n:pw@db.example.org/office"
    from_env = build_settings(ROOT, {}, environ={"NEWSLETTER_DATABASE_URL": env_url},
                              overrides={})
    assert from_env.database_target == env_url
    relative = build_settings(ROOT, {"database": {"url": "sqlite:///var/other.db"}},
                              environ={}, overrides={})
    assert relative.database_target == ROOT / "var" / "other.db"
    assert build_settings(ROOT, {}, environ={}, overrides={}).database_target == (
        ROOT / "var" / "newsletter.db")
    with pytest.raises(ConfigError, match="carries a password"):
        build_settings(ROOT, {"database": {"url": env_url}}, environ={}, overrides={})
    with pytest.raises(ConfigError, match="neither"):
        build_settings(ROOT, {"database": {"url": "mysql://db/x"}}, environ={}, overrides={})


def test_a_mistyped_set_flag_is_an_error_that_names_the_setting_meant() -> None:
    with pytest.raises(ConfigError, match="unknown setting 'smtp.hots'") as caught:
        build_settings(ROOT, {}, environ={}, overrides={"smtp.hots": "x"})
    assert caught.value.hint is not None
    assert "did you mean smtp.host" in caught.value.hint


def test_set_overrides_are_checked_like_the_file() -> None:
    with pytest.raises(ConfigError) as caught:
        build_settings(ROOT, {}, environ={}, overrides={"delivery.connections": "10000000000"})
    assert "must be between 1 and 100" in caught.value.message


def test_every_number_setting_declares_its_range() -> None:
    unbounded = [spec.name for spec in settings_table()
                 if spec.type in (int, float) and spec.bounds is None]
    assert unbounded == []
    for spec in settings_table():
        if spec.bounds:
            assert spec.bounds[0] <= spec.default <= spec.bounds[1], spec.name


def test_a_config_file_that_is_not_utf8_is_an_error_not_a_traceback(tmp_path: Path) -> None:
    config = tmp_path / "newsletter.toml"
    config.write_bytes('[mail]\nfrom_name = "Гуманитарные новости"\n'.encode("cp1251"))
    with pytest.raises(ConfigError) as caught:
        load_settings(config, environ={})
    assert "not UTF-8" in caught.value.message
    assert caught.value.hint
