"""Unsubscribing over real HTTP (RFC 8058 one-click) and in headless Chromium (ru, kk)."""

from __future__ import annotations

import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from newsletter.app import Instance, load_instance
from newsletter.store import Store
from newsletter.subscribers.addresses import check_subscriber
from newsletter.subscribers.tokens import CONFIRM, sign_test_token, sign_token
from newsletter.web import create_app
from tests.browser import chromium, serving
from tests.helpers import REPO

SECRET = "test-secret-0123456789-abcdefghijkl"
ARTIFACTS = REPO / "test-artifacts"


@pytest.fixture
def web_instance(instance: Instance) -> Instance:
    config = instance.config_path
    config.write_text(config.read_text() + '\n[lists.daily]\ntitle = "Central Asia daily"\n')
    return load_instance(config, cwd=instance.root,
                         environ={"NEWSLETTER_WEB_SECRET": SECRET,
                                  "NEWSLETTER_WEB_OLD_SECRETS": "retired-key-9876543210"})


def _subscribe(store: Store, email: str, language: str, *, status: str = "active") -> int:
    store.subscribers.import_rows([check_subscriber(email, language=language)], "daily",
                             consent_source="test", now=datetime.now(UTC), status=status)
    return store.subscribers.get(email).id


def _post(url: str, body: bytes) -> tuple[int, str]:
    request = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": "application/x-www-form-urlencoded", "User-Agent": "MailClient/1.0"})
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return reply.status, reply.read().decode("utf-8")
    except urllib.error.HTTPError as error:
        with error:  # it holds the connection: closed here, not by the GC
            return error.code, error.read().decode("utf-8")


def test_one_click_post_unsubscribes_at_once(web_instance: Instance) -> None:
    with web_instance.open_store() as store:
        subscriber = _subscribe(store, "reader@example.org", "ru")
        other = _subscribe(store, "other@example.org", "en")
    token = sign_token(subscriber, "daily", datetime.now(UTC).date(), SECRET)
    with serving(create_app(web_instance)) as base:
        status, page = _post(f"{base}/unsubscribe/{token}", b"List-Unsubscribe=One-Click")
        assert status == 200
        assert "Вы отписались от рассылки «Central Asia daily»" in page
        status, _ = _post(f"{base}/unsubscribe/{token}x", b"List-Unsubscribe=One-Click")
        assert status == 400
    with web_instance.open_store() as store:
        assert store.subscribers.memberships(subscriber) == {"daily": "unsubscribed"}
        assert [s.id for s in store.subscribers.recipients("daily")] == [other]
        method = store.db.execute("SELECT method FROM unsubscribe_events").fetchone()[0]
        assert method == "web (MailClient/1.0)"


def test_links_signed_with_a_retired_key_still_work(web_instance: Instance) -> None:
    with web_instance.open_store() as store:
        subscriber = _subscribe(store, "old@example.org", "en")
    sent = datetime.now(UTC).date() - timedelta(days=300)
    token = sign_token(subscriber, "daily", sent, "retired-key-9876543210")
    with serving(create_app(web_instance)) as base:
        status, page = _post(f"{base}/unsubscribe/{token}", b"")
        assert status == 200
        assert "You have been unsubscribed from Central Asia daily" in page


@pytest.mark.parametrize(
    ("language", "question", "button", "done"),
    [("ru", "Вы хотите больше не получать рассылку", "Да, отписаться", "Вы отписались"),
     ("kk", "таратылымын", "Иә, бас тарту", "Жазылымнан бас тарттыңыз")],
)
def test_the_confirm_page_in_chromium(web_instance: Instance, tmp_path: Path, language: str,
                                      question: str, button: str, done: str) -> None:
    with web_instance.open_store() as store:
        subscriber = _subscribe(store, f"{language}@example.org", language)
    token = sign_token(subscriber, "daily", datetime.now(UTC).date(), SECRET)
    with serving(create_app(web_instance)) as base, chromium(tmp_path / "profile") as page:
        page.goto(f"{base}/unsubscribe/{token}")
        text = page.evaluate("document.body.innerText")
        assert question in text
        assert page.evaluate("document.querySelector('#confirm').innerText") == button
        assert page.evaluate("document.documentElement.lang") == language
        page.screenshot(ARTIFACTS / f"unsubscribe-{language}.png")
        page.click("#confirm")
        assert done in page.evaluate("document.querySelector('h1').innerText")
    with web_instance.open_store() as store:
        assert store.subscribers.memberships(subscriber) == {"daily": "unsubscribed"}


def test_double_opt_in_is_confirmed_through_the_web_app(web_instance: Instance) -> None:
    with web_instance.open_store() as store:
        subscriber = _subscribe(store, "new@example.org", "kk", status="pending")
        assert list(store.subscribers.recipients("daily")) == []
    token = sign_token(subscriber, "daily", datetime.now(UTC).date(), SECRET, purpose=CONFIRM)
    with serving(create_app(web_instance)) as base:
        with urllib.request.urlopen(f"{base}/confirm/{token}", timeout=10) as reply:
            assert "Иә, жазылу" in reply.read().decode("utf-8")
        with web_instance.open_store() as store:
            assert store.subscribers.by_id(subscriber).status == "pending"  # GET changes nothing
        status, page = _post(f"{base}/confirm/{token}", b"")
        assert status == 200
        assert "жазылуыңыз расталды" in page
        unsubscribe = sign_token(subscriber, "daily", datetime.now(UTC).date(), SECRET)
        assert _post(f"{base}/confirm/{unsubscribe}", b"")[0] == 400  # wrong purpose
    with web_instance.open_store() as store:
        assert [s.email for s in store.subscribers.recipients("daily")] == ["new@example.org"]


def test_every_link_page_names_the_list_in_the_readers_language(instance: Instance) -> None:
    config = instance.config_path
    config.write_text(config.read_text() + '\n[lists.ca]\ntitle = "Central Asia"\n'
                      'title_ru = "Центральная Азия"\ntitle_kk = "Орталық Азия"\n')
    office = load_instance(config, cwd=instance.root, environ={"NEWSLETTER_WEB_SECRET": SECRET})
    today = datetime.now(UTC).date()
    with office.open_store() as store:
        store.subscribers.import_rows([check_subscriber("ru@example.org", language="ru")], "ca",
                                      consent_source="test", now=datetime.now(UTC))
        store.subscribers.import_rows([check_subscriber("kk@example.org", language="kk")], "ca",
                                      consent_source="test", now=datetime.now(UTC),
                                      status="pending")
        russian = store.subscribers.get("ru@example.org").id
        kazakh = store.subscribers.get("kk@example.org").id
    pages = {
        f"/unsubscribe/{sign_token(russian, 'ca', today, SECRET)}": "«Центральная Азия»",
        f"/confirm/{sign_token(kazakh, 'ca', today, SECRET, purpose=CONFIRM)}": "«Орталық Азия»",
        f"/unsubscribe/{sign_test_token('ca', 'kk', today, SECRET)}": "«Орталық Азия»",
    }
    with serving(create_app(office)) as base:
        for path, title in pages.items():
            for body in (None, b""):  # the question, then the answer
                request = urllib.request.Request(base + path, data=body)
                with urllib.request.urlopen(request, timeout=30) as reply:
                    page = reply.read().decode("utf-8")
                assert title in page, (path, page)
                assert "Central Asia" not in page
