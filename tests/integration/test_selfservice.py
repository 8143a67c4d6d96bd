"""Readers help themselves over real HTTP: sign up (double opt-in, the same answer whatever
the address, a honeypot, CSRF, throttles), the link to their own page in every mail, and that
page (lists, language chain, format, pause, a new address, their data, erasure, leaving)."""

from __future__ import annotations

import email
import email.policy
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from newsletter.app import Instance, load_instance
from newsletter.web import create_app
from newsletter.web.readers import _BY_ADDRESS, _BY_CLIENT
from tests.browser import chromium, serving
from tests.helpers import REPO, SAMPLE_REPORT, database_snapshot, drop
from tests.office import add_config
from tests.web_client import Client

SECRET = "selfservice-secret-0123456789abcdef"
ARTIFACTS = REPO / "test-artifacts"
LISTS = ('[lists.daily]\ntitle = "Daily"\ntitle_ru = "Ежедневно"\ntitle_kk = "Күн сайын"\n'
         'public = true\n[lists.weekly]\ntitle = "Weekly"\nmode = "weekly"\npublic = true\n'
         '[lists.alerts]\ntitle = "Alerts"\nmode = "alerts"\npublic = true\n'
         '[lists.staff]\ntitle = "Staff only"\n')


@pytest.fixture
def office(instance: Instance) -> Instance:
    add_config(instance.config_path, LISTS)
    drop(instance.settings.seeds_dir, "sample.txt", SAMPLE_REPORT.read_bytes())
    return load_instance(instance.config_path, cwd=instance.root,
                         environ={"NEWSLETTER_WEB_SECRET": SECRET})


@pytest.fixture
def site(office: Instance) -> Iterator[str]:
    for throttle in (_BY_CLIENT, _BY_ADDRESS):  # module state: each test starts afresh
        throttle._events.clear()
    with serving(create_app(office)) as base:
        yield base


def _mails(office: Instance) -> list[email.message.EmailMessage]:
    folder = office.settings.resolve(office.settings.delivery.folder)
    found = []
    for path in sorted(folder.glob("*.eml"), key=lambda p: p.stat().st_mtime_ns):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert isinstance(message, email.message.EmailMessage)
        found.append(message)
    return found


def _link(message: email.message.EmailMessage, kind: str) -> str:
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    return re.findall(rf"https?://\S+/{kind}/\S+", text)[0]


def _sign_up(client: Client, **fields: str) -> tuple[int, str]:
    csrf = client.csrf("/subscribe?lang=ru")
    return client.request("/subscribe?lang=ru", {"csrf": csrf, **fields})


def test_a_sign_up_confirmed_by_mail_makes_an_active_reader(office: Instance,
                                                            site: str) -> None:
    client = Client(site)
    status, page = client.request("/subscribe?lang=kk&list=weekly")
    assert status == 200
    assert "Күн сайын" in page  # the public lists, in the page's language
    assert "Staff only" not in page
    assert re.search(r'name="list:weekly" value="on" checked', page)
    status, page = _sign_up(client, email="Asel@Readers.test", name="Әсел",
                            **{"list:daily": "on", "language": "kk", "format": "text"})
    assert status == 200
    assert 'data-state="sent"' in page
    with office.open_store() as store:
        asel = store.subscribers.get("asel@readers.test")
        assert (asel.status, asel.language, asel.format) == ("pending", "kk", "text")
        assert store.subscribers.memberships(asel.id) == {"daily": "pending"}
    [mail] = _mails(office)
    assert mail["To"].addresses[0].addr_spec == "asel@readers.test"
    confirm = "/confirm/" + _link(mail, "confirm").split("/confirm/", 1)[1]
    status, _ = client.request(confirm, {})
    assert status == 200
    with office.open_store() as store:
        asel = store.subscribers.get("asel@readers.test")
        assert asel.status == "active"
        assert store.subscribers.memberships(asel.id) == {"daily": "active"}


