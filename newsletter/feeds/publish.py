"""What a list publishes beyond mail: its Atom feed per language, its CAP alerts and their
index, made from the store. ``newsletter serve`` answers them and ``newsletter feeds write``
writes them to a folder; both call :class:`Publisher`, so the bytes are the same.

A feed has one entry per report the list carried (not per issue), the newest 50, as that
language's readers got it (the list's policy and review rule; a held language shows the
entry once it may go), saying whether the text is the original, a machine translation or a
reviewed one. A CAP alert has one ``<info>`` per language its mail went out in. Its
category, urgency, severity and certainty are the report's (``reports cap``), else the
list's (``cap_*`` keys), else ``[cap]``'s.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath

from newsletter.config_sections import CapSettings
from newsletter.feeds.atom import CapLink, Entry, Feed, atom, cap_index
from newsletter.feeds.cap import Alert, Info, cap_document
from newsletter.languages import LANGUAGES
from newsletter.lists.spec import ListSpec
from newsletter.mail.render import N_, language_name
from newsletter.reports.model import StoredReport
from newsletter.reports.places import Gazetteer
from newsletter.store import Store
from newsletter.translate.editions import EditionStatus, EditionView, edition_view

FEED_LIMIT = 50
ORIGINAL_TEXT = N_("Original text in %(language)s.")
MACHINE_TEXT = N_("Machine translation from %(language)s by %(model)s.")
REVIEWED_TEXT = N_("Reviewed translation from %(language)s.")


@dataclass(frozen=True)
class Where:
    """Where the office publishes and who sends its alerts."""

    base_url: str
    sender: str
    domain: str
    cap: CapSettings


class Publisher:
    def __init__(self, store: Store, lists: Mapping[str, ListSpec], where: Where, *,
                 gazetteer: Gazetteer, words: Callable[[str], Callable[[str], str]]) -> None:
        self.store = store
        self.lists = lists
        self.where = where
        self.gazetteer = gazetteer
        self.words = words  # gettext of a language
        self.base = where.base_url.rstrip("/")

    def feed(self, spec: ListSpec, language: str) -> bytes:
        carried = self.store.feeds.carried(spec.name, FEED_LIMIT)
        held = self.store.feeds.held(spec.name, language)
        ids = [c.report_id for c in carried if c.report_id not in held]
        stored = self.store.reports.get_many(ids)
        views = self._views(spec, list(stored.values()), language)
        entries = []
        for carriage in carried:
            report = stored.get(carriage.report_id)
            view = views.get(carriage.report_id)
            if report is None or view is None or view.held:
                continue
            kind, line = self._disclosure(view, report, language)
            summary = " ".join(view.summary[:spec.summary_sentences])
            entries.append(Entry(
                id=f"{self.base}/reports/{report.id}", title=view.title,
                text="\n\n".join(part for part in (summary, line) if part),
                published=carriage.sent_at, updated=max(carriage.sent_at, report.updated_at),
                link=f"{self.base}/reports/{report.id}?lang={language}",
                original=f"{self.base}/reports/{report.id}?lang={report.report.language}",
                original_language=report.report.language, places=report.places,
                translation=kind, translation_label=line))
        return atom(Feed(id=f"{self.base}/feeds/{spec.name}/{language}.atom",
                         title=spec.title_in(language), language=language,
                         alternate=f"{self.base}/?lang={language}", entries=entries))

    def cap_index(self, spec: ListSpec) -> bytes:
        alerts = self.store.feeds.alerts(spec.name, FEED_LIMIT)
        stored = self.store.reports.get_many([a.report_id for a in alerts])
        first = spec.languages[0]
        views = self._views(spec, list(stored.values()), first)
        links = [CapLink(f"{self.base}/cap/{a.issue_id}.xml",
                         views[a.report_id].title if a.report_id in views
                         else f"issue {a.issue_id}", a.sent_at) for a in alerts]
        return cap_index(f"{self.base}/feeds/{spec.name}/cap.atom", spec.title_in(first),
                         f"{self.base}/", links)

    def cap(self, issue_id: int) -> bytes | None:
        """The CAP document of alert ``issue_id``, or None when it is no alert."""
        sent = self.store.feeds.alert(issue_id)
        if sent is None:
            return None
        issue = self.store.issues.get(issue_id)
        spec = self.lists.get(issue.list_name)
        report = self.store.reports.get(sent.report_id)
        if spec is None:
            return None
        set_here = self.store.feeds.cap_values(report.id)
        chosen = {**{"category": self.where.cap.category, "urgency": self.where.cap.urgency,
                     "severity": self.where.cap.severity,
                     "certainty": self.where.cap.certainty}, **dict(spec.cap), **set_here}
        languages = [lang for lang in LANGUAGES if lang in self.store.issues.bodies(issue_id)]
        infos = []
        for language in languages:
            view = self._views(spec, [report], language)[report.id]
            kind, _ = self._disclosure(view, report, language)
            infos.append(Info(
                language=language, category=chosen["category"],
                event=report.report.kind or spec.title_in(language),
                urgency=chosen["urgency"], severity=chosen["severity"],
                certainty=chosen["certainty"], headline=view.title,
                description=" ".join(view.summary[:spec.summary_sentences]),
                web=f"{self.base}/reports/{report.id}?lang={language}", translation=kind,
                model=view.model,
                area=", ".join(self.gazetteer.name(code, language) for code in report.places),
                geocodes=report.places))
        earlier = self.store.feeds.earlier_alerts(report.id, issue_id)
        return cap_document(Alert(
            identifier=self.identifier(issue_id), sender=self.where.sender,
            sent=sent.sent_at, status=self.where.cap.status,
            references=[(self.where.sender, self.identifier(e.issue_id), e.sent_at)
                        for e in earlier], infos=infos))

    def identifier(self, issue_id: int) -> str:
        return f"urn:newsletter:{self.where.domain}:alert:{issue_id}"

    def files(self) -> Iterator[tuple[PurePosixPath, bytes]]:
        """Every document, by the path ``serve`` answers it at."""
        for spec in self.lists.values():
            for language in spec.languages:
                yield PurePosixPath("feeds", spec.name, f"{language}.atom"), self.feed(
                    spec, language)
            yield PurePosixPath("feeds", spec.name, "cap.atom"), self.cap_index(spec)
            for alert in self.store.feeds.alerts(spec.name, FEED_LIMIT):
                document = self.cap(alert.issue_id)
                if document is not None:
                    yield PurePosixPath("cap", f"{alert.issue_id}.xml"), document

    def _views(self, spec: ListSpec, reports: list[StoredReport],
               language: str) -> dict[int, EditionView]:
        ids = [r.id for r in reports]
        editions = self.store.editions.of_many(ids)
        summaries = self.store.summaries.of_many(ids)
        return {r.id: edition_view(r, editions.get(r.id, {}).get(language), language,
                                   policy=spec.policy, summary=summaries.get(r.id, ()),
                                   review=spec.review) for r in reports}

    def _disclosure(self, view: EditionView, report: StoredReport,
                    language: str) -> tuple[str, str]:
        """original, machine or reviewed, and the line that says so in ``language``."""
        _ = self.words(language)
        original = language_name(report.report.language, language)
        if view.reviewed:
            return "reviewed", _(REVIEWED_TEXT) % {"language": original}
        if view.status is EditionStatus.TRANSLATED and view.model:
            return "machine", _(MACHINE_TEXT) % {"language": original, "model": view.model}
        return "original", _(ORIGINAL_TEXT) % {"language": original}
