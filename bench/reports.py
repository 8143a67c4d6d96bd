"""Benchmark: how right real report pages are read: fields, places, merges and summaries.

Runs over a labelled corpus of real report pages (by default ``tests/data/reports``: the text as
the page or a browser copy gives it, and ``labels.jsonl`` with what a person read off each page:
title, source, kind, date, countries, and for some the key facts a summary must carry):

- **fields**: the share of pages whose parsed title, source, kind and date equal the label (null
  included), and of the pages that give a date or source, the share read;
- **countries**: micro precision and recall of the detected countries (regions left out);
- **merges**: every file ingested into one fresh database, as an office would drop them: pairs
  of different documents stored as one report (must be 0), and copies of one document stored
  apart (for information);
- **summaries**: defects by kind, found by an independent judge written here (not the
  summariser's own filters), and key-fact coverage, for ours and for Lead-3 (the first three
  sentences of the parsed body) in the same run.

Last line: one JSON object with the figures.

    .venv/bin/python bench/reports.py [--data DIR] [--show]   (--show prints each summary)
"""

from __future__ import annotations

import argparse
import json
import os
import re
import tempfile
import time
import unicodedata
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from newsletter.config_sections import IngestSettings
from newsletter.errors import ReportError
from newsletter.reports.decode import decode_report
from newsletter.reports.ingest import Inbox, ingest_inbox
from newsletter.reports.model import Report
from newsletter.reports.parse import parse_report
from newsletter.reports.places import load_gazetteer
from newsletter.store import open_store
from newsletter.summarise.core import SummaryOptions, split_sentences, summarise

DEFAULT_DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "reports"

# -- the judge: what a reader would call a defect in a summary sentence ------------------------

BOILERPLATE = re.compile(
    r"Disaster Relief Emergency Fund \(DREF\) (?:is|was)|un-earmarked|"
    r"next (?:situation )?(?:report|update|bulletin) will be (?:issued|published|released)|"
    r"period covered by this|reporting period|"
    r"this (?:situation )?(?:report|update|bulletin|document|sitrep) (?:is|was|has been) "
    r"(?:produced|prepared|issued|based|being issued)|"
    r"is based on information (?:received|provided|from)|for (?:further|more|additional) "
    r"information|contact details|federation's mission is|is being issued for information|"
    r"not seeking funding|cookies|advertisement|subscribe|©|copyright|photo:|"
    r"glide (?:no|number)|read more|"
    r"^об этом (?:сообщ|заявил|пишет|написал|рассказал|говорится)|^как сообщ|"
    r"пресс-служб\w* (?:сообщ|передает)|подписывайтесь|реклама|авторское право|фото:|"
    r"изображение:|читать (?:также|далее)|иностранн\w+ агент",
    re.IGNORECASE,
)
QUESTION_HEADING = re.compile(r"^[^.!]{0,80}\?$")
BYLINE = re.compile(
    r"^(?:by|автор|редакция|корреспондент)\b|"
    r"^(?:[A-ZА-ЯЁ][\w'’-]+ [A-ZА-ЯЁ][\w'’-]+,\s*){2,}", re.IGNORECASE)
DATELINE = re.compile(
    r"^\(?[A-ZА-ЯЁ][A-ZА-ЯЁ .'’/-]{2,}(?:\s*\([^)]*\))?\s*[,(–—-]|"  # ALMATY, … / (DUSHANBE …
    r"^(?!(?:On|In|At|By|As|From|Since|Until|Before|After|Between|During|For|Of|В|На|С|К|До|По|"
    r"Во|Со|От|За|При)\b)\(?[A-ZА-ЯЁ][\w'’/()-]*(?:[ /][A-ZА-ЯЁ][\w'’/()-]*){0,3}[,.]\s+"
    r"(?:\d{1,2}\s+(?i:jan|feb|mar|apr|may|jun|jul|aug|"
    r"sep|oct|nov|dec|янв|фев|мар|апр|ма[йя]|июн|июл|авг|сен|окт|ноя|дек)|\d{1,2}\.\d{2}\.\d{4})|"
    r"^[^.]{0,60}/[^/]{2,30}/|"  # … /ТАСС/
    r"^[^.]{0,60}(?:—|–|-)\s*РИА Новости|"
    r"^[^.]{0,60}\((?:Reuters|AP|AFP|IRIN|Xinhua[^)]*|IBNS|UNA/WAM)\)",
)
ANAPHORS = frozenset(
    """he she it they his her its their this these those such however but also yet
    он она оно они его ее её их это эти этот эта этом этой однако но также""".split())
ANAPHOR_PHRASES = re.compile(r"^(?:по (?:ее|её|его|их) (?:данным|словам|мнению)|при этом|"
                             r"in addition|according to (?:him|her|them|it)\b)", re.IGNORECASE)
