"""A reader's own data: what changed for them, everything held about them, a pause, and
erasing them (whole or not at all, never brought back by an import, never written to
again even by a send already in flight)."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from newsletter.app import Instance, load_instance
from newsletter.cli.main import cli
from tests.helpers import SAMPLE_REPORT, database_snapshot, drop, wait_until
from tests.office import relay_env, run_cli, with_sample
from tests.processes import started
from tests.smtp_server import smtp_sink

SECRET = "reader-data-secret-0123456789abcdef"
ENV = {"NEWSLETTER_WEB_SECRET": SECRET}


def invoke(*args: str, code: int = 0, env: dict[str, str] | None = None) -> str:
    return run_cli(args, env or ENV, code)


@pytest.fixture
def office(cli_office: Path) -> Path:
    with_sample(cli_office)
    invoke("ingest")
    return cli_office


def _instance(office: Path, env: dict[str, str] | None = None) -> Instance:
    return load_instance(office, cwd=office, environ=env or ENV)


def test_a_reader_takes_their_data_and_the_commands_that_look_write_nothing(
        office: Path) -> None:
    invoke("subscribers", "add", "asel@readers.test", "--list", "daily", "--language", "kk",
           "--name", "Әсел")
    invoke("subscribers", "add", "asel@readers.test", "--list", "weekly")
    invoke("subscribers", "remove", "asel@readers.test", "--list", "weekly")
    invoke("subscribers", "pause", "asel@readers.test", "--until", "2099-01-01")
    invoke("subscribers", "pause", "asel@readers.test", "--end")
    invoke("send", "--list", "daily", "--report", "1")
    database = office / "var/newsletter.db"
    before = database_snapshot(database)
    data = json.loads(invoke("subscribers", "export-data", "asel@readers.test"))
    shown = json.loads(invoke("subscribers", "show", "asel@readers.test", "--json"))
    text = invoke("subscribers", "show", "asel@readers.test")
    assert database_snapshot(database) == before
    assert (data["email"], data["name"], data["language"]) == ("asel@readers.test", "Әсел",
                                                               "kk")
    assert [m["list"] for m in data["lists"]] == ["daily", "weekly"]
    # In order of time (to the second: these came within one).
    assert sorted((h["what"], h["via"]) for h in data["history"]) == [
        ("pause ended", "office"), ("paused", "office"), ("unsubscribed", "command line")]
    [message] = data["messages"]
    assert (message["list"], message["language"], message["state"]) == ("daily", "kk", "sent")
    assert shown["history"] == data["history"]
    assert "paused 2099-01-01 (office)" in text
    out = office / "asel.json"
    invoke("subscribers", "export-data", "asel@readers.test", "--out", str(out))
    assert json.loads(out.read_text(encoding="utf-8")) == data


def test_an_erased_reader_is_gone_and_no_import_brings_them_back(office: Path) -> None:
    for address in ("gone@readers.test", "stays@readers.test"):
        invoke("subscribers", "add", address, "--list", "daily")
    invoke("send", "--list", "daily", "--report", "1")
    mail_before = json.loads(invoke("lists", "show", "daily", "--json"))["mail"]
    out = invoke("subscribers", "erase", "gone@readers.test", "--yes")
    assert "Erased gone@readers.test: 1 message(s)" in out
    assert "No subscriber" not in invoke("subscribers", "list")
    assert "gone@readers.test" not in invoke("subscribers", "list")
    with _instance(office).open_store() as store:
        rows = store.outbox.rows()
        assert sorted(r["address"] for r in rows) == ["erased", "stays@readers.test"]
        dump = "\n".join(store.db.connection.iterdump())
    assert "gone@readers.test" not in dump  # nothing anywhere names them
    assert json.loads(invoke("lists", "show", "daily", "--json"))["mail"] == mail_before

    refused = invoke("subscribers", "add", "Gone@Readers.test", "--list", "daily", code=1)
    assert "was erased: not resubscribed" in refused
    csv = office / "again.csv"
    csv.write_text("email\ngone@readers.test\nnew@readers.test\n")
    invoke("subscribers", "import", str(csv), "--list", "daily")
    listed = invoke("subscribers", "list")
    assert "new@readers.test" in listed
    assert "gone@readers.test" not in listed
    # After a key rotation the old digest still recognises them …
    rotated = {"NEWSLETTER_WEB_SECRET": "a-new-key-0123456789abcdefghij",
               "NEWSLETTER_WEB_OLD_SECRETS": SECRET}
    invoke("subscribers", "add", "gone@readers.test", "--list", "daily", code=1, env=rotated)
    # … and without any key the office is told why nothing can be checked.
    out = invoke("subscribers", "add", "gone@readers.test", "--list", "daily", code=1,
                 env={"NEWSLETTER_WEB_SECRET": ""})
    assert "erased readers" in out
    assert "Hint: set NEWSLETTER_WEB_SECRET" in out


def test_erasing_needs_the_key_and_an_answer(office: Path) -> None:
    invoke("subscribers", "add", "a@readers.test", "--list", "daily")
    out = invoke("subscribers", "erase", "a@readers.test", code=1,
                 env={"NEWSLETTER_WEB_SECRET": ""})
    assert "cannot be erased without the signing key" in out
    result = CliRunner().invoke(cli, ["subscribers", "erase", "a@readers.test"], env=ENV,
                                input="n\n")
    assert result.exit_code == 1
    assert "nothing was erased" in result.output
    assert "a@readers.test" in invoke("subscribers", "list")


def test_a_kill_during_an_erase_leaves_the_reader_whole_or_gone(office: Path) -> None:
    readers = [f"k{i}@readers.test" for i in range(6)]
    csv = office / "readers.csv"
    csv.write_text("email\n" + "\n".join(readers) + "\n")
    invoke("subscribers", "import", str(csv), "--list", "daily")
    invoke("subscribers", "import", str(csv), "--list", "weekly")
    invoke("send", "--list", "daily", "--report", "1")
    command = [sys.executable, "-m", "newsletter", "--config", str(office / "newsletter.toml"),
               "subscribers", "erase", "--yes"]
    for address in readers:
        with started([*command, address], env={**os.environ, **ENV},
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) as eraser:
            time.sleep(random.uniform(0.05, 0.6))  # a random point of its life, not a wait
            eraser.send_signal(signal.SIGKILL)
            eraser.wait(timeout=60)
        with _instance(office).open_store() as store:
            known = store.subscribers.find(address)
            addresses = [r["address"] for r in store.outbox.rows()]
            if known is None:  # gone: nothing names them, the digest stays
                assert address not in addresses
                assert store.readers.any_erased()
            else:  # whole: their lists, their message
                assert store.subscribers.memberships(known.id) == {"daily": "active",
                                                                   "weekly": "active"}
                assert address in addresses


def test_nobody_erased_or_gone_gets_mail_after_while_a_send_is_in_flight(
        office: Path) -> None:
    readers = [f"f{i}@readers.test" for i in range(20)]
    csv = office / "readers.csv"
    csv.write_text("email\n" + "\n".join(readers) + "\n")
    invoke("subscribers", "import", str(csv), "--list", "daily")
    with smtp_sink() as (sink, port):
        env = {**os.environ, **ENV, **relay_env(port), "NEWSLETTER_DELIVERY_RATE": "8",
               "NEWSLETTER_DELIVERY_CONNECTIONS": "1"}
        invoke("send", "--list", "daily", "--report", "1", "--queue-only", env=env)
        command = [sys.executable, "-m", "newsletter", "--config",
                   str(office / "newsletter.toml"), "deliver"]
        with started(command, env=env, stdout=subprocess.DEVNULL,
                     stderr=subprocess.PIPE) as sender:
            wait_until(lambda: len(sink.messages) >= 3, "the first messages at the sink")
            invoke("subscribers", "erase", "f18@readers.test", "--yes", env=env)
            invoke("subscribers", "remove", "f19@readers.test", env=env)
            done_at = len(sink.messages)
            sender.wait(timeout=120)
        after = [m.recipients[0] for m in sink.messages[done_at + 2:]]  # 1 in flight at most
    assert "f18@readers.test" not in after
    assert "f19@readers.test" not in after
    assert len({m.recipients[0] for m in sink.messages}) == len(sink.messages)  # once each


def test_a_paused_reader_gets_nothing_made_while_paused_then_what_comes_next(
        office: Path) -> None:
    for address in ("p@readers.test", "q@readers.test"):
        invoke("subscribers", "add", address, "--list", "daily")
    invoke("subscribers", "pause", "p@readers.test", "--until", "2099-01-01")
    out = invoke("subscribers", "pause", "p@readers.test", "--until", "2000-01-01", code=1)
    assert "has passed" in out
    invoke("send", "--list", "daily", "--report", "1")
    with _instance(office).open_store() as store:
        assert [r["address"] for r in store.outbox.rows()] == ["q@readers.test"]
    invoke("subscribers", "pause", "p@readers.test", "--end")
    assert "Nothing new" in invoke("digest", "--list", "daily")  # what was missed is not sent
    drop(office / "seeds", "later.txt", SAMPLE_REPORT.read_text().replace(
        "Kazakhstan", "Kyrgyzstan"))
    invoke("--set", "ingest.settle_seconds=0", "ingest")
    invoke("send", "--list", "daily", "--report", "2")
    with _instance(office).open_store() as store:
        second = [r["address"] for r in store.outbox.rows() if r["issue_id"] == 2]
    assert sorted(second) == ["p@readers.test", "q@readers.test"]


def test_readers_who_left_long_ago_are_erased_by_the_service(office: Path) -> None:
    for address in ("left@readers.test", "recent@readers.test", "stays@readers.test"):
        invoke("subscribers", "add", address, "--list", "daily")
    invoke("subscribers", "remove", "left@readers.test")
    invoke("subscribers", "remove", "recent@readers.test", "--list", "daily")
    with _instance(office).open_store() as store, store.transaction():
        old = (store.clock()() - timedelta(days=40)).isoformat()
        store.db.execute("UPDATE subscribers SET updated_at = ? WHERE email = ?",
                         (old, "left@readers.test"))
    env = {**ENV, "NEWSLETTER_PRIVACY_ERASE_UNSUBSCRIBED_AFTER_DAYS": "30"}
    invoke("run", "--once", env=env)
    listed = invoke("subscribers", "list")
    assert "left@readers.test" not in listed
    assert "recent@readers.test" in listed  # left today
    assert "stays@readers.test" in listed
