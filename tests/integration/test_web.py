"""The local web app, over real HTTP, and in real headless Chromium."""

from __future__ import annotations

import shutil
import urllib.request
from pathlib import Path

import pytest

from newsletter.app import Instance
from newsletter.reports.ingest import ingest_inbox
from newsletter.store import Store
from newsletter.summarise.pending import summarise_pending
from newsletter.translate.packages import install
from newsletter.translate.pending import translate_pending
from newsletter.web import create_app
from tests.browser import chromium, serving
from tests.helpers import FIXED_NOW, REPO, SAMPLE_REPORT, drop
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
    from newsletter.issues.plan import plan_issue
    from newsletter.translate.editions import Policy

    planned = plan_issue(store, [1], kind="alert", languages=["ru", "kk"],
                         policy=Policy(site.settings.translate.policy), list_title="Daily",
                         base_url=site.settings.web.base_url, issue_date=FIXED_NOW.date())
    with serving(create_app(site)) as base:
        for language in ("ru", "kk"):
            [item] = planned.mails[language].items
            status, page = _get(f"{base}/reports/1?lang={language}")
            assert status == 200
            assert item.title in page
            notice = site.renderer().gettext(language)(
                "The machine translation of this item did not pass our checks, so it is shown in "
                "the original language.")
            assert (notice in page) == item.fallback  # ru is translated, kk has no model
