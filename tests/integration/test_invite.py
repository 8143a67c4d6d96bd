"""Double opt-in: `subscribers invite` sends a confirmation mail; the address stays pending."""

from __future__ import annotations

import email
import email.policy
import re
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner

from newsletter.app import load_instance
from newsletter.cli.main import cli
from newsletter.web import create_app
from tests.browser import serving
from tests.office import (
    add_config,
    relay_env,
)
from tests.smtp_server import smtp_sink


@pytest.fixture
def office(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "office"
    CliRunner().invoke(cli, ["init", str(folder)])
    add_config(folder / "newsletter.toml", '[lists.daily]\ntitle = "Central Asia daily"\n')
    monkeypatch.chdir(folder)
    monkeypatch.setenv("NEWSLETTER_WEB_SECRET", "invite-test-secret-0123456789")
    return folder


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_an_invitation_over_smtp_then_confirmed_in_the_web_app(office: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    with smtp_sink() as (sink, port):
        for name, value in relay_env(port).items():
            monkeypatch.setenv(name, value)
        code, out, err = invoke("subscribers", "invite", "Asel@Example.org", "--list", "daily",
                                "--language", "kk", "--name", "Асель")
        assert code == 0, err
        assert "pending until confirmed" in out
    [received] = sink.messages
    assert received.recipients == ["asel@example.org"]
    message = email.message_from_bytes(received.data, policy=email.policy.default)
    assert message["Subject"] == "«Central Asia daily» таратылымына жазылуыңызды растаңыз"
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Сәлеметсіз бе, Асель!" in text
    confirm_url = re.search(r"http://127\.0\.0\.1:8025(/confirm/\S+)", text)
    assert confirm_url is not None
    assert invoke("subscribers", "show", "asel@example.org")[1].count("pending") == 2
    instance = load_instance(office, cwd=office, environ={
        "NEWSLETTER_WEB_SECRET": "invite-test-secret-0123456789"})
    with instance.open_store() as store:
        assert list(store.subscribers.recipients("daily")) == []  # nothing is sent before confirmation
    with serving(create_app(instance)) as base:
        request = urllib.request.Request(base + confirm_url.group(1), data=b"", method="POST")
        with urllib.request.urlopen(request, timeout=10) as reply:
            assert "жазылуыңыз расталды" in reply.read().decode("utf-8")
    with instance.open_store() as store:
        assert [s.email for s in store.subscribers.recipients("daily")] == ["asel@example.org"]


def test_an_invitation_to_the_file_outbox_and_refusals(office: Path) -> None:
    code, out, _ = invoke("subscribers", "invite", "b@example.org", "--list", "daily")
    assert code == 0
    written = list((office / "var" / "outbox" / "mail").glob("*.eml"))
    assert len(written) == 1
    assert b"/confirm/" in written[0].read_bytes()
    invoke("subscribers", "add", "c@example.org", "--list", "daily")
    invoke("subscribers", "remove", "c@example.org", "--suppress")
    code, _, err = invoke("subscribers", "invite", "c@example.org", "--list", "daily")
    assert code == 1
    assert "not invited" in err


def test_invitations_need_a_signing_key(office: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NEWSLETTER_WEB_SECRET")
    code, _, err = invoke("subscribers", "invite", "d@example.org", "--list", "daily")
    assert code == 1
    assert "NEWSLETTER_WEB_SECRET" in err


def test_an_invitation_keeps_the_name_and_language_already_stored(office: Path) -> None:
    code, _, err = invoke("subscribers", "invite", "asel@example.org", "--list", "daily",
                          "--name", "Асель", "--language", "kk", "--format", "text")
    assert code == 0, err
    outbox = office / "var" / "outbox" / "mail"
    for sent in outbox.glob("*.eml"):
        sent.unlink()
    code, _, err = invoke("subscribers", "invite", "asel@example.org", "--list", "daily")  # again
    assert code == 0, err
    [written] = outbox.glob("*.eml")
    message = email.message_from_bytes(written.read_bytes(), policy=email.policy.default)
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Сәлеметсіз бе, Асель!" in text
    shown = invoke("subscribers", "show", "asel@example.org")[1]
    assert "Асель" in shown
    assert "kk" in shown
    assert "text" in shown


def _confirm_link(office: Path) -> str:
    outbox = office / "var" / "outbox" / "mail"
    newest = max(outbox.glob("*.eml"), key=lambda p: p.stat().st_mtime_ns)
    message = email.message_from_bytes(newest.read_bytes(), policy=email.policy.default)
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    found = re.search(r"http://127\.0\.0\.1:8025(/confirm/\S+)", text)
    assert found is not None
    return found.group(1)


def test_a_reader_who_left_can_be_invited_back_and_is_active_once_they_confirm(
        office: Path) -> None:
    invoke("subscribers", "add", "e@example.org", "--list", "daily")
    assert invoke("subscribers", "remove", "e@example.org")[0] == 0  # unsubscribed, everywhere
    code, out, err = invoke("subscribers", "invite", "e@example.org", "--list", "daily")
    assert code == 0, err
    assert "pending until confirmed" in out
    instance = load_instance(office, cwd=office, environ={
        "NEWSLETTER_WEB_SECRET": "invite-test-secret-0123456789"})
    with instance.open_store() as store:
        assert list(store.subscribers.recipients("daily")) == []  # not before they confirm
    link = _confirm_link(office)
    with serving(create_app(instance)) as base:
        request = urllib.request.Request(base + link, data=b"", method="POST")
        with urllib.request.urlopen(request, timeout=10) as reply:
            assert reply.status == 200
    with instance.open_store() as store:
        assert [s.email for s in store.subscribers.recipients("daily")] == ["e@example.org"]
        subscriber = store.subscribers.get("e@example.org")
        assert subscriber.status == "active"
        # a link whose invitation no longer stands confirms nothing, and says so
        store.subscribers.unsubscribe(subscriber.id, "daily", "test", store.now())
    with serving(create_app(instance)) as base:
        request = urllib.request.Request(base + link, data=b"", method="POST")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=10)
        refused.value.close()
        assert refused.value.code == 400
