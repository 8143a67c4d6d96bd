"""Translation core: routes, protection of facts, glossary, quality flags, edition status (pure).

Facts are never left to the model. Before a sentence is translated, its numbers, dates,
percentages, sums of money, temperatures, URLs, e-mail addresses, phone numbers, codes
(``MDRKZ013``, ``FL-2008-000032-KAZ``) and glossary terms are replaced by numeric placeholders
(``701``, ``702``…: digits are what every model copies faithfully, and no other digit is left in
the masked text). After translation each placeholder is put back, rendered for the target
language: glossary terms in their agreed translation, dates and grouped numbers in the target
locale's format ("12,000" → "12 000", "31 January 2013" → "31 января 2013 г."), everything else
verbatim. Quality flags then say what went wrong, if anything, and a per-list policy decides
whether a flagged language is held back or sent in the original with a notice.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import io
import re
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from enum import StrEnum

from newsletter.errors import GlossaryFormatError
from newsletter.languages import LANGUAGES
from newsletter.reports.dates import MONTH_NUMBERS
from newsletter.reports.language import KAZAKH_LETTERS

_PLACEHOLDER_BASE = 700


# -- routes -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelRef:
    """An installed translation model, as the core needs to know it."""

    from_code: str
    to_code: str
    key: str  # name@version#fingerprint: what a cached translation was made with


def plan_route(models: Iterable[ModelRef], source: str, target: str) -> tuple[ModelRef, ...] | None:
    """The shortest chain of installed models from ``source`` to ``target`` (a direct pair if
    there is one, else a pivot such as en→ru→kk), or None when there is none."""
    if source == target:
        return ()
    by_source: dict[str, list[ModelRef]] = {}
    for model in sorted(models, key=lambda m: m.key):
        by_source.setdefault(model.from_code, []).append(model)
    queue: deque[tuple[str, tuple[ModelRef, ...]]] = deque([(source, ())])
    seen = {source}
    while queue:
        language, path = queue.popleft()
        for model in by_source.get(language, []):
            if model.to_code in seen:
                continue
            route = (*path, model)
            if model.to_code == target:
                return route
            seen.add(model.to_code)
            queue.append((model.to_code, route))
    return None


def describe_route(route: Sequence[ModelRef]) -> str:
    """"en→ru translate-en_ru@1.0" or, for a pivot, both legs joined by " + "."""
    return " + ".join(f"{m.from_code}→{m.to_code} {m.key.split('#')[0]}" for m in route)


# -- glossary -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Glossary:
    """Fixed translations of names and terms: one row per term, one column per language."""

    rows: tuple[Mapping[str, str], ...] = ()

    @property
    def fingerprint(self) -> str:
        text = repr(sorted(sorted(row.items()) for row in self.rows))
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    def name_in(self, name: str, language: str) -> str:
        """``name`` (an organisation or place, in any language) as the glossary gives it in
        ``language``; ``name`` itself when the glossary does not know it in full."""
        wanted = " ".join(name.split()).casefold()
        for row in self.rows:
            if language in row and any(" ".join(term.split()).casefold() == wanted
                                       for term in row.values()):
                return row[language]
        return name

    def terms(self, language: str) -> list[tuple[str, Mapping[str, str]]]:
        """(term in ``language``, row) pairs, longest term first."""
        found = [(row[language], row) for row in self.rows if row.get(language)]
        return sorted(found, key=lambda pair: (-len(pair[0]), pair[0]))


def parse_glossary(text: str, languages: Sequence[str] = LANGUAGES) -> Glossary:
    """Read glossary CSV text: a header row naming language columns (others, such as ``note``,
    are ignored), then one term per row; ``#`` starts a comment line."""
    lines = [line for line in text.splitlines()
             if line.strip() and not line.lstrip().startswith("#")]
    if not lines:
        return Glossary()
    reader = csv.DictReader(io.StringIO("\n".join(lines)))
    header = [name.strip() for name in reader.fieldnames or []]
    missing = [lang for lang in languages if lang not in header]
    if missing:
        raise GlossaryFormatError(f"the header has no column for {', '.join(missing)}")
    rows = []
    for number, raw in enumerate(reader, start=2):
        row = {lang: (raw.get(lang) or "").strip() for lang in languages}
        if sum(1 for value in row.values() if value) < 2:
            raise GlossaryFormatError(f"row {number} gives fewer than two languages")
        rows.append({lang: value for lang, value in row.items() if value})
    return Glossary(tuple(rows))


# -- masking ------------------------------------------------------------------------------------


class SpanKind(StrEnum):
    URL = "url"
    EMAIL = "email"
    PHONE = "phone"
    TERM = "term"
    CODE = "code"
    DATE = "date"
    MONEY = "money"
    PERCENT = "percent"
    TEMPERATURE = "temperature"
    NUMBER = "number"


