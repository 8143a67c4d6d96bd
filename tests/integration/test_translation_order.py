"""Bodies never delay titles and summaries: the order of real translation calls on tiny models,
and what another connection to the database sees while each call runs."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from newsletter.app import Instance
from newsletter.cli.main import cli
from newsletter.lists.spec import Policy
from newsletter.service.steps import Service
from newsletter.store import Store
from newsletter.summarise.core import split_sentences
from newsletter.translate.core import Glossary, mask
from newsletter.translate.editions import EditionStatus, edition_view
from newsletter.translate.engine import ArgosEngine, InstalledModel
from newsletter.translate.packages import install
from newsletter.translate.pending import translate_pending
from tests.helpers import FIXED_NOW, REPO, SAMPLE_REPORT, Clock, drop
from tests.office import report_text, subscribe, with_config
from tests.tiny_argos import TinyPackage

FLOOD = REPO / "seeds" / "2013-01-31_kazakhstan-floods-dref.txt"
LANGUAGES = ("ru", "kk")


@dataclass(frozen=True)
class Call:
    """One call of the engine: the target language, the sentences, and the editions another
    connection saw when it was made (what was committed): (report, language) → (a title and
    summary are saved, a body is saved)."""

    language: str
    sentences: tuple[str, ...]
    seen: dict[tuple[int, str], tuple[bool, bool]]


class RecordingEngine(ArgosEngine):
    """The real engine, noting each call; ``before`` runs before each call translates."""

    def __init__(self, instance: Instance) -> None:
        real = instance.engine()
        super().__init__(real.packages_dir, argos_home=real.argos_home, threads=real.threads,
                         parallel=real.parallel, beam_size=real.beam_size)
        self.instance = instance
        self.calls: list[Call] = []
        self.before: Callable[[Call], None] = lambda call: None

    def translate(self, model: InstalledModel, sentences: Sequence[str],
                  done: Callable[[int], None] | None = None) -> list[str]:
        with self.instance.open_store() as other:
            seen = {(rid, language): (edition.title is not None, edition.body is not None)
                    for rid, editions in other.editions.of_many([1, 2, 3]).items()
                    for language, edition in editions.items()}
        call = Call(model.to_code, tuple(sentences), seen)
        self.calls.append(call)
        self.before(call)
        return super().translate(model, sentences, done)


@pytest.fixture
def office(instance: Instance, tiny_models: dict[str, TinyPackage]) -> Instance:
    """An instance with en→ru and en→kk models, the shipped glossary and an alerts list."""
    shutil.copy(REPO / "translations" / "glossary.csv", instance.root / "translations")
    for name in ("en_ru", "en_kk"):
        install(tiny_models[name].archive, instance.settings.packages_dir)
    return with_config(instance, '[lists.alerts]\ntitle = "Alerts"\nmode = "alerts"\n'
                                 'countries = ["Kazakhstan"]\n',
                       {"NEWSLETTER_WEB_SECRET": "order-test-secret-0123456789"})


def _parts(store: Store, glossary: Glossary) -> dict[tuple[int, str], set[str]]:
    """The masked sentences each report sends to a model: (report, "mailed") for its title
    and summary, (report, "body") for its body."""
    parts: dict[tuple[int, str], set[str]] = {}
    for stored in store.reports.newest():
        report = stored.report
        texts = (report.title, *(store.summaries.of(stored.id) or ()))
        parts[(stored.id, "mailed")] = {mask(t, report.language, glossary).text for t in texts}
        parts[(stored.id, "body")] = {mask(s, report.language, glossary).text
                                      for p in report.paragraphs
                                      for s in split_sentences(p) or [p]}
    return parts


def _what(call: Call, parts: dict[tuple[int, str], set[str]]) -> tuple[str, str]:
    """Which part of which one report a call translated, e.g. ("r1 mailed", "kk")."""
    for (rid, part), sentences in sorted(parts.items(), key=lambda item: item[0][1] != "mailed"):
        if set(call.sentences) <= sentences:
            return f"r{rid} {part}", call.language
    raise AssertionError(f"a call mixes reports or parts: {call.sentences}")


def _service(office: Instance, store: Store, engine: ArgosEngine, clock: Clock) -> Service:
    return Service(store, office.settings, inbox=office.inbox, lists=office.lists_of(store),
                   engine=lambda: engine, renderer=office.renderer, glossary=office.glossary,
                   clock=clock)


def _arrive(office: Instance, store: Store, clock: Clock, *files: Path) -> None:
    for path in files:
        drop(office.inbox.folder, path.name, path.read_bytes(),
             modified=clock.now - timedelta(minutes=5))
    office.service(store, clock=clock).prepare()


def test_every_title_and_summary_is_committed_before_any_body_is_translated(
    office: Instance, store: Store
) -> None:
    clock = Clock(FIXED_NOW)
    _arrive(office, store, clock, SAMPLE_REPORT, FLOOD)
    engine = RecordingEngine(office)
    run = translate_pending(store, engine, office.glossary(), office.settings.translate,
                            now=FIXED_NOW)
    parts = _parts(store, office.glossary())
    # both reports' titles and summaries go to each model together, then both bodies
    assert [call.language for call in engine.calls] == ["ru", "kk", "ru", "kk"]
    mailed, bodies = engine.calls[:2], engine.calls[2:]
    for call in mailed:
        assert set(call.sentences) <= parts[(1, "mailed")] | parts[(2, "mailed")]
        assert call.seen == {}  # nothing saved yet
    every = {(rid, language) for rid in (1, 2) for language in LANGUAGES}
    for call in bodies:
        assert set(call.sentences) <= parts[(1, "body")] | parts[(2, "body")]
        # every title and summary is committed (another connection sees them), no body yet
        assert call.seen == dict.fromkeys(every, (True, False))
    assert (run.editions, run.bodies, run.bodies_waiting) == (4, 4, 0)
    editions = store.editions.of_many([1, 2])
    assert all(editions[rid][language].body for rid, language in every)


def test_the_service_sends_alerts_before_bodies_and_a_new_report_overtakes_a_body(
    office: Instance, store: Store
) -> None:
    """One report's title and summary, then its alert may go; while its body is translated a
    second report arrives: its title and summary go before the rest of the first body."""
    clock = Clock(FIXED_NOW)
    subscribe(store, "alerts", ["ru@example.org"], language="ru")
    fresh = report_text("Kazakhstan: Floods in the north", FIXED_NOW.date()) + (
        "\nThe regional akimat opened four shelters in schools. Volunteers cleared the roads "
        "to the villages. Water levels fell by evening.\n")
    drop(office.inbox.folder, "fresh.txt", fresh, modified=clock.now - timedelta(minutes=5))
    engine = RecordingEngine(office)
    service = _service(office, store, engine, clock)
    service.prepare()

    def second_arrives(call: Call) -> None:
        if len(engine.calls) == 3:  # the first body call
            with office.open_store() as other:
                _arrive(office, other, clock, FLOOD)

    engine.before = second_arrives
    alerts: list[tuple[int, list[str]]] = []

    def mailed() -> None:
        """What the translation thread tells the service: alerts may go now."""
        outcome = service.alerts()
        alerts.append((len(engine.calls), [str(i.issue_id) for i in outcome.issues]))

    done = service.translate("worker", mailed=mailed)
    parts = _parts(store, office.glossary())
    assert [" ".join(_what(call, parts)) for call in engine.calls] == [
        "r1 mailed ru", "r1 mailed kk",
        "r1 body ru",  # … during which report 2 arrives
        "r2 mailed ru", "r2 mailed kk",
        "r1 body kk", "r2 body ru", "r2 body kk",
    ]
    assert done == 2
    # told before the first body, and again before the bodies go on after report 2
    assert [calls for calls, _ in alerts] == [2, 5]
    assert len(alerts[0][1]) == 1  # the alert of report 1 went before its body was translated
    assert store.jobs.counts() == {"done": 2}
    view = edition_view(store.reports.get(1), store.editions.of(1)["ru"], "ru",
                        policy=Policy.HOLD, summary=store.summaries.of(1) or ())
    assert (view.status, view.body_translated) == (EditionStatus.TRANSLATED, True)


def test_an_edition_is_sent_translated_while_its_body_waits(
    office: Instance, store: Store
) -> None:
    clock = Clock(FIXED_NOW)
    _arrive(office, store, clock, SAMPLE_REPORT)
    mailed = translate_pending(store, office.engine(), office.glossary(),
                               office.settings.translate, now=FIXED_NOW, bodies=False)
    assert (mailed.editions, mailed.bodies, mailed.bodies_waiting) == (2, 0, 2)
    edition = store.editions.of(1)["ru"]
    assert edition.title
    assert edition.summary
    assert edition.body is None
    stored = store.reports.get(1)
    report = stored.report
    view = edition_view(stored, edition, "ru", policy=Policy.HOLD,
                        summary=store.summaries.of(1) or ())
    # the mail has its translation; the archive shows the original body meanwhile
    assert view.status is EditionStatus.TRANSLATED
    assert view.title == edition.title
    assert (view.body, view.body_translated) == (report.body, False)


def test_a_job_waits_for_its_body_after_its_title_and_summary(
    office: Instance, store: Store
) -> None:
    clock = Clock(FIXED_NOW)
    _arrive(office, store, clock, SAMPLE_REPORT)
    service = office.service(store, clock=clock)
    assert service.translate("worker", bodies=False) == 1  # as run --once does before alerts
    assert store.jobs.counts() == {"body": 1}
    assert store.jobs.unfinished([1]) == set()
    status = CliRunner().invoke(cli, ["--config", str(office.root), "status"])
    assert "0 report(s) queued, 0 being translated, 1 with a body still to translate" in (
        status.output)
    assert service.translate("worker") == 0  # no title or summary was left: only the body
    assert store.jobs.counts() == {"done": 1}
    assert all(edition.body for edition in store.editions.of(1).values())
