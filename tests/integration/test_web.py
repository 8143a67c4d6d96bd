"""The local web app, over real HTTP, and in real headless Chromium."""

from __future__ import annotations

import asyncio
import dataclasses
import html
import re
import shutil
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import pytest

from newsletter.app import Instance, load_instance
from newsletter.issues.proof import make_proof, send_proof
from newsletter.mail.render import language_name
from newsletter.reports.ingest import ingest_inbox
from newsletter.store import Store
from newsletter.summarise.pending import summarise_pending
from newsletter.translate.core import Flag
from newsletter.translate.editions import Edition, Review, ReviewState
from newsletter.translate.packages import install
from newsletter.translate.pending import translate_pending
from newsletter.web import create_app
from tests.browser import chromium, serving
from tests.helpers import FIXED_NOW, REPO, SAMPLE_REPORT, database_snapshot, drop
from tests.office import queue_alert, relay_env, subscribe, with_config
from tests.smtp_server import smtp_sink
from tests.tiny_argos import TinyPackage

ARTIFACTS = REPO / "test-artifacts"


@pytest.fixture
def site(instance: Instance, store: Store, tiny_models: dict[str, TinyPackage]) -> Instance:
    shutil.copy(REPO / "translations" / "glossary.csv", instance.root / "translations")
    install(tiny_models["en_ru"].archive, instance.settings.packages_dir)
    drop(instance.inbox.folder, "1-sample.txt", SAMPLE_REPORT.read_bytes())  # report 1
    drop(instance.inbox.folder, "2-ru.txt",
         (REPO / "seeds" / "2020-03-20_situation-report-covid-ru.txt").read_bytes())
    ingest_inbox(store, instance.inbox, instance.settings.ingest, now=FIXED_NOW)
    summarise_pending(store, instance.settings.summary, now=FIXED_NOW)
    translate_pending(store, instance.engine(), instance.glossary(), instance.settings.translate,
                      now=FIXED_NOW)
    return instance


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as reply:
            return reply.status, reply.read().decode("utf-8")
    except urllib.error.HTTPError as error:
        with error:  # it holds the connection: closed here, not by the GC
            return error.code, error.read().decode("utf-8")


def test_pages_over_http(site: Instance) -> None:
    with serving(create_app(site)) as base:
        status, index = _get(f"{base}/")
        assert status == 200
        assert "UN Human Rights Office calls on Kazakhstan" in index
        status, ru = _get(f"{base}/preview/alert/1?lang=ru")
        assert status == 200
        assert 'data-status="translated"' in ru
        assert "Срочно:" in ru
        status, kk = _get(f"{base}/preview/alert/1?lang=kk")
        assert 'data-flag="no_model"' in kk
        assert 'data-status="fallback"' in kk
        status, digest = _get(f"{base}/preview/digest?lang=en")
        assert status == 200
        assert "2 reports" in digest
        status, archive = _get(f"{base}/reports/2?lang=ru")
        assert status == 200
        assert "подтверждено 44 случая" in archive
        assert _get(f"{base}/reports/999")[0] == 404
        assert _get(f"{base}/preview/alert/999")[0] == 404


def test_switching_language_in_chromium(site: Instance, tmp_path: Path) -> None:
    with serving(create_app(site)) as base, chromium(tmp_path / "profile") as page:
        page.goto(f"{base}/preview/alert/1?lang=en")
        assert page.evaluate("document.querySelector('nav a.current').dataset.lang") == "en"
        english = page.evaluate("document.querySelector('iframe').contentDocument.body.innerText")
        assert "Read the full report" in english
        page.click("nav a[data-lang=ru]")
        assert page.evaluate("location.search") == "?lang=ru"
        russian = page.evaluate("document.querySelector('iframe').contentDocument.body.innerText")
        assert "Читать полностью" in russian
        assert "Машинный перевод" in russian
        assert page.evaluate("document.querySelector('.status').dataset.status") == "translated"
        page.screenshot(ARTIFACTS / "preview-ru.png")
        page.click("nav a[data-lang=kk]")
        kazakh = page.evaluate("document.body.innerText")
        assert "Толық оқу" in page.evaluate(
            "document.querySelector('iframe').contentDocument.body.innerText")
        assert "no_model" in kazakh  # no en→kk model: the flag says so on the page
        page.screenshot(ARTIFACTS / "preview-kk.png")
    assert (ARTIFACTS / "preview-ru.png").stat().st_size > 10_000


