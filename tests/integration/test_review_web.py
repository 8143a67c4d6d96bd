"""The review pages: a login with hashed passwords, sessions, CSRF on every form, a rate limit
on failed logins, apart from the public pages; and in real Chromium, log in, correct,
approve, and see the mail change."""

from __future__ import annotations

import http.cookiejar
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from newsletter.app import Instance
from newsletter.cli.main import cli
from newsletter.subscribers.tokens import UNSUBSCRIBE, sign_token
from newsletter.translate.packages import install
from newsletter.web import create_app
from tests.browser import chromium, serving
from tests.helpers import REPO, drop
from tests.office import report_text, subscribe, with_config
from tests.tiny_argos import TinyPackage
from tests.web_client import Client

SECRET = "review-web-secret-0123456789"
PASSWORD = "correct horse battery staple"
FIELD_WIDTHS = """(() => {
  const width = (selector) => document.querySelector(selector).getBoundingClientRect().width;
  return {title: width('#title'), summary: width('#summary'), source: width('td.source')};
})()"""
LISTS = ('[lists.kz]\ntitle = "Kazakhstan alerts"\nmode = "alerts"\nlanguages = ["en", "kk"]\n'
         'policy = "hold"\nreview = "all"\n')


@pytest.fixture
def office(instance: Instance, tiny_models: dict[str, TinyPackage]) -> Instance:
    """A Kazakh edition held back for review, and one reviewer."""
    loaded = with_config(instance, LISTS, {"NEWSLETTER_WEB_SECRET": SECRET})
    install(tiny_models["en_kk"].archive, loaded.settings.packages_dir)
    now = datetime.now(UTC)
    drop(loaded.inbox.folder, "floods.txt", report_text("Floods", now.date()),
         modified=now - timedelta(minutes=5))
    with loaded.open_store() as store:
        subscribe(store, "kz", ["en@example.org"], language="en")
        subscribe(store, "kz", ["kk@example.org"], language="kk")
        service = loaded.service(store, clock=lambda: now)
        service.prepare()
        service.translate("test")
        assert service.alerts().issues[0].held["kk"]
    added = CliRunner().invoke(cli, ["--config", str(loaded.config_path), "reviewers", "add",
                                     "aigul"], env={"NEWSLETTER_REVIEWER_PASSWORD": PASSWORD,
                                                    "NEWSLETTER_WEB_SECRET": SECRET})
    assert added.exit_code == 0, added.output
    return loaded


def _approved(office: Instance) -> bool:
    with office.open_store() as store:
        return store.editions.of(1)["kk"].approved


def test_every_review_route_needs_a_session_and_every_form_its_csrf_token(
        office: Instance) -> None:
    with serving(create_app(office)) as base:
        anonymous = Client(base)
        for path in ("/review", "/review/1/kk"):
            status, _ = anonymous.request(path)
            assert status == 303
            assert anonymous.last_headers["location"].endswith("/review/login")
        assert anonymous.request("/review/1/kk", {"action": "approve"})[0] == 401
        assert anonymous.request("/review/logout", {})[0] == 401
        # A reader's signed unsubscribe link is no key to the review pages.
        with office.open_store() as store:
            reader = store.subscribers.get("kk@example.org")
        token = sign_token(reader.id, "kz", datetime.now(UTC).date(),
                           office.signing_secrets()[0], purpose=UNSUBSCRIBE)
        anonymous.jar.set_cookie(http.cookiejar.Cookie(
            0, "newsletter_review", token, None, False, "127.0.0.1", False, False, "/review",
            True, False, None, False, None, None, {}))
        assert anonymous.request("/review")[0] == 303
        assert anonymous.request(f"/unsubscribe/{token}")[0] == 200  # the public page works

        reviewer = Client(base)
        status, _ = reviewer.login("aigul", PASSWORD)
        assert status == 303
        cookie = reviewer.last_headers["set-cookie"].lower()
        assert "httponly" in cookie
        assert "samesite=strict" in cookie
        assert reviewer.request("/review")[0] == 200
        assert reviewer.request("/review/1/kk", {"action": "approve"})[0] == 403  # no token
        assert reviewer.request("/review/1/kk", {"action": "approve", "csrf": "forged"})[0] == 403
        assert not _approved(office)
        csrf = reviewer.csrf("/review/1/kk")
        assert reviewer.request("/review/1/kk", {"action": "approve", "csrf": csrf})[0] == 303
        assert _approved(office)
        assert reviewer.request("/review/logout", {"csrf": csrf})[0] == 303
        assert reviewer.request("/review")[0] == 303  # the session is gone


