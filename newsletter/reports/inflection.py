"""The inflected forms of Russian and Kazakh place names, from explicit ending sets (pure).

A report says "в Казахстане" and "Қазақстандағы", not "Казахстан" and "Қазақстан"; the
gazetteer (:mod:`newsletter.reports.places`) matches every form these functions give, as whole
words. The ending sets are closed lists chosen by how a word ends, never a free tail, so a short
name gets only its own forms ("Чад": Чада, Чаду, Чадом, Чаде, never "чадить"; "Мали" does not
decline at all, so never "мало").

Russian (:func:`russian_forms`): every Cyrillic word of a name gets its oblique case forms by
its ending (adjective -ая/-яя/-ый/-ий/-ой/-ое/-ее/-ые/-ие; noun -ия/-я/-а/-ь/-й/-ы/-ство/
consonant; -о/-е/-и/-у/-ю/-э, a vowel before -а, an abbreviation or a Latin word stays as it
is). A name of several words declines, case by case, any run of consecutive words while the
others keep the nominative: "Республика Корея" → "Республики Корея", "Актюбинская область" →
"Актюбинской области", "Коста-Рика" → "Коста-Рики", "Босния и Герцеговина" → "Боснии и
Герцеговины". A form Russian never writes costs nothing: it is just never met. Adjectives made
from a name ("казахстанский") are other words and are not matched.

Kazakh (:func:`kazakh_forms`): the suffixes go on the last word only, chosen by vowel harmony
(the last vowel: а о ұ ы я back, ә е ө ү і э front; и у ю decide nothing, so both; у after a
vowel is the consonant of Атырау) and by the last sound (vowel; л р й у; ж з; м н ң; a
voiceless consonant; б в г д ғ as voiced or devoiced; и as a vowel or as й), or after the
possessive -ы/-і of "облысы", "Республикасы", "аралдары" (облысының, облысына, облысында,
облысынан, облысын): genitive, dative, locative, ablative, accusative, instrumental,
-дағы/-дегі, and -дағы + -лар with the cases after it (Қазақстандағыларға).
An abbreviation takes its suffix after a hyphen (АҚШ-та), which whole-word matching already
accepts.
"""

from __future__ import annotations

import itertools
import re

# A word of a name or of a text: letters and digits. Splitting with the group keeps what lies
# between words: gap, word, gap, word, ..., gap.
WORD = re.compile(r"[^\W_]+")
WORDS_AND_GAPS = re.compile(r"([^\W_]+)")
_CYRILLIC = re.compile(r"^[\u0400-\u04ff]+$")

# --- Russian -------------------------------------------------------------------------------

_RU_VOWELS = frozenset("аеёиоуыэюя")
_HUSHING = frozenset("жшщчц")
_VELAR_OR_HUSHING = frozenset("гкхжшщч")
# A vowel that drops out of the oblique cases: Египет, Египта.
_RU_FLEETING = {"египет": "египт"}
# Endings by case (genitive, dative, accusative, instrumental, prepositional) that replace the
# last ``cut`` letters of a word ending so; the first ending that fits decides. Alternatives are
# separated by "|" (an -ий word may be an adjective or a noun).
_RU_ENDINGS: tuple[tuple[str, int, tuple[str, ...]], ...] = (
    ("острова", 1, ("ов", "ам", "а", "ами", "ах")),  # the plural of остров
    ("ая", 2, ("ой", "ой", "ую", "ой|ою", "ой")),
    ("яя", 2, ("ей", "ей", "юю", "ей|ею", "ей")),
    ("ый", 2, ("ого", "ому", "ый", "ым", "ом")),
    ("ой", 2, ("ого", "ому", "ой", "ым", "ом")),
    ("ий", 2, ("его|ого|ия", "ему|ому|ию", "ий", "им|ием", "ем|ом|ии")),  # Южный, Маврикий
    ("ое", 2, ("ого", "ому", "ое", "ым", "ом")),
    ("ее", 2, ("его", "ему", "ее", "им", "ем")),
    ("ые", 2, ("ых", "ым", "ые", "ыми", "ых")),
    ("ие", 2, ("их", "им", "ие", "ими", "их")),
    ("ия", 1, ("и", "и", "ю", "ей", "и")),
    ("я", 1, ("и", "е", "ю", "ей", "е")),
    ("ь", 1, ("я|и", "ю|и", "ь", "ем|ью", "е|и")),  # Израиль, and область, Беларусь
    ("й", 1, ("я", "ю", "й", "ем", "е")),
    ("ы", 1, ("ов|ых", "ам|ым", "ы", "ами|ыми", "ах|ых")),  # Нидерланды, Маршалловы
    ("ство", 1, ("а", "у", "о", "ом", "е")),
)
_CASES = 5