@dataclass(frozen=True)
class Span:
    """One protected piece of a sentence and what it stands for."""

    placeholder: str
    kind: SpanKind
    text: str
    translations: Mapping[str, str] = field(default_factory=dict)  # glossary terms only


@dataclass(frozen=True)
class Masked:
    """A sentence with its facts replaced by placeholders."""

    text: str
    source: str
    language: str
    spans: tuple[Span, ...]


_MONTH_ALTERNATION = "|".join(sorted(map(re.escape, MONTH_NUMBERS), key=len, reverse=True))
_MONTH = rf"(?:{_MONTH_ALTERNATION})\.?"
_NUM = r"\d{1,3}(?:(?:,|\u00a0|\u202f| )\d{3})+(?:[.,]\d+)?|\d+(?:[.,]\d+)?"
_CURRENCY = r"US\$|\$|€|£|₸|CHF|USD|EUR|GBP|KZT|KGS|RUB"
@functools.cache
def _patterns() -> tuple[tuple[SpanKind, re.Pattern[str]], ...]:
    """The facts :func:`mask` protects, by kind: compiled on first use (a command that never
    translates does not pay for them)."""
    return (
        (SpanKind.URL, re.compile(r"\bhttps?://[^\s<>\"]+[^\s<>\".,;:!?)]|\bwww\.[^\s<>\"]+[^\s<>\".,;:!?)]")),
        (SpanKind.EMAIL, re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")),
        (SpanKind.PHONE, re.compile(r"\+\d[\d ()/.-]{6,}\d")),
        (SpanKind.CODE, re.compile(
            r"\b(?=[A-Z0-9-]*\d)(?=[A-Z0-9-]*[A-Z])[A-Z0-9]+(?:-[A-Z0-9]+)+\b"  # FL-2008-000032-KAZ
            r"|\b[A-Z]{2,}[0-9][A-Z0-9]*\b"  # MDRKZ013
        )),
        (SpanKind.DATE, re.compile(
            rf"\b\d{{4}}-\d{{2}}-\d{{2}}\b"
            rf"|\b\d{{1,2}}\s+{_MONTH}(?:\s+\d{{4}}(?:\s*(?:г\.|года|жыл\w*))?)?(?![\w])"
            rf"|\b{_MONTH}\s+\d{{1,2}}(?:,\s*\d{{4}})?\b"
            rf"|\b\d{{4}}\s+(?:жылғы\s+)?\d{{1,2}}\s+{_MONTH}(?![\w])",
            re.IGNORECASE,
        )),
        (SpanKind.MONEY, re.compile(
            rf"(?:{_CURRENCY})\s?(?:{_NUM})|(?:{_NUM})\s?(?:{_CURRENCY}|тенге)"
        )),
        (SpanKind.PERCENT, re.compile(rf"(?:{_NUM})\s?%")),
        (SpanKind.TEMPERATURE, re.compile(rf"[-−]?(?:{_NUM})\s?°\s?[CF]?")),
        (SpanKind.NUMBER, re.compile(rf"(?<![\w.,])[-−]?(?:{_NUM})(?![\w])|\d+")),
    )


def mask(text: str, language: str, glossary: Glossary = Glossary()) -> Masked:
    """Replace the facts of ``text`` by placeholders (glossary terms first, then by kind)."""
    taken: list[tuple[int, int, SpanKind, Mapping[str, str]]] = []

    def free(start: int, end: int) -> bool:
        return all(end <= s or start >= e for s, e, _, _ in taken)

    for kind, pattern in _patterns()[:3]:  # URLs, e-mail, phones may contain glossary words
        for match in pattern.finditer(text):
            if free(*match.span()):
                taken.append((*match.span(), kind, {}))
    for term, row in glossary.terms(language):
        for match in re.finditer(rf"(?<!\w){re.escape(term)}(?!\w)", text):
            if free(*match.span()):
                taken.append((*match.span(), SpanKind.TERM, row))
    for kind, pattern in _patterns()[3:]:
        for match in pattern.finditer(text):
            if free(*match.span()):
                taken.append((*match.span(), kind, {}))
    taken.sort()
    pieces, spans, cursor = [], [], 0
    for number, (start, end, kind, row) in enumerate(taken, start=1):
        placeholder = str(_PLACEHOLDER_BASE + number)
        pieces += [text[cursor:start], placeholder]
        spans.append(Span(placeholder, kind, text[start:end], row))
        cursor = end
    pieces.append(text[cursor:])
    return Masked("".join(pieces), text, language, tuple(spans))


@dataclass(frozen=True)
class Flag:
    """A quality problem found in a translation: a stable code and what was seen."""

    code: str
    detail: str

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "detail": self.detail}


_DIGITS = re.compile(r"\d+")

