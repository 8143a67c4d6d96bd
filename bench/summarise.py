"""Benchmark: ROUGE of our summariser and of Lead-k, in one run, and ms per report.

Reads a JSON Lines file of articles (`title`, `paragraphs`: lists of sentences, `gold`: the
sentences people picked, `highlights`: the editors' bullet summary), by default the CNN Corpus
dev set at ../shared/eval/cnn_corpus_dev.jsonl. Prints ROUGE-1/2/L F1 (rouge-score, Porter
stemming) against `gold` and against `highlights` for our summariser and for Lead-k (the first k
sentences of the corpus's own segmentation, k = our sentence budget), then the time per report
over a second, warm pass. Last line: one JSON object with the figures.

    .venv/bin/python bench/summarise.py [--data FILE.jsonl] [--sentences 3] [--words 120]

With ``--long``, the cost of one long report instead: generated reports of 1,000 to 32,000
sentences (``--sizes``; 32,000 is about 4 MB, twice the ingest cap) are summarised once each,
timed, then again under tracemalloc for the peak memory the summariser allocates, beside
Lead-3 (splitting the text and taking its first sentences: the floor any summary pays).

    .venv/bin/python bench/summarise.py --long [--sizes 1000,2000,4000,8000,16000,32000]
"""

from __future__ import annotations

import argparse
import dataclasses
import html
import json
import random
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

from rouge_score import rouge_scorer

from newsletter.summarise.core import SummaryOptions, split_sentences, summarise

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "eval" / "cnn_corpus_dev.jsonl"
METRICS = ("rouge1", "rouge2", "rougeL")


def load(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def body_of(article: dict[str, Any]) -> str:
    return "\n\n".join(" ".join(html.unescape(s) for s in p) for p in article["paragraphs"])


def evaluate(articles: list[dict[str, Any]], options: SummaryOptions) -> dict[str, Any]:
    scorer = rouge_scorer.RougeScorer(list(METRICS), use_stemmer=True)
    totals = {(system, ref, m): 0.0 for system in ("ours", "lead")
              for ref in ("gold", "highlights") for m in METRICS}
    inputs = [(html.unescape(a["title"]), body_of(a)) for a in articles]
    ours = [summarise(title, body, options).text for title, body in inputs]
    for article, summary in zip(articles, ours, strict=True):
        sentences = [html.unescape(s) for p in article["paragraphs"] for s in p]
        lead = " ".join(sentences[: options.sentences])
        for ref in ("gold", "highlights"):
            reference = "\n".join(html.unescape(s) for s in article[ref])
            for system, text in (("ours", summary), ("lead", lead)):
                scores = scorer.score(reference, text)
                for m in METRICS:
                    totals[(system, ref, m)] += scores[m].fmeasure
    n = len(articles)
    started = time.perf_counter()
    for title, body in inputs:  # second, warm pass for timing
        summarise(title, body, options)
    ms = (time.perf_counter() - started) * 1000 / n
    figures: dict[str, Any] = {"bench": "summarise", "articles": n,
                               "sentences": options.sentences, "words": options.words,
                               "ms_per_report": round(ms, 3)}
    for (system, ref, m), total in totals.items():
        figures[f"{system}_{ref}_{m}"] = round(100 * total / n, 2)
    for ref in ("gold", "highlights"):
        for m in METRICS:
            figures[f"delta_{ref}_{m}"] = round(
                figures[f"ours_{ref}_{m}"] - figures[f"lead_{ref}_{m}"], 2)
    return figures


_WORDS = ("floods damaged houses roads bridges schools clinics in the region district village "
          "families people were evacuated displaced affected received food water shelter kits "
          "blankets the government red crescent teams delivered assessed reported needs funding "
          "appeal partners response cash winter rains mudflows river banks crops livestock "
          "markets prices fuel health cholera cases vaccinated children women older").split()


def long_report(sentences: int, seed: int = 7) -> tuple[str, str]:
    """A report of ``sentences`` varied sentences in paragraphs of five, with figures."""
    rng = random.Random(seed)
    out: list[str] = []
    for i in range(sentences):
        words = [rng.choice(_WORDS) for _ in range(rng.randint(8, 22))]
        words.insert(rng.randint(0, len(words)), f"{rng.randint(10, 99_999):,}")
        sentence = " ".join(words).capitalize() + "."
        out.append(sentence + ("\n\n" if i % 5 == 4 else " "))
    return "Floods in the northern districts", "".join(out)


def long_reports(sizes: list[int]) -> dict[str, Any]:
    rows = []
    for size in sizes:
        title, body = long_report(size)
        started = time.perf_counter()
        summary = summarise(title, body)
        ours_s = time.perf_counter() - started
        started = time.perf_counter()
        split_sentences(body)[:3]
        lead_s = time.perf_counter() - started
        tracemalloc.start()
        summarise(title, body)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        rows.append({"sentences": size, "bytes": len(body.encode("utf-8")),
                     "seconds": round(ours_s, 3), "peak_mib": round(peak / 2**20, 1),
                     "lead3_seconds": round(lead_s, 3),
                     "ratio_vs_lead3": round(ours_s / lead_s, 1) if lead_s else None,
                     "chosen": len(summary.sentences)})
        print(f"{size:>7,} sentences {rows[-1]['bytes'] / 1e6:5.2f} MB  ours {ours_s:7.3f} s "
              f"peak {rows[-1]['peak_mib']:6.1f} MiB  Lead-3 {lead_s:6.3f} s  "
              f"ratio {rows[-1]['ratio_vs_lead3']}", flush=True)
    return {"bench": "summarise_long", "rows": rows}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--long", action="store_true",
                        help="time and peak memory for one long report of each size")
    parser.add_argument("--sizes", default="1000,2000,4000,8000,16000,32000",
                        help="sentences of the long reports (with --long)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--sentences", type=int, default=SummaryOptions.sentences)
    parser.add_argument("--words", type=int, default=SummaryOptions.words)
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="WEIGHT=VALUE", help="override a SummaryOptions weight")
    args = parser.parse_args(argv)
    if args.long:
        print(json.dumps(long_reports([int(n) for n in args.sizes.split(",")])))
        return
    if not args.data.is_file():
        sys.exit(f"no evaluation data at {args.data}: pass --data FILE.jsonl")
    overrides = {k: float(v) for k, v in (item.split("=", 1) for item in args.overrides)}
    options = dataclasses.replace(
        SummaryOptions(), sentences=args.sentences, words=args.words, **overrides)
    figures = evaluate(load(args.data), options)
    k = options.sentences
    print(f"{figures['articles']} articles from {args.data.name}; budget {k} sentences / "
          f"{options.words} words; Lead-{k} baseline")
    print(f"{'':22}{'ROUGE-1':>9}{'ROUGE-2':>9}{'ROUGE-L':>9}")
    for ref in ("gold", "highlights"):
        for system, label in (("ours", "ours"), ("lead", f"Lead-{k}")):
            row = "".join(f"{figures[f'{system}_{ref}_{m}']:9.2f}" for m in METRICS)
            print(f"{label + ' vs ' + ref:22}{row}")
        row = "".join(f"{figures[f'delta_{ref}_{m}']:+9.2f}" for m in METRICS)
        print(f"{'  difference':22}{row}")
    print(f"ours: {figures['ms_per_report']:.2f} ms per report (warm)")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