def test_wrong_passwords_are_rate_limited(office: Instance) -> None:
    with serving(create_app(office)) as base:
        client = Client(base)
        for _ in range(5):
            assert client.login("aigul", "wrong")[0] == 401
        status, page = client.login("aigul", PASSWORD)
        assert status == 429  # even the right password, until the window passes
        assert "Too many failed logins" in page
        assert client.request("/review")[0] == 303


def test_log_in_correct_approve_and_see_the_mail_change_in_chromium(
        office: Instance, tmp_path: Path) -> None:
    corrected = "Қазақстан: су тасқыны"
    with serving(create_app(office)) as base, chromium(tmp_path / "profile") as page:
        page.goto(f"{base}/review")
        assert page.evaluate("location.pathname") == "/review/login"
        page.evaluate("document.querySelector('#name').value = 'aigul';"
                      f"document.querySelector('#password').value = {json.dumps(PASSWORD)}")
        page.click("#login")
        assert page.evaluate("location.pathname") == "/review"
        page.click("#queue a.edit")
        assert page.evaluate("location.pathname") == "/review/1/kk"
        assert page.evaluate("document.querySelector('#flags').innerText")  # flags marked
        for width in (1200, 400):
            page.viewport(width)
            fields = page.evaluate(FIELD_WIDTHS)
            for field in ("title", "summary"):  # as wide as the source beside (or above) it
                assert fields[field] >= 0.9 * fields["source"], (width, fields)
                assert fields[field] >= 300, (width, fields)
            assert page.overflow() == 0
            page.screenshot(REPO / "test-artifacts" / f"review-editor-{width}.png")
        page.viewport(1200)
        # The pending mail is shown as it would go, before anyone approves it.
        assert "once you approve" in page.evaluate(
            "document.querySelector('#mail-state').innerText")
        pending = page.evaluate("document.querySelector('#mail').contentDocument.body.innerText")
        machine_title = page.evaluate("document.querySelector('#title').value")
        assert machine_title in pending
        page.evaluate(f"document.querySelector('#title').value = {json.dumps(corrected)}")
        page.click("#save")
        saved = page.evaluate("document.querySelector('#mail').contentDocument.body.innerText")
        assert corrected in saved  # the correction, in the mail, before the approval
        assert not _approved(office)
        page.click("#approve")
        assert "approved" in page.evaluate("document.querySelector('#state').innerText")
        mail = page.evaluate("document.querySelector('#mail').contentDocument.body.innerText")
        assert corrected in mail
        page.screenshot(REPO / "test-artifacts" / "review-approved.png")
    with office.open_store() as store:
        released = office.service(store, clock=lambda: datetime.now(UTC)).releases()
        (issue,) = released.issues
        assert issue.queued == 1  # the one Kazakh reader
        body = json.loads(store.issues.bodies(issue.issue_id)["kk"])
    assert corrected in body["subject"]


def test_the_report_page_of_an_approved_edition_says_what_the_mail_said(
        office: Instance) -> None:
    corrected = "Қазақстан: су тасқыны"
    with office.open_store() as store:  # its body's translation did not pass the checks
        store.db.execute(
            """UPDATE editions SET body_flags = '[{"code": "length", "detail": "too long"}]'
               WHERE report_id = 1 AND language = 'kk'""")
    runner = CliRunner()
    for args in (["review", "edit", "1", "--lang", "kk", "--title", corrected],
                 ["review", "approve", "1", "--lang", "kk", "--by", "aigul"]):
        done = runner.invoke(cli, ["--config", str(office.config_path), *args],
                             env={"NEWSLETTER_WEB_SECRET": SECRET})
        assert done.exit_code == 0, done.output
    with office.open_store() as store:
        edition = store.editions.of(1)["kk"]
    with serving(create_app(office)) as base:
        status, page = Client(base).request("/reports/1?lang=kk")
    assert status == 200
    assert f"<h1>{corrected}</h1>" in page  # the reviewed title, as in the mail
    assert edition.body_flags
    assert 'data-status="reviewed"' in page  # the original text, and why
    assert "Редактор бұл материалдың тақырыбы мен қысқаша мазмұнын" in page
    assert 'data-reason="flagged"' not in page  # never "did not pass" for the title
