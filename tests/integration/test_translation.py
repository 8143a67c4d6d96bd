"""Translation with real argostranslate packages and CTranslate2, on tiny models built here."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from newsletter.app import Instance
from newsletter.cli.main import cli
from newsletter.reports.ingest import ingest_inbox
from newsletter.store import Store
from newsletter.summarise.core import split_sentences
from newsletter.summarise.pending import summarise_pending
from newsletter.translate.core import Glossary
from newsletter.translate.packages import install
from newsletter.translate.pending import translate_bodies, translate_pending
from tests.helpers import FIXED_NOW, REPO, SAMPLE_REPORT, drop
from tests.tiny_argos import TinyPackage

RUSSIAN = REPO / "seeds" / "2020-03-20_situation-report-covid-ru.txt"
FLOOD = REPO / "seeds" / "2013-01-31_kazakhstan-floods-dref.txt"


def _ready(instance: Instance, store: Store, *files: Path) -> None:
    """Ingest and summarise ``files``, with the repository's glossary in the instance."""
    shutil.copy(REPO / "translations" / "glossary.csv", instance.root / "translations")
    for path in files:
        drop(instance.inbox.folder, path.name, path.read_bytes())
    ingest_inbox(store, instance.inbox, instance.settings.ingest, now=FIXED_NOW)
    summarise_pending(store, instance.settings.summary, now=FIXED_NOW)


def _install(instance: Instance, *packages: TinyPackage) -> None:
    for package in packages:
        install(package.archive, instance.settings.packages_dir)


def test_english_reports_get_russian_and_kazakh_editions_with_facts_intact(
    instance: Instance, store: Store, tiny_models: dict[str, TinyPackage]
) -> None:
    _install(instance, tiny_models["en_ru"], tiny_models["en_kk"])
    _ready(instance, store, SAMPLE_REPORT)
    run = translate_pending(store, instance.engine(), instance.glossary(),
                            instance.settings.translate, now=FIXED_NOW)
    editions = store.editions.of(1)
    assert set(editions) == {"ru", "kk"}
    ru, kk = editions["ru"], editions["kk"]
    summary = " ".join(ru.summary or ())
    for fact in ("1000", "550", "Управление ООН по правам человека", "Нур-Султан", "9 июня"):
        assert fact in summary or fact in (ru.title or "")
    assert "БҰҰ Адам құқықтары жөніндегі басқармасы" in (kk.title or "")
    assert "1000" in " ".join(kk.summary or ())
    for text in (kk.title or "", " ".join(kk.summary or ()), kk.body or ""):
        assert "kaz_Cyrl" not in text
        assert "kaz Cyrl" not in text
    assert ru.model == "en→ru translate-en_ru@1.0"
    assert (ru.body or "").count("\n\n") == 3  # paragraphs kept
    # per language, one CTranslate2 call for the title and summary, one for the body
    assert run.batch_calls == 4
    assert (run.editions, run.bodies, run.bodies_waiting) == (2, 2, 0)
    assert ru.flags == ()
    assert kk.flags == ()


