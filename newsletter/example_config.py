"""The commented ``newsletter.toml`` that ``newsletter init`` writes: every setting with its
default, its environment variable and its documentation, from the settings table (pure)."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from typing import Any

from newsletter.config import SECTIONS, settings_table
from newsletter.languages import LANGUAGES


def example_config(sections: Mapping[str, type] = SECTIONS) -> str:
    """The commented ``newsletter.toml`` that ``newsletter init`` writes: every setting."""
    lines = [
        "# newsletter instance configuration.",
        "# Every setting is listed with its default, commented out. Precedence, lowest first:",
        "# these defaults < this file < NEWSLETTER_<SECTION>_<KEY> environment variables < flags.",
        "# Secrets are read from the environment only and must not be written here.",
    ]
    current = None
    for spec in settings_table(sections):
        if spec.section != current:
            current = spec.section
            doc = (sections[spec.section].__doc__ or "").strip()
            lines += ["", f"[{spec.section}]", f"# {doc}"]
        choices = f" One of: {', '.join(spec.choices)}." if spec.choices else ""
        lines += [f"# {line}" for line in textwrap.wrap(spec.doc + choices, 96)]
        lines.append(f"# environment: {spec.env_var}")
        if spec.secret:
            lines.append(f"# (secret: set {spec.env_var} in the environment)")
        else:
            lines.append(f"# {spec.key} = {toml_value(spec.default)}")
    lines += [
        "",
        "# Mailing lists: one [lists.NAME] table each (or `newsletter lists add`). Keys: title",
        "# (title_ru, title_kk: for those readers), description, mode (alerts | daily | weekly),",
        "# schedule (cron), timezone, languages, countries (ISO codes or names in en, ru or kk:",
        "# matched on the places detected in each report), keywords (words as written, in each",
        "# language), sources, kinds (filters; empty matches everything),",
        "# summary_sentences, summary_words, policy (hold | fallback), review (none | flagged",
        "# | all: which machine translations wait for a reviewer), public (true: readers sign",
        "# up for it themselves on the web app's /subscribe page). For example:",
        "# [lists.central-asia-daily]",
        '# title = "Central Asia daily"',
        '# title_ru = "Центральная Азия: ежедневный обзор"',
        '# title_kk = "Орталық Азия: күнделікті шолу"',
        '# mode = "daily"',
        '# schedule = "0 9 * * *"',
        '# timezone = "Asia/Almaty"',
        "# languages = " + toml_value(list(LANGUAGES)),
        '# countries = ["Kazakhstan", "Kyrgyzstan"]',
    ]
    return "\n".join(lines) + "\n"


def toml_value(value: Any) -> str:
    """A Python value written as a TOML literal."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value) if not isinstance(value, int) else f"{value:_}"
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    escaped = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'
