"""Honest mail, through the real command line, a real SMTP server and the real web app:
every message is DKIM-signed the same way (list mail, test sends and invitations, in Russian
and Kazakh); a test send's unsubscribe link says it was a test and changes nothing; and real
mail whose links readers cannot follow is refused before anything is queued."""

from __future__ import annotations

import base64
import email
import email.policy
import os
import re
import subprocess
import sys
import urllib.error
import urllib.request
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import dkim
import pytest

from newsletter.app import Instance, load_instance
from newsletter.web import create_app
from tests.browser import serving
from tests.helpers import SAMPLE_REPORT, database_snapshot, dkim_dns, dkim_key
from tests.office import add_config, ingest_sample, queue_alert, report_text, subscribe
from tests.smtp_server import Received, smtp_sink

SECRET = "honest-mail-secret-0123456789abcdef"
TITLE = "Орталық Азия: күнделікті шолу"
LIST = f'[lists.daily]\ntitle = "{TITLE}"\nlanguages = ["ru", "kk"]\n'
PUBLIC = "https://updates.example.org"
DEFAULT_URL = "http://127.0.0.1:8025"  # [web] base_url's default
TEST_PAGE = {"ru": ("Это было тестовое письмо", "Ни одна подписка не изменилась"),
             "kk": ("Бұл сынақ хат болды", "Ешбір жазылым өзгертілмеді")}


@pytest.fixture
def office(cli_office: Path) -> Path:
    """Two reports (the sample, and a fresh one already queued as an alert), and a Russian
    and a Kazakh reader of a list with a Kazakh title."""
    add_config(cli_office / "newsletter.toml", LIST)
    loaded = _instance(cli_office)
    ingest_sample(loaded, reports={
        "a.txt": SAMPLE_REPORT.read_bytes(),
        "b.txt": report_text("Су тасқыны", datetime.now(UTC).date())})
    with loaded.open_store() as store:
        subscribe(store, "daily", ["ru@example.org"], language="ru")
        subscribe(store, "daily", ["kk@example.org"], language="kk")
    return cli_office


def _instance(folder: Path) -> Instance:
    return load_instance(folder, cwd=folder, environ={"NEWSLETTER_WEB_SECRET": SECRET})


