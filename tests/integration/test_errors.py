"""No traceback reaches a user: every command, given bad input, says `Error:` and `Hint:` and
exits 1; a reader that closes the pipe early is not an error at all."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from newsletter.cli.main import cli

SECRET = "errors-test-secret-0123456789"


def _commands(group: click.Group, prefix: tuple[str, ...] = ()) -> Iterator[str]:
    context = click.Context(group)
    for name in group.list_commands(context):
        command = group.get_command(context, name)
        assert command is not None, name
        if isinstance(command, click.Group):
            yield from _commands(command, (*prefix, name))
        else:
            yield " ".join((*prefix, name))


# Each command with input that passes click's own parsing but cannot work. "BROKEN" runs it
# in an instance whose database file is not a database.
BAD_INPUT: dict[str, list[str]] = {
    "config": ["--set", "smtp.port=not-a-number", "config"],
    "db copy": ["db", "copy", "--to", "mysql://nowhere/x"],
    "db migrate": ["BROKEN", "db", "migrate"],
    "deliver": ["BROKEN", "deliver"],
    "digest": ["digest", "--list", "no-such-list"],
    "ingest": ["BROKEN", "ingest"],
    "init": ["init", "."],  # the current folder is an instance already
    "lists add": ["lists", "add", "x", "--schedule", "every day"],
    "lists remove": ["lists", "remove", "no-such-list"],
    "lists set": ["lists", "set", "no-such-list", "--policy", "hold"],
    "lists show": ["BROKEN", "lists", "show"],
    "models build": ["models", "build", "empty-checkpoint", "--from", "en", "--to", "kk"],
    "models check": ["models", "check"],  # with a package whose model file is garbage
    "models install": ["models", "install", "no-such.argosmodel"],
    "models list": ["BROKEN-MODELS", "models", "list"],
    "models remove": ["models", "remove", "no-such-model"],
    "outbox list": ["BROKEN", "outbox", "list"],
    "preview": ["preview", "--report", "999"],
    "reports list": ["BROKEN", "reports", "list"],
    "bounces list": ["BROKEN", "bounces", "list"],
    "bounces read": ["bounces", "read", "--maildir", "no-such-maildir"],
    "reports cap": ["reports", "cap", "999", "--severity", "Severe"],
    "feeds write": ["feeds", "write", "/proc/no-such-folder"],
    "reports show": ["reports", "show", "999"],
    "reports split": ["reports", "split", "999", "--revision", "2"],
    "retry": ["retry", "--issue", "999"],
    "review approve": ["review", "approve", "999", "--lang", "kk"],
    "review edit": ["review", "edit", "999", "--lang", "kk", "--title", "x"],
    "review export": ["review", "export", "--tmx", "no-such-folder/memory.tmx"],
    "review import": ["review", "import", "latin1.csv"],
    "review list": ["BROKEN", "review", "list"],
    "review reject": ["review", "reject", "999", "--lang", "kk", "--reason", "bad"],
    "review show": ["review", "show", "999", "--lang", "kk"],
    "reviewers add": ["reviewers", "add", " "],
    "reviewers list": ["BROKEN", "reviewers", "list"],
    "reviewers remove": ["reviewers", "remove", "nobody"],
    "run": ["BROKEN", "run", "--once"],
    "scheduler": ["BROKEN", "scheduler"],
    "send": ["send", "--list", "no-such-list", "--report", "1"],
    "serve": ["serve", "--port", "BUSY"],
    "status": ["BROKEN", "status"],
    "subscribers add": ["subscribers", "add", "not-an-address"],
    "subscribers export": ["subscribers", "export", "--list", "no-such-list"],
    "subscribers import": ["subscribers", "import", "latin1.csv", "--list", "daily"],
    "subscribers invite": ["subscribers", "invite", "a@example.org", "--list", "no-such-list"],
    "subscribers list": ["BROKEN", "subscribers", "list"],
    "subscribers reactivate": ["subscribers", "reactivate", "nobody@example.org"],
    "subscribers pause": ["subscribers", "pause", "nobody@example.org", "--until", "2099-01-01"],
    "subscribers export-data": ["subscribers", "export-data", "nobody@example.org"],
    "subscribers erase": ["subscribers", "erase", "nobody@example.org", "--yes"],
    "subscribers remove": ["subscribers", "remove", "nobody@example.org"],
    "subscribers show": ["subscribers", "show", "nobody@example.org"],
    "summarise": ["summarise", "--report", "999"],
    "translate": ["translate", "--report", "999"],
    "worker deliver": ["worker", "deliver", "--relay", "no-such-relay"],
    "worker translate": ["BROKEN", "worker", "translate"],
    "workers": ["BROKEN", "workers"],
}


def test_every_command_has_a_bad_input_case() -> None:
    assert sorted(BAD_INPUT) == sorted(_commands(cli))


@pytest.fixture
def office(cli_office: Path) -> Path:
    config = cli_office / "newsletter.toml"
    config.write_text(config.read_text() + '\n[lists.daily]\ntitle = "Daily"\n')
    (cli_office / "empty-checkpoint").mkdir()
    (cli_office / "latin1.csv").write_bytes("email,name\nj@example.org,Jos\xe9\n".encode("latin-1"))
    broken = cli_office / "var" / "argos" / "packages" / "translate-en_ru-1_0"
    (broken / "model").mkdir(parents=True)
    (broken / "metadata.json").write_text('{"from_code": "en", "to_code": "ru", '
                                          '"package_version": "1.0"}')
    (broken / "model" / "model.bin").write_bytes(b"not a model")
    (broken / "sentencepiece.model").write_bytes(b"not a tokenizer")
    return cli_office


@pytest.mark.parametrize("command", sorted(BAD_INPUT))
def test_bad_input_gives_an_error_and_a_hint(office: Path, command: str) -> None:
    args = list(BAD_INPUT[command])
    env = {"NEWSLETTER_WEB_SECRET": SECRET}
    if args[0] == "BROKEN":
        args.pop(0)
        database = office / "var" / "newsletter.db"
        database.parent.mkdir(parents=True, exist_ok=True)
        database.write_bytes(b"this is not a database" * 100)
    if args[0] == "BROKEN-MODELS":
        args.pop(0)
        (office / "var" / "argos" / "packages" / "translate-en_ru-1_0" / "metadata.json"
         ).write_text("{not json")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        args = [str(busy.getsockname()[1]) if a == "BUSY" else a for a in args]
        result = CliRunner().invoke(cli, args, env=env)
    assert result.exit_code == 1, result.output
    assert "Error: " in result.output
    assert "Hint: " in result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_a_reader_that_closes_the_pipe_is_not_an_error(office: Path) -> None:
    lines = ["email"] + [f"r{i}@example.org" for i in range(3000)]
    (office / "many.csv").write_text("\n".join(lines) + "\n")
    run = [sys.executable, "-m", "newsletter"]
    subprocess.run([*run, "subscribers", "import", "many.csv", "--list", "daily"], check=True,
                   capture_output=True, cwd=office, env=os.environ)
    pipeline = subprocess.run(
        f"{' '.join(run)} subscribers list --json | head -1", shell=True, cwd=office,
        capture_output=True, text=True, env=os.environ, timeout=60)
    assert pipeline.stdout.startswith('{"id": 1,')
    assert pipeline.stderr == ""  # no "Error: Broken pipe", no traceback
