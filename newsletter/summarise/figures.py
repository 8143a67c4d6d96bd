"""The facts a sentence states: its figures, and what each counts (pure; no I/O).

Dates and years say when, not how many: they are not figures. "1,250" and "1 250" are one
figure. A fact is a figure with what it counts (:func:`key_facts`): "40 т муки" and "40 км"
are different facts, "4,800 people" and "4 800 people" one.
"""

from __future__ import annotations

import re

from newsletter.reports.dates import MONTH_NAMES
from newsletter.summarise.words import STOPWORDS, WORD

_FIGURE = re.compile(r"\d+(?:[ ,.]\d{3})*(?:[.,]\d+)?\s*(?:%|per cent|процент\w*|пайыз\w*)?")
# Dates and years say when, not how many: they are not key figures.
_DATE_EXPRESSION = re.compile(
    r"\b\d{1,2}(?:\s*(?:and|и|-|–)\s*\d{1,2})?\s+(?P<after>[^\W\d_]{3,10})\b"
    r"|\b(?P<before>[^\W\d_]{3,10})\.?\s+\d{1,2}\b|\b(?:19|20)\d{2}\b"
)
_DIGIT = re.compile(r"\d")


def _drop_date(match: re.Match[str]) -> str:
    month = match.group("after") or match.group("before")
    if month is None or month.casefold() in MONTH_NAMES:
        return " "
    return match.group()


def key_figures(sentence: str) -> frozenset[str]:
    """The numbers a sentence states, normalised ("1,250" and "1 250" are one figure)."""
    if not _DIGIT.search(sentence):
        return frozenset()
    figures = set()
    for match in _FIGURE.finditer(_DATE_EXPRESSION.sub(_drop_date, sentence)):
        digits = re.sub(r"[ ,.](?=\d{3}\b)", "", match.group().strip())
        if len(digits.rstrip("% ")) >= 2 or "%" in digits:  # single digits are rarely key facts
            figures.add(digits)
    return frozenset(figures)


# Units and magnitudes: after one of these, the fact is what the next word counts ("40 тонн
# муки", "3.2 million people"); otherwise the word after the number is what is counted.
_MEASURES = frozenset(word[:5] for word in
    """km км m м kg кг t т ton tons tonne tonnes тонн тонны тонна ha га hectare гектар mm мм l л
    litre liter литр % percent процент пайыз million billion thousand тыс тысяч млн миллион
    млрд миллиард us usd доллар dollar chf франк сом тенге tenge""".split())


def key_facts(sentence: str) -> frozenset[tuple[str, str]]:
    """The facts a sentence states, as (figure, what it counts): "40 км" and "40 т", or "14
    кишлаков" and "14 км", are different facts; "4,800 people" and "4 800 people" one."""
    if not _DIGIT.search(sentence):
        return frozenset()
    text = _DATE_EXPRESSION.sub(_drop_date, sentence)
    facts = set()
    for match in _FIGURE.finditer(text):
        digits = re.sub(r"[ ,.](?=\d{3}\b)", "", match.group().strip())
        if not (len(digits.rstrip("% ")) >= 2 or "%" in digits):
            continue
        number = re.sub(r"\s*(?:%|per cent|процент\w*|пайыз\w*)$", "", digits)
        words = [w[:6] for w in WORD.findall(text[match.end() : match.end() + 80].casefold())
                 if w not in STOPWORDS and not w.isdigit()]
        if number != digits:
            words.insert(0, "%")
        counted = words[:1]
        while counted and counted[-1][:5] in _MEASURES and len(counted) < len(words) \
                and len(counted) < 3:
            counted.append(words[len(counted)])
        facts.add((number, " ".join(counted)))
    return frozenset(facts)
