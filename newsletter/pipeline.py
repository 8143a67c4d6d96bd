"""Steps that move stored reports along the flow, between the store and the pure core (I/O)."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import date, datetime
from typing import Protocol

from newsletter.argos import InstalledModel
from newsletter.compose import (
    DkimSigner,
    MailSettings,
    MessageTemplate,
    Recipient,
    build_template,
)
from newsletter.config import SummarySettings, TranslateSettings
from newsletter.model import StoredReport
from newsletter.render import MailIssue, MailItem, Rendered, Renderer
from newsletter.store import OutboxRow, QueuedMessage, Store
from newsletter.subscribers import ListSpec, sign_token
from newsletter.summarise import (
    METHOD,
    DigestEntry,
    DigestItem,
    SummaryOptions,
    plan_digest,
    split_sentences,
    summarise,
)
from newsletter.translate import (
    Edition,
    EditionStatus,
    Flag,
    Glossary,
    Masked,
    Policy,
    describe_route,
    edition_status,
    mask,
    missing_model_flag,
    plan_route,
    quality_flags,
    unique_flags,
    unmask,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Summarised:
    """One report summarised by :func:`summarise_pending`."""

    report_id: int
    sentences: tuple[str, ...]


def summarise_pending(
    store: Store, settings: SummarySettings, *, now: datetime, report_id: int | None = None,
    force: bool = False,
) -> list[Summarised]:
    """Summarise every report that has no current summary (or ``report_id``, or all if
    ``force``), store the summaries, and return them."""
    options = SummaryOptions(sentences=settings.sentences, words=settings.words)
    if force or report_id is not None:
        reports = [store.get_report(report_id)] if report_id is not None else store.list_reports()
    else:
        reports = store.reports_needing_summary(
            method=METHOD, max_sentences=options.sentences, max_words=options.words
        )
    done = []
    with store.transaction():
        for stored in reports:
            report = stored.report
            summary = summarise(report.title, report.body, options, dateline=report.dateline)
            store.save_summary(
                stored.id, stored.revision, method=summary.method,
                max_sentences=options.sentences, max_words=options.words,
                sentences=summary.sentences, now=now,
            )
            log.info("summarised report %s", stored.id,
                     extra={"event": "summarise", "report_id": stored.id,
                            "sentences": len(summary.sentences)})
            done.append(Summarised(stored.id, summary.sentences))
    return done


# -- translation --------------------------------------------------------------------------------


class Engine(Protocol):
    """What translation needs of an engine (``ArgosEngine`` in production)."""

    def models(self) -> Sequence[InstalledModel]: ...

    def translate(self, model: InstalledModel, sentences: Sequence[str]) -> list[str]: ...


@dataclass
class TranslationRun:
    """What one translation run did."""

    editions: int = 0
    sentences: int = 0  # sentence translations needed, over all legs
    from_cache: int = 0
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
        store.get_report(report_id)  # a clear error for an unknown ID
    glossary_id = glossary.fingerprint
    jobs: list[_Job] = []
    for rid, source, content_hash, summary, current in store.translation_state(report_id):
        stored: StoredReport | None = None  # loaded (body and all) only when needed
        for target in settings.languages:
            if target == source:
                continue
            route_refs = plan_route(refs, source, target)
            route = tuple(by_key[r.key] for r in route_refs) if route_refs is not None else None
            key = _edition_key(content_hash, summary, target, route, glossary_id,
                               settings.bodies)
            if current.get(target) == key and not force:
                continue
            if route is None:
                flag = missing_model_flag(source, target)
                store.save_edition(rid, Edition(target, None, None, None, None, (flag,)), key,
                                   now)
                run.missing.append((rid, target, flag.detail))
                run.editions += 1
                continue
            stored = stored or store.get_report(rid)
            units, sizes = _units(stored, summary, source, glossary, settings.bodies)
            jobs.append(_Job(stored, target, key, route, units, len(summary), sizes))
    _translate_jobs(store, engine, jobs, settings, run, now, progress)
    with store.transaction():
        for job in jobs:
            store.save_edition(job.report.id, _assemble(job), job.key, now)
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
            texts = sorted({text for job in model_jobs for text in job.outputs})
            hashes = {text: _text_hash(text) for text in texts}
            cached = store.cached_translations(key, model.to_code, list(hashes.values()))
            missing = [text for text in texts if hashes[text] not in cached]
            run.sentences += len(texts)
            run.from_cache += len(texts) - len(missing)
            done: dict[str, str] = {text: cached[hashes[text]] for text in texts
                                    if hashes[text] in cached}
            chunk = max(1, settings.batch_sentences)
            label = f"{model.from_code}→{model.to_code}"
            if progress is not None and missing:
                progress(0, len(missing), label)
            for start in range(0, len(missing), chunk):
                batch = missing[start : start + chunk]
                outputs = engine.translate(model, batch)
                run.batch_calls += 1
                run.translated += len(batch)
                results = dict(zip(batch, outputs, strict=True))
                with store.transaction():
                    store.cache_translations(
                        key, model.to_code, {hashes[t]: o for t, o in results.items()}, now
                    )
                done.update(results)
                if progress is not None:
                    progress(len(batch), len(missing), label)
                log.info("translated %d sentences with %s", len(batch), model.name,
                         extra={"event": "translate", "model": model.name, "sentences": len(batch),
                                "target": model.to_code})
            for job in model_jobs:
                job.outputs = [done[text] for text in job.outputs]


def _text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


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


# -- mail issues --------------------------------------------------------------------------------


@dataclass
class PlannedIssue:
    """An issue's mail per language, and why any language or item was held back."""

    mails: dict[str, MailIssue] = field(default_factory=dict)
    held: dict[str, list[str]] = field(default_factory=dict)


