"""`newsletter models build`: real CTranslate2 conversion of tiny Marian and NLLB checkpoints."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import ctranslate2
import pytest
import sentencepiece
from click.testing import CliRunner

from newsletter.cli.main import cli
from newsletter.errors import ModelError
from newsletter.translate.engine import ArgosEngine
from newsletter.translate.packages import build, install, plan_build
from tests.tiny_checkpoints import marian_checkpoint, nllb_checkpoint

SENTENCES = ["Floods damaged 701 roads and schools.", "The Red Crescent released relief."]


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    work = tmp_path_factory.mktemp("checkpoints")
    return {"marian": marian_checkpoint(work / "marian"), "nllb": nllb_checkpoint(work / "nllb")}


def test_a_multi_target_marian_model_gets_its_language_token_from_the_model_config(
    tmp_path: Path, checkpoints: dict[str, Path]
) -> None:
    plan = plan_build(checkpoints["marian"], "en", "kk", source_token=">>kaz_Cyrl<<")
    model = install(build(plan, tmp_path / "out"), tmp_path / "packages")
    config = json.loads((model.path / "model" / "config.json").read_text())
    assert (config["add_source_bos"], config["bos_token"], config["add_source_eos"]) == (
        True, ">>kaz_Cyrl<<", True)
    assert model.target_prefix == ""
    engine = ArgosEngine(tmp_path / "packages", argos_home=tmp_path / "argos", beam_size=1)
    ours = engine.translate(model, SENTENCES)
    assert all(isinstance(text, str) for text in ours)

    # Exactly one token is added: the same model told nothing, given the token by hand,
    # translates identically; given the token by hand on top of the config, differently.
    processor = sentencepiece.SentencePieceProcessor(model_file=str(model.path / "sentencepiece.model"))
    tokens = [processor.encode(s, out_type=str) for s in SENTENCES]
    manual = tmp_path / "manual"
    shutil.copytree(model.path / "model", manual)
    config.update(add_source_bos=False, add_source_eos=False)
    (manual / "config.json").write_text(json.dumps(config))
    by_hand = ctranslate2.Translator(str(manual)).translate_batch(
        [[">>kaz_Cyrl<<", *t, "</s>"] for t in tokens], beam_size=1)
    configured = ctranslate2.Translator(str(model.path / "model")).translate_batch(tokens, beam_size=1)
    assert [r.hypotheses[0] for r in by_hand] == [r.hypotheses[0] for r in configured]


def test_an_nllb_model_gets_a_source_code_and_a_stripped_target_prefix(
    tmp_path: Path, checkpoints: dict[str, Path]
) -> None:
    plan = plan_build(checkpoints["nllb"], "en", "kk")
    assert (plan.kind, plan.source_token, plan.target_prefix) == ("nllb", "eng_Latn", "kaz_Cyrl")
    model = install(build(plan, tmp_path / "out"), tmp_path / "packages")
    config = json.loads((model.path / "model" / "config.json").read_text())
    assert (config["add_source_bos"], config["bos_token"]) == (True, "eng_Latn")
    assert model.target_prefix == "kaz_Cyrl"
    engine = ArgosEngine(tmp_path / "packages", argos_home=tmp_path / "argos", beam_size=1)
    outputs = engine.translate(model, SENTENCES)
    raw = ctranslate2.Translator(str(model.path / "model")).translate_batch(
        [["x"]], target_prefix=[["kaz_Cyrl"]], beam_size=1, max_decoding_length=5)
    assert raw[0].hypotheses[0][0] == "kaz_Cyrl"  # the model does emit the prefix…
    assert all(not text.startswith("kaz_Cyrl") and "kaz Cyrl" not in text for text in outputs)


def test_the_cli_builds_and_installs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, checkpoints: dict[str, Path]
) -> None:
    runner = CliRunner()
    runner.invoke(cli, ["init", str(tmp_path / "office")])
    monkeypatch.chdir(tmp_path / "office")
    result = runner.invoke(cli, ["models", "build", str(checkpoints["marian"]), "--from", "en",
                                 "--to", "kk", "--source-token", ">>kaz_Cyrl<<", "--out",
                                 "built", "--install"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "office" / "built" / "translate-en_kk.argosmodel").is_file()
    [listed] = json.loads(runner.invoke(cli, ["models", "list", "--json"]).stdout)
    assert (listed["from"], listed["to"]) == ("en", "kk")


def test_a_folder_that_is_no_checkpoint_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="not a Transformers checkpoint"):
        plan_build(tmp_path, "en", "kk")
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(ModelError, match="neither marian nor m2m_100"):
        plan_build(tmp_path, "en", "kk")
