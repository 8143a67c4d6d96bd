"""The translation step: translate the pending editions of stored reports, every sentence of
every report going to each model together, with the sentence cache (I/O).

What a mail needs comes first. The titles and summaries of every pending edition are
translated and their editions saved, in one transaction, before any body sentence goes to a
model; the bodies (for the web archive) follow as a step of their own, and an edition's body
stays None until it is saved (:class:`~newsletter.translate.editions.Edition`).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from newsletter.config_sections import TranslateSettings
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
from newsletter.translate.editions import Edition, TranslationState
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

    editions: int = 0  # editions saved: titles and summaries (or why there is none)
    bodies: int = 0  # bodies saved into their editions
    bodies_waiting: int = 0  # editions whose body is still to be translated when it ended
    sentences: int = 0  # sentence translations needed, over all legs
    from_cache: int = 0
    from_memory: int = 0  # sentences a reviewer approved before
    translated: int = 0  # sentences sent to a model
    batch_calls: int = 0
    missing: list[tuple[int, str, str]] = field(default_factory=list)  # report, language, why


@dataclass
class _Job:
    """One part of one edition to translate: the title and summary, or the body."""

    report: StoredReport
    target: str
    key: str
    route: tuple[InstalledModel, ...]
    units: list[Masked]  # the title then the summary's sentences, or the body's sentences
    paragraph_sizes: list[int] = field(default_factory=list)  # a body's sentences per paragraph
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
    bodies: bool = True,
    stop: Callable[[], bool] = lambda: False,
) -> TranslationRun:
    """Translate every report's title and summary into each configured language that has no
    current edition, the sentences of all reports going to each model together in chunks, and
    save those editions together: a mail can go out. Then, with ``bodies``, translate the
    bodies that wait (:func:`translate_bodies`, which asks ``stop`` between chunks)."""
    run = TranslationRun()
    if report_id is not None:
        store.reports.get(report_id)  # a clear error for an unknown ID
    loaded: dict[int, StoredReport] = {}
    jobs: list[_Job] = []
    for state, target, route, key in _targets(store, engine, glossary, settings, report_id):
        rid = state.report_id
        if state.keys.get(target) == key and not force:
            continue
        if route is None:
            flag = missing_model_flag(state.language, target)
            store.editions.save(rid, Edition(target, None, None, None, None, (flag,)), key,
                                now)
            run.missing.append((rid, target, flag.detail))
            run.editions += 1
            continue
        if rid not in loaded:
            loaded[rid] = store.reports.get(rid)
        stored = loaded[rid]
        units = [mask(text, state.language, glossary)
                 for text in (stored.report.title, *state.summary)]
        jobs.append(_Job(stored, target, key, route, units))
    _recall(store, jobs, run)
    _translate_jobs(store, engine, jobs, settings=settings, run=run, now=now, progress=progress)
    with store.transaction():
        for job in jobs:
            store.editions.save(job.report.id, _mailed_edition(job, settings.bodies), job.key,
                                now)
            run.editions += 1
    if bodies:
        return translate_bodies(store, engine, glossary, settings, now=now,
                                report_id=report_id, progress=progress, stop=stop, run=run)
    run.bodies_waiting = sum(1 for _ in _waiting_bodies(store, engine, glossary, settings,
                                                        report_id))
    return run


def translate_bodies(
    store: Store,
    engine: Engine,
    glossary: Glossary,
    settings: TranslateSettings,
    *,
    now: datetime,
    report_id: int | None = None,
    progress: Progress | None = None,
    stop: Callable[[], bool] = lambda: False,
    run: TranslationRun | None = None,
) -> TranslationRun:
    """Translate the bodies of the current editions that wait for one (their titles and
    summaries are done), all of them together model by model, then save each into its
    edition. When ``stop()`` is true before a chunk, stop there: the bodies wait for a later
    run, which finds what was translated in the cache."""
    run = TranslationRun() if run is None else run
    loaded: dict[int, StoredReport] = {}
    jobs: list[_Job] = []
    for state, target, route, key in _waiting_bodies(store, engine, glossary, settings,
                                                     report_id):
        rid = state.report_id
        if rid not in loaded:
            loaded[rid] = store.reports.get(rid)
        stored = loaded[rid]
        units: list[Masked] = []
        sizes: list[int] = []
        for paragraph in stored.report.paragraphs:
            sentences = split_sentences(paragraph) or [paragraph]
            units += [mask(text, state.language, glossary) for text in sentences]
            sizes.append(len(sentences))
        jobs.append(_Job(stored, target, key, route, units, sizes))
    _recall(store, jobs, run)
    if not _translate_jobs(store, engine, jobs, settings=settings, run=run, now=now,
                           progress=progress, stop=stop, part=" bodies"):
        run.bodies_waiting += len(jobs)
        return run
    with store.transaction():
        for job in jobs:
            body, flags = _body(job)
            run.bodies += store.editions.save_body(job.report.id, job.target, job.key, body,
                                                   flags)
    return run


_Target = tuple[TranslationState, str, tuple[InstalledModel, ...] | None, str]


def _targets(store: Store, engine: Engine, glossary: Glossary, settings: TranslateSettings,
             report_id: int | None) -> Iterator[_Target]:
    """Each report (or one) and language it is translated into, with the route of installed
    models there (None: there is none) and the key of the edition it makes."""
    models = list(engine.models())
    by_key = {m.key: m for m in models}
    refs = [m.ref for m in models]
    glossary_id = glossary.fingerprint
    for state in store.editions.state(report_id):
        for target in settings.languages:
            if target == state.language:
                continue
            route_refs = plan_route(refs, state.language, target)
            route = tuple(by_key[r.key] for r in route_refs) if route_refs is not None else None
            yield state, target, route, _edition_key(state.content_hash, state.summary, target,
                                                     route, glossary_id, settings.bodies)


def _waiting_bodies(
    store: Store, engine: Engine, glossary: Glossary, settings: TranslateSettings,
    report_id: int | None,
) -> Iterator[tuple[TranslationState, str, tuple[InstalledModel, ...], str]]:
    """The current editions whose body waits for its translation."""
    if not settings.bodies:
        return
    for state, target, route, key in _targets(store, engine, glossary, settings, report_id):
        if target in state.bodies_waiting and route is not None and state.keys.get(target) == key:
            yield state, target, route, key


def _edition_key(
    content_hash: str, summary: Sequence[str], target: str,
    route: tuple[InstalledModel, ...] | None, glossary_id: str, bodies: bool,
) -> str:
    """What an edition was made from: when any of it changes, it is made again."""
    parts = [content_hash, target, *summary, glossary_id, str(bodies),
             *(m.key for m in route or ())]
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()


def _translate_jobs(
    store: Store, engine: Engine, jobs: list[_Job], *, settings: TranslateSettings,
    run: TranslationRun, now: datetime, progress: Progress | None,
    stop: Callable[[], bool] = lambda: False, part: str = "",
) -> bool:
    """Run every job's units through its route, leg by leg, all jobs of a leg together, each
    chunk's translations cached as soon as they are made. False when ``stop()`` was true
    before a chunk (the jobs are then left unfinished)."""
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
            label = f"{model.from_code}→{model.to_code}{part}"
            tick = None
            if progress is not None and missing:
                progress(0, len(missing), label)
                tick = _ticker(progress, len(missing), label)
            for start in range(0, len(missing), chunk):
                if stop():
                    return False
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
    for job in jobs:
        for index, text in job.remembered.items():
            job.outputs[index] = text
    return True


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


def _restore(job: _Job) -> tuple[list[str], list[Flag]]:
    """The job's translated units with their facts put back, and their quality flags."""
    restored: list[str] = []
    flags: list[Flag] = []
    for unit, output in zip(job.units, job.outputs, strict=True):
        text, restore_flags = unmask(output, unit, job.target)
        restored.append(text)
        flags += restore_flags + quality_flags(unit, output, job.target)
    return restored, unique_flags(flags)


def _mailed_edition(job: _Job, bodies: bool) -> Edition:
    """The edition of a translated title and summary; its body follows (None until then),
    unless bodies are not translated or the report has none ("")."""
    restored, flags = _restore(job)
    return Edition(
        language=job.target,
        title=restored[0],
        summary=tuple(restored[1:]),
        body="" if bodies and not job.report.report.paragraphs else None,
        model=describe_route([m.ref for m in job.route]),
        flags=tuple(flags),
    )


def _body(job: _Job) -> tuple[str, list[Flag]]:
    """A translated body, paragraph by paragraph, and its quality flags."""
    restored, flags = _restore(job)
    paragraphs = []
    cursor = 0
    for size in job.paragraph_sizes:
        paragraphs.append(" ".join(restored[cursor : cursor + size]))
        cursor += size
    return "\n\n".join(paragraphs), flags