TERMINAL = re.compile(r"[.!?…][\"'”’»)\]]*$")
WORD = re.compile(r"[^\W_]+")


def fold(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).casefold().replace("ё", "е")
    for a, b in (("’", "'"), ("‘", "'"), ("“", '"'), ("”", '"'), ("«", '"'), ("»", '"'),
                 ("–", "-"), ("—", "-")):
        text = text.replace(a, b)
    return " ".join(text.split())


def defects(sentences: Sequence[str], title: str, body: str) -> list[str]:
    """The defect kinds of a summary (one entry per defective sentence and kind)."""
    found: list[str] = []
    title_words = set(WORD.findall(fold(title)))
    flat_body = " ".join(body.split())
    for k, sentence in enumerate(sentences):
        s = sentence.strip()
        words = WORD.findall(fold(s))
        if BOILERPLATE.search(s):
            found.append("boilerplate")
        if not TERMINAL.search(s) or QUESTION_HEADING.match(s) or (s.isupper() and len(s) > 3):
            found.append("label" if re.search(r"\d", s) and not QUESTION_HEADING.match(s)
                         else "heading")
        if BYLINE.search(s):
            found.append("byline")
        if title_words and words:
            overlap = len(title_words & set(words)) / len(title_words | set(words))
            if overlap >= 0.7 or fold(s).startswith(fold(title)):
                found.append("title_repeat")
        if DATELINE.search(s):
            found.append("dateline")
        first = words[0] if words else ""
        if first in ANAPHORS or ANAPHOR_PHRASES.search(s):
            position = flat_body.find(" ".join(s.split()))
            previous = " ".join(sentences[k - 1].split()) if k else ""
            end = flat_body.find(previous) + len(previous) if previous else -10
            if not previous or position < 0 or not 0 <= position - end <= 3:
                found.append("dangling")
    return found


def covered(facts: Sequence[Sequence[str]], summary: str) -> int:
    text = fold(summary)
    return sum(1 for fact in facts
               if all(any(fold(alt) in text for alt in term.split("|")) for term in fact))


# -- the run -----------------------------------------------------------------------------------


def same(value: str | None, label: str | None, *, lenient: bool = False) -> bool:
    if value is None or label is None:
        return value is None and label is None
    a, b = fold(value).strip(" /()\"'"), fold(label).strip(" /()\"'")
    return a == b or (lenient and bool(a) and bool(b) and (a in b or b in a))


def merges(data: Path, labels: list[dict[str, Any]]) -> tuple[int, int, list[str]]:
    """Ingest every file into one fresh database; (distinct documents merged, copies apart)."""
    with tempfile.TemporaryDirectory(prefix="bench-reports-") as tmp:
        root = Path(tmp)
        inbox = Inbox(folder=root / "seeds", quarantine=root / "quarantine")
        inbox.folder.mkdir()
        settled = (datetime.now(UTC) - timedelta(hours=1)).timestamp()
        for label in labels:
            target = inbox.folder / label["file"]
            target.write_bytes((data / label["file"]).read_bytes())
            os.utime(target, (settled, settled))
        with open_store(root / "bench.db") as store:
            outcomes = ingest_inbox(store, inbox, IngestSettings(), now=datetime.now(UTC))
    report_of = {Path(o.path).name: o.report_id for o in outcomes}
    docs: dict[int | None, set[str]] = {}
    for label in labels:
        docs.setdefault(report_of.get(label["file"]), set()).add(label["doc"])
    merged = [f"report {rid}: {sorted(d)}" for rid, d in docs.items() if len(d) > 1]
    apart = Counter(label["doc"] for label in labels)
    stored_as = {doc: {report_of.get(lb["file"]) for lb in labels if lb["doc"] == doc}
                 for doc in apart if apart[doc] > 1}
    copies_apart = sum(1 for ids in stored_as.values() if len(ids) > 1)
    return sum(len(d) - 1 for d in docs.values() if len(d) > 1), copies_apart, merged


