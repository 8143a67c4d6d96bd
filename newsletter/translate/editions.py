"""What a reader of language L gets for a report: the one place that decides (pure).

A report has its own language and one :class:`Edition` per other language (the machine
translation, with quality flags). :func:`edition_view` decides, for one language and a list's
:class:`Policy`, whether the reader gets the translation, the original with a notice
(fallback), nothing (held), or the original because it is their language. The mail
(:mod:`newsletter.issues.plan`), ``reports show``, the web archive and the previews all ask it,
so they cannot disagree.

An edition that does not exist yet, or one made without a model, counts as flagged (``pending``,
``no_model``): the policy decides what the reader gets meanwhile. The body (web archive only)
is translated only when the edition is, its body was translated, and the body has no flags of
its own; otherwise the original body is shown with a notice.

A person may review an edition (:class:`Review`): an approved one goes to readers as the
reviewer left it (their corrections, if any), flags or not; a rejected one is never sent, its
readers get the original for good. A list's :class:`ReviewRule` says which editions wait for
a reviewer: with ``flagged`` (the default) those with any flag, with ``all`` every machine
translation; while one waits, the policy decides what its readers get. The policy and the
review rule are a list's settings (:mod:`newsletter.lists.spec`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from newsletter.lists.spec import Policy, ReviewRule
from newsletter.reports.model import StoredReport
from newsletter.translate.core import Flag, missing_model_flag


class EditionStatus(StrEnum):
    TRANSLATED = "translated"
    FALLBACK = "fallback"
    HELD = "held"
    ORIGINAL = "original"


class ReviewState(StrEnum):
    EDITED = "edited"  # corrected, not yet approved
    APPROVED = "approved"
    REJECTED = "rejected"  # never sent: readers get the original, with the reason


@dataclass(frozen=True)
class Review:
    """What a reviewer did with one edition: their title and summary (None: the machine's),
    who and when, and why, for a rejection."""

    state: ReviewState
    title: str | None
    summary: tuple[str, ...] | None
    by: str
    at: datetime
    reason: str = ""


@dataclass(frozen=True)
class Edition:
    """A report in one target language: its translated title, summary and body, the model
    route that made them, and the quality flags of the mailed parts and of the body.

    The title and summary (what a mail needs) are translated and saved first, the body (the
    web archive's) after them: ``body`` is None while it waits for its translation (or when
    bodies are not translated), and ``""`` for a report without one."""

    language: str
    title: str | None
    summary: tuple[str, ...] | None
    body: str | None
    model: str | None
    flags: tuple[Flag, ...] = ()
    body_flags: tuple[Flag, ...] = ()
    review: Review | None = None  # of this very translation (a new one starts unreviewed)

    @property
    def approved(self) -> bool:
        return self.review is not None and self.review.state is ReviewState.APPROVED

    @property
    def rejected(self) -> bool:
        return self.review is not None and self.review.state is ReviewState.REJECTED

    def waits_for_review(self, rule: ReviewRule) -> bool:
        """Whether readers of a list under ``rule`` wait for a reviewer for this edition."""
        if self.title is None or self.approved or self.rejected or rule is ReviewRule.NONE:
            return False
        return rule is ReviewRule.ALL or bool(self.flags)


def edition_status(flags: Sequence[Flag], policy: Policy) -> EditionStatus:
    """Translated when clean; otherwise what the policy says."""
    if not flags:
        return EditionStatus.TRANSLATED
    return EditionStatus.HELD if policy is Policy.HOLD else EditionStatus.FALLBACK


@dataclass(frozen=True)
class EditionView:
    """One report as a reader of ``language`` gets it."""

    language: str
    status: EditionStatus
    title: str  # what the reader sees (the original's when not translated)
    summary: tuple[str, ...]
    body: str
    body_translated: bool
    flags: tuple[Flag, ...]  # why it is not translated, when it is not
    edition: Edition | None  # the machine's output, shown to reviewers whatever the status
    reviewed: bool = False  # a person approved the text the reader gets

    @property
    def held(self) -> bool:
        return self.status is EditionStatus.HELD

    @property
    def model(self) -> str | None:
        """The model route, when the reader gets machine-translated text."""
        translated = self.status is EditionStatus.TRANSLATED
        return self.edition.model if translated and self.edition is not None else None

    def held_reason(self, report_id: int) -> str:
        return (f"report {report_id} held in {self.language}: "
                + "; ".join(flag.detail for flag in self.flags))


def edition_view(
    stored: StoredReport, edition: Edition | None, language: str, *, policy: Policy,
    summary: Sequence[str] = (), indices: Sequence[int] | None = None,
    review: ReviewRule = ReviewRule.FLAGGED, as_approved: bool = False,
) -> EditionView:
    """What a reader of ``language`` gets of the report ``stored`` (its original title and
    body; ``summary``, its summary as a mail gives it) under ``policy`` and the list's review
    rule. ``indices`` picks the translated summary sentences that stand for ``summary`` (a
    list's shorter summary, or a digest item's), all of them by default. ``as_approved``:
    what readers would get once a reviewer approves the edition as it stands (its
    corrections, if any), for the review editor's preview."""
    report_id, report = stored.id, stored.report
    source_language, title, body = report.language, report.title, report.body
    original = tuple(summary)
    if as_approved and edition is not None and edition.title is not None and not (
            edition.approved or edition.rejected):
        current = edition.review
        edition = replace(edition, review=Review(
            ReviewState.APPROVED, current.title if current else None,
            current.summary if current else None, current.by if current else "",
            current.at if current else datetime.min))
    if language == source_language:
        return EditionView(language, EditionStatus.ORIGINAL, title, original, body, False, (),
                           None)
    if edition is not None and edition.rejected:
        assert edition.review is not None
        why = (Flag("rejected", f"a reviewer kept the original of report {report_id} in "
                                f"{language}: {edition.review.reason or 'no reason given'}"),)
        return EditionView(language, EditionStatus.FALLBACK, title, original, body, False, why,
                           edition)
    if edition is None:
        flags: tuple[Flag, ...] = (
            Flag("pending", f"report {report_id} has no {language} translation yet"),)
    elif edition.title is None and not edition.flags:
        flags = (missing_model_flag(source_language, language),)
    elif edition.approved:
        flags = ()
    else:
        flags = edition.flags
        if edition.waits_for_review(review):
            flags = (*flags, Flag("review", f"report {report_id} in {language} waits for a "
                                            "reviewer's approval"))
    status = edition_status(flags, policy)
    if status is not EditionStatus.TRANSLATED or edition is None or edition.title is None:
        return EditionView(language, status, title, original, body, False, flags, edition)
    reviewed = edition.review if edition.approved else None
    shown_title = (reviewed.title if reviewed and reviewed.title else None) or edition.title
    translated = (reviewed.summary if reviewed and reviewed.summary else None) or (
        edition.summary or ())
    picked = range(len(translated)) if indices is None else indices
    body_ok = bool(edition.body) and not edition.body_flags
    return EditionView(
        language, status, shown_title,
        tuple(translated[i] for i in picked if i < len(translated)),
        edition.body if body_ok and edition.body else body, body_ok, (), edition,
        reviewed=reviewed is not None)


@dataclass(frozen=True)
class TranslationState:
    """What deciding whether a report needs translating takes, without its body: its language,
    content hash and summary, and the key each stored edition was made under."""

    report_id: int
    language: str
    content_hash: str
    summary: tuple[str, ...]
    keys: dict[str, str]
    bodies_waiting: frozenset[str] = frozenset()  # languages whose edition waits for its body


@dataclass(frozen=True)
class TranslationTotals:
    """Editions a model translated, editions waiting for a model (none was installed for the
    pair when they were made), and sentence translations cached, for ``newsletter status``."""

    editions: int
    cached: int
    without_model: int = 0
