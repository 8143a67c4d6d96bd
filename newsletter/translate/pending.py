"""The translation step: translate the pending editions of stored reports, every sentence of
every report going to each model together, with the sentence cache (I/O)."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from newsletter.config import TranslateSettings
from newsletter.reports.model import StoredReport
from newsletter.store import Store
from newsletter.summarise.core import (
    split_sentences,
)
from newsletter.translate.core import (
    Flag,
    Glossary,
    Masked,
    describe_route,
    mask,
    missing_model_flag,
    plan_route,
    quality_flags,
    text_hash,
    unique_flags,
    unmask,
)
from newsletter.translate.editions import Edition
from newsletter.translate.engine import InstalledModel

log = logging.getLogger(__name__)


class Engine(Protocol):
    """What translation needs of an engine (``ArgosEngine`` in production)."""

    def models(self) -> Sequence[InstalledModel]: ...

    def translate(self, model: InstalledModel, sentences: Sequence[str],
                  done: Callable[[int], None] | None = None) -> list[str]: ...


@dataclass
class TranslationRun:
    """What one translation run did."""

    editions: int = 0
    sentences: int = 0  # sentence translations needed, over all legs
    from_cache: int = 0
    from_memory: int = 0  # sentences a reviewer approved before
    translated: int = 0  # sentences sent to a model
    batch_calls: int = 0
    missing: list[tuple[int, str, str]] = field(default_factory=list)  # report, language, why


@dataclass
class _Job:
    report: StoredReport
    target: str
    key: str
    route: tuple[InstalledModel, ...]
    units: list[Masked]  # title, summary sentences, then body sentences
    summary_count: int
    paragraph_sizes: list[int]
    outputs: list[str] = field(default_factory=list)
    remembered: dict[int, str] = field(default_factory=dict)  # unit → approved (memory)


# Called with (sentences just done, sentences to do for this model, a label such as "en→ru").
Progress = Callable[[int, int, str], None]


def translate_pending(
    store: Store,
    engine: Engine,
    glossary: Glossary,
    settings: TranslateSettings,
    *,
    now: datetime,
    report_id: int | None = None,
    force: bool = False,
    progress: Progress | None = None,
) -> TranslationRun:
    """Translate every report's title, summary (and body) into each configured language that
    has no current edition; sentences of all reports go to each model together, in chunks."""
    run = TranslationRun()
    models = list(engine.models())
    by_key = {m.key: m for m in models}
    refs = [m.ref for m in models]
    if report_id is not None:
        store.reports.get(report_id)  # a clear error for an unknown ID
    glossary_id = glossary.fingerprint
    jobs: list[_Job] = []
    for state in store.editions.state(report_id):
        rid, source, summary = state.report_id, state.language, state.summary
        stored: StoredReport | None = None  # loaded (body and all) only when needed
        for target in settings.languages:
            if target == source:
                continue
            route_refs = plan_route(refs, source, target)
            route = tuple(by_key[r.key] for r in route_refs) if route_refs is not None else None
            key = _edition_key(state.content_hash, summary, target, route, glossary_id,
                               settings.bodies)
            if state.keys.get(target) == key and not force:
                continue
            if route is None:
                flag = missing_model_flag(source, target)
                store.editions.save(rid, Edition(target, None, None, None, None, (flag,)), key,
                                   now)
                run.missing.append((rid, target, flag.detail))
                run.editions += 1
                continue
            stored = stored or store.reports.get(rid)
            units, sizes = _units(stored, summary, source, glossary, settings.bodies)
            jobs.append(_Job(stored, target, key, route, units, len(summary), sizes))
    _recall(store, jobs, run)
    _translate_jobs(store, engine, jobs, settings, run, now, progress)
    for job in jobs:
        for index, text in job.remembered.items():
            job.outputs[index] = text
    with store.transaction():
        for job in jobs:
            store.editions.save(job.report.id, _assemble(job), job.key, now)
            run.editions += 1
    return run


def _units(
    stored: StoredReport, summary: Sequence[str], source: str, glossary: Glossary, bodies: bool
) -> tuple[list[Masked], list[int]]:
    texts = [stored.report.title, *summary]
    sizes = []
    if bodies:
        for paragraph in stored.report.paragraphs:
            sentences = split_sentences(paragraph) or [paragraph]
            texts += sentences
            sizes.append(len(sentences))
    return [mask(text, source, glossary) for text in texts], sizes


def _edition_key(
    content_hash: str, summary: Sequence[str], target: str,
    route: tuple[InstalledModel, ...] | None, glossary_id: str, bodies: bool,
) -> str:
    """What an edition was made from: when any of it changes, it is made again."""
    parts = [content_hash, target, *summary, glossary_id, str(bodies),
             *(m.key for m in route or ())]
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()


def _translate_jobs(
    store: Store, engine: Engine, jobs: list[_Job], settings: TranslateSettings,
    run: TranslationRun, now: datetime, progress: Progress | None,
) -> None:
    """Run every job's units through its route, leg by leg, all jobs of a leg together."""
    for job in jobs:
        job.outputs = [unit.text for unit in job.units]
    legs = max((len(job.route) for job in jobs), default=0)
    for leg in range(legs):
        by_model: dict[str, list[_Job]] = {}
        for job in jobs:
            if leg < len(job.route):
                by_model.setdefault(job.route[leg].key, []).append(job)
        for key, model_jobs in by_model.items():
            model = model_jobs[0].route[leg]
            texts = sorted({text for job in model_jobs for i, text in enumerate(job.outputs)
                            if i not in job.remembered})
            hashes = {text: text_hash(text) for text in texts}
            cached = store.editions.cached(key, model.to_code, list(hashes.values()))
            missing = [text for text in texts if hashes[text] not in cached]
            run.sentences += len(texts)
            run.from_cache += len(texts) - len(missing)
            done: dict[str, str] = {text: cached[hashes[text]] for text in texts
                                    if hashes[text] in cached}
            chunk = max(1, settings.batch_sentences)
            label = f"{model.from_code}→{model.to_code}"
            tick = None
            if progress is not None and missing:
                progress(0, len(missing), label)
                tick = _ticker(progress, len(missing), label)
            for start in range(0, len(missing), chunk):
                batch = missing[start : start + chunk]
                outputs = engine.translate(model, batch, tick)
                run.batch_calls += 1
                run.translated += len(batch)
                results = dict(zip(batch, outputs, strict=True))
                with store.transaction():
                    store.editions.cache(
                        key, model.to_code, {hashes[t]: o for t, o in results.items()}, now
                    )
                done.update(results)
                log.info("translated %d sentences with %s", len(batch), model.name,
                         extra={"event": "translate", "model": model.name, "sentences": len(batch),
                                "target": model.to_code})
            for job in model_jobs:
                job.outputs = [text if i in job.remembered else done[text]
                               for i, text in enumerate(job.outputs)]