# What the engine saw while translating a sentence travels with its output (and is cached
# with it) as a private-use character at its end: the model ran to the most tokens it may
# produce without ending the sentence (cut short), or the sentence was longer than the
# model takes and was translated in pieces. :func:`engine_marks` reads them back.
CUT_MARK = "\ue000"
SPLIT_MARK = "\ue001"
_MARKS = {CUT_MARK: Flag("runaway", "the model did not end the sentence: its output was cut "
                                    "at the most tokens it may produce"),
          SPLIT_MARK: Flag("split", "the sentence is longer than the model takes: it was "
                                    "translated in pieces")}


def engine_marks(output: str) -> tuple[str, list[Flag]]:
    """``output`` without the engine's marks, and the flags they stand for."""
    flags = [flag for mark, flag in _MARKS.items() if mark in output]
    if flags:
        output = output.translate({ord(mark): None for mark in _MARKS})
    return output, flags


def unmask(output: str, masked: Masked, target: str) -> tuple[str, list[Flag]]:
    """Put the protected facts back into a model's ``output``, rendered for ``target``."""
    output, _ = engine_marks(output)
    by_placeholder = {span.placeholder: span for span in masked.spans}
    seen: dict[str, int] = {}
    flags: list[Flag] = []

    def restore(match: re.Match[str]) -> str:
        number = match.group()
        span = by_placeholder.get(number)
        if span is None:
            flags.append(Flag("numbers", f"the translation adds the number {number}"))
            return number
        seen[number] = seen.get(number, 0) + 1
        rendered = render_span(span, masked.language, target)
        if rendered.endswith(".") and output.startswith(".", match.end()):
            rendered = rendered[:-1]  # "… 2013 г." before the sentence's own full stop
        return rendered

    restored = _DIGITS.sub(restore, output)
    for span in masked.spans:
        count = seen.get(span.placeholder, 0)
        code = "glossary" if span.kind is SpanKind.TERM else "numbers"
        if count == 0:
            flags.append(Flag(code, f"{span.text!r} is missing from the translation"))
        elif count > 1:
            flags.append(Flag(code, f"{span.text!r} appears {count} times in the translation"))
    return restored, flags


def render_span(span: Span, source: str, target: str) -> str:
    """A protected fact as it should read in ``target``."""
    if span.kind is SpanKind.TERM:
        return span.translations.get(target, span.text)
    if span.kind is SpanKind.DATE:
        return _render_date(span.text, target)
    if span.kind in (SpanKind.NUMBER, SpanKind.PERCENT, SpanKind.MONEY, SpanKind.TEMPERATURE):
        return re.sub(_NUM, lambda m: render_number(m.group(), source, target), span.text)
    return span.text


def render_number(text: str, source: str, target: str) -> str:
    """A number in the target locale's format, when the source wrote it with grouping or a
    decimal part; plain integers (counts, years, identifiers) are left exactly as written."""
    if source == target or text.isdigit():
        return text
    value = parse_number(text, source)
    if value is None:
        return text
    from babel.numbers import format_decimal  # babel is loaded when a number is rendered

    return format_decimal(value, locale=target, decimal_quantization=False)


def parse_number(text: str, language: str) -> Decimal | None:
    """The value of a written number: "12,000" and "3.5" in English, "12 000" and "4,5" in
    Russian or Kazakh."""
    cleaned = text.replace("\u00a0", " ").replace("\u202f", " ").replace("−", "-")
    if language == "en":
        cleaned = cleaned.replace(",", "").replace(" ", "")
    else:
        cleaned = cleaned.replace(" ", "").replace(",", ".")
        if cleaned.count(".") > 1:
            cleaned = cleaned.replace(".", "", cleaned.count(".") - 1)
    try:
        return Decimal(cleaned)
    except InvalidOperation:
        return None


_DATE_PARTS = re.compile(
    rf"(?P<iso>\d{{4}}-\d{{2}}-\d{{2}})"
    rf"|(?P<d1>\d{{1,2}})\s+(?P<m1>{_MONTH})(?:\s+(?P<y1>\d{{4}}))?"
    rf"|(?P<m2>{_MONTH})\s+(?P<d2>\d{{1,2}})(?:,\s*(?P<y2>\d{{4}}))?"
    rf"|(?P<y3>\d{{4}})\s+(?:жылғы\s+)?(?P<d3>\d{{1,2}})\s+(?P<m3>{_MONTH})",
    re.IGNORECASE,
)