def _newsletter(folder: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """The real command line, in a process of its own (a command that failed to refuse
    would keep running: the timeout fails the test instead)."""
    return subprocess.run(
        [sys.executable, "-m", "newsletter", "--config", str(folder), *args],
        env={**os.environ, "NEWSLETTER_WEB_SECRET": SECRET, **env}, capture_output=True,
        text=True, timeout=120, check=False)


def _smtp(port: int, **extra: str) -> dict[str, str]:
    """Real mail through the sink on ``port``: no allowance for insecure links."""
    return {"NEWSLETTER_DELIVERY_TRANSPORT": "smtp", "NEWSLETTER_SMTP_HOST": "127.0.0.1",
            "NEWSLETTER_SMTP_PORT": str(port), "NEWSLETTER_SMTP_SECURITY": "none", **extra}


def _parsed(received: Received) -> EmailMessage:
    message = email.message_from_bytes(received.data, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def test_list_mail_test_sends_and_invitations_are_dkim_signed_alike(office: Path,
                                                                    tmp_path: Path) -> None:
    key, record = dkim_key(tmp_path)
    dns = dkim_dns(record, b"news._domainkey.example.org.")
    with smtp_sink() as (sink, port):
        env = _smtp(port, NEWSLETTER_WEB_BASE_URL=PUBLIC, NEWSLETTER_DKIM_KEY_FILE=str(key),
                    NEWSLETTER_DKIM_SELECTOR="news")
        commands = [["send", "--list", "daily", "--report", "1"],
                    *(["send", "--list", "daily", "--report", "1", "--lang", lang,
                       "--test-to", f"editor-{lang}@example.org"] for lang in ("ru", "kk")),
                    *(["subscribers", "invite", f"new-{lang}@example.org", "--list", "daily",
                       "--language", lang] for lang in ("ru", "kk"))]
        for command in commands:
            done = _newsletter(office, *command, **env)
            assert done.returncode == 0, done.stderr
    kinds = {"ru@example.org": "list", "kk@example.org": "list", "editor-ru@example.org": "test",
             "editor-kk@example.org": "test", "new-ru@example.org": "invitation",
             "new-kk@example.org": "invitation"}
    subjects = {"list": {"ru": "Срочно: ", "kk": "Шұғыл: "},
                "test": {"ru": "Срочно: ", "kk": "Шұғыл: "},
                "invitation": {"ru": f"«{TITLE}»", "kk": f"«{TITLE}» таратылымына"}}
    seen = set()
    for received in sink.messages:
        [address] = received.recipients
        message = _parsed(received)
        kind, language = kinds[address], message["Content-Language"]
        seen.add((kind, language))
        assert received.data.startswith(b"DKIM-Signature:"), address
        assert subjects[kind][language] in message["Subject"], (address, message["Subject"])
        assert dkim.verify(received.data, dnsfunc=dns), address
        # The unsubscribe headers are covered: a changed link breaks the signature.
        link = message["List-Unsubscribe"].split(">", 1)[0].lstrip("<")
        assert link.startswith(f"{PUBLIC}/unsubscribe/")
        tampered = received.data.replace(link.encode(), link.encode() + b"x", 1)
        assert tampered != received.data
        assert not dkim.verify(tampered, dnsfunc=dns), address
    assert seen == {(kind, lang) for kind in ("list", "test", "invitation")
                    for lang in ("ru", "kk")}


def _post(url: str, body: bytes) -> tuple[int, str]:
    request = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": "application/x-www-form-urlencoded", "User-Agent": "MailClient/1.0"})
    return _open(request)


def _open(request: urllib.request.Request | str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return reply.status, reply.read().decode("utf-8")
    except urllib.error.HTTPError as error:
        with error:  # it holds the connection: closed here, not by the GC
            return error.code, error.read().decode("utf-8")


@pytest.mark.parametrize("language", ["ru", "kk"])
def test_a_test_sends_unsubscribe_link_says_so_and_changes_nothing(office: Path,
                                                                   language: str) -> None:
    with smtp_sink() as (sink, port):
        done = _newsletter(office, "send", "--list", "daily", "--report", "1", "--lang",
                           language, "--test-to", "editor@example.org",
                           **_smtp(port, NEWSLETTER_WEB_BASE_URL=PUBLIC))
        assert done.returncode == 0, done.stderr
    [received] = sink.messages
    message = _parsed(received)
    assert message["Content-Language"] == language
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    found = re.fullmatch(rf"<{re.escape(PUBLIC)}/unsubscribe/(\S+)>,\s*"
                         r"<mailto:unsubscribe@example\.org\?subject=unsubscribe%20(\S+)>",
                         message["List-Unsubscribe"])
    assert found is not None, message["List-Unsubscribe"]
    token = found.group(1)
    assert found.group(2) == token
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert f"{PUBLIC}/unsubscribe/{token}" in text  # the body's link is the same one

    instance = _instance(office)
    with instance.open_store() as store:
        readers = {s.email: s.id for s in store.subscribers.recipients("daily")}
    assert set(readers) == {"ru@example.org", "kk@example.org"}
    database = office / "var" / "newsletter.db"
    before = database_snapshot(database)
    heading, sentence = TEST_PAGE[language]
    with serving(create_app(instance)) as base:
        status, page = _open(f"{base}/unsubscribe/{token}")
        assert status == 200
        assert heading in page
        assert sentence in page
        assert TITLE in page
        assert f'lang="{language}"' in page
        status, page = _post(f"{base}/unsubscribe/{token}", b"List-Unsubscribe=One-Click")
        assert status == 200  # RFC 8058: the mail client is told it worked…
        assert heading in page
        assert sentence in page
        assert _post(f"{base}/confirm/{token}", b"")[0] == 400  # no other page takes it
        # The test token's signature on a list token's payload does not make one.
        _, kid, mac = token.split(".")
        for subscriber in readers.values():
            payload = f"u:{subscriber}:daily:{datetime.now(UTC).date().toordinal()}".encode()
            forged = f"{base64.urlsafe_b64encode(payload).rstrip(b'=').decode()}.{kid}.{mac}"
            assert _post(f"{base}/unsubscribe/{forged}", b"List-Unsubscribe=One-Click")[0] == 400
    after = database_snapshot(database)
    assert after[1] == before[1]  # no row changed: everyone is still subscribed
    with instance.open_store() as store:
        assert {s.email for s in store.subscribers.recipients("daily")} == set(readers)


@pytest.mark.parametrize(("base_url", "allowed", "refused_because"), [
    (None, False, "it is http, not https; its host 127.0.0.1 is this machine"),
    ("http://updates.example.org", False, "it is http, not https"),
    ("https://127.0.0.1:8443", False, "its host 127.0.0.1 is this machine"),
    ("https://localhost", False, "its host localhost is this machine"),
    (PUBLIC, False, None),
    (None, True, None),
], ids=["loopback-http", "public-http", "loopback-https", "localhost-https", "public-https",
        "allowance"])
def test_real_mail_needs_links_readers_can_follow(office: Path, base_url: str | None,
                                                  allowed: bool,
                                                  refused_because: str | None) -> None:
    database = office / "var" / "newsletter.db"
    before = database_snapshot(database)
    with smtp_sink() as (sink, port):
        env = _smtp(port)
        if base_url is not None:
            env["NEWSLETTER_WEB_BASE_URL"] = base_url
        if allowed:
            env["NEWSLETTER_WEB_ALLOW_INSECURE_LINKS"] = "true"
        done = _newsletter(office, "send", "--list", "daily", "--report", "1", **env)
    if refused_because is not None:
        assert done.returncode == 1
        shown = base_url or DEFAULT_URL
        assert f"Error: refusing to send mail over SMTP whose links point to {shown}: " \
               f"{refused_because}" in done.stderr
        assert "Hint: set [web] base_url" in done.stderr
        assert "https://" in done.stderr
        assert "allow_insecure_links = true" in done.stderr
        assert "Traceback" not in done.stderr
        assert sink.messages == []
        assert database_snapshot(database)[1] == before[1]  # nothing queued or recorded
        return
    assert done.returncode == 0, done.stderr
    assert sorted(m.recipients[0] for m in sink.messages) == ["kk@example.org",
                                                               "ru@example.org"]
    for received in sink.messages:
        assert _parsed(received)["List-Unsubscribe"].startswith(
            f"<{base_url or DEFAULT_URL}/unsubscribe/")


SENDING = [
    ["send", "--list", "daily", "--report", "1"],
    ["send", "--list", "daily", "--report", "1", "--test-to", "editor@example.org"],
    ["digest", "--list", "daily"],
    ["deliver"],
    ["run", "--once"],
    ["worker", "deliver"],
    ["subscribers", "invite", "new@example.org", "--list", "daily", "--language", "kk"],
    # Queueing for the delivery workers: the links are fixed in the mail when it is queued.
    ["send", "--list", "daily", "--report", "1", "--queue-only"],
    ["digest", "--list", "daily", "--queue-only"],
    ["scheduler"],
]


@pytest.mark.parametrize("command", SENDING, ids=" ".join)
def test_every_command_that_sends_over_smtp_refuses_before_anything_changes(
        office: Path, command: list[str]) -> None:
    """With the default base_url, each command stops at once: the alert already queued
    stays pending and unsent, nothing new is queued, stored or recorded."""
    instance = _instance(office)
    with instance.open_store() as store:
        queued = queue_alert(instance, store, report_ids=[2])
    database = office / "var" / "newsletter.db"
    before = database_snapshot(database)
    with smtp_sink() as (sink, port):
        done = _newsletter(office, *command, **_smtp(port))
    assert done.returncode == 1, done.stdout
    assert f"Error: refusing to send mail over SMTP whose links point to {DEFAULT_URL}" \
        in done.stderr
    assert "Hint:" in done.stderr
    assert "Traceback" not in done.stderr
    assert sink.messages == []
    after = database_snapshot(database)
    assert after[1] == before[1]
    with instance.open_store() as store:
        assert {row["state"] for row in store.outbox.rows(queued.issue_id)} == {"pending"}


@pytest.mark.parametrize("command", [
    ["send", "--list", "daily", "--report", "1"],
    ["send", "--list", "daily", "--report", "1", "--test-to", "editor@example.org"],
    ["subscribers", "invite", "new@example.org", "--list", "daily", "--language", "ru"],
], ids=" ".join)
def test_the_file_transport_is_not_concerned(office: Path, command: list[str]) -> None:
    done = _newsletter(office, *command)  # the default base_url and the file transport
    assert done.returncode == 0, done.stderr
    written = list((office / "var" / "outbox" / "mail").glob("*.eml"))
    assert written
    assert all(f"<{DEFAULT_URL}/unsubscribe/".encode() in path.read_bytes()
               for path in written)


def test_test_sends_go_in_the_readers_language_one_per_language_each_a_message_of_its_own(
        office: Path) -> None:
    with smtp_sink() as (sink, port):
        env = _smtp(port, NEWSLETTER_WEB_BASE_URL=PUBLIC)
        for args in (["--test-to", "kk@example.org"],  # a Kazakh reader of the list
                     ["--test-to", "editor@example.org", "--lang", "ru", "--lang", "kk"],
                     ["--test-to", "editor@example.org", "--lang", "ru"]):
            done = _newsletter(office, "send", "--list", "daily", "--report", "1", *args,
                               **env)
            assert done.returncode == 0, done.stderr
    sent = [(m.recipients[0], _parsed(m)["Content-Language"], _parsed(m)["Message-ID"])
            for m in sink.messages]
    assert [(address, language) for address, language, _ in sent] == [
        ("kk@example.org", "kk"), ("editor@example.org", "ru"), ("editor@example.org", "kk"),
        ("editor@example.org", "ru")]
    assert len({message_id for *_, message_id in sent}) == 4  # no client drops a second test