def run(data: Path, show: bool) -> dict[str, Any]:
    labels = [json.loads(line) for line in (data / "labels.jsonl").read_text("utf-8").splitlines()
              if line.strip()]
    places = load_gazetteer()
    options = SummaryOptions()
    fields = {f: 0 for f in ("title", "source", "kind", "date")}
    given = {f: [0, 0] for f in ("source", "date")}
    tp = fp = fn = 0
    systems = ("ours", "lead3")
    defect_counts: dict[str, Counter[str]] = {s: Counter() for s in systems}
    defective: dict[str, int] = {s: 0 for s in systems}
    facts_total = 0
    facts_hit = {s: 0 for s in systems}
    by_language: dict[str, dict[str, int]] = {}
    misses: list[str] = []
    elapsed = 0.0
    for label in labels:
        text = decode_report((data / label["file"]).read_bytes()).text
        try:
            report = parse_report(text)
        except ReportError as error:
            misses.append(f"{label['file']}: not parsed: {error}")
            report = Report(title="", source=None, kind=None, published=None, language="und",
                            body="")
        checks = {
            "title": same(report.title, label["title"]),
            "source": same(report.source, label["source"], lenient=True),
            "kind": same(report.kind, label["kind"]),
            "date": same(report.published.isoformat() if report.published else None,
                         label["date"]),
        }
        for field, ok in checks.items():
            fields[field] += ok
            if not ok:
                value = getattr(report, "published" if field == "date" else field)
                misses.append(f"{label['file']}: {field} {value!r} != {label[field]!r}")
        for field in given:
            if label[field] is not None:
                given[field][1] += 1
                given[field][0] += checks[field]
        found = {c for c in places.detect(report.title, report.body, report.dateline)
                 if "-" not in c}
        truth = set(label["countries"])
        tp, fp, fn = tp + len(found & truth), fp + len(found - truth), fn + len(truth - found)
        if found != truth:
            misses.append(f"{label['file']}: countries {sorted(found)} != {sorted(truth)}")
        started = time.perf_counter()
        ours = summarise(report.title, report.body, options, dateline=report.dateline).sentences
        elapsed += time.perf_counter() - started
        lead = tuple(split_sentences(report.body)[: options.sentences])
        language = by_language.setdefault(label["language"], {"reports": 0, "ours_defective": 0,
                                                               "lead3_defective": 0})
        language["reports"] += 1
        for system, sentences in (("ours", ours), ("lead3", lead)):
            kinds = defects(sentences, report.title, report.body)
            defect_counts[system].update(kinds)
            defective[system] += bool(kinds)
            language[f"{system}_defective"] += bool(kinds)
            facts_hit[system] += covered(label["facts"], " ".join(sentences))
            if show and system == "ours":
                print(f"--- {label['file']} {sorted(set(kinds)) or ''}")
                for sentence in sentences:
                    print(f"    • {sentence}")
        facts_total += len(label["facts"])
    merged, copies_apart, merged_detail = merges(data, labels)
    n = len(labels)
    figures: dict[str, Any] = {
        "bench": "reports", "reports": n,
        "chrome": sum(1 for label in labels if label["chrome"]),
        **{f"{field}_accuracy": round(fields[field] / n, 3) for field in fields},
        **{f"{field}_given_read": f"{hit}/{total}" for field, (hit, total) in given.items()},
        "country_precision": round(tp / (tp + fp), 3) if tp + fp else 1.0,
        "country_recall": round(tp / (tp + fn), 3) if tp + fn else 1.0,
        "distinct_reports_merged": merged, "copies_stored_apart": copies_apart,
        "facts": facts_total,
        "ms_per_summary": round(1000 * elapsed / n, 2),
        "by_language": by_language,
    }
    for system in systems:
        figures[f"{system}_defective_summaries"] = defective[system]
        figures[f"{system}_defects"] = dict(sorted(defect_counts[system].items()))
        figures[f"{system}_fact_coverage"] = round(facts_hit[system] / facts_total, 3) \
            if facts_total else None
    if show:
        print("\n".join(misses + merged_detail))
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--show", action="store_true",
                        help="print every summary, every field missed and every merge")
    args = parser.parse_args()
    figures = run(args.data, args.show)
    print(f"{figures['reports']} real reports ({figures['chrome']} browser copies with chrome)")
    for field in ("title", "source", "kind", "date"):
        print(f"  {field:<8} accuracy {figures[f'{field}_accuracy']:.3f}")
    print(f"  dates given and read {figures['date_given_read']}, sources "
          f"{figures['source_given_read']}")
    print(f"  countries precision {figures['country_precision']:.3f} recall "
          f"{figures['country_recall']:.3f}")
    print(f"  distinct reports merged {figures['distinct_reports_merged']} (copies stored "
          f"apart {figures['copies_stored_apart']})")
    print(f"{'summaries':<14}{'defective':>10}{'fact coverage':>15}  defects")
    for system, name in (("ours", "ours"), ("lead3", "Lead-3")):
        coverage = figures[f"{system}_fact_coverage"]
        print(f"{name:<14}{figures[f'{system}_defective_summaries']:>10}"
              f"{coverage if coverage is not None else '-':>15}  {figures[f'{system}_defects']}")
    print(f"ours: {figures['ms_per_summary']:.2f} ms per summary")
    print(json.dumps(figures, ensure_ascii=False))


if __name__ == "__main__":
    main()