def _render_date(text: str, target: str) -> str:
    from babel.dates import format_date, format_skeleton

    match = _DATE_PARTS.search(text)
    if match is None or match.group("iso"):
        return text
    groups = match.groupdict()
    day = next(groups[f"d{i}"] for i in (1, 2, 3) if groups[f"d{i}"])
    month_name = next(groups[f"m{i}"] for i in (1, 2, 3) if groups[f"m{i}"])
    year = next((groups[f"y{i}"] for i in (1, 2, 3) if groups[f"y{i}"]), None)
    month = MONTH_NUMBERS[month_name.rstrip(".").casefold()]
    try:
        when = date(int(year or 2000), month, int(day))
    except ValueError:
        return text
    if year:
        return format_date(when, format="long", locale=target)
    return format_skeleton("dMMMM", when, locale=target)


# -- quality ------------------------------------------------------------------------------------

_CYRILLIC = re.compile(r"[\u0400-\u04ff]")
_LATIN = re.compile(r"[A-Za-z]")
_WORDS = re.compile(r"\w+")
LENGTH_BOUNDS = (0.4, 3.0)


def quality_flags(masked: Masked, output: str, target: str) -> list[Flag]:
    """Problems of a model's ``output`` for ``masked`` (before placeholders are restored)."""
    output, flags = engine_marks(output)
    source_letters = len(re.findall(r"[^\W\d_]", masked.text))
    output_letters = re.findall(r"[^\W\d_]", output)
    if source_letters >= 4:
        ratio = len(output) / max(1, len(masked.text))
        if not LENGTH_BOUNDS[0] <= ratio <= LENGTH_BOUNDS[1]:
            flags.append(Flag("length", f"the translation is {ratio:.1f} times the source length"))
        if output.strip() == masked.text.strip():
            flags.append(Flag("untranslated", "the translation equals the source"))
    words = _WORDS.findall(output.casefold())
    for n in (1, 2, 3):
        grams = [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]
        for i in range(len(grams) - 3 * n + 1):
            if grams[i] == grams[i + n] == grams[i + 2 * n] and any(w.isalpha() for w in grams[i]):
                flags.append(Flag("repetition", f"{' '.join(grams[i])!r} repeats"))
                break
        else:
            continue
        break
    if "⁇" in output or "<unk>" in output:
        flags.append(Flag("unknown", "the model produced an unknown token (⁇)"))
    if output_letters:
        cyrillic = sum(1 for ch in output_letters if _CYRILLIC.match(ch))
        share = cyrillic / len(output_letters)
        if target in ("ru", "kk") and share < 0.6:
            flags.append(Flag("script", f"only {share:.0%} of the letters are Cyrillic"))
        if target == "en" and share > 0.4:
            flags.append(Flag("script", f"{share:.0%} of the letters are Cyrillic"))
    if target == "kk" and output_letters and not any(ch in KAZAKH_LETTERS for ch in output):
        flags.append(Flag("kazakh_letters", "no Kazakh-specific letter (ә ғ қ ң ө ұ ү һ і)"))
    return flags


def missing_model_flag(source: str, target: str) -> Flag:
    return Flag(
        "no_model",
        f"no {source}→{target} model is installed: install one with "
        f"`newsletter models install translate-{source}_{target}.argosmodel` "
        f"(see `newsletter models --help`)",
    )


def flag_counts(flags: Iterable[Flag]) -> list[tuple[str, int]]:
    """Each flag's code once, with how many times it was raised, in the order first seen:
    ``numbers ×3, script`` rather than ``numbers, numbers, numbers, script``."""
    counts: dict[str, int] = {}
    for flag in flags:
        counts[flag.code] = counts.get(flag.code, 0) + 1
    return list(counts.items())


def flags_text(flags: Iterable[Flag]) -> str:
    """:func:`flag_counts` for people: ``numbers ×3, script``."""
    return ", ".join(code if n == 1 else f"{code} ×{n}" for code, n in flag_counts(flags))


def unique_flags(flags: Iterable[Flag]) -> list[Flag]:
    """Flags without repeats, in the order first seen."""
    out: list[Flag] = []
    for flag in flags:
        if flag not in out:
            out.append(flag)
    return out


def as_flags(raw: Iterable[Mapping[str, str]]) -> list[Flag]:
    return [Flag(item["code"], item["detail"]) for item in raw]



def memory_pair(source: str, target: str, source_language: str, target_language: str,
                glossary: Glossary = Glossary()) -> tuple[str, str] | None:
    """An approved sentence pair as the translation memory keeps it: both sides with the
    source's facts as placeholders, so the pair serves the same sentence with other numbers
    or dates. None when a fact of the source is not found in the target as it would be
    rendered there (the pair would not generalise)."""
    masked = mask(source, source_language, glossary)
    masked_target = target
    for span in sorted(masked.spans, key=lambda s: -len(render_span(s, source_language,
                                                                     target_language))):
        rendered = render_span(span, source_language, target_language)
        if rendered not in masked_target:
            return None
        masked_target = masked_target.replace(rendered, span.placeholder, 1)
    return masked.text, masked_target


def text_hash(text: str) -> str:
    """The key of a sentence in the translation cache and the translation memory."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
