"""Reviewing translations: a held language is delayed until a person approves it, then sent
to its readers exactly once, as the reviewer corrected it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from newsletter.app import Instance
from newsletter.cli.main import cli
from newsletter.translate.packages import install
from tests.helpers import Clock, drop, leases_ended, wait_until
from tests.office import arrive, relay_env, report_text, subscribe, with_config
from tests.processes import started
from tests.smtp_server import smtp_sink
from tests.tiny_argos import TinyPackage

SECRET = "review-test-secret-0123456789"
LISTS = ('[lists.kz]\ntitle = "Kazakhstan alerts"\nmode = "alerts"\nlanguages = ["en", "kk"]\n'
         'policy = "hold"\nreview = "all"\n'
         '\n[lists.weekly]\ntitle = "Weekly"\nmode = "weekly"\nlanguages = ["en", "kk"]\n'
         'policy = "hold"\nreview = "all"\n')
CORRECTED = "Қазақстан: су тасқыны"


@pytest.fixture
def office(instance: Instance, tiny_models: dict[str, TinyPackage]) -> Instance:
    loaded = with_config(instance, LISTS, {"NEWSLETTER_WEB_SECRET": SECRET})
    install(tiny_models["en_kk"].archive, loaded.settings.packages_dir)
    with loaded.open_store() as store:
        for name in ("kz", "weekly"):
            subscribe(store, name, [f"{name}-en{i}@example.org" for i in range(3)],
                      language="en")
            subscribe(store, name, [f"{name}-kk{i}@example.org" for i in range(3)],
                      language="kk")
    return loaded


def _cli(office: Instance, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["--config", str(office.config_path), *args],
                                env={"NEWSLETTER_WEB_SECRET": SECRET})
    return result.exit_code, result.output


def _queued(office: Instance) -> dict[str, list[tuple[int, str]]]:
    """Each queued address: (issue, language) of every row it has."""
    with office.open_store() as store:
        rows = store.outbox.rows()
    found: dict[str, list[tuple[int, str]]] = {}
    for row in rows:
        found.setdefault(row["address"], []).append((row["issue_id"], row["language"]))
    return found


def test_a_held_language_is_sent_once_approved_as_corrected(office: Instance,
                                                            tmp_path: Path) -> None:
    clock = Clock(datetime.now(UTC))
    arrive(office, clock)
    with office.open_store() as store:
        service = office.service(store, clock=clock)
        first = service.alerts()
        assert len(first.issues) == 1
        assert first.issues[0].held["kk"]  # English went, Kazakh waits for a reviewer
        assert service.releases().issues == []  # nothing approved yet
    queued = _queued(office)
    assert sorted(queued) == [f"kz-en{i}@example.org" for i in range(3)]

    code, listed = _cli(office, "review", "list", "--json")
    assert code == 0, listed
    waiting = [json.loads(line) for line in listed.splitlines()]
    assert [(w["report_id"], w["title"], w["language"], w["held_from"], w["readers_waiting"])
            for w in waiting] == [(1, "Floods", "kk", ["kz"], {"kz": 3})]
    codes = [flag["code"] for flag in waiting[0]["flags"]]
    for flag_code in set(codes):  # each flag once in the text, with its count when it repeats
        shown_as = flag_code if codes.count(flag_code) == 1 else f"{flag_code} ×{codes.count(flag_code)}"
        assert waiting[0]["flags_text"].count(flag_code) == 1
        assert shown_as in waiting[0]["flags_text"]
    code, table = _cli(office, "review", "list")
    assert code == 0, table
    assert "Floods" in table
    code, shown = _cli(office, "review", "show", "1", "--lang", "kk")
    assert code == 0, shown
    assert "[title]" in shown
    assert "en: Floods" in shown

    summary = tmp_path / "summary.txt"
    summary.write_text("Солтүстікте су тасқыны 340 үйді бүлдірді.\n", encoding="utf-8")
    code, edited = _cli(office, "review", "edit", "1", "--lang", "kk", "--title", CORRECTED,
                        "--summary-file", str(summary), "--by", "Aigul")
    assert code == 0, edited
    with office.open_store() as store:
        assert office.service(store, clock=clock).releases().issues == []  # edited ≠ approved
    code, approved = _cli(office, "review", "approve", "1", "--lang", "kk", "--by", "Aigul")
    assert code == 0, approved
    assert "kz" in approved

    with office.open_store() as store:
        service = office.service(store, clock=clock)
        released = service.releases()
        assert len(released.issues) == 1
        assert service.releases().issues == []  # once
        body = json.loads(store.issues.bodies(released.issues[0].issue_id)["kk"])
    assert CORRECTED in body["subject"]
    queued = _queued(office)
    assert sorted(a for a in queued if "-kk" in a) == [f"kz-kk{i}@example.org"
                                                       for i in range(3)]
    assert all(len(rows) == 1 for rows in queued.values())  # every reader exactly once
    code, listed = _cli(office, "review", "list", "--json")
    assert listed.strip() == ""

    # The next report with the same title takes the approved sentence from the memory.
    drop(office.inbox.folder, "more.txt",  # same title, published a day later
         report_text("Floods", clock.now.date() - timedelta(days=1), "Kyrgyzstan"),
         modified=clock.now - timedelta(minutes=5))
    with office.open_store() as store:
        service = office.service(store, clock=clock)
        service.prepare()
        service.translate("test")
        assert store.editions.of(2)["kk"].title == CORRECTED
    tmx = tmp_path / "memory.tmx"
    assert _cli(office, "review", "export", "--tmx", str(tmx))[0] == 0
    assert CORRECTED in tmx.read_text(encoding="utf-8")
    assert 'xml:lang="kk"' in tmx.read_text(encoding="utf-8")


def test_tmx_from_a_cat_tool_fills_the_memory_and_hostile_xml_is_refused(
        office: Instance, tmp_path: Path) -> None:
    tmx = tmp_path / "cat.tmx"
    tmx.write_text('<?xml version="1.0"?><tmx version="1.4"><header srclang="en"/><body>'
                   '<tu><tuv xml:lang="en"><seg>Floods damaged 340 houses.</seg></tuv>'
                   '<tuv xml:lang="kk"><seg>Су тасқыны 340 үйді бүлдірді.</seg></tuv></tu>'
                   '<tu><tuv xml:lang="en"><seg>Floods damaged 12 roads.</seg></tuv>'
                   '<tuv xml:lang="kk"><seg>Су тасқыны жолдарды бүлдірді.</seg></tuv></tu>'
                   '</body></tmx>', encoding="utf-8")
    code, out = _cli(office, "review", "import", str(tmx))
    assert code == 0, out
    assert "1 sentence pair(s) added" in out
    assert "1 skipped" in out  # "12" is missing from its translation: it would not generalise
    with office.open_store() as store:
        (pair,) = store.memory.pairs()
    assert "340" not in pair.source  # kept with the number as a placeholder
    hostile = tmp_path / "hostile.tmx"
    hostile.write_text('<?xml version="1.0"?><!DOCTYPE tmx [<!ENTITY a "aaaa">]>'
                       '<tmx version="1.4"><body/></tmx>', encoding="utf-8")
    code, out = _cli(office, "review", "import", str(hostile))
    assert code == 1
    assert "DOCTYPE" in out


def test_a_digest_list_carries_the_approved_language_in_its_next_digest(
        office: Instance) -> None:
    clock = Clock(datetime.now(UTC))
    arrive(office, clock)
    with office.open_store() as store:
        service = office.service(store, clock=clock)
        weekly = service.lists()["weekly"]
        first = service.digest(weekly)
        assert first is not None
        assert first.languages == ["en"]
        assert service.digest(weekly) is None  # nothing new, nothing approved
    assert _cli(office, "review", "approve", "1", "--lang", "kk")[0] == 0
    with office.open_store() as store:
        second = office.service(store, clock=clock).digest(weekly)
        assert second is not None
        assert second.languages == ["kk"]
        assert second.queued == 3  # the Kazakh readers only
        assert office.service(store, clock=clock).digest(weekly) is None


def test_send_lang_sends_a_held_language_and_a_rejection_sends_the_original(
        office: Instance) -> None:
    clock = Clock(datetime.now(UTC))
    arrive(office, clock)
    with office.open_store() as store:
        office.service(store, clock=clock).alerts()
    code, out = _cli(office, "review", "reject", "1", "--lang", "kk", "--reason",
                     "numbers garbled")
    assert code == 0, out
    code, sent = _cli(office, "send", "--list", "kz", "--report", "1", "--lang", "kk",
                      "--queue-only")
    assert code == 0, sent
    assert "3 message(s) queued" in sent
    again = _cli(office, "send", "--list", "kz", "--report", "1", "--lang", "kk")
    assert again[0] == 1
    assert "already sent" in again[1]
    with office.open_store() as store:
        kk_issue = max(row["issue_id"] for row in store.outbox.rows())
        body = json.loads(store.issues.bodies(kk_issue)["kk"])
    assert "Floods" in body["subject"]  # the original, as the reviewer decided


def test_review_commands_refuse_what_cannot_be_reviewed(office: Instance) -> None:
    code, out = _cli(office, "review", "approve", "99", "--lang", "kk")
    assert code == 1
    assert "Error:" in out
    assert "Hint:" in out


@pytest.mark.slow
def test_the_approved_language_survives_a_killed_sender_exactly_once(office: Instance) -> None:
    clock = Clock(datetime.now(UTC))
    drop(office.inbox.folder, "floods.txt", report_text("Floods", clock.now.date()),
         modified=clock.now - timedelta(minutes=5))
    with office.open_store() as store:
        subscribe(store, "kz", [f"more-kk{i}@example.org" for i in range(60)], language="kk")
        service = office.service(store, clock=clock)
        service.prepare()
        service.translate("test")
        service.alerts()
    assert _cli(office, "review", "approve", "1", "--lang", "kk")[0] == 0
    with office.open_store() as store:
        assert len(office.service(store, clock=clock).releases().issues) == 1
    with smtp_sink() as (sink, port):
        env = {**os.environ, "NEWSLETTER_WEB_SECRET": SECRET, **relay_env(port),
               "NEWSLETTER_DELIVERY_RATE": "20", "NEWSLETTER_DELIVERY_LEASE": "1"}
        command = [sys.executable, "-m", "newsletter", "--config", str(office.config_path),
                   "deliver"]
        with started(command, env=env, stdout=subprocess.DEVNULL,
                     stderr=subprocess.DEVNULL) as sender:
            wait_until(lambda: len(sink.messages) >= 10, "the first messages at the sink")
            sender.send_signal(signal.SIGKILL)  # mid-way through the Kazakh readers
            sender.wait(timeout=30)
        assert 0 < len(sink.messages) < 66
        wait_until(lambda: leases_ended(office), "the killed sender's lease to run out")
        finished = subprocess.run(command, env={**env, "NEWSLETTER_DELIVERY_RATE": "0"},
                                  capture_output=True, timeout=120)
        assert finished.returncode == 0, finished.stderr
        got = [m.recipients[0] for m in sink.messages]
    with office.open_store() as store:
        rows = store.outbox.rows()
        ambiguous = {r["address"] for r in rows if r["ambiguous"]}
    assert {r["state"] for r in rows} == {"sent"}
    twice = {a for a in got if got.count(a) > 1}
    assert twice <= ambiguous  # a duplicate only after an unknown outcome, and recorded
    assert set(got) == {r["address"] for r in rows}


def test_review_edit_opens_the_editor_on_the_title_and_summary(office: Instance,
                                                             tmp_path: Path) -> None:
    clock = Clock(datetime.now(UTC))
    arrive(office, clock)
    editor = tmp_path / "editor.py"  # an "editor" that rewrites the title line, as a person would
    editor.write_text(
        "import sys, pathlib\n"
        "path = pathlib.Path(sys.argv[1])\n"
        "lines = path.read_text(encoding='utf-8').splitlines()\n"
        "first = next(i for i, line in enumerate(lines) if not line.startswith('#'))\n"
        f"lines[first] = {CORRECTED!r}\n"
        "path.write_text('\\n'.join(lines) + '\\n', encoding='utf-8')\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["--config", str(office.config_path), "review", "edit", "1",
                                      "--lang", "kk"],
                                env={"NEWSLETTER_WEB_SECRET": SECRET,
                                     "EDITOR": f"{sys.executable} {editor}", "VISUAL": ""})
    assert result.exit_code == 0, result.output
    with office.open_store() as store:
        review = store.editions.of(1)["kk"].review
    assert review is not None
    assert (review.state, review.title) == ("edited", CORRECTED)
    assert review.summary  # the machine's summary sentences, kept as they were


def test_a_one_off_send_whose_every_language_is_held_is_refused(office: Instance) -> None:
    arrive(office, Clock(datetime.now(UTC)))
    for extra in ([], ["--dry-run"]):
        code, out = _cli(office, "send", "--list", "kz", "--report", "1", "--lang", "kk", *extra)
        assert code == 1, out
        assert "Error: nothing of report 1 can go to kz now" in out
        assert "waits for a reviewer" in out
        assert "--lang" in out  # the hint
    with office.open_store() as store:
        assert store.db.scalar("SELECT COUNT(*) FROM issues") == 0  # no empty issue
    code, out = _cli(office, "send", "--list", "kz", "--report", "1", "--lang", "en",
                     "--dry-run")
    assert code == 0, out
    assert out.startswith("--dry-run: an alert of 1 report(s) to kz")