def _ru_cases(word: str) -> tuple[frozenset[str], ...]:
    """One word in each oblique case (genitive, dative, accusative, instrumental,
    prepositional): a set of spellings each, the word itself when it does not decline."""
    low = word.lower()
    same = (frozenset({word}),) * _CASES
    if len(word) < 2 or word.isupper() or not _CYRILLIC.match(word):
        return same
    for ending, cut, by_case in _RU_ENDINGS:
        if low.endswith(ending):
            stem = word[: len(word) - cut]
            return tuple(frozenset(stem + e for e in endings.split("|")) for endings in by_case)
    if low.endswith("а"):
        if low[-2] in _RU_VOWELS:  # Папуа, Никарагуа
            return same
        genitive = "и" if low[-2] in _VELAR_OR_HUSHING else "ы"
        instrumental = "ей" if low[-2] in _HUSHING else "ой"
        stem = word[:-1]
        return tuple(frozenset({stem + e})
                     for e in (genitive, "е", "у", instrumental, "е"))
    if low[-1] in _RU_VOWELS:  # Конго, Перу, Мали, Душанбе: foreign names do not decline
        return same
    stem = _RU_FLEETING.get(low, word)
    stem = stem.capitalize() if word[0].isupper() else stem
    instrumental = "ем" if low[-1] in _HUSHING else "ом"
    return tuple(frozenset({stem + e}) if e else frozenset({word})
                 for e in ("а", "у", "", instrumental, "е"))


def russian_forms(name: str) -> frozenset[str]:
    """``name`` and its Russian case forms (see the module docstring)."""
    pieces = WORDS_AND_GAPS.split(name)  # separator, word, separator, word, ..., separator
    words = pieces[1::2]
    cases = [_ru_cases(word) for word in words]
    forms = {name}
    for case in range(_CASES):
        for first in range(len(words)):
            for last in range(first, len(words)):
                block = [sorted(cases[k][case]) for k in range(first, last + 1)]
                for declined in itertools.product(*block):
                    chosen = [*words[:first], *declined, *words[last + 1 :]]
                    built = [pieces[0]]
                    for word, separator in zip(chosen, pieces[2::2], strict=True):
                        built += [word, separator]
                    forms.add("".join(built))
    return frozenset(forms)


# --- English -------------------------------------------------------------------------------

# Words of a region's name that English prose writes in lower case ("floods in Almaty region").
_EN_GENERIC = frozenset({"Region", "Oblast", "Province", "District", "City", "Governorate"})


def english_forms(name: str) -> frozenset[str]:
    """``name`` as written, and with its last word in lower case when that word only says
    what kind of place it is (Almaty Region, Almaty region)."""
    head, _, last = name.rpartition(" ")
    if head and last in _EN_GENERIC:
        return frozenset({name, f"{head} {last.lower()}"})
    return frozenset({name})


# --- Kazakh --------------------------------------------------------------------------------

_KK_BACK = frozenset("аоұыя")
_KK_FRONT = frozenset("әеөүіэ")
_KK_VOWELS = _KK_BACK | _KK_FRONT | frozenset("иуюё")

