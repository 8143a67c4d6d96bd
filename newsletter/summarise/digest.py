"""A digest's items: near-duplicate reports merged, facts said once (pure; no I/O)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from newsletter.summarise.figures import key_facts
from newsletter.summarise.words import WORD


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
    words = WORD.findall(text.casefold())
    return frozenset(tuple(words[i : i + n]) for i in range(max(0, len(words) - n + 1)))


def containment(a: frozenset[tuple[str, ...]], b: frozenset[tuple[str, ...]]) -> float:
    """Share of the smaller set's n-grams found in the other (1.0: one text holds the other)."""
    if not a or not b:
        return 0.0
    return len(a & b) / min(len(a), len(b))


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