def test_the_answer_is_the_same_whoever_the_address_is(office: Instance, site: str) -> None:
    _reader(office, "known@readers.test")  # active in daily
    _reader(office, "gone@readers.test")
    with office.open_store() as store:
        gone = store.subscribers.get("gone@readers.test")
        store.subscribers.set_status(gone.id, "suppressed", "t", store.clock()())
    pages = []
    for address in ("new@readers.test", "known@readers.test", "gone@readers.test"):
        status, page = _sign_up(Client(site), email=address, **{"list:daily": "on"})
        pages.append((status, re.sub(r'value="[^"]*"', "", page)))
    assert len(set(pages)) == 1  # new, active and suppressed: one answer
    with office.open_store() as store:
        assert store.subscribers.get("gone@readers.test").status == "suppressed"
        assert store.subscribers.get("known@readers.test").status == "active"
    # Only the new address was written to.
    assert [m["To"].addresses[0].addr_spec for m in _mails(office)] == ["new@readers.test"]


def test_hostile_forms_are_refused_with_a_message(office: Instance, site: str) -> None:
    client = Client(site)
    cases = [
        ({"email": "a@readers.test\r\nBcc: x@evil.test", "list:daily": "on"}, 400),
        ({"email": "a@readers.test", "name": "x" * 10_000, "list:daily": "on"}, 400),
        ({"email": "a@readers.test"}, 400),  # no list
        ({"email": "a@readers.test", "list:staff": "on"}, 400),  # not public: not a choice
    ]
    for fields, code in cases:
        status, page = _sign_up(client, **fields)
        assert status == code, (fields, page[:300])
        assert 'id="message"' in page
        assert "Traceback" not in page
    status, _ = client.request("/subscribe?list=%3Cscript%3E&lang=%0d%0a", None)
    assert status == 200
    # No form token: refused.
    status, page = Client(site).request("/subscribe", {"email": "a@readers.test",
                                                       "list:daily": "on"})
    assert status == 403
    # The field people never see, filled in by a robot: answered as everyone, nothing done.
    status, page = _sign_up(client, email="robot@readers.test", website="http://spam",
                            **{"list:daily": "on"})
    assert 'data-state="sent"' in page
    with office.open_store() as store:
        assert store.subscribers.find("robot@readers.test") is None
        assert store.subscribers.find("a@readers.test") is None


