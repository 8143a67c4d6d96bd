"""A model is never asked for what it cannot do: a package built by `models build` from a
small Marian checkpoint (a position table of 256) translates a sentence far longer than that
without failing, flagged; `models check` fails a model that answers with gibberish; a model
that fails is an `Error:` naming it, never a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from newsletter.cli.main import cli
from newsletter.translate.engine import ArgosEngine, position_limit
from newsletter.translate.packages import build, plan_build
from tests.helpers import drop
from tests.tiny_checkpoints import marian_checkpoint

LONG = " ".join(["flood water reached the district road and the school"] * 60)  # no stop


@pytest.fixture(scope="module")
def marian_package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("marian")
    plan = plan_build(marian_checkpoint(work / "checkpoint"), "en", "kk",
                      source_token=">>kaz_Cyrl<<")
    return build(plan, work / "out")


@pytest.fixture
def office(cli_office: Path, marian_package: Path) -> Path:
    runner = CliRunner()
    installed = runner.invoke(cli, ["models", "install", str(marian_package)])
    assert installed.exit_code == 0, installed.output
    drop(cli_office / "seeds", "long.txt",
         "Floods in Kazakhstan\n\nSituation Report\nfrom OCHA\nPublished on 3 Dec 2026\n\n"
         f"Floods in Kazakhstan damaged {LONG}\n\nRelief teams delivered food to 800 "
         "families.\n")
    assert runner.invoke(cli, ["ingest"]).exit_code == 0
    return cli_office


def test_the_position_table_is_read_from_the_model_file(office: Path) -> None:
    model_bin = office / "var" / "argos" / "packages" / "translate-en_kk" / "model" / "model.bin"
    assert position_limit(model_bin) == 256
    assert position_limit(office / "newsletter.toml") is None  # not a model file


def test_a_sentence_longer_than_the_model_takes_is_translated_in_pieces_and_flagged(
        office: Path) -> None:
    done = CliRunner().invoke(cli, ["translate", "--json"])
    assert done.exit_code == 0, done.output
    assert "Traceback" not in done.output
    shown = json.loads(CliRunner().invoke(cli, ["reports", "show", "1", "--json"]).stdout)
    [kazakh] = [e for e in shown["editions"] if e["language"] == "kk"]
    assert "runaway" in {flag["code"] for flag in kazakh["flags"]}  # gibberish, cut short
    body = {flag["code"] for flag in kazakh["body_flags"]}
    assert {"split", "runaway"} <= body, body  # the long sentence: in pieces, cut short
    assert "\ue000" not in json.dumps(shown, ensure_ascii=False)  # the marks never show


def test_the_engine_never_asks_for_more_positions_than_the_model_has(office: Path) -> None:
    packages = office / "var" / "argos" / "packages"
    engine = ArgosEngine(packages, argos_home=office / "var" / "argos", beam_size=1)
    [model] = engine.models()
    outputs = engine.translate(model, [LONG, "Floods damaged roads."])
    assert len(outputs) == 2
    assert engine.target_tokens > 0


def test_models_check_fails_a_model_that_answers_with_gibberish(office: Path) -> None:
    checked = CliRunner().invoke(cli, ["models", "check"])
    assert checked.exit_code == 1
    assert "FAIL translate-en_kk" in checked.output
    assert "script" in checked.output or "kazakh_letters" in checked.output
    [result] = [json.loads(line) for line in
                CliRunner().invoke(cli, ["models", "check", "--json"]).stdout.splitlines()
                if line.startswith("{")]
    assert result["ok"] is False
    assert result["error"]


def test_a_model_that_fails_is_an_error_naming_it(office: Path) -> None:
    model_bin = office / "var" / "argos" / "packages" / "translate-en_kk" / "model" / "model.bin"
    model_bin.write_bytes(model_bin.read_bytes()[:4096])  # damaged after it was installed
    done = CliRunner().invoke(cli, ["translate"])
    assert done.exit_code == 1
    assert "Traceback" not in done.output
    assert "Error: cannot load the model translate-en_kk" in done.output
    assert "Hint:" in done.output
