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
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from newsletter.reports.datelines import split_dateline
from newsletter.summarise.figures import key_figures
from newsletter.summarise.words import tokens

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


_BLOCK_BREAK = re.compile(r"\n\s*\n|\n(?=\s*[•\-–*·▪]\s)")


def _blocks(text: str) -> Iterator[str]:
    """The paragraphs and list items of ``text``, one at a time, each on one line."""
    start = 0
    for match in _BLOCK_BREAK.finditer(text):
        block = " ".join(text[start : match.start()].split())
        if block:
            yield block
        start = match.end()
    block = " ".join(text[start:].split())
    if block:
        yield block


def _block_sentences(block: str) -> Iterator[str]:
    start = 0
    for match in _BOUNDARY.finditer(block):
        end = match.end("end")
        # Only the ends are looked at: a block of a million "No. 1"s costs linear time.
        if _is_false_boundary(block[max(start, end - 80) : end],
                              block[match.end() : match.end() + 40]):
            continue
        yield block[start:end].strip()
        start = match.end()
    rest = block[start:].strip()
    if rest:
        yield rest


def split_sentences(text: str) -> list[str]:
    """Sentences of ``text``; paragraphs and list items always end one.

    A full stop does not end a sentence after an abbreviation ("approx.", "No. 1", "Mr"), an
    initial ("J. Smith"), or an initialism ("U.S.", "i.e.") unless a typical sentence opener
    follows ("… in the U.S. The talks …"). Decimal numbers never contain a break.
    """
    return [sentence for block in _blocks(text) for sentence in _block_sentences(block)]


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


def _scores(
    candidates: Sequence[_Candidate], title: str, options: SummaryOptions
) -> tuple[list[float], list[dict[str, float]]]:
    """Each candidate's score, and the candidates' unit TF-IDF vectors.

    Centrality looks forward (the similarity of a sentence to all that follow it) and back
    (to all before it): with unit vectors these are dot products with the running sums of the
    vectors after and before it, so the cost is linear in the words, not quadratic in the
    sentences (a full similarity matrix took 31 s and 1.7 GB for 8,000 sentences)."""
    title_bag = tokens(title)
    vectors = _tfidf([c.tokens for c in candidates] + [title_bag])
    title_vector = vectors.pop()
    n = len(candidates)
    total: dict[str, float] = {}
    for vector in vectors:
        for term, weight in vector.items():
            total[term] = total.get(term, 0.0) + weight
    before: dict[str, float] = {}
    scores = []
    for i, vector in enumerate(vectors):
        backward = sum(w * before.get(t, 0.0) for t, w in vector.items())
        whole = sum(w * total[t] for t, w in vector.items())
        self_similarity = sum(w * w for w in vector.values())
        forward = whole - backward - self_similarity
        for term, weight in vector.items():
            before[term] = before.get(term, 0.0) + weight
        centrality = options.forward * forward + options.backward * backward
        position = math.exp(-options.position_decay * i)
        scores.append(
            centrality / max(1.0, math.sqrt(n))
            + options.title * _cosine(vector, title_vector)
            + options.position * position
            + options.length * min(candidates[i].words, 40) / 40
            + options.figures * min(candidates[i].figures, 1)
        )
    return scores, vectors


# -- selection --------------------------------------------------------------------------------


def summarise(
    title: str, body: str, options: SummaryOptions | None = None, *, dateline: str | None = None
) -> Summary:
    """Up to ``options.sentences`` sentences / ``options.words`` words of ``body``, in order."""
    options = options or SummaryOptions()
    candidates = _candidates(body, dateline, title)
    if not candidates or options.sentences < 1 or options.words < 1:
        return Summary(())
    scores, vectors = _scores(candidates, title, options)
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
        if any(_cosine(vectors[position_of[c.index]], vectors[position_of[k]])
               > options.redundancy for c in group for k in chosen):
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


# A summary is chosen among a report's first sentences and the first sentence of each later
# paragraph: what a reader needs first stands there, and the cost and memory of a summary stay
# the same whatever the report's length (a 2 MB report takes what its first pages take).
FIRST_SENTENCES = 400
SECTION_LEADS = 200
_LONGEST = 2_000  # characters of one sentence looked at: a longer one is cut to its budget


def _sentences(body: str) -> Iterator[tuple[int, str]]:
    """The sentences a summary may be chosen from, with their places in the text (a gap in
    the numbering where sentences were passed over)."""
    index = leads = 0
    for block in _blocks(body):
        for position, sentence in enumerate(_block_sentences(block)):
            if index >= FIRST_SENTENCES and position > 0:
                index += 1  # the rest of a later paragraph is passed over
                break
            if index >= FIRST_SENTENCES:
                leads += 1
                if leads > SECTION_LEADS:
                    return
            yield index, sentence[:_LONGEST]
            index += 1


def _candidates(body: str, dateline: str | None, title: str = "") -> list[_Candidate]:
    """The sentences a summary may hold: no noise, no fragment (a heading, a figure's label, a
    caption: no full stop), and none that only says the title again."""
    body = split_dateline(body, dateline)
    title_words = set(tokens(title))
    out: list[_Candidate] = []
    fragments: list[_Candidate] = []
    for index, sentence in _sentences(body):
        sentence = _LIST_MARKER.sub("", _URL.sub("", sentence)).strip()
        sentence = _SECTION_PREFIX.sub("", sentence)
        if _is_noise(sentence):
            continue
        bag = tokens(sentence)
        if title_words and bag and len(set(bag) & title_words) >= 0.8 * len(bag):
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
                tokens=bag,
            )
        )
    return out or fragments  # a text of fragments alone (a list) is summarised from them


def _truncate(sentence: str, words: int) -> str:
    parts = sentence.split()
    return sentence if len(parts) <= words else " ".join(parts[:words]) + " …"