def test_sign_ups_are_throttled(office: Instance, site: str) -> None:
    client = Client(site)
    codes = [_sign_up(client, email="same@readers.test", **{"list:daily": "on"})[0]
             for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    codes = [_sign_up(client, email=f"c{i}@readers.test", **{"list:daily": "on"})[0]
             for i in range(8)]
    assert codes[-1] == 429  # ten a client in ten minutes


def _reader(office: Instance, address: str, chain: str = "ru") -> None:
    from newsletter.subscribers.addresses import check_subscriber

    with office.open_store() as store:
        store.subscribers.import_rows([check_subscriber(address, language=chain)], "daily",
                                      consent_source="t", now=store.clock()())
        store.subscribers.import_rows([check_subscriber(address)], "staff",
                                      consent_source="t", now=store.clock()())


def _manage_link(office: Instance, site: str, address: str) -> str:
    """The link to the reader's page, as the /manage form mails it."""
    client = Client(site)
    csrf = client.csrf("/manage")
    status, page = client.request("/manage", {"csrf": csrf, "email": address})
    assert status == 200
    assert 'data-state="sent"' in page
    link = _link(_mails(office)[-1], "manage")
    return site + "/manage/" + link.split("/manage/", 1)[1]


def test_a_reader_changes_everything_on_their_own_page(office: Instance, site: str) -> None:
    _reader(office, "dana@readers.test")
    url = _manage_link(office, site, "dana@readers.test")
    path = url.removeprefix(site)
    client = Client(site)
    status, page = client.request(path)
    assert status == 200
    assert "dana@readers.test" in page
    assert "Ежедневно" in page  # in her language
    csrf = page.split('name="csrf" value="', 1)[1].split('"', 1)[0]

    def post(**fields: str) -> str:
        status, page = client.request(path, {"csrf": csrf, **fields})
        assert status == 200, page[:500]
        assert 'id="message"' in page
        return page

    post(action="lists", **{"list:weekly": "on", "list:daily": "on"})  # staff: left
    post(action="languages", language="kk", second="ru", third="en")
    post(action="format", format="text")
    post(action="pause", until="2099-01-31")
    with office.open_store() as store:
        dana = store.subscribers.get("dana@readers.test")
        assert store.subscribers.memberships(dana.id) == {"daily": "active", "staff":
                                                          "unsubscribed", "weekly": "active"}
        assert (dana.chain, dana.format) == (("kk", "ru", "en"), "text")
        assert dana.paused_until is not None
        history = [change.what for change in store.readers.history(dana.id)]
    assert {"joined", "languages", "format", "paused", "unsubscribed"} <= set(history)
    status, data = client.request(path + "/data.json")
    assert status == 200
    assert json.loads(data)["email"] == "dana@readers.test"

    # Another reader's token opens only that reader's page; a made-up one, nothing.
    _reader(office, "other@readers.test")
    other = _manage_link(office, site, "other@readers.test").removeprefix(site)
    assert "dana@readers.test" not in client.request(other)[1]
    assert client.request(path[:-3] + "xyz")[0] == 400
    # A post without the page's token changes nothing.
    assert Client(site).request(path, {"action": "leave"})[0] == 403

    # A new address, confirmed from a mail to it.
    post(action="address", email="dana.new@readers.test")
    change = _link(_mails(office)[-1], "manage/address")
    change_path = "/manage/address/" + change.split("/manage/address/", 1)[1]
    assert "dana.new@readers.test" in client.request(change_path)[1]
    status, page = client.request(change_path, {})
    assert status == 200
    with office.open_store() as store:
        assert store.subscribers.find("dana.new@readers.test") is not None

    status, page = client.request(path, {"csrf": csrf, "action": "erase"})
    assert status == 400  # not confirmed: nothing happens
    assert 'id="message"' in page
    database = office.settings.database_path
    status, page = client.request(path, {"csrf": csrf, "action": "erase", "confirm": "yes"})
    assert 'data-state="erased"' in page
    before = database_snapshot(database)
    status, page = client.request(path)  # the token of an erased reader does nothing
    assert status == 400
    assert database_snapshot(database) == before


def test_every_mail_carries_the_readers_own_link(office: Instance, site: str) -> None:
    from click.testing import CliRunner

    from newsletter.cli.main import cli

    _reader(office, "eve@readers.test", "kk")
    env = {"NEWSLETTER_WEB_SECRET": SECRET}
    assert CliRunner().invoke(cli, ["--config", str(office.config_path), "ingest"],
                              env=env).exit_code == 0
    result = CliRunner().invoke(cli, ["--config", str(office.config_path), "send", "--list",
                                      "daily", "--report", "1"], env=env)
    assert result.exit_code == 0, result.output
    [mail] = _mails(office)
    text = mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Жазылымды басқару: " in text  # in her language
    link = _link(mail, "manage")
    status, page = Client(site).request("/manage/" + link.split("/manage/", 1)[1])
    assert status == 200
    assert "eve@readers.test" in page


@pytest.mark.slow
@pytest.mark.parametrize("language", ["en", "ru", "kk"])
def test_sign_up_and_the_readers_page_in_chromium(office: Instance, site: str, language: str,
                                                 tmp_path: Path) -> None:
    """With a real browser, in the reader's language: sign up for two lists, follow both
    mailed links, open the reader's page from a delivered mail, set the chain kk, ru, en, the
    alerts list as a daily digest and plain text; then an alert and a digest go out, and the
    reader gets each once, as chosen. Both pages fit 1200 and 400 pixels without sideways
    scrolling (screenshots in test-artifacts/)."""
    address = f"reader.{language}@readers.test"
    with chromium(tmp_path / "profile") as page:
        for width in (1200, 400):
            page.viewport(width)
            page.goto(f"{site}/subscribe?lang={language}&list=daily")
            assert page.evaluate("document.documentElement.lang") == language
            assert page.overflow() == 0
            page.screenshot(ARTIFACTS / f"subscribe-{language}-{width}.png")
        page.evaluate(f"document.querySelector('#email').value = {json.dumps(address)};"
                      "document.querySelector('input[name=\"list:alerts\"]').checked = true")
        page.click("#subscribe")
        assert page.evaluate("document.querySelector('article').dataset.state") == "sent"
        for mail in _mails(office):  # a confirmation per list
            confirm = _link(mail, "confirm")
            page.goto(site + "/confirm/" + confirm.split("/confirm/", 1)[1])
            page.click("#confirm")
        with office.open_store() as store:
            reader = store.subscribers.get(address)
            assert reader.status == "active"
            assert store.subscribers.memberships(reader.id) == {"alerts": "active",
                                                                "daily": "active"}
        _cli(office, "ingest")
        _cli(office, "send", "--list", "alerts", "--report", "1")
        delivered = _mails(office)[-1]
        assert delivered["To"].addresses[0].addr_spec == address
        manage = site + "/manage/" + _link(delivered, "manage").split("/manage/", 1)[1]
        for width in (1200, 400):
            page.viewport(width)
            page.goto(manage)
            assert page.overflow() == 0
            page.screenshot(ARTIFACTS / f"manage-{language}-{width}.png")
        page.evaluate("document.querySelector('#language').value = 'kk';"
                      "document.querySelector('#second').value = 'ru';"
                      "document.querySelector('#third').value = 'en'")
        page.click("#save-languages")
        assert page.evaluate("document.querySelector('#message') !== null")
        page.evaluate("document.querySelector('#freq-alerts').value = 'daily'")
        page.click("#save-lists")
        page.evaluate("document.querySelector('input[name=format][value=text]').checked = true")
        page.click("#save-format")
    with office.open_store() as store:
        reader = store.subscribers.get(address)
        assert (reader.chain, reader.format) == (("kk", "ru", "en"), "text")
        assert store.subscribers.frequencies(reader.id, current=True) == {("alerts", "daily")}
    sent_before = len(_mails(office))
    # An alert today (the daily digest of alerts takes over after its next digest) and the
    # daily list's digest: each once, in Kazakh, as plain text.
    drop(office.settings.seeds_dir, "more.txt", SAMPLE_REPORT.read_text().replace(
        "Kazakhstan", "Kyrgyzstan"))
    _cli(office, "--set", "ingest.settle_seconds=0", "ingest")
    _cli(office, "send", "--list", "alerts", "--report", "2")
    _cli(office, "digest", "--list", "daily")
    fresh = _mails(office)[sent_before:]
    assert len(fresh) == 2
    for mail in fresh:
        assert mail["To"].addresses[0].addr_spec == address
        assert mail["Content-Language"] == "kk"
        assert mail.get_content_type() == "text/plain"
    with office.open_store() as store:
        rows = [r for r in store.outbox.rows() if r["address"] == address]
    issues = [r["issue_id"] for r in rows]
    assert len(issues) == len(set(issues)) == 3  # the first alert, the second, the digest


def _cli(office: Instance, *args: str) -> None:
    from click.testing import CliRunner

    from newsletter.cli.main import cli

    result = CliRunner().invoke(cli, ["--config", str(office.config_path), *args],
                                env={"NEWSLETTER_WEB_SECRET": SECRET})
    assert result.exit_code == 0, result.output


def test_an_expired_link_offers_a_new_one_and_leaving_stops_everything(
        office: Instance, site: str) -> None:
    from datetime import timedelta

    from newsletter.subscribers.tokens import MANAGE, sign_token

    _reader(office, "old@readers.test")
    with office.open_store() as store:
        reader = store.subscribers.get("old@readers.test")
        today = store.clock()().date()
    stale = sign_token(reader.id, "", today - timedelta(days=91), SECRET, purpose=MANAGE)
    client = Client(site)
    status, page = client.request(f"/manage/{stale}")
    assert status == 410, page[-800:]
    assert 'data-state="expired"' in page
    csrf = page.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    status, page = client.request(f"/manage/{stale}", {"csrf": csrf, "action": "renew"})
    assert 'data-state="sent"' in page
    fresh = _link(_mails(office)[-1], "manage")
    path = "/manage/" + fresh.split("/manage/", 1)[1]
    status, page = client.request(path)
    assert status == 200
    csrf = page.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    status, page = client.request(path, {"csrf": csrf, "action": "leave"})
    assert 'data-state="left"' in page
    with office.open_store() as store:
        reader = store.subscribers.get("old@readers.test")
        assert reader.status == "unsubscribed"
        assert set(store.subscribers.memberships(reader.id).values()) == {"unsubscribed"}
        assert list(store.subscribers.recipients("daily")) == []