# Suffix sets by the last sound, as (back, front) pairs per case: genitive, dative, locative,
# ablative, accusative, instrumental, and the -дағы form.
_KK_SUFFIXES: dict[str, tuple[tuple[str, str], ...]] = {
    "vowel": (("ның", "нің"), ("ға", "ге"), ("да", "де"), ("дан", "ден"), ("ны", "ні"),
              ("мен", "мен"), ("дағы", "дегі")),
    "sonorant": (("дың", "дің"), ("ға", "ге"), ("да", "де"), ("дан", "ден"), ("ды", "ді"),
                 ("мен", "мен"), ("дағы", "дегі")),
    "voiced": (("дың", "дің"), ("ға", "ге"), ("да", "де"), ("дан", "ден"), ("ды", "ді"),
               ("бен", "бен"), ("дағы", "дегі")),
    "nasal": (("ның", "нің"), ("ға", "ге"), ("да", "де"), ("нан", "нен"), ("ды", "ді"),
              ("мен", "мен"), ("бен", "бен"), ("дағы", "дегі")),
    "voiceless": (("тың", "тің"), ("қа", "ке"), ("та", "те"), ("тан", "тен"), ("ты", "ті"),
                  ("пен", "пен"), ("тағы", "тегі")),
    "possessive": (("ның", "нің"), ("на", "не"), ("нда", "нде"), ("нан", "нен"), ("н", "н"),
                   ("мен", "мен"), ("ндағы", "ндегі")),
}
# After -дағы/-дегі + -лар/-лер: the cases of a word ending in р.
_KK_PLURAL = {"дағы": "дағылар", "дегі": "дегілер", "тағы": "тағылар", "тегі": "тегілер",
              "ндағы": "ндағылар", "ндегі": "ндегілер"}


def _consonant_u(low: str, index: int) -> bool:
    """Whether the у at ``index`` is the consonant [w] of Атырау (after a vowel)."""
    return low[index] == "у" and index > 0 and low[index - 1] in _KK_VOWELS


def _kk_harmony(word: str) -> tuple[int, ...]:
    """0 for back, 1 for front: by the last vowel, or both when it decides nothing (и у ю ё)."""
    low = word.lower()
    for index in range(len(low) - 1, -1, -1):
        letter = low[index]
        if letter in _KK_BACK:
            return (0,)
        if letter in _KK_FRONT:
            return (1,)
        if letter in _KK_VOWELS and not _consonant_u(low, index):
            return (0, 1)
    return (0, 1)


def _kk_classes(word: str) -> tuple[str, ...]:
    low = word.lower().rstrip("ь")
    last = low[-1]
    classes: list[str] = []
    if _consonant_u(low, len(low) - 1):
        classes.append("sonorant")
    elif last == "и":  # said ій: the suffixes of a vowel or of й, both
        classes += ["vowel", "sonorant"]
    elif last in _KK_VOWELS:
        classes.append("vowel")
    elif last in "лрй":
        classes.append("sonorant")
    elif last in "жз":
        classes.append("voiced")
    elif last in "мнң":
        classes.append("nasal")
    elif last in "бвгдғ":
        classes += ["voiced", "voiceless"]
    else:
        classes.append("voiceless")
    if last in "ыі" and len(low) > 2:  # облысы, Республикасы, аралдары, мемлекеті
        classes.append("possessive")
    return tuple(classes)


def kazakh_forms(name: str) -> frozenset[str]:
    """``name`` and its Kazakh suffixed forms on the last word (see the module docstring)."""
    words = list(WORD.finditer(name))
    if not words:
        return frozenset({name})
    last = words[-1]
    word = last.group()
    if len(word) < 2 or word.isupper() or not _CYRILLIC.match(word):
        return frozenset({name})
    head, tail = name[: last.end()], name[last.end() :]
    forms = {name}
    for klass in _kk_classes(word):
        for harmony in _kk_harmony(word):
            for pair in _KK_SUFFIXES[klass]:
                suffix = pair[harmony]
                forms.add(head + suffix + tail)
                if suffix in _KK_PLURAL:
                    plural = _KK_PLURAL[suffix]
                    forms.add(head + plural + tail)
                    for after in _KK_SUFFIXES["sonorant"][:6]:
                        forms.add(head + plural + after[harmony] + tail)
    return frozenset(forms)
