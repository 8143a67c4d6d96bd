"""Extractive summaries and digest-level merging of near-duplicate reports (pure; no I/O).

A summary is up to N sentences and W words of the report, in their original order, chosen by a
PacSum-style score: TF-IDF sentence centrality with direction (a sentence that the rest of the
text elaborates on scores higher than one that repeats what came before), plus similarity to the
title and a position prior. Before scoring the text is cleaned: the dateline, contact lines,
e-mail addresses and phone numbers, boilerplate, headings and very short fragments are removed.
Readability rules hold whatever the scores: at most one quotation, and only one that names its
speaker; a sentence opening with a pronoun or "However" only together with the one before it.

English, Russian and Kazakh are tokenised by letters (Cyrillic included) with a light stemmer
(a prefix of each word), so the same code serves every report language.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from newsletter.reports.datelines import split_dateline
from newsletter.reports.dates import MONTH_NAMES

METHOD = "pacsum-tfidf-1"


@dataclass(frozen=True)
class SummaryOptions:
    """How long a summary may be, and the tuned weights of its score."""

    sentences: int = 3
    words: int = 120
    # Weights tuned on the CNN Corpus dev set with bench/summarise.py (see the README): a broad
    # plateau around these values; centrality looking forward dominates, the title and the lead
    # add to it, and looking back is a mild penalty (PacSum's asymmetry).
    forward: float = 3.0
    backward: float = -0.3
    title: float = 0.8
    position: float = 0.3
    position_decay: float = 0.1
    threshold: float = 0.0
    length: float = 0.0
    figures: float = 0.2
    redundancy: float = 0.5


@dataclass(frozen=True)
class Summary:
    """The chosen sentences, in document order, and their text."""

    sentences: tuple[str, ...]
    method: str = METHOD

    @property
    def text(self) -> str:
        return " ".join(self.sentences)


# -- sentence splitting -----------------------------------------------------------------------

# Abbreviations a name or a number follows ("Mr Smith", "No. 5", "ул. Абая"): a full stop
# after them never ends a sentence.
_ABBREVIATIONS = frozenset(
    """
    mr mrs ms dr prof st sr jr gen col lt sgt capt gov sen rep rev hon no nos vol fig p pp
    ref art para cf vs al ул им проф акад пос с ж жж б с.с
    i.e e.g a.m p.m т.е т.д т.п т.б т.с.с
    """.split()
)
# Abbreviations that end a phrase ("550 тыс.", "3 km.", "etc."): their full stop ends the
# sentence when a capital letter follows ("…около 550 тыс. Об этом сообщило…").
_PHRASE_ENDINGS = frozenset(
    """
    approx est ca etc inc ltd co corp dept univ assn bros ave blvd rd jan feb mar apr jun jul
    aug sep sept oct nov dec mon tue wed thu fri sat sun km kg mln bn т е д п др млн млрд тыс
    руб см стр обл р-н гг
    """.split()
)
_CLOSERS = "\"'”’»)]"
_OPENERS = "\"'“‘«(["
_BOUNDARY = re.compile(
    rf"(?P<end>[.!?…]+[{re.escape(_CLOSERS)}]*)\s+(?=[{re.escape(_OPENERS)}]*[\w•\-–])"
)
_INITIALISM = re.compile(r"(?:\b\w\.){2,}$")  # U.S.  i.e.  e.g.  т.е.
_SENTENCE_STARTERS = frozenset(
    "the a an in on at it this he she they we but however according officials".split()
)


def split_sentences(text: str) -> list[str]:
    """Sentences of ``text``; paragraphs and list items always end one.

    A full stop does not end a sentence after an abbreviation ("approx.", "No. 1", "Mr"), an
    initial ("J. Smith"), or an initialism ("U.S.", "i.e.") unless a typical sentence opener
    follows ("… in the U.S. The talks …"). Decimal numbers never contain a break.
    """
    sentences: list[str] = []
    for block in re.split(r"\n\s*\n|\n(?=\s*[•\-–*·▪]\s)", text):
        block = " ".join(block.split())
        if not block:
            continue
        start = 0
        for match in _BOUNDARY.finditer(block):
            candidate = block[start : match.end("end")]
            if _is_false_boundary(candidate, block[match.end() :]):
                continue
            sentences.append(candidate.strip())
            start = match.end()
        rest = block[start:].strip()
        if rest:
            sentences.append(rest)
    return sentences


def _is_false_boundary(candidate: str, following: str) -> bool:
    if not candidate.rstrip(_CLOSERS).endswith("."):
        return False
    words = candidate.rstrip(_CLOSERS + ".").split()
    if not words:
        return True
    last = words[-1].lstrip(_OPENERS)
    raw_next = following.split(maxsplit=1)[0].strip(_OPENERS) if following else ""
    next_word = raw_next.lower()
    if last.lower() in _ABBREVIATIONS:
        return True
    if last.lower() == "г":  # "в 2020 г. В городе…" ends a sentence; "г. Алматы" does not
        before = words[-2] if len(words) > 1 else ""
        return not (before.isdigit() and len(before) == 4 and raw_next[:1].isupper())
    if last.lower() in _PHRASE_ENDINGS:
        return not raw_next[:1].isupper()
    if _INITIALISM.search(last + "."):
        return next_word not in _SENTENCE_STARTERS
    # A single capital letter is an initial ("J. Smith"); a digit before "." is a number's end.
    return len(last) == 1 and last.isalpha() and last.isupper()


# -- cleaning -----------------------------------------------------------------------------------

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_URL = re.compile(r"https?://\S+|www\.\S+")
_PHONE = re.compile(r"(?:\+|\b00)\d[\d ()/.-]{6,}\d|\b\d{3}[ .-]\d{3}[ .-]\d{2,4}\b")
_CONTACT = re.compile(
    r"for (?:more|further|additional) information|please contact|media (?:contacts?|enquiries|"
    r"inquiries|requests)|press contacts?|contact:|follow us|для получения (?:дополнительной )?"
    r"информации|обращайтесь|қосымша ақпарат|байланыс",
    re.IGNORECASE,
)
_BOILERPLATE = re.compile(
    r"^(?:please refer to the attached|download|click here|read the full|view (?:the )?original|"
    r"this (?:report|document|update) (?:was|is) (?:produced|prepared|issued)|notes? to editors|"
    r"about (?:the )?[A-Z]\w+:|ends|###|\*\*\*)",
    re.IGNORECASE,
)
# Stock sentences of humanitarian reports, wherever they stand: what a fund or a federation
# is, when the next report comes, what period or sources a report covers, who issued it,
# that a bulletin seeks no funds, attributions alone ("Об этом сообщает пресс-служба…"),
# photo credits.
_STOCK = re.compile(
    r"disaster relief emergency fund \(dref\) (?:is|was) (?:a|the|created|established)|"
    r"un-?earmarked (?:money|funds?)|the dref is a vital part|federation[’']?s mission is|"
    r"is being issued for information only|not seeking (?:any )?funding|"
    r"next (?:situation )?(?:report|update|bulletin|sitrep|flash update) will be "
    r"(?:issued|published|released|shared)|"
    r"period covered by this|^reporting period\b|(?:this update|this report|it) covers the "
    r"period|this (?:situation )?(?:report|update|bulletin|sitrep|document) (?:is|was|has been) "
    r"(?:produced|prepared|issued|based|compiled)|(?:is|was) based on information (?:received|"
    r"provided|gathered)|the report is issued at|it was issued by|"
    r"brought to you in association with|glide (?:no|number|n°)|dref operation\s*:|"
    r"^(?:об этом|о чем|как) (?:сообщ|заявил|написал|пишет|рассказал|говорится|информирует|"
    r"передает|передаёт)|^(?:источник|фото|photo|credit)\s*:|\bphoto\s*:|©|"
    r"all rights reserved|все права защищены|subscribe to|подписывайтесь",
    re.IGNORECASE,
)
# A section word glued to the sentence after it when a page is copied ("Highlights According
# to the latest estimates…").
_SECTION_PREFIX = re.compile(
    r"^(?:highlights|key (?:messages|points|figures|highlights)|summary|overview|situation "
    r"overview|основные моменты|главное)\s*[:•.–-]?\s+(?=[A-ZА-ЯЁ])", re.IGNORECASE)
_SENTENCE_END = re.compile(r"[.!?…][\"'”’»)\]]*$")
_LIST_MARKER = re.compile(r"^\s*(?:[•\-–*·▪]|\d+[.)])\s+")
_QUOTE_MARKS = re.compile(r"[\"“”«»]")
_QUOTED_SPAN = re.compile(r"\"[^\"]*\"|“[^”]*”|«[^»]*»")
_QUOTE_MIN_WORDS = 6  # a shorter quoted span is a term or a title, not somebody's words


def _is_quote(sentence: str) -> bool:
    """Whether the sentence reports somebody's words: a long quoted span, or a quotation that
    opens or closes here and runs on from or into a neighbouring sentence."""
    if any(len(span.split()) >= _QUOTE_MIN_WORDS for span in _QUOTED_SPAN.findall(sentence)):
        return True
    return bool(_QUOTE_MARKS.search(_QUOTED_SPAN.sub("", sentence)))
_ATTRIBUTION = re.compile(
    r"\b(?:said|says|say|told|stated|states|noted|added|explained|warned|stressed|urged|"
    r"according to|сказал|сказала|заявил|заявила|отметил|отметила|сообщил|сообщила|по словам|"
    r"деді|атап өтті|мәлімдеді|хабарлады)\b",
    re.IGNORECASE,
)
# Openings that lean on what came before ("По его словам, …", "According to the agency, …").
_DEPENDENT_PHRASES = re.compile(
    r"^(?:по (?:его|ее|её|их) (?:словам|данным|мнению|оценкам|информации)|"
    r"according to (?:him|her|them|it|the (?:agency|organi[sz]ation|ministry|report|statement|"
    r"official))\b|in addition\b|на (?:этом|том) фоне|в (?:этой|той) связи|"
    r"(?:оның|олардың) (?:айтуынша|мәліметінше))", re.IGNORECASE)
_DEPENDENT_OPENERS = frozenset(
    """
    he she it they them his her its their this these that those such however but also yet
    moreover furthermore nevertheless nonetheless therefore thus meanwhile besides
    он она оно они его ее её их это эти этот эта однако но также кроме того при этом
    ол олар оның олардың бұл осы алайда бірақ сондай-ақ сонымен қатар
    """.split()
)


@dataclass(frozen=True)
class _Candidate:
    index: int
    text: str
    words: int
    quote: bool
    attributed: bool
    dependent: bool
    figures: int
    tokens: Counter[str] = field(compare=False)


def _is_noise(sentence: str) -> bool:
    if _CONTACT.search(sentence) or _EMAIL.search(sentence) or _PHONE.search(sentence):
        return True
    if _BOILERPLATE.search(sentence) or _STOCK.search(sentence):
        return True
    if len(sentence.split()) < 5:
        return True  # headings, labels and fragments
    if sentence.endswith("?") and len(sentence.split()) <= 12:
        return True  # a heading asked as a question: "What happened, where and when?"
    words = sentence.split()
    if sentence.count(",") >= 2 and sum(w[:1].isupper() for w in words) >= 0.7 * len(words):
        return True  # names and affiliations: "Saule Shalgymbaeva, Red Crescent, Assel …"
    return sentence.isupper()  # an all-capitals heading


# -- tokens ---------------------------------------------------------------------------------

_WORD = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*|\d+(?:[.,]\d+)*")
_STOPWORDS = frozenset(
    """
    a an the and or but of to in on at by for with from as is are was were be been being has
    have had do does did not no it its this that these those he she they them his her their we
    our you your i me my which who whom whose what when where why how all any both each few more
    most other some such only own same so than too very can will just should now also said says
    would could may might must shall about into over after before between under again further
    then once there here out up down off above below per mr ms mrs
    и в во не что он на я с со как а то все она так его но да ты к у же вы за бы по только ее
    мне было вот от меня еще нет о из ему теперь когда даже ну вдруг ли если уже или ни быть был
    него до вас нибудь опять уж вам ведь там потом себя ничего ей может они тут где есть надо ней
    для мы тебя их чем была сам чтоб без будто чего раз тоже себе под будет ж тогда кто этот того
    потому этого какой совсем ним здесь этом один почти мой тем чтобы нее сейчас были куда зачем
    всех никогда можно при наконец два об другой хоть после над больше тот через эти нас про
    всего них какая много разве три эту моя впрочем хорошо свою этой перед иногда лучше чуть том
    нельзя такой им более всегда конечно всю между также это года году
    және мен бен пен үшін бұл осы деп бойынша туралы да де ол олар жылы сондай-ақ болып болды
    тиіс бар жоқ еді емес қана ғана әр барлық оның олардың біз сіз бір екі арқылы кейін дейін
    """.split()
)


def _tokens(sentence: str) -> Counter[str]:
    """Content words, lower-cased and cut to a stem-like prefix (works for Cyrillic too)."""
    counts: Counter[str] = Counter()
    for word in _WORD.findall(sentence.casefold()):
        if word in _STOPWORDS or (len(word) < 2 and not word.isdigit()):
            continue
        counts[word[:6] if word.isalpha() else word] += 1
    return counts


# -- scoring ------------------------------------------------------------------------------------


def _tfidf(bags: Sequence[Counter[str]]) -> list[dict[str, float]]:
    n = len(bags)
    df: Counter[str] = Counter()
    for bag in bags:
        df.update(bag.keys())
    vectors = []
    for bag in bags:
        weights = {t: (1 + math.log(c)) * math.log((n + 1) / df[t]) for t, c in bag.items()}
        norm = math.sqrt(sum(w * w for w in weights.values())) or 1.0
        vectors.append({t: w / norm for t, w in weights.items()})
    return vectors


def _cosine(a: dict[str, float], b: dict[str, float]) -> float:
    if len(a) > len(b):
        a, b = b, a
    return sum(w * b.get(t, 0.0) for t, w in a.items())


def _similarities(vectors: Sequence[dict[str, float]]) -> list[list[float]]:
    """Pairwise cosine similarities of unit vectors, through an inverted index: the work is the
    sum of squared term frequencies, not n² dictionary walks."""
    n = len(vectors)
    sims = [[0.0] * n for _ in range(n)]
    postings: dict[str, list[tuple[int, float]]] = {}
    for i, vector in enumerate(vectors):
        for term, weight in vector.items():
            postings.setdefault(term, []).append((i, weight))
    for entries in postings.values():
        for a in range(len(entries)):
            i, wi = entries[a]
            row = sims[i]
            for j, wj in entries[a + 1 :]:
                row[j] += wi * wj
    for i in range(n):
        for j in range(i + 1, n):
            sims[j][i] = sims[i][j]
    return sims


def _scores(
    candidates: Sequence[_Candidate], title: str, options: SummaryOptions
) -> tuple[list[float], list[list[float]]]:
    """Each candidate's score, and the candidates' pairwise cosine similarities."""
    title_bag = _tokens(title)
    vectors = _tfidf([c.tokens for c in candidates] + [title_bag])
    title_vector = vectors.pop()
    n = len(candidates)
    sims = _similarities(vectors)
    flat = [s for row in sims for s in row]
    low, high = (min(flat), max(flat)) if flat else (0.0, 0.0)
    cut = low + options.threshold * (high - low)
    scores = []
    for i in range(n):
        forward = sum(max(0.0, sims[i][j] - cut) for j in range(i + 1, n))
        backward = sum(max(0.0, sims[i][j] - cut) for j in range(i))
        centrality = options.forward * forward + options.backward * backward
        position = math.exp(-options.position_decay * i)
        scores.append(
            centrality / max(1.0, math.sqrt(n))
            + options.title * _cosine(vectors[i], title_vector)
            + options.position * position
            + options.length * min(candidates[i].words, 40) / 40
            + options.figures * min(candidates[i].figures, 1)
        )
    return scores, sims


# -- selection --------------------------------------------------------------------------------


def summarise(
    title: str, body: str, options: SummaryOptions | None = None, *, dateline: str | None = None
) -> Summary:
    """Up to ``options.sentences`` sentences / ``options.words`` words of ``body``, in order."""
    options = options or SummaryOptions()
    candidates = _candidates(body, dateline, title)
    if not candidates or options.sentences < 1 or options.words < 1:
        return Summary(())
    scores, sims = _scores(candidates, title, options)
    position_of = {c.index: k for k, c in enumerate(candidates)}
    by_index = {c.index: c for c in candidates}
    chosen: dict[int, _Candidate] = {}
    words = 0
    quote_used = False
    for i in sorted(range(len(candidates)), key=lambda k: (-scores[k], k)):
        candidate = candidates[i]
        group = [candidate]
        if candidate.dependent:
            predecessor = by_index.get(candidate.index - 1)
            if predecessor is None or predecessor.dependent:
                continue
            if predecessor.index not in chosen:
                group.insert(0, predecessor)
        group = [c for c in group if c.index not in chosen]
        if not group:
            continue
        if any(sims[position_of[c.index]][position_of[k]] > options.redundancy
               for c in group for k in chosen):
            continue  # says again what a chosen sentence says
        quotes = sum(1 for c in group if c.quote)
        if quotes and (quote_used or quotes > 1 or not all(c.attributed for c in group if c.quote)):
            continue
        cost = sum(c.words for c in group)
        if len(chosen) + len(group) > options.sentences or words + cost > options.words:
            continue
        for c in group:
            chosen[c.index] = c
        words += cost
        quote_used = quote_used or bool(quotes)
        if len(chosen) >= options.sentences:
            break
    if not chosen:  # every sentence is longer than the word budget: cut the best one
        best = max(range(len(candidates)), key=lambda k: (scores[k], -k))
        return Summary((_truncate(candidates[best].text, options.words),))
    return Summary(tuple(chosen[i].text for i in sorted(chosen)))


def _candidates(body: str, dateline: str | None, title: str = "") -> list[_Candidate]:
    """The sentences a summary may hold: no noise, no fragment (a heading, a figure's label, a
    caption: no full stop), and none that only says the title again."""
    body = split_dateline(body, dateline)
    title_words = set(_tokens(title))
    out: list[_Candidate] = []
    fragments: list[_Candidate] = []
    for index, sentence in enumerate(split_sentences(body)):
        sentence = _LIST_MARKER.sub("", _URL.sub("", sentence)).strip()
        sentence = _SECTION_PREFIX.sub("", sentence)
        if _is_noise(sentence):
            continue
        tokens = _tokens(sentence)
        if title_words and tokens and len(set(tokens) & title_words) >= 0.8 * len(tokens):
            continue  # the title again, which the reader sees above the summary
        first = sentence.lstrip(_OPENERS).split(maxsplit=1)[0].strip(",;:").casefold()
        target = out if _SENTENCE_END.search(sentence) else fragments
        target.append(
            _Candidate(
                index=index,
                text=sentence,
                words=len(sentence.split()),
                quote=_is_quote(sentence),
                attributed=bool(_ATTRIBUTION.search(sentence)),
                dependent=first in _DEPENDENT_OPENERS
                or bool(_DEPENDENT_PHRASES.match(sentence)),
                figures=len(key_figures(sentence)),
                tokens=tokens,
            )
        )
    return out or fragments  # a text of fragments alone (a list) is summarised from them


def _truncate(sentence: str, words: int) -> str:
    parts = sentence.split()
    return sentence if len(parts) <= words else " ".join(parts[:words]) + " …"


# -- digest level -------------------------------------------------------------------------------


@dataclass(frozen=True)
class DigestEntry:
    """One report as it enters a digest."""

    report_id: int
    title: str
    source: str | None
    body: str
    summary: tuple[str, ...]


@dataclass(frozen=True)
class DigestItem:
    """One item of a digest: a report, or several that tell the same event, credited to all."""

    report_ids: tuple[int, ...]
    title: str
    sources: tuple[str, ...]
    summary: tuple[str, ...]
    summary_indices: tuple[int, ...] = ()  # which sentences of the leader's summary were kept


def shingles(text: str, n: int = 5) -> frozenset[tuple[str, ...]]:
    """Word n-grams of ``text`` (case and punctuation ignored)."""
    words = _WORD.findall(text.casefold())
    return frozenset(tuple(words[i : i + n]) for i in range(max(0, len(words) - n + 1)))


def containment(a: frozenset[tuple[str, ...]], b: frozenset[tuple[str, ...]]) -> float:
    """Share of the smaller set's n-grams found in the other (1.0: one text holds the other)."""
    if not a or not b:
        return 0.0
    return len(a & b) / min(len(a), len(b))


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
        words = [w[:6] for w in _WORD.findall(text[match.end() : match.end() + 80].casefold())
                 if w not in _STOPWORDS and not w.isdigit()]
        if number != digits:
            words.insert(0, "%")
        counted = words[:1]
        while counted and counted[-1][:5] in _MEASURES and len(counted) < len(words) \
                and len(counted) < 3:
            counted.append(words[len(counted)])
        facts.add((number, " ".join(counted)))
    return frozenset(facts)


