"""A list from its ``[lists.NAME]`` table (newsletter.toml, or `lists add`'s options), checked,
and back to a table; its countries by code (pure)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from newsletter.config_sections import (
    CAP_CATEGORIES,
    CAP_CERTAINTIES,
    CAP_SEVERITIES,
    CAP_URGENCIES,
)
from newsletter.errors import ListError
from newsletter.languages import LANGUAGES
from newsletter.lists.spec import DEFAULT_SCHEDULES, ListSpec, Mode, Origin, Policy, ReviewRule

if TYPE_CHECKING:
    from newsletter.reports.places import Gazetteer


def with_place_codes(spec: ListSpec, gazetteer: Gazetteer) -> ListSpec:
    """``spec`` with its countries as ISO 3166 codes: a list may name a country or region by
    code (``KZ``, ``KAZ``, ``KZ-75``) or by any of its names in en, ru or kk; a name the
    gazetteer does not know is an error that suggests the nearest."""
    codes = []
    for name in spec.countries:
        code = gazetteer.resolve(name)
        if code is None:
            near = gazetteer.suggest(name)
            raise ListError(
                f"[lists.{spec.name}] countries: {name!r} is not a country or region newsletter "
                "knows",
                hint=(f"did you mean {' or '.join(near)}? " if near else "")
                + "name it by ISO 3166 code (KZ, KZ-75) or by its name in en, ru or kk; an "
                  "office adds its own places in [ingest] places")
        codes.append(code)
    return replace(spec, countries=tuple(dict.fromkeys(codes)))


_LIST_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_TITLE_KEYS = {f"title_{language}": language for language in LANGUAGES}
_LIST_KEYS = {*_TITLE_KEYS, "title", "description", "mode", "schedule", "timezone", "languages",
              "countries", "keywords", "sources", "kinds", "summary_sentences", "summary_words",
              "policy", "review", "public", "cap_category", "cap_urgency", "cap_severity",
              "cap_certainty"}
CAP_KEYS = {"cap_category": CAP_CATEGORIES, "cap_urgency": CAP_URGENCIES,
            "cap_severity": CAP_SEVERITIES, "cap_certainty": CAP_CERTAINTIES}


def parse_list(name: str, table: Mapping[str, object], *,
               origin: Origin = Origin.CONFIG) -> ListSpec:
    """A list from its ``[lists.NAME]`` table (or the same keys from the command line)."""
    where = f"[lists.{name}]"
    if not _LIST_NAME.match(name):
        raise ListError(f"list name {name!r} must be lower-case letters, digits and hyphens")
    unknown = set(table) - _LIST_KEYS
    if unknown:
        raise ListError(f"unknown keys in {where}: {', '.join(sorted(unknown))}",
                        hint=f"keys of a list: {', '.join(sorted(_LIST_KEYS))}")

    def text(key: str, default: str) -> str:
        value = table.get(key, default)
        if not isinstance(value, str):
            raise ListError(f"{where} {key} must be a string")
        return value

    def words(key: str, default: Sequence[str] = ()) -> tuple[str, ...]:
        value = table.get(key, list(default))
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ListError(f"{where} {key} must be a list of strings")
        return tuple(value)

    def number(key: str, default: int) -> int:
        value = table.get(key, default)
        if isinstance(value, str) and value.isdigit():
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ListError(f"{where} {key} must be a positive whole number")
        return value

    public = table.get("public", False)
    if isinstance(public, str) and public.lower() in ("true", "false"):
        public = public.lower() == "true"
    if not isinstance(public, bool):
        raise ListError(f"{where} public must be true or false")
    cap = []
    for key, allowed in CAP_KEYS.items():
        value = text(key, "")
        if value and value not in allowed:
            raise ListError(f"{where} {key} must be one of {', '.join(allowed)}")
        if value:
            cap.append((key.removeprefix("cap_"), value))
    try:
        mode = Mode(text("mode", "daily"))
    except ValueError:
        raise ListError(f"{where} mode must be alerts, daily or weekly") from None
    schedule = text("schedule", DEFAULT_SCHEDULES[mode])
    check_cron(schedule, where)
    timezone = text("timezone", "Asia/Almaty")
    check_timezone(timezone, where)
    languages = words("languages", LANGUAGES)
    if not languages or any(lang not in LANGUAGES for lang in languages):
        raise ListError(f"{where} languages must be among {', '.join(LANGUAGES)}")
    try:
        policy = Policy(text("policy", Policy.FALLBACK))
    except ValueError:
        raise ListError(f"{where} policy must be hold or fallback") from None
    try:
        review = ReviewRule(text("review", ReviewRule.FLAGGED))
    except ValueError:
        raise ListError(f"{where} review must be one of "
                        f"{', '.join(rule.value for rule in ReviewRule)}") from None
    return ListSpec(
        name=name, title=text("title", name), description=text("description", ""), mode=mode,
        schedule=schedule, timezone=timezone, languages=languages,
        countries=words("countries"), keywords=words("keywords"), sources=words("sources"),
        kinds=words("kinds"), summary_sentences=number("summary_sentences", 3),
        summary_words=number("summary_words", 120), policy=policy, review=review,
        public=public, cap=tuple(cap), origin=origin,
        translated_titles=tuple((language, text(key, "")) for key, language in _TITLE_KEYS.items()
                                if text(key, "").strip()),
    )


_CRON_FIELD = re.compile(r"^(\*|\d+(-\d+)?|[a-z]{3}(-[a-z]{3})?)(/\d+)?(,(\d+(-\d+)?|[a-z]{3}))*$")


def check_cron(expression: str, where: str) -> None:
    """Five cron fields: minute hour day-of-month month day-of-week."""
    fields = expression.split()
    if len(fields) != 5 or not all(_CRON_FIELD.match(f.lower()) for f in fields):
        raise ListError(f"{where} schedule {expression!r} is not a five-field cron expression",
                        hint="e.g. '0 9 * * *' (09:00 daily) or '0 9 * * mon' (Mondays)")


def check_timezone(name: str, where: str) -> None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ListError(f"{where} timezone {name!r} is unknown",
                        hint="use an IANA name such as Asia/Almaty or Europe/Berlin") from None


def list_to_table(spec: ListSpec) -> dict[str, object]:
    """The keys of ``spec`` as a ``[lists.NAME]`` table would hold them."""
    return {"title": spec.title, "description": spec.description, "mode": spec.mode.value,
            "schedule": spec.schedule, "timezone": spec.timezone,
            "languages": list(spec.languages), "countries": list(spec.countries),
            "keywords": list(spec.keywords), "sources": list(spec.sources),
            "kinds": list(spec.kinds), "summary_sentences": spec.summary_sentences,
            "summary_words": spec.summary_words, "policy": spec.policy.value,
            "review": spec.review.value, "public": spec.public,
            **{f"cap_{key}": value for key, value in spec.cap},
            **{f"title_{language}": title for language, title in spec.translated_titles}}
