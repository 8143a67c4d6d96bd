"""Bounces made by a real mail server: a private Postfix relays an office's mail, refuses the
readers who do not exist after accepting the mail, and delivers its own delivery status
notifications to each message's return path, in a Maildir; a private Dovecot serves that
Maildir over IMAP and POP3 (TLS). Those real DSNs are what is read here."""

from __future__ import annotations

import email
import imaplib
import json
import os
import random
import signal
import ssl
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner

from newsletter.app import Instance, load_instance
from newsletter.cli.main import cli
from tests import bounce_mail
from tests.helpers import drop, wait_until
from tests.mailserver import Dovecot, Postfix
from tests.office import relay_env, report_text, run_cli, with_sample
from tests.processes import started

pytestmark = pytest.mark.slow

SECRET = "bounces-postfix-secret-0123456789abcdef"
BOUNCES = "bounces@news.test"
PASSWORD = "bounces-mailbox-password"


def _env(port: int, **more: str) -> dict[str, str]:
    return {"NEWSLETTER_WEB_SECRET": SECRET, **relay_env(port),
            "NEWSLETTER_BOUNCES_RETURN_PATH": BOUNCES,
            "NEWSLETTER_MAIL_FROM_ADDRESS": "updates@news.test", **more}


def invoke(env: dict[str, str], *args: str) -> str:
    return run_cli(args, env)


@pytest.fixture
def office(cli_office: Path) -> Path:
    return with_sample(cli_office)


def _subscribe(office: Path, env: dict[str, str], addresses: list[str]) -> None:
    for list_name in ("daily", "weekly"):
        csv = office / f"{list_name}.csv"
        csv.write_text("email\n" + "\n".join(addresses) + "\n")
        invoke(env, "subscribers", "import", str(csv), "--list", list_name)


def _instance(office: Path, env: dict[str, str]) -> Instance:
    return load_instance(office, cwd=office, environ=env)


def _return_path(path: Path) -> str:
    return str(email.message_from_bytes(path.read_bytes())["Return-Path"]).strip("<> ")


def test_twenty_dead_readers_of_two_hundred_are_stopped_and_nothing_forged_is_believed(
        office: Path) -> None:
    living = [f"r{i}@readers.test" for i in range(180)]
    dead = [f"gone{i}@readers.test" for i in range(20)]
    with Postfix(mailboxes=[BOUNCES, *living]) as postfix:
        env = _env(postfix.port)
        invoke(env, "ingest")
        _subscribe(office, env, living + dead)
        invoke(env, "send", "--list", "daily", "--report", "1")
        dsns = postfix.wait_for_mail(BOUNCES, 20)
        for address in living:
            postfix.wait_for_mail(address, 1)
        # What the readers' providers send back besides: a complaint about r5's message,
        # r6's out-of-office reply, and a DSN forged for r7 (a return path not ours).
        maildir = postfix.maildir(BOUNCES)
        r5 = _return_path(postfix.messages("r5@readers.test")[0])
        r6 = _return_path(postfix.messages("r6@readers.test")[0])
        assert r5.startswith("bounces+")
        assert r5.endswith("@news.test")
        made = {"complaint": bounce_mail.arf(r5, "r5@readers.test"),
                "reply": bounce_mail.auto_reply(r6, "r6@readers.test"),
                "forged": bounce_mail.dsn("bounces+1-abcdef-aaaaaaaaaaaaaaaaaaaa@news.test",
                                          "r7@readers.test")}
        for name, raw in made.items():
            (maildir / "new" / f"1765098000.{name}.test").write_bytes(raw)

        out = invoke(env, "bounces", "read", "--maildir", str(maildir))
        assert "Read 23 returned message(s) from maildir" in out

        with _instance(office, env).open_store() as store:
            bounced = {s.email: s for s, _ in store.subscribers.listing(status="bounced")}
            assert sorted(bounced) == sorted(dead)
            for subscriber in bounced.values():
                assert subscriber.status_reason is not None
                assert subscriber.status_reason.startswith("5.1.1")
                assert "unknown user" in subscriber.status_reason
            r5_id = store.subscribers.get("r5@readers.test").id
            assert store.subscribers.memberships(r5_id) == {"daily": "unsubscribed",
                                                             "weekly": "active"}
            others = Counter(s.status for s, _ in store.subscribers.listing()
                             if s.email not in bounced)
            assert others == {"active": 180}  # r6's reply and r7's forgery changed nothing
            assert store.subscribers.get("r7@readers.test").bounce_score == 0
            counts = store.bounces.counts()
        assert counts == {"disabled": 20, "unsubscribed": 1, "ignored": 1, "unmatched": 1}
        assert len(dsns) == 20

        # The next issue is not queued for them.
        drop(office / "seeds", "fresh.txt", report_text("Kazakhstan: More floods",
                                                        date.today()))
        invoke(env, "--set", "ingest.settle_seconds=0", "ingest")
        invoke(env, "send", "--list", "daily", "--report", "2")
        with _instance(office, env).open_store() as store:
            second = {row["address"] for row in store.outbox.rows() if row["issue_id"] == 2}
        assert second == set(living) - {"r5@readers.test"}
        shown = json.loads(invoke(env, "lists", "show", "daily", "--json"))
        assert shown["mail"]["daily"]["en"] == {"sent": 379, "delivered": 0, "bounced": 20,
                                                "complained": 1}