def test_the_archive_page_follows_the_mails_decision(site: Instance, store: Store) -> None:
    """The report page says what the mail says, in the mail's words, before the text: the
    machine translation with its model (ru), or why the original is shown and in which
    language (kk: no en→kk model)."""
    from newsletter.issues.plan import plan_issue
    from newsletter.lists.spec import Policy

    planned = plan_issue(store, [1], kind="alert", languages=["ru", "kk"],
                         policy=Policy(site.settings.translate.policy), list_title="Daily",
                         base_url=site.settings.web.base_url, issue_date=FIXED_NOW.date())
    renderer = site.renderer()
    with serving(create_app(site)) as base:
        for language in ("ru", "kk"):
            [item] = planned.mails[language].items
            mail = renderer.render(planned.mails[language]).html
            status, page = _get(f"{base}/reports/1?lang={language}")
            assert status == 200
            assert item.title in page
            gettext = renderer.gettext(language)
            english = language_name("en", language)
            if language == "ru":
                assert not item.fallback
                notice = gettext("Machine translation from %(language)s by %(model)s.") % {
                    "language": english, "model": item.model}
            else:
                assert item.fallback_reason == "no_model"
                notice = gettext("There is no translation of this item into your language yet: "
                                 "it is shown in %(language)s, the original.") % {
                                     "language": english}
            assert notice in mail
            assert notice in page
            assert 'href="?lang=en" class="original"' in page
            assert page.index(notice) < page.index("<p>")  # before the first paragraph



def test_the_report_page_names_a_reviewer_a_waiting_review_and_a_flagged_body(
        site: Instance, store: Store) -> None:
    gettext = site.renderer().gettext("kk")
    english = language_name("en", "kk")
    store.reviews.save(1, "ru", Review(ReviewState.APPROVED, "Проверенный заголовок", None,
                                       "anna", FIXED_NOW))
    flagged = Edition("kk", "Тақырып", ("Қысқаша.",), "Мәтін.", "en→kk test@1",
                      flags=(Flag("numbers", "a number was lost"),))
    with serving(create_app(site)) as base:
        page = _get(f"{base}/reports/1?lang=ru")[1]
        assert "<h1>Проверенный заголовок</h1>" in page
        assert 'data-status="machine"' in page
        assert "Заголовок проверен редактором; текст ниже — машинный перевод" in page
        store.editions.save(1, flagged, "k", FIXED_NOW)  # a flag: it waits for a reviewer
        page = _get(f"{base}/reports/1?lang=kk")[1]
        assert 'data-reason="review"' in page
        assert gettext("The translation of this item is waiting for a reviewer: it is shown in "
                       "%(language)s, the original.") % {"language": english} in page
        clean = dataclasses.replace(flagged, flags=(),
                                    body_flags=(Flag("length", "too short"),))
        store.editions.save(1, clean, "k", FIXED_NOW)  # the title passed, the body did not
        page = _get(f"{base}/reports/1?lang=kk")[1]
        assert 'data-reason="flagged"' in page
        assert gettext("The machine translation of this item did not pass our checks: it is "
                       "shown in %(language)s, the original.") % {"language": english} in page
        assert "Мәтін." not in page  # the English body, under its English title
        assert "<h1>UN Human Rights Office calls on Kazakhstan" in page


LISTS = """[lists.ca]
title = "Central Asia alerts"
title_ru = "Срочные сообщения: Центральная Азия"
title_kk = "Шұғыл хабарлар: Орталық Азия"
mode = "alerts"

[lists.weekly]
title = "Weekly"
mode = "weekly"
"""
SECRET = "web-archive-test-secret-0123456789"


@pytest.fixture
def archive(site: Instance, store: Store) -> tuple[Instance, int, int]:
    """``site`` with two lists: report 1 went out to en, ru and kk readers of ``ca`` over
    real SMTP; an alert of report 2 is queued, not sent; ``weekly`` has sent nothing.
    Returns the instance, the sent issue and the queued one."""
    with smtp_sink() as (sink, port):
        office = with_config(site, LISTS, {"NEWSLETTER_WEB_SECRET": SECRET, **relay_env(port)})
        for language in ("en", "ru", "kk"):
            subscribe(store, "ca", [f"{language}@example.org"], language=language)
        sent = queue_alert(office, store, "ca", [1]).issue_id
        run = asyncio.run(office.sender(store, owner="t", clock=lambda: datetime.now(UTC))
                          .sweep(asyncio.Event()))
        assert run is not None
        assert run.sent == 3
        assert len(sink.messages) == 3
    queued = queue_alert(office, store, "ca", [2]).issue_id
    return office, sent, queued