def plan_issue(
    store: Store,
    report_ids: Sequence[int],
    *,
    kind: str,
    languages: Sequence[str],
    policy: Policy,
    list_title: str,
    base_url: str,
    issue_date: date,
    summary_budget: tuple[int, int] | None = None,
) -> PlannedIssue:
    """What each language's mail of an alert or digest says, from the stored editions.

    A digest merges near-duplicate reports into one item crediting every source; per language,
    an item whose translation is flagged or missing follows ``policy``: the original text with
    a notice (fallback) or left out with the reason recorded (hold). ``summary_budget``
    (sentences, words) is a list's own summary length: the stored summary, which is the
    longest any list gets, is cut to it (its translations stay sentence for sentence).
    """
    stored = {rid: store.get_report(rid) for rid in report_ids}
    summaries = {rid: _within(store.summary_of(rid) or (), summary_budget) for rid in report_ids}
    entries = [DigestEntry(rid, s.report.title, s.report.source, s.report.body, summaries[rid])
               for rid, s in stored.items()]
    if kind == "digest":
        planned = plan_digest(entries)
    else:
        planned = [DigestItem((e.report_id,), e.title, (e.source,) if e.source else (), e.summary,
                              tuple(range(len(e.summary)))) for e in entries]
    editions = {rid: store.editions_of(rid) for rid in report_ids}
    result = PlannedIssue()
    for language in languages:
        items = []
        for plan in planned:
            leader = stored[plan.report_ids[0]]
            item = _mail_item(leader, plan, editions[leader.id].get(language), language, policy,
                              base_url)
            if isinstance(item, str):
                result.held.setdefault(language, []).append(item)
            else:
                items.append(item)
        if items:
            result.mails[language] = MailIssue(kind, language, list_title, issue_date,
                                               tuple(items))
        else:
            result.held.setdefault(language, []).append("nothing left to send in this language")
    return result


def _within(summary: tuple[str, ...], budget: tuple[int, int] | None) -> tuple[str, ...]:
    """The leading sentences of ``summary`` that fit ``budget`` (at least one)."""
    if budget is None or not summary:
        return summary
    sentences, words = budget
    kept: list[str] = []
    for sentence in summary[:sentences]:
        if kept and sum(len(s.split()) for s in kept) + len(sentence.split()) > words:
            break
        kept.append(sentence)
    return tuple(kept)


def _mail_item(
    leader: StoredReport, plan: DigestItem, edition: Edition | None, language: str,
    policy: Policy, base_url: str,
) -> MailItem | str:
    """The item in ``language``, or the reason it is held back."""
    report = leader.report
    link = f"{base_url.rstrip('/')}/reports/{leader.id}?lang={language}"
    original = MailItem(
        report_id=leader.id, title=report.title, summary=plan.summary, sources=plan.sources,
        kind=report.kind, published=report.published, link=link,
        original_language=report.language,
    )
    if language == report.language:
        return original
    flags = list(edition.flags) if edition is not None else [
        Flag("pending", f"report {leader.id} has no {language} translation yet")]
    if edition is not None and edition.title is None and not flags:
        flags = [missing_model_flag(report.language, language)]
    status = edition_status(flags, policy)
    if status is EditionStatus.HELD:
        return f"report {leader.id} held in {language}: " + "; ".join(f.detail for f in flags)
    if status is EditionStatus.FALLBACK or edition is None or edition.title is None:
        return replace(original, fallback=True)
    translated = edition.summary or ()
    summary = tuple(translated[i] for i in plan.summary_indices if i < len(translated))
    return replace(original, title=edition.title, summary=summary, model=edition.model)


