"""Benchmark: place detection on a 1,500-word report, against one re.search per name, in one run.

Builds a report of at least ``--words`` words from the paragraphs of the sample reports in
`seeds/` (English, Russian and Kazakh, repeated in turn), then times `Gazetteer.detect` on it
(the median of ``--runs`` warm runs) and two baselines on the same text: one precompiled
whole-word `re.search` per name form the gazetteer matches (what the same matching costs done
naively, inflected forms included), and one per name as written (no inflected forms at all).
Also times building the shipped gazetteer once, cold. Last line: one JSON object with the
figures.

    .venv/bin/python bench/places.py [--words 1500] [--runs 200]
"""

from __future__ import annotations

import argparse
import itertools
import json
import re
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from newsletter.reports import places
from newsletter.reports.decode import decode_report
from newsletter.reports.parse import parse_report

SEEDS = Path(__file__).resolve().parent.parent / "seeds"


def sample_report(words: int) -> tuple[str, str]:
    """A title and a body of at least ``words`` words made of the seeds' paragraphs."""
    reports = [parse_report(decode_report(path.read_bytes()).text)
               for path in sorted(SEEDS.glob("*.txt"))]
    paragraphs = [p for report in reports for p in report.paragraphs]
    body: list[str] = []
    for paragraph in itertools.cycle(paragraphs):
        body.append(paragraph)
        if sum(len(p.split()) for p in body) >= words:
            break
    return reports[0].title, "\n\n".join(body)


def median_ms(function: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def naive(patterns: list[tuple[re.Pattern[str], str]], text: str) -> set[str]:
    return {code for pattern, code in patterns if pattern.search(text)}


def whole_word(name: str) -> re.Pattern[str]:
    return re.compile(r"\b" + re.escape(name) + r"\b")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--words", type=int, default=1500)
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    started = time.perf_counter()
    gazetteer = places.load_gazetteer()
    load_ms = (time.perf_counter() - started) * 1000
    title, body = sample_report(args.words)
    text = title + "\n\n" + body
    names = [(name, place.code, lang) for place in gazetteer.places.values()
             for lang, spelled in place.names.items() for name in spelled]
    forms = sorted({(form, code) for name, code, lang in names
                    for form in places._FORMS.get(lang, places._as_written)(name)})
    by_form = [(whole_word(form), code) for form, code in forms]
    by_name = [(whole_word(name), code) for name, code, _ in names]

    ours = median_ms(lambda: gazetteer.detect(title, body), args.runs)
    naive_names = median_ms(lambda: naive(by_name, text), max(3, args.runs // 20))
    naive_forms = median_ms(lambda: naive(by_form, text), 3)
    figures = {
        "bench": "places", "words": len(text.split()), "places": len(gazetteer.places),
        "names": len(by_name), "forms": len(by_form), "load_ms": round(load_ms, 1),
        "detect_ms": round(ours, 3), "naive_names_ms": round(naive_names, 2),
        "naive_forms_ms": round(naive_forms, 1),
        "speedup_vs_forms": round(naive_forms / ours, 1),
        "speedup_vs_names": round(naive_names / ours, 1),
        "detected": list(gazetteer.detect(title, body)),
    }
    print(f"report of {figures['words']} words from {SEEDS.name}/; {figures['places']} places, "
          f"{figures['names']} names, {figures['forms']} forms (loaded in {load_ms:.0f} ms)")
    print(f"detect:                           {ours:8.3f} ms (median of {args.runs}, warm)")
    print(f"re.search per name form:          {naive_forms:8.1f} ms "
          f"({figures['speedup_vs_forms']}x slower)")
    print(f"re.search per name as written:    {naive_names:8.1f} ms "
          f"({figures['speedup_vs_names']}x slower, and no inflected forms)")
    print(f"about: {', '.join(figures['detected'])}")
    print(json.dumps(figures, ensure_ascii=False))


if __name__ == "__main__":
    main()
