"""Atom feeds per list and language and CAP 1.2 alerts, over real HTTP, read back by
independent parsers (feedparser, capparser) and checked against the database: one entry
per report carried, in the language's words, saying what was machine-translated."""

from __future__ import annotations

import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import capparser
import feedparser
import pytest
from click.testing import CliRunner

from newsletter.app import Instance, load_instance
from newsletter.cli.main import cli
from newsletter.errors import ConfigError
from newsletter.store.database import Database
from newsletter.translate.packages import install
from newsletter.web import create_app
from tests.browser import serving
from tests.helpers import Clock, drop
from tests.office import arrive, report_text, subscribe, with_config
from tests.tiny_argos import TinyPackage

SECRET = "feeds-test-secret-0123456789abcdef"
LISTS = ('[lists.kz]\ntitle = "Kazakhstan alerts"\ntitle_ru = "Казахстан: оповещения"\n'
         'mode = "alerts"\nlanguages = ["en", "ru", "kk"]\npolicy = "hold"\nreview = "all"\n'
         'cap_severity = "Severe"\n'
         '[lists.open]\ntitle = "Open"\nmode = "alerts"\nlanguages = ["en", "ru", "kk"]\n'
         'review = "none"\n')
CAP = "urn:oasis:names:tc:emergency:cap:1.2"


@pytest.fixture
def office(instance: Instance, tiny_models: dict[str, TinyPackage]) -> Instance:
    loaded = with_config(instance, LISTS, {"NEWSLETTER_WEB_SECRET": SECRET})
    install(tiny_models["en_kk"].archive, loaded.settings.packages_dir)
    install(tiny_models["en_ru"].archive, loaded.settings.packages_dir)
    with loaded.open_store() as store:
        for name in ("kz", "open"):
            subscribe(store, name, [f"{name}-{lang}@example.org" for lang in ("en",)],
                      language="en")
            subscribe(store, name, [f"{name}-ru@example.org"], language="ru")
        subscribe(store, "kz", ["kz-kk@example.org"], language="kk")
    return loaded


def _cli(office: Instance, *args: str) -> str:
    result = CliRunner().invoke(cli, ["--config", str(office.config_path), *args],
                                env={"NEWSLETTER_WEB_SECRET": SECRET})
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture
def site(office: Instance) -> Iterator[str]:
    with serving(create_app(office)) as base:
        yield base


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes, Any]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:
            return reply.status, reply.read(), reply.headers
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.read(), error.headers


def _alerted(office: Instance) -> Clock:
    """A report arrives and is translated; the alert goes out to both lists (kz holds ru
    and kk for a reviewer; open reviews nothing)."""
    clock = Clock(datetime.now(UTC))
    arrive(office, clock, "floods.txt", "Kazakhstan: Floods")
    with office.open_store() as store:
        office.service(store, clock=clock).alerts()
    return clock


def test_feeds_say_what_each_language_got(office: Instance, site: str) -> None:
    _alerted(office)
    base = office.settings.web.base_url.rstrip("/")
    en = feedparser.parse(_get(f"{site}/feeds/kz/en.atom")[1])
    assert not en.bozo
    [entry] = en.entries
    assert entry.title == "Kazakhstan: Floods"
    assert entry.id == f"{base}/reports/1"
    assert {tag.term for tag in entry.tags} >= {"KZ", "original"}
    assert "Original text in English." in entry.content[0].value
    assert feedparser.parse(_get(f"{site}/feeds/kz/ru.atom")[1]).entries == []  # held
    assert feedparser.parse(_get(f"{site}/feeds/kz/kk.atom")[1]).entries == []
    # The list that reviews nothing sends each language at once: the machine's Russian, and
    # the original where the Kazakh translation was flagged. What each entry says it is
    # matches what the database holds.
    with office.open_store() as store:
        editions = store.editions.of(1)
    for language, expected in (("ru", "machine" if not editions["ru"].flags else "original"),
                               ("kk", "machine" if not editions["kk"].flags else "original")):
        open_feed = feedparser.parse(_get(f"{site}/feeds/open/{language}.atom")[1])
        [entry] = open_feed.entries
        assert expected in {tag.term for tag in entry.tags}, language
        if expected == "machine":
            assert str(editions[language].model) in entry.content[0].value
    ru = feedparser.parse(_get(f"{site}/feeds/open/ru.atom")[1])
    assert ru.feed.language == "ru"

    _cli(office, "review", "approve", "1", "--lang", "kk", "--by", "Aigul")
    with office.open_store() as store:
        office.service(store, clock=Clock(datetime.now(UTC))).releases()
    kk = feedparser.parse(_get(f"{site}/feeds/kz/kk.atom")[1])
    assert [e.id for e in kk.entries] == [f"{base}/reports/1"]  # now that it may go
    assert "reviewed" in {tag.term for tag in kk.entries[0].tags}
    assert _get(f"{site}/feeds/kz/de.atom")[0] == 404
    assert _get(f"{site}/feeds/none/en.atom")[0] == 404
    index = _get(f"{site}/")[1].decode()
    assert 'rel="alternate" type="application/atom+xml" href="/feeds/kz/en.atom"' in index