def plan_digest(entries: Iterable[DigestEntry], *, threshold: float = 0.5) -> list[DigestItem]:
    """Merge near-duplicate reports (5-gram containment ≥ ``threshold``) into one item each,
    crediting every source, and drop a summary sentence whose facts (:func:`key_facts`: each
    figure with what it counts) were all stated before in the digest: the report printed first
    keeps its sentence. The first report of a group (in the order given) leads it."""
    entries = list(entries)
    grams = [shingles(e.body) for e in entries]
    group_of: list[int] = list(range(len(entries)))
    for i in range(len(entries)):
        for j in range(i):
            if group_of[j] == j and containment(grams[i], grams[j]) >= threshold:
                group_of[i] = j
                break
    items = []
    seen_facts: set[tuple[str, str]] = set()
    for leader, entry in enumerate(entries):
        if group_of[leader] != leader:
            continue
        members = [e for k, e in enumerate(entries) if group_of[k] == leader]
        sources: list[str] = []
        for member in members:
            if member.source and member.source not in sources:
                sources.append(member.source)
        kept = []
        for index, sentence in enumerate(entry.summary):
            facts = key_facts(sentence)
            if facts and facts <= seen_facts:
                continue
            seen_facts |= facts
            kept.append(index)
        if not kept and entry.summary:
            kept = [0]
        items.append(
            DigestItem(
                report_ids=tuple(m.report_id for m in members),
                title=entry.title,
                sources=tuple(sources),
                summary=tuple(entry.summary[i] for i in kept),
                summary_indices=tuple(kept),
            )
        )
    return items
