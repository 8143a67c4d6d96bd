"""Benchmark: translation with a realistically sized model, ours against argostranslate and raw
CTranslate2, and a 1,500-word report into Russian and Kazakh, in one run.

The model (by default): a Marian Transformer-base with random weights (6 + 6 layers, d512,
8 heads, FFN 2048, a vocabulary of 32,000), made with Transformers from a SentencePiece model
trained offline on local text (the seeds, the README, the gazetteer's names, the catalogs, the
glossary, and word sequences drawn from them; that text gives fewer than 32,000 pieces, so the
vocabulary is filled up with unused entries). The checkpoint is cached in ``--work``. It is
turned into en→ru and en→kk packages by the real ``newsletter models build ... --quantization
int8`` (a multi-target OPUS-MT model, >>rus_Cyrl<< and >>kaz_Cyrl<<) and installed.
``--tiny`` uses the tiny hand-weighted test packages; ``--package ru=FILE.argosmodel`` (and
``kk=``) brings real ones.

Throughput, en→ru, on the titles, summaries and bodies of ``--reports`` generated reports:

* ours: ``translate_pending`` as the product runs it (masking, cache, titles and summaries
  then bodies, batches of 32 sorted by length, ``[translate] parallel`` batches at once);
* argostranslate: one ``argostranslate.translate.translate()`` per sentence (``--argos`` of
  them, spread over the same sentences; one thread, the same beam);
* raw CTranslate2: ``Translator(intra_threads=1, inter_threads=2).translate_batch`` on the
  sentences ours sent to the model, tokenised, in the same batches, all submitted at once;
* and our engine one batch at a time (``parallel`` 1, as before), on the same sentences.

The four run in ``--rounds`` interleaved rounds, each once a round in the same order (ours,
one batch at a time, raw, argostranslate; then again), so that a busy moment of the machine
hits all alike; before each round but the first, the translations ours saved and its
sentence cache are deleted (not timed), so every round translates the same sentences afresh.
Each contender's model is loaded and warmed once, before the first round; what is timed is
the translating alone, in this process. A figure is the median over the rounds, and the
ratios are between those medians.

Every one caps a batch's output with ``newsletter.translate.engine.max_decoding_length`` (three
times its longest source plus 16 tokens): random weights rarely end a sentence, so the cap sets
the cost, and target tokens/s is the like-for-like figure. The report: ``--words`` words of the
seeds' English paragraphs, every sentence unique, translated by the service's translation step
(``Service.translate``) into ru and kk: seconds until its titles and summaries are saved (the
mail may go) and until its bodies are. Last line: one JSON object with the figures.

    .venv/bin/python bench/translate.py [--tiny | --package ru=FILE --package kk=FILE]
        [--reports 8] [--argos 48] [--words 1500] [--beam 2] [--rounds 3] [--work DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from newsletter.reports.decode import decode_report
from newsletter.reports.parse import parse_report
from newsletter.summarise.core import split_sentences
from newsletter.translate.engine import (
    ArgosEngine,
    InstalledModel,
    batch_size_for,
    max_decoding_length,
)

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # for tests.tiny_argos and tests.tiny_checkpoints
# What the tokenizer of the checkpoint is trained on (local_text): a new recipe, a new number.
TEXT_RECIPE = 1
TARGET_TOKENS = {"ru": ">>rus_Cyrl<<", "kk": ">>kaz_Cyrl<<"}
PLACES = ["Kokshetau", "Petropavl", "Taraz", "Turkistan", "Aktobe", "Atyrau", "Oral", "Semey",
          "Kostanay", "Pavlodar", "Ekibastuz", "Zhezkazgan", "Balkhash", "Talgar", "Esik",
          "Kaskelen", "Osh", "Naryn", "Karakol", "Talas", "Jalal-Abad", "Batken", "Khujand"]


# -- the text ------------------------------------------------------------------------------------


def english_paragraphs() -> list[str]:
    """The paragraphs of the English sample reports in seeds/."""
    reports = [parse_report(decode_report(path.read_bytes()).text)
               for path in sorted((REPO / "seeds").glob("*.txt"))]
    return [p for report in reports if report.language == "en" for p in report.paragraphs]


def unique(paragraph: str, place: str) -> str:
    """``paragraph`` with every sentence made its own ("… near Taraz."), so no cache helps."""
    return re.sub(r"([.!?])(\s|$)", rf" near {place}\1\2", paragraph)


# Translated before anything is timed: two full batches (one per worker) of sentences like the
# measured ones. A translator's first large batches are slower (its buffers grow to their
# size), and no contender should pay for that.
WARM_UP = [unique(s, town) for town in ("Warmtown", "Warmville")
           for p in english_paragraphs() for s in split_sentences(p)][:64]


def long_report(words: int) -> str:
    """An English report of at least ``words`` words of the seeds' paragraphs, in turn."""
    body: list[str] = []
    paragraphs = english_paragraphs()
    for count, paragraph in enumerate(itertools.cycle(paragraphs)):
        body.append(unique(paragraph, PLACES[count // len(paragraphs) % len(PLACES)]))
        if sum(len(p.split()) for p in body) >= words:
            break
    return "Kazakhstan: floods and winter needs in the north, situation report\n\n" + \
        "\n\n".join(body) + "\n"


def local_text(generated: int = 30_000, seed: int = 0) -> list[str]:
    """Text to train the tokenizer on, all of it local: the seeds' sentences, the README's
    lines, the gazetteer's names, the catalogs' messages, the glossary, and ``generated``
    word sequences drawn from them (so that pieces are words, as in a real model)."""
    from newsletter.reports.places import load_gazetteer
    from newsletter.translate.core import parse_glossary

    lines = [s for path in sorted((REPO / "seeds").glob("*.txt"))
             for p in parse_report(decode_report(path.read_bytes()).text).paragraphs
             for s in split_sentences(p) or [p]]
    lines += [line for line in (REPO / "README.md").read_text(encoding="utf-8").splitlines()
              if line.strip()]
    lines += [name for place in load_gazetteer().places.values()
              for names in place.names.values() for name in names]
    for catalog in sorted((REPO / "translations").glob("*/LC_MESSAGES/messages.po")):
        lines += re.findall(r'^msg(?:id|str) "(.+)"$', catalog.read_text(encoding="utf-8"),
                            re.MULTILINE)
    glossary = parse_glossary((REPO / "translations" / "glossary.csv").read_text("utf-8"))
    lines += [term for row in glossary.rows for term in row.values()]
    rng = random.Random(seed)
    words = [word for line in lines for word in line.split()]
    lines += [" ".join(rng.choice(words) for _ in range(rng.randint(8, 30)))
              for _ in range(generated)]
    return lines


# -- the models ----------------------------------------------------------------------------------


def base_checkpoint(work: Path) -> tuple[Path, dict[str, Any]]:
    """The random-weight Transformer-base Marian checkpoint, made once and kept in ``work``."""
    from tests.tiny_checkpoints import BASE, marian_checkpoint

    key = hashlib.sha256(repr((BASE, TEXT_RECIPE)).encode()).hexdigest()[:12]
    folder = work / f"marian-base-{key}"
    if not (folder / "config.json").is_file():
        print(f"making the checkpoint in {folder} (once) …", flush=True)
        staging = Path(tempfile.mkdtemp(prefix=".making-", dir=work))
        marian_checkpoint(staging, shape=BASE, sentences=local_text())
        staging.rename(folder)
    config = json.loads((folder / "config.json").read_text())
    import sentencepiece

    pieces = sentencepiece.SentencePieceProcessor(model_file=str(folder / "source.spm"))
    return folder, {"vocab": config["vocab_size"], "pieces": pieces.get_piece_size(),
                    "layers": f"{config['encoder_layers']}+{config['decoder_layers']}",
                    "d_model": config["d_model"], "heads": config["encoder_attention_heads"],
                    "ffn": config["encoder_ffn_dim"]}


def build_packages(checkpoint: Path, office: Path, out: Path) -> dict[str, Path]:
    """en→ru and en→kk packages, built and installed by the real command."""
    archives = {}
    for language, token in TARGET_TOKENS.items():
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "newsletter", "--config", str(office), "models", "build",
             str(checkpoint), "--from", "en", "--to", language, "--source-token", token,
             "--quantization", "int8", "--out", str(out), "--install"],
            capture_output=True, text=True, check=False)
        if done.returncode != 0:
            sys.exit(f"newsletter models build failed:\n{done.stdout}{done.stderr}")
        archives[language] = out / f"translate-en_{language}.argosmodel"
        print(f"built and installed en→{language} in {time.perf_counter() - started:.0f} s "
              f"({archives[language].stat().st_size / 1e6:.0f} MB)", flush=True)
    return archives


# -- the contenders ------------------------------------------------------------------------------


class Recording(ArgosEngine):
    """Our engine, keeping what each call sent to the model."""

    def __init__(self, *args: Any, **options: Any) -> None:
        super().__init__(*args, **options)
        self.calls: list[list[str]] = []

    def translate(self, model: InstalledModel, sentences: Sequence[str],
                  done: Any = None) -> list[str]:
        self.calls.append(list(sentences))
        return super().translate(model, sentences, done)


class Capped:
    """A CTranslate2 translator for argostranslate that caps each call's output as ours does
    and counts the target tokens."""

    def __init__(self, translator: Any) -> None:
        self.translator = translator
        self.tokens = 0

    def translate_batch(self, source: list[list[str]], **options: Any) -> Any:
        options["max_decoding_length"] = max_decoding_length(max(map(len, source)))
        results = self.translator.translate_batch(source, **options)
        self.tokens += sum(len(r.hypotheses[0]) for r in results)
        return results


class RawCTranslate2:
    """Raw CTranslate2 (intra 1, inter 2) on the sentences of our calls, tokenised, in our
    batches (sorted by length, the same cap), all submitted at once. Loaded and warmed when
    made."""

    def __init__(self, model: InstalledModel, batch: int, beam: int) -> None:
        import ctranslate2
        import sentencepiece

        self.model, self.batch, self.beam = model, batch, beam
        self.tokenizer = sentencepiece.SentencePieceProcessor(
            model_file=str(model.path / "sentencepiece.model"))
        self.translator = ctranslate2.Translator(str(model.path / "model"), device="cpu",
                                                 intra_threads=1, inter_threads=2)
        warm = sorted((self.tokenizer.encode(s, out_type=str) for s in WARM_UP), key=len)
        warming = []
        for start in range(0, len(warm), batch):
            part = warm[start : start + batch]
            warming += self.translator.translate_batch(
                part, beam_size=beam, max_batch_size=batch, asynchronous=True,
                max_decoding_length=max_decoding_length(max(map(len, part))))
        for result in warming:
            result.result()

    def run(self, calls: list[list[str]]) -> tuple[float, int]:
        """(seconds, target tokens) for the sentences of ``calls``."""
        model, beam = self.model, self.beam
        prefix = [[model.target_prefix]] if model.target_prefix else None
        started = time.perf_counter()
        pending = []
        for sentences in calls:
            tokens = sorted((self.tokenizer.encode(s, out_type=str) for s in sentences),
                            key=len)
            size = batch_size_for(len(tokens), self.batch, 2)
            for start in range(0, len(tokens), size):
                part = tokens[start : start + size]
                pending += self.translator.translate_batch(
                    part, target_prefix=prefix and prefix * len(part), beam_size=beam,
                    max_batch_size=size,
                    max_decoding_length=max_decoding_length(max(map(len, part))),
                    asynchronous=True)
        produced = sum(len(result.result().hypotheses[0]) for result in pending)
        return time.perf_counter() - started, produced


class Argos:
    """One ``argostranslate.translate.translate()`` per sentence with the en→ru package
    installed in the instance (argostranslate was pointed at its folder when our engine
    imported it). Set up and warmed when made."""

    def __init__(self) -> None:
        import argostranslate.package

        from tests.tiny_argos import build_splitter

        installed = next(p.package_path
                         for p in argostranslate.package.get_installed_packages()
                         if (p.from_code, p.to_code) == ("en", "ru"))
        if not (installed / "minisbd").exists():  # a splitter, so argostranslate downloads none
            build_splitter(installed / "minisbd" / "xx.onnx")
        import argostranslate.translate
        import ctranslate2

        self.translate = argostranslate.translate.translate
        translation = argostranslate.translate.get_translation_from_codes("en", "ru")
        self.capped = Capped(ctranslate2.Translator(str(installed / "model"), device="cpu",
                                                    inter_threads=1, intra_threads=1))
        translation.underlying.translator = self.capped
        for sentence in WARM_UP[:8]:  # one sentence at a time: its buffers stay small
            self.translate(sentence, "en", "ru")

    def run(self, sentences: list[str]) -> tuple[float, int]:
        """(seconds, target tokens) for ``sentences``, one call each."""
        self.capped.tokens = 0
        started = time.perf_counter()
        for sentence in sentences:
            self.translate(sentence, "en", "ru")
        return time.perf_counter() - started, self.capped.tokens


# -- the run -------------------------------------------------------------------------------------


def rate(count: int, tokens: int, seconds: float) -> dict[str, float]:
    return {"sentences": count, "seconds": round(seconds, 2),
            "sentences_per_s": round(count / seconds, 2),
            "target_tokens_per_s": round(tokens / seconds, 1),
            "target_tokens_per_sentence": round(tokens / count, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--tiny", action="store_true", help="the tiny test packages")
    mode.add_argument("--package", action="append", default=[], metavar="LANG=FILE",
                      help="an en→LANG .argosmodel (ru is needed; kk for the report)")
    parser.add_argument("--reports", type=int, default=8)
    parser.add_argument("--argos", type=int, default=48, help="sentences for argostranslate")
    parser.add_argument("--words", type=int, default=1500)
    parser.add_argument("--beam", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds")
    parser.add_argument("--work", type=Path, default=Path.home() / ".cache" / "newsletter-bench",
                        help="where the checkpoint is kept between runs")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    run_dir = Path(tempfile.mkdtemp(prefix="translate-", dir=args.work))
    # argostranslate reads its settings at import: isolate it, one thread, the same beam
    os.environ.update({
        "XDG_DATA_HOME": str(run_dir / "xdg-data"), "XDG_CONFIG_HOME": str(run_dir / "xdg-config"),
        "XDG_CACHE_HOME": str(run_dir / "xdg-cache"), "ARGOS_PACKAGES_DIR": str(run_dir / "argos"),
        "ARGOS_INTRA_THREADS": "1", "ARGOS_BEAM_SIZE": str(args.beam),
        "ARGOS_CHUNK_TYPE": "MINISBD",
    })
    try:
        figures = measure(args, run_dir)
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)
    print(json.dumps(figures, ensure_ascii=False))


def measure(args: argparse.Namespace, run_dir: Path) -> dict[str, Any]:
    from newsletter.app import Instance, init_instance, load_instance
    from newsletter.translate.packages import install

    def office(name: str, environ: dict[str, str]) -> Instance:
        init_instance(run_dir / name)
        return load_instance(run_dir / name, cwd=run_dir, environ=environ)

    throughput = office("throughput", {})
    archives, model_name, shape = packages(args, throughput.root, run_dir)
    if "ru" not in archives:
        sys.exit("an en→ru package is needed: --package ru=FILE.argosmodel")
    languages: list[str] = [lang for lang in ("ru", "kk") if lang in archives]
    report_office = office("report", {"NEWSLETTER_TRANSLATE_LANGUAGES": ",".join(["en",
                                                                                 *languages])})
    for instance in (throughput, report_office):
        for lang, archive in archives.items():
            if not any(m.to_code == lang for m in instance.engine().models()):
                install(archive, instance.settings.packages_dir)
    now = datetime.now(UTC)
    figures: dict[str, Any] = {
        "bench": "translate", "model": model_name, **({"shape": shape} if shape else {}),
        "beam": args.beam, "cap": "3 x longest source of the batch + 16 tokens, at most 1024",
        **throughput_figures(throughput, args, now),
        "report": report_timing(report_office, languages, args, now),
    }
    show(figures, args)
    return figures


def packages(args: argparse.Namespace, office: Path,
             run_dir: Path) -> tuple[dict[str, Path], str, dict[str, Any]]:
    """The packages by target language, what they are, and the checkpoint's shape."""
    if args.tiny:
        from tests.tiny_argos import build_package

        return ({lang: build_package(run_dir / "tiny", "en", lang).archive
                 for lang in ("ru", "kk")}, "tiny hand-weighted test packages", {})
    if args.package:
        archives = {lang: Path(path) for lang, _, path in (p.partition("=") for p in args.package)}
        return archives, ", ".join(f"{lang}: {path.name}" for lang, path in archives.items()), {}
    checkpoint, shape = base_checkpoint(args.work)
    return (build_packages(checkpoint, office, run_dir / "built"),
            f"random-weight Marian Transformer-base ({shape['layers']} layers, "
            f"d{shape['d_model']}, {shape['heads']} heads, FFN {shape['ffn']}, vocab "
            f"{shape['vocab']:,}; SentencePiece {shape['pieces']:,} pieces), int8", shape)


def throughput_figures(office: Any, args: argparse.Namespace, now: datetime) -> dict[str, Any]:
    """Ours, our engine one batch at a time, raw CTranslate2 and argostranslate, en→ru, on the
    sentences of ``--reports`` generated reports, in ``--rounds`` interleaved rounds."""
    from newsletter.translate.core import Glossary
    from newsletter.translate.pending import translate_pending

    paragraphs = english_paragraphs()
    per_report = max(1, len(paragraphs) // 2)
    for i in range(args.reports):
        place = PLACES[i % len(PLACES)] + (f" {i // len(PLACES) + 1}" if i >= len(PLACES) else "")
        chosen = [paragraphs[(i * per_report + k) % len(paragraphs)] for k in range(per_report)]
        text = f"Report {i} near {place}\n\n" + "\n\n".join(unique(p, place) for p in chosen)
        path = office.settings.seeds_dir / f"{i:03d}.txt"
        path.write_text(text + "\n", encoding="utf-8")
        os.utime(path, ((now - timedelta(hours=1)).timestamp(),) * 2)
    settings = replace(office.settings.translate, languages=["en", "ru"], beam_size=args.beam)
    seconds: dict[str, list[float]] = {}
    tokens: dict[str, list[int]] = {}

    def record(name: str, timing: tuple[float, int]) -> None:
        seconds.setdefault(name, []).append(timing[0])
        tokens.setdefault(name, []).append(timing[1])

    with office.open_store() as store:
        office.service(store, clock=lambda: now).prepare()
        base = office.engine()
        engine = Recording(base.packages_dir, argos_home=base.argos_home, threads=base.threads,
                           parallel=base.parallel, beam_size=args.beam)
        ru = next(m for m in engine.models() if m.to_code == "ru")
        engine.translate(ru, WARM_UP)
        texts = [t for stored in store.reports.newest() for t in
                 (stored.report.title, *(store.summaries.of(stored.id) or ()),
                  *(s for p in stored.report.paragraphs for s in split_sentences(p) or [p]))]
        sample = texts[:: max(1, len(texts) // args.argos)][: args.argos]
        serial = ArgosEngine(engine.packages_dir, argos_home=engine.argos_home,
                             threads=engine.threads, parallel=1, beam_size=args.beam)
        serial.translate(ru, WARM_UP)
        raw = RawCTranslate2(ru, engine.batch_size, args.beam)
        argos = Argos()
        first = (0, 0)
        for round_ in range(args.rounds):
            if round_:  # the same sentences afresh: no saved edition, no cached sentence
                store.db.execute("DELETE FROM editions")
                store.db.execute("DELETE FROM translation_cache")
            engine.calls, engine.target_tokens = [], 0
            started = time.perf_counter()
            run = translate_pending(store, engine, Glossary(), settings, now=now)
            record("ours", (time.perf_counter() - started, engine.target_tokens))
            if round_ and (run.translated, run.from_cache) != first:
                sys.exit(f"round {round_ + 1} did not translate the same sentences afresh as "
                         f"the first (translated, from the cache {first}): {run}")
            first = (run.translated, run.from_cache)
            serial.target_tokens = 0
            started = time.perf_counter()
            for sentences in engine.calls:
                serial.translate(ru, sentences)
            record("ours_one_batch_at_a_time",
                   (time.perf_counter() - started, serial.target_tokens))
            record("raw_ctranslate2", raw.run(engine.calls))
            record("argostranslate", argos.run(sample))
            print(f"round {round_ + 1}: " + ", ".join(
                f"{name} {tokens[name][-1] / times[-1]:.1f} tokens/s"
                for name, times in seconds.items()), file=sys.stderr, flush=True)

    translated = first[0]
    counts = {"ours": translated, "ours_one_batch_at_a_time": translated,
              "raw_ctranslate2": translated, "argostranslate": len(sample)}
    rates = {name: {**rate(counts[name], round(statistics.median(tokens[name])),
                           statistics.median(seconds[name])),
                    "seconds_by_round": [round(t, 3) for t in seconds[name]]}
             for name in seconds}
    ours, serial_rate = rates["ours"], rates["ours_one_batch_at_a_time"]
    argos_rate, raw_rate = rates["argostranslate"], rates["raw_ctranslate2"]

    def ratio(a: dict[str, Any], b: dict[str, Any], key: str = "target_tokens_per_s") -> float:
        return round(float(a[key]) / float(b[key]), 2)

    return {
        "reports": args.reports, "threads": engine.threads, "parallel": engine.parallel,
        "rounds": args.rounds,
        "ours": ours, "ours_one_batch_at_a_time": serial_rate, "argostranslate": argos_rate,
        "raw_ctranslate2": raw_rate,
        "ratio_ours_vs_argostranslate": ratio(ours, argos_rate),
        "ratio_ours_vs_argostranslate_sentences": ratio(ours, argos_rate, "sentences_per_s"),
        "ratio_ours_vs_raw": ratio(ours, raw_rate),
        "ratio_ours_vs_one_batch_at_a_time": ratio(ours, serial_rate),
    }


def show(figures: dict[str, Any], args: argparse.Namespace) -> None:
    """The human summary."""
    print(f"model: {figures['model']}; beam {args.beam}; cap {figures['cap']}")
    print(f"throughput en→ru ({args.reports} reports; our engine: {figures['threads']} "
          f"thread(s) per batch, {figures['parallel']} batches at once; medians of "
          f"{figures['rounds']} interleaved rounds):")
    for label, key in (("ours (translate_pending)", "ours"),
                       ("our engine, one batch at a time", "ours_one_batch_at_a_time"),
                       ("argostranslate per sentence", "argostranslate"),
                       ("raw CTranslate2 intra 1 inter 2", "raw_ctranslate2")):
        figure = figures[key]
        print(f"  {label:34} {figure['sentences_per_s']:7.2f} sentences/s "
              f"{figure['target_tokens_per_s']:8.1f} target tokens/s  ({figure['sentences']} "
              f"sentences, {figure['target_tokens_per_sentence']} tokens each, "
              f"{figure['seconds']} s)")
    print(f"  ours / argostranslate {figures['ratio_ours_vs_argostranslate']} (tokens/s), "
          f"{figures['ratio_ours_vs_argostranslate_sentences']} (sentences/s); ours / raw "
          f"{figures['ratio_ours_vs_raw']}; ours / one batch at a time "
          f"{figures['ratio_ours_vs_one_batch_at_a_time']}")
    report = figures["report"]
    print(f"report of {report['words']} words ({report['sentences']} sentences) into "
          f"{' and '.join(report['languages'])} by the service's translation step: titles and "
          f"summaries saved after {report['mail_ready_s']} s, bodies after "
          f"{report['bodies_done_s']} s ({report['target_tokens']} target tokens)")


def report_timing(office: Any, languages: list[str], args: argparse.Namespace,
                  now: datetime) -> dict[str, Any]:
    """Seconds from the start of the service's translation step until the long report's titles
    and summaries are saved in ``languages``, and until its bodies are."""
    text = long_report(args.words)
    path = office.settings.seeds_dir / "long.txt"
    path.write_text(text, encoding="utf-8")
    os.utime(path, ((now - timedelta(hours=1)).timestamp(),) * 2)
    with office.open_store() as store:
        service = office.service(store, clock=lambda: now)
        service.prepare()
        engine = service.engine
        assert isinstance(engine, ArgosEngine)
        engine.beam_size = args.beam
        for model in engine.models():
            engine.translate(model, WARM_UP)  # the service keeps them loaded
        engine.target_tokens = 0
        marks: list[float] = []
        started = time.perf_counter()
        service.translate("bench", mailed=lambda: marks.append(time.perf_counter()))
        finished = time.perf_counter()
        (stored,) = store.reports.newest()
        editions = store.editions.of(stored.id)
        summary = store.summaries.of(stored.id) or ()
    if set(editions) != set(languages) or not all(e.body for e in editions.values()):
        sys.exit(f"the report was not translated into {', '.join(languages)}: {editions}")
    sentences = 1 + len(summary) + sum(len(split_sentences(p) or [p])
                                       for p in stored.report.paragraphs)
    return {"words": len(stored.report.body.split()), "sentences": sentences,
            "summary_sentences": len(summary), "languages": languages,
            "mail_ready_s": round(marks[0] - started, 1),
            "bodies_done_s": round(finished - started, 1), "target_tokens": engine.target_tokens}


if __name__ == "__main__":
    main()