def test_cap_alerts_have_a_block_per_language_and_updates_reference(office: Instance,
                                                                   site: str) -> None:
    _alerted(office)
    with office.open_store() as store:
        issues = {store.issues.get(i).list_name: i
                  for i in {r["issue_id"] for r in store.outbox.rows()}}
    first = issues["kz"] if issues["kz"] < issues["open"] else issues["open"]
    later = max(issues.values())
    status, body, headers = _get(f"{site}/cap/{first}.xml")
    assert status == 200
    assert headers["Content-Type"].startswith("application/cap+xml")
    alert = capparser.parse(stringXML=body.decode())
    assert alert.msgType[0] == "Alert"
    assert alert.sender[0] == office.settings.mail.from_address
    assert alert.scope[0] == "Public"
    assert alert.sent[0].endswith("-00:00")
    languages = [info.language[0] for info in alert.info[0]]
    assert languages[0] == "en-US"
    for info in alert.info[0]:
        assert info.headline[0]
        params = {p.valueName[0]: p.value[0] for p in info.parameter[0]}
        assert params["translation"] in ("original", "machine", "reviewed")
        [area] = info.area[0]
        assert [g.value[0] for g in area.geocode[0]] == ["KZ"]
    update = capparser.parse(stringXML=_get(f"{site}/cap/{later}.xml")[1].decode())
    assert update.msgType[0] == "Update"
    assert update.references[0].split(",")[1] == alert.identifier[0]
    kz = capparser.parse(stringXML=_get(f"{site}/cap/{issues['kz']}.xml")[1].decode())
    assert {info.severity[0] for info in kz.info[0]} == {"Severe"}  # the list's
    assert "kk-KZ" not in [info.language[0] for info in kz.info[0]]  # held: not sent
    _cli(office, "reports", "cap", "1", "--severity", "Extreme", "--urgency", "Immediate")
    kz = capparser.parse(stringXML=_get(f"{site}/cap/{issues['kz']}.xml")[1].decode())
    assert {(i.severity[0], i.urgency[0]) for i in kz.info[0]} == {("Extreme", "Immediate")}
    index = feedparser.parse(_get(f"{site}/feeds/kz/cap.atom")[1])
    assert [e.links[0].href.rsplit("/", 1)[1] for e in index.entries] == [
        f"{issues['kz']}.xml"]
    assert _get(f"{site}/cap/999.xml")[0] == 404


