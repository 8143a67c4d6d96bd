"""Benchmark: sentences/s through our adapter and through argostranslate's own API.

Builds a small real Argos package (tests/tiny_argos.py; or takes --model FILE.argosmodel),
installs it into a temporary instance, and translates the same sentences twice in one run:
once through ``newsletter.translate.pending.translate_pending`` (all sentences of all reports in one
CTranslate2 batch call per chunk, with masking, flags and the cache), once with one
``argostranslate.translate.translate()`` call per sentence on the same model. Both use one
CTranslate2 thread and the same beam. Last line: one JSON object with the figures.

    .venv/bin/python bench/translate.py [--reports 40] [--model FILE.argosmodel] [--beam 2]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=40)
    parser.add_argument("--model", type=Path, help="an en→ru .argosmodel (default: a tiny one)")
    parser.add_argument("--beam", type=int, default=2)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-translate-"))
    # argostranslate reads its settings at import: isolate it, one thread, the same beam.
    os.environ.update({
        "XDG_DATA_HOME": str(work / "xdg-data"), "XDG_CONFIG_HOME": str(work / "xdg-config"),
        "XDG_CACHE_HOME": str(work / "xdg-cache"), "ARGOS_PACKAGES_DIR": str(work / "argos"),
        "ARGOS_INTRA_THREADS": "1", "ARGOS_BEAM_SIZE": str(args.beam),
        "ARGOS_CHUNK_TYPE": "MINISBD",
    })

    from newsletter.app import init_instance, load_instance
    from newsletter.reports.ingest import ingest_inbox
    from newsletter.summarise.core import split_sentences
    from newsletter.summarise.pending import summarise_pending
    from newsletter.translate.core import Glossary
    from newsletter.translate.packages import install
    from newsletter.translate.pending import translate_pending
    from tests.tiny_argos import build_package

    archive = args.model or build_package(work / "pkg", "en", "ru", splitter=True).archive
    init_instance(work / "office")
    instance = load_instance(work / "office", cwd=work, environ={})
    install(archive, instance.settings.packages_dir)
    seeds = sorted((REPO / "seeds").glob("*.txt"))
    english = [p for p in seeds if "ru" not in p.stem and "kk" not in p.stem]
    now = datetime.now(UTC)
    syllables = ["ka", "ra", "zha", "na", "tas", "bu", "lak", "ter", "mir", "sai", "kol", "tau"]
    for i in range(args.reports):
        source = english[i % len(english)]
        # every sentence of every report made unique, so that the cache cannot help
        place = "".join(syllables[(i // len(syllables) ** k) % len(syllables)]
                        for k in range(3)).title()
        text = source.read_text(encoding="utf-8").replace(". ", f" near {place}. ")
        target = instance.settings.seeds_dir / f"{i:03d}-{source.name}"
        target.write_text(f"Report {i} near {place}\n\n" + text.split("\n\n", 2)[-1],
                          encoding="utf-8")
        os.utime(target, (now.timestamp() - 3600,) * 2)
    settings = replace(instance.settings.translate, languages=["en", "ru"], beam_size=args.beam,
                       threads=1)
    with instance.open_store() as store:
        ingest_inbox(store, instance.inbox, instance.settings.ingest, now=now)
        summarise_pending(store, instance.settings.summary, now=now)
        texts: list[str] = []
        for stored in store.reports.newest():
            texts.append(stored.report.title)
            texts += list(store.summaries.of(stored.id) or ())
            for paragraph in stored.report.paragraphs:
                texts += split_sentences(paragraph)
        engine = instance.engine()
        engine.threads = 1
        engine.translate(engine.models()[0], ["Warm-up sentence."])  # load the model first
        started = time.perf_counter()
        run = translate_pending(store, engine, Glossary(), settings, now=now)
        ours_s = time.perf_counter() - started

    import argostranslate.package
    import argostranslate.translate

    argostranslate.package.install_from_path(archive)
    sample = texts[: min(len(texts), 600)]
    argostranslate.translate.translate(sample[0], "en", "ru")  # load the model first
    started = time.perf_counter()
    for sentence in sample:
        argostranslate.translate.translate(sentence, "en", "ru")
    base_s = time.perf_counter() - started

    ours = run.translated / ours_s
    base = len(sample) / base_s
    print(f"model: {archive.name}; beam {args.beam}; 1 CTranslate2 thread")
    print(f"ours (batched, masked, cached)    {ours:9.1f} sentences/s  ({run.translated} unique "
          f"sentences of {len(texts)}, {run.batch_calls} batch calls, {ours_s:.2f} s)")
    print(f"argostranslate.translate per sentence {base:5.1f} sentences/s  ({len(sample)} "
          f"sentences, {base_s:.2f} s)")
    print(f"ratio ours/argostranslate         {ours / base:9.2f}")
    print(json.dumps({"bench": "translate", "model": archive.name, "beam": args.beam,
                      "sentences": run.translated, "batch_calls": run.batch_calls,
                      "sentences_per_s": round(ours, 1),
                      "baseline_sentences_per_s": round(base, 1),
                      "ratio_vs_argostranslate": round(ours / base, 2)}))


if __name__ == "__main__":
    main()
