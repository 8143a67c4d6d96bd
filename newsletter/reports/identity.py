"""When two texts are the same report: duplicates, updates and different reports (pure).

- **Duplicate**: the same content (:func:`content_hash`: title, source and body, with case,
  Unicode form, quotes, dashes and wrapping ignored) under any name or encoding.
- **Update** (a new revision of a stored report): :func:`same_report` decides, and it never
  lets an update swallow a different report. Browser copies of unrelated pages can share a
  title made of site chrome, no source and no date; successive situation reports share a
  title but for their number; a DREF operation's updates share its appeal code. So:

  1. Two titles with different report numbers ("Situation Report No. 5" / "No. 6",
     "Operation Update n° 1" / "n° 2"), or two different publication dates, make different
     reports, whatever else they share (a daily update under one title is a new report each
     day; a corrected report keeps its date).
  2. Otherwise a text is an update of a stored report when it comes from the **same file**
     or has the **same title** (punctuation and case aside), **and** its body is
     substantially the same text (:func:`resemblance` ≥ :data:`SUBSTANTIAL`: half the word
     5-grams of the shorter body are in the other) or both name the same document code (an
     appeal number ``MDRKZ013``, a GLIDE number ``FL-2013-000012-KAZ``).
  3. Anything else is a new report. A repost of the same text by another agency, under its
     own title, stays a report of its own (a digest merges the two into one item crediting
     both sources).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
import zlib
from dataclasses import dataclass

from newsletter.reports.model import Report

SUBSTANTIAL = 0.5  # share of 5-grams that makes two bodies "substantially the same text"
_SHINGLE = 5
_COMPARED = 200_000  # characters of a body compared: a 2 MB body costs a bounded time

_PUNCTUATION_VARIANTS = {"‘": "'", "’": "'", "“": '"', "”": '"', "«": '"', "»": '"',
                         "–": "-", "—": "-"}
_VARIANT = re.compile("[" + "".join(_PUNCTUATION_VARIANTS) + "]")
_SPACES = re.compile(r"\s+")
_WORD = re.compile(r"[^\W_]+")
_APPEAL = re.compile(r"\bMDR[A-Z]{2}\d{3}\b")
_GLIDE = re.compile(r"\b[A-Z]{2}-\d{4}-\d{6}-[A-Z]{3}\b")
# "Situation Report No. 5", "Flash Update #3", "Operation Update n° 4", "Information Bulletin
# n° 1", "Update No. 04", "Issue 31", "Sitrep 19", "Доклад № 2", "Report 3".
_NUMBERED = re.compile(
    r"\b(?P<what>situation report|sitrep|flash update|operations? update|update|information "
    r"bulletin|bulletin|issue|report|доклад|сводка|обновление|бюллетень|выпуск)\s*"
    r"(?:no\.?|n°|nº|№|#|number)?\s*(?P<n>\d{1,3})\b(?![.,]\d)", re.IGNORECASE)


def normalise(text: str) -> str:
    """Case, Unicode form, quote and dash style and spacing do not change what a text says."""
    text = unicodedata.normalize("NFKC", text)
    text = _VARIANT.sub(lambda m: _PUNCTUATION_VARIANTS[m.group()], text)
    return _SPACES.sub(" ", text.casefold()).strip()


def content_hash(report: Report) -> str:
    """Hash of what a reader sees: the same report saved under another name or encoding, or
    re-wrapped, hashes the same."""
    canonical = "\n".join(
        [normalise(report.title), normalise(report.source or ""), normalise(report.body)]
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def title_key(title: str) -> str:
    """What two titles must share to be one report's: their words, in order (punctuation,
    case and spacing aside: "Cyclone Bulbul Situation Report 1, 4:00PM" is "… Report 1
    4:00PM")."""
    words = " ".join(_WORD.findall(normalise(title)))
    return hashlib.sha256(words.encode("utf-8")).hexdigest()


def report_numbers(title: str) -> frozenset[tuple[str, str]]:
    """The numbered series a title names, as (series word, number without leading zeros)."""
    return frozenset((m.group("what").casefold().replace("operations", "operation"),
                      m.group("n").lstrip("0") or "0") for m in _NUMBERED.finditer(title))


def document_codes(report: Report) -> frozenset[str]:
    """The appeal and GLIDE numbers a report names (title and body)."""
    text = report.title + "\n" + report.body
    return frozenset(_APPEAL.findall(text)) | frozenset(_GLIDE.findall(text))


def shingles(text: str) -> frozenset[int]:
    """The word 5-grams (hashed) of the text's first :data:`_COMPARED` characters."""
    words = _WORD.findall(normalise(text[:_COMPARED]))
    return frozenset(zlib.crc32(" ".join(words[i : i + _SHINGLE]).encode("utf-8"))
                     for i in range(max(0, len(words) - _SHINGLE + 1)))


def resemblance(a: frozenset[int], b: frozenset[int]) -> float:
    """Share of the smaller set's 5-grams found in the other (1.0: one text holds the other)."""
    if not a or not b:
        return 0.0
    return len(a & b) / min(len(a), len(b))


@dataclass(frozen=True)
class Verdict:
    """Whether a text is an update of a stored report, and why (for the ingest log)."""

    same: bool
    reason: str
    resemblance: float


def same_report(new: Report, old: Report, *, same_file: bool) -> Verdict:
    """Whether ``new`` is an update of the stored ``old`` (see the module docstring)."""
    numbers_new, numbers_old = report_numbers(new.title), report_numbers(old.title)
    if numbers_new and numbers_old and numbers_new != numbers_old:
        return Verdict(False, "the titles carry different report numbers", 0.0)
    if new.published and old.published and new.published != old.published:
        return Verdict(False, f"published on {new.published}, not {old.published}", 0.0)
    same_title = title_key(new.title) == title_key(old.title)
    if not (same_file or same_title):
        return Verdict(False, "another file with another title", 0.0)
    share = resemblance(shingles(new.body), shingles(old.body))
    if share >= SUBSTANTIAL:
        return Verdict(True, f"{'the same file' if same_file else 'the same title'} and "
                             f"{share:.0%} of the text in common", share)
    codes = document_codes(new) & document_codes(old)
    if codes:
        return Verdict(True, f"{'the same file' if same_file else 'the same title'} and the "
                             f"document code {min(codes)}", share)
    return Verdict(False, f"only {share:.0%} of the text in common", share)


def changed_share(before: str, after: str) -> float:
    """How much of ``after`` is new against ``before`` (0.0 the same text, 1.0 all new), by
    word 5-grams."""
    old, new = shingles(before), shingles(after)
    if not new:
        return 0.0 if not old else 1.0
    return 1.0 - len(old & new) / len(new)