def _ticker(progress: Progress, total: int, label: str) -> Callable[[int], None]:
    """Tell ``progress`` of each batch the engine finishes, out of ``total``."""
    return lambda finished: progress(finished, total, label)


def _recall(store: Store, jobs: list[_Job], run: TranslationRun) -> None:
    """Sentences a reviewer approved before come from the translation memory, not a model."""
    for job in jobs:
        source = job.report.report.language
        hashes = [text_hash(unit.text) for unit in job.units]
        found = store.memory.lookup(source, job.target, hashes)
        job.remembered = {i: found[h] for i, h in enumerate(hashes) if h in found}
        run.from_memory += len(job.remembered)




def _assemble(job: _Job) -> Edition:
    restored: list[str] = []
    unit_flags: list[list[Flag]] = []
    for unit, output in zip(job.units, job.outputs, strict=True):
        text, restore_flags = unmask(output, unit, job.target)
        restored.append(text)
        unit_flags.append(restore_flags + quality_flags(unit, output, job.target))
    mailed = 1 + job.summary_count
    paragraphs = []
    cursor = mailed
    for size in job.paragraph_sizes:
        paragraphs.append(" ".join(restored[cursor : cursor + size]))
        cursor += size
    return Edition(
        language=job.target,
        title=restored[0],
        summary=tuple(restored[1:mailed]),
        body="\n\n".join(paragraphs) if job.paragraph_sizes else None,
        model=describe_route([m.ref for m in job.route]),
        flags=tuple(unique_flags(f for flags in unit_flags[:mailed] for f in flags)),
        body_flags=tuple(unique_flags(f for flags in unit_flags[mailed:] for f in flags)),
    )