def test_all_reports_go_through_one_batch_per_language_and_chunk(
    instance: Instance, store: Store, tiny_models: dict[str, TinyPackage]
) -> None:
    _install(instance, tiny_models["en_ru"])
    _ready(instance, store, SAMPLE_REPORT, FLOOD)
    settings = replace(instance.settings.translate, languages=["en", "ru"], batch_sentences=3)
    engine = instance.engine()
    mailed = translate_pending(store, engine, Glossary(), settings, now=FIXED_NOW, bodies=False)
    assert (mailed.editions, mailed.bodies_waiting) == (2, 2)
    assert mailed.translated > 3  # both titles and summaries, in chunks of 3
    assert engine.batch_calls == mailed.batch_calls == -(-mailed.translated // 3)
    bodies = translate_bodies(store, engine, Glossary(), settings, now=FIXED_NOW)
    assert (bodies.bodies, bodies.bodies_waiting) == (2, 0)
    assert bodies.translated > 3  # both bodies, in chunks of 3
    assert bodies.batch_calls == -(-bodies.translated // 3)
    assert engine.batch_calls == mailed.batch_calls + bodies.batch_calls


def test_the_progress_moves_with_each_engine_batch_not_each_chunk(
    instance: Instance, store: Store, tiny_models: dict[str, TinyPackage]
) -> None:
    _install(instance, tiny_models["en_ru"])
    _ready(instance, store, SAMPLE_REPORT, FLOOD)
    settings = replace(instance.settings.translate, languages=["en", "ru"])  # chunks of 256
    engine = instance.engine()
    engine.batch_size = 4
    steps: dict[str, list[tuple[int, int]]] = {}
    run = translate_pending(
        store, engine, Glossary(), settings, now=FIXED_NOW,
        progress=lambda step, total, label: steps.setdefault(label, []).append((step, total)))
    assert list(steps) == ["en→ru", "en→ru bodies"]  # titles and summaries, then bodies
    assert run.batch_calls == 2  # one chunk, one call each …
    total = 0
    for label_steps in steps.values():
        start, *moved = label_steps
        part = start[1]
        assert start == (0, part)
        moves = [step for step, _ in moved]
        assert len(moves) == -(-part // 4)  # … whose progress moved every 4 sentences
        assert max(moves) <= 4
        assert sum(moves) == part
        total += part
    assert total == run.translated < 256


def test_parallel_batches_translate_exactly_as_one_batch_at_a_time(
    instance: Instance, tiny_models: dict[str, TinyPackage]
) -> None:
    _install(instance, tiny_models["en_kk"])  # with a target prefix to strip
    sentences = split_sentences(SAMPLE_REPORT.read_text(encoding="utf-8"))
    one, two = instance.engine(), instance.engine()
    one.parallel, two.parallel = 1, 2
    one.batch_size = two.batch_size = 3
    (model,) = one.models()
    assert two.translate(model, sentences) == one.translate(model, sentences)
    assert two.target_tokens == one.target_tokens > len(sentences)


def test_nothing_is_translated_twice(
    instance: Instance, store: Store, tiny_models: dict[str, TinyPackage]
) -> None:
    _install(instance, tiny_models["en_ru"])
    _ready(instance, store, SAMPLE_REPORT)
    settings = replace(instance.settings.translate, languages=["en", "ru"])
    first = translate_pending(store, instance.engine(), Glossary(), settings, now=FIXED_NOW)
    assert first.translated > 0
    report = store.reports.get(1).report
    in_body = {s for p in report.paragraphs for s in split_sentences(p)}
    repeated = [s for s in store.summaries.of(1) or () if s in in_body]
    assert repeated
    assert first.from_cache == len(repeated)  # the summary's sentences, again in the body
    again = translate_pending(store, instance.engine(), Glossary(), settings, now=FIXED_NOW)
    assert (again.editions, again.translated) == (0, 0)
    forced = translate_pending(store, instance.engine(), Glossary(), settings, now=FIXED_NOW,
                               force=True)
    assert forced.translated == 0
    assert forced.from_cache == first.sentences
    # a repost sharing sentences needs only its new ones
    _ready(instance, store, REPO / "seeds" / "2013-02-01_kazakhstan-floods-ifrc-repost.txt")
    repost = translate_pending(store, instance.engine(), Glossary(), settings, now=FIXED_NOW)
    _ready(instance, store, FLOOD)
    original = translate_pending(store, instance.engine(), Glossary(), settings, now=FIXED_NOW)
    assert original.from_cache > 0
    assert original.translated < repost.translated


def test_a_pivot_through_russian_when_no_direct_pair_exists(
    instance: Instance, store: Store, tiny_models: dict[str, TinyPackage]
) -> None:
    _install(instance, tiny_models["en_ru"], tiny_models["ru_kk"])
    _ready(instance, store, SAMPLE_REPORT)
    translate_pending(store, instance.engine(), instance.glossary(),
                      instance.settings.translate, now=FIXED_NOW)
    kk = store.editions.of(1)["kk"]
    assert kk.model == "en→ru translate-en_ru@1.0 + ru→kk translate-ru_kk@1.0"
    assert "1000" in " ".join(kk.summary or ())
    assert "Нұр-Сұлтан" in " ".join(kk.summary or ())


def test_a_russian_report_goes_to_kazakh_and_english(
    instance: Instance, store: Store, tiny_models: dict[str, TinyPackage]
) -> None:
    _install(instance, tiny_models["ru_kk"])
    _ready(instance, store, RUSSIAN)
    run = translate_pending(store, instance.engine(), instance.glossary(),
                            instance.settings.translate, now=FIXED_NOW)
    editions = store.editions.of(1)
    assert set(editions) == {"kk", "en"}  # ru is the original
    assert editions["kk"].model == "ru→kk translate-ru_kk@1.0"
    assert "44" in " ".join(editions["kk"].summary or ())
    assert [f.code for f in editions["en"].flags] == ["no_model"]
    assert run.missing == [(1, "en", editions["en"].flags[0].detail)]


def test_missing_models_are_named_with_the_command_that_installs_them(
    cli_office: Path, tiny_models: dict[str, TinyPackage]
) -> None:
    runner = CliRunner()
    drop(cli_office / "seeds", "sample.txt", SAMPLE_REPORT.read_bytes())
    runner.invoke(cli, ["ingest"])
    result = runner.invoke(cli, ["translate"])
    assert result.exit_code == 0
    assert "newsletter models install translate-en_ru.argosmodel" in result.output
    assert "newsletter models install translate-en_kk.argosmodel" in result.output
    shown = json.loads(runner.invoke(cli, ["reports", "show", "1", "--json"]).stdout)
    statuses = {e["language"]: e["status"] for e in shown["editions"]}
    assert statuses == {"en": "original", "ru": "fallback", "kk": "fallback"}
    ru = next(e for e in shown["editions"] if e["language"] == "ru")
    assert ru["title"] == shown["title"]  # the original is sent, with the flag saying why
    assert ru["flags"][0]["code"] == "no_model"
    held = json.loads(runner.invoke(cli, ["--set", "translate.policy=hold", "reports", "show",
                                          "1", "--json"]).stdout)
    assert {e["language"]: e["status"] for e in held["editions"]}["kk"] == "held"
    status = json.loads(runner.invoke(cli, ["status", "--json"]).stdout)
    assert (status["editions"], status["editions_without_model"]) == (0, 2)  # none translated
    assert "0 translated edition(s) (2 waiting for a model)" in runner.invoke(
        cli, ["status"]).stdout
    # installing a model makes the next run translate
    assert runner.invoke(cli, ["models", "install", str(tiny_models["en_ru"].archive)]).exit_code == 0
    runner.invoke(cli, ["translate"])
    shown = json.loads(runner.invoke(cli, ["reports", "show", "1", "--json"]).stdout)
    ru = next(e for e in shown["editions"] if e["language"] == "ru")
    assert (ru["status"], ru["model"]) == ("translated", "en→ru translate-en_ru@1.0")
    assert "550" in ru["summary"]


def test_run_once_names_each_missing_model_with_its_install_command(
    cli_office: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEWSLETTER_WEB_SECRET", "test-secret-0123456789abcdef")
    monkeypatch.setenv("NEWSLETTER_INGEST_SETTLE_SECONDS", "0")
    drop(cli_office / "seeds", "sample.txt", SAMPLE_REPORT.read_bytes())
    result = CliRunner().invoke(cli, ["run", "--once"])
    assert result.exit_code == 0, result.output
    assert "1 new report(s)" in result.output
    for pair in ("en_ru", "en_kk"):
        assert f"newsletter models install translate-{pair}.argosmodel" in result.output


def test_flagged_translation_follows_the_policy(
    cli_office: Path, tiny_models: dict[str, TinyPackage]
) -> None:
    """The plain en→kk test model writes "Floods" without a Kazakh-specific letter (its output
    is deterministic), so the edition is flagged and, under the hold policy, held back."""
    runner = CliRunner()
    drop(cli_office / "seeds", "sample.txt",
         "Floods\n\nFloods damaged 340 roads. Roads are closed for 12 days.\n")
    runner.invoke(cli, ["ingest"])
    runner.invoke(cli, ["models", "install", str(tiny_models["en_kk_plain"].archive)])
    runner.invoke(cli, ["--set", "translate.languages=en,kk", "translate"])
    shown = json.loads(runner.invoke(cli, ["--set", "translate.languages=en,kk", "--set",
                                           "translate.policy=hold", "reports", "show", "1",
                                           "--json"]).stdout)
    kk = next(e for e in shown["editions"] if e["language"] == "kk")
    assert kk["machine_title"]
    if kk["flags"]:
        assert kk["status"] == "held"
        assert kk["title"] is None
    else:
        assert kk["status"] == "translated"


def test_models_list_check_and_remove(
    cli_office: Path, tiny_models: dict[str, TinyPackage]
) -> None:
    runner = CliRunner()
    runner.invoke(cli, ["models", "install", str(tiny_models["en_kk"].archive)])
    [listed] = json.loads(runner.invoke(cli, ["models", "list", "--json"]).stdout)
    assert (listed["from"], listed["to"], listed["target_prefix"]) == ("en", "kk", "kaz_Cyrl")
    assert len(listed["sha256"]) == 64
    [checked] = map(json.loads, runner.invoke(cli, ["models", "check", "--json"]).stdout.split("\n")[:1])
    assert checked["ok"] is True
    assert checked["output"]
    assert "kaz" not in checked["output"]
    removed = runner.invoke(cli, ["models", "remove", "translate-en_kk"])
    assert removed.exit_code == 0
    assert json.loads(runner.invoke(cli, ["models", "list", "--json"]).stdout) == []
    missing = runner.invoke(cli, ["models", "remove", "translate-en_kk"])
    assert missing.exit_code == 1
    assert "no installed model" in missing.output


NO_NETWORK = textwrap.dedent(
    """
    import socket, sys
    def refuse(*args, **kwargs):
        raise OSError("network access attempted: " + repr(args[:2]))
    socket.socket.connect = refuse
    socket.socket.connect_ex = refuse
    socket.create_connection = refuse
    socket.getaddrinfo = refuse
    from newsletter.cli.main import main
    sys.argv = ["newsletter"] + sys.argv[1:]
    main()
    """
)


def test_translation_never_touches_the_network(
    tmp_path: Path, tiny_models: dict[str, TinyPackage]
) -> None:
    """A fresh process in which any connection raises: import, install, check and translate."""
    runner = CliRunner()
    office = tmp_path / "office"
    runner.invoke(cli, ["init", str(office)])
    drop(office / "seeds", "sample.txt", SAMPLE_REPORT.read_bytes())
    script = tmp_path / "offline.py"
    script.write_text(NO_NETWORK)

    def offline(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, str(script), "--config", str(office), *args],
                              capture_output=True, text=True, timeout=120, check=False)

    for args in (["ingest"], ["models", "install", str(tiny_models["en_ru"].archive)],
                 ["models", "install", str(tiny_models["en_kk"].archive)],
                 ["models", "check"], ["translate"]):
        done = offline(*args)
        assert done.returncode == 0, (args, done.stderr)
        assert "network access attempted" not in done.stderr
    shown = offline("reports", "show", "1", "--json")
    statuses = {e["language"]: e["status"] for e in json.loads(shown.stdout)["editions"]}
    assert statuses == {"en": "original", "ru": "translated", "kk": "translated"}
    index = offline("models", "install", "--from-index", "ru")
    assert index.returncode == 1
    assert "Argos package index" in index.stderr
    assert "newsletter models install FILE.argosmodel" in index.stderr
