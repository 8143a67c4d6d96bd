"""A mailing list: who it is for, when it goes out, which reports it carries and what its
readers get of a translation that is flagged or waits for a reviewer (pure)."""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass, replace
from datetime import date, datetime
from enum import StrEnum
from zoneinfo import ZoneInfo

from newsletter.languages import LANGUAGES
from newsletter.reports.model import Report


class Policy(StrEnum):
    """What to do with a language whose translation is missing or flagged."""

    HOLD = "hold"  # do not send that language; say why
    FALLBACK = "fallback"  # send the original text with a clear notice


class ReviewRule(StrEnum):
    """Which machine translations wait for a reviewer before readers get them."""

    NONE = "none"  # none: flags follow the policy, and a hold is final
    FLAGGED = "flagged"  # those with any quality flag
    ALL = "all"  # every one


class Mode(StrEnum):
    ALERTS = "alerts"  # a mail as soon as a matching report arrives
    DAILY = "daily"  # a digest on the list's schedule, daily by default
    WEEKLY = "weekly"


class Origin(StrEnum):
    """Where a list is declared: its one home, changed there and only there."""

    CONFIG = "config"  # a [lists.NAME] table of newsletter.toml
    DATABASE = "database"  # `newsletter lists add`


# An alerts list uses its schedule for a digest of the reports that were too old to alert.
DEFAULT_SCHEDULES = {Mode.ALERTS: "0 9 * * *", Mode.DAILY: "0 9 * * *",
                     Mode.WEEKLY: "0 9 * * mon"}


@dataclass(frozen=True)
class ListSpec:
    """A mailing list: who it is for, when it goes out, and which reports it carries."""

    name: str
    title: str
    description: str = ""
    mode: Mode = Mode.DAILY
    schedule: str = "0 9 * * *"  # cron: minute hour day-of-month month day-of-week
    timezone: str = "Asia/Almaty"
    languages: tuple[str, ...] = LANGUAGES
    countries: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    summary_sentences: int = 3
    summary_words: int = 120
    policy: Policy = Policy.FALLBACK  # what readers get of a flagged or missing translation
    review: ReviewRule = ReviewRule.FLAGGED  # which machine translations wait for a person
    public: bool = False  # readers may sign up for it themselves (/subscribe, /manage)
    # Its CAP alerts' category, urgency, severity and certainty ("": [cap]'s), by key.
    cap: tuple[tuple[str, str], ...] = ()
    origin: Origin = Origin.CONFIG
    # A list's other frequency (:func:`variant_of`): the list whose readers it goes to.
    base: str = ""
    frequency: str = ""
    # The title in other languages (``title_ru``, ``title_kk`` keys): (language, title) pairs.
    translated_titles: tuple[tuple[str, str], ...] = ()

    @property
    def members_of(self) -> str:
        """The list whose memberships this one's readers are: itself, or for a variant
        (``daily~weekly``), the list it is a frequency of."""
        return self.base or self.name

    def title_in(self, language: str) -> str:
        """The list's title for readers of ``language``: its own title there, else ``title``."""
        return dict(self.translated_titles).get(language, self.title)

    @property
    def titles(self) -> dict[str, str]:
        """The title in each language."""
        return {language: self.title_in(language) for language in LANGUAGES}

    def local_date(self, moment: datetime) -> date:
        """The date of ``moment`` where the list's readers are (its timezone), as an issue's
        subject and heading give it: a 01:30 Almaty digest on 3 March is of 3 March."""
        return moment.astimezone(ZoneInfo(self.timezone)).date()

    def reader_language(self, language: str) -> str:
        """The language a reader of ``language`` gets: theirs when the list offers it, else
        the list's first."""
        return language if language in self.languages else self.languages[0]

    def matches(self, report: Report, places: Collection[str]) -> bool:
        """Whether a report belongs in this list: every filter that is set must match.
        ``countries`` are ISO 3166 codes (:func:`with_place_codes`) matched against the
        report's detected ``places``, whatever language it is written in; keywords match
        the start of a word of the title or body as written (``паводк`` finds ``паводки``)."""
        if self.countries and not set(self.countries) & set(places):
            return False
        text = f"{report.title}\n{report.body}".casefold()
        if self.keywords and not any(_word_in(k, text) for k in self.keywords):
            return False
        if self.sources and not any(s.casefold() in (report.source or "").casefold()
                                    for s in self.sources):
            return False
        return not self.kinds or (report.kind or "").casefold() in {k.casefold()
                                                                     for k in self.kinds}


def _word_in(needle: str, text: str) -> bool:
    return re.search(rf"(?<!\w){re.escape(needle.casefold())}", text) is not None


VARIANT = "~"  # between a list's name and a frequency (list names have no "~")


class Frequency(StrEnum):
    """How often a reader gets a list, besides as the list goes out."""

    DAILY = "daily"  # an alerts list as a daily digest of its alerts
    WEEKLY = "weekly"  # a daily list as a weekly digest


def frequencies(spec: ListSpec) -> tuple[Frequency, ...]:
    """The other frequencies a reader of ``spec`` may choose."""
    return {Mode.ALERTS: (Frequency.DAILY,), Mode.DAILY: (Frequency.WEEKLY,)}.get(spec.mode, ())


def variant_of(spec: ListSpec, frequency: str) -> ListSpec | None:
    """``spec`` at another ``frequency``, as a list of its own for the scheduler: its issues,
    its record of the reports it sent and its schedule are its own (``NAME~daily``), its
    readers are those of ``spec`` who chose that frequency, and its mails are ``spec``'s
    (title, List-Id, unsubscribe links). An alerts list's daily digest goes at the list's
    digest time; a daily list's weekly digest on Mondays at the daily one's time. None when
    ``spec`` has no such frequency."""
    if frequency not in frequencies(spec):
        return None
    if spec.mode is Mode.ALERTS:
        mode, schedule = Mode.DAILY, spec.schedule
    else:
        minute, hour = (spec.schedule.split() + ["0", "9"])[:2]
        mode, schedule = Mode.WEEKLY, f"{minute} {hour} * * mon"
    return replace(spec, name=f"{spec.name}{VARIANT}{frequency}", mode=mode,
                   schedule=schedule, base=spec.name, frequency=frequency)
