"""Offline language identification for report text (pure; no I/O).

Script first, then evidence within the script: Kazakh is Cyrillic with letters Russian lacks
(ә ғ қ ң ө ұ ү һ і) and its own function words; English, French and Spanish are told apart by
their commonest words. Returns an ISO 639-1 code, or ``und`` when the evidence is too thin.
"""

from __future__ import annotations

import re
from collections import Counter

KAZAKH_LETTERS = frozenset("әғқңөұүһіӘҒҚҢӨҰҮҺІ")

_STOPWORDS: dict[str, frozenset[str]] = {
    "en": frozenset(
        "the of and to in is that for on with was as by at are from be has have this it its "
        "were which an or their said will not been".split()
    ),
    "fr": frozenset(
        "le la les des du de et est un une dans pour sur par au aux qui que sont ont avec "
        "cette été il elle".split()
    ),
    "es": frozenset(
        "el la los las del de y en un una por para con que se es son al fue han como más "
        "este esta".split()
    ),
    "ru": frozenset(
        "и в во не на что с со по для от из к как это о об за также были был была его их "
        "которые который года".split()
    ),
    "kk": frozenset(
        "және мен бен пен үшін бұл осы деп бойынша туралы да де ол олар жылы сондай-ақ "
        "болып болды тиіс".split()
    ),
}

# A few paragraphs settle the question; reading more only costs time.
_SAMPLE_CHARS = 6_000
_PUNCTUATION = "\"'«»“”‘’()[]{}.,;:!?–—…/\\"
# Runs, not single letters: counting run lengths is several times faster than one match a letter.
_CYRILLIC = re.compile(r"[\u0400-\u04ff]+")
_KAZAKH = re.compile("[" + "".join(sorted(KAZAKH_LETTERS)) + "]+")
_LATIN = re.compile(r"[a-z\u00c0-\u024f]+")


def _count(letters: re.Pattern[str], text: str) -> int:
    return sum(map(len, letters.findall(text)))


def detect_language(text: str) -> str:
    """The language of ``text``: ``en``, ``ru``, ``kk``, ``fr``, ``es`` or ``und``."""
    sample = text[:_SAMPLE_CHARS].casefold()
    words = [word.strip(_PUNCTUATION) for word in sample.split()]
    cyrillic_letters = _count(_CYRILLIC, sample)
    latin_letters = _count(_LATIN, sample)
    if not cyrillic_letters and not latin_letters:
        return "und"
    kazakh_letters = _count(_KAZAKH, sample) if cyrillic_letters else 0
    if cyrillic_letters > latin_letters:
        hits = _stopword_hits(words, ("ru", "kk"))
        # Kazakh letters make up ~8 % of Kazakh text; a Russian text quoting a Kazakh name
        # stays far below 2 %.
        if kazakh_letters / cyrillic_letters >= 0.02 or hits["kk"] > hits["ru"]:
            return "kk"
        return "ru"
    hits = _stopword_hits(words, ("en", "fr", "es"))
    best = max(hits, key=lambda lang: hits[lang])
    if hits[best] == 0 and len(words) > 3:
        return "und"
    return best if hits[best] > 0 else "en"


def _stopword_hits(words: list[str], languages: tuple[str, ...]) -> dict[str, int]:
    counts = Counter(words)
    return {lang: sum(counts[w] for w in _STOPWORDS[lang]) for lang in languages}