def test_a_fresh_copy_is_answered_304_after_one_query(office: Instance, site: str,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    _alerted(office)
    status, _, headers = _get(f"{site}/feeds/kz/en.atom")
    tag = headers["ETag"]
    assert headers["Last-Modified"]
    counted: list[str] = []
    depth = [0]  # one() and all() run their statement through execute(): counted once
    for name in ("one", "all", "execute", "scalar", "executemany"):
        original = getattr(Database, name)

        def counting(self: Database, *args: Any, __original: Any = original,
                     __name: str = name, **kwargs: Any) -> Any:
            if not depth[0]:
                counted.append(__name)
            depth[0] += 1
            try:
                return __original(self, *args, **kwargs)
            finally:
                depth[0] -= 1
        monkeypatch.setattr(Database, name, counting)
    with office.open_store():
        pass
    opening = len(counted)  # what opening and closing the database take, whatever the page
    counted.clear()
    status, body, _ = _get(f"{site}/feeds/kz/en.atom", {"If-None-Match": tag})
    assert (status, body) == (304, b"")
    assert len(counted) - opening == 1, repr(counted)  # the fingerprint; nothing built
    monkeypatch.undo()
    # A feed asked for without a tag is built once per change, then kept.
    first, second = _get(f"{site}/feeds/kz/en.atom"), _get(f"{site}/feeds/kz/en.atom")
    assert first[1] == second[1]
    assert first[2]["Last-Modified"] == second[2]["Last-Modified"]  # when it was built
    # A list's title changes in newsletter.toml: a new tag, and the new title.
    config = office.config_path
    config.write_text(config.read_text().replace('title = "Kazakhstan alerts"',
                                                 'title = "KZ alerts"'))
    status, body, _ = _get(f"{site}/feeds/kz/en.atom", {"If-None-Match": tag})
    assert status == 200
    assert feedparser.parse(body).feed.title == "KZ alerts"
    tag = _get(f"{site}/feeds/kz/en.atom")[2]["ETag"]
    drop(office.inbox.folder, "more.txt", report_text("Kazakhstan: More floods",
                                                      datetime.now(UTC).date()),
         modified=datetime.now(UTC) - timedelta(minutes=5))
    clock = Clock(datetime.now(UTC))
    with office.open_store() as store:
        service = office.service(store, clock=clock)
        service.prepare()
        service.translate("test")
        service.alerts()
    assert _get(f"{site}/feeds/kz/en.atom", {"If-None-Match": tag})[0] == 200


def test_feeds_write_gives_what_serve_answers(office: Instance, site: str,
                                              tmp_path: Path) -> None:
    _alerted(office)
    out = _cli(office, "feeds", "write", str(tmp_path / "public"))
    assert "Wrote" in out
    written = sorted(p for p in (tmp_path / "public").rglob("*") if p.is_file())
    assert written
    for path in written:
        relative = path.relative_to(tmp_path / "public").as_posix()
        status, body, _ = _get(f"{site}/{relative}")
        assert status == 200, relative
        assert body == path.read_bytes(), relative


def test_nothing_from_a_report_can_break_or_inject_into_the_xml(office: Instance,
                                                                site: str) -> None:
    clock = Clock(datetime.now(UTC))
    hostile = "Kazakhstan: ]]> <entry><title>x</title></entry> & \x07\x1b \u202eFloods\u200f"
    arrive(office, clock, "hostile.txt", hostile)
    with office.open_store() as store:
        office.service(store, clock=clock).alerts()
        title = store.reports.get(1).report.title
    for path in ("/feeds/open/en.atom", "/feeds/kz/en.atom", "/feeds/open/cap.atom"):
        status, body, _ = _get(site + path)
        assert status == 200
        root = ET.fromstring(body)  # well-formed
        entries = root.findall("{http://www.w3.org/2005/Atom}entry")
        assert len(entries) == 1, path  # no entry injected
        parsed = feedparser.parse(body)
        assert not parsed.bozo, path
        if "cap" not in path:
            expected = "".join(ch for ch in title if ch not in "\x07\x1b")
            assert parsed.entries[0].title == expected
    with office.open_store() as store:
        issue_id = next(iter({r["issue_id"] for r in store.outbox.rows()}))
    document = _get(f"{site}/cap/{issue_id}.xml")[1]
    root = ET.fromstring(document)
    assert len(root.findall(f"{{{CAP}}}info")) >= 1
    assert all(len(info.findall(f"{{{CAP}}}headline")) == 1
               for info in root.findall(f"{{{CAP}}}info"))


def test_settings_that_would_make_invalid_cap_are_refused(instance: Instance) -> None:
    with pytest.raises(ConfigError, match="sender"):
        load_instance(instance.config_path, cwd=instance.root,
                      environ={"NEWSLETTER_CAP_SENDER": "two words"})
    with pytest.raises(ConfigError):
        load_instance(instance.config_path, cwd=instance.root,
                      environ={"NEWSLETTER_CAP_SEVERITY": "Apocalyptic"})
    config = instance.config_path
    config.write_text(config.read_text() + '\n[lists.bad]\ntitle = "B"\ncap_urgency = "Now"\n')
    result = CliRunner().invoke(cli, ["--config", str(config), "lists", "show"])
    assert result.exit_code == 1
    assert "cap_urgency must be one of" in result.output


def test_the_documents_hold_any_text_as_text() -> None:
    """The builders themselves, with what no ingested title carries: 2,000 Cyrillic letters
    with control characters, CDATA ends and markup."""
    from newsletter.feeds.atom import Entry, Feed, atom
    from newsletter.feeds.cap import Alert, Info, cap_document

    nasty = "]]><x/>&amp; \x00\x07\x1b\u202e" + "Ж" * 2000 + "\ufffe"
    moment = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    entry = Entry(id="https://u.example.org/reports/1", title=nasty, text=nasty,
                  published=moment, updated=moment, link="https://u.example.org/r",
                  original="https://u.example.org/o", original_language="en",
                  places=("KZ",), translation="machine", translation_label=nasty)
    feed = atom(Feed(id="https://u.example.org/f", title=nasty, language="ru",
                     alternate="https://u.example.org/", entries=[entry]))
    parsed = feedparser.parse(feed)
    assert not parsed.bozo
    assert parsed.entries[0].title.startswith("]]><x/>&amp; \u202eЖ")
    assert len(ET.fromstring(feed).findall("{http://www.w3.org/2005/Atom}entry")) == 1
    info = Info(language="ru", category="Other", event=nasty, urgency="Unknown",
                severity="Unknown", certainty="Unknown", headline=nasty,
                description=nasty, web="https://u.example.org/r", translation="machine",
                model="m", area=nasty, geocodes=("KZ",))
    document = cap_document(Alert(identifier="urn:x:1", sender="a@b.c", sent=moment,
                                  status="Actual", references=(), infos=[info]))
    alert = capparser.parse(stringXML=document.decode())
    assert alert.info[0][0].headline[0].startswith("]]><x/>&amp; \u202eЖ")