def _dead_letters(office: Path, postfix: Postfix, env: dict[str, str], count: int) -> None:
    """``count`` readers who do not exist are sent the sample report: Postfix returns
    ``count`` DSNs to the bounces mailbox."""
    invoke(env, "ingest")
    _subscribe(office, env, [f"ghost{i}@readers.test" for i in range(count)])
    invoke(env, "send", "--list", "daily", "--report", "1")
    postfix.wait_for_mail(BOUNCES, count)


def _imap_env(dovecot: Dovecot, env: dict[str, str]) -> dict[str, str]:
    return {**env, "NEWSLETTER_BOUNCES_SOURCE": "imap", "NEWSLETTER_BOUNCES_HOST": "localhost",
            "NEWSLETTER_BOUNCES_PORT": str(dovecot.imap_port),
            "NEWSLETTER_BOUNCES_USERNAME": BOUNCES, "NEWSLETTER_BOUNCES_PASSWORD": PASSWORD,
            "NEWSLETTER_BOUNCES_CA_FILE": str(dovecot.ca_file)}


def _folders(dovecot: Dovecot) -> dict[str, int]:
    """How many messages INBOX holds, and how many different ones the folder of read
    messages holds (-1: no such folder)."""
    context = ssl.create_default_context(cafile=str(dovecot.ca_file))
    with imaplib.IMAP4_SSL("localhost", dovecot.imap_port, ssl_context=context) as imap:
        imap.login(BOUNCES, PASSWORD)
        sizes = {}
        for folder in ("INBOX", "newsletter-read"):
            status, data = imap.select(folder, readonly=True)
            if status != "OK":
                sizes[folder] = -1
                continue
            _, found = imap.fetch("1:*", "(BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])") if int(
                data[0] or 0) else ("OK", [])
            sizes[folder] = len({part[1] for part in found if isinstance(part, tuple)})
        return sizes


@pytest.fixture
def mail_servers() -> Iterator[tuple[Postfix, Dovecot]]:
    with Postfix(mailboxes=[BOUNCES]) as postfix:
        users = {BOUNCES: (PASSWORD, postfix.maildir(BOUNCES))}
        with Dovecot(users=users) as dovecot:
            yield postfix, dovecot