# -- issues and their messages ------------------------------------------------------------------


@dataclass
class CreatedIssue:
    """An issue written to the outbox."""

    issue_id: int
    queued: int
    languages: list[str]
    held: dict[str, list[str]]
    skipped: int  # subscribers whose language was held back


def create_issue(
    store: Store, renderer: Renderer, spec: ListSpec, report_ids: Sequence[int], kind: str, *,
    base_url: str, domain: str, now: datetime, claim_reports: bool = True,
    only_languages: Sequence[str] | None = None,
) -> CreatedIssue:
    """Render ``kind`` (alert or digest) for every language of ``spec``, record the issue and
    one outbox row per recipient, in the recipient's language (the list's first language when
    the list does not offer theirs); nothing is sent here. With ``claim_reports`` the reports
    are recorded as sent to the list in the same transaction, so neither the scheduler nor a
    one-off send can send them to it again. ``only_languages`` limits the recipients to
    subscribers reading those languages."""
    planned = plan_issue(store, report_ids, kind=kind, languages=spec.languages,
                         policy=Policy(spec.policy), list_title=spec.title, base_url=base_url,
                         issue_date=now.date(),
                         summary_budget=(spec.summary_sentences, spec.summary_words))
    bodies = {language: json.dumps(asdict(renderer.render(mail)), ensure_ascii=False)
              for language, mail in planned.mails.items()}
    skipped = 0

    def recipients(issue_id: int) -> Iterator[QueuedMessage]:
        nonlocal skipped
        for subscriber in store.recipients(spec.name):
            if only_languages and subscriber.language not in only_languages:
                continue
            language = (subscriber.language if subscriber.language in spec.languages
                        else spec.languages[0])
            if language not in bodies:
                skipped += 1
                continue
            yield QueuedMessage(subscriber.id, subscriber.email, subscriber.name, language,
                                f"n{issue_id}.{subscriber.id}.{spec.name}@{domain}")

    # The issue, its reports' claim and every outbox row commit together, or none of them.
    issue_id, queued = store.create_issue(spec.name, kind, report_ids, bodies, now,
                                          recipients=recipients, claim=claim_reports)
    log.info("issue %s of %s: %d messages queued", issue_id, spec.name, queued,
             extra={"event": "issue", "issue_id": issue_id, "list": spec.name, "kind": kind,
                    "queued": queued, "held": planned.held})
    return CreatedIssue(issue_id, queued, sorted(bodies), planned.held, skipped)


class IssueMessages:
    """The bytes of each outbox row: its issue's template for its language, filled in with
    the recipient's address, Message-ID, greeting and signed unsubscribe links. Templates are
    built once per (issue, language) and kept."""

    def __init__(self, store: Store, mail: Callable[[str], MailSettings], *, secret: str,
                 base_url: str, unsubscribe_address: str,
                 dkim: DkimSigner | None = None) -> None:
        self.store = store
        self.dkim = dkim
        self.mail = mail
        self.secret = secret
        self.base_url = base_url.rstrip("/")
        self.unsubscribe_address = unsubscribe_address
        self._templates: dict[tuple[int, str], tuple[MessageTemplate, str, date]] = {}

    def template(self, issue_id: int, language: str) -> tuple[MessageTemplate, str, date]:
        key = (issue_id, language)
        if key not in self._templates:
            list_name, _, _, created = self.store.issue(issue_id)
            rendered = Rendered(**json.loads(self.store.issue_bodies(issue_id)[language]))
            template = build_template(rendered, self.mail(list_name), date=created)
            self._templates[key] = (template, list_name, created.date())
        return self._templates[key]

    def message(self, row: OutboxRow) -> bytes:
        template, list_name, sent_on = self.template(row.issue_id, row.language)
        token = sign_token(row.subscriber_id, list_name, sent_on, self.secret)
        message = template.personalise(Recipient(
            address=row.address, name=row.name, message_id=row.message_id,
            unsubscribe_url=f"{self.base_url}/unsubscribe/{token}",
            unsubscribe_mailto=f"{self.unsubscribe_address}?subject=unsubscribe%20{token}",
        ))
        return self.dkim.sign(message) if self.dkim is not None else message