def test_the_archive_shows_sent_issues_only_and_its_pages_write_nothing(
        archive: tuple[Instance, int, int], store: Store) -> None:
    office, sent, queued = archive
    with smtp_sink() as (sink, port):  # a test send is recorded nowhere: no issue to show
        relay = load_instance(office.config_path, cwd=office.root,
                              environ={"NEWSLETTER_WEB_SECRET": SECRET, **relay_env(port)})
        spec = relay.lists_of(store).named("ca")
        proof = make_proof(store, spec, 2, "me@example.org", spec.languages[0],
                           builder=relay.message_builder(store), renderer=relay.renderer(),
                           base_url="https://u.example.org", now=datetime.now(UTC))
        send_proof(proof, relay.transport(), relay.settings.mail.from_address, 2)
        assert len(sink.messages) == 1
    database = office.settings.database_target
    assert isinstance(database, Path)
    before = database_snapshot(database)
    with serving(create_app(office)) as base:
        status, index = _get(f"{base}/?lang=kk")
        assert status == 200
        assert "Шұғыл хабарлар: Орталық Азия" in index  # the list's Kazakh title
        assert re.findall(r'href="/issues/(\d+)\?lang=kk"', index) == [str(sent)]
        assert "Бұл таратылымға әзірге ештеңе жіберілмеген." in index  # weekly sent nothing
        assert _get(f"{base}/issues/{queued}?lang=en")[0] == 404  # queued, sent to no one
        assert _get(f"{base}/issues/999")[0] == 404
        for language in ("en", "ru", "kk"):
            status, issue = _get(f"{base}/issues/{sent}?lang={language}")
            assert status == 200
            assert f'<html lang="{language}">' in issue
            assert f'href="/reports/1?lang={language}"' in issue
            # the made-up preview reader's links, never a subscriber's signed one
            assert set(re.findall(r"/unsubscribe/([^\s\"&<]+)", issue)) == {"preview"}
        status, first = _get(f"{base}/issues/{sent}")  # no language asked: the first
        assert status == 200
        assert '<html lang="en">' in first
        assert "Central Asia alerts" in first
        for path in ("/", "/?lang=ru", "/reports/1?lang=kk", "/reports/2?lang=en",
                     "/preview/alert/1?lang=ru", "/preview/digest?lang=kk"):
            assert _get(base + path)[0] == 200, path
    after = database_snapshot(database)
    assert after[1] == before[1]  # the same rows
    assert after[0] == before[0]  # and the same bytes


def test_the_archive_and_its_pages_in_chromium_at_400_pixels(
        archive: tuple[Instance, int, int], tmp_path: Path) -> None:
    office, sent, _ = archive
    iframe = "document.querySelector('iframe').contentDocument"
    with serving(create_app(office)) as base, chromium(tmp_path / "profile") as page:
        page.viewport(400)
        page.goto(f"{base}/?lang=ru")
        assert page.evaluate("document.querySelector('h1').innerText") == "Архив"
        assert page.evaluate("document.querySelector('section[data-list=ca] h2').innerText"
                             ) == "Срочные сообщения: Центральная Азия"
        assert page.evaluate("[...document.querySelectorAll('li[data-issue]')]"
                             ".map(li => li.dataset.issue)") == [str(sent)]
        # An alert is named by its report's title, as its Russian readers got it.
        headline = page.evaluate("document.querySelector('li[data-issue] .headline').innerText")
        status, russian = _get(f"{base}/issues/{sent}?lang=ru")
        assert status == 200
        subject = russian.split("<title>", 1)[1].split("</title>", 1)[0]
        assert headline
        assert headline in html.unescape(subject)
        assert page.evaluate("document.querySelector('tr[data-report=\"1\"] .countries')"
                             ".innerText") == "Казахстан"
        assert page.overflow() == 0
        page.screenshot(ARTIFACTS / "archive-ru-400.png")

        page.click("li[data-issue] a[data-lang=kk]")  # the issue as its Kazakh readers got it
        assert page.evaluate("location.pathname + location.search") == f"/issues/{sent}?lang=kk"
        assert page.evaluate("document.querySelector('h1').innerText") == (
            "Шұғыл хабарлар: Орталық Азия")
        kazakh = " ".join(page.evaluate(f"{iframe}.body.innerText").split())
        assert "аудармасы әлі жоқ: ол түпнұсқа тілінде" in kazakh  # no en→kk model
        assert page.evaluate(f"[...{iframe}.querySelectorAll('a[href*=\"/unsubscribe/\"]')]"
                             ".map(a => a.pathname)") == ["/unsubscribe/preview"]
        assert page.overflow() == 0
        page.screenshot(ARTIFACTS / "issue-kk-400.png")

        page.click("nav a[data-lang=ru]")
        assert "Машинный перевод" in page.evaluate(f"{iframe}.body.innerText")
        page.click("a.report[data-report='1']")  # the report page in Russian
        assert page.evaluate("location.search") == "?lang=ru"
        notice = page.evaluate("document.querySelector('#translation').innerText")
        assert page.evaluate("document.querySelector('#translation').dataset.status") == "machine"
        assert "Машинный перевод (язык оригинала: английский, модель en→ru" in notice
        assert page.evaluate("document.querySelector('a.original').search") == "?lang=en"
        assert "Казахстан" in page.evaluate("document.querySelector('.places').innerText")
        assert page.overflow() == 0
        page.screenshot(ARTIFACTS / "report-ru-400.png")

        page.click("nav a[data-lang=kk]")  # no en→kk model: the original, and why
        status = page.evaluate("document.querySelector('#translation').dataset.reason")
        assert status == "no_model"
        assert "ағылшын" in page.evaluate("document.querySelector('#translation').innerText")
        assert page.evaluate("document.querySelector('#translation').compareDocumentPosition("
                             "document.querySelector('article > p:not([class])'))"
                             " & Node.DOCUMENT_POSITION_FOLLOWING") != 0  # before the text
        assert "Қазақстан" in page.evaluate("document.querySelector('.places').innerText")
        assert page.overflow() == 0
        page.screenshot(ARTIFACTS / "report-kk-400.png")
        page.click("a.original")
        assert page.evaluate("location.search") == "?lang=en"
        assert page.evaluate("document.querySelector('#translation')") is None