def test_imap_read_twice_at_once_and_killed_midway_counts_each_once(
        office: Path, mail_servers: tuple[Postfix, Dovecot]) -> None:
    postfix, dovecot = mail_servers
    count = 60
    env = _imap_env(dovecot, _env(postfix.port))
    _dead_letters(office, postfix, env, count)
    assert _folders(dovecot) == {"INBOX": count, "newsletter-read": -1}
    database = office / "var/newsletter.db"
    command = [sys.executable, "-m", "newsletter", "--config", str(office / "newsletter.toml"),
               "bounces", "read"]
    process_env = {**os.environ, **env}

    def recorded() -> int:
        with _instance(office, env).open_store() as store:
            return sum(store.bounces.counts().values())

    kill_after = random.randint(1, 10)
    with started(command, env=process_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                 text=True) as killed, started(command, env=process_env,
                                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                               text=True) as other:
        wait_until(lambda: recorded() >= kill_after, "the first bounces recorded")
        killed.send_signal(signal.SIGKILL)
        killed.wait(timeout=60)
        out, err = other.communicate(timeout=120)
        assert other.returncode == 0, err
    assert killed.returncode == -signal.SIGKILL
    assert database.exists()
    # A third reading takes what the killed one left in the mailbox.
    finish = subprocess.run(command, env=process_env, capture_output=True, text=True,
                            timeout=120)
    assert finish.returncode == 0, finish.stderr
    with _instance(office, env).open_store() as store:
        assert store.bounces.counts() == {"disabled": count}
        returned = Counter(row["returned"] for row in store.outbox.rows())
        assert returned == {"bounced": count}
        per_row = Counter(entry.outbox_id for entry in store.bounces.listing())
        assert set(per_row.values()) == {1}  # each message counted once
        assert Counter(s.status for s, _ in store.subscribers.listing()) == {"bounced": count}
    # Every message was moved (two readers moving one at the same moment may each leave a
    # copy in the folder of read messages; the record above counts it once all the same).
    assert _folders(dovecot) == {"INBOX": 0, "newsletter-read": count}


def test_pop3_reads_and_deletes(office: Path, mail_servers: tuple[Postfix, Dovecot]) -> None:
    postfix, dovecot = mail_servers
    env = {**_imap_env(dovecot, _env(postfix.port)), "NEWSLETTER_BOUNCES_SOURCE": "pop3",
           "NEWSLETTER_BOUNCES_PORT": str(dovecot.pop3_port)}
    _dead_letters(office, postfix, env, 5)
    assert "5 disabled" in invoke(env, "bounces", "read", "--pop3")
    assert postfix.messages(BOUNCES) == []  # deleted when the session ended
    assert "Read 0 returned message(s)" in invoke(env, "bounces", "read")
    wrong = CliRunner().invoke(cli, ["bounces", "read"],
                               env={**env, "NEWSLETTER_BOUNCES_PASSWORD": "wrong"})
    assert wrong.exit_code == 1
    assert "Error: POP3 server localhost" in wrong.output
    assert "NEWSLETTER_BOUNCES_PASSWORD" in wrong.output


def test_the_service_reads_returned_mail_as_it_comes(office: Path) -> None:
    with Postfix(mailboxes=[BOUNCES]) as postfix:
        env = _env(postfix.port, NEWSLETTER_BOUNCES_SOURCE="maildir",
                   NEWSLETTER_BOUNCES_PATH=str(postfix.maildir(BOUNCES)),
                   NEWSLETTER_BOUNCES_POLL_SECONDS="1", NEWSLETTER_SCHEDULE_POLL_SECONDS="1")
        invoke(env, "ingest")
        command = [sys.executable, "-m", "newsletter", "--config",
                   str(office / "newsletter.toml"), "run"]
        with started(command, env={**os.environ, **env}, stdout=subprocess.DEVNULL,
                     stderr=subprocess.PIPE, text=True) as service:
            _subscribe(office, env, ["ghost@readers.test"])
            invoke(env, "send", "--list", "daily", "--report", "1")

            def stopped() -> bool:
                with _instance(office, env).open_store() as store:
                    return store.subscribers.get("ghost@readers.test").status == "bounced"

            wait_until(stopped, "the service reading the DSN")
            service.send_signal(signal.SIGTERM)
            _, err = service.communicate(timeout=60)
            assert service.returncode == 0, err
        assert "Traceback" not in err

